import Database from 'better-sqlite3';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { STORE_FILE, STORE_SCHEMA_VERSION, openStore } from '../../ingest/store/index.js';
import { tempDir } from '../helpers/tmp.js';
import { storeContract } from './store-contract.js';
import { ManualClock } from '../helpers/manual-clock.js';

storeContract('SQLite (ingest/store/)', (o) => openStore(o));

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
    expect(raw.pragma('user_version', { simple: true })).toBe(STORE_SCHEMA_VERSION);
    raw.close();
    const s2 = openStore(opts);
    expect(s2.query({ device: 'd' }).map((r) => r.value)).toEqual([7]);
    await s2.close();
    const newer = new Database(join(dir.path, STORE_FILE));
    newer.pragma(`user_version = ${STORE_SCHEMA_VERSION + 1}`);
    newer.close();
    expect(() => openStore(opts)).toThrow(
      expect.objectContaining({ code: 'GW_ERR_STORE', message: expect.stringMatching(new RegExp(`schema version ${STORE_SCHEMA_VERSION + 1}.*newer fgw`)) }),
    );
  });

  it('upgrades a store written by the first layout (schema 1) in place: history, backlog cursor and newest values kept', async () => {
    const dir = tempDir('fgw-store-');
    dirs.push(dir);
    // the schema-1 layout as the previous release wrote it, filled by hand
    const v1 = new Database(join(dir.path, STORE_FILE));
    v1.exec(`
      CREATE TABLE series(id INTEGER PRIMARY KEY, measurement TEXT NOT NULL, device TEXT NOT NULL, tag TEXT NOT NULL, kind TEXT NOT NULL, UNIQUE(measurement, device, tag, kind));
      CREATE TABLE readings(seq INTEGER PRIMARY KEY, series INTEGER NOT NULL, ts INTEGER NOT NULL, value NUMERIC, text TEXT, quality INTEGER NOT NULL, error TEXT);
      CREATE INDEX readings_series_ts ON readings(series, ts, quality);
      CREATE TABLE audit(seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, actor TEXT NOT NULL, system TEXT NOT NULL, action TEXT NOT NULL, route TEXT NOT NULL, device TEXT, tag TEXT, value TEXT, result TEXT NOT NULL, detail TEXT);
      CREATE TABLE dead_letters(id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, source TEXT NOT NULL, device TEXT, topic TEXT, reason TEXT NOT NULL, detail TEXT, payload TEXT);
      CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
      INSERT INTO meta(key, value) VALUES ('cursor:readings', 3), ('cursor:audit', 0), ('dropped', 0), ('droppedUnforwarded', 0), ('count:readings', 6), ('seq:readings', 6);
      INSERT INTO series(id, measurement, device, tag, kind) VALUES (1, 'data', 'press-01', 'state', 'integer'), (2, 'data', 'press-01', 'temp', 'float'), (3, 'data', 'lathe-03', 'state', 'integer'), (4, 'status', '', 'heartbeat', 'integer');
      INSERT INTO readings(seq, series, ts, value, text, quality, error) VALUES
        (1, 1, 1000, 1, NULL, 0, NULL), (2, 2, 1000, 20.5, NULL, 0, NULL), (3, 3, 1000, 2, NULL, 0, NULL),
        (4, 1, 2000, NULL, NULL, 2, 'TIMEOUT'), (5, 2, 900, 21.5, NULL, 0, NULL), (6, 4, 2000, 1, NULL, 0, NULL);
      PRAGMA user_version = 1;
    `);
    v1.close();

    const s = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0, forwarding: true });
    // seq 5 arrived late: written after seq 2 with an older timestamp
    expect(s.query({ device: 'press-01' }).map((r) => [r.seq, r.tag, r.ts, r.value, r.quality])).toEqual([
      [5, 'temp', 900, 21.5, 'good'],
      [1, 'state', 1000, 1, 'good'],
      [2, 'temp', 1000, 20.5, 'good'],
      [4, 'state', 2000, null, 'bad'],
    ]);
    // the newest reading per tag is by timestamp, not by arrival: temp's is seq 2, state's the bad one
    expect(s.latest().map((r) => [r.device, r.tag, r.seq])).toEqual([
      ['lathe-03', 'state', 3],
      ['press-01', 'state', 4],
      ['press-01', 'temp', 2],
    ]);
    expect(s.slotCounts({ device: 'press-01', from: 0, to: 3000, slotMs: 1000 })).toEqual([
      { slot: 0, good: 1, bad: 0 },
      { slot: 1, good: 2, bad: 0 },
      { slot: 2, good: 0, bad: 1 },
    ]);
    expect(s.tagsSeen({ device: 'press-01', from: 0, to: 3000 })).toEqual(['state', 'temp']);
    expect(s.lastGoodTs({ device: 'press-01', to: 3000 })).toBe(1000);
    expect(s.heartbeatSlots({ from: 0, to: 3000, slotMs: 1000 })).toEqual([2]);
    expect(s.stats()).toMatchObject({ readings: 6, oldestTs: 900, newestTs: 2000, backlog: 3 });
    // the forwarder resumes after its cursor; new rows continue the seq and join the same series
    expect(s.readForward('readings', s.getCursor('readings'), 10).map((r) => r.seq)).toEqual([4, 5, 6]);
    await s.write([{ device: 'press-01', tag: 'temp', ts: 2500, kind: 'float', value: 22.5, quality: 'good' }]);
    expect(s.latest('press-01').find((r) => r.tag === 'temp')).toMatchObject({ seq: 7, ts: 2500, value: 22.5 });
    await s.close();

    const raw = new Database(join(dir.path, STORE_FILE), { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(STORE_SCHEMA_VERSION);
    expect(raw.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'points'`).pluck().all()).toEqual(['points_dev_ts']);
    expect(raw.prepare(`SELECT name FROM sqlite_master WHERE name = 'readings'`).pluck().all()).toEqual([]);
    raw.close();
  });

  // layout 2 as fgw wrote it before the tie and the loss ledger; layout 3 is it plus `tie`
  const layout2 = `
    CREATE TABLE series(id INTEGER PRIMARY KEY, measurement TEXT NOT NULL, device TEXT NOT NULL, tag TEXT NOT NULL, kind TEXT NOT NULL, dev INTEGER NOT NULL DEFAULT 0, UNIQUE(measurement, device, tag, kind));
    CREATE TABLE devices(id INTEGER PRIMARY KEY, measurement TEXT NOT NULL, device TEXT NOT NULL, UNIQUE(measurement, device));
    CREATE TABLE readings(seq INTEGER PRIMARY KEY, series INTEGER NOT NULL, ts INTEGER NOT NULL, value NUMERIC, text TEXT, quality INTEGER NOT NULL, error TEXT, dev INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX readings_dev_ts ON readings(dev, ts, series, quality);
    CREATE TABLE latest(series INTEGER PRIMARY KEY, seq INTEGER NOT NULL, ts INTEGER NOT NULL);
    CREATE TABLE audit(seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, actor TEXT NOT NULL, system TEXT NOT NULL, action TEXT NOT NULL, route TEXT NOT NULL, device TEXT, tag TEXT, value TEXT, result TEXT NOT NULL, detail TEXT);
    CREATE TABLE dead_letters(id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, source TEXT NOT NULL, device TEXT, topic TEXT, reason TEXT NOT NULL, detail TEXT, payload TEXT);
    CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
    INSERT INTO meta(key, value) VALUES ('cursor:readings', 2), ('cursor:audit', 0), ('dropped', 0), ('droppedUnforwarded', 0), ('seq:readings', 5);
    INSERT INTO devices(id, measurement, device) VALUES (1, 'data', 'press-01');
    INSERT INTO series(id, measurement, device, tag, kind, dev) VALUES (1, 'data', 'press-01', 'v', 'integer', 1), (2, 'data', 'press-01', 'w', 'integer', 1);
    INSERT INTO readings(seq, series, ts, value, text, quality, error, dev) VALUES
      (1, 1, 1000, 1, NULL, 0, NULL, 1), (2, 1, 1000, 2, NULL, 0, NULL, 1), (3, 1, 1000, 3, NULL, 0, NULL, 1), (4, 1, 1000, 4, NULL, 0, NULL, 1), (5, 2, 1000, 5, NULL, 0, NULL, 1);
    INSERT INTO latest(series, seq, ts) VALUES (1, 4, 1000), (2, 5, 1000);`;

  for (const from of [2, 3] as const) {
    it(`upgrades a layout-${from} store (${from === 2 ? 'before the tie and the loss ledger' : 'with ties, before the loss ledger'}) to ${STORE_SCHEMA_VERSION}: every reading and tie kept, the ledger works`, async () => {
      const dir = tempDir('fgw-store-');
      dirs.push(dir);
      const old = new Database(join(dir.path, STORE_FILE));
      old.exec(layout2);
      // layout 3 had ranked seq 3 and 4 already (seq 1-2 forwarded, written at ms precision: tie 0)
      if (from === 3) old.exec('ALTER TABLE readings ADD COLUMN tie INTEGER NOT NULL DEFAULT 0; UPDATE readings SET tie = seq - 1 WHERE seq IN (3, 4);');
      old.pragma(`user_version = ${from}`);
      old.close();

      const s = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0, forwarding: true });
      // seq 1 and 2 keep tie 0 (forwarded, one point in InfluxDB); the backlog's 3 and 4 are ranks 2 and 3
      expect(s.readForward('readings', -1, 10).map((r) => [r.seq, r.tag, r.value, r.tie ?? 0])).toEqual([
        [1, 'v', 1, 0],
        [2, 'v', 2, 0],
        [3, 'v', 3, 2],
        [4, 'v', 4, 3],
        [5, 'w', 5, 0],
      ]);
      expect(s.stats()).toMatchObject({ readings: 5, backlog: 3, lost: 0, losses: [] });
      expect(s.losses()).toEqual([]);
      // the next reading of v in that ms continues after the stored ties; seq continues too
      await s.write([{ device: 'press-01', tag: 'v', ts: 1000, kind: 'integer', value: 6, quality: 'good' }]);
      expect(s.readForward('readings', 5, 10).map((r) => [r.seq, r.tie])).toEqual([[6, 4]]);
      await s.close();

      const raw = new Database(join(dir.path, STORE_FILE), { readonly: true });
      expect(raw.pragma('user_version', { simple: true })).toBe(STORE_SCHEMA_VERSION);
      expect(raw.prepare(`SELECT name FROM sqlite_master WHERE tbl_name = 'losses' ORDER BY name`).pluck().all()).toEqual(['losses', 'losses_to']);
      raw.close();
    });
  }

  it('runs in WAL mode; everything it puts on disk (database, WAL, wal-index, reserve) stays within maxSize; freed pages are reused', async () => {
    const dir = tempDir('fgw-store-');
    dirs.push(dir);
    const maxSizeBytes = 4 * 1024 * 1024;
    const s = openStore({ path: dir.path, maxSizeBytes, retentionMs: 0, clock: new ManualClock(), limitsIntervalMs: 0 });
    const onDisk = () =>
      ['', '-wal', '-shm', '-reserve'].reduce(
        (a, ext) => a + (existsSync(join(dir.path, STORE_FILE + ext)) ? statSync(join(dir.path, STORE_FILE + ext)).size : 0),
        0,
      );
    const batch = (from: number): Reading[] =>
      Array.from({ length: 2000 }, (_, i) => ({ device: `d${i % 4}`, tag: `t${i % 9}`, ts: from + i, kind: 'float', value: from + i + 0.25, quality: 'good' }));
    let peak = 0;
    for (let i = 0; i < 100; i++) {
      await s.write(batch(i * 2000));
      peak = Math.max(peak, onDisk());
    }
    expect(s.stats().dropped).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(maxSizeBytes);
    const db = new Database(join(dir.path, STORE_FILE), { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const pages = Number(db.pragma('page_count', { simple: true }));
    // at the size limit, new rows go into the pages old ones freed: 40,000 more readings (over
    // 1.5 MB) grow the file by less than one 2,000-row batch would take (2,000 x 40 B = 20 pages)
    for (let i = 100; i < 120; i++) await s.write(batch(i * 2000));
    expect(Number(db.pragma('page_count', { simple: true })) - pages).toBeLessThan(20);
    db.close();
    expect(onDisk()).toBeLessThanOrEqual(maxSizeBytes);
    await s.close();
  });

  it('a failed commit (database locked by another process) rejects with GW_ERR_STORE, is logged, never an unhandled rejection, and the store goes on', async () => {
    const dir = tempDir('fgw-store-');
    dirs.push(dir);
    const errors: string[] = [];
    const log = {
      error: (o: { err?: string }, msg: string) => errors.push(`${msg}: ${o.err}`),
      warn: () => undefined,
      info: () => undefined,
    } as unknown as import('pino').Logger;
    const s = openStore({ path: dir.path, maxSizeBytes: 2 ** 30, retentionMs: 0, limitsIntervalMs: 0, busyTimeoutMs: 20, log });
    const other = new Database(join(dir.path, STORE_FILE));
    other.exec('BEGIN EXCLUSIVE');
    const row: Reading = { device: 'd', tag: 't', ts: 1, kind: 'float', value: 1, quality: 'good' };
    void s.write([row]); // a poller that does not await: must not crash the process
    await expect(s.write([{ ...row, ts: 2 }])).rejects.toMatchObject({ code: 'GW_ERR_STORE' });
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0]).toMatch(/store commit failed.*locked/);
    other.exec('COMMIT');
    other.close();
    await s.write([{ ...row, ts: 3 }]);
    expect(s.query({}).map((r) => r.ts)).toEqual([3]);
    await s.close();
  });
});
