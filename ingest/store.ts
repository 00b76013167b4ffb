/**
 * The embedded durable store on SQLite (better-sqlite3, WAL mode, synchronous=NORMAL): the
 * store-and-forward buffer and the local history at once (ingest/types.ts is the contract).
 *
 * Layout (schema version 3; MIGRATIONS upgrades older stores in place)
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
 * - `latest(series, seq, ts)`: each series' newest reading, upserted once per series per commit
 *   (latest() reads it). Should the size limit drop a series' newest row while late rows with older
 *   timestamps but higher seqs remain, that series is left out of latest() until it reports again.
 * - `audit`, `dead_letters`, `meta(key, value)`: cursors, the row counter and the drop counters.
 *
 * Writes are group-committed: write() queues and one transaction commits everything queued on the
 * next turn of the event loop, or a little later under load (scheduleFlush), or at once past
 * `commitRows`; the promises resolve after COMMIT.
 * With WAL + synchronous=NORMAL a committed row survives a process crash (SIGKILL); a power cut may
 * lose the last few hundred ms, which is SQLite's documented trade-off for this mode.
 *
 * Limits: retention deletes rows older than `retentionMs`, walking the table in seq order (each page
 * touched once) and then, per device through the index, the late rows with old timestamps; maxSize deletes the oldest rows (seq order) in
 * chunks until the pages in use, (page_count - freelist_count) * page_size, are under 95% of
 * maxSize. We do not vacuum: freed pages go to SQLite's freelist and are reused by new rows, so
 * the file stays at its high-water mark (about maxSize) instead of shrinking and growing again;
 * the WAL is capped separately by journal_size_limit. Every dropped reading is counted (`dropped`,
 * and `droppedUnforwarded` for those InfluxDB never got) and each drop event is logged once. The
 * timer's pass (and the first one, right after opening) runs one chunk per turn of the event loop;
 * enforceLimits() runs them all at once. limitsIntervalMs = 0 turns both off.
 */
import Database from 'better-sqlite3';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DeadLetter, FieldKind, Quality, Reading } from '../adapters/types.js';
import { systemClock, type Clock, type TimerHandle } from '../config/clock.js';
import { ErrorCodes, GatewayError, errorText } from '../config/errors.js';
import { TIE_LIMIT, TIE_OVERFLOW, TieBreaker } from './tie-break.js';
import type { AuditRecord, Measurement, ReadingQuery, SlotCount, Store, StoreStats, StoredAudit, StoredDeadLetter, StoredReading } from './types.js';

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
}

export const STORE_FILE = 'store.db';

/**
 * The store's schema version (PRAGMA user_version). Each upgrade of the layout appends a step to
 * MIGRATIONS; opening runs the missing steps forward in one transaction, so an upgraded gateway
 * keeps its buffered backlog and history. A store written by a newer gateway is refused rather
 * than misread.
 */
export const STORE_SCHEMA_VERSION = 3;
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
];

function migrate(db: Database.Database, path: string, log?: Logger): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > STORE_SCHEMA_VERSION) {
    throw new GatewayError(ErrorCodes.STORE, `the store in ${path} has schema version ${current}, written by a newer fgw (this one reads up to ${STORE_SCHEMA_VERSION}): upgrade fgw, or point storage.path elsewhere`);
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
const PAYLOAD_MAX = 64 * 1024;
const QUALITY_CODE: Record<Quality, number> = { good: 0, uncertain: 1, bad: 2 };
const QUALITY_NAME: readonly Quality[] = ['good', 'uncertain', 'bad'];
/** quality codes below this count as good: 2 (good and uncertain, the default) or 1 (good only) */
const goodBelow = (uncertainIsGood: boolean | undefined): number => (uncertainIsGood === false ? QUALITY_CODE.uncertain : QUALITY_CODE.bad);
const DELETE_CHUNK = 20_000;
/** commits smaller than this are not paced: a writer that awaits each small write keeps its latency */
const PACE_FROM_ROWS = 2000;

interface SeriesInfo {
  measurement: Measurement;
  device: string;
  tag: string;
  kind: FieldKind;
  /** the id of (measurement, device) in the devices table */
  dev: number;
}

type Row = [seq: number, series: number, ts: number, value: number | null, text: string | null, quality: number, error: string | null, tie: number];

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

class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly file: string;
  private readonly clock: Clock;
  private readonly log?: Logger;
  private readonly maxSizeBytes: number;
  private readonly retentionMs: number;
  private readonly commitIntervalMs: number;
  private readonly commitRows: number;
  private readonly limitsIntervalMs: number;

  private readonly seriesById = new Map<number, SeriesInfo>();
  private readonly devByKey = new Map<string, number>();
  /** seriesId's cache: per (measurement, device), tag → the series of the kind last seen */
  private readonly tagsByDev = new Map<string, Map<string, { kind: FieldKind; id: number }>>();
  private runTags: Map<string, { kind: FieldKind; id: number }> | undefined;
  private runDevice = '';
  private runMeasurement = '';
  private pending: Array<{ measurement: Measurement; readings: readonly Reading[] }> = [];
  private pendingRows = 0;
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
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

  private readonly st: ReturnType<SqliteStore['prepare']>;
  /** one InfluxDB point per reading: the per-series tie of readings sharing a ms (tie-break.ts) */
  private readonly ties: TieBreaker;
  /** the seq the next reading gets (high-water mark + 1; never reused) */
  private nextSeq = 1;
  private readonly insertTx: (batches: Array<{ measurement: Measurement; readings: readonly Reading[] }>, rejected: Reading[]) => number;

  constructor(opts: OpenStoreOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
    this.maxSizeBytes = opts.maxSizeBytes;
    this.retentionMs = opts.retentionMs;
    this.commitIntervalMs = opts.commitIntervalMs ?? 0;
    this.commitRows = opts.commitRows ?? 20_000;
    this.limitsIntervalMs = opts.limitsIntervalMs ?? 60_000;
    this.forwarding = opts.forwarding ?? false;
    try {
      mkdirSync(opts.path, { recursive: true });
      this.file = join(opts.path, STORE_FILE);
      this.db = new Database(this.file);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 5000))}`);
      this.db.pragma('journal_size_limit = 67108864');this.db.pragma('wal_autocheckpoint = 10000');
      this.db.pragma('cache_size = -32768');
      migrate(this.db, opts.path, opts.log);
      // the row counter lives in meta, updated in the same transactions as the rows; counted once
      if (this.db.prepare(`SELECT 1 FROM meta WHERE key = 'count:readings'`).get() === undefined) {
        this.db.prepare(`INSERT INTO meta(key, value) VALUES ('count:readings', (SELECT count(*) FROM readings))`).run();
      }
    } catch (e) {
      if (e instanceof GatewayError) throw e;
      throw new GatewayError(ErrorCodes.STORE, `cannot open the store in ${opts.path}: ${errorText(e)}`, { cause: e });
    }
    this.st = this.prepare();
    this.nextSeq = 1 + Math.max(
      Number(this.db.prepare('SELECT coalesce(max(seq), 0) FROM readings').pluck().get()),
      Number(this.st.getMeta.get('seq:readings') ?? 0),
      Number(this.st.getMeta.get('cursor:readings') ?? 0),
      // stores created before seq was assigned here used AUTOINCREMENT
      Number(this.db.prepare("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'readings'").pluck().get() ?? 0),
    );
    this.loadCaches();
    const st = this.st;
    this.ties = new TieBreaker({
      newestTs: (series) => st.newestTs.get(series) as number | undefined,
      maxTie: (dev, series, ts) => (st.maxTie.get(dev, ts, series) as number | null) ?? undefined,
    });
    this.insertTx = this.db.transaction((batches: Array<{ measurement: Measurement; readings: readonly Reading[] }>, rejected: Reading[]) => {
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
    // the first pass runs in steps right after opening (a store reopened after weeks may have a lot
    // to drop); then every limitsIntervalMs
    if (this.limitsIntervalMs > 0) setImmediate(() => void this.runLimitsInSteps());
    this.armLimitsTimer();
  }

  private prepare() {
    const db = this.db;
    return {
      insertReading: db.prepare('INSERT INTO readings(seq, series, dev, ts, value, text, quality, error, tie) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      newestTs: db.prepare('SELECT ts FROM latest WHERE series = ?').pluck(),
      maxTie: db.prepare('SELECT max(tie) FROM readings WHERE dev = ? AND ts = ? AND series = ?').pluck(),
      upsertLatest: db.prepare('INSERT INTO latest(series, seq, ts) VALUES (?, ?, ?) ON CONFLICT(series) DO UPDATE SET seq = excluded.seq, ts = excluded.ts WHERE excluded.ts >= latest.ts'),
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
      insertDeadLetter: db.prepare('INSERT INTO dead_letters(ts, source, device, topic, reason, detail, payload) VALUES (@ts, @source, @device, @topic, @reason, @detail, @payload)'),
      minSeq: db.prepare('SELECT min(seq) FROM readings').pluck(),
      countAfter: db.prepare('SELECT count(*) FROM readings WHERE seq > ?').pluck(),
      pageCount: db.prepare('PRAGMA page_count').pluck(),
      freelist: db.prepare('PRAGMA freelist_count').pluck(),
      pageSize: db.prepare('PRAGMA page_size').pluck(),
    };
  }

  // ---------------------------------------------------------------- writing

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
    if (id !== undefined) this.devByKey.set(key, id);
    return id;
  }

  write(readings: readonly Reading[]): Promise<void> {
    return this.enqueue('data', readings);
  }

  writeStatus(readings: readonly Reading[]): Promise<void> {
    return this.enqueue('status', readings);
  }

  private enqueue(measurement: Measurement, readings: readonly Reading[]): Promise<void> {
    if (this.closed) return Promise.reject(new GatewayError(ErrorCodes.STORE, 'the store is closed'));
    if (readings.length === 0) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    // pollers need not await write(): a failed commit is logged here, and must not become an
    // unhandled rejection that takes the whole gateway down; those who await still see it
    p.catch(() => undefined);
    this.pending.push({ measurement, readings });
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
    let n: number;
    const rejected: Reading[] = [];
    const t0 = performance.now();
    try {
      n = this.insertTx(batches, rejected);
      this.lastCommitMs = performance.now() - t0;
      this.lastCommitRows = n;
    } catch (e) {
      this.reloadSeriesCache();
      const err = new GatewayError(ErrorCodes.STORE, `cannot commit readings: ${errorText(e)}`, { cause: e });
      this.log?.error({ err: errorText(e), rows: batches.reduce((a, b) => a + b.readings.length, 0) }, 'store commit failed');
      for (const w of waiters) w.reject(err);
      return;
    }
    for (const w of waiters) w.resolve();
    if (rejected.length > 0) {
      for (const r of rejected.slice(0, 100)) {
        let payload: string;
        try {
          payload = JSON.stringify(r);
        } catch {
          payload = String(r);
        }
        this.deadLetter({ ts: this.clock.now(), source: 'store', ...(typeof r.device === 'string' ? { device: r.device } : {}), reason: 'BAD_READING', detail: 'no valid ts, device or tag', payload });
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

  private reloadSeriesCache(): void {
    this.ties.clear();
    try {
      this.loadCaches();
    } catch {
      /* the database is unusable; the next write reports it */
    }
  }

  private loadCaches(): void {
    this.seriesById.clear();
    this.devByKey.clear();
    this.tagsByDev.clear();
    this.runTags = undefined;
    for (const d of this.db.prepare('SELECT id, measurement, device FROM devices').all() as Array<{ id: number; measurement: Measurement; device: string }>) {
      this.devByKey.set(devKey(d.measurement, d.device), d.id);
    }
    for (const s of this.db.prepare('SELECT id, measurement, device, tag, kind, dev FROM series').all() as Array<SeriesInfo & { id: number }>) {
      this.seriesById.set(s.id, { measurement: s.measurement, device: s.device, tag: s.tag, kind: s.kind, dev: s.dev });
    }
  }

  onCommit(listener: (rows: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  deadLetter(entry: DeadLetter): void {
    try {
      this.st.insertDeadLetter.run({
        ts: entry.ts,
        source: entry.source,
        device: entry.device ?? null,
        topic: entry.topic ?? null,
        reason: entry.reason,
        detail: entry.detail ?? null,
        payload: entry.payload === undefined ? null : entry.payload.length > PAYLOAD_MAX ? entry.payload.slice(0, PAYLOAD_MAX) : entry.payload,
      });
    } catch (e) {
      this.log?.error({ err: errorText(e), source: entry.source, reason: entry.reason }, 'cannot store a dead letter');
    }
  }

  appendAudit(a: AuditRecord): void {
    try {
      this.st.insertAudit.run({
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
      });
    } catch (e) {
      this.log?.error({ err: errorText(e), route: a.route }, 'cannot store an audit record');
    }
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
  private seriesFilter(f: { measurement?: Measurement; device?: string; tag?: string; tags?: readonly string[] }): { sql: string; params: unknown[] } | undefined {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.measurement !== undefined) (where.push('measurement = ?'), params.push(f.measurement));
    if (f.device !== undefined) (where.push('device = ?'), params.push(f.device));
    if (f.tag !== undefined) (where.push('tag = ?'), params.push(f.tag));
    if (f.tags !== undefined) {
      where.push(`tag IN (${f.tags.map(() => '?').join(',') || 'NULL'})`);
      params.push(...f.tags);
    }
    if (where.length === 0) return undefined;
    return { sql: `SELECT id FROM series WHERE ${where.join(' AND ')}`, params };
  }

  query(q: ReadingQuery): StoredReading[] {
    const where: string[] = [];
    const params: unknown[] = [];
    // the device narrows through the (dev, ts) index; the series filter does the rest
    if (q.device !== undefined) {
      const devs = (['data', 'status'] as const).filter((m) => q.measurement === undefined || q.measurement === m).map((m) => this.devId(m, q.device!)).filter((d) => d !== undefined);
      where.push(`dev IN (${devs.join(',') || 'NULL'})`);
    }
    const sf = this.seriesFilter(q);
    if (sf) (where.push(`series IN (${sf.sql})`), params.push(...sf.params));
    if (q.from !== undefined) (where.push('ts >= ?'), params.push(q.from));
    if (q.to !== undefined) (where.push('ts < ?'), params.push(q.to));
    const dir = q.order === 'desc' ? 'DESC' : 'ASC';
    let sql = `SELECT seq, series, ts, value, text, quality, error, tie FROM readings${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ts ${dir}, seq ${dir}`;
    if (q.limit !== undefined) (sql += ' LIMIT ?'), params.push(q.limit);
    return (this.db.prepare(sql).raw().all(...params) as Row[]).map((r) => this.toStored(r));
  }

  latest(device?: string): StoredReading[] {
    const params: unknown[] = [];
    // the latest table holds each series' newest reading (kept by every commit)
    let sql = `SELECT r.seq, r.series, r.ts, r.value, r.text, r.quality, r.error, r.tie FROM series s
      JOIN latest l ON l.series = s.id JOIN readings r ON r.seq = l.seq
      WHERE s.measurement = 'data'`;
    if (device !== undefined) (sql += ' AND s.device = ?'), params.push(device);
    const rows = (this.db.prepare(sql).raw().all(...params) as Row[]).map((r) => this.toStored(r));
    // a tag whose kind changed has two series: keep the newest reading per (device, tag)
    const best = new Map<string, StoredReading>();
    for (const r of rows) {
      const k = `${r.device}\u0000${r.tag}`;
      const prev = best.get(k);
      if (!prev || r.ts > prev.ts || (r.ts === prev.ts && r.seq > prev.seq)) best.set(k, r);
    }
    return [...best.values()].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
  }

  slotCounts(q: { device: string; from: number; to: number; slotMs: number; tags?: string[]; uncertainIsGood?: boolean }): SlotCount[] {
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
  }

  tagsSeen(q: { device: string; from: number; to: number; uncertainIsGood?: boolean }): string[] {
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
  }

  heartbeatSlots(q: { from: number; to: number; slotMs: number }): number[] {
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
  }

  lastGoodTs(q: { device: string; to: number; uncertainIsGood?: boolean }): number | undefined {
    const dev = this.devId('data', q.device);
    if (dev === undefined) return undefined;
    const v = this.db.prepare('SELECT ts FROM readings WHERE dev = ? AND ts < ? AND quality < ? ORDER BY ts DESC LIMIT 1').pluck().get(dev, q.to, goodBelow(q.uncertainIsGood)) as number | undefined;
    return v ?? undefined;
  }

  audits(q: { from?: number; to?: number; action?: 'read' | 'write'; device?: string; limit?: number }): StoredAudit[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.from !== undefined) (where.push('ts >= ?'), params.push(q.from));
    if (q.to !== undefined) (where.push('ts < ?'), params.push(q.to));
    if (q.action !== undefined) (where.push('action = ?'), params.push(q.action));
    if (q.device !== undefined) (where.push('device = ?'), params.push(q.device));
    let sql = `SELECT * FROM audit${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ts, seq`;
    if (q.limit !== undefined) (sql += ' LIMIT ?'), params.push(q.limit);
    return (this.db.prepare(sql).all(...params) as Record<string, unknown>[]).map(toAudit);
  }

  deadLetters(q: { limit?: number; source?: string } = {}): StoredDeadLetter[] {
    const params: unknown[] = [];
    let sql = 'SELECT * FROM dead_letters';
    if (q.source !== undefined) (sql += ' WHERE source = ?'), params.push(q.source);
    sql += ' ORDER BY id DESC';
    if (q.limit !== undefined) (sql += ' LIMIT ?'), params.push(q.limit);
    return (this.db.prepare(sql).all(...params) as Record<string, unknown>[]).map((r) => {
      const d: StoredDeadLetter = { id: r.id as number, ts: r.ts as number, source: r.source as string, reason: r.reason as string };
      for (const k of ['device', 'topic', 'detail', 'payload'] as const) if (r[k] !== null && r[k] !== undefined) d[k] = r[k] as string;
      return d;
    });
  }

  // ---------------------------------------------------------------- forwarding

  readForward(stream: 'readings', cursor: number, limit: number): StoredReading[];
  readForward(stream: 'audit', cursor: number, limit: number): StoredAudit[];
  readForward(stream: 'readings' | 'audit', cursor: number, limit: number): StoredReading[] | StoredAudit[] {
    if (stream === 'readings') return (this.st.forwardReadings.all(cursor, limit) as Row[]).map((r) => this.toStored(r));
    return (this.st.forwardAudit.all(cursor, limit) as Record<string, unknown>[]).map(toAudit);
  }

  getCursor(stream: 'readings' | 'audit'): number {
    this.forwarding = true;
    return Number(this.st.getMeta.get(`cursor:${stream}`) ?? 0);
  }

  setCursor(stream: 'readings' | 'audit', seq: number): void {
    this.forwarding = true;
    this.st.setMeta.run(`cursor:${stream}`, seq);
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
      this.log?.error({ err: errorText(e) }, 'cannot enforce storage limits');
    } finally {
      this.limitsRunning = false;
    }
  }

  private usedBytes(): number {
    const pages = Number(this.st.pageCount.get()) - Number(this.st.freelist.get());
    return pages * Number(this.st.pageSize.get());
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
   * Retention, then maxSize, as a sequence of chunks, each its own transaction; yields between
   * chunks; returns the readings dropped. Counters move in the same transaction as the rows.
   *
   * Retention first walks the table in seq order (the order rows were written, and so roughly of
   * time): deleting a seq range touches each table page once. Late rows with old timestamps that
   * sit after the first recent chunk are then found per device through the (dev, ts) index.
   */
  private *limitSteps(): Generator<void, number> {
    // without a forwarder (none in this process, and no cursor ever set) nothing is "unforwarded":
    // counting against seq 0 would call every dropped row unforwarded
    const stored = Number(this.st.getMeta.get('cursor:readings') ?? 0);
    const cursor = this.forwarding || stored > 0 ? stored : Number.MAX_SAFE_INTEGER;
    let byRetention = 0;
    let bySize = 0;
    let unforwarded = 0;
    const count = (dropped: number, unfwd: number) => {
      this.st.addMeta.run(-dropped, 'count:readings');
      this.st.addMeta.run(dropped, 'dropped');
      this.st.addMeta.run(unfwd, 'droppedUnforwarded');
    };

    if (this.retentionMs > 0) {
      const cutoff = this.clock.now() - this.retentionMs;
      const probe = this.db.prepare('SELECT max(seq) AS hi, count(*) AS n, coalesce(sum(ts < ?), 0) AS old FROM (SELECT seq, ts FROM readings WHERE seq > ? ORDER BY seq LIMIT ?)');
      const unfwdRange = this.db.prepare('SELECT count(*) FROM readings WHERE seq > ? AND seq <= ? AND ts < ?').pluck();
      const delRange = this.db.prepare('DELETE FROM readings WHERE seq > ? AND seq <= ? AND ts < ?');
      const rangeChunk = this.db.transaction((lo: number, hi: number) => {
        const u = Number(unfwdRange.get(Math.max(lo, cursor), hi, cutoff));
        const n = delRange.run(lo, hi, cutoff).changes;
        count(n, u);
        return [n, u] as const;
      });
      let lo = 0;
      for (;;) {
        const p = probe.get(cutoff, lo, DELETE_CHUNK) as { hi: number | null; n: number; old: number };
        if (p.n === 0 || p.hi === null) break;
        if (p.old > 0) {
          const [n, u] = rangeChunk(lo, p.hi);
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
      const unfwdStmt = this.db.prepare('SELECT count(*) FROM (SELECT seq FROM readings WHERE dev = ? AND ts < ? LIMIT ?) WHERE seq > ?').pluck();
      const del = this.db.prepare('DELETE FROM readings WHERE seq IN (SELECT seq FROM readings WHERE dev = ? AND ts < ? LIMIT ?)');
      const seriesChunk = this.db.transaction((id: number) => {
        const u = Number(unfwdStmt.get(id, cutoff, DELETE_CHUNK, cursor));
        const n = del.run(id, cutoff, DELETE_CHUNK).changes;
        count(n, u);
        return [n, u] as const;
      });
      for (const id of ids) {
        if (anyOld.get(id, cutoff) === undefined) continue;
        for (;;) {
          const [n, u] = seriesChunk(id);
          byRetention += n;
          unforwarded += u;
          yield;
          if (n < DELETE_CHUNK) break;
        }
      }
      this.db.prepare('DELETE FROM audit WHERE ts < ?').run(cutoff);
      this.db.prepare('DELETE FROM dead_letters WHERE ts < ?').run(cutoff);
    }

    if (this.maxSizeBytes > 0) {
      const target = Math.floor(this.maxSizeBytes * 0.95);
      let used = this.usedBytes();
      if (used > this.maxSizeBytes) {
        const unfwdStmt = this.db.prepare('SELECT count(*) FROM (SELECT seq FROM readings ORDER BY seq LIMIT ?) WHERE seq > ?').pluck();
        const del = this.db.prepare('DELETE FROM readings WHERE seq IN (SELECT seq FROM readings ORDER BY seq LIMIT ?)');
        const chunk = this.db.transaction((n: number) => {
          const u = Number(unfwdStmt.get(n, cursor));
          const d = del.run(n).changes;
          count(d, u);
          return [d, u] as const;
        });
        const delOther = this.db.transaction(() => {
          const a = this.db.prepare('DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters ORDER BY id LIMIT 1000)').run().changes;
          const b = this.db.prepare('DELETE FROM audit WHERE seq IN (SELECT seq FROM audit ORDER BY seq LIMIT 1000)').run().changes;
          return a + b;
        });
        while (used > target) {
          const rows = Number(this.st.getMeta.get('count:readings') ?? 0);
          let progressed: number;
          if (rows > 0) {
            const perRow = used / rows;
            const n = Math.max(256, Math.min(DELETE_CHUNK, Math.ceil((used - target) / perRow)));
            const [d, u] = chunk(n);
            bySize += d;
            unforwarded += u;
            progressed = d;
          } else progressed = delOther();
          if (progressed === 0) break;
          used = this.usedBytes();
          yield;
        }
      }
    }

    const dropped = byRetention + bySize;
    if (dropped > 0) {
      this.log?.warn({ dropped, byRetention, bySize, unforwarded, totalDropped: Number(this.st.getMeta.get('dropped')) }, 'storage limits: dropped the oldest readings');
    }
    return dropped;
  }

  // ---------------------------------------------------------------- stats

  private backlogCount(): number {
    if (!this.forwarding) return 0;
    const cursor = Number(this.st.getMeta.get('cursor:readings') ?? 0);
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

  stats(): StoreStats {
    let sizeBytes = 0;
    for (const f of [this.file, `${this.file}-wal`]) {
      try {
        sizeBytes += statSync(f).size;
      } catch {
        /* no WAL yet */
      }
    }
    const ends = this.db
      .prepare(
        `SELECT min((SELECT ts FROM readings WHERE dev = d.id ORDER BY ts ASC LIMIT 1)) AS oldest,
                max((SELECT ts FROM readings WHERE dev = d.id ORDER BY ts DESC LIMIT 1)) AS newest FROM devices d`,
      )
      .get() as { oldest: number | null; newest: number | null };
    const out: StoreStats = {
      sizeBytes,
      readings: Number(this.st.getMeta.get('count:readings') ?? 0),
      backlog: this.backlogCount(),
      dropped: Number(this.st.getMeta.get('dropped') ?? 0),
      droppedUnforwarded: Number(this.st.getMeta.get('droppedUnforwarded') ?? 0),
      deadLetters: Number(this.db.prepare('SELECT count(*) FROM dead_letters').pluck().get()),
    };
    if (ends.oldest !== null) out.oldestTs = ends.oldest;
    if (ends.newest !== null) out.newestTs = ends.newest;
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.clock.clearTimeout(this.limitsTimer);
    this.listeners.clear();
    try {
      this.db.close();
    } catch (e) {
      throw new GatewayError(ErrorCodes.STORE, `cannot close the store: ${errorText(e)}`, { cause: e });
    }
  }
}

function devKey(measurement: string, device: string): string {
  return `${measurement}\u0000${device}`;
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
