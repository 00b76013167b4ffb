import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { ManualClock } from '../../config/clock.js';
import { STORE_FILE, openStore } from '../../ingest/store.js';
import { tempDir } from '../helpers/tmp.js';
import { storeContract } from './store-contract.js';

storeContract('SQLite (ingest/store.ts)', (o) => openStore(o));

describe('SQLite specifics', () => {
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.cleanup();
  });

  it('records its schema version, keeps data across reopen, and refuses a store written by a newer gateway', async () => {
    const dir = tempDir('fgw-store-');
    dirs.push(dir);
    const opts = { path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 };
    const s1 = openStore(opts);
    await s1.write([{ device: 'd', tag: 't', ts: 1_000, kind: 'integer', value: 7, quality: 'good' }]);
    await s1.close();
    const raw = new Database(join(dir.path, STORE_FILE));
    expect(raw.pragma('user_version', { simple: true })).toBe(1);
    raw.close();
    const s2 = openStore(opts);
    expect(s2.query({ device: 'd' }).map((r) => r.value)).toEqual([7]);
    await s2.close();
    const newer = new Database(join(dir.path, STORE_FILE));
    newer.pragma('user_version = 2');
    newer.close();
    expect(() => openStore(opts)).toThrow(expect.objectContaining({ code: 'GW_ERR_STORE', message: expect.stringMatching(/schema version 2.*newer fgw/) }));
  });

  it('runs in WAL mode and, after maxSize enforcement, the pages in use are under maxSize; freed pages are reused', async () => {
    const dir = tempDir('fgw-store-');
    dirs.push(dir);
    const maxSizeBytes = 512 * 1024;
    const s = openStore({ path: dir.path, maxSizeBytes, retentionMs: 0, clock: new ManualClock(), limitsIntervalMs: 0 });
    const batch = (from: number): Reading[] => Array.from({ length: 20_000 }, (_, i) => ({ device: `d${i % 4}`, tag: `t${i % 9}`, ts: from + i, kind: 'float', value: i + 0.25, quality: 'good' }));
    await s.write(batch(0));
    expect(s.enforceLimits()).toBeGreaterThan(0);
    const db = new Database(join(dir.path, STORE_FILE), { readonly: true });
    const used = () => (Number(db.pragma('page_count', { simple: true })) - Number(db.pragma('freelist_count', { simple: true }))) * Number(db.pragma('page_size', { simple: true }));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(used()).toBeLessThanOrEqual(maxSizeBytes);
    const pages = Number(db.pragma('page_count', { simple: true }));
    const freePages = Number(db.pragma('freelist_count', { simple: true }));
    expect(freePages).toBeGreaterThan(40);
    // rows that fit in the freed pages reuse them: the file does not grow
    await s.write(batch(100_000).slice(0, 1000));
    expect(Number(db.pragma('page_count', { simple: true }))).toBe(pages);
    expect(Number(db.pragma('freelist_count', { simple: true }))).toBeLessThan(freePages);
    db.close();
    await s.close();
  });

  it('a failed commit (database locked by another process) rejects with GW_ERR_STORE, is logged, never an unhandled rejection, and the store goes on', async () => {
    const dir = tempDir('fgw-store-');
    dirs.push(dir);
    const errors: string[] = [];
    const log = { error: (o: { err?: string }, msg: string) => errors.push(`${msg}: ${o.err}`), warn: () => undefined } as unknown as import('pino').Logger;
    const s = openStore({ path: dir.path, maxSizeBytes: 2 ** 30, retentionMs: 0, limitsIntervalMs: 0, busyTimeoutMs: 20, log });
    const other = new Database(join(dir.path, STORE_FILE));
    other.exec('BEGIN EXCLUSIVE');
    const row: Reading = { device: 'd', tag: 't', ts: 1, kind: 'float', value: 1, quality: 'good' };
    void s.write([row]); // a poller that does not await: must not crash the process
    await expect(s.write([{ ...row, ts: 2 }])).rejects.toMatchObject({ code: 'GW_ERR_STORE' });
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0]).toMatch(/store commit failed: .*locked/);
    other.exec('COMMIT');
    other.close();
    await s.write([{ ...row, ts: 3 }]);
    expect(s.query({}).map((r) => r.ts)).toEqual([3]);
    await s.close();
  });
});
