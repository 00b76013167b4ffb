/**
 * A socat pty pair: two linked pseudo-terminals that behave like the two ends of a null-modem
 * serial cable. A server opens one end, a client the other (modbus-serial, pymodbus, mbpoll).
 */
import { join } from 'node:path';
import { type Proc, startProcess } from './proc.js';

export interface PtyPair {
  /** path of one end (a symlink to /dev/pts/N) */
  a: string;
  /** path of the other end */
  b: string;
  proc: Proc;
  stop(): Promise<void>;
}

export async function ptyPair(dir: string, name = 'tty'): Promise<PtyPair> {
  const a = join(dir, `${name}A`);
  const b = join(dir, `${name}B`);
  const proc = startProcess('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`]);
  await proc.waitForOutput(/starting data transfer loop/, 10_000);
  return { a, b, proc, stop: () => proc.kill('SIGTERM') };
}
