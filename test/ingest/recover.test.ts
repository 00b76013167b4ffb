/**
 * ingest/recover.ts against real store files that real SQLite wrote, damaged the ways a power cut
 * or a bad SD card damages them. What should be recoverable is counted with SQLite's own dbstat
 * (cells per leaf page of `readings`) before the damage, never with the reader under test.
 *
 * These files are in layout 4 (one row per reading), the layout a damaged file set aside by an
 * older fgw has; they are written here with SQLite and that layout's DDL. Layout 5 (points):
 * recover-points.test.ts. The file has ties: 24 readings share each ms, two of each of the 12
 * series, so reading k has tie 1 when k mod 24 >= 12, else 0.
 */
import Database from 'better-sqlite3';
import { closeSync, copyFileSync, mkdirSync, openSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { Recovery } from '../../ingest/recover.js';
import { STORE_FILE, openStore } from '../../ingest/store/index.js';
import { tempDir } from '../helpers/tmp.js';

const T = Date.UTC(2026, 10, 27, 0, 0, 0);
const N = 48_401;
const PAGE = 4096;

let dir: ReturnType<typeof tempDir>;
let file: string;
/** pageno → readings on that leaf page, and the total page count */
let leaves: Map<number, number>;
let pages: number;
/** readings with tie 1, by SQLite */
let tiesOfOne: number;

/** value of reading i: its identity in the comparisons below */
const value = (i: number) => i + 0.25;
/** the tie the store gives reading i (the second reading of its series in its ms gets 1) */
const tieOf = (i: number) => (i % 24 >= 12 ? 1 : 0);

beforeAll(async () => {
  dir = tempDir('fgw-recover-');
  mkdirSync(join(dir.path, 'live'));
  const readings: Reading[] = [];
  for (let k = 0; k < N; k++)
    readings.push({
      device: `dev${k % 4}`,
      tag: `t${k % 6}`,
      ts: T + Math.floor(k / 24) * 10,
      kind: 'float',
      value: value(k),
      quality: 'good',
      tie: tieOf(k),
    } as Reading);
  writeLayout4(join(dir.path, 'live', STORE_FILE), readings, 20_000, (db) => {
    db.prepare("INSERT INTO audit(ts, actor, system, action, route, result) VALUES (?, 'mes', 'MES', 'read', 'GET /api/latest', 'ok')").run(T);
    db.prepare("INSERT INTO dead_letters(ts, source, reason, detail, payload) VALUES (?, 'mqtt', 'NOT_JSON', 'Unexpected token', ?)").run(
      T,
      'p'.repeat(60_000),
    );
  });
  file = join(dir.path, 'live', STORE_FILE);
  const db = new Database(file, { readonly: true });
  leaves = new Map(
    (db.prepare("SELECT pageno, ncell FROM dbstat WHERE name = 'readings' AND pagetype = 'leaf'").all() as Array<{ pageno: number; ncell: number }>).map(
      (r) => [r.pageno, r.ncell],
    ),
  );
  pages = Number(db.pragma('page_count', { simple: true }));
  tiesOfOne = Number(db.prepare('SELECT count(*) FROM readings WHERE tie = 1').pluck().get());
  db.close();
});
afterAll(() => dir.cleanup());

/**
 * A layout-4 store file (schema 4: one row per reading, with dev and tie), as fgw before layout 5
 * wrote it: its DDL, the series and devices the readings name, the readings in order from seq 1
 * (tie from `(r as { tie }).tie`), the forwarder's cursor and the counters in meta.
 */
function writeLayout4(f: string, rows: Reading[], cursor: number, more?: (db: Database.Database) => void): void {
  const db = new Database(f);
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE series(id INTEGER PRIMARY KEY, measurement TEXT NOT NULL, device TEXT NOT NULL, tag TEXT NOT NULL, kind TEXT NOT NULL, dev INTEGER NOT NULL DEFAULT 0, UNIQUE(measurement, device, tag, kind));
    CREATE TABLE readings(seq INTEGER PRIMARY KEY, series INTEGER NOT NULL, ts INTEGER NOT NULL, value NUMERIC, text TEXT, quality INTEGER NOT NULL, error TEXT, dev INTEGER NOT NULL DEFAULT 0, tie INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE audit(seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, actor TEXT NOT NULL, system TEXT NOT NULL, action TEXT NOT NULL, route TEXT NOT NULL, device TEXT, tag TEXT, value TEXT, result TEXT NOT NULL, detail TEXT);
    CREATE INDEX audit_ts ON audit(ts);
    CREATE TABLE dead_letters(id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, source TEXT NOT NULL, device TEXT, topic TEXT, reason TEXT NOT NULL, detail TEXT, payload TEXT);
    CREATE INDEX dead_letters_ts ON dead_letters(ts);
    CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
    CREATE TABLE devices(id INTEGER PRIMARY KEY, measurement TEXT NOT NULL, device TEXT NOT NULL, UNIQUE(measurement, device));
    CREATE TABLE latest(series INTEGER PRIMARY KEY, seq INTEGER NOT NULL, ts INTEGER NOT NULL);
    CREATE INDEX readings_dev_ts ON readings(dev, ts, series, quality);
    PRAGMA user_version = 4;`);
  const devs = new Map<string, number>();
  const series = new Map<string, number>();
  const insert = db.prepare('INSERT INTO readings(seq, series, ts, value, quality, dev, tie) VALUES (?, ?, ?, ?, 0, ?, ?)');
  db.transaction(() => {
    rows.forEach((r, i) => {
      let dev = devs.get(r.device);
      if (dev === undefined)
        devs.set(r.device, (dev = Number(db.prepare("INSERT INTO devices(measurement, device) VALUES ('data', ?)").run(r.device).lastInsertRowid)));
      const key = `${r.device}/${r.tag}`;
      let sid = series.get(key);
      if (sid === undefined)
        series.set(
          key,
          (sid = Number(
            db.prepare("INSERT INTO series(measurement, device, tag, kind, dev) VALUES ('data', ?, ?, ?, ?)").run(r.device, r.tag, r.kind, dev).lastInsertRowid,
          )),
        );
      insert.run(i + 1, sid, r.ts, r.value, dev, (r as { tie?: number }).tie ?? 0);
    });
    db.prepare(
      "INSERT INTO meta(key, value) VALUES ('cursor:readings', ?), ('cursor:audit', 0), ('dropped', 0), ('droppedUnforwarded', 0), ('count:readings', ?), ('seq:readings', ?)",
    ).run(cursor, rows.length, rows.length);
    more?.(db);
  })();
  db.close();
}

function copy(name: string): string {
  const f = join(dir.path, name);
  copyFileSync(file, f);
  return f;
}

function garbage(f: string, pageNos: number[], byte = 0xa5): void {
  const fd = openSync(f, 'r+');
  for (const p of pageNos) writeSync(fd, Buffer.alloc(PAGE, byte), 0, PAGE, (p - 1) * PAGE);
  closeSync(fd);
}

/** the readings' values read back, sorted, and the report */
function recover(f: string) {
  const r = new Recovery(f);
  try {
    const rows = [...r.rows('readings')];
    const values = rows.map((x) => x.values[3] as number).sort((a, b) => a - b);
    // rows whose tie (the 9th value) is not the one the store gave them
    const wrongTies = rows.filter((x) => x.values[8] !== tieOf((x.values[3] as number) - 0.25)).length;
    const series = [...r.rows('series')].length;
    const seriesIndex = [...r.rows('sqlite_autoindex_series_1')].length;
    const meta = new Map([...r.rows('meta')].map((x) => [x.values[0], x.values[1]]));
    const dl = [...r.rows('dead_letters')];
    const audits = [...r.rows('audit')];
    return { values, wrongTies, series, seriesIndex, meta, dl, audits, report: r.report };
  } finally {
    r.close();
  }
}

const all = () => Array.from({ length: N }, (_, i) => value(i));
const lostOn = (pageNos: number[]) => pageNos.reduce((a, p) => a + (leaves.get(p) ?? 0), 0);

describe('recovering a store file without SQLite', () => {
  it('a sound file: every row of every table, overflow pages included', () => {
    const r = recover(file);
    expect(r.values).toEqual(all());
    expect(r.wrongTies).toBe(0);
    // 2,016 full blocks of 24 with 12 ties of 1 each, and 5 in the last 17 readings (k mod 24 = 12..16)
    expect(tiesOfOne).toBe(2016 * 12 + 5);
    expect(r.series).toBe(12);
    expect(r.meta.get('cursor:readings')).toBe(20_000);
    expect(r.meta.get('count:readings')).toBe(N);
    expect(r.dl).toHaveLength(1);
    expect((r.dl[0]!.values[7] as string).length).toBe(60_000);
    expect(r.audits.map((a) => a.values[5])).toEqual(['GET /api/latest']);
    expect(r.report).toMatchObject({ headerOk: true, schemaOk: true, damagedPages: 0, badCells: 0 });
  });

  it('garbage over 10 middle pages: every reading not on them', () => {
    const f = copy('middle');
    const hit = Array.from({ length: 10 }, (_, k) => Math.floor(pages / 2) + 3 * k);
    garbage(f, hit);
    const r = recover(f);
    const lost = lostOn(hit);
    expect(lost).toBeGreaterThan(0);
    expect(r.values).toHaveLength(N - lost);
    // exactly the originals, nothing invented
    const original = new Set(all());
    expect(r.values.every((v) => original.has(v))).toBe(true);
    expect(r.wrongTies).toBe(0);
    expect(r.report.damagedPages).toBeGreaterThanOrEqual(hit.filter((p) => leaves.has(p)).length);
  });

  it('garbage over page 2 (the series table): readings still named, through the series index', () => {
    const f = copy('page2');
    garbage(f, [2]);
    const r = recover(f);
    expect(leaves.has(2)).toBe(false);
    expect(r.values).toEqual(all());
    expect(r.series).toBe(0);
    expect(r.seriesIndex).toBe(12);
  });

  it('a bad header: the page size is guessed and everything is read', () => {
    const f = copy('header');
    const fd = openSync(f, 'r+');
    writeSync(fd, Buffer.alloc(100, 0x11), 0, 100, 0);
    closeSync(fd);
    const r = recover(f);
    expect(r.report.headerOk).toBe(false);
    expect(r.report.pageSize).toBe(PAGE);
    expect(r.values).toEqual(all());
  });

  it('truncated to half: every reading on the pages that are left', () => {
    const f = copy('truncated');
    const keep = Math.floor(pages / 2);
    truncateSync(f, keep * PAGE);
    const r = recover(f);
    const left = [...leaves].filter(([p]) => p <= keep).reduce((a, [, n]) => a + n, 0);
    expect(r.values).toHaveLength(left);
    expect(r.report.damagedPages).toBeGreaterThan(0);
  });

  it('the schema page lost too (garbage over page 1 and 2): tables are recognised by the shape of their rows', () => {
    const f = copy('schema');
    garbage(f, [1, 2]);
    const r = recover(f);
    expect(r.report.schemaOk).toBe(false);
    expect(r.values).toEqual(all());
    expect(r.wrongTies).toBe(0);
    expect(r.seriesIndex).toBe(12);
    // meta too: the forwarder's cursor survives, so salvage knows what InfluxDB had
    expect(r.meta.get('cursor:readings')).toBe(20_000);
  });

  it('a layout-2 file (no tie column) with its schema page lost: its 8-value rows are still recognised as readings', async () => {
    const d = tempDir('fgw-recover-v2-');
    try {
      const f = join(d.path, STORE_FILE);
      writeLayout4(
        f,
        Array.from({ length: 3000 }, (_, i) => ({ device: 'd', tag: 't', ts: T + i, kind: 'integer' as const, value: i, quality: 'good' as const })),
        0,
      );
      const db = new Database(f);
      db.exec('ALTER TABLE readings DROP COLUMN tie; PRAGMA user_version = 2;');
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
      garbage(f, [1]);
      const r = new Recovery(f);
      const rows = [...r.rows('readings')];
      expect(r.report.schemaOk).toBe(false);
      r.close();
      expect(rows.map((x) => x.values[3]).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 3000 }, (_, i) => i));
      expect(new Set(rows.map((x) => x.values.length))).toEqual(new Set([8]));
    } finally {
      d.cleanup();
    }
  });

  it('what a crash left in the WAL is read too (committed frames only)', async () => {
    const d = tempDir('fgw-recover-wal-');
    try {
      const s = openStore({ path: d.path, maxSizeBytes: 2 ** 30, retentionMs: 0, limitsIntervalMs: 0 });
      await s.write(
        Array.from({ length: 3000 }, (_, i) => ({ device: 'd', tag: 't', ts: T + i, kind: 'integer' as const, value: i, quality: 'good' as const })),
      );
      // copied while open: the rows are in the WAL, not yet in the main file
      copyFileSync(join(d.path, STORE_FILE), join(d.path, 'copy.db'));
      copyFileSync(join(d.path, `${STORE_FILE}-wal`), join(d.path, 'copy.db-wal'));
      await s.close();
      const r = new Recovery(join(d.path, 'copy.db'));
      // each reading its own point (a ts each)
      const n = [...r.rows('points')].length;
      expect(r.report.walFrames).toBeGreaterThan(0);
      r.close();
      expect(n).toBe(3000);
    } finally {
      d.cleanup();
    }
  });
});
