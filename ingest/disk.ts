/**
 * What the store may still write: the budget of `storage.maxSize` over everything the store puts on
 * disk (database, WAL, wal-index, the reserve file), and what the filesystem under it has left.
 * Pure arithmetic plus a few stat calls; the store (ingest/store/) decides what to do with it.
 *
 * The budget
 * - WAL: at most `walBytes` (1/16 of the capacity, 1-64 MiB). SQLite checkpoints at half of it
 *   (wal_autocheckpoint) and truncates the file back to it after a checkpoint (journal_size_limit),
 *   so the WAL is counted at walBytes whatever its size at the moment: it may grow that far.
 * - reserve: `reserveBytes` (1/64 of the capacity, 256 KiB-16 MiB) that readings never take, so
 *   that cursors, counters, loss records and the alarm can always be written and the forwarder can
 *   always advance and free space. Against maxSize it is headroom in the database; against the
 *   filesystem it is a real file (`store.db-reserve`, random bytes so that no compressing
 *   filesystem can fold it away), deleted the moment the disk is found full and made again once
 *   there is room.
 * - readings take the rest; dead letters and audit records each take at most their share.
 * The capacity is maxSize, or the filesystem's own size when that is smaller (a 2GB maxSize on a
 * 40 MB partition plans for 40 MB).
 */
import { randomFillSync } from 'node:crypto';
import { closeSync, fstatSync, openSync, statSync, statfsSync, unlinkSync, writeSync } from 'node:fs';

const MiB = 1024 * 1024;

export interface DiskPlan {
  /** the smaller of maxSize and the filesystem's size */
  capacityBytes: number;
  /** the WAL's share (journal_size_limit) */
  walBytes: number;
  /** kept for the store's own records; never taken by readings */
  reserveBytes: number;
}

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));

/**
 * The budget for a store of `maxSize` bytes on a filesystem of `fsBytes` (0 when unknown). The
 * floors shrink with very small stores (tests), so that readings always keep most of the room.
 */
export function planDisk(maxSize: number, fsBytes: number): DiskPlan {
  const capacityBytes = fsBytes > 0 ? Math.min(maxSize, fsBytes) : maxSize;
  return {
    capacityBytes,
    walBytes: clamp(Math.floor(capacityBytes / 16), Math.min(MiB, Math.floor(capacityBytes / 8)), 64 * MiB),
    reserveBytes: clamp(Math.floor(capacityBytes / 64), Math.min(256 * 1024, Math.floor(capacityBytes / 32)), 16 * MiB),
  };
}

/** the least room the WAL keeps on the filesystem (see roomFor) */
export function walFloor(plan: DiskPlan): number {
  return Math.min(plan.walBytes, Math.max(256 * 1024, Math.floor(plan.walBytes / 8)));
}

/** The wal-index (`-shm`) grows by 32 KiB per 4,096 WAL frames. */
export function shmBytesFor(walBytes: number, pageSize: number): number {
  return 32 * 1024 * (Math.ceil(walBytes / pageSize / 4096) + 1);
}

export interface Room {
  /** bytes the next write of readings may take without breaking either bound */
  bytes: number;
  /** what limits it: the maxSize budget, or the filesystem */
  limit: 'maxSize' | 'disk';
  /** free pages inside the database (reused before the file grows) */
  freeBytes: number;
  /** on disk now: database + WAL + wal-index + reserve file */
  onDiskBytes: number;
  /** what the filesystem has left for unprivileged writers */
  fsAvailBytes: number;
}

export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export function fsStats(dir: string): { totalBytes: number; availBytes: number } {
  try {
    const s = statfsSync(dir);
    return { totalBytes: s.blocks * s.bsize, availBytes: s.bavail * s.bsize };
  } catch {
    return { totalBytes: 0, availBytes: Number.MAX_SAFE_INTEGER };
  }
}

/**
 * Room for readings. `pages` and `freePages` are the database's (PRAGMA page_count and
 * freelist_count). Both bounds keep the reserve: against maxSize as headroom, against the
 * filesystem as the reserve file (or, while that file is released, as free space). Against maxSize
 * the WAL counts at its whole budget; on the filesystem only at a floor (walFloor: 1/8 of the budget,
 * at least 256 KiB), because the store moves SQLite's checkpoint down as the disk fills
 * (wal_autocheckpoint at half of what the disk has left), so the WAL never needs more than the disk
 * has: readings can still go into the database's free pages on a disk that is full to the last byte.
 */
export function roomFor(p: {
  plan: DiskPlan;
  maxSize: number;
  pageSize: number;
  pages: number;
  freePages: number;
  walFileBytes: number;
  shmFileBytes: number;
  reserveFileBytes: number;
  fsAvailBytes: number;
}): Room {
  const freeBytes = p.freePages * p.pageSize;
  const usedBytes = (p.pages - p.freePages) * p.pageSize;
  const walFuture = Math.max(p.walFileBytes, p.plan.walBytes);
  const shmFuture = Math.max(p.shmFileBytes, shmBytesFor(p.plan.walBytes, p.pageSize));
  const bySize = p.maxSize - (usedBytes + walFuture + shmFuture + p.plan.reserveBytes);
  const byDisk =
    freeBytes + p.fsAvailBytes - Math.max(0, walFloor(p.plan) - p.walFileBytes) - (shmFuture - p.shmFileBytes) - (p.plan.reserveBytes - p.reserveFileBytes);
  const limit = byDisk < bySize ? 'disk' : 'maxSize';
  return {
    bytes: Math.max(0, Math.min(bySize, byDisk)),
    limit,
    freeBytes,
    onDiskBytes: p.pages * p.pageSize + p.walFileBytes + p.shmFileBytes + p.reserveFileBytes,
    fsAvailBytes: p.fsAvailBytes,
  };
}

/**
 * The reserve file: `bytes` of random data, written in 64 KiB steps. Returns the size written (less
 * than asked when the disk has no more; the partial file is kept, it is still a reserve).
 */
export function writeReserve(path: string, bytes: number): number {
  let fd: number;
  try {
    fd = openSync(path, 'a');
  } catch {
    return 0;
  }
  try {
    let size = fstatSync(fd).size;
    const chunk = Buffer.allocUnsafe(64 * 1024);
    while (size < bytes) {
      randomFillSync(chunk);
      const n = Math.min(chunk.length, bytes - size);
      try {
        size += writeSync(fd, chunk, 0, n, size);
      } catch {
        break; // ENOSPC: keep what was written
      }
    }
    return size;
  } finally {
    closeSync(fd);
  }
}

export function releaseReserve(path: string): number {
  const size = fileSize(path);
  try {
    unlinkSync(path);
  } catch {
    /* not there */
  }
  return size;
}
