/**
 * The forwarder DECIDES (the writer only classifies each answer): it drains the store into InfluxDB
 * in seq order, two streams (readings, audit) with their own cursors, and moves a cursor only past rows InfluxDB
 * accepted (2xx) or that went to the dead-letter table. A crash or an outage therefore replays and
 * never loses; InfluxDB keeps one point per series and timestamp, so a replay does not duplicate.
 *
 * What each answer of the writer leads to:
 * - ok: the cursor advances.
 * - partial (400): the batch is bisected (writes are idempotent) down to the single rejected lines,
 *   which go to the dead-letter table (source 'influx', reason 'INFLUX_400', detail = InfluxDB's
 *   message, payload = the line); the cursor moves past them.
 * - too-large (413): split in halves; a single line still too large is dead-lettered (INFLUX_413).
 * - auth (401/403): hold (state 'auth-hold'), one error log line (the alarm), try again every
 *   holdRetryInterval; nothing is lost meanwhile, the store keeps buffering.
 * - db-missing: CREATE DATABASE when createDatabase allows it, then at once again; else hold.
 * - retry (429, 5xx, network, timeout): capped, jittered exponential backoff (config/backoff.ts),
 *   never sooner than Retry-After.
 * One log line when an outage starts and one when it ends, with counts; counters for the rest.
 *
 * Batching without a knob: one write at a time, and the next goes as soon as the previous has
 * returned, carrying whatever has been committed meanwhile (up to `batchSize` lines; more goes in the
 * following writes at once). The store's onCommit wakes the forwarder on every commit, so at low load
 * a reading leaves within one commit plus one write, and under load batches grow by themselves while
 * a write is in flight. `flushInterval` is only the upper bound: the longest a committed reading
 * waits when nothing else triggers a send (a store without onCommit, rows that arrived without a
 * notification, such as a salvage); it is checked at least that often. flushed() and stop() drain
 * at once.
 */
import type { Logger } from 'pino';
import { Backoff } from '../config/backoff.js';
import { systemClock, type Clock, type TimerHandle } from '../config/clock.js';
import { ErrorCodes, GatewayError, errorText } from '../config/errors.js';
import { redactUrl } from '../config/redact.js';
import { InfluxWriter, type Precision } from './influx-writer.js';
import { AUDIT_PRECISION, LineFormatter, READINGS_PRECISION, type Line } from './line-protocol.js';
import type { InfluxConfig } from './schema.js';
import type { ForwardStore, SinkStore } from './types.js';

/** the abort reason that wakes the loop */
const WAKE = Symbol('wake');

/** readings read and formatted per turn of the event loop */
const READ_CHUNK = 10_000;

export type ForwarderState = 'idle' | 'ok' | 'retrying' | 'auth-hold' | 'stopped';

export interface ForwarderStats {
  state: ForwarderState;
  /** readings not yet acknowledged by InfluxDB */
  backlog: number;
  /** age of the oldest unforwarded reading, ms (0 when none) */
  lagMs: number;
  lastError?: string;
  /** latency of the last successful write request, ms */
  lastWriteMs?: number;
  /** field values (readings) InfluxDB acknowledged */
  written: number;
  /** lines put in the dead-letter table */
  deadLettered: number;
  /** successful write requests */
  batches: number;
  /** audit records InfluxDB acknowledged */
  auditsWritten: number;
  /** failed write requests (any reason) */
  failures: number;
}

export interface ForwarderOptions {
  store: ForwardStore & Pick<SinkStore, 'deadLetter'>;
  config: InfluxConfig;
  gateway: { id: string; site?: string | undefined };
  deviceMeta: (device: string) => { line?: string | undefined; process?: string | undefined };
  clock?: Clock;
  log?: Logger;
  /** injectable for tests; default: a writer for `config` */
  writer?: InfluxWriter;
  /** random source of the backoff jitter (tests) */
  random?: () => number;
}

type Stream = 'readings' | 'audit';

const BACKOFF_BASE_MS = 500;

export class Forwarder {
  private readonly store: ForwardStore & Pick<SinkStore, 'deadLetter'>;
  private readonly cfg: InfluxConfig;
  private readonly clock: Clock;
  private readonly log?: Logger;
  private readonly writer: InfluxWriter;
  private readonly fmt: LineFormatter;
  private readonly backoff: Backoff;

  private state: ForwarderState = 'idle';
  private lastError?: string;
  private lastWriteMs?: number;
  private written = 0;
  private auditsWritten = 0;
  private deadLettered = 0;
  private batches = 0;
  private failures = 0;

  private readonly cursor: Record<Stream, number> = { readings: 0, audit: 0 };
  /** rows per line seen in the last readings batch, to size the next read */
  private rowsPerLine = 1;
  private committed = 0;
  private lastFlush = 0;
  private flushRequested = false;
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];

  private loop?: Promise<void>;
  private unsubscribe?: () => void;
  private stopping = false;
  private wake = new AbortController();
  private readonly hard = new AbortController();
  private deadlineTimer?: TimerHandle;
  private outage?: { since: number; kind: string; attempts: number };

  constructor(opts: ForwarderOptions) {
    this.store = opts.store;
    this.cfg = opts.config;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
    this.writer = opts.writer ?? new InfluxWriter(opts.config, { clock: this.clock });
    this.fmt = new LineFormatter({ measurement: opts.config.measurement, gateway: opts.gateway, deviceMeta: opts.deviceMeta });
    this.backoff = new Backoff({ baseMs: BACKOFF_BASE_MS, capMs: Math.max(BACKOFF_BASE_MS, opts.config.maxBackoff), random: opts.random });
  }

  start(): void {
    if (this.loop || this.stopping) return;
    this.cursor.readings = this.store.getCursor('readings');
    this.cursor.audit = this.store.getCursor('audit');
    this.lastFlush = this.clock.now();
    this.unsubscribe = this.store.onCommit?.((n) => {
      this.committed += n;
      // wakes a sleeping loop; while a write is in flight the loop sees `committed` when it returns
      this.kick();
    });
    this.loop = this.run().catch((e) => {
      // the loop catches everything itself; this is the last line of defence
      this.lastError = errorText(e);
      this.log?.error({ err: this.lastError }, 'forwarder loop failed');
    });
  }

  /**
   * Stops after flushing what it can within `timeoutMs` (default 5 s): pending rows are sent at once,
   * retries continue until the deadline, then the request in flight is aborted. What is not sent
   * stays in the store and goes at the next start. Never rejects.
   */
  async stop(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.stopping) {
      await this.loop;
      return;
    }
    this.stopping = true;
    if (this.loop) {
      this.deadlineTimer = this.clock.setTimeout(() => this.hard.abort(), opts.timeoutMs ?? 5000);
      this.kick();
      await this.loop;
      this.clock.clearTimeout(this.deadlineTimer);
    }
    this.unsubscribe?.();
    this.state = 'stopped';
    const waiters = this.waiters.splice(0);
    const empty = this.loop ? this.isEmpty() : false;
    for (const w of waiters) {
      if (empty) w.resolve();
      else w.reject(new GatewayError(ErrorCodes.INFLUX, 'the forwarder stopped before everything was forwarded'));
    }
  }

  /** Resolves when both streams are fully forwarded (sends at once rather than at flushInterval). */
  flushed(): Promise<void> {
    if (this.loop && this.isEmpty()) return Promise.resolve();
    if (this.state === 'stopped') return Promise.reject(new GatewayError(ErrorCodes.INFLUX, 'the forwarder is stopped'));
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.flushRequested = true;
      this.kick();
    });
  }

  /** forget the cached tag sets (call after a reload changed a device's line or process) */
  deviceMetaChanged(): void {
    this.fmt.clear();
  }

  stats(): ForwarderStats {
    let backlog = 0;
    let lagMs = 0;
    try {
      backlog = this.store.backlog('readings');
      const first = this.store.readForward('readings', this.cursor.readings, 1)[0];
      if (first) lagMs = Math.max(0, this.clock.now() - first.ts);
    } catch {
      /* the store is closed */
    }
    const s: ForwarderStats = {
      state: this.state,
      backlog,
      lagMs,
      written: this.written,
      deadLettered: this.deadLettered,
      batches: this.batches,
      auditsWritten: this.auditsWritten,
      failures: this.failures,
    };
    if (this.lastError !== undefined) s.lastError = this.lastError;
    if (this.lastWriteMs !== undefined) s.lastWriteMs = this.lastWriteMs;
    return s;
  }

  // ---------------------------------------------------------------- the loop

  /** rows that make a full batch of lines (several rows merge into one line) */
  private fullRows(): number {
    return Math.ceil(this.cfg.batchSize * this.rowsPerLine);
  }

  private kick(): void {
    // a reason of our own: abort() would otherwise build a DOMException on every commit
    if (!this.wake.signal.aborted) this.wake.abort(WAKE);
  }

  private isEmpty(): boolean {
    return this.store.readForward('readings', this.cursor.readings, 1).length === 0 && this.store.readForward('audit', this.cursor.audit, 1).length === 0;
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.hard.signal.aborted) break;
      // a pass that began before stop() was called may have missed rows committed during it:
      // the loop ends only after a complete pass that began while stopping
      const stoppingAtStart = this.stopping;
      const now = this.clock.now();
      const timeDue = now - this.lastFlush >= this.cfg.flushInterval;
      // anything committed since the last pass goes now, however little: no waiting for a batch to fill
      const force = timeDue || this.stopping || this.flushRequested || this.waiters.length > 0 || this.committed > 0;
      let complete = true;
      if (force) {
        this.committed = 0;
        this.flushRequested = false;
        try {
          complete = (await this.drain('readings', force)) && (await this.drain('audit', force));
        } catch (e) {
          // a store error (closed, disk): note it and try again later
          complete = false;
          this.lastError = errorText(e);
          this.log?.error({ err: this.lastError }, 'forwarder cannot read the store');
          await this.clock.sleep(this.cfg.holdRetryInterval, this.hard.signal);
        }
        this.lastFlush = this.clock.now();
        if (complete && this.waiters.length > 0 && this.isEmpty()) for (const w of this.waiters.splice(0)) w.resolve();
      }
      if (this.stopping && (stoppingAtStart || !complete)) break;
      if (this.stopping) continue;
      if (this.wake.signal.aborted) this.wake = new AbortController();
      if (this.committed > 0 || this.flushRequested || this.waiters.length > 0) continue;
      const wait = Math.max(1, this.lastFlush + this.cfg.flushInterval - this.clock.now());
      await this.clock.sleep(wait, this.wake.signal);
    }
  }

  /**
   * Sends the stream's rows after its cursor: full batches always, the remainder too when `force`.
   * Returns false when stopped before the end.
   */
  private async drain(stream: Stream, force: boolean): Promise<boolean> {
    const batchSize = this.cfg.batchSize;
    for (;;) {
      if (this.hard.signal.aborted) return false;
      const limit = stream === 'readings' ? this.fullRows() : batchSize;
      let lines: Line[];
      let endSeq: number;
      let rowCount: number;
      let readFull = false;
      if (stream === 'readings') {
        const read = await this.readReadings(limit);
        ({ lines, rowCount, endSeq } = read);
        if (rowCount === 0) return true;
        readFull = read.full;
        if (lines.length > 0) this.rowsPerLine = Math.min(16, Math.max(1, rowCount / lines.length));
      } else {
        const rows = this.store.readForward('audit', this.cursor.audit, limit);
        rowCount = rows.length;
        if (rowCount === 0) return true;
        lines = this.fmt.audits(rows);
        endSeq = rows[rows.length - 1]!.seq;
        readFull = rowCount >= limit;
      }
      if (lines.length > batchSize) {
        endSeq = lines[batchSize]!.firstSeq - 1;
        lines = lines.slice(0, batchSize);
      }
      const full = lines.length >= batchSize || readFull;
      if (!full && !force) return true;
      if (lines.length > 0) {
        const done = await this.deliver(stream, lines, stream === 'readings' ? READINGS_PRECISION : AUDIT_PRECISION);
        if (!done) return false;
      }
      this.advance(stream, endSeq);
      if (!full) return true;
    }
  }

  /**
   * Reads up to `limit` readings after the cursor and formats them, READ_CHUNK rows at a time with a
   * turn of the event loop between chunks, so a full batch (up to 80,000 rows) never holds the loop
   * long enough to delay device polls. A point that continues past a chunk is left whole for the
   * next read.
   */
  private async readReadings(limit: number): Promise<{ lines: Line[]; rowCount: number; endSeq: number; full: boolean }> {
    const lines: Line[] = [];
    let after = this.cursor.readings;
    let rowCount = 0;
    let full = false;
    for (;;) {
      const want = Math.min(READ_CHUNK, limit - rowCount);
      // one row more than wanted tells whether the chunk's last point continues after it
      const rows = this.store.readForward('readings', after, want + 1);
      if (rows.length === 0) break;
      const next = rows.length > want ? rows.pop() : undefined;
      const chunk = this.fmt.readings(rows);
      const end = rows[rows.length - 1]!;
      const reachedLimit = next !== undefined && rowCount + rows.length >= limit;
      let used = rows.length;
      let last = end.seq;
      if (next !== undefined && LineFormatter.samePoint(end, next) && chunk.length > 1) {
        // the open point is left for the next read, which starts at its first row
        const open = chunk.pop()!;
        last = open.firstSeq - 1;
        used = rows.findIndex((r) => r.seq >= open.firstSeq);
      }
      for (const l of chunk) lines.push(l);
      rowCount += used;
      after = last;
      full = reachedLimit;
      if (next === undefined || full || lines.length >= this.cfg.batchSize) break;
      await new Promise((r) => setImmediate(r));
    }
    return { lines, rowCount, endSeq: after, full };
  }

  /**
   * Moves the cursor past what InfluxDB accepted. Saving it never holds the forwarder: should the
   * store fail to save it (it writes cursors into its reserve, so a full disk does not), the cursor
   * in memory goes on, the store still frees the readings behind it, and a later move saves it; the
   * store logs the failure once. Only a crash before then would send those readings again.
   */
  private advance(stream: Stream, seq: number): void {
    if (seq <= this.cursor[stream]) return;
    this.cursor[stream] = seq;
    try {
      this.store.setCursor(stream, seq);
    } catch {
      /* logged by the store, once per episode */
    }
  }

  /** Delivers lines (bisecting on 400/413); true when each line was accepted or dead-lettered. */
  private async deliver(stream: Stream, lines: Line[], precision: Precision): Promise<boolean> {
    for (;;) {
      if (this.hard.signal.aborted) return false;
      const t0 = this.clock.now();
      const res = await this.writer.write(lines.map((l) => l.text).join('\n'), { precision, signal: this.hard.signal });
      if (this.hard.signal.aborted && res.kind !== 'ok') return false;
      switch (res.kind) {
        case 'ok': {
          this.lastWriteMs = this.clock.now() - t0;
          this.batches++;
          let n = 0;
          for (const l of lines) n += l.fields;
          if (stream === 'readings') this.written += n;
          else this.auditsWritten += n;
          this.recovered();
          this.advance(stream, lines[lines.length - 1]!.lastSeq);
          return true;
        }
        case 'partial':
        case 'too-large': {
          this.failures++;
          if (lines.length === 1) {
            const line = lines[0]!;
            const reason = res.kind === 'partial' ? 'INFLUX_400' : 'INFLUX_413';
            const detail = res.message || (res.kind === 'too-large' ? 'request entity too large' : 'rejected');
            this.store.deadLetter({
              ts: this.clock.now(),
              source: 'influx',
              ...(line.device ? { device: line.device } : {}),
              reason,
              detail,
              payload: line.text,
            });
            this.deadLettered++;
            this.lastError = `${reason}: ${detail}`;
            if (this.deadLettered === 1 || this.deadLettered % 1000 === 0) {
              this.log?.warn({ reason, detail, deadLettered: this.deadLettered }, 'InfluxDB rejected a line: kept in the dead-letter table');
            }
            this.advance(stream, line.lastSeq);
            return true;
          }
          const mid = Math.ceil(lines.length / 2);
          if (!(await this.deliver(stream, lines.slice(0, mid), precision))) return false;
          return this.deliver(stream, lines.slice(mid), precision);
        }
        case 'auth':
          this.failures++;
          this.failed('auth-hold', `InfluxDB refused the credentials (HTTP ${res.status})${res.message ? `: ${res.message}` : ''}`);
          await this.clock.sleep(this.cfg.holdRetryInterval, this.hard.signal);
          continue;
        case 'db-missing':
          this.failures++;
          if (this.cfg.createDatabase) {
            try {
              await this.writer.createDatabase();
              this.log?.info({ database: this.cfg.database }, 'created the InfluxDB database');
              continue;
            } catch (e) {
              this.failed('retrying', `${res.message}; ${errorText(e)}`);
            }
          } else this.failed('retrying', `${res.message} (createDatabase is false)`);
          await this.clock.sleep(this.cfg.holdRetryInterval, this.hard.signal);
          continue;
        case 'retry': {
          this.failures++;
          this.failed('retrying', res.reason);
          const delay = Math.max(res.retryAfterMs ?? 0, this.backoff.next());
          await this.clock.sleep(delay, this.hard.signal);
          continue;
        }
      }
    }
  }

  /** notes a failure; logs once per outage (and again if its kind changes) */
  private failed(state: 'retrying' | 'auth-hold', reason: string): void {
    this.state = state;
    this.lastError = reason;
    if (!this.outage || this.outage.kind !== state) {
      this.outage = { since: this.outage?.since ?? this.clock.now(), kind: state, attempts: (this.outage?.attempts ?? 0) + 1 };
      const fields = { err: reason, url: redactUrl(this.cfg.url), database: this.cfg.database };
      if (state === 'auth-hold') this.log?.error({ ...fields, alarm: 'INFLUX_AUTH' }, 'InfluxDB refused the credentials: holding, data stays in the store');
      else this.log?.warn(fields, 'InfluxDB unavailable: retrying with backoff, data stays in the store');
    } else this.outage.attempts++;
  }

  private recovered(): void {
    this.state = 'ok';
    this.backoff.reset();
    if (this.outage) {
      this.log?.info({ downMs: this.clock.now() - this.outage.since, attempts: this.outage.attempts }, 'InfluxDB writes resumed');
      this.outage = undefined;
    }
  }
}
