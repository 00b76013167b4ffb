/**
 * Opening the store file: pragmas, the bounded start-up check, the schema and its migrations, damage.
 *
 * Layout (schema version 5; MIGRATIONS upgrades older stores in place)
 * - `devices(id, measurement, device)` and `series(id, measurement, device, tag, kind, dev)`: one
 *   row per device and per time series; ids cached in Maps. The kind is part of the series key, so
 *   a tag whose configured type changes starts a new series and old rows keep the kind they were
 *   written with.
 * - `points(seq, dev, ts, shape, n, vals)`, index (dev, ts): one row per point, the readings of one
 *   write that share device and ts (points.ts). `shapes(id, series)` lists a point's series in
 *   order, once per distinct list; `vals` packs the values by the series' kinds, with quality,
 *   error and tie only for the entries that are not plain good (point-codec.ts). Reading i of a
 *   point has seq `seq + i`, so readings keep one seq each: cursors, backlogs and drop counts are
 *   counted in readings, and a cursor may stop inside a point. A 100-register poll is one row of
 *   about 2-3 bytes a value instead of 100 rows of about 56 bytes (row and index entry) each. The
 *   verifier's counts read the (dev, ts) index and each point's exceptions, never its values.
 *   seq is assigned by the store from a high-water mark kept in
 *   memory and in `meta` (seq:readings), so it keeps growing even after every row was dropped and
 *   the forwarder's cursor can never point past new rows.
 *   A reading's `tie` (0 unless its series already has a reading at that ms) makes each reading its
 *   own InfluxDB point; it is assigned here, once, by ingest/tie-break.ts, so a replay writes the
 *   same timestamps again.
 *   Another connection that writes readings (`fgw store salvage` beside a running gateway) is
 *   noticed by PRAGMA data_version at the start of each commit (inside its write lock): the
 *   high-water mark is re-read and the tie cache forgotten, so the next reading of each series
 *   asks the table for its ties and none repeats one the other connection gave. Readers load the
 *   series and shapes another connection added before they decode points (CommitPart.refresh).
 * - `newest_points(dev, shape, seq, ts)`: the newest point of each device and shape, upserted once
 *   per point (layout 4 kept each series' newest reading in `latest`, upserted once per reading:
 *   60 % of a commit's CPU with points). A series' newest reading is in the newest point of one of
 *   the shapes that have it, since every point of a shape has all its series (latest() reads it).
 *   Should the size limit drop a shape's newest point while late points with older timestamps but
 *   higher seqs remain, its series are left out of latest() until they report again.
 * - `audit`, `dead_letters`, `meta(key, value)`: cursors, the row counter, the drop counters.
 * - `losses`: the loss ledger (ingest/losses.ts), schema 4.
 *
 * Damage (ingest/damage.ts): with onDamage 'move-aside' (the gateway) a file found damaged at open,
 * by the background check or by a failing statement is renamed aside and a fresh store takes its
 * place in the same object: sequence numbers and cursors continue, so do the ties of each series'
 * newest ms (carried by series name, as the fresh file numbers its series anew: carriedTies), the
 * commit in flight goes to the fresh file, and stats().damaged lists the file until
 * `fgw store salvage` has read it.
 */
import Database from 'better-sqlite3';
import { mkdirSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import type { Logger } from 'pino';
import { ErrorCodes, GatewayError, errorText } from '../../config/errors.js';
import { checkInBackground, damagedFiles, headerProblem, isCorruption, moveAside } from '../damage.js';
import { fsStats, planDisk, releaseReserve, shmBytesFor } from '../disk.js';
import { LOSSES_TABLE, LossLedger } from '../losses.js';
import { newer } from '../tie-break.js';
import type { DamagedFile, SalvageProgress } from '../types.js';
import type { FieldKind } from '../../adapters/types.js';
import { Shapes, entryOf, pointWriter, preparePointWrites } from './points.js';
import { MIN_BYTES_PER_READING, restore, seriesKey } from './rows.js';
import type { StoreState, Parts } from './state.js';

/**
 * The store's schema version (PRAGMA user_version). Each upgrade of the layout appends a step to
 * MIGRATIONS; opening runs the missing steps forward in one transaction, so an upgraded gateway
 * keeps its buffered backlog and history. A store written by a newer gateway is refused rather
 * than misread.
 */
export const STORE_SCHEMA_VERSION = 5;
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  // 0 → 1: the first layout
  (db) => db.exec(SCHEMA),
  // 1 → 2: readings indexed by (device, ts) instead of (series, ts). The readings of one poll sit
  // side by side in that index, so a commit writes one or two index pages per device instead of
  // one per series (8-12x faster inserts measured with 100 devices x 100 tags); the newest reading
  // of each series moves to the `latest` table, kept in the same transactions.
  (db) =>
    db.exec(`
CREATE TABLE devices(id INTEGER PRIMARY KEY, measurement TEXT NOT NULL, device TEXT NOT NULL, UNIQUE(measurement, device));
INSERT INTO devices(measurement, device) SELECT DISTINCT measurement, device FROM series ORDER BY measurement, device;
ALTER TABLE series ADD COLUMN dev INTEGER NOT NULL DEFAULT 0;
UPDATE series SET dev = (SELECT d.id FROM devices d WHERE d.measurement = series.measurement AND d.device = series.device);
ALTER TABLE readings ADD COLUMN dev INTEGER NOT NULL DEFAULT 0;
UPDATE readings SET dev = (SELECT s.dev FROM series s WHERE s.id = readings.series);
CREATE TABLE latest(series INTEGER PRIMARY KEY, seq INTEGER NOT NULL, ts INTEGER NOT NULL);
INSERT INTO latest(series, seq, ts)
  SELECT series, seq, ts FROM (SELECT series, seq, ts, row_number() OVER (PARTITION BY series ORDER BY ts DESC, seq DESC) AS rn FROM readings) WHERE rn = 1;
DROP INDEX readings_series_ts;
CREATE INDEX readings_dev_ts ON readings(dev, ts, series, quality);
`),
  // 2 → 3: the per-series tie-break of readings sharing a millisecond (ingest/tie-break.ts). Rows
  // already forwarded keep tie 0, which is the timestamp they were written with (ms = ns tie 0);
  // the unforwarded rows that share (series, ts) with an earlier row get their rank, so the backlog
  // lands as separate points.
  (db) =>
    db.exec(`
ALTER TABLE readings ADD COLUMN tie INTEGER NOT NULL DEFAULT 0;
UPDATE readings SET tie = ranked.rn FROM (
  SELECT x.seq AS seq, row_number() OVER (PARTITION BY x.series, x.ts ORDER BY x.seq) - 1 AS rn
  FROM readings x JOIN (SELECT DISTINCT dev, ts FROM readings
    WHERE seq > coalesce((SELECT value FROM meta WHERE key = 'cursor:readings'), 0)) u ON x.dev = u.dev AND x.ts = u.ts
) ranked WHERE readings.seq = ranked.seq AND ranked.rn > 0
  AND readings.seq > coalesce((SELECT value FROM meta WHERE key = 'cursor:readings'), 0);
`),
  // 3 → 4: the loss ledger (ingest/losses.ts). IF NOT EXISTS: a development build kept it at
  // schema 2 and created it at open.
  (db) => db.exec(LOSSES_TABLE),
  // 4 → 5: one row per point instead of one per reading (points.ts), every reading keeping its seq
  (db) => readingsToPoints(db),
];

/**
 * The readings of a schema-4 store into points: consecutive seqs of one device and ts, each series
 * once, become one point (what one write gave; the readings of a poll were written together). Seqs,
 * ties, qualities and errors are kept, so the cursors, the latest table and InfluxDB's timestamps
 * stay as they were.
 */
function readingsToPoints(db: Database.Database): void {
  db.exec(POINTS_SCHEMA);
  const series = db.prepare('SELECT id, kind, dev FROM series').raw().all() as Array<[number, FieldKind, number]>;
  const kinds = new Map(series.map(([id, kind]) => [id, kind]));
  const devs = new Map(series.map(([id, , dev]) => [id, dev]));
  const shapes = new Shapes(
    (sid) => kinds.get(sid),
    (sid) => devs.get(sid),
  );
  const points = pointWriter(db, shapes, preparePointWrites(db));
  const chunk = db.prepare('SELECT seq, series, dev, ts, value, text, quality, error, tie FROM readings WHERE seq > ? ORDER BY seq LIMIT 10000').raw();
  // history salvaged from a damaged file sits below zero
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const rows = chunk.all(after) as Array<[number, number, number, number, number | null, string | null, number, string | null, number]>;
    if (rows.length === 0) break;
    for (const [seq, sid, dev, ts, value, text, quality, error, tie] of rows) {
      const kind = kinds.get(sid) ?? 'float';
      points.add(seq, dev, ts, sid, entryOf(kind, restore(kind, value, text), quality, error, tie));
    }
    after = rows[rows.length - 1]![0];
  }
  points.end();
  db.exec('DROP TABLE readings');
}

const POINTS_SCHEMA = `
DROP TABLE IF EXISTS latest;
CREATE TABLE newest_points(dev INTEGER NOT NULL, shape INTEGER NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY(dev, shape)) WITHOUT ROWID;
CREATE TABLE shapes(id INTEGER PRIMARY KEY, series TEXT NOT NULL UNIQUE);
CREATE TABLE points(seq INTEGER PRIMARY KEY, dev INTEGER NOT NULL, ts INTEGER NOT NULL, shape INTEGER NOT NULL, n INTEGER NOT NULL, vals BLOB NOT NULL);
CREATE INDEX points_dev_ts ON points(dev, ts);
`;

function migrate(db: Database.Database, path: string, log?: Logger): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > STORE_SCHEMA_VERSION) {
    throw new GatewayError(
      ErrorCodes.STORE,
      `the store in ${path} has schema version ${current}, written by a newer fgw (this one reads up to ${STORE_SCHEMA_VERSION}): upgrade fgw, or point storage.path elsewhere`,
    );
  }
  if (current === STORE_SCHEMA_VERSION) return;
  const t0 = performance.now();
  // a store with history (not a new file) may take a while: say so before, and how long after
  if (current > 0) log?.warn({ path, from: current, to: STORE_SCHEMA_VERSION }, 'upgrading the store layout in place (about 1 s per million readings)');
  db.transaction(() => {
    for (let v = current; v < STORE_SCHEMA_VERSION; v++) MIGRATIONS[v]!(db);
    db.pragma(`user_version = ${STORE_SCHEMA_VERSION}`);
  })();
  if (current > 0) log?.info({ path, ms: Math.round(performance.now() - t0) }, 'store layout upgraded');
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS series(
  id INTEGER PRIMARY KEY, measurement TEXT NOT NULL, device TEXT NOT NULL, tag TEXT NOT NULL, kind TEXT NOT NULL,
  UNIQUE(measurement, device, tag, kind));
CREATE TABLE IF NOT EXISTS readings(
  seq INTEGER PRIMARY KEY, series INTEGER NOT NULL, ts INTEGER NOT NULL,
  value NUMERIC, text TEXT, quality INTEGER NOT NULL, error TEXT);
CREATE INDEX IF NOT EXISTS readings_series_ts ON readings(series, ts, quality);
CREATE TABLE IF NOT EXISTS audit(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, actor TEXT NOT NULL, system TEXT NOT NULL,
  action TEXT NOT NULL, route TEXT NOT NULL, device TEXT, tag TEXT, value TEXT, result TEXT NOT NULL, detail TEXT);
CREATE INDEX IF NOT EXISTS audit_ts ON audit(ts);
CREATE TABLE IF NOT EXISTS dead_letters(
  id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, source TEXT NOT NULL, device TEXT, topic TEXT,
  reason TEXT NOT NULL, detail TEXT, payload TEXT);
CREATE INDEX IF NOT EXISTS dead_letters_ts ON dead_letters(ts);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(key, value) VALUES ('cursor:readings', 0), ('cursor:audit', 0), ('dropped', 0), ('droppedUnforwarded', 0);
`;

/**
 * Counters kept in meta, with the value a store gets when it first opens with this fgw. Junk rows
 * are counted by their drops only (received = kept + dropped), so inserting one writes no counter:
 * a flood of them costs what it did before.
 */
const META_COUNTERS: ReadonlyArray<[key: string, init: string]> = [
  ['count:readings', '(SELECT coalesce(sum(n), 0) FROM points)'],
  ['deadLetters:dropped', '0'],
  ['audit:dropped', '0'],
  ['audit:droppedUnforwarded', '0'],
];

/** what SQLite says when it cannot grow a file: a commit (SQLITE_FULL), or the wal-index at open */
const isNoSpace = (e: unknown) =>
  ['SQLITE_FULL', 'SQLITE_IOERR_SHMSIZE', 'SQLITE_IOERR_WRITE', 'SQLITE_IOERR_TRUNCATE'].includes(String((e as { code?: unknown } | null)?.code));

function mtimeOf(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

export class OpenPart {
  /** damage found before the fresh file's meta could record it */
  private pendingDamage: DamagedFile[] = [];

  constructor(
    private readonly s: StoreState,
    private readonly p: Parts,
  ) {}

  /** Creates the directory and opens the file in it. */
  open(): void {
    try {
      mkdirSync(this.s.dir, { recursive: true });
    } catch (e) {
      throw new GatewayError(ErrorCodes.STORE, `cannot open the store in ${this.s.dir}: ${errorText(e)}`, { cause: e });
    }
    this.openFile();
  }

  /** Opens `file`; a damaged one is moved aside (onDamage 'move-aside') and a fresh one opened. */
  openFile(attempt = 0): void {
    const problem = headerProblem(this.s.file);
    if (problem !== undefined) {
      this.damaged(problem);
      return this.openFile(attempt + 1);
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(this.s.file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma(`busy_timeout = ${this.s.busyTimeoutMs}`);
      db.pragma('cache_size = -32768');
      this.boundedCheck(db);
      migrate(db, this.s.dir, this.s.log);
      // counters live in meta, updated in the same transactions as the rows; initialised once
      // (checked first: the initial value of count:readings counts every row, which takes long on 2 GB)
      const has = db.prepare('SELECT 1 FROM meta WHERE key = ?').pluck();
      for (const [key, init] of META_COUNTERS) if (has.get(key) === undefined) db.prepare(`INSERT INTO meta(key, value) VALUES (?, ${init})`).run(key);
      this.s.db = db;
      this.setUp();
    } catch (e) {
      try {
        db?.close();
      } catch {
        /* closing a file that failed to open */
      }
      // a fresh file that fails the same way is not the file's fault: say so instead of looping
      if (isCorruption(e) && attempt < 2) {
        this.damaged(errorText(e));
        return this.openFile(attempt + 1);
      }
      // no space even to open (the wal-index): the reserve is there for this
      if (isNoSpace(e)) {
        if (attempt < 2 && releaseReserve(this.s.reservePath) > 0) {
          this.s.log?.warn({ err: errorText(e) }, 'disk full: released the store reserve to open the store');
          return this.openFile(attempt + 1);
        }
        throw new GatewayError(ErrorCodes.STORE_FULL, `no space left on the disk for the store in ${this.s.dir} (${errorText(e)}): free some space`, {
          cause: e,
        });
      }
      if (e instanceof GatewayError) throw e;
      throw new GatewayError(ErrorCodes.STORE, `cannot open the store in ${this.s.dir}: ${errorText(e)}`, { cause: e });
    }
  }

  /**
   * The start-up check, bounded whatever the store's size (a full quick_check of 2 GB takes 8-40 s;
   * it runs afterwards in a worker): SQLite's schema, quick_check of every table but readings (small
   * ones), the first and last readings by seq.
   */
  private boundedCheck(db: Database.Database): void {
    const tables = db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name <> 'sqlite_sequence'`).pluck().all() as string[];
    for (const t of tables) {
      if (t === 'points' || t === 'readings') continue;
      const r = db.pragma(`quick_check("${t.replace(/"/g, '""')}")`, { simple: true });
      if (r !== 'ok') throw Object.assign(new Error(`quick_check(${t}): ${String(r)}`), { code: 'SQLITE_CORRUPT' });
    }
    for (const t of ['points', 'readings'].filter((t) => tables.includes(t))) {
      db.prepare(`SELECT count(*) FROM (SELECT seq FROM ${t} ORDER BY seq LIMIT 1000)`).get();
      db.prepare(`SELECT count(*) FROM (SELECT * FROM ${t} ORDER BY seq DESC LIMIT 1000)`).get();
    }
  }

  /** Everything that depends on the open connection: the disk plan, statements, caches, seq. */
  private setUp(): void {
    const db = this.s.db;
    this.s.pageSize = Number(db.pragma('page_size', { simple: true }));
    this.s.plan = planDisk(this.s.maxSizeBytes, fsStats(this.s.dir).totalBytes);
    // the WAL's budget: checkpoint at half of it, truncate back to it after a checkpoint, and keep a
    // single commit well inside it
    db.pragma(`journal_size_limit = ${this.s.plan.walBytes}`);
    this.s.walCheckpointPages = Math.max(8, Math.floor(this.s.plan.walBytes / 2 / this.s.pageSize));
    db.pragma(`wal_autocheckpoint = ${this.s.walCheckpointPages}`);
    this.s.commitRows = Math.min(this.s.commitRows, Math.max(1000, Math.floor(this.s.plan.walBytes / 256)));
    // a hard stop at maxSize for the database itself (the WAL and the rest are within it)
    db.pragma(
      `max_page_count = ${Math.max(16, Math.floor((this.s.maxSizeBytes - this.s.plan.walBytes - shmBytesFor(this.s.plan.walBytes, this.s.pageSize)) / this.s.pageSize))}`,
    );
    this.s.st = this.s.prepare();
    this.s.ledger = new LossLedger(db);
    this.s.insertTx = this.p.commit.makeInsertTx();
    this.p.commit.loadCaches();
    this.loadSeq();
    this.s.cursors.readings = Math.max(this.s.cursors.readings, Number(this.s.st.getMeta.get('cursor:readings') ?? 0));
    this.s.cursors.audit = Math.max(this.s.cursors.audit, Number(this.s.st.getMeta.get('cursor:audit') ?? 0));
    this.p.forward.countNamedDrops();
    this.estimateSizes();
    this.s.lastAuditSeq = Math.max(
      this.s.lastAuditSeq,
      Number(db.prepare("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'audit'").pluck().get() ?? 0),
    );
    this.s.dataVersion = Number(this.s.st.dataVersion.get());
    this.p.audit.loadJunkBytes(false);
    this.s.leftoversClosed = false;
  }

  /**
   * What the readings of this file take, from the file itself: bytes per reading (sizes the room a
   * commit asks for, before commits have measured it; a store reopened on a full disk must not ask
   * for more than its readings need) and readings per point (sizes the limits' chunks).
   */
  private estimateSizes(): void {
    const db = this.s.db;
    const recent = db.prepare('SELECT count(*) AS points, coalesce(sum(n), 0) AS readings FROM (SELECT n FROM points ORDER BY seq DESC LIMIT 1000)').get() as {
      points: number;
      readings: number;
    };
    if (recent.points > 0) this.s.perPoint = recent.readings / recent.points;
    const readings = this.s.meta('count:readings');
    if (readings < 10_000) return;
    const used = (Number(this.s.st.pageCount.get()) - Number(this.s.st.freelist.get())) * this.s.pageSize;
    this.s.bytesPerRow = Math.max(MIN_BYTES_PER_READING, Math.min(1000, used / readings));
  }

  /** the high-water mark of readings' seq (also after another connection wrote some) */
  loadSeq(): void {
    this.s.nextSeq = Math.max(
      this.s.nextSeq,
      1 +
        Math.max(
          Number(this.s.db.prepare('SELECT coalesce((SELECT seq + n - 1 FROM points ORDER BY seq DESC LIMIT 1), 0)').pluck().get()),
          Number(this.s.st.getMeta.get('seq:readings') ?? 0),
          Number(this.s.st.getMeta.get('cursor:readings') ?? 0),
          // stores created before seq was assigned here used AUTOINCREMENT
          Number(this.s.db.prepare("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'readings'").pluck().get() ?? 0),
        ),
    );
  }

  /**
   * The file is damaged: with onDamage 'move-aside' it is renamed beside (never deleted) and the
   * alarm raised; else GW_ERR_STORE says what to do. The caller opens the fresh file.
   */
  private damaged(error: string): void {
    if (this.s.onDamage !== 'move-aside') {
      throw new GatewayError(
        ErrorCodes.STORE,
        `the store ${this.s.file} is damaged (${error}): \`fgw run\` moves it aside and starts a fresh one, and \`fgw store salvage <moved file> --config <gateway.yaml>\` recovers what can be read from it`,
      );
    }
    const at = this.s.clock.now();
    const moved = moveAside(this.s.file, at);
    releaseReserve(this.s.reservePath);
    this.pendingDamage.push({ file: moved, at, error });
    this.s.log?.error(
      { alarm: 'STORE_DAMAGED', file: moved, err: error },
      'the store file is damaged: moved aside, collection goes on into a fresh store (`fgw store salvage` recovers what it can from the moved file)',
    );
  }

  private recordDamage(): void {
    for (const d of this.pendingDamage.splice(0)) {
      this.s.system(() => this.s.st.setMeta.run(`damaged:${basename(d.file)}`, JSON.stringify({ at: d.at, error: d.error })));
    }
  }

  /**
   * Replaces the open file by a fresh one (the background check or a statement found damage): the
   * queued commits, seq and cursors carry over, so the forwarder and the writers never notice.
   */
  replaceDamaged(error: string): void {
    if (this.s.closed) return;
    this.carryTies();
    this.s.checker?.stop();
    this.s.checker = undefined;
    try {
      this.s.db.close();
    } catch {
      /* a damaged file may not close cleanly */
    }
    this.damaged(error);
    this.openFile();
    // the fresh file continues where the damaged one was: readings' seq, the cursors and audit's seq
    this.s.db.transaction(() => {
      this.s.st.setMeta.run('seq:readings', this.s.nextSeq - 1);
      this.s.st.setMeta.run('cursor:readings', this.s.cursors.readings);
      this.s.st.setMeta.run('cursor:audit', this.s.cursors.audit);
      for (const [name, seq] of this.s.named) {
        this.s.st.setMeta.run(`cursor:${name}`, seq);
        this.s.db.prepare('INSERT OR IGNORE INTO meta(key, value) VALUES (?, 0)').run(`dropped:${name}`);
      }
      if (this.s.lastAuditSeq > 0) {
        this.s.db.prepare("DELETE FROM sqlite_sequence WHERE name = 'audit'").run();
        this.s.db.prepare("INSERT INTO sqlite_sequence(name, seq) VALUES ('audit', ?)").run(this.s.lastAuditSeq);
      }
    })();
    this.p.forward.countNamedDrops();
    this.recordDamage();
    this.startBackgroundCheck();
  }

  /** the tie cache by series name, before the file it was built on goes (see carriedTies) */
  private carryTies(): void {
    for (const [id, state] of this.s.ties.snapshot()) {
      const s = this.s.seriesById.get(id);
      if (s === undefined) continue;
      const k = seriesKey(s.measurement, s.device, s.tag, s.kind);
      this.s.carriedTies.set(k, newer(this.s.carriedTies.get(k), state));
    }
  }

  startBackgroundCheck(): void {
    this.recordDamage();
    if (!this.s.backgroundCheck || this.s.closed) return;
    const db = this.s.db;
    this.s.checker = checkInBackground(this.s.file, (r) => {
      this.s.checker = undefined;
      if (this.s.closed || this.s.db !== db) return;
      if (r.ok) {
        this.s.log?.debug({ ms: r.ms }, 'store integrity check: ok');
        return;
      }
      // a check that could not run (busy, the file moved meanwhile) says nothing about the file
      if (r.code !== undefined && !isCorruption({ code: r.code })) {
        this.s.log?.warn({ err: r.problems[0] }, 'store integrity check could not run');
        return;
      }
      this.replaceDamaged(`quick_check: ${r.problems.slice(0, 3).join('; ')}`);
    });
  }

  /**
   * Runs a read; when it meets damage (SQLITE_CORRUPT) the file is replaced right after (onDamage
   * 'move-aside') and the error goes to the caller, whose next call reads the fresh file.
   */
  guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (isCorruption(e) && this.s.onDamage === 'move-aside' && !this.s.closed) {
        const db = this.s.db;
        setImmediate(() => {
          if (this.s.db === db && !this.s.closed) this.replaceDamaged(errorText(e));
        });
      }
      throw e;
    }
  }

  /** what the live store noted about a damaged file of this name (meta `damaged:<name>`) */
  damagedRecord(file: string): { at?: number; error?: string; salvaged?: DamagedFile['salvaged']; progress?: SalvageProgress } {
    try {
      return JSON.parse(String(this.s.st.getMeta.get(`damaged:${basename(file)}`) ?? '{}')) as ReturnType<OpenPart['damagedRecord']>;
    } catch {
      return {};
    }
  }

  /** the damaged files beside this store, with what this store recorded about each */
  damagedList(): DamagedFile[] {
    return damagedFiles(this.s.file).map((file) => {
      const rec = this.damagedRecord(file);
      const d: DamagedFile = { file, at: rec.at ?? mtimeOf(file), error: rec.error ?? 'found damaged' };
      if (rec.salvaged) d.salvaged = rec.salvaged;
      return d;
    });
  }
}
