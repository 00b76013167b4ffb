/**
 * The group commit: the queue, its pacing, the insert transaction and the series and device id caches.
 *
 * Writes are group-committed: write() queues and one transaction commits everything queued on the
 * next turn of the event loop, or a little later under load (scheduleFlush), or at once past
 * `commitRows`; the promises resolve after COMMIT.
 * With WAL + synchronous=NORMAL a committed row survives a process crash (SIGKILL); a power cut may
 * lose the last few hundred ms, which is SQLite's documented trade-off for this mode.
 */
import type { FieldKind, Reading } from '../../adapters/types.js';
import { ErrorCodes, GatewayError, errorText } from '../../config/errors.js';
import { isCorruption } from '../damage.js';
import { TIE_LIMIT, TIE_OVERFLOW } from '../tie-break.js';
import type { Measurement, WriteOptions } from '../types.js';
import { MIN_BYTES_PER_READING, QUALITY_CODE, type SeriesInfo, devKey, seriesKey, isDiskFull } from './rows.js';
import { type PointBuilder, entryOf, pointWriter } from './points.js';
import type { StoreState, Parts } from './state.js';

/** commits smaller than this are not paced: a writer that awaits each small write keeps its latency */
const PACE_FROM_ROWS = 2000;

export type Batch = { measurement: Measurement; readings: readonly Reading[]; retried: boolean };
export type Waiter = { resolve: () => void; reject: (e: unknown) => void };

export class CommitPart {
  private readonly devByKey = new Map<string, number>();
  /** seriesId's cache: per (measurement, device), tag → the series of the kind last seen */
  private readonly tagsByDev = new Map<string, Map<string, { kind: FieldKind; id: number }>>();
  private runTags: Map<string, { kind: FieldKind; id: number }> | undefined;
  /** the highest series id read from the table (refresh reads those after it) */
  private maxSeriesId = 0;
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

  constructor(
    private readonly s: StoreState,
    private readonly p: Parts,
  ) {}

  makeInsertTx() {
    const st = this.s.st;
    return this.s.db.transaction((batches: readonly Batch[], rejected: Reading[]) => {
      // another connection (fgw store salvage) may have written readings since our last commit:
      // its seqs and ties are read afresh (inside this write lock, so none can slip in between)
      const dv = Number(st.dataVersion.get());
      if (dv !== this.s.dataVersion) {
        this.p.open.loadSeq();
        this.loadCaches();
      }
      let n = 0;
      const points = this.pointBuilder();
      for (const b of batches) {
        for (const r of b.readings) {
          // one malformed reading must not fail the whole group commit (other devices' rows)
          if (typeof r.ts !== 'number' || !Number.isFinite(r.ts) || typeof r.device !== 'string' || typeof r.tag !== 'string') {
            rejected.push(r);
            continue;
          }
          const kind = typeof r.kind === 'string' ? r.kind : 'float';
          const sid = this.seriesId(b.measurement, r.device, r.tag, kind);
          const dev = this.s.seriesById.get(sid)!.dev;
          let quality = QUALITY_CODE[r.quality] ?? 2;
          let error = typeof r.error === 'string' ? r.error : null;
          const seq = this.s.nextSeq++;
          const ts = Math.trunc(r.ts);
          const tie = this.s.ties.next(sid, dev, ts);
          if (tie >= TIE_LIMIT && quality < 2) {
            quality = 2;
            error = TIE_OVERFLOW;
          }
          points.add(seq, dev, ts, sid, entryOf(kind, r.value, quality, error, tie));
          n++;
        }
        // a point is the readings of one write
        points.end();
      }
      if (points.points > 0) this.s.perPoint = 0.8 * this.s.perPoint + (0.2 * n) / points.points;
      st.addMeta.run(n, 'count:readings');
      st.setMeta.run('seq:readings', this.s.nextSeq - 1);
      return n;
    });
  }

  /** points into the table (their shapes created as needed), inside the caller's transaction */
  pointBuilder(): PointBuilder {
    return pointWriter(this.s.db, this.s.shapes, this.s.st);
  }

  /**
   * The series id of a reading, created when new. Cached per (measurement, device) as tag → the
   * series of the kind last seen; the readings of one poll come together, so the device's map is
   * looked up once per run of readings and each reading costs one Map lookup by tag. A tag whose
   * kind changed misses and is found (or created) in the table.
   */
  seriesId(measurement: Measurement, device: string, tag: string, kind: FieldKind): number {
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
    const found = this.s.st.findSeries.get(measurement, device, tag, kind) as { id: number; dev: number } | undefined;
    const dev = found?.dev ?? this.devId(measurement, device, true)!;
    const id = found?.id ?? Number(this.s.st.insertSeries.run(measurement, device, tag, kind, dev).lastInsertRowid);
    if (this.s.carriedTies.size > 0) {
      const carried = this.s.carriedTies.get(seriesKey(measurement, device, tag, kind));
      if (carried !== undefined) this.s.ties.floor(id, carried);
    }
    if (!found) this.s.ties.created(id);
    // cached at once: a rolled-back transaction clears the whole cache (see flush)
    this.runTags.set(tag, { kind, id });
    this.s.seriesById.set(id, { measurement, device, tag, kind, dev });
    return id;
  }

  /** The devices-table id of (measurement, device); created when `create`, else undefined if unknown. */
  devId(measurement: Measurement, device: string, create = false): number | undefined {
    const key = devKey(measurement, device);
    const hit = this.devByKey.get(key);
    if (hit !== undefined) return hit;
    let id = this.s.st.findDev.get(measurement, device) as number | undefined;
    if (id === undefined && create) id = Number(this.s.st.insertDev.run(measurement, device).lastInsertRowid);
    if (id !== undefined) {
      this.devByKey.set(key, id);
      if (measurement === 'data') this.s.dataDevById.set(id, device);
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
    if (this.s.closed) return Promise.reject(new GatewayError(ErrorCodes.STORE, 'the store is closed'));
    if (readings.length === 0) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    // pollers need not await write(): a failed commit is logged here, and must not become an
    // unhandled rejection that takes the whole gateway down; those who await still see it
    p.catch(() => undefined);
    this.pending.push({ measurement, readings, retried });
    this.pendingRows += readings.length;
    if (this.pendingRows >= this.s.commitRows) this.flush();
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
    const wait = Math.max(this.s.commitIntervalMs, paced);
    if (wait < 1) setImmediate(() => this.flush());
    else this.flushTimer = setTimeout(() => this.flush(), wait);
  }

  /** Commits everything queued in one transaction, then settles the writers' promises. */
  flush(): void {
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
      const room = this.p.room.admit(rows);
      if (room !== undefined) return this.p.room.refuse(batches, waiters, room.limit, undefined);
      usedBefore = this.p.room.usedBytes();
      n = this.s.insertTx.immediate(batches, rejected);
      this.lastCommitMs = performance.now() - t0;
      this.lastCommitRows = n;
    } catch (e) {
      if (isCorruption(e) && this.s.onDamage === 'move-aside' && !this.s.closed) {
        // the commit goes into the fresh file: nothing is lost (the caches are rebuilt for it, after
        // the tie cache is carried over by name: see replaceDamaged)
        this.pending.unshift(...batches);
        this.waiters.unshift(...waiters);
        for (const b of batches) this.pendingRows += b.readings.length;
        this.p.open.replaceDamaged(errorText(e));
        this.scheduleFlush();
        return;
      }
      this.reloadSeriesCache();
      if (isDiskFull(e)) {
        // the disk filled under us (another program, or a commit larger than estimated)
        this.s.releaseReserveFile();
        return this.p.room.refuse(batches, waiters, 'disk', e);
      }
      return this.p.room.commitFailed(batches, waiters, e);
    }
    this.s.dataVersion = Number(this.s.st.dataVersion.get());
    if (!this.s.leftoversClosed) {
      this.p.room.closeLeftovers();
      // the reserve file is made by the process that writes readings (not by a tool that only reads)
      this.p.room.restoreReserve();
    }
    if (n >= 500) {
      const grown = this.p.room.usedBytes() - usedBefore;
      if (grown > 0) this.s.bytesPerRow = Math.max(MIN_BYTES_PER_READING, Math.min(1000, 0.8 * this.s.bytesPerRow + (0.2 * grown) / n));
    }
    if (this.s.failing) this.p.room.failingEnded();
    for (const w of waiters) w.resolve();
    if (rejected.length > 0) {
      for (const r of rejected.slice(0, 100)) {
        let payload: string;
        try {
          payload = JSON.stringify(r);
        } catch {
          payload = String(r);
        }
        this.p.audit.deadLetter({
          ts: this.s.clock.now(),
          source: 'store',
          ...(typeof r.device === 'string' ? { device: r.device } : {}),
          reason: 'BAD_READING',
          detail: 'no valid ts, device or tag',
          payload,
        });
      }
      this.s.log?.warn({ rejected: rejected.length }, 'malformed readings kept in the dead-letter table');
    }
    for (const l of this.s.listeners) {
      try {
        l(n);
      } catch {
        /* a listener never breaks a commit */
      }
    }
  }

  reloadSeriesCache(): void {
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
  loadCaches(): void {
    this.s.ties.clear();
    this.s.seriesById.clear();
    this.maxSeriesId = 0;
    this.devByKey.clear();
    this.s.dataDevById.clear();
    this.tagsByDev.clear();
    this.runTags = undefined;
    for (const d of this.s.db.prepare('SELECT id, measurement, device FROM devices').all() as Array<{ id: number; measurement: Measurement; device: string }>) {
      this.devByKey.set(devKey(d.measurement, d.device), d.id);
      if (d.measurement === 'data') this.s.dataDevById.set(d.id, d.device);
    }
    for (const s of this.s.db.prepare('SELECT id, measurement, device, tag, kind, dev FROM series').all() as Array<SeriesInfo & { id: number }>) {
      this.s.seriesById.set(s.id, { measurement: s.measurement, device: s.device, tag: s.tag, kind: s.kind, dev: s.dev });
      if (s.id > this.maxSeriesId) this.maxSeriesId = s.id;
    }
    this.s.shapes.clear();
    this.s.shapes.load(this.s.db);
  }

  /**
   * The series and shapes another connection added since the caches were read (the runtime writing
   * while `fgw query` reads): readers call this before they decode points.
   */
  refresh(): void {
    const rows = this.s.db.prepare('SELECT id, measurement, device, tag, kind, dev FROM series WHERE id > ?').all(this.maxSeriesId) as Array<
      SeriesInfo & { id: number }
    >;
    for (const s of rows) {
      if (!this.s.seriesById.has(s.id)) this.s.seriesById.set(s.id, { measurement: s.measurement, device: s.device, tag: s.tag, kind: s.kind, dev: s.dev });
      if (s.id > this.maxSeriesId) this.maxSeriesId = s.id;
    }
    this.s.shapes.load(this.s.db);
  }

  onCommit(listener: (rows: number) => void): () => void {
    this.s.listeners.add(listener);
    return () => this.s.listeners.delete(listener);
  }
}
