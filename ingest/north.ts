/**
 * The northbound publisher's store side: drains the readings stream from its own named cursor
 * (`north:<target>`) into a link (adapters/mqtt/north/ for MQTT: JSON or Sparkplug B), one message
 * per device point (the readings of one poll, or of one MQTT message: same device, ts and tie), and
 * moves the cursor only past messages the link acknowledged (the broker's PUBACK). It knows
 * readings and the store, not the protocol.
 *
 * Two streams run at once, so a backlog never holds live data back:
 * - live: the rows committed after the link came up (`liveFrom`, the store's head then), sent as
 *   soon as they are committed, at most `window` messages awaiting acknowledgement;
 * - replay: the rows from the cursor up to `liveFrom` (what the store kept while the link was
 *   down, or since the last start), in seq order, at most `replayRate` messages per second,
 *   marked historical (Sparkplug `is_historical`).
 * Each stream acknowledges in order (a queue of sent messages; the prefix that is acknowledged
 * moves the stream's position). The cursor is the replay position; once the replay reaches
 * `liveFrom` it follows the live stream. A connection lost mid-replay makes the live range acked
 * so far a range the next replay skips (in memory: after a restart that range is sent again, and
 * the consumer sees duplicates with the same seq). Messages in flight when the link drops are
 * sent again (at least once). The cursor is persisted at most every PERSIST_MS and at stop.
 *
 * Status rows (the gateway's heartbeat and device status) are not published from the store: the
 * link publishes the live state itself. They are skipped, as are the devices and tags the target
 * does not publish.
 */
import type { Logger } from 'pino';
import { Backoff } from '../config/backoff.js';
import { systemClock, type Clock } from '../config/clock.js';
import { errorText } from '../config/errors.js';
import { LineFormatter } from './line-protocol.js';
import type { ForwardStore, StoredReading } from './types.js';

/** One message: the readings of one device point. */
export interface NorthPoint {
  device: string;
  /** ms epoch, as stored */
  ts: number;
  /** the readings' tie (0 for a lone reading at its ms) */
  tie: number;
  /** seq of the point's first reading: the message id a redelivery repeats */
  seq: number;
  readings: ReadonlyArray<Pick<StoredReading, 'tag' | 'kind' | 'value' | 'quality' | 'error'>>;
}

/** The protocol side: publishes points and says when it can. */
export interface NorthLink {
  /** how many messages may await acknowledgement at once now (>= 1) */
  window(): number;
  /**
   * Publishes one point (historical: from the replay); resolves after the broker acknowledged it,
   * rejects when it was not (connection lost, or the broker refused it): it is then sent again,
   * after a backoff when the link stayed up (a broker that refuses holds the target, nothing is
   * skipped).
   */
  publish(point: NorthPoint, historical: boolean): Promise<void>;
}

export interface NorthForwarderOptions {
  store: ForwardStore;
  /** the target's name: the cursor is `north:<name>` */
  name: string;
  link: NorthLink;
  /** replayed messages per second at most */
  replayRate: number;
  /** which readings the target publishes (default all data readings) */
  include?: (device: string, tag: string) => boolean;
  clock?: Clock;
  log?: Logger;
}

export interface NorthForwarderStats {
  /** rows after the cursor not yet acknowledged (approximate while a replay skips acked ranges) */
  backlog: number;
  /** age of the oldest reading not yet acknowledged, ms (0 when none) */
  lagMs: number;
  /** messages the broker acknowledged */
  published: number;
  /** readings in those messages */
  publishedReadings: number;
  /** acknowledged messages per second over the last RATE_WINDOW_S seconds */
  publishRate: number;
  /** a backlog is being replayed */
  replaying: boolean;
  /** messages sent again after the link dropped before their acknowledgement */
  resent: number;
  /** readings retention or maxSize dropped before this target had published them */
  droppedUnpublished: number;
  lastError?: string;
}

/** the abort reason that wakes the loop */
const WAKE = Symbol('wake');

/** how often the cursor is written to the store at most (a crash resends at most this much) */
const PERSIST_MS = 200;
/** rows read per store query */
const READ_ROWS = 2000;
const RATE_WINDOW_S = 10;
/** the replay sends what its rate allowed every TICK_MS at the soonest */
const TICK_MS = 10;

interface Sent {
  /** the stream position once this entry is acknowledged (covers the skipped rows before it) */
  endSeq: number;
  done: boolean;
}

interface Stream {
  /** next read after this seq */
  pos: number;
  /** acknowledged up to here (in order) */
  acked: number;
  queue: Sent[];
  inflight: number;
  /** points read after `pos` and not sent yet */
  ahead: ReadPoint[];
}

const stream = (at: number): Stream => ({ pos: at, acked: at, queue: [], inflight: 0, ahead: [] });

interface ReadPoint {
  point?: NorthPoint;
  endSeq: number;
}

export class NorthForwarder {
  readonly cursorName: string;
  private readonly store: ForwardStore;
  private readonly link: NorthLink;
  private readonly clock: Clock;
  private readonly log?: Logger;
  private readonly include: (device: string, tag: string) => boolean;
  private readonly replayRate: number;

  private up = false;
  /** bumped on every link change: acknowledgements of an older session are ignored */
  private session = 0;
  private liveFrom = 0;
  private live: Stream = stream(0);
  private replay: Stream = stream(0);
  /** a refused publish holds the target until then (backoff) */
  private holdUntil = 0;
  private readonly backoff = new Backoff({ baseMs: 1000, capMs: 30_000 });
  /** the replay has reached liveFrom: the cursor follows the live stream */
  private merged = true;
  /** acked ranges (from, to] inside the replay region, from earlier sessions */
  private skips: Array<{ from: number; to: number }> = [];
  private tokens = 0;
  private tokensAt = 0;
  private persisted = 0;
  private persistTimer: ReturnType<Clock['setTimeout']> | undefined;

  private published = 0;
  private publishedReadings = 0;
  private resent = 0;
  private lastError: string | undefined;
  private readonly rate: number[] = new Array<number>(RATE_WINDOW_S).fill(0);
  private rateSecond = 0;

  private started = false;
  private stopping = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake = new AbortController();
  private unsubscribe: (() => void) | undefined;
  private waiters: Array<{ head: number; resolve: () => void }> = [];

  constructor(opts: NorthForwarderOptions) {
    this.store = opts.store;
    this.cursorName = `north:${opts.name}`;
    this.link = opts.link;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log;
    this.include = opts.include ?? (() => true);
    this.replayRate = Math.max(1, opts.replayRate);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const cursor = this.store.getCursor(this.cursorName);
    this.persisted = cursor;
    this.replay = stream(cursor);
    this.live = stream(cursor);
    // the cursor exists from the first start on, so the limits count what they drop before it
    this.store.setCursor(this.cursorName, cursor);
    this.unsubscribe = this.store.onCommit?.(() => this.kick());
    this.loop = this.run().catch((e: unknown) => {
      this.lastError = errorText(e);
      this.log?.error({ err: this.lastError }, 'northbound publisher loop failed');
    });
  }

  /** The link is connected and ready (Sparkplug: births published): publishing starts or resumes. */
  linkUp(): void {
    if (this.up || this.stopped) return;
    this.up = true;
    this.session++;
    const head = this.store.headSeq();
    const low = this.cursor();
    // the live range acked in the previous session (beyond the cursor) is skipped by this replay
    if (!this.merged && this.live.acked > this.liveFrom) this.addSkip(this.liveFrom, this.live.acked);
    this.liveFrom = Math.max(head, low);
    this.live = stream(this.liveFrom);
    this.replay = stream(low);
    this.merged = false;
    this.skips = this.skips.filter((s) => s.to > low && s.from < this.liveFrom);
    this.tokens = 0;
    this.tokensAt = this.clock.now();
    this.normalize();
    if (!this.merged)
      this.log?.info({ backlogRows: this.liveFrom - low, replayRate: this.replayRate }, 'northbound: replaying the backlog while live data flows');
    this.kick();
  }

  /** The link dropped: whatever awaits acknowledgement is sent again after the next linkUp(). */
  linkDown(error?: string): void {
    if (error) this.lastError = error;
    if (!this.up) return;
    this.up = false;
    this.session++;
    const lost = this.live.inflight + this.replay.inflight;
    if (lost > 0) this.resent += lost;
    for (const st of [this.live, this.replay]) this.rewind(st, true);
    this.persist(true);
  }

  /** Resolves once everything committed before the call is acknowledged. */
  flushed(): Promise<void> {
    const head = this.store.headSeq();
    if (this.cursor() >= head) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ head, resolve });
      this.kick();
    });
  }

  /**
   * Stops: live rows committed before the call are published within `timeoutMs` while the link
   * is up, then the cursor is persisted; the rest goes at the next start. Never rejects.
   */
  async stop(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.stopping) return this.loop;
    this.stopping = true;
    const deadline = this.clock.now() + (opts.timeoutMs ?? 5000);
    const head = this.store.headSeq();
    while (this.up && this.cursorOrLive() < head && this.clock.now() < deadline) {
      this.kick();
      await this.clock.sleep(Math.min(50, Math.max(1, deadline - this.clock.now())));
    }
    this.stopped = true;
    this.kick();
    await this.loop;
    this.unsubscribe?.();
    this.clock.clearTimeout(this.persistTimer);
    this.persist(true);
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  stats(): NorthForwarderStats {
    let backlog = 0;
    let lagMs = 0;
    let dropped = 0;
    try {
      const ahead = this.skips.reduce((n, s) => n + (s.to - s.from), 0) + (this.merged ? 0 : this.live.acked - this.liveFrom);
      backlog = Math.max(0, this.store.backlog(this.cursorName) - ahead);
      const first = this.store.readForward('readings', this.cursor(), 1)[0];
      if (first && backlog > 0) lagMs = Math.max(0, this.clock.now() - first.ts);
      dropped = this.store.droppedUnforwarded(this.cursorName);
    } catch {
      /* the store is closed */
    }
    const s: NorthForwarderStats = {
      backlog,
      lagMs,
      published: this.published,
      publishedReadings: this.publishedReadings,
      publishRate: this.currentRate(),
      replaying: this.up && !this.merged,
      resent: this.resent,
      droppedUnpublished: dropped,
    };
    if (this.lastError !== undefined) s.lastError = this.lastError;
    return s;
  }

  // ---------------------------------------------------------------- the loop

  private kick(): void {
    // a reason of our own: abort() would otherwise build a DOMException on every acknowledgement
    if (!this.wake.signal.aborted) this.wake.abort(WAKE);
  }

  /** the persisted position: everything up to it is acknowledged */
  private cursor(): number {
    return this.merged ? this.live.acked : this.replay.acked;
  }

  /** how far the live stream got (for stop: the replay goes on at the next start) */
  private cursorOrLive(): number {
    return this.merged ? this.live.acked : Math.max(this.live.acked, this.liveFrom);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.wake.signal.aborted) this.wake = new AbortController();
      let waitMs = 1000;
      const held = this.holdUntil - this.clock.now();
      if (held > 0) waitMs = held;
      else if (this.up) {
        try {
          this.fill(this.live, false);
          if (!this.merged && !this.stopping) waitMs = this.fillReplay();
        } catch (e) {
          // a store error (closed, disk): note it and try again later
          this.lastError = errorText(e);
          this.log?.error({ err: this.lastError }, 'northbound publisher cannot read the store');
        }
      }
      this.settleWaiters();
      await this.clock.sleep(waitMs, this.wake.signal);
    }
  }

  /** Publishes what the stream has to send while the window allows; returns the messages sent. */
  private fill(st: Stream, historical: boolean, max = Infinity, until = Infinity): number {
    let sent = 0;
    while (sent < max && this.live.inflight + this.replay.inflight < this.link.window()) {
      if (st.ahead.length === 0) {
        st.ahead = this.readPoints(st.pos, READ_ROWS, until);
        if (st.ahead.length === 0) break;
      }
      const p = st.ahead.shift()!;
      st.pos = p.endSeq;
      const entry: Sent = { endSeq: p.endSeq, done: p.point === undefined };
      st.queue.push(entry);
      if (p.point) {
        sent++;
        this.send(st, entry, p.point, historical);
      } else this.settle(st);
    }
    return sent;
  }

  /** Forgets what was sent and not acknowledged: it goes again from the acknowledged position. */
  private rewind(st: Stream, lost: boolean): void {
    if (lost) st.inflight = 0;
    st.queue = [];
    st.ahead = [];
    st.pos = st.acked;
  }

  /** The replay's turn: rate-limited, up to the next skipped range or liveFrom. Returns how long to wait. */
  private fillReplay(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.replayRate / 10 + 1, this.tokens + ((now - this.tokensAt) * this.replayRate) / 1000);
    this.tokensAt = now;
    const bound = this.skips[0]?.from ?? this.liveFrom;
    if (this.replay.pos >= bound) {
      const skip = this.skips[0];
      if (skip && this.replay.pos >= skip.from) {
        // jump over a range acknowledged before; the cursor follows once the replay is acked up to it
        this.skips.shift();
        this.replay.queue.push({ endSeq: skip.to, done: true });
        this.replay.pos = Math.max(this.replay.pos, skip.to);
        this.settle(this.replay);
        return 0;
      }
      return 1000;
    }
    // a turn at least every TICK_MS sends what accrued meanwhile (not one wake-up per message)
    const n = Math.floor(this.tokens);
    if (n < 1) return Math.max(TICK_MS, Math.ceil(((1 - this.tokens) * 1000) / this.replayRate));
    const sent = this.fill(this.replay, true, n, bound);
    this.tokens -= sent;
    return sent < n ? 1000 : Math.max(TICK_MS, Math.ceil(1000 / this.replayRate));
  }

  private send(st: Stream, entry: Sent, point: NorthPoint, historical: boolean): void {
    const session = this.session;
    st.inflight++;
    this.link.publish(point, historical).then(
      () => {
        if (session !== this.session) return;
        st.inflight--;
        entry.done = true;
        this.published++;
        this.publishedReadings += point.readings.length;
        this.count();
        this.backoff.reset();
        this.settle(st);
        this.kick();
      },
      (e: unknown) => {
        if (session !== this.session) return;
        // not acknowledged: a lost connection comes with linkDown(); a refusal with the link up
        // holds the target (backoff), then this stream goes again from its acknowledged position
        this.lastError = errorText(e);
        st.inflight--;
        this.resent++;
        this.rewind(st, false);
        this.holdUntil = this.clock.now() + this.backoff.next();
        if (this.backoff.failures === 1) this.log?.warn({ err: this.lastError }, 'northbound publish not acknowledged: holding, data stays in the store');
        this.kick();
      },
    );
  }

  /** Pops the acknowledged prefix of a stream's queue and moves its position. */
  private settle(st: Stream): void {
    let moved = false;
    while (st.queue.length > 0 && st.queue[0]!.done) {
      st.acked = st.queue.shift()!.endSeq;
      moved = true;
    }
    if (!moved) return;
    this.normalize();
    this.persist(false);
  }

  /** the replay caught up with liveFrom: the cursor follows the live stream from now on */
  private normalize(): void {
    if (this.merged) return;
    if (this.replay.acked >= this.liveFrom && this.replay.queue.length === 0 && this.skips.length === 0) {
      this.merged = true;
      this.log?.info({ cursor: this.live.acked }, 'northbound: backlog replayed');
    }
  }

  private addSkip(from: number, to: number): void {
    this.skips.push({ from, to });
    this.skips.sort((a, b) => a.from - b.from);
  }

  private persist(now: boolean): void {
    const c = this.cursor();
    if (c === this.persisted) return;
    if (!now) {
      this.persistTimer ??= this.clock.setTimeout(() => {
        this.persistTimer = undefined;
        this.persist(true);
      }, PERSIST_MS);
      return;
    }
    try {
      this.store.setCursor(this.cursorName, c);
      this.persisted = c;
    } catch (e) {
      this.lastError = errorText(e);
    }
  }

  private settleWaiters(): void {
    if (this.waiters.length === 0) return;
    const c = this.cursor();
    this.waiters = this.waiters.filter((w) => {
      if (c < w.head) return true;
      w.resolve();
      return false;
    });
  }

  private count(): void {
    const sec = Math.floor(this.clock.now() / 1000);
    this.advanceRate(sec);
    this.rate[sec % RATE_WINDOW_S]!++;
  }

  private advanceRate(sec: number): void {
    if (sec <= this.rateSecond) return;
    for (let s = Math.max(this.rateSecond + 1, sec - RATE_WINDOW_S + 1); s <= sec; s++) this.rate[s % RATE_WINDOW_S] = 0;
    this.rateSecond = sec;
  }

  private currentRate(): number {
    this.advanceRate(Math.floor(this.clock.now() / 1000));
    return this.rate.reduce((a, b) => a + b, 0) / RATE_WINDOW_S;
  }

  /**
   * Rows after `after` (not past `until`) as points: rows of one point are consecutive (one commit
   * per poll or message), so a point is the run of rows with the same device, ts and tie. A point
   * cut by the read is left whole for the next read (the read grows when one point alone is
   * larger). Rows the target does not publish (status rows, excluded devices or tags) only move
   * the position: an entry without a point.
   */
  private readPoints(after: number, limit: number, until: number): ReadPoint[] {
    for (let want = limit; ; want *= 4) {
      let rows = this.store.readForward('readings', after, want + 1);
      let next: StoredReading | undefined;
      if (rows.length > want) next = rows.pop();
      if (until !== Infinity) {
        const i = rows.findIndex((r) => r.seq > until);
        if (i >= 0) {
          rows = rows.slice(0, i);
          next = undefined;
        }
      }
      const out = this.points(rows, next);
      if (out.length > 0 || rows.length === 0 || next === undefined) return out;
      // one point fills the whole read: read more
    }
  }

  private points(rows: readonly StoredReading[], next: StoredReading | undefined): ReadPoint[] {
    const out: ReadPoint[] = [];
    let group: StoredReading[] = [];
    let tags = new Set<string>();
    /** last seq covered by `out` */
    let covered = 0;
    let skipped = 0;
    const close = () => {
      const f = group[0]!;
      const readings = group.map(({ tag, kind, value, quality, error }) =>
        error === undefined ? { tag, kind, value, quality } : { tag, kind, value, quality, error },
      );
      covered = group[group.length - 1]!.seq;
      out.push({ point: { device: f.device, ts: f.ts, tie: f.tie ?? 0, seq: f.seq, readings }, endSeq: covered });
      group = [];
      tags = new Set();
    };
    for (const r of rows) {
      const wanted = r.measurement === 'data' && this.include(r.device, r.tag);
      const same = group.length > 0 && LineFormatter.samePoint(group[0]!, r) && !tags.has(r.tag);
      if (!wanted) {
        // an excluded tag inside a point does not split it
        if (group.length > 0 && !same) close();
        skipped = r.seq;
        continue;
      }
      if (group.length > 0 && !same) close();
      group.push(r);
      tags.add(r.tag);
    }
    if (group.length > 0) {
      const open = next !== undefined && next.measurement === 'data' && LineFormatter.samePoint(group[0]!, next) && !tags.has(next.tag);
      if (open) {
        if (skipped > covered && skipped < group[0]!.seq) out.push({ endSeq: skipped });
        return out;
      }
      close();
    }
    const last = rows[rows.length - 1];
    if (last && last.seq > covered) out.push({ endSeq: last.seq });
    return out;
  }
}
