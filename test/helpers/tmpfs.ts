/**
 * A small real filesystem that fills up: a tmpfs of `sizeMB` mounted on a fresh temporary directory
 * (needs root, as CI and this machine have). `fill(leaveBytes)` writes a filler file until only
 * about that much is free, `unfill()` deletes it (space returns), `cleanup()` unmounts.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tmp.js';

export interface Tmpfs {
  path: string;
  /** free bytes for unprivileged writers */
  avail(): number;
  /** writes `filler` files until at most `leaveBytes` are free */
  fill(leaveBytes: number): void;
  /** deletes the filler */
  unfill(): void;
  cleanup(): void;
}

export function mountTmpfs(sizeMB: number): Tmpfs {
  const dir = tempDir('fgw-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMB}m`, 'tmpfs', dir.path]);
  const filler = join(dir.path, 'filler');
  const avail = () => {
    const s = statfsSync(dir.path);
    return s.bavail * s.bsize;
  };
  mkdirSync(dir.path, { recursive: true });
  return {
    path: dir.path,
    avail,
    fill(leaveBytes) {
      const fd = openSync(filler, 'a');
      try {
        const chunk = Buffer.alloc(64 * 1024, 0x5a);
        for (let free = avail(); free > leaveBytes; free = avail()) {
          try {
            writeSync(fd, chunk, 0, Math.min(chunk.length, free - leaveBytes));
          } catch {
            break;
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    unfill() {
      try {
        unlinkSync(filler);
      } catch {
        /* none */
      }
    },
    cleanup() {
      try {
        execFileSync('umount', [dir.path]);
      } catch {
        execFileSync('umount', ['-l', dir.path]);
      }
      rmSync(dir.path, { recursive: true, force: true });
    },
  };
}
