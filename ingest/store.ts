/**
 * The embedded durable store on SQLite (better-sqlite3, WAL mode, synchronous=NORMAL): the
 * store-and-forward buffer and the local history at once (ingest/types.ts is the contract).
 *
 * Layout
 * - `series(id, measurement, device, tag, kind)`: one row per time series; ids cached in a Map.
 *   The kind is part of the key, so a tag whose configured type changes starts a new series and old
 *   rows keep the kind they were written with.
 * - `readings(seq, series, ts, value NUMERIC, text, quality, error)`, index
 *   (series, ts, quality): the index covers slotCounts/tagsSeen/heartbeatSlots/lastGoodTs, which the
 *   verifier runs over 30-day windows, so they never touch the table rows. Numbers and booleans (0/1)
 *   go to `value` (NUMERIC affinity stores 20.0 as a 1-byte integer), strings to `text`. quality:
 *   0 good, 1 uncertain, 2 bad. seq is assigned by the store from a high-water mark kept in
 *   memory and in `meta` (seq:readings), so it keeps growing even after every row was dropped and
 *   the forwarder's cursor can never point past new rows. (SQLite's AUTOINCREMENT does the same
 *   but updates sqlite_sequence on every insert: about a third of the insert cost, measured.)
 * - `audit`, `dead_letters`, `meta(key, value)`: cursors, the row counter and the drop counters.
 *
 * Writes are group-committed: write() queues and one transaction commits everything queued on the
 * next turn of the event loop, or a little later under load (scheduleFlush), or at once past
 * `commitRows`; the promises resolve after COMMIT.
 * With WAL + synchronous=NORMAL a committed row survives a process crash (SIGKILL); a power cut may
 * lose the last few hundred ms, which is SQLite's documented trade-off for this mode.
 *
 * Limits: retention deletes rows older than `retentionMs`, walking the table in seq order (each page
 * touched once) and then, per series through the index, the late rows with old timestamps; maxSize deletes the oldest rows (seq order) in
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
export const STORE_SCHEMA_VERSION = 1;
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  // 0 → 1: the first layout
  (db) => db.exec(SCHEMA),
];

function migrate(db: Database.Database, path: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > STORE_SCHEMA_VERSION) {
    throw new GatewayError(ErrorCodes.STORE, `the store in ${path} has schema version ${current}, written by a newer fgw (this one reads up to ${STORE_SCHEMA_VERSION}): upgrade fgw, or point storage.path elsewhere`);
  }
  if (current === STORE_SCHEMA_VERSION) return;
  db.transaction(() => {
    for (let v = current; v < STORE_SCHEMA_VERSION; v++) MIGRATIONS[v]!(db);
    db.pragma(`user_version = ${STORE_SCHEMA_VERSION}`);
  })();
}
const PAYLOAD_MAX = 64 * 1024;
const QUALITY_CODE: Record<Quality, number> = { good: 0, uncertain: 1, bad: 2 };
const QUALITY_NAME: readonly Quality[] = ['good', 'uncertain', 'bad'];
const DELETE_CHUNK = 20_000;
/** commits smaller than this are not paced: a writer that awaits each small write keeps its latency */
const PACE_FROM_ROWS = 2000;

interface SeriesInfo {
  measurement: Measurement;
  device: string;
  tag: string;
  kind: FieldKind;
}

type Row = [seq: number, series: number, ts: number, value: number | null, text: string | null, quality: number, error: string | null];

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

  private readonly seriesByKey = new Map<string, number>();
  private readonly seriesById = new Map<number, SeriesInfo>();
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
      migrate(this.db, opts.path);
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
    for (const s of this.db.prepare('SELECT id, measurement, device, tag, kind FROM series').all() as Array<SeriesInfo & { id: number }>) {
      this.seriesById.set(s.id, { measurement: s.measurement, device: s.device, tag: s.tag, kind: s.kind });
      this.seriesByKey.set(seriesKey(s.measurement, s.device, s.tag, s.kind), s.id);
    }
    const st = this.st;
    this.insertTx = this.db.transaction((batches: Array<{ measurement: Measurement; readings: readonly Reading[] }>, rejected: Reading[]) => {
      let n = 0;
      for (const b of batches) {
        for (const r of b.readings) {
          // one malformed reading must not fail the whole group commit (other devices' rows)
          if (typeof r.ts !== 'number' || !Number.isFinite(r.ts) || typeof r.device !== 'string' || typeof r.tag !== 'string') {
            rejected.push(r);
            continue;
          }
          const sid = this.seriesId(b.measurement, r.device, r.tag, typeof r.kind === 'string' ? r.kind : 'float');
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
          st.insertReading.run(this.nextSeq++, sid, Math.trunc(r.ts), num, text, quality, error);
          n++;
        }
      }
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
      insertReading: db.prepare('INSERT INTO readings(seq, series, ts, value, text, quality, error) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      findSeries: db.prepare('SELECT id FROM series WHERE measurement = ? AND device = ? AND tag = ? AND kind = ?').pluck(),
      insertSeries: db.prepare('INSERT INTO series(measurement, device, tag, kind) VALUES (?, ?, ?, ?)'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      addMeta: db.prepare('UPDATE meta SET value = value + ? WHERE key = ?'),
      forwardReadings: db.prepare('SELECT seq, series, ts, value, text, quality, error FROM readings WHERE seq > ? ORDER BY seq LIMIT ?').raw(),
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

  private seriesId(measurement: Measurement, device: string, tag: string, kind: FieldKind): number {
    const key = seriesKey(measurement, device, tag, kind);
    const hit = this.seriesByKey.get(key);
    if (hit !== undefined) return hit;
    let id = this.st.findSeries.get(measurement, device, tag, kind) as number | undefined;
    if (id === undefined) id = Number(this.st.insertSeries.run(measurement, device, tag, kind).lastInsertRowid);
    // cached at once: a rolled-back transaction clears the whole cache (see flush)
    this.seriesByKey.set(key, id);
    this.seriesById.set(id, { measurement, device, tag, kind });
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
    this.seriesByKey.clear();
    this.seriesById.clear();
    try {
      for (const s of this.db.prepare('SELECT id, measurement, device, tag, kind FROM series').all() as Array<SeriesInfo & { id: number }>) {
        this.seriesById.set(s.id, { measurement: s.measurement, device: s.device, tag: s.tag, kind: s.kind });
        this.seriesByKey.set(seriesKey(s.measurement, s.device, s.tag, s.kind), s.id);
      }
    } catch {
      /* the database is unusable; the next write reports it */
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
    const [seq, sid, ts, value, text, q, error] = row;
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
    return out;
  }

  /** a series written by another connection to the same file (e.g. the runtime while `fgw query` reads) */
  private loadSeries(sid: number): SeriesInfo {
    const s = this.db.prepare('SELECT measurement, device, tag, kind FROM series WHERE id = ?').get(sid) as SeriesInfo | undefined;
    const info: SeriesInfo = s ?? { measurement: 'data', device: '?', tag: '?', kind: 'float' };
    if (s) {
      this.seriesById.set(sid, info);
      this.seriesByKey.set(seriesKey(s.measurement, s.device, s.tag, s.kind), sid);
    }
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
    const sf = this.seriesFilter(q);
    if (sf) (where.push(`series IN (${sf.sql})`), params.push(...sf.params));
    if (q.from !== undefined) (where.push('ts >= ?'), params.push(q.from));
    if (q.to !== undefined) (where.push('ts < ?'), params.push(q.to));
    const dir = q.order === 'desc' ? 'DESC' : 'ASC';
    let sql = `SELECT seq, series, ts, value, text, quality, error FROM readings${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ts ${dir}, seq ${dir}`;
    if (q.limit !== undefined) (sql += ' LIMIT ?'), params.push(q.limit);
    return (this.db.prepare(sql).raw().all(...params) as Row[]).map((r) => this.toStored(r));
  }

  latest(device?: string): StoredReading[] {
    const params: unknown[] = [];
    let sql = `SELECT r.seq, r.series, r.ts, r.value, r.text, r.quality, r.error FROM series s
      JOIN readings r ON r.seq = (SELECT seq FROM readings WHERE series = s.id ORDER BY ts DESC, seq DESC LIMIT 1)
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

  slotCounts(q: { device: string; from: number; to: number; slotMs: number; tags?: string[] }): SlotCount[] {
    const sf = this.seriesFilter({ measurement: 'data', device: q.device, tags: q.tags })!;
    const rows = this.db
      .prepare(
        `SELECT (ts - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS slot, sum(quality < 2) AS good, sum(quality = 2) AS bad
         FROM readings WHERE series IN (${sf.sql}) AND ts >= ? AND ts < ? GROUP BY slot ORDER BY slot`,
      )
      .all(q.from, q.slotMs, ...sf.params, q.from, q.to) as SlotCount[];
    return rows;
  }

  tagsSeen(q: { device: string; from: number; to: number }): string[] {
    const rows = this.db
      .prepare(
        `SELECT DISTINCT s.tag FROM series s WHERE s.measurement = 'data' AND s.device = ?
         AND EXISTS (SELECT 1 FROM readings r WHERE r.series = s.id AND r.ts >= ? AND r.ts < ? AND r.quality < 2) ORDER BY s.tag`,
      )
      .pluck()
      .all(q.device, q.from, q.to) as string[];
    return rows;
  }

  heartbeatSlots(q: { from: number; to: number; slotMs: number }): number[] {
    return this.db
      .prepare(
        `SELECT DISTINCT (ts - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS slot FROM readings
         WHERE series IN (SELECT id FROM series WHERE measurement = 'status' AND device = '' AND tag = 'heartbeat')
         AND ts >= ? AND ts < ? ORDER BY slot`,
      )
      .pluck()
      .all(q.from, q.slotMs, q.from, q.to) as number[];
  }

  lastGoodTs(q: { device: string; to: number }): number | undefined {
    const v = this.db
      .prepare(
        `SELECT max((SELECT ts FROM readings r WHERE r.series = s.id AND r.ts < ? AND r.quality < 2 ORDER BY r.ts DESC LIMIT 1))
         FROM series s WHERE s.measurement = 'data' AND s.device = ?`,
      )
      .pluck()
      .get(q.to, q.device) as number | null;
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
   * sit after the first recent chunk are then found per series through the (series, ts) index.
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
      // late rows with old timestamps after the walk stopped: per series, through the index
      const ids = this.db.prepare('SELECT id FROM series').pluck().all() as number[];
      const anyOld = this.db.prepare('SELECT 1 FROM readings WHERE series = ? AND ts < ? LIMIT 1').pluck();
      const unfwdStmt = this.db.prepare('SELECT count(*) FROM (SELECT seq FROM readings WHERE series = ? AND ts < ? LIMIT ?) WHERE seq > ?').pluck();
      const del = this.db.prepare('DELETE FROM readings WHERE seq IN (SELECT seq FROM readings WHERE series = ? AND ts < ? LIMIT ?)');
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
        `SELECT min((SELECT ts FROM readings WHERE series = s.id ORDER BY ts ASC LIMIT 1)) AS oldest,
                max((SELECT ts FROM readings WHERE series = s.id ORDER BY ts DESC LIMIT 1)) AS newest FROM series s`,
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
