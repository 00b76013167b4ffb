/**
 * ingest/recover.ts and ingest/salvage.ts against store files of layout 5 (one row per point,
 * table `points`, with `shapes`), written here by SQLite itself (better-sqlite3, the schema-5 DDL)
 * and damaged. What should be recoverable is counted with SQLite's dbstat (cells per leaf page of
 * `points`) before the damage, never with the reader under test; the expected readings come from
 * how the test generated them.
 *
 * The data: 4 devices of 10 tags (4 kinds); point k is of device k mod 4, holds the first
 * 5 + (k mod 6) tags of it (one shape per device and size), at ms T + floor(k / 8) * 10, so points
 * k and k + 4 share device and ms: the second one's entries of the tags both hold get tie 1. Some
 * entries are bad (no value, an error), some uncertain. The salvage tests give salvageInto a real
 * store behind a recorder of the batches it imports, and compare the readings in them.
 */
import Database from 'better-sqlite3';
import { closeSync, copyFileSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FieldKind } from '../../adapters/types.js';
import { FGW_TABLES, Recovery, type SqlValue } from '../../ingest/recover.js';
import { salvageInto, salvageText } from '../../ingest/salvage.js';
import { encodePoint, type PointEntry } from '../../ingest/store/point-codec.js';
import { openStore } from '../../ingest/store/index.js';
import type { RecoveredBatch, RecoveredReading, SalvageStore, Store } from '../../ingest/types.js';
import { tempDir } from '../helpers/tmp.js';

const PAGE = 4096;
const POINTS = 20_000;
/** points added in a commit left in the WAL, of a shape whose tags are in reverse order */
const WAL_POINTS = 300;
const DEVICES = 4;
const KIND: readonly FieldKind[] = ['float', 'integer', 'boolean', 'string', 'float', 'integer', 'float', 'boolean', 'integer', 'float'];
const now = Date.now();
const T = now - 3_600_000;
/** readings of the points before this one went to InfluxDB (the file's cursor) */
const FORWARDED_POINTS = 6000;

const DDL = `
CREATE TABLE series(id INTEGER PRIMARY KEY, measurement TEXT NOT NULL, device TEXT NOT NULL, tag TEXT NOT NULL, kind TEXT NOT NULL,
  dev INTEGER NOT NULL DEFAULT 0, UNIQUE(measurement, device, tag, kind));
CREATE TABLE devices(id INTEGER PRIMARY KEY, measurement TEXT NOT NULL, device TEXT NOT NULL, UNIQUE(measurement, device));
CREATE TABLE latest(series INTEGER PRIMARY KEY, seq INTEGER NOT NULL, ts INTEGER NOT NULL);
CREATE TABLE shapes(id INTEGER PRIMARY KEY, series TEXT NOT NULL UNIQUE);
CREATE TABLE points(seq INTEGER PRIMARY KEY, dev INTEGER NOT NULL, ts INTEGER NOT NULL, shape INTEGER NOT NULL,
  n INTEGER NOT NULL, vals BLOB NOT NULL);
CREATE INDEX points_dev_ts ON points(dev, ts);
CREATE TABLE audit(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, actor TEXT NOT NULL, system TEXT NOT NULL,
  action TEXT NOT NULL, route TEXT NOT NULL, device TEXT, tag TEXT, value TEXT, result TEXT NOT NULL, detail TEXT);
CREATE INDEX audit_ts ON audit(ts);
CREATE TABLE dead_letters(
  id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, source TEXT NOT NULL, device TEXT, topic TEXT,
  reason TEXT NOT NULL, detail TEXT, payload TEXT);
CREATE INDEX dead_letters_ts ON dead_letters(ts);
CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE losses(
  id INTEGER PRIMARY KEY, device TEXT NOT NULL, reason TEXT NOT NULL,
  from_ts INTEGER NOT NULL, to_ts INTEGER NOT NULL, count INTEGER NOT NULL, open INTEGER NOT NULL);
CREATE INDEX losses_to ON losses(to_ts);
`;

// ---------------------------------------------------------------- the data, generated

const seriesId = (d: number, tag: number) => d * 10 + tag + 1;
/** shape ids 1-24: device d, tags 0..m-1 (m = 5..10); 25: device 0, tags 9..5 (the WAL's points) */
const shapeId = (d: number, m: number) => d * 6 + (m - 5) + 1;
const REVERSED = 25;
const REVERSED_TAGS = [9, 8, 7, 6, 5];

interface Point {
  k: number;
  seq: number;
  d: number;
  ts: number;
  shape: number;
  tags: number[];
  entries: PointEntry[];
  vals: Buffer;
}

const sizeOf = (k: number) => 5 + (k % 6);
const tsOf = (k: number) => T + Math.floor(k / 8) * 10;

function entry(k: number, tag: number, i: number, tie: number): PointEntry {
  const t = tie ? { tie } : {};
  if ((k * 7 + i) % 97 === 0) return { value: null, quality: 'bad', error: 'E_TIMEOUT', ...t };
  const quality = (k * 3 + i) % 41 === 0 ? 'uncertain' : 'good';
  const kind = KIND[tag]!;
  const value =
    kind === 'float'
      ? k * 10 + i + Math.PI / 10 // not a two-decimal number: a float64 in the blob
      : kind === 'integer'
        ? k % 5 === 0
          ? -(k * 10 + i)
          : k * 10 + i
        : kind === 'boolean'
          ? (k + i) % 3 === 0
          : `running: recipe R-${k % 97}, batch B-${k}.${i}`;
  return { value, quality, ...t };
}

/** points 0..count-1: the first POINTS as described above, the rest (the WAL's) of the reversed shape */
function generate(count: number): Point[] {
  const out: Point[] = [];
  let seq = 1;
  for (let k = 0; k < count; k++) {
    const wal = k >= POINTS;
    const d = wal ? 0 : k % DEVICES;
    const tags = wal ? REVERSED_TAGS : Array.from({ length: sizeOf(k) }, (_, i) => i);
    // the second point of a device in a ms: tie 1 for the tags the first one had
    const shared = !wal && k % 8 >= 4 ? sizeOf(k - 4) : 0;
    const entries = tags.map((tag, i) => entry(k, tag, i, i < shared ? 1 : 0));
    const vals = Buffer.from(
      encodePoint(
        tags.map((tag) => KIND[tag]!),
        entries,
      ),
    );
    out.push({ k, seq, d, ts: tsOf(k), shape: wal ? REVERSED : shapeId(d, tags.length), tags, entries, vals });
    seq += tags.length;
  }
  return out;
}

const ALL = generate(POINTS + WAL_POINTS);
const SOUND = ALL.slice(0, POINTS);
const readingsOf = (ps: readonly Point[]) => ps.reduce((a, p) => a + p.tags.length, 0);
const CURSOR = SOUND[FORWARDED_POINTS]!.seq - 1;

/** the readings salvage should give for these points, in order */
function expectedReadings(ps: readonly Point[]): RecoveredReading[] {
  return ps.flatMap((p) =>
    p.tags.map((tag, i) => {
      const e = p.entries[i]!;
      return {
        measurement: 'data' as const,
        device: `dev${p.d}`,
        tag: `t${tag}`,
        kind: KIND[tag]!,
        ts: p.ts,
        value: typeof e.value === 'number' ? e.value : typeof e.value === 'boolean' ? (e.value ? 1 : 0) : null,
        text: typeof e.value === 'string' ? e.value : null,
        quality: { good: 0, uncertain: 1, bad: 2 }[e.quality],
        error: e.error ?? null,
        oldSeq: p.seq + i,
        tie: e.tie ?? 0,
      };
    }),
  );
}

function insertPoints(db: Database.Database, ps: readonly Point[]): void {
  const ins = db.prepare('INSERT INTO points(seq, dev, ts, shape, n, vals) VALUES (?, ?, ?, ?, ?, ?)');
  const latest = db.prepare('INSERT INTO latest(series, seq, ts) VALUES (?, ?, ?) ON CONFLICT(series) DO UPDATE SET seq = excluded.seq, ts = excluded.ts');
  for (const p of ps) {
    ins.run(p.seq, p.d + 1, p.ts, p.shape, p.tags.length, p.vals);
    p.tags.forEach((tag, i) => latest.run(seriesId(p.d, tag), p.seq + i, p.ts));
  }
}

function build(file: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(DDL);
  db.transaction(() => {
    for (let d = 0; d < DEVICES; d++) {
      db.prepare('INSERT INTO devices(id, measurement, device) VALUES (?, ?, ?)').run(d + 1, 'data', `dev${d}`);
      for (let tag = 0; tag < 10; tag++)
        db.prepare('INSERT INTO series(id, measurement, device, tag, kind, dev) VALUES (?, ?, ?, ?, ?, ?)').run(
          seriesId(d, tag),
          'data',
          `dev${d}`,
          `t${tag}`,
          KIND[tag],
          d + 1,
        );
      for (let m = 5; m <= 10; m++)
        db.prepare('INSERT INTO shapes(id, series) VALUES (?, ?)').run(shapeId(d, m), Array.from({ length: m }, (_, tag) => seriesId(d, tag)).join(','));
    }
    insertPoints(db, SOUND);
    const last = SOUND[POINTS - 1]!;
    const meta = db.prepare('INSERT INTO meta(key, value) VALUES (?, ?)');
    for (const [key, value] of [
      ['cursor:readings', CURSOR],
      ['cursor:audit', 0],
      ['count:readings', readingsOf(SOUND)],
      ['seq:readings', last.seq + last.tags.length - 1],
      ['dropped', 0],
      ['droppedUnforwarded', 0],
    ] as const)
      meta.run(key, value);
    db.prepare('INSERT INTO audit(ts, actor, system, action, route, result) VALUES (?, ?, ?, ?, ?, ?)').run(T, 'mes', 'MES', 'read', 'GET /api/latest', 'ok');
  })();
  db.pragma('user_version = 5');
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

// ---------------------------------------------------------------- the file, as SQLite sees it

interface Leaf {
  pageno: number;
  ncell: number;
  path: string;
  /** index (in rowid order) of the first point on it */
  first: number;
}

/** points' leaf pages in tree (= rowid) order, by dbstat */
function leavesOf(file: string): Leaf[] {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare("SELECT pageno, ncell, path FROM dbstat WHERE name = 'points' AND pagetype = 'leaf' ORDER BY path").all() as Array<
      Omit<Leaf, 'first'>
    >;
    let first = 0;
    return rows.map((r) => {
      const l = { ...r, first };
      first += r.ncell;
      return l;
    });
  } finally {
    db.close();
  }
}

function sqliteOf(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    const interior = db.prepare("SELECT pageno, path FROM dbstat WHERE name = 'points' AND pagetype = 'internal' ORDER BY path").all() as Array<{
      pageno: number;
      path: string;
    }>;
    const root = (name: string) => Number(db.prepare('SELECT rootpage FROM sqlite_schema WHERE name = ?').pluck().get(name));
    const shapesPages = db.prepare("SELECT count(*) FROM dbstat WHERE name = 'shapes'").pluck().get() as number;
    return { interior, shapesRoot: root('shapes'), shapesIndexRoot: root('sqlite_autoindex_shapes_1'), shapesPages };
  } finally {
    db.close();
  }
}

let dir: ReturnType<typeof tempDir>;
let base: string;
let leaves: Leaf[];

beforeAll(() => {
  dir = tempDir('fgw-recover-points-');
  base = join(dir.path, 'base.db');
  build(base);
  leaves = leavesOf(base);
});
afterAll(() => dir?.cleanup());

function copy(name: string, from = base): string {
  const f = join(dir.path, name);
  copyFileSync(from, f);
  return f;
}

function garbage(f: string, pageNos: number[], byte = 0xa5): void {
  const fd = openSync(f, 'r+');
  for (const p of pageNos) writeSync(fd, Buffer.alloc(PAGE, byte), 0, PAGE, (p - 1) * PAGE);
  closeSync(fd);
}

/** a point as the reader gives it, and as the test wrote it */
const asRow = (r: { rowid?: number; values: unknown[] }) => [r.rowid, ...r.values.slice(0, 5), (r.values[5] as Buffer).toString('hex')];
const asWritten = (p: Point) => [p.seq, null, p.d + 1, p.ts, p.shape, p.tags.length, p.vals.toString('hex')];

function recover(f: string) {
  const r = new Recovery(f);
  try {
    const points = [...r.rows('points')].map(asRow).sort((a, b) => (a[0] as number) - (b[0] as number));
    const shapes = [...r.rows('shapes')].map((x) => [x.rowid, x.values[1]]);
    const shapesIndex = [...r.rows('sqlite_autoindex_shapes_1')].length;
    const readings = [...r.rows('readings')].length;
    const meta = new Map([...r.rows('meta')].map((x) => [x.values[0], x.values[1]]));
    const series = [...r.rows('series')].length;
    return { points, shapes, shapesIndex, readings, meta, series, report: r.report, lost: r.lostPages('points') };
  } finally {
    r.close();
  }
}

describe('recovering a layout-5 store file (one row per point) without SQLite', () => {
  it("an orphan record fits one fgw table only: the new tables' predicates and the others' are disjoint", () => {
    const blob = Buffer.from(
      encodePoint(
        ['float', 'integer'],
        [
          { value: 0.5, quality: 'good' },
          { value: 3, quality: 'bad', error: 'E' },
        ],
      ),
    );
    // a record of each table (rowid tables: the alias NULL) and of each index that is not to be attributed
    const records: Array<[owner: string | undefined, rowid: boolean, values: SqlValue[]]> = [
      ['points', true, [null, 1, T, 3, 2, blob]],
      ['shapes', true, [null, '1,2,3']],
      ['shapes', true, [null, '17']],
      ['sqlite_autoindex_shapes_1', false, ['1,2,3', 3]],
      ['meta', false, ['cursor:readings', 5]],
      ['meta', false, ['count:readings', 150_000]],
      ['readings', true, [null, 1, T, 0.5, null, 0, null, 1, 0]],
      ['readings', true, [null, 1, T, 7, null, 2, 'E', 1]],
      ['series', true, [null, 'data', 'dev0', 't0', 'float', 1]],
      ['devices', true, [null, 'data', 'dev0']],
      ['latest', true, [null, 5, T]],
      ['audit', true, [null, T, 'mes', 'MES', 'read', 'GET /api/latest', null, null, null, 'ok', null]],
      ['dead_letters', true, [null, T, 'mqtt', null, null, 'NOT_JSON', null, '{']],
      ['losses', true, [null, 'dev0', 'store-full', T, T + 1, 5, 0]],
      ['sqlite_autoindex_series_1', false, ['data', 'dev0', 't0', 'float', 1]],
      // points_dev_ts and layout 4's readings_dev_ts: no table's
      [undefined, false, [1, T, 5]],
      [undefined, false, [1, T, 1, 0, 5]],
    ];
    for (const [owner, rowid, values] of records) {
      const fits = Object.entries(FGW_TABLES)
        .filter(([, t]) => t.shape && t.rowid === rowid && t.shape(values))
        .map(([name]) => name);
      expect(fits, JSON.stringify(values)).toEqual(owner ? [owner] : []);
    }
  });

  it('the file spans many pages of points (else the damage below proves little)', () => {
    expect(leaves.length).toBeGreaterThan(100);
    expect(leaves.reduce((a, l) => a + l.ncell, 0)).toBe(POINTS);
  });

  it('a sound file: every point as written, every shape, the meta rows', () => {
    const r = recover(base);
    expect(r.points).toEqual(SOUND.map(asWritten));
    expect(r.shapes).toHaveLength(24);
    expect(r.shapes).toContainEqual([shapeId(2, 7), [21, 22, 23, 24, 25, 26, 27].join(',')]);
    expect(r.shapesIndex).toBe(24);
    expect(r.readings).toBe(0);
    expect(r.series).toBe(40);
    expect(r.meta.get('cursor:readings')).toBe(CURSOR);
    expect(r.meta.get('count:readings')).toBe(readingsOf(SOUND));
    expect(r.report).toMatchObject({ headerOk: true, schemaOk: true, damagedPages: 0, badCells: 0 });
    expect(r.report.tables.points).toEqual({ rows: POINTS, orphanPages: 0 });
  });

  it('a zeroed leaf page of points: every other point, and the lost ones are that page', () => {
    const f = copy('zeroed.db');
    const hit = leaves[Math.floor(leaves.length / 2)]!;
    garbage(f, [hit.pageno], 0);
    const r = recover(f);
    expect(hit.ncell).toBeGreaterThan(0);
    expect(r.points).toHaveLength(POINTS - hit.ncell);
    expect(r.points).toEqual(SOUND.filter((_, k) => k < hit.first || k >= hit.first + hit.ncell).map(asWritten));
    expect(r.report.damagedPages).toBe(1);
    expect(r.lost).toBe(true);
  });

  it('a damaged interior page of points: the leaves below it are found by their shape, every point is read', () => {
    const f = copy('interior.db');
    const { interior } = sqliteOf(base);
    // a page below the root: the tree keeps the rest
    const hit = interior.find((p) => p.path !== '/')!;
    const below = leaves.filter((l) => l.path.startsWith(hit.path)).length;
    expect(below).toBeGreaterThan(0);
    expect(below).toBeLessThan(leaves.length);
    garbage(f, [hit.pageno]);
    const r = recover(f);
    expect(r.points).toEqual(SOUND.map(asWritten));
    expect(r.report.tables.points!.orphanPages).toBe(below);
    expect(r.report.tables.shapes!.orphanPages).toBe(0);
    expect(r.report.damagedPages).toBe(1);
  });

  it('the schema lost (garbage over page 1): points, shapes, their index and meta are recognised by the shape of their rows', () => {
    const f = copy('schema.db');
    const { shapesPages } = sqliteOf(base);
    garbage(f, [1]);
    const r = recover(f);
    expect(r.report).toMatchObject({ headerOk: false, schemaOk: false, pageSize: PAGE });
    expect(r.points).toEqual(SOUND.map(asWritten));
    expect(r.report.tables.points!.orphanPages).toBe(leaves.length);
    expect(r.shapes).toHaveLength(24);
    expect(r.report.tables.shapes!.orphanPages).toBe(shapesPages);
    expect(r.shapesIndex).toBe(24);
    expect(r.series).toBe(40);
    expect(r.meta.get('cursor:readings')).toBe(CURSOR);
    // no points page was taken for a readings page, nor the other way round
    expect(r.readings).toBe(0);
  });

  it('a commit left in the WAL is read: its points and its new shape', () => {
    const wal = walCopy();
    const r = recover(wal);
    expect(r.report.walFrames).toBeGreaterThan(0);
    expect(r.points).toEqual(ALL.map(asWritten));
    expect(r.shapes).toContainEqual([REVERSED, REVERSED_TAGS.map((tag) => seriesId(0, tag)).join(',')]);
  });
});

/** the base file plus a commit of the WAL's points (and their shape), copied while the WAL holds it */
let walFile: string | undefined;
function walCopy(): string {
  if (walFile) return walFile;
  const src = copy('wal-src.db');
  const db = new Database(src);
  db.pragma('wal_autocheckpoint = 0');
  db.transaction(() => {
    db.prepare('INSERT INTO shapes(id, series) VALUES (?, ?)').run(REVERSED, REVERSED_TAGS.map((tag) => seriesId(0, tag)).join(','));
    insertPoints(db, ALL.slice(POINTS));
  })();
  walFile = join(dir.path, 'wal.db');
  copyFileSync(src, walFile);
  copyFileSync(`${src}-wal`, `${walFile}-wal`);
  db.close();
  return walFile;
}

// ---------------------------------------------------------------- salvage

/** MOCK (small, named): the real store behind salvageInto's calls, recording the readings it imports; `die` kills the nth readings import */
function recorder(target: Store, die?: number) {
  const readings: RecoveredReading[] = [];
  let imports = 0;
  const store: SalvageStore = {
    historyAnchor: () => target.historyAnchor(),
    salvageProgress: (f) => target.salvageProgress(f),
    salvaged: (f) => target.salvaged(f),
    recordSalvage: (f, r) => target.recordSalvage(f, r),
    importRecovered: (b: RecoveredBatch) => {
      if ((b.readings?.length ?? 0) > 0 && ++imports === die) throw new Error('killed');
      const r = target.importRecovered(b);
      if (!r.full) readings.push(...(b.readings ?? []));
      return r;
    },
  };
  return { store, readings };
}

const liveStore = (path: string) => openStore({ path, maxSizeBytes: 2 ** 30, retentionMs: 0, limitsIntervalMs: 0, forwarding: true });

describe('fgw store salvage of a layout-5 file', () => {
  it('expands each point into its readings: values, text, quality, error, seq and tie; lost shapes, bad blobs and retention counted', async () => {
    const f = copy('salvage.db');
    // shape 3 (device 0, 7 tags) lost; two points whose values blob is damaged
    const db = new Database(f);
    db.exec(`DELETE FROM shapes WHERE id = 3; UPDATE points SET vals = x'01' WHERE seq IN (${SOUND[100]!.seq}, ${SOUND[101]!.seq})`);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const ls = leavesOf(f);
    const hit = ls[Math.floor(ls.length / 2)]!;
    garbage(f, [hit.pageno], 0);
    const onPage = (k: number) => k >= hit.first && k < hit.first + hit.ncell;
    const readable = SOUND.filter((p) => !onPage(p.k));
    const lostShape = readable.filter((p) => p.shape === 3);
    const bad = readable.filter((p) => p.k === 100 || p.k === 101);
    const cutoffK = 2000;
    const decodable = readable.filter((p) => p.shape !== 3 && p.k !== 100 && p.k !== 101);
    const old = decodable.filter((p) => p.k < cutoffK);
    const imported = decodable.filter((p) => p.k >= cutoffK);
    expect(lostShape.length).toBeGreaterThan(0);
    expect(bad).toHaveLength(2);

    const d = tempDir('fgw-salvage-points-');
    const target = liveStore(d.path);
    try {
      const rec = recorder(target);
      const r = salvageInto(f, rec.store, { retentionMs: now - tsOf(cutoffK), now, storePath: d.path });
      expect(rec.readings).toEqual(expectedReadings(imported));
      expect(r.readings).toMatchObject({
        read: readingsOf(readable),
        imported: readingsOf(imported),
        unknownSeries: readingsOf(lostShape),
        undecodable: readingsOf(bad),
        olderThanRetention: readingsOf(old),
        already: 0,
        notImportedFull: 0,
      });
      expect(r.readings.history).toBe(expectedReadings(imported).filter((x) => x.oldSeq <= CURSOR).length);
      expect(r.expectedReadings).toBe(readingsOf(SOUND));
      // the audit record is at T, older than retention too
      expect(r.audits).toEqual({ read: 1, imported: 0 });
      // some of each kind of exception reached the store
      expect(rec.readings.filter((x) => x.quality === 2 && x.error === 'E_TIMEOUT' && x.value === null).length).toBeGreaterThan(0);
      expect(rec.readings.filter((x) => x.quality === 1).length).toBeGreaterThan(0);
      expect(rec.readings.filter((x) => x.tie === 1).length).toBeGreaterThan(10_000);
      expect(rec.readings.filter((x) => x.kind === 'string' && x.text !== null && x.value === null).length).toBeGreaterThan(0);
      expect(salvageText(r).join('\n')).toContain(`${readingsOf(bad)} readings whose stored values are damaged`);
      // the store holds them
      expect(target.query({ measurement: 'data' })).toHaveLength(readingsOf(imported));
    } finally {
      await target.close();
      d.cleanup();
    }
  });

  it('the WAL commit is salvaged too, its reversed shape mapping each entry to its own tag', async () => {
    const d = tempDir('fgw-salvage-points-wal-');
    const target = liveStore(d.path);
    try {
      const rec = recorder(target);
      const r = salvageInto(walCopy(), rec.store, { retentionMs: 0, now, storePath: d.path });
      expect(r.readings).toMatchObject({ read: readingsOf(ALL), imported: readingsOf(ALL), unknownSeries: 0, undecodable: 0 });
      expect(rec.readings).toEqual(expectedReadings(ALL));
      expect(rec.readings.at(-1)).toMatchObject({ tag: 't5', kind: 'integer', oldSeq: readingsOf(ALL) });
    } finally {
      await target.close();
      d.cleanup();
    }
  });

  it("the shapes table's page lost: its unique index names the points; both lost: every reading is series unknown", async () => {
    const { shapesRoot, shapesIndexRoot, shapesPages } = sqliteOf(base);
    expect(shapesPages).toBe(1);
    const one = copy('shapes.db');
    garbage(one, [shapesRoot]);
    const both = copy('shapes-both.db');
    garbage(both, [shapesRoot, shapesIndexRoot]);
    const d = tempDir('fgw-salvage-points-shapes-');
    const target = liveStore(d.path);
    try {
      const rec = recorder(target);
      const r = salvageInto(one, rec.store, { retentionMs: 0, now, storePath: d.path });
      expect(r.readings).toMatchObject({ read: readingsOf(SOUND), imported: readingsOf(SOUND), unknownSeries: 0 });
      expect(rec.readings).toEqual(expectedReadings(SOUND));
      const rec2 = recorder(target);
      const r2 = salvageInto(both, rec2.store, { retentionMs: 0, now, storePath: d.path });
      expect(r2.readings).toMatchObject({ read: readingsOf(SOUND), imported: 0, unknownSeries: readingsOf(SOUND) });
      expect(rec2.readings).toEqual([]);
    } finally {
      await target.close();
      d.cleanup();
    }
  });

  it('a salvage killed after its first chunk, run again, imports the rest once (progress counts readings, not points)', async () => {
    const f = copy('resume.db');
    const d = tempDir('fgw-salvage-points-resume-');
    const target = liveStore(d.path);
    try {
      const first = recorder(target, 2);
      expect(() => salvageInto(f, first.store, { retentionMs: 0, now, storePath: d.path })).toThrow('killed');
      expect(first.readings).toHaveLength(10_000);
      const again = recorder(target);
      const r = salvageInto(f, again.store, { retentionMs: 0, now, storePath: d.path });
      expect(r.readings).toMatchObject({ read: readingsOf(SOUND), already: 10_000, imported: readingsOf(SOUND) - 10_000 });
      expect([...first.readings, ...again.readings]).toEqual(expectedReadings(SOUND));
    } finally {
      await target.close();
      d.cleanup();
    }
  });
});
