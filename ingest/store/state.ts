/**
 * The state the store's parts share (index.ts composes them), the options and the file names.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { systemClock, type Clock, type TimerHandle } from '../../config/clock.js';
import { fileSize, releaseReserve, type DiskPlan } from '../disk.js';
import { LossLedger, type LossBatch } from '../losses.js';
import { TieBreaker, type TieState } from '../tie-break.js';
import type { StoreFull } from '../types.js';
import { DEAD_LETTER_BYTES, AUDIT_BYTES, type SeriesInfo, isDiskFull } from './rows.js';
import { POINT_COLUMNS, Shapes, afterCursorSql, preparePointWrites } from './points.js';
import { exceptionsOf } from './point-codec.js';
import type { AuditPart } from './audit.js';
import type { CommitPart } from './commit.js';
import type { ForwardPart } from './forward.js';
import type { HistoryPart } from './history.js';
import type { LimitsPart } from './limits.js';
import type { OpenPart } from './open.js';
import type { RoomPart } from './room.js';
import type { SalvagePart } from './salvage.js';
import type { SlotsPart } from './slots.js';

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

/** The parts of the store (ingest/store/*.ts), each given the shared state and the others. */
export interface Parts {
  open: OpenPart;
  commit: CommitPart;
  room: RoomPart;
  audit: AuditPart;
  history: HistoryPart;
  slots: SlotsPart;
  forward: ForwardPart;
  salvage: SalvagePart;
  limits: LimitsPart;
}

/**
 * What the parts share: the options, the open connection and its prepared statements, the caches,
 * the seq high-water mark, the cursors, the counters and the episodes. A plain record with the few
 * helpers every part needs (system writes, meta counters).
 */
export class StoreState {
  // the options
  readonly dir: string;
  readonly file: string;
  readonly reservePath: string;
  readonly clock: Clock;
  readonly log?: Logger;
  readonly maxSizeBytes: number;
  readonly retentionMs: number;
  readonly commitIntervalMs: number;
  commitRows: number;
  readonly limitsIntervalMs: number;
  readonly busyTimeoutMs: number;
  readonly shares: { deadLetters: number; audit: number };
  readonly onDamage: 'move-aside' | 'refuse';
  readonly backgroundCheck: boolean;

  // the open connection and what depends on it (open.ts setUp)
  db!: Database.Database;
  st!: ReturnType<StoreState['prepare']>;
  insertTx!: ReturnType<CommitPart['makeInsertTx']>;
  ledger!: LossLedger;
  plan!: DiskPlan;
  pageSize = 4096;
  walCheckpointPages = 0;
  /** PRAGMA data_version after our last commit: another connection's writes change it */
  dataVersion = 0;
  checker?: { stop(): void };
  closed = false;
  limitsTimer?: TimerHandle;

  // the caches (commit.ts)
  readonly seriesById = new Map<number, SeriesInfo>();
  /** devices-table id → device name, for the 'data' measurement (the loss ledger's names) */
  readonly dataDevById = new Map<number, string>();
  /**
   * one InfluxDB point per reading: the per-series tie of readings sharing a ms (tie-break.ts);
   * its lookups go to whichever file is open
   */
  readonly ties = new TieBreaker({
    newestTs: (series) => this.newestTs(series),
    maxTie: (dev, series, ts) => this.maxTie(dev, series, ts),
  });
  /** the shapes of the points (points.ts), kinds from the series cache */
  readonly shapes = new Shapes(
    (series) => this.seriesById.get(series)?.kind,
    (series) => this.seriesById.get(series)?.dev,
  );
  /** readings per point, as committed lately (sizes the chunks the limits delete, which go by points) */
  perPoint = 1;
  /**
   * per series key (seriesKey): its newest ms and last tie in the files replaced in place, which
   * the fresh file must continue (InfluxDB has those points); set on the TieBreaker as floors
   * whenever seriesId meets the series after the caches were rebuilt
   */
  readonly carriedTies = new Map<string, TieState>();

  // seqs and cursors
  /** the seq the next reading gets (high-water mark + 1; never reused) */
  nextSeq = 1;
  /** the newest audit seq, carried into a fresh file when a damaged one is replaced */
  lastAuditSeq = 0;
  /** cursors as last read or set (the store frees forwarded readings by them even when saving one failed) */
  readonly cursors = { readings: 0, audit: 0 };
  /** other consumers' cursors (north:<name>) as last set, carried over when a damaged file is replaced */
  readonly named = new Map<string, number>();
  /** whether a forwarder drains this store (the option, or since a cursor was read or set) */
  forwarding: boolean;
  /** onCommit's listeners */
  readonly listeners = new Set<(rows: number) => void>();

  // room and the episodes (room.ts)
  /** bytes a reading takes on disk (estimated from commits; sizes the room a commit needs) */
  bytesPerRow = 80;
  full?: StoreFull & { unrecordedLogged?: boolean };
  /** the size limit is dropping unforwarded readings to make room (a 'maxSize' full episode) */
  ring?: { since: number; dropped: number; lastDropAt: number };
  failing?: { since: number; error: string; refused: number };
  /** refused readings not yet in the ledger (its write found no room either); tried again at each refusal and when room returns */
  readonly unrecorded: LossBatch = new Map();
  /** whether the episodes an earlier process left open (a crash) have been closed */
  leftoversClosed = false;

  // the junk tables (audit.ts) and the limits pass
  /** bytes the junk tables hold (their rows' text), summed at open, kept as rows come and go */
  readonly junkBytes = { deadLetters: 0, audit: 0 };
  junkSummedAt = 0;
  /** drops since the last limits pass, logged there in one line */
  dropSummary = { forwarded: 0, unforwarded: 0, deadLetters: 0, audits: 0 };

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
  }

  prepare() {
    const db = this.db;
    return {
      ...preparePointWrites(db),

      pointsAt: db.prepare('SELECT shape, vals FROM points WHERE dev = ? AND ts = ?').raw(),
      findSeries: db.prepare('SELECT id, dev FROM series WHERE measurement = ? AND device = ? AND tag = ? AND kind = ?'),
      insertSeries: db.prepare('INSERT INTO series(measurement, device, tag, kind, dev) VALUES (?, ?, ?, ?, ?)'),
      findDev: db.prepare('SELECT id FROM devices WHERE measurement = ? AND device = ?').pluck(),
      insertDev: db.prepare('INSERT INTO devices(measurement, device) VALUES (?, ?)'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      addMeta: db.prepare('UPDATE meta SET value = value + ? WHERE key = ?'),
      forwardPoints: db.prepare(`SELECT ${POINT_COLUMNS} FROM points WHERE seq > ? ORDER BY seq`).raw(),
      /** the point holding seq (or the last before it) */
      pointAt: db.prepare(`SELECT ${POINT_COLUMNS} FROM points WHERE seq <= ? ORDER BY seq DESC LIMIT 1`).raw(),
      forwardAudit: db.prepare('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?'),
      insertAudit: db.prepare(
        'INSERT INTO audit(ts, actor, system, action, route, device, tag, value, result, detail) VALUES (@ts, @actor, @system, @action, @route, @device, @tag, @value, @result, @detail)',
      ),
      insertDeadLetter: db.prepare(
        'INSERT INTO dead_letters(ts, source, device, topic, reason, detail, payload) VALUES (@ts, @source, @device, @topic, @reason, @detail, @payload)',
      ),
      minSeq: db.prepare('SELECT min(seq) FROM points').pluck(),
      /** readings of the points that start after seq */
      countAfter: db.prepare('SELECT coalesce(sum(n), 0) FROM points WHERE seq > ?').pluck(),
      pageCount: db.prepare('PRAGMA page_count').pluck(),
      freelist: db.prepare('PRAGMA freelist_count').pluck(),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      // the oldest readings, for dropping: per device how many InfluxDB never got, and their span
      // (points: `n` counts their readings, the readings after the cursor by afterCursorSql)
      oldestUnforwarded: db
        .prepare(
          `SELECT dev, sum(${afterCursorSql()}) AS n, min(ts) AS lo, max(ts) AS hi FROM (SELECT seq, dev, ts, n FROM points ORDER BY seq LIMIT ?)
           WHERE seq + n - 1 > ? GROUP BY dev`,
        )
        .raw(),
      deleteOldest: db.prepare('DELETE FROM points WHERE seq IN (SELECT seq FROM points ORDER BY seq LIMIT ?) RETURNING n').pluck(),
      /** the oldest points whose readings InfluxDB all has */
      deleteOldestUpTo: db
        .prepare('DELETE FROM points WHERE seq IN (SELECT seq FROM points WHERE seq <= ? ORDER BY seq LIMIT ?) AND seq + n - 1 <= ? RETURNING n')
        .pluck(),
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

  /**
   * Runs a write the store makes for itself (cursor, counters, ledger, alarm): on SQLITE_FULL the
   * reserve file is deleted, which gives it room, and it is tried once more.
   */
  system<T>(fn: () => T): T {
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

  truncateWal(): void {
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      /* busy, or no room to copy pages the database does not have yet */
    }
  }

  releaseReserveFile(): void {
    const freed = releaseReserve(this.reservePath);
    if (freed > 0) this.log?.warn({ freed }, 'disk full: released the store reserve so that cursors, counters and the alarm can be written');
  }

  meta(key: string): number {
    return Number(this.st.getMeta.get(key) ?? 0);
  }

  /** points to take for about `readings` readings (at least one) */
  pointsFor(readings: number): number {
    return Math.max(1, Math.ceil(readings / this.perPoint));
  }

  /** the newest ts of a series: the newest point of the shapes that have it */
  newestTs(series: number): number | undefined {
    const dev = this.seriesById.get(series)?.dev;
    const shapes = this.shapes.having(new Set([series]));
    if (dev === undefined || shapes.length === 0) return undefined;
    const ts = this.db
      .prepare(`SELECT max(ts) FROM newest_points WHERE dev = ? AND shape IN (${shapes.join(',')})`)
      .pluck()
      .get(dev) as number | null;
    return ts ?? undefined;
  }

  /** the highest tie stored at (series, ts), from the points of its device at ts */
  maxTie(dev: number, series: number, ts: number): number | undefined {
    const ties = this.tiesAt(dev, series, ts);
    return ties.size === 0 ? undefined : Math.max(...ties);
  }

  /** the ties stored at (series, ts) */
  tiesAt(dev: number, series: number, ts: number): Set<number> {
    const out = new Set<number>();
    for (const [shapeId, vals] of this.st.pointsAt.all(dev, ts) as Array<[number, Uint8Array]>) {
      const shape = this.shapes.get(shapeId);
      const i = shape?.index.get(series);
      if (shape === undefined || i === undefined) continue;
      let tie = 0;
      for (const x of exceptionsOf(shape.numCount, shape.boolCount, vals)) if (x.index === i) tie = x.tie;
      out.add(tie);
    }
    return out;
  }
}
