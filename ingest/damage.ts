/**
 * A damaged store file (power cut, bad SD card) must not stop collection: how damage is found and
 * what is done with the file. The store (ingest/store/) calls these.
 *
 * Finding damage
 * - At open, a bounded check that costs milliseconds whatever the size: the file header (magic,
 *   page size, and a file shorter than the page count the header records: truncation), SQLite's
 *   schema, `PRAGMA quick_check(<table>)` of every table but `readings`, the first and last rows of
 *   `readings` and the open steps themselves (any SQLITE_CORRUPT / SQLITE_NOTADB).
 * - Then the full `PRAGMA quick_check` in a worker thread on its own read-only connection, so a
 *   2 GB store does not hold up collection (it takes 8 s with the file in the page cache and 40 s
 *   from disk on the development machine: ingest/README.md).
 * - Any statement that fails with SQLITE_CORRUPT / SQLITE_NOTADB later.
 * Doing with it: the file (and its -wal, -shm) is renamed to `store.db.damaged-<UTC time>` beside
 * it, never deleted, and a fresh store is opened in its place. `fgw store salvage` reads what can be
 * read from such a file (ingest/recover.ts) into the live store.
 */
import { closeSync, existsSync, openSync, readSync, readdirSync, renameSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';

export const DAMAGED_INFIX = '.damaged-';

/** SQLite's result codes that mean the file is not (or no longer) a sound database. */
export function isCorruption(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

const MAGIC = 'SQLite format 3\u0000';

/**
 * What is wrong with the file's header, or undefined when it looks sound (a missing or empty file
 * is sound: SQLite creates it).
 */
export function headerProblem(file: string): string | undefined {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return undefined;
  }
  if (size === 0) return undefined;
  const h = Buffer.alloc(100);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, h, 0, 100, 0);
  } finally {
    closeSync(fd);
  }
  if (size < 100 || h.toString('latin1', 0, 16) !== MAGIC) return 'the file header is not an SQLite header';
  const raw = h.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return `the header gives an impossible page size (${raw})`;
  // the in-header page count is valid when the change counter matches version-valid-for
  const pages = h.readUInt32BE(28);
  if (pages > 0 && h.readUInt32BE(24) === h.readUInt32BE(92) && size < pages * pageSize) {
    return `the file is truncated: ${size} bytes, the header records ${pages} pages of ${pageSize} bytes (${pages * pageSize} bytes)`;
  }
  return undefined;
}

function stamp(t: number): string {
  return new Date(t)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Renames `file` and its -wal and -shm to `<file>.damaged-<UTC time>[-n]`; returns the new path. */
export function moveAside(file: string, now: number): string {
  let target = `${file}${DAMAGED_INFIX}${stamp(now)}`;
  for (let n = 1; existsSync(target); n++) target = `${file}${DAMAGED_INFIX}${stamp(now)}-${n}`;
  renameSync(file, target);
  for (const ext of ['-wal', '-shm']) {
    if (existsSync(file + ext)) renameSync(file + ext, target + ext);
  }
  return target;
}

/** Files moved aside beside `file`, oldest first. */
export function damagedFiles(file: string): string[] {
  const dir = dirname(file);
  const prefix = basename(file) + DAMAGED_INFIX;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(prefix) && !n.endsWith('-wal') && !n.endsWith('-shm'))
    .sort()
    .map((n) => join(dir, n));
}

// The worker's code: CommonJS, evaluated as a string, so it runs the same from sources (tests) and
// from dist/. It loads better-sqlite3 from the path the main thread resolved.
const CHECK_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
let result;
try {
  const Database = require(workerData.sqlite);
  const db = new Database(workerData.file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  const t0 = Date.now();
  const rows = db.pragma('quick_check(20)').map((r) => r.quick_check);
  db.close();
  result = { ok: rows.length === 1 && rows[0] === 'ok', problems: rows, ms: Date.now() - t0 };
} catch (e) {
  result = { ok: false, problems: [String(e && e.message || e)], code: e && e.code, ms: 0 };
}
parentPort.postMessage(result);
`;

export interface CheckResult {
  ok: boolean;
  problems: string[];
  code?: string;
  ms: number;
}

/**
 * The full `PRAGMA quick_check` of `file` in a worker thread (never blocks the caller). The worker
 * does not keep a process alive; `stop()` ends it (a check in progress finishes its SQLite call).
 */
export function checkInBackground(file: string, done: (r: CheckResult) => void): { stop(): void } {
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  const w = new Worker(CHECK_WORKER, { eval: true, workerData: { file, sqlite } });
  w.unref();
  let settled = false;
  w.once('message', (r: CheckResult) => {
    settled = true;
    done(r);
  });
  w.once('error', (e) => {
    if (!settled) done({ ok: false, problems: [e.message], ms: 0 });
    settled = true;
  });
  return {
    stop() {
      settled = true;
      void w.terminate();
    },
  };
}
