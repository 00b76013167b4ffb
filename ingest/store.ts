/**
 * The embedded durable store on SQLite (better-sqlite3, WAL mode, synchronous=NORMAL): the
 * store-and-forward buffer and the local history at once (ingest/types.ts is the contract).
 *
 * Layout (schema version 4; MIGRATIONS upgrades older stores in place)
 * - `devices(id, measurement, device)` and `series(id, measurement, device, tag, kind, dev)`: one
 *   row per device and per time series; ids cached in Maps. The kind is part of the series key, so
 *   a tag whose configured type changes starts a new series and old rows keep the kind they were
 *   written with.
 * - `readings(seq, series, ts, value NUMERIC, text, quality, error, dev, tie)`, index
 *   (dev, ts, series, quality). The readings of one poll share (dev, ts), so they sit side by side in
 *   the index and a commit dirties one or two index pages per device, not one per series: with 100
 *   devices x 100 tags that made inserts 8-12x faster than the first layout's (series, ts) index.
 *   The index covers slotCounts/tagsSeen/heartbeatSlots/lastGoodTs, which the verifier runs per
 *   device over 30-day windows, so they never touch the table rows. Numbers and booleans (0/1)
 *   go to `value` (NUMERIC affinity stores 20.0 as a 1-byte integer), strings to `text`. quality:
 *   0 good, 1 uncertain, 2 bad. seq is assigned by the store from a high-water mark kept in
 *   memory and in `meta` (seq:readings), so it keeps growing even after every row was dropped and
 *   the forwarder's cursor can never point past new rows. (SQLite's AUTOINCREMENT does the same
 *   but updates sqlite_sequence on every insert: about a third of the insert cost, measured.)
 *   `tie` (0 unless the series already has a reading at that ms) makes each reading its own
 *   InfluxDB point; it is assigned here, once, by ingest/tie-break.ts, so a replay writes the same
 *   timestamps again.
 *   Another connection that writes readings (`fgw store salvage` beside a running gateway) is
 *   noticed by PRAGMA data_version at the start of each commit (inside its write lock): the
 *   high-water mark is re-read and the tie cache forgotten, so the next reading of each series
 *   asks the table for its ties and none repeats one the other connection gave.
 * - `latest(series, seq, ts)`: each series' newest reading, upserted once per series per commit
 *   (latest() reads it). Should the size limit drop a series' newest row while late rows with older
 *   timestamps but higher seqs remain, that series is left out of latest() until it reports again.
 * - `audit`, `dead_letters`, `meta(key, value)`: cursors, the row counter, the drop counters.
 * - `losses`: the loss ledger (ingest/losses.ts), schema 4.
 *
 * Writes are group-committed: write() queues and one transaction commits everything queued on the
 * next turn of the event loop, or a little later under load (scheduleFlush), or at once past
 * `commitRows`; the promises resolve after COMMIT.
 * With WAL + synchronous=NORMAL a committed row survives a process crash (SIGKILL); a power cut may
 * lose the last few hundred ms, which is SQLite's documented trade-off for this mode.
 *
 * Room (ingest/disk.ts has the arithmetic). maxSize bounds everything the store puts on disk: the
 * database, the WAL (its own budget, checkpointed at half of it and truncated back to it), the
 * wal-index and a reserve. Before each commit the store computes the room left under maxSize and
 * on the filesystem, both keeping the reserve; when the commit would not fit it first drops the
 * oldest readings InfluxDB already has, then, only against maxSize, the oldest unforwarded ones
 * (counted in the loss ledger); when that is not enough, or the disk is what is full, the commit is
 * refused: its readings are counted per device in the ledger, the writers get GW_ERR_STORE_FULL,
 * and the store is "full" (one log line when it starts and one when it ends, with counts). While
 * full it takes readings again only once there is room for the commit plus the reserve, so it does
 * not flap. The reserve is what cursors, counters, the ledger and the alarm are written into: the
 * forwarder can always save its cursor, and every cursor move lets the next commit drop what was
 * forwarded. Should the disk fill under the store anyway (another program), the first SQLITE_FULL
 * deletes the reserve file, which gives those writes their room back.
 * Dead letters and audit records each have their own share of the capacity (deadLetterShare,
 * auditShare): past it their own oldest are dropped (audits: forwarded ones first, then
 * unforwarded refusals, then the rest) and counted; they never push out readings.
 *
 * Limits: retention deletes rows older than `retentionMs`, walking the table in seq order (each page
 * touched once) and then, per device through the index, the late rows with old timestamps; a
 * store over maxSize (maxSize lowered) drops its oldest readings in chunks until it fits. We do not
 * vacuum: freed pages go to SQLite's freelist and are reused by new rows, so the file stays at its
 * high-water mark instead of shrinking and growing again. Every dropped reading is counted
 * (`dropped`, and `droppedUnforwarded` for those InfluxDB never got, which also go to the loss
 * ledger); drops are logged once per limits pass with their counts. The timer's pass (and the first
 * one, right after opening) runs one chunk per turn of the event loop; enforceLimits() runs them
 * all at once. limitsIntervalMs = 0 turns the timer off.
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
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import type { DeadLetter, FieldKind, Quality, Reading } from '../adapters/types.js';
import { systemClock, type Clock, type TimerHandle } from '../config/clock.js';
import { ErrorCodes, GatewayError, errorText } from '../config/errors.js';
import { checkInBackground, damagedFiles, headerProblem, isCorruption, moveAside } from './damage.js';
import { fileSize, fsStats, planDisk, releaseReserve, roomFor, shmBytesFor, writeReserve, type DiskPlan, type Room } from './disk.js';
import { LOSSES_TABLE, LossLedger, addToBatch, queryLosses, type LossBatch, type LossEpisode, type LossReason } from './losses.js';
import { TIE_LIMIT, TIE_OVERFLOW, TieBreaker, newer, type TieState } from './tie-break.js';
import type {
  AuditRecord,
  DamagedFile,
  ImportResult,
  Measurement,
  ReadingQuery,
  RecoveredBatch,
  SalvageProgress,
  SlotCount,
  Store,
  StoreFull,
  StoreStats,
  StoredAudit,
  StoredDeadLetter,
  StoredReading,
  WriteOptions,
} from './types.js';

export interface OpenStoreOptions {
  /** directory; the database is `<path>/store.db` */
  path: string;
  maxSizeBytes: number;
  retentionMs: number;
  clock?: Clock;
  log?: Logger;
  /** how often retention and maxSize run (default 60 s; 0 disables the timer) */
  limitsIntervalMs?: number;
  /** a group commit waits at most this long (default 0: next turn of the event loop) */
  commitIntervalMs?: number;
  /** commit at once when this many rows are queued (default 20000) */
  commitRows?: number;
  /** how long a write waits for another connection's lock before failing (default 5000) */
  busyTimeoutMs?: number;
  /**
   * whether a forwarder drains this store; stats().backlog is 0 without one (the contract). It also
   * turns on by itself when a cursor is read or set (the Forwarder does so when it starts).
   */
  forwarding?: boolean;
  /** share of the capacity dead letters may take (default 0.05) */
  deadLetterShare?: number;
  /** share of the capacity audit records may take (default 0.05) */
  auditShare?: number;
  /**
   * a damaged file: 'move-aside' (the gateway) renames it beside, opens a fresh store and raises the
   * alarm; 'refuse' (default: tools) throws GW_ERR_STORE naming the file and what to do
   */
  onDamage?: 'move-aside' | 'refuse';
  /** run the full quick_check in a worker thread after opening (default: with onDamage 'move-aside') */
  backgroundCheck?: boolean;
}

export const STORE_FILE = 'store.db';
export const RESERVE_SUFFIX = '-reserve';
export const DEFAULT_DEAD_LETTER_SHARE = 0.05;
export const DEFAULT_AUDIT_SHARE = 0.05;

/**
 * The store's schema version (PRAGMA user_version). Each upgrade of the layout appends a step to
 * MIGRATIONS; opening runs the missing steps forward in one transaction, so an upgraded gateway
 * keeps its buffered backlog and history. A store written by a newer gateway is refused rather
 * than misread.
 */
export const STORE_SCHEMA_VERSION = 4;
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
];

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
  if (current > 0) log?.warn({ path, from: current, to: STORE_SCHEMA_VERSION }, 'upgrading the store layout in place (about 5 s per 4 million readings)');
  db.transaction(() => {
    for (let v = current; v < STORE_SCHEMA_VERSION; v++) MIGRATIONS[v]!(db);
    db.pragma(`user_version = ${STORE_SCHEMA_VERSION}`);
  })();
  if (current > 0) log?.info({ path, ms: Math.round(performance.now() - t0) }, 'store layout upgraded');
}
import { DEAD_PAYLOAD_MAX as PAYLOAD_MAX } from '../adapters/types.js'; // the one cap adapters cut to
const QUALITY_CODE: Record<Quality, number> = { good: 0, uncertain: 1, bad: 2 };
const QUALITY_NAME: readonly Quality[] = ['good', 'uncertain', 'bad'];
/** quality codes below this count as good: 2 (good and uncertain, the default) or 1 (good only) */
const goodBelow = (uncertainIsGood: boolean | undefined): number => (uncertainIsGood === false ? QUALITY_CODE.uncertain : QUALITY_CODE.bad);
const DELETE_CHUNK = 20_000;
/** commits smaller than this are not paced: a writer that awaits each small write keeps its latency */
const PACE_FROM_ROWS = 2000;
/** at most this many readings are dropped to make room for one commit (the rest at the next) */
const MAKE_ROOM_MAX_ROWS = 100_000;
/** a junk row's bytes on disk besides its text (row header, rowid, index entry) */
const JUNK_ROW_OVERHEAD = 64;
/** how long the room computed for dead letters and audits is reused */
const JUNK_ROOM_TTL_MS = 250;
const MIN_RING_QUIET_MS = 10_000;

interface SeriesInfo {
  measurement: Measurement;
  device: string;
  tag: string;
  kind: FieldKind;
  /** the id of (measurement, device) in the devices table */
  dev: number;
}

type Row = [seq: number, series: number, ts: number, value: number | null, text: string | null, quality: number, error: string | null, tie: number];
type Batch = { measurement: Measurement; readings: readonly Reading[]; retried: boolean };
type Waiter = { resolve: () => void; reject: (e: unknown) => void };

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

/** bytes a junk row's text takes, the same in SQL (for rows already stored) as in byteSize() */
const DEAD_LETTER_BYTES = `(${JUNK_ROW_OVERHEAD} + length(CAST(source AS BLOB)) + coalesce(length(CAST(device AS BLOB)), 0) + coalesce(length(CAST(topic AS BLOB)), 0) + length(CAST(reason AS BLOB)) + coalesce(length(CAST(detail AS BLOB)), 0) + coalesce(length(CAST(payload AS BLOB)), 0))`;
const AUDIT_BYTES = `(${JUNK_ROW_OVERHEAD} + length(CAST(actor AS BLOB)) + length(CAST(system AS BLOB)) + length(CAST(action AS BLOB)) + length(CAST(route AS BLOB)) + coalesce(length(CAST(device AS BLOB)), 0) + coalesce(length(CAST(tag AS BLOB)), 0) + coalesce(length(CAST(value AS BLOB)), 0) + length(CAST(result AS BLOB)) + coalesce(length(CAST(detail AS BLOB)), 0))`;

function byteSize(...texts: Array<string | null | undefined>): number {
  let n = JUNK_ROW_OVERHEAD;
  for (const t of texts) if (typeof t === 'string') n += Buffer.byteLength(t);
  return n;
}

/**
 * Counters kept in meta, with the value a store gets when it first opens with this fgw. Junk rows
 * are counted by their drops only (received = kept + dropped), so inserting one writes no counter:
 * a flood of them costs what it did before.
 */
const META_COUNTERS: ReadonlyArray<[key: string, init: string]> = [
  ['count:readings', '(SELECT count(*) FROM readings)'],
  ['deadLetters:dropped', '0'],
  ['audit:dropped', '0'],
  ['audit:droppedUnforwarded', '0'],
];

export function openStore(opts: OpenStoreOptions): Store {
  return new SqliteStore(opts);
}

/** Restores a stored value by its series kind (booleans are kept as 0/1). */
function restore(kind: FieldKind, value: number | null, text: string | null): StoredReading['value'] {
  if (text !== null) return text;
  if (value === null) return null;
  if (kind === 'boolean') return value !== 0;
  if (kind === 'string') return String(value);
  return value;
}

const isDiskFull = (e: unknown) => (e as { code?: unknown } | null)?.code === 'SQLITE_FULL';
/** what SQLite says when it cannot grow a file: a commit (SQLITE_FULL), or the wal-index at open */
const isNoSpace = (e: unknown) =>
  ['SQLITE_FULL', 'SQLITE_IOERR_SHMSIZE', 'SQLITE_IOERR_WRITE', 'SQLITE_IOERR_TRUNCATE'].includes(String((e as { code?: unknown } | null)?.code));

class SqliteStore implements Store {
  private db!: Database.Database;
  private readonly dir: string;
  private readonly file: string;
  private readonly reservePath: string;
  private readonly clock: Clock;
  private readonly log?: Logger;
  private readonly maxSizeBytes: number;
  private readonly retentionMs: number;
  private readonly commitIntervalMs: number;
  private commitRows: number;
  private readonly limitsIntervalMs: number;
  private readonly busyTimeoutMs: number;
  private readonly shares: { deadLetters: number; audit: number };
  private readonly onDamage: 'move-aside' | 'refuse';
  private readonly backgroundCheck: boolean;

  private readonly seriesById = new Map<number, SeriesInfo>();
  private readonly devByKey = new Map<string, number>();
  /** devices-table id → device name, for the 'data' measurement (the loss ledger's names) */
  private readonly dataDevById = new Map<number, string>();
  /** seriesId's cache: per (measurement, device), tag → the series of the kind last seen */
  private readonly tagsByDev = new Map<string, Map<string, { kind: FieldKind; id: number }>>();
  private runTags: Map<string, { kind: FieldKind; id: number }> | undefined;
  private runDevice = '';
  private runMeasurement = '';
  private pending: Batch[] = [];
  private pendingRows = 0;
  private waiters: Waiter[] = [];
  private flushScheduled = false;
  private flushTimer?: NodeJS.Timeout;
  /** duration of the last commit, ms: the next group commit waits about as long (see scheduleFlush) */
  private lastCommitMs = 0;
  private lastCommitRows = 0;
  private limitsTimer?: TimerHandle;
  private closed = false;
  private limitsRunning = false;
  private forwarding: boolean;
  private readonly listeners = new Set<(rows: number) => void>();

  private st!: ReturnType<SqliteStore['prepare']>;
  private ledger!: LossLedger;
  private plan!: DiskPlan;
  private pageSize = 4096;
  /**
   * one InfluxDB point per reading: the per-series tie of readings sharing a ms (tie-break.ts);
   * its lookups go to whichever file is open
   */
  private readonly ties = new TieBreaker({
    newestTs: (series) => this.st.newestTs.get(series) as number | undefined,
    maxTie: (dev, series, ts) => (this.st.maxTie.get(dev, ts, series) as number | null) ?? undefined,
  });
  /**
   * per series key (seriesKey): its newest ms and last tie in the files replaced in place, which
   * the fresh file must continue (InfluxDB has those points); set on the TieBreaker as floors
   * whenever seriesId meets the series after the caches were rebuilt
   */
  private readonly carriedTies = new Map<string, TieState>();
  /** the seq the next reading gets (high-water mark + 1; never reused) */
  private nextSeq = 1;
  /** the newest audit seq, carried into a fresh file when a damaged one is replaced */
  private lastAuditSeq = 0;
  /** PRAGMA data_version after our last commit: another connection's writes change it */
  private dataVersion = 0;
  private insertTx!: ReturnType<SqliteStore['makeInsertTx']>;
  /** cursors as last read or set (the store frees forwarded readings by them even when saving one failed) */
  private readonly cursors = { readings: 0, audit: 0 };
  /** other consumers' cursors (north:<name>) as last set, carried over when a damaged file is replaced */
  private readonly named = new Map<string, number>();
  /** the connection the named-cursor drop trigger was created on */
  private namedTrigger: unknown;
  /** bytes a reading takes on disk (estimated from commits; sizes the room a commit needs) */
  private bytesPerRow = 80;

  private full?: StoreFull & { unrecordedLogged?: boolean };
  /** the size limit is dropping unforwarded readings to make room (a 'maxSize' full episode) */
  private ring?: { since: number; dropped: number; lastDropAt: number };
  private failing?: { since: number; error: string; refused: number };
  private junkRoom?: { at: number; bytes: number };
  /** bytes the junk tables hold (their rows' text), summed at open, kept as rows come and go */
  private readonly junkBytes = { deadLetters: 0, audit: 0 };
  /** drops since the last limits pass, logged there in one line */
  private dropSummary = { forwarded: 0, unforwarded: 0, deadLetters: 0, audits: 0 };
  private checker?: { stop(): void };
  private cursorSaveFailed = false;

  constructor(opts: OpenStoreOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
    this.maxSizeBytes = opts.maxSizeBytes;
    this.retentionMs = opts.retentionMs;
    this.commitIntervalMs = opts.commitIntervalMs ?? 0;
    this.commitRows = opts.commitRows ?? 20_000;
    this.limitsIntervalMs = opts.limitsIntervalMs ?? 60_000;
    this.busyTimeoutMs = Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 5000));
    this.forwarding = opts.forwarding ?? false;
    this.shares = { deadLetters: opts.deadLetterShare ?? DEFAULT_DEAD_LETTER_SHARE, audit: opts.auditShare ?? DEFAULT_AUDIT_SHARE };
    this.onDamage = opts.onDamage ?? 'refuse';
    this.backgroundCheck = opts.backgroundCheck ?? this.onDamage === 'move-aside';
    this.dir = opts.path;
    this.file = join(opts.path, STORE_FILE);
    this.reservePath = this.file + RESERVE_SUFFIX;
    try {
      mkdirSync(opts.path, { recursive: true });
    } catch (e) {
      throw new GatewayError(ErrorCodes.STORE, `cannot open the store in ${opts.path}: ${errorText(e)}`, { cause: e });
    }
    this.openFile();
    // the first pass runs in steps right after opening (a store reopened after weeks may have a lot
    // to drop); then every limitsIntervalMs
    if (this.limitsIntervalMs > 0) setImmediate(() => void this.runLimitsInSteps());
    this.armLimitsTimer();
    this.startBackgroundCheck();
  }

  // ---------------------------------------------------------------- opening, damage

  /** Opens `file`; a damaged one is moved aside (onDamage 'move-aside') and a fresh one opened. */
  private openFile(attempt = 0): void {
    const problem = headerProblem(this.file);
    if (problem !== undefined) {
      this.damaged(problem);
      return this.openFile(attempt + 1);
    }
    let db: Database.Database | undefined;
    try {
      db = new Database(this.file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma(`busy_timeout = ${this.busyTimeoutMs}`);
      db.pragma('cache_size = -32768');
      this.boundedCheck(db);
      migrate(db, this.dir, this.log);
      // counters live in meta, updated in the same transactions as the rows; initialised once
      // (checked first: the initial value of count:readings counts every row, which takes long on 2 GB)
      const has = db.prepare('SELECT 1 FROM meta WHERE key = ?').pluck();
      for (const [key, init] of META_COUNTERS) if (has.get(key) === undefined) db.prepare(`INSERT INTO meta(key, value) VALUES (?, ${init})`).run(key);
      this.db = db;
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
        if (attempt < 2 && releaseReserve(this.reservePath) > 0) {
          this.log?.warn({ err: errorText(e) }, 'disk full: released the store reserve to open the store');
          return this.openFile(attempt + 1);
        }
        throw new GatewayError(ErrorCodes.STORE_FULL, `no space left on the disk for the store in ${this.dir} (${errorText(e)}): free some space`, {
          cause: e,
        });
      }
      if (e instanceof GatewayError) throw e;
      throw new GatewayError(ErrorCodes.STORE, `cannot open the store in ${this.dir}: ${errorText(e)}`, { cause: e });
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
      if (t === 'readings') continue;
      const r = db.pragma(`quick_check("${t.replace(/"/g, '""')}")`, { simple: true });
      if (r !== 'ok') throw Object.assign(new Error(`quick_check(${t}): ${String(r)}`), { code: 'SQLITE_CORRUPT' });
    }
    if (tables.includes('readings')) {
      db.prepare('SELECT count(*) FROM (SELECT seq FROM readings ORDER BY seq LIMIT 1000)').get();
      db.prepare('SELECT count(*) FROM (SELECT * FROM readings ORDER BY seq DESC LIMIT 1000)').get();
    }
  }

  /** Everything that depends on the open connection: the disk plan, statements, caches, seq. */
  private setUp(): void {
    const db = this.db;
    this.pageSize = Number(db.pragma('page_size', { simple: true }));
    this.plan = planDisk(this.maxSizeBytes, fsStats(this.dir).totalBytes);
    // the WAL's budget: checkpoint at half of it, truncate back to it after a checkpoint, and keep a
    // single commit well inside it
    db.pragma(`journal_size_limit = ${this.plan.walBytes}`);
    this.walCheckpointPages = Math.max(8, Math.floor(this.plan.walBytes / 2 / this.pageSize));
    db.pragma(`wal_autocheckpoint = ${this.walCheckpointPages}`);
    this.commitRows = Math.min(this.commitRows, Math.max(1000, Math.floor(this.plan.walBytes / 256)));
    // a hard stop at maxSize for the database itself (the WAL and the rest are within it)
    db.pragma(
      `max_page_count = ${Math.max(16, Math.floor((this.maxSizeBytes - this.plan.walBytes - shmBytesFor(this.plan.walBytes, this.pageSize)) / this.pageSize))}`,
    );
    this.st = this.prepare();
    this.ledger = new LossLedger(db);
    this.insertTx = this.makeInsertTx();
    this.loadCaches();
    this.loadSeq();
    this.cursors.readings = Math.max(this.cursors.readings, Number(this.st.getMeta.get('cursor:readings') ?? 0));
    this.cursors.audit = Math.max(this.cursors.audit, Number(this.st.getMeta.get('cursor:audit') ?? 0));
    this.countNamedDrops();
    this.lastAuditSeq = Math.max(
      this.lastAuditSeq,
      Number(db.prepare("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'audit'").pluck().get() ?? 0),
    );
    this.dataVersion = Number(this.st.dataVersion.get());
    this.loadJunkBytes(false);
    this.leftoversClosed = false;
  }

  /** whether the episodes an earlier process left open (a crash) have been closed */
  private leftoversClosed = false;

  /**
   * At this process's first commit: episodes left open by an earlier process (killed while the store
   * was full) are closed, since their cause ended with it. Not at open: another process (`fgw store
   * salvage`, `fgw query`) may open the store while the gateway's episode is still running.
   */
  private closeLeftovers(): void {
    this.leftoversClosed = true;
    for (const reason of ['store-full', 'store-error', 'maxSize'] as const) {
      const mine = reason === 'store-full' ? this.full : reason === 'store-error' ? this.failing : this.ring;
      if (!mine) this.closeEpisodes(reason);
    }
  }

  /**
   * The junk tables' bytes: summed over their rows (which reads them all: up to their shares of a
   * 2 GB store) only when no earlier count is kept in meta, when another connection has written
   * since, or once a day; else the count kept at the last limits pass or close. A count a crash left
   * behind is off by what came and went since then, which the next full sum corrects.
   */
  private loadJunkBytes(full: boolean): void {
    const dl = this.st.getMeta.get('bytes:deadLetters') as number | undefined;
    const au = this.st.getMeta.get('bytes:audit') as number | undefined;
    if (!full && dl !== undefined && au !== undefined) {
      this.junkBytes.deadLetters = Number(dl);
      this.junkBytes.audit = Number(au);
      return;
    }
    this.junkBytes.deadLetters = Number(this.db.prepare(`SELECT coalesce(sum(${DEAD_LETTER_BYTES}), 0) FROM dead_letters`).pluck().get());
    this.junkBytes.audit = Number(this.db.prepare(`SELECT coalesce(sum(${AUDIT_BYTES}), 0) FROM audit`).pluck().get());
    this.junkSummedAt = this.clock.now();
    this.saveJunkBytes();
  }

  private junkSummedAt = 0;

  private saveJunkBytes(): void {
    try {
      this.system(() =>
        this.db.transaction(() => {
          this.st.setMeta.run('bytes:deadLetters', this.junkBytes.deadLetters);
          this.st.setMeta.run('bytes:audit', this.junkBytes.audit);
        })(),
      );
    } catch {
      /* kept in memory; saved at the next pass */
    }
  }

  /** the high-water mark of readings' seq (also after another connection wrote some) */
  private loadSeq(): void {
    this.nextSeq = Math.max(
      this.nextSeq,
      1 +
        Math.max(
          Number(this.db.prepare('SELECT coalesce(max(seq), 0) FROM readings').pluck().get()),
          Number(this.st.getMeta.get('seq:readings') ?? 0),
          Number(this.st.getMeta.get('cursor:readings') ?? 0),
          // stores created before seq was assigned here used AUTOINCREMENT
          Number(this.db.prepare("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'readings'").pluck().get() ?? 0),
        ),
    );
  }

  /**
   * The file is damaged: with onDamage 'move-aside' it is renamed beside (never deleted) and the
   * alarm raised; else GW_ERR_STORE says what to do. The caller opens the fresh file.
   */
  private damaged(error: string): void {
    if (this.onDamage !== 'move-aside') {
      throw new GatewayError(
        ErrorCodes.STORE,
        `the store ${this.file} is damaged (${error}): \`fgw run\` moves it aside and starts a fresh one, and \`fgw store salvage <moved file> --config <gateway.yaml>\` recovers what can be read from it`,
      );
    }
    const at = this.clock.now();
    const moved = moveAside(this.file, at);
    releaseReserve(this.reservePath);
    this.pendingDamage.push({ file: moved, at, error });
    this.log?.error(
      { alarm: 'STORE_DAMAGED', file: moved, err: error },
      'the store file is damaged: moved aside, collection goes on into a fresh store (`fgw store salvage` recovers what it can from the moved file)',
    );
  }

  /** damage found before the fresh file's meta could record it */
  private pendingDamage: DamagedFile[] = [];

  private recordDamage(): void {
    for (const d of this.pendingDamage.splice(0)) {
      this.system(() => this.st.setMeta.run(`damaged:${basename(d.file)}`, JSON.stringify({ at: d.at, error: d.error })));
    }
  }

  /**
   * Replaces the open file by a fresh one (the background check or a statement found damage): the
   * queued commits, seq and cursors carry over, so the forwarder and the writers never notice.
   */
  private replaceDamaged(error: string): void {
    if (this.closed) return;
    this.carryTies();
    this.checker?.stop();
    this.checker = undefined;
    try {
      this.db.close();
    } catch {
      /* a damaged file may not close cleanly */
    }
    this.damaged(error);
    this.openFile();
    // the fresh file continues where the damaged one was: readings' seq, the cursors and audit's seq
    this.db.transaction(() => {
      this.st.setMeta.run('seq:readings', this.nextSeq - 1);
      this.st.setMeta.run('cursor:readings', this.cursors.readings);
      this.st.setMeta.run('cursor:audit', this.cursors.audit);
      for (const [name, seq] of this.named) {
        this.st.setMeta.run(`cursor:${name}`, seq);
        this.db.prepare('INSERT OR IGNORE INTO meta(key, value) VALUES (?, 0)').run(`dropped:${name}`);
      }
      if (this.lastAuditSeq > 0) {
        this.db.prepare("DELETE FROM sqlite_sequence WHERE name = 'audit'").run();
        this.db.prepare("INSERT INTO sqlite_sequence(name, seq) VALUES ('audit', ?)").run(this.lastAuditSeq);
      }
    })();
    this.countNamedDrops();
    this.recordDamage();
    this.startBackgroundCheck();
  }

  /** the tie cache by series name, before the file it was built on goes (see carriedTies) */
  private carryTies(): void {
    for (const [id, state] of this.ties.snapshot()) {
      const s = this.seriesById.get(id);
      if (s === undefined) continue;
      const k = seriesKey(s.measurement, s.device, s.tag, s.kind);
      this.carriedTies.set(k, newer(this.carriedTies.get(k), state));
    }
  }

  private startBackgroundCheck(): void {
    this.recordDamage();
    if (!this.backgroundCheck || this.closed) return;
    const db = this.db;
    this.checker = checkInBackground(this.file, (r) => {
      this.checker = undefined;
      if (this.closed || this.db !== db) return;
      if (r.ok) {
        this.log?.debug({ ms: r.ms }, 'store integrity check: ok');
        return;
      }
      // a check that could not run (busy, the file moved meanwhile) says nothing about the file
      if (r.code !== undefined && !isCorruption({ code: r.code })) {
        this.log?.warn({ err: r.problems[0] }, 'store integrity check could not run');
        return;
      }
      this.replaceDamaged(`quick_check: ${r.problems.slice(0, 3).join('; ')}`);
    });
  }

  /**
   * Runs a read; when it meets damage (SQLITE_CORRUPT) the file is replaced right after (onDamage
   * 'move-aside') and the error goes to the caller, whose next call reads the fresh file.
   */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (isCorruption(e) && this.onDamage === 'move-aside' && !this.closed) {
        const db = this.db;
        setImmediate(() => {
          if (this.db === db && !this.closed) this.replaceDamaged(errorText(e));
        });
      }
      throw e;
    }
  }

  private prepare() {
    const db = this.db;
    return {
      insertReading: db.prepare('INSERT INTO readings(seq, series, dev, ts, value, text, quality, error, tie) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      newestTs: db.prepare('SELECT ts FROM latest WHERE series = ?').pluck(),
      maxTie: db.prepare('SELECT max(tie) FROM readings WHERE dev = ? AND ts = ? AND series = ?').pluck(),
      upsertLatest: db.prepare(
        'INSERT INTO latest(series, seq, ts) VALUES (?, ?, ?) ON CONFLICT(series) DO UPDATE SET seq = excluded.seq, ts = excluded.ts WHERE excluded.ts >= latest.ts',
      ),
      findSeries: db.prepare('SELECT id, dev FROM series WHERE measurement = ? AND device = ? AND tag = ? AND kind = ?'),
      insertSeries: db.prepare('INSERT INTO series(measurement, device, tag, kind, dev) VALUES (?, ?, ?, ?, ?)'),
      findDev: db.prepare('SELECT id FROM devices WHERE measurement = ? AND device = ?').pluck(),
      insertDev: db.prepare('INSERT INTO devices(measurement, device) VALUES (?, ?)'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      addMeta: db.prepare('UPDATE meta SET value = value + ? WHERE key = ?'),
      forwardReadings: db.prepare('SELECT seq, series, ts, value, text, quality, error, tie FROM readings WHERE seq > ? ORDER BY seq LIMIT ?').raw(),
      forwardAudit: db.prepare('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?'),
      insertAudit: db.prepare(
        'INSERT INTO audit(ts, actor, system, action, route, device, tag, value, result, detail) VALUES (@ts, @actor, @system, @action, @route, @device, @tag, @value, @result, @detail)',
      ),
      insertDeadLetter: db.prepare(
        'INSERT INTO dead_letters(ts, source, device, topic, reason, detail, payload) VALUES (@ts, @source, @device, @topic, @reason, @detail, @payload)',
      ),
      minSeq: db.prepare('SELECT min(seq) FROM readings').pluck(),
      countAfter: db.prepare('SELECT count(*) FROM readings WHERE seq > ?').pluck(),
      pageCount: db.prepare('PRAGMA page_count').pluck(),
      freelist: db.prepare('PRAGMA freelist_count').pluck(),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      // the oldest readings, for dropping: per device how many InfluxDB never got, and their span
      oldestUnforwarded: db
        .prepare(
          'SELECT dev, count(*) AS n, min(ts) AS lo, max(ts) AS hi FROM (SELECT seq, dev, ts FROM readings ORDER BY seq LIMIT ?) WHERE seq > ? GROUP BY dev',
        )
        .raw(),
      deleteOldest: db.prepare('DELETE FROM readings WHERE seq IN (SELECT seq FROM readings ORDER BY seq LIMIT ?)'),
      deleteOldestUpTo: db.prepare('DELETE FROM readings WHERE seq IN (SELECT seq FROM readings WHERE seq <= ? ORDER BY seq LIMIT ?)'),
      oldestDeadLetters: db.prepare(
        `SELECT count(*) AS n, coalesce(sum(b), 0) AS bytes, max(id) AS last FROM (SELECT id, ${DEAD_LETTER_BYTES} AS b FROM dead_letters ORDER BY id LIMIT ?)`,
      ),
      deleteDeadLettersUpTo: db.prepare('DELETE FROM dead_letters WHERE id <= ?'),
      // audit records past their share go in this order: forwarded, unforwarded refusals, any
      auditTiers: (
        [
          ['seq <= ?', false],
          ["seq > ? AND result = 'denied'", true],
          ['seq > ?', true],
        ] as const
      ).map(([where, unforwarded]) => ({
        unforwarded,
        size: db.prepare(`SELECT count(*) AS n, coalesce(sum(b), 0) AS bytes FROM (SELECT ${AUDIT_BYTES} AS b FROM audit WHERE ${where} ORDER BY seq LIMIT ?)`),
        del: db.prepare(`DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE ${where} ORDER BY seq LIMIT ?)`),
      })),
    };
  }

  // ---------------------------------------------------------------- writing

  private makeInsertTx() {
    const st = this.st;
    return this.db.transaction((batches: readonly Batch[], rejected: Reading[]) => {
      // another connection (fgw store salvage) may have written readings since our last commit:
      // its seqs and ties are read afresh (inside this write lock, so none can slip in between)
      const dv = Number(st.dataVersion.get());
      if (dv !== this.dataVersion) {
        this.loadSeq();
        this.loadCaches();
      }
      let n = 0;
      const newest = new Map<number, [seq: number, ts: number]>();
      for (const b of batches) {
        for (const r of b.readings) {
          // one malformed reading must not fail the whole group commit (other devices' rows)
          if (typeof r.ts !== 'number' || !Number.isFinite(r.ts) || typeof r.device !== 'string' || typeof r.tag !== 'string') {
            rejected.push(r);
            continue;
          }
          const sid = this.seriesId(b.measurement, r.device, r.tag, typeof r.kind === 'string' ? r.kind : 'float');
          const dev = this.seriesById.get(sid)!.dev;
          const v = r.value;
          let num: number | null = null;
          let text: string | null = null;
          let quality = QUALITY_CODE[r.quality] ?? 2;
          let error = typeof r.error === 'string' ? r.error : null;
          if (typeof v === 'number') num = v;
          else if (typeof v === 'boolean') num = v ? 1 : 0;
          else if (typeof v === 'string') text = v;
          else if (v !== null && v !== undefined) {
            quality = 2;
            error = 'BAD_VALUE';
          }
          const seq = this.nextSeq++;
          const ts = Math.trunc(r.ts);
          const tie = this.ties.next(sid, dev, ts);
          if (tie >= TIE_LIMIT && quality < 2) {
            quality = 2;
            error = TIE_OVERFLOW;
          }
          st.insertReading.run(seq, sid, dev, ts, num, text, quality, error, tie);
          const prev = newest.get(sid);
          if (prev === undefined || ts >= prev[1]) newest.set(sid, [seq, ts]);
          n++;
        }
      }
      // the newest reading of each series written (seq only grows: a tie in ts goes to the later)
      for (const [sid, [seq, ts]] of newest) st.upsertLatest.run(sid, seq, ts);
      st.addMeta.run(n, 'count:readings');
      st.setMeta.run('seq:readings', this.nextSeq - 1);
      return n;
    });
  }

  /**
   * The series id of a reading, created when new. Cached per (measurement, device) as tag → the
   * series of the kind last seen; the readings of one poll come together, so the device's map is
   * looked up once per run of readings and each reading costs one Map lookup by tag. A tag whose
   * kind changed misses and is found (or created) in the table.
   */
  private seriesId(measurement: Measurement, device: string, tag: string, kind: FieldKind): number {
    if (this.runTags === undefined || device !== this.runDevice || measurement !== this.runMeasurement) {
      const k = devKey(measurement, device);
      let tags = this.tagsByDev.get(k);
      if (tags === undefined) this.tagsByDev.set(k, (tags = new Map()));
      this.runTags = tags;
      this.runDevice = device;
      this.runMeasurement = measurement;
    }
    const e = this.runTags.get(tag);
    if (e !== undefined && e.kind === kind) return e.id;
    const found = this.st.findSeries.get(measurement, device, tag, kind) as { id: number; dev: number } | undefined;
    const dev = found?.dev ?? this.devId(measurement, device, true)!;
    const id = found?.id ?? Number(this.st.insertSeries.run(measurement, device, tag, kind, dev).lastInsertRowid);
    if (this.carriedTies.size > 0) {
      const carried = this.carriedTies.get(seriesKey(measurement, device, tag, kind));
      if (carried !== undefined) this.ties.floor(id, carried);
    }
    if (!found) this.ties.created(id);
    // cached at once: a rolled-back transaction clears the whole cache (see flush)
    this.runTags.set(tag, { kind, id });
    this.seriesById.set(id, { measurement, device, tag, kind, dev });
    return id;
  }

  /** The devices-table id of (measurement, device); created when `create`, else undefined if unknown. */
  private devId(measurement: Measurement, device: string, create = false): number | undefined {
    const key = devKey(measurement, device);
    const hit = this.devByKey.get(key);
    if (hit !== undefined) return hit;
    let id = this.st.findDev.get(measurement, device) as number | undefined;
    if (id === undefined && create) id = Number(this.st.insertDev.run(measurement, device).lastInsertRowid);
    if (id !== undefined) {
      this.devByKey.set(key, id);
      if (measurement === 'data') this.dataDevById.set(id, device);
    }
    return id;
  }

  write(readings: readonly Reading[], opts?: WriteOptions): Promise<void> {
    return this.enqueue('data', readings, opts?.retried === true);
  }

  writeStatus(readings: readonly Reading[]): Promise<void> {
    return this.enqueue('status', readings, false);
  }

  private enqueue(measurement: Measurement, readings: readonly Reading[], retried: boolean): Promise<void> {
    if (this.closed) return Promise.reject(new GatewayError(ErrorCodes.STORE, 'the store is closed'));
    if (readings.length === 0) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    // pollers need not await write(): a failed commit is logged here, and must not become an
    // unhandled rejection that takes the whole gateway down; those who await still see it
    p.catch(() => undefined);
    this.pending.push({ measurement, readings, retried });
    this.pendingRows += readings.length;
    if (this.pendingRows >= this.commitRows) this.flush();
    else this.scheduleFlush();
    return p;
  }

  /**
   * Group commit pacing. A commit costs mostly the pages it writes to the WAL, and readings of many
   * series touch many index pages, so a few large commits are far cheaper than many small ones.
   * After a large commit (PACE_FROM_ROWS rows or more: the gateway is busy) the next one waits about
   * as long as that one took (at most 25 ms), so the batches grow by themselves under load; after a
   * small one it happens on the next turn of the event loop, so a writer that awaits each small
   * write (MQTT before its PUBACK) keeps a short latency. Never sooner than commitIntervalMs. Real
   * timers, not the injected clock: this paces I/O, it is not business time.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const paced = this.lastCommitRows >= PACE_FROM_ROWS ? Math.min(this.lastCommitMs, 25) : 0;
    const wait = Math.max(this.commitIntervalMs, paced);
    if (wait < 1) setImmediate(() => this.flush());
    else this.flushTimer = setTimeout(() => this.flush(), wait);
  }

  /** Commits everything queued in one transaction, then settles the writers' promises. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.length === 0) return;
    const batches = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    this.pendingRows = 0;
    let rows = 0;
    for (const b of batches) rows += b.readings.length;
    let n: number;
    const rejected: Reading[] = [];
    const t0 = performance.now();
    let usedBefore = 0;
    try {
      const room = this.admit(rows);
      if (room !== undefined) return this.refuse(batches, waiters, room.limit, undefined);
      usedBefore = this.usedBytes();
      n = this.insertTx.immediate(batches, rejected);
      this.lastCommitMs = performance.now() - t0;
      this.lastCommitRows = n;
    } catch (e) {
      if (isCorruption(e) && this.onDamage === 'move-aside' && !this.closed) {
        // the commit goes into the fresh file: nothing is lost (the caches are rebuilt for it, after
        // the tie cache is carried over by name: see replaceDamaged)
        this.pending.unshift(...batches);
        this.waiters.unshift(...waiters);
        for (const b of batches) this.pendingRows += b.readings.length;
        this.replaceDamaged(errorText(e));
        this.scheduleFlush();
        return;
      }
      this.reloadSeriesCache();
      if (isDiskFull(e)) {
        // the disk filled under us (another program, or a commit larger than estimated)
        this.releaseReserveFile();
        return this.refuse(batches, waiters, 'disk', e);
      }
      return this.commitFailed(batches, waiters, e);
    }
    this.dataVersion = Number(this.st.dataVersion.get());
    if (!this.leftoversClosed) {
      this.closeLeftovers();
      // the reserve file is made by the process that writes readings (not by a tool that only reads)
      this.restoreReserve();
    }
    if (n >= 500) {
      const grown = this.usedBytes() - usedBefore;
      if (grown > 0) this.bytesPerRow = Math.max(20, Math.min(1000, 0.8 * this.bytesPerRow + (0.2 * grown) / n));
    }
    if (this.failing) this.failingEnded();
    for (const w of waiters) w.resolve();
    if (rejected.length > 0) {
      for (const r of rejected.slice(0, 100)) {
        let payload: string;
        try {
          payload = JSON.stringify(r);
        } catch {
          payload = String(r);
        }
        this.deadLetter({
          ts: this.clock.now(),
          source: 'store',
          ...(typeof r.device === 'string' ? { device: r.device } : {}),
          reason: 'BAD_READING',
          detail: 'no valid ts, device or tag',
          payload,
        });
      }
      this.log?.warn({ rejected: rejected.length }, 'malformed readings kept in the dead-letter table');
    }
    for (const l of this.listeners) {
      try {
        l(n);
      } catch {
        /* a listener never breaks a commit */
      }
    }
  }

  // ---------------------------------------------------------------- room

  private usedBytes(): number {
    return (Number(this.st.pageCount.get()) - Number(this.st.freelist.get())) * this.pageSize;
  }

  private room(): Room {
    // a WAL past its budget (one large commit, a long reader) is checkpointed and truncated first:
    // the autocheckpoint has usually copied it already, so this costs little
    if (fileSize(`${this.file}-wal`) > this.plan.walBytes) {
      try {
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        /* busy: counted at its size below */
      }
    }
    const walFileBytes = fileSize(`${this.file}-wal`);
    const fsAvailBytes = fsStats(this.dir).availBytes;
    this.fitWalToDisk(fsAvailBytes, walFileBytes);
    return roomFor({
      plan: this.plan,
      maxSize: this.maxSizeBytes,
      pageSize: this.pageSize,
      pages: Number(this.st.pageCount.get()),
      freePages: Number(this.st.freelist.get()),
      walFileBytes,
      shmFileBytes: fileSize(`${this.file}-shm`),
      reserveFileBytes: fileSize(this.reservePath),
      fsAvailBytes,
    });
  }

  /** bytes a commit of `rows` readings is allowed for: the estimate with a margin, plus a few new pages */
  private need(rows: number): number {
    return Math.ceil(rows * this.bytesPerRow * 1.5) + 8 * this.pageSize;
  }

  /**
   * Whether a commit of `rows` readings fits, making room by dropping forwarded readings and, against
   * maxSize only, the oldest unforwarded ones. Undefined when it fits; else the room that was short.
   */
  private admit(rows: number, mayDropUnforwarded = true): Room | undefined {
    const need = this.need(rows);
    // while full, take readings again only with room for the reserve too (no flapping)
    const want = need + (this.full ? this.plan.reserveBytes : 0);
    let room = this.room();
    if (room.bytes < want) room = this.makeRoom(want, room, false);
    if (room.bytes < want && room.limit === 'maxSize' && mayDropUnforwarded) room = this.makeRoom(want, room, true);
    if (this.ring && this.clock.now() - this.ring.lastDropAt >= Math.max(this.limitsIntervalMs, MIN_RING_QUIET_MS)) this.ringEnded();
    if (room.bytes >= want) {
      if (this.full) this.fullEnded();
      return undefined;
    }
    return room;
  }

  /**
   * Drops the oldest readings (those InfluxDB has; with `unforwarded`, any) in chunks small enough
   * for the WAL's budget, until `want` bytes are free or MAKE_ROOM_MAX_ROWS are gone.
   */
  private makeRoom(want: number, room: Room, unforwarded: boolean): Room {
    const forwardedTo = this.forwardedUpTo();
    const chunk = Math.max(500, Math.min(DELETE_CHUNK, Math.floor(this.plan.walBytes / 400)));
    let dropped = 0;
    while (room.bytes < want && dropped < MAKE_ROOM_MAX_ROWS) {
      const n = Math.max(256, Math.min(chunk, Math.ceil(((want - room.bytes) / this.bytesPerRow) * 1.2)));
      const d = unforwarded ? this.dropOldest(n, forwardedTo) : this.dropForwarded(n, forwardedTo);
      if (d === 0) break;
      dropped += d;
      room = this.room();
    }
    return room;
  }

  /** seq up to which InfluxDB has the readings (all of them when nothing forwards this store) */
  private forwardedUpTo(): number {
    const stored = Math.max(this.cursors.readings, Number(this.st.getMeta.get('cursor:readings') ?? 0));
    return this.forwarding || stored > 0 ? stored : Number.MAX_SAFE_INTEGER;
  }

  /** drops up to `n` of the oldest readings with seq ≤ `upTo`; returns how many */
  private dropForwarded(n: number, upTo: number): number {
    const d = this.inSmallerSteps(n, (k) =>
      this.db.transaction(() => {
        const d = this.st.deleteOldestUpTo.run(upTo, k).changes;
        this.countDropped(d, 0);
        return d;
      })(),
    );
    this.dropSummary.forwarded += d;
    return d;
  }

  /**
   * Runs a delete of `n` rows (as a system write); when even that finds no room in the WAL (a
   * disk full to the last byte), tries a quarter of it, down to 64 rows: deleting frees pages,
   * and a small delete needs only a few.
   */
  private inSmallerSteps(n: number, run: (n: number) => number): number {
    for (let k = n; ; k = Math.floor(k / 4)) {
      try {
        return this.system(() => run(k));
      } catch (e) {
        if (!isDiskFull(e) || k <= 64) throw e;
      }
    }
  }

  /** drops the `n` oldest readings whatever their seq, counting those after `forwardedTo` as losses */
  private dropOldest(n: number, forwardedTo: number): number {
    const losses: LossBatch = new Map();
    let unfwd = 0;
    const d = this.inSmallerSteps(n, (k) =>
      this.db.transaction(() => {
        losses.clear();
        unfwd = 0;
        for (const [dev, cnt, lo, hi] of this.st.oldestUnforwarded.all(k, forwardedTo) as Array<[number, number, number, number]>) {
          unfwd += cnt;
          const device = this.dataDevById.get(dev);
          if (device !== undefined) addToBatch(losses, device, lo, hi, cnt);
        }
        const d = this.st.deleteOldest.run(k).changes;
        this.countDropped(d, unfwd);
        if (losses.size > 0) this.ledger.add('maxSize', losses);
        return d;
      })(),
    );
    this.dropSummary.unforwarded += unfwd;
    this.dropSummary.forwarded += d - unfwd;
    if (unfwd > 0) {
      const now = this.clock.now();
      if (!this.ring) {
        this.ring = { since: now, dropped: 0, lastDropAt: now };
        this.log?.warn(
          { alarm: 'STORE_FULL', reason: 'maxSize', maxSize: this.maxSizeBytes },
          'store full (storage.maxSize): dropping the oldest readings InfluxDB has not got yet to make room (counted per device)',
        );
      }
      this.ring.dropped += unfwd;
      this.ring.lastDropAt = now;
    }
    return d;
  }

  private countDropped(dropped: number, unforwarded: number): void {
    this.st.addMeta.run(-dropped, 'count:readings');
    this.st.addMeta.run(dropped, 'dropped');
    this.st.addMeta.run(unforwarded, 'droppedUnforwarded');
  }

  /** The commit does not fit: its readings are counted per device and the writers told. */
  private refuse(batches: readonly Batch[], waiters: readonly Waiter[], limit: 'disk' | 'maxSize', cause: unknown): void {
    const rows = lostIn(batches, this.unrecorded);
    const now = this.clock.now();
    if (!this.full) {
      this.full = { reason: limit, since: now, refused: 0, dropped: 0 };
      const room = this.safeRoom();
      this.log?.error(
        {
          alarm: 'STORE_FULL',
          reason: limit,
          maxSize: this.maxSizeBytes,
          fsAvail: room?.fsAvailBytes,
          onDisk: room?.onDiskBytes,
          ...(cause ? { err: errorText(cause) } : {}),
        },
        limit === 'disk'
          ? 'store full: no space left on the disk; readings are not stored (counted per device) until space returns'
          : 'store full: storage.maxSize reached and nothing left to drop; readings are not stored (counted per device)',
      );
    }
    this.full.reason = limit;
    this.full.refused += rows;
    this.recordLosses();
    const err = new GatewayError(
      ErrorCodes.STORE_FULL,
      limit === 'disk' ? 'the store is full: no space left on the disk' : 'the store is full: storage.maxSize reached',
      cause ? { cause } : {},
    );
    for (const w of waiters) w.reject(err);
  }

  /** refused readings not yet in the ledger (its write found no room either); tried again at each refusal and when room returns */
  private readonly unrecorded: LossBatch = new Map();

  private recordLosses(): void {
    if (this.unrecorded.size === 0) return;
    try {
      this.system(() => this.db.transaction(() => this.ledger.add('store-full', this.unrecorded))());
      this.unrecorded.clear();
    } catch (e) {
      // once per episode; kept in memory until a write succeeds
      if (this.full && !this.full.unrecordedLogged)
        this.log?.error({ err: errorText(e) }, 'cannot record lost readings in the store yet: kept in memory until there is room');
      if (this.full) this.full.unrecordedLogged = true;
    }
  }

  private safeRoom(): Room | undefined {
    try {
      return this.room();
    } catch {
      return undefined;
    }
  }

  private fullEnded(): void {
    const f = this.full!;
    this.recordLosses();
    this.full = undefined;
    const closed = this.closeEpisodes('store-full');
    this.log?.info(
      {
        reason: f.reason,
        ms: this.clock.now() - f.since,
        refused: f.refused,
        lost: closed.reduce((a, e) => a + e.count, 0),
        devices: closed.map((e) => e.device),
      },
      'store has room again: readings are stored',
    );
    this.restoreReserve();
  }

  private ringEnded(): void {
    const r = this.ring!;
    this.ring = undefined;
    const closed = this.closeEpisodes('maxSize');
    this.log?.info(
      { ms: this.clock.now() - r.since, dropped: r.dropped, devices: closed.map((e) => e.device) },
      'store no longer drops readings InfluxDB has not got',
    );
  }

  /** A commit failed for another reason than room: one log line per episode, readings counted. */
  private commitFailed(batches: readonly Batch[], waiters: readonly Waiter[], e: unknown): void {
    const losses: LossBatch = new Map();
    const rows = lostIn(batches, losses);
    if (!this.failing) {
      this.failing = { since: this.clock.now(), error: errorText(e), refused: 0 };
      this.log?.error(
        { alarm: 'STORE_ERROR', err: errorText(e), rows },
        'store commit failed; readings are not stored (counted per device) until commits succeed again',
      );
    }
    this.failing.refused += rows;
    if (losses.size > 0) {
      try {
        this.db.transaction(() => this.ledger.add('store-error', losses))();
      } catch {
        /* the database refuses even this; the log line above said so */
      }
    }
    const err = new GatewayError(ErrorCodes.STORE, `cannot commit readings: ${errorText(e)}`, { cause: e });
    for (const w of waiters) w.reject(err);
  }

  private failingEnded(): void {
    const f = this.failing!;
    this.failing = undefined;
    this.closeEpisodes('store-error');
    this.log?.info({ ms: this.clock.now() - f.since, refused: f.refused, err: f.error }, 'store commits succeed again');
  }

  /**
   * Closes the open loss episodes (of one reason, or all) and writes one `gateway_status` point per
   * episode (device tag; fields lost, lostFrom, lostTo, lostReason), stamped with the time it closed
   * (never older than what it describes, so retention cannot drop it before it is forwarded), which
   * the forwarder sends to InfluxDB like any status point. Written into the reserve.
   */
  private closeEpisodes(reason: LossReason | undefined): LossEpisode[] {
    let closed: LossEpisode[] = [];
    try {
      this.system(() =>
        this.db.transaction(() => {
          closed = this.ledger.close(reason);
          if (closed.length === 0) return;
          const rows: Reading[] = [];
          const now = this.clock.now();
          const next = new Map<string, number>();
          for (const e of closed) {
            // two episodes of one device closing at the same instant must not share a point
            const ts = next.get(e.device) ?? now;
            next.set(e.device, ts + 1);
            rows.push({ device: e.device, tag: 'lost', ts, kind: 'integer', value: e.count, quality: 'good' });
            rows.push({ device: e.device, tag: 'lostFrom', ts, kind: 'integer', value: e.from, quality: 'good' });
            rows.push({ device: e.device, tag: 'lostTo', ts, kind: 'integer', value: e.to, quality: 'good' });
            rows.push({ device: e.device, tag: 'lostReason', ts, kind: 'string', value: e.reason, quality: 'good' });
          }
          this.insertTx([{ measurement: 'status', readings: rows, retried: false }], []);
        })(),
      );
    } catch (e) {
      this.log?.error({ err: errorText(e) }, 'cannot close loss episodes in the store');
    }
    return closed;
  }

  /**
   * Runs a write the store makes for itself (cursor, counters, ledger, alarm): on SQLITE_FULL the
   * reserve file is deleted, which gives it room, and it is tried once more.
   */
  private system<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (!isDiskFull(e)) throw e;
    }
    // the WAL could not grow: first the reserve file's room, then the WAL's own (checkpointed
    // and truncated, what it held is in the database; it grows again from nothing)
    if (fileSize(this.reservePath) > 0) {
      this.releaseReserveFile();
      try {
        return fn();
      } catch (e) {
        if (!isDiskFull(e)) throw e;
      }
    }
    this.truncateWal();
    return fn();
  }

  private truncateWal(): void {
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      /* busy, or no room to copy pages the database does not have yet */
    }
  }

  /**
   * The WAL's checkpoint point follows the disk: while the disk has less room than the WAL's budget,
   * SQLite checkpoints at half of what is left, so that the WAL never grows into a full disk (it
   * could then never be reset, and the store would freeze).
   */
  private fitWalToDisk(fsAvailBytes: number, walFileBytes: number): void {
    const room = Math.min(this.plan.walBytes, Math.max(0, fsAvailBytes + walFileBytes));
    const pages = Math.max(8, Math.floor(room / 2 / this.pageSize));
    if (pages !== this.walCheckpointPages) {
      this.walCheckpointPages = pages;
      this.db.pragma(`wal_autocheckpoint = ${pages}`);
    }
  }

  private walCheckpointPages = 0;

  private releaseReserveFile(): void {
    const freed = releaseReserve(this.reservePath);
    if (freed > 0) this.log?.warn({ freed }, 'disk full: released the store reserve so that cursors, counters and the alarm can be written');
  }

  /** the reserve file, when missing and the disk has room for it and then some */
  private restoreReserve(): void {
    const have = fileSize(this.reservePath);
    if (have >= this.plan.reserveBytes) return;
    const { availBytes } = fsStats(this.dir);
    if (availBytes < 2 * this.plan.reserveBytes + this.plan.walBytes) return;
    writeReserve(this.reservePath, this.plan.reserveBytes);
  }

  private reloadSeriesCache(): void {
    try {
      this.loadCaches();
    } catch {
      /* the database is unusable; the next write reports it */
    }
  }

  /**
   * The id caches from the tables, and the tie cache forgotten with them: they are rebuilt after a
   * rollback, when another connection wrote (its readings may hold ties this process has not
   * seen) and for a fresh file (new series ids).
   */
  private loadCaches(): void {
    this.ties.clear();
    this.seriesById.clear();
    this.devByKey.clear();
    this.dataDevById.clear();
    this.tagsByDev.clear();
    this.runTags = undefined;
    for (const d of this.db.prepare('SELECT id, measurement, device FROM devices').all() as Array<{ id: number; measurement: Measurement; device: string }>) {
      this.devByKey.set(devKey(d.measurement, d.device), d.id);
      if (d.measurement === 'data') this.dataDevById.set(d.id, d.device);
    }
    for (const s of this.db.prepare('SELECT id, measurement, device, tag, kind, dev FROM series').all() as Array<SeriesInfo & { id: number }>) {
      this.seriesById.set(s.id, { measurement: s.measurement, device: s.device, tag: s.tag, kind: s.kind, dev: s.dev });
    }
  }

  onCommit(listener: (rows: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---------------------------------------------------------------- junk: dead letters and audits

  /** whether a junk row of `bytes` fits in the room readings leave (never the reserve) */
  private junkFits(bytes: number): boolean {
    const now = this.clock.now();
    if (this.full) return false;
    if (!this.junkRoom || now - this.junkRoom.at > JUNK_ROOM_TTL_MS || this.junkRoom.bytes < 4 * bytes) this.junkRoom = { at: now, bytes: this.room().bytes };
    if (this.junkRoom.bytes < bytes) return false;
    this.junkRoom.bytes -= bytes;
    return true;
  }

  private shareBytes(kind: 'deadLetters' | 'audit'): number {
    return Math.floor(this.plan.capacityBytes * this.shares[kind]);
  }

  deadLetter(entry: DeadLetter): void {
    if (this.closed) return;
    const payload = entry.payload === undefined ? null : entry.payload.length > PAYLOAD_MAX ? entry.payload.slice(0, PAYLOAD_MAX) : entry.payload;
    const row = {
      ts: entry.ts,
      source: entry.source,
      device: entry.device ?? null,
      topic: entry.topic ?? null,
      reason: entry.reason,
      detail: entry.detail ?? null,
      payload,
    };
    const bytes = byteSize(row.source, row.device, row.topic, row.reason, row.detail, row.payload);
    try {
      this.system(() => {
        if (bytes > this.shareBytes('deadLetters') || !this.junkFits(bytes)) {
          // counted, so that received = kept + dropped still holds
          this.st.addMeta.run(1, 'deadLetters:dropped');
          this.dropSummary.deadLetters++;
          return;
        }
        this.st.insertDeadLetter.run(row);
        this.junkBytes.deadLetters += bytes;
        if (this.junkBytes.deadLetters > this.shareBytes('deadLetters')) this.db.transaction(() => this.trimDeadLetters())();
      });
    } catch (e) {
      this.log?.error({ err: errorText(e), source: entry.source, reason: entry.reason }, 'cannot store a dead letter');
    }
  }

  /** the oldest dead letters past their share (inside the caller's transaction) */
  private trimDeadLetters(): void {
    const cap = this.shareBytes('deadLetters');
    let bytes = this.junkBytes.deadLetters;
    if (bytes <= cap) return;
    // down to 90% of the share, so that a flood trims once per tenth of it, not once per row
    const target = Math.floor(cap * 0.9);
    while (bytes > target) {
      const o = this.st.oldestDeadLetters.get(Math.max(1, Math.min(1000, Math.ceil((bytes - target) / 4096)))) as {
        n: number;
        bytes: number;
        last: number | null;
      };
      if (o.n === 0 || o.last === null) break;
      this.st.deleteDeadLettersUpTo.run(o.last);
      this.st.addMeta.run(o.n, 'deadLetters:dropped');
      this.dropSummary.deadLetters += o.n;
      bytes -= o.bytes;
    }
    this.junkBytes.deadLetters = bytes;
  }

  appendAudit(a: AuditRecord): void {
    if (this.closed) return;
    const row = {
      ts: a.ts,
      actor: a.actor,
      system: a.system,
      action: a.action,
      route: a.route,
      device: a.device ?? null,
      tag: a.tag ?? null,
      value: a.value ?? null,
      result: a.result,
      detail: a.detail ?? null,
    };
    const bytes = byteSize(row.actor, row.system, row.action, row.route, row.device, row.tag, row.value, row.result, row.detail);
    try {
      this.system(() => {
        if (!this.junkFits(bytes)) {
          this.db.transaction(() => {
            this.st.addMeta.run(1, 'audit:dropped');
            this.st.addMeta.run(1, 'audit:droppedUnforwarded');
          })();
          this.dropSummary.audits++;
          return;
        }
        this.lastAuditSeq = Number(this.st.insertAudit.run(row).lastInsertRowid);
        this.junkBytes.audit += bytes;
        if (this.junkBytes.audit > this.shareBytes('audit')) this.db.transaction(() => this.trimAudits())();
      });
    } catch (e) {
      this.log?.error({ err: errorText(e), route: a.route }, 'cannot store an audit record');
    }
  }

  /**
   * The oldest audit records past their share (inside the caller's transaction): first those InfluxDB
   * has, then unforwarded refusals (an unauthenticated flood), then any.
   */
  private trimAudits(): void {
    const cap = this.shareBytes('audit');
    let bytes = this.junkBytes.audit;
    if (bytes <= cap) return;
    const stored = Math.max(this.cursors.audit, Number(this.st.getMeta.get('cursor:audit') ?? 0));
    const cursor = this.forwarding || stored > 0 ? stored : Number.MAX_SAFE_INTEGER;
    const target = Math.floor(cap * 0.9);
    for (const t of this.st.auditTiers) {
      while (bytes > target) {
        const limit = Math.max(1, Math.min(1000, Math.ceil((bytes - target) / 128)));
        const o = t.size.get(cursor, limit) as { n: number; bytes: number };
        if (o.n === 0) break;
        t.del.run(cursor, limit);
        this.st.addMeta.run(o.n, 'audit:dropped');
        if (t.unforwarded) this.st.addMeta.run(o.n, 'audit:droppedUnforwarded');
        this.dropSummary.audits += o.n;
        bytes -= o.bytes;
      }
    }
    this.junkBytes.audit = bytes;
  }

  // ---------------------------------------------------------------- reading

  private toStored(row: Row): StoredReading {
    const [seq, sid, ts, value, text, q, error, tie] = row;
    const s = this.seriesById.get(sid) ?? this.loadSeries(sid);
    const out: StoredReading = {
      seq,
      measurement: s.measurement,
      device: s.device,
      tag: s.tag,
      kind: s.kind,
      ts,
      value: restore(s.kind, value, text),
      quality: QUALITY_NAME[q] ?? 'bad',
    };
    if (error !== null) out.error = error;
    if (tie) out.tie = tie;
    return out;
  }

  /** a series written by another connection to the same file (e.g. the runtime while `fgw query` reads) */
  private loadSeries(sid: number): SeriesInfo {
    const s = this.db.prepare('SELECT measurement, device, tag, kind, dev FROM series WHERE id = ?').get(sid) as SeriesInfo | undefined;
    const info: SeriesInfo = s ?? { measurement: 'data', device: '?', tag: '?', kind: 'float', dev: 0 };
    if (s) this.seriesById.set(sid, info);
    return info;
  }

  /** ids of the series matching a filter; undefined = no filter */
  private seriesFilter(f: {
    measurement?: Measurement;
    device?: string;
    tag?: string;
    tags?: readonly string[];
  }): { sql: string; params: unknown[] } | undefined {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.measurement !== undefined) {
      where.push('measurement = ?');
      params.push(f.measurement);
    }
    if (f.device !== undefined) {
      where.push('device = ?');
      params.push(f.device);
    }
    if (f.tag !== undefined) {
      where.push('tag = ?');
      params.push(f.tag);
    }
    if (f.tags !== undefined) {
      where.push(`tag IN (${f.tags.map(() => '?').join(',') || 'NULL'})`);
      params.push(...f.tags);
    }
    if (where.length === 0) return undefined;
    return { sql: `SELECT id FROM series WHERE ${where.join(' AND ')}`, params };
  }

  query(q: ReadingQuery): StoredReading[] {
    return this.guard(() => {
      const where: string[] = [];
      const params: unknown[] = [];
      // the device narrows through the (dev, ts) index; the series filter does the rest
      if (q.device !== undefined) {
        const devs = (['data', 'status'] as const)
          .filter((m) => q.measurement === undefined || q.measurement === m)
          .map((m) => this.devId(m, q.device!))
          .filter((d) => d !== undefined);
        where.push(`dev IN (${devs.join(',') || 'NULL'})`);
      }
      const sf = this.seriesFilter(q);
      if (sf) {
        where.push(`series IN (${sf.sql})`);
        params.push(...sf.params);
      }
      if (q.from !== undefined) {
        where.push('ts >= ?');
        params.push(q.from);
      }
      if (q.to !== undefined) {
        where.push('ts < ?');
        params.push(q.to);
      }
      const dir = q.order === 'desc' ? 'DESC' : 'ASC';
      let sql = `SELECT seq, series, ts, value, text, quality, error, tie FROM readings${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ts ${dir}, seq ${dir}`;
      if (q.limit !== undefined) {
        sql += ' LIMIT ?';
        params.push(q.limit);
      }
      return (
        this.db
          .prepare(sql)
          .raw()
          .all(...params) as Row[]
      ).map((r) => this.toStored(r));
    });
  }

  latest(device?: string): StoredReading[] {
    return this.guard(() => {
      const params: unknown[] = [];
      // the latest table holds each series' newest reading (kept by every commit)
      let sql = `SELECT r.seq, r.series, r.ts, r.value, r.text, r.quality, r.error, r.tie FROM series s
        JOIN latest l ON l.series = s.id JOIN readings r ON r.seq = l.seq
        WHERE s.measurement = 'data'`;
      if (device !== undefined) {
        sql += ' AND s.device = ?';
        params.push(device);
      }
      const rows = (
        this.db
          .prepare(sql)
          .raw()
          .all(...params) as Row[]
      ).map((r) => this.toStored(r));
      // a tag whose kind changed has two series: keep the newest reading per (device, tag)
      const best = new Map<string, StoredReading>();
      for (const r of rows) {
        const k = `${r.device}\u0000${r.tag}`;
        const prev = best.get(k);
        if (!prev || r.ts > prev.ts || (r.ts === prev.ts && r.seq > prev.seq)) best.set(k, r);
      }
      return [...best.values()].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
    });
  }

  slotCounts(q: { device: string; from: number; to: number; slotMs: number; tags?: string[]; uncertainIsGood?: boolean }): SlotCount[] {
    return this.guard(() => {
      const dev = this.devId('data', q.device);
      if (dev === undefined) return [];
      const sf = this.seriesFilter({ measurement: 'data', device: q.device, tags: q.tags })!;
      const rows = this.db
        .prepare(
          `SELECT (ts - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS slot, sum(quality < ?) AS good, sum(quality = 2) AS bad
           FROM readings WHERE dev = ? AND ts >= ? AND ts < ? AND series IN (${sf.sql}) GROUP BY slot ORDER BY slot`,
        )
        .all(q.from, q.slotMs, goodBelow(q.uncertainIsGood), dev, q.from, q.to, ...sf.params) as SlotCount[];
      return rows;
    });
  }

  tagsSeen(q: { device: string; from: number; to: number; uncertainIsGood?: boolean }): string[] {
    return this.guard(() => {
      const dev = this.devId('data', q.device);
      if (dev === undefined) return [];
      const rows = this.db
        .prepare(
          `SELECT DISTINCT s.tag FROM series s WHERE s.id IN
           (SELECT DISTINCT series FROM readings WHERE dev = ? AND ts >= ? AND ts < ? AND quality < ?) ORDER BY s.tag`,
        )
        .pluck()
        .all(dev, q.from, q.to, goodBelow(q.uncertainIsGood)) as string[];
      return rows;
    });
  }

  heartbeatSlots(q: { from: number; to: number; slotMs: number }): number[] {
    return this.guard(() => {
      const dev = this.devId('status', '');
      if (dev === undefined) return [];
      return this.db
        .prepare(
          `SELECT DISTINCT (ts - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS slot FROM readings
           WHERE dev = ? AND ts >= ? AND ts < ?
           AND series IN (SELECT id FROM series WHERE measurement = 'status' AND device = '' AND tag = 'heartbeat') ORDER BY slot`,
        )
        .pluck()
        .all(q.from, q.slotMs, dev, q.from, q.to) as number[];
    });
  }

  lastGoodTs(q: { device: string; to: number; uncertainIsGood?: boolean }): number | undefined {
    return this.guard(() => {
      const dev = this.devId('data', q.device);
      if (dev === undefined) return undefined;
      const v = this.db
        .prepare('SELECT ts FROM readings WHERE dev = ? AND ts < ? AND quality < ? ORDER BY ts DESC LIMIT 1')
        .pluck()
        .get(dev, q.to, goodBelow(q.uncertainIsGood)) as number | undefined;
      return v ?? undefined;
    });
  }

  audits(q: { from?: number; to?: number; action?: 'read' | 'write'; device?: string; limit?: number }): StoredAudit[] {
    return this.guard(() => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (q.from !== undefined) {
        where.push('ts >= ?');
        params.push(q.from);
      }
      if (q.to !== undefined) {
        where.push('ts < ?');
        params.push(q.to);
      }
      if (q.action !== undefined) {
        where.push('action = ?');
        params.push(q.action);
      }
      if (q.device !== undefined) {
        where.push('device = ?');
        params.push(q.device);
      }
      let sql = `SELECT * FROM audit${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ts, seq`;
      if (q.limit !== undefined) {
        sql += ' LIMIT ?';
        params.push(q.limit);
      }
      return (this.db.prepare(sql).all(...params) as Record<string, unknown>[]).map(toAudit);
    });
  }

  deadLetters(q: { limit?: number; source?: string } = {}): StoredDeadLetter[] {
    return this.guard(() => {
      const params: unknown[] = [];
      let sql = 'SELECT * FROM dead_letters';
      if (q.source !== undefined) {
        sql += ' WHERE source = ?';
        params.push(q.source);
      }
      sql += ' ORDER BY id DESC';
      if (q.limit !== undefined) {
        sql += ' LIMIT ?';
        params.push(q.limit);
      }
      return (this.db.prepare(sql).all(...params) as Record<string, unknown>[]).map((r) => {
        const d: StoredDeadLetter = { id: r.id as number, ts: r.ts as number, source: r.source as string, reason: r.reason as string };
        for (const k of ['device', 'topic', 'detail', 'payload'] as const) if (r[k] !== null && r[k] !== undefined) d[k] = r[k] as string;
        return d;
      });
    });
  }

  // ---------------------------------------------------------------- forwarding

  readForward(stream: 'readings', cursor: number, limit: number): StoredReading[];
  readForward(stream: 'audit', cursor: number, limit: number): StoredAudit[];
  readForward(stream: 'readings' | 'audit', cursor: number, limit: number): StoredReading[] | StoredAudit[] {
    return this.guard(() => {
      if (stream === 'readings') return (this.st.forwardReadings.all(cursor, limit) as Row[]).map((r) => this.toStored(r));
      return (this.st.forwardAudit.all(cursor, limit) as Record<string, unknown>[]).map(toAudit);
    });
  }

  getCursor(name: string): number {
    if (name !== 'readings' && name !== 'audit') return Number(this.st.getMeta.get(`cursor:${name}`) ?? this.named.get(name) ?? 0);
    this.forwarding = true;
    const v = Number(this.st.getMeta.get(`cursor:${name}`) ?? 0);
    if (v > this.cursors[name]) this.cursors[name] = v;
    return v;
  }

  /**
   * Saves a cursor. It is written into the reserve, so a full disk does not stop it; should saving
   * fail anyway the store still frees readings up to it (kept in memory), and GW_ERR_STORE tells the
   * forwarder, which goes on (a restart would send again what followed the saved cursor).
   */
  setCursor(stream: string, seq: number): void {
    if (stream !== 'readings' && stream !== 'audit') return this.setNamedCursor(stream, seq);
    this.forwarding = true;
    if (seq > this.cursors[stream]) this.cursors[stream] = seq;
    try {
      this.system(() => this.st.setMeta.run(`cursor:${stream}`, seq));
      if (this.cursorSaveFailed) this.log?.info({ stream, seq }, 'forwarder cursor saved again');
      this.cursorSaveFailed = false;
    } catch (e) {
      if (!this.cursorSaveFailed) this.log?.error({ stream, seq, err: errorText(e) }, 'cannot save the forwarder cursor');
      this.cursorSaveFailed = true;
      throw new GatewayError(ErrorCodes.STORE, `cannot save the ${stream} cursor: ${errorText(e)}`, { cause: e });
    }
  }

  losses(q: { from?: number; to?: number; device?: string } = {}): LossEpisode[] {
    return queryLosses(this.db, q);
  }

  // ---------------------------------------------------------------- other consumers' cursors

  /**
   * Another consumer's position in the readings stream (a northbound target: `north:<name>`), in
   * meta as `cursor:<name>` with its drop counter `dropped:<name>`, which a temporary trigger on
   * this connection moves for every deleted reading after the cursor, whatever deletes it
   * (retention, maxSize, the room a commit makes). Saved into the reserve like the forwarder's.
   */
  private setNamedCursor(name: string, seq: number): void {
    this.named.set(name, seq);
    try {
      this.system(() =>
        this.db.transaction(() => {
          this.st.setMeta.run(`cursor:${name}`, seq);
          this.db.prepare('INSERT OR IGNORE INTO meta(key, value) VALUES (?, 0)').run(`dropped:${name}`);
        })(),
      );
    } catch (e) {
      throw new GatewayError(ErrorCodes.STORE, `cannot save the ${name} cursor: ${errorText(e)}`, { cause: e });
    }
    this.countNamedDrops();
  }

  /** the trigger counting each named cursor's drops (once per connection, when one exists) */
  private countNamedDrops(): void {
    if (this.namedTrigger === this.db) return;
    const any = this.db.prepare("SELECT 1 FROM meta WHERE key LIKE 'dropped:%' LIMIT 1").pluck().get();
    if (any === undefined) return;
    this.db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS named_cursor_drops AFTER DELETE ON main.readings
      BEGIN
        UPDATE meta SET value = value + 1
          WHERE key IN (SELECT 'dropped:' || substr(c.key, 8) FROM meta c WHERE c.key GLOB 'cursor:*:*' AND c.value < OLD.seq);
      END`);
    this.namedTrigger = this.db;
  }

  headSeq(): number {
    return this.guard(() => this.nextSeq - 1);
  }

  backlog(cursor: string): number {
    return this.guard(() => (cursor === 'readings' ? this.backlogCount() : this.countAfterCursor(this.getCursor(cursor))));
  }

  droppedUnforwarded(cursor: string): number {
    return this.guard(() => this.meta(cursor === 'readings' ? 'droppedUnforwarded' : `dropped:${cursor}`));
  }

  // ---------------------------------------------------------------- salvage

  historyAnchor(): { readings: number; audit: number } {
    return {
      readings: Math.min(0, Number(this.st.minSeq.get() ?? 0)),
      audit: Math.min(0, Number(this.db.prepare('SELECT coalesce(min(seq), 0) FROM audit').pluck().get())),
    };
  }

  importRecovered(b: RecoveredBatch): ImportResult {
    const out: ImportResult = { readings: 0, history: 0, audits: 0, deadLetters: 0, losses: 0, full: false };
    const rows = b.readings ?? [];
    // old rows never push out live ones InfluxDB has not got: only forwarded history makes room
    if (rows.length > 0 && this.admit(rows.length, false) !== undefined) return { ...out, full: true };
    const historySeq = (anchor: number, cursor: number | undefined, oldSeq: number) =>
      cursor !== undefined && oldSeq <= cursor ? anchor - 1 - (cursor - oldSeq) : undefined;
    const insertAuditAt = this.db.prepare(
      'INSERT OR IGNORE INTO audit(seq, ts, actor, system, action, route, device, tag, value, result, detail) VALUES (@seq, @ts, @actor, @system, @action, @route, @device, @tag, @value, @result, @detail)',
    );
    const insertLoss = this.db.prepare('INSERT INTO losses(device, reason, from_ts, to_ts, count, open) VALUES (?, ?, ?, ?, ?, 0)');
    const tieTaken = this.db.prepare('SELECT 1 FROM readings WHERE dev = ? AND ts = ? AND series = ? AND tie = ? LIMIT 1').pluck();
    try {
      this.db
        .transaction(() => {
          // another connection (the running gateway) may have written since: continue its seq.
          // Ties are looked up in the table, inside this write lock: the gateway's commits and ours
          // cannot interleave, and the gateway re-reads its ties after ours (data_version).
          this.loadSeq();
          const newest = new Map<number, [seq: number, ts: number]>();
          for (const r of rows) {
            const sid = this.seriesId(r.measurement, r.device, r.tag, r.kind);
            const dev = this.seriesById.get(sid)!.dev;
            const ts = Math.trunc(r.ts);
            const history = historySeq(b.anchor.readings, b.cursor.readings, r.oldSeq);
            let { tie, quality, error } = r;
            // backlog keeps its tie (the point it was meant to be) unless a live reading has it:
            // then the next free one. History keeps its tie: InfluxDB has it there, never sent again.
            if (history === undefined && tieTaken.get(dev, ts, sid, tie) !== undefined) {
              tie = ((this.st.maxTie.get(dev, ts, sid) as number | null) ?? -1) + 1;
              if (tie >= TIE_LIMIT && quality < 2) {
                quality = 2;
                error = TIE_OVERFLOW;
              }
            }
            const seq = history ?? this.nextSeq++;
            this.st.insertReading.run(seq, sid, dev, ts, r.value, r.text, quality, error, tie);
            const prev = newest.get(sid);
            if (prev === undefined || ts >= prev[1]) newest.set(sid, [seq, ts]);
            out.readings++;
            if (history !== undefined) out.history++;
          }
          for (const [sid, [seq, ts]] of newest) this.st.upsertLatest.run(sid, seq, ts);
          this.st.addMeta.run(out.readings, 'count:readings');
          this.st.setMeta.run('seq:readings', this.nextSeq - 1);
          for (const a of b.audits ?? []) {
            const row = {
              ts: a.ts,
              actor: a.actor,
              system: a.system,
              action: a.action,
              route: a.route,
              device: a.device ?? null,
              tag: a.tag ?? null,
              value: a.value ?? null,
              result: a.result,
              detail: a.detail ?? null,
            };
            const seq = historySeq(b.anchor.audit, b.cursor.audit, a.oldSeq);
            const res = seq === undefined ? this.st.insertAudit.run(row) : insertAuditAt.run({ ...row, seq });
            if (res.changes === 0) continue;
            if (seq === undefined) this.lastAuditSeq = Number(res.lastInsertRowid);
            this.junkBytes.audit += byteSize(row.actor, row.system, row.action, row.route, row.device, row.tag, row.value, row.result, row.detail);
            out.audits++;
          }
          for (const d of b.deadLetters ?? []) {
            const row = {
              ts: d.ts,
              source: d.source,
              device: d.device ?? null,
              topic: d.topic ?? null,
              reason: d.reason,
              detail: d.detail ?? null,
              payload: d.payload ?? null,
            };
            this.st.insertDeadLetter.run(row);
            this.junkBytes.deadLetters += byteSize(row.source, row.device, row.topic, row.reason, row.detail, row.payload);
            out.deadLetters++;
          }
          for (const l of b.losses ?? []) {
            insertLoss.run(l.device, l.reason, l.from, l.to, l.count);
            out.losses++;
          }
          // how far the file was read, in the same transaction: a run stopped here resumes after it
          if (b.progress) {
            const rec = this.damagedRecord(b.progress.file);
            rec.progress = { readings: 0, other: 0, ...rec.progress, ...b.progress.done };
            this.st.setMeta.run(`damaged:${basename(b.progress.file)}`, JSON.stringify(rec));
          }
        })
        .immediate();
    } finally {
      // our rows went in beside the TieBreaker: its cache (rebuilt with the id caches) no longer
      // knows the newest ties
      this.reloadSeriesCache();
    }
    return out;
  }

  /** what the live store noted about a damaged file of this name (meta `damaged:<name>`) */
  private damagedRecord(file: string): { at?: number; error?: string; salvaged?: DamagedFile['salvaged']; progress?: SalvageProgress } {
    try {
      return JSON.parse(String(this.st.getMeta.get(`damaged:${basename(file)}`) ?? '{}')) as ReturnType<SqliteStore['damagedRecord']>;
    } catch {
      return {};
    }
  }

  /** notes in the live store that a damaged file was salvaged (stats().damaged shows it) */
  recordSalvage(file: string, result: { readings: number; audits: number; deadLetters: number }): void {
    const rec = this.damagedRecord(file);
    rec.salvaged = { at: this.clock.now(), ...result };
    this.st.setMeta.run(`damaged:${basename(file)}`, JSON.stringify(rec));
  }

  /** what recordSalvage noted for a file of this name, if anything */
  salvaged(file: string): DamagedFile['salvaged'] | undefined {
    return this.damagedRecord(file).salvaged;
  }

  salvageProgress(file: string): SalvageProgress {
    return { readings: 0, other: 0, ...this.damagedRecord(file).progress };
  }

  // ---------------------------------------------------------------- limits

  private armLimitsTimer(): void {
    if (this.limitsIntervalMs <= 0 || this.closed) return;
    this.limitsTimer = this.clock.setTimeout(() => {
      void this.runLimitsInSteps().finally(() => this.armLimitsTimer());
    }, this.limitsIntervalMs);
    // never keep a CLI process alive just for this timer
    (this.limitsTimer as { __timer?: { unref?: () => void } }).__timer?.unref?.();
  }

  /**
   * The timer's pass: the same work as enforceLimits(), one chunk (one short transaction) per turn
   * of the event loop, so a large first pass (a store reopened after weeks) never blocks collection.
   */
  private async runLimitsInSteps(): Promise<void> {
    if (this.limitsRunning || this.closed) return;
    this.limitsRunning = true;
    try {
      const steps = this.limitSteps();
      for (;;) {
        if (this.closed) return;
        if (steps.next().done) return;
        await new Promise((r) => setImmediate(r));
      }
    } catch (e) {
      if (isCorruption(e) && this.onDamage === 'move-aside' && !this.closed) this.replaceDamaged(errorText(e));
      else this.log?.error({ err: errorText(e) }, 'cannot enforce storage limits');
    } finally {
      this.limitsRunning = false;
    }
  }

  enforceLimits(): number {
    if (this.closed) return 0;
    const steps = this.limitSteps();
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /**
   * Retention, then the size budget, then the junk shares, as a sequence of chunks, each its own
   * transaction; yields between chunks; returns the readings dropped. Counters (and the loss
   * ledger, for readings InfluxDB never got) move in the same transaction as the rows.
   *
   * Retention first walks the table in seq order (the order rows were written, and so roughly of
   * time): deleting a seq range touches each table page once. Late rows with old timestamps that
   * sit after the first recent chunk are then found per device through the (dev, ts) index.
   */
  private *limitSteps(): Generator<void, number> {
    // without a forwarder (none in this process, and no cursor ever set) nothing is "unforwarded"
    const cursor = this.forwardedUpTo();
    let byRetention = 0;
    let bySize = 0;
    let unforwarded = 0;
    const retentionLosses: LossBatch = new Map();
    const count = (dropped: number, unfwd: number) => {
      this.countDropped(dropped, unfwd);
    };
    /** per device, the readings after the cursor among those about to go */
    const noteLosses = (rows: Array<[number, number, number, number]>) => {
      for (const [dev, n, lo, hi] of rows) {
        const device = this.dataDevById.get(dev);
        if (device !== undefined) addToBatch(retentionLosses, device, lo, hi, n);
      }
    };

    if (this.retentionMs > 0) {
      const cutoff = this.clock.now() - this.retentionMs;
      const probe = this.db.prepare(
        'SELECT max(seq) AS hi, count(*) AS n, coalesce(sum(ts < ?), 0) AS old FROM (SELECT seq, ts FROM readings WHERE seq > ? ORDER BY seq LIMIT ?)',
      );
      const unfwdRange = this.db.prepare('SELECT dev, count(*), min(ts), max(ts) FROM readings WHERE seq > ? AND seq <= ? AND ts < ? GROUP BY dev').raw();
      const delRange = this.db.prepare('DELETE FROM readings WHERE seq > ? AND seq <= ? AND ts < ?');
      const rangeChunk = this.db.transaction((lo: number, hi: number) => {
        const rows = unfwdRange.all(Math.max(lo, cursor), hi, cutoff) as Array<[number, number, number, number]>;
        noteLosses(rows);
        const u = rows.reduce((a, r) => a + r[1], 0);
        const n = delRange.run(lo, hi, cutoff).changes;
        count(n, u);
        return [n, u] as const;
      });
      // from the lowest seq (history salvaged from a damaged file sits below zero)
      let lo = Number.MIN_SAFE_INTEGER;
      for (;;) {
        const p = probe.get(cutoff, lo, DELETE_CHUNK) as { hi: number | null; n: number; old: number };
        if (p.n === 0 || p.hi === null) break;
        if (p.old > 0) {
          const [n, u] = this.system(() => rangeChunk(lo, p.hi!));
          byRetention += n;
          unforwarded += u;
          yield;
        }
        if (p.old < p.n || p.n < DELETE_CHUNK) break;
        lo = p.hi;
      }
      // late rows with old timestamps after the walk stopped: per device, through the (dev, ts) index
      const ids = this.db.prepare('SELECT id FROM devices').pluck().all() as number[];
      const anyOld = this.db.prepare('SELECT 1 FROM readings WHERE dev = ? AND ts < ? LIMIT 1').pluck();
      const unfwdStmt = this.db
        .prepare('SELECT dev, count(*), min(ts), max(ts) FROM (SELECT seq, dev, ts FROM readings WHERE dev = ? AND ts < ? LIMIT ?) WHERE seq > ? GROUP BY dev')
        .raw();
      const del = this.db.prepare('DELETE FROM readings WHERE seq IN (SELECT seq FROM readings WHERE dev = ? AND ts < ? LIMIT ?)');
      const seriesChunk = this.db.transaction((id: number) => {
        const rows = unfwdStmt.all(id, cutoff, DELETE_CHUNK, cursor) as Array<[number, number, number, number]>;
        noteLosses(rows);
        const u = rows.reduce((a, r) => a + r[1], 0);
        const n = del.run(id, cutoff, DELETE_CHUNK).changes;
        count(n, u);
        return [n, u] as const;
      });
      for (const id of ids) {
        if (anyOld.get(id, cutoff) === undefined) continue;
        for (;;) {
          const [n, u] = this.system(() => seriesChunk(id));
          byRetention += n;
          unforwarded += u;
          yield;
          if (n < DELETE_CHUNK) break;
        }
      }
      this.system(() =>
        this.db.transaction(() => {
          const a = this.db
            .prepare(`SELECT count(*) AS n, coalesce(sum(seq > ?), 0) AS unfwd, coalesce(sum(${AUDIT_BYTES}), 0) AS bytes FROM audit WHERE ts < ?`)
            .get(this.forwardedAuditUpTo(), cutoff) as { n: number; unfwd: number; bytes: number };
          if (a.n > 0) {
            this.db.prepare('DELETE FROM audit WHERE ts < ?').run(cutoff);
            this.st.addMeta.run(a.n, 'audit:dropped');
            this.st.addMeta.run(a.unfwd, 'audit:droppedUnforwarded');
            this.junkBytes.audit = Math.max(0, this.junkBytes.audit - a.bytes);
          }
          const d = this.db.prepare(`SELECT count(*) AS n, coalesce(sum(${DEAD_LETTER_BYTES}), 0) AS bytes FROM dead_letters WHERE ts < ?`).get(cutoff) as {
            n: number;
            bytes: number;
          };
          if (d.n > 0) {
            this.db.prepare('DELETE FROM dead_letters WHERE ts < ?').run(cutoff);
            this.st.addMeta.run(d.n, 'deadLetters:dropped');
            this.junkBytes.deadLetters = Math.max(0, this.junkBytes.deadLetters - d.bytes);
          }
        })(),
      );
      if (retentionLosses.size > 0) {
        this.system(() => this.db.transaction(() => this.ledger.add('retention', retentionLosses))());
        this.closeEpisodes('retention');
      }
    }

    // over the size budget (maxSize lowered, or the store opened on a fuller disk): the oldest
    // readings go, forwarded ones first, until the store fits again
    let room = this.room();
    if (room.bytes <= 0 && room.limit === 'maxSize') {
      const target = this.plan.reserveBytes;
      for (const unfwd of [false, true]) {
        while (room.bytes < target) {
          const before = Number(this.st.getMeta.get('droppedUnforwarded') ?? 0);
          const d = unfwd ? this.dropOldest(DELETE_CHUNK, cursor) : this.dropForwarded(DELETE_CHUNK, cursor);
          if (d === 0) break;
          bySize += d;
          unforwarded += Number(this.st.getMeta.get('droppedUnforwarded') ?? 0) - before;
          room = this.room();
          yield;
        }
      }
    }

    // the junk's bytes (summed afresh after another connection wrote, or once a day), trimmed to the shares now
    const dv = Number(this.st.dataVersion.get());
    if (dv !== this.dataVersion || this.clock.now() - this.junkSummedAt > 86_400_000) this.loadJunkBytes(true);
    this.system(() => this.db.transaction(() => (this.trimDeadLetters(), this.trimAudits()))());
    this.saveJunkBytes();
    if (this.ring && this.clock.now() - this.ring.lastDropAt >= Math.max(this.limitsIntervalMs, MIN_RING_QUIET_MS)) this.ringEnded();
    // (only in the process that writes readings: leftoversClosed says it has)
    if (!this.full && this.leftoversClosed) this.restoreReserve();

    const s = this.dropSummary;
    this.dropSummary = { forwarded: 0, unforwarded: 0, deadLetters: 0, audits: 0 };
    const dropped = byRetention + bySize;
    if (dropped > 0 || s.forwarded + s.unforwarded + s.deadLetters + s.audits > 0) {
      this.log?.warn(
        {
          dropped,
          byRetention,
          bySize,
          unforwarded,
          madeRoom: s.forwarded + s.unforwarded,
          madeRoomUnforwarded: s.unforwarded,
          deadLetters: s.deadLetters,
          audits: s.audits,
          totalDropped: Number(this.st.getMeta.get('dropped')),
        },
        'storage limits: dropped the oldest rows',
      );
    }
    return dropped;
  }

  private forwardedAuditUpTo(): number {
    const stored = Math.max(this.cursors.audit, Number(this.st.getMeta.get('cursor:audit') ?? 0));
    return this.forwarding || stored > 0 ? stored : Number.MAX_SAFE_INTEGER;
  }

  // ---------------------------------------------------------------- stats

  private backlogCount(): number {
    if (!this.forwarding) return 0;
    return this.countAfterCursor(Math.max(this.cursors.readings, Number(this.st.getMeta.get('cursor:readings') ?? 0)));
  }

  /** readings and status rows after `cursor` */
  private countAfterCursor(cursor: number): number {
    const maxSeq = this.nextSeq - 1;
    if (maxSeq <= cursor) return 0;
    const minSeq = this.st.minSeq.get() as number | null;
    if (minSeq === null) return 0;
    const span = maxSeq - Math.max(cursor, minSeq - 1);
    // exact count while it is cheap; beyond that seq arithmetic, exact unless rows after the
    // cursor were deleted out of order (retention of late, out-of-order readings): an upper bound
    if (span <= 200_000) return Number(this.st.countAfter.get(cursor));
    return Math.max(0, span);
  }

  private meta(key: string): number {
    return Number(this.st.getMeta.get(key) ?? 0);
  }

  stats(): StoreStats {
    return this.guard(() => {
      let sizeBytes = 0;
      for (const f of [this.file, `${this.file}-wal`, `${this.file}-shm`, this.reservePath]) sizeBytes += fileSize(f);
      const ends = this.db
        .prepare(
          `SELECT min((SELECT ts FROM readings WHERE dev = d.id ORDER BY ts ASC LIMIT 1)) AS oldest,
                  max((SELECT ts FROM readings WHERE dev = d.id ORDER BY ts DESC LIMIT 1)) AS newest FROM devices d`,
        )
        .get() as { oldest: number | null; newest: number | null };
      const losses = this.ledger.totals();
      // refused readings the ledger could not take yet (a disk full to the last byte) count too
      for (const [device, [n]] of this.unrecorded) {
        const t = losses.find((l) => l.device === device && l.reason === 'store-full');
        if (t) t.count += n;
        else losses.push({ device, reason: 'store-full', count: n });
      }
      const deadLetters = Number(this.db.prepare('SELECT count(*) FROM dead_letters').pluck().get());
      const deadLettersDropped = this.meta('deadLetters:dropped');
      const out: StoreStats = {
        sizeBytes,
        maxSizeBytes: this.maxSizeBytes,
        readings: this.meta('count:readings'),
        backlog: this.backlogCount(),
        dropped: this.meta('dropped'),
        droppedUnforwarded: this.meta('droppedUnforwarded'),
        lost: losses.reduce((a, l) => a + l.count, 0),
        losses,
        deadLetters,
        deadLettersReceived: deadLetters + deadLettersDropped,
        deadLettersDropped,
        auditDropped: this.meta('audit:dropped'),
        auditDroppedUnforwarded: this.meta('audit:droppedUnforwarded'),
        damaged: this.damagedList(),
      };
      const full = this.full ?? (this.ring ? { reason: 'maxSize' as const, since: this.ring.since, refused: 0, dropped: this.ring.dropped } : undefined);
      if (full) out.full = { ...full };
      if (ends.oldest !== null) out.oldestTs = ends.oldest;
      if (ends.newest !== null) out.newestTs = ends.newest;
      return out;
    });
  }

  /** the damaged files beside this store, with what this store recorded about each */
  private damagedList(): DamagedFile[] {
    return damagedFiles(this.file).map((file) => {
      const rec = this.damagedRecord(file);
      const d: DamagedFile = { file, at: rec.at ?? mtimeOf(file), error: rec.error ?? 'found damaged' };
      if (rec.salvaged) d.salvaged = rec.salvaged;
      return d;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.recordLosses();
    this.saveJunkBytes();
    // the episodes this process has open end with it (another process's are its own business)
    if (this.full) this.closeEpisodes('store-full');
    if (this.failing) this.closeEpisodes('store-error');
    if (this.ring) this.closeEpisodes('maxSize');
    this.closed = true;
    this.checker?.stop();
    this.clock.clearTimeout(this.limitsTimer);
    this.listeners.clear();
    try {
      this.db.close();
    } catch (e) {
      throw new GatewayError(ErrorCodes.STORE, `cannot close the store: ${errorText(e)}`, { cause: e });
    }
  }
}

/**
 * The readings of refused batches, per device, into `losses` (device data only, not the writers
 * that will write them again); returns how many rows the batches had in all.
 */
function lostIn(batches: readonly Batch[], losses: LossBatch): number {
  let rows = 0;
  for (const b of batches) {
    rows += b.readings.length;
    if (b.measurement !== 'data' || b.retried) continue;
    for (const r of b.readings)
      if (typeof r.device === 'string' && typeof r.ts === 'number' && Number.isFinite(r.ts)) addToBatch(losses, r.device, Math.trunc(r.ts));
  }
  return rows;
}

function mtimeOf(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function devKey(measurement: string, device: string): string {
  return `${measurement}\u0000${device}`;
}

function seriesKey(measurement: string, device: string, tag: string, kind: string): string {
  return `${measurement}\u0000${device}\u0000${tag}\u0000${kind}`;
}

function toAudit(r: Record<string, unknown>): StoredAudit {
  const a: StoredAudit = {
    seq: r.seq as number,
    ts: r.ts as number,
    actor: r.actor as string,
    system: r.system as string,
    action: r.action as StoredAudit['action'],
    route: r.route as string,
    result: r.result as StoredAudit['result'],
  };
  for (const k of ['device', 'tag', 'value', 'detail'] as const) if (r[k] !== null && r[k] !== undefined) a[k] = r[k] as string;
  return a;
}
