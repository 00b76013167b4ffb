/**
 * A line: one connection (TCP host:port or serial path) shared by every device (unit id) on it,
 * kept in ctx.shared and ref-counted. Requests on a line are strictly serialized (one outstanding
 * request, FIFO). The line reconnects on demand with capped, jittered backoff, forever: a request
 * while the backoff runs fails fast with NOT_CONNECTED instead of waiting, so nothing queues.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../config/clock.js';
import { Backoff } from '../../config/backoff.js';
import { errorText } from '../../config/errors.js';
import { IO, ModbusIoError } from './frames.js';
import { type Endpoint, Transport, describeEndpoint, endpointKey } from './transport.js';

export const RECONNECT_BASE_MS = 250;
export const RECONNECT_CAP_MS = 10_000;
/** consecutive timeouts on a TCP line (no answer from any unit) after which it is reopened */
const TCP_REOPEN_AFTER_TIMEOUTS = 3;

/**
 * The RTU inter-frame silence, 3.5 character times (11 bits each), rounded up to whole ms; the
 * Modbus serial line spec fixes it at 1.75 ms above 19200 baud.
 */
export function rtuFrameGapMs(baudRate: number): number {
  return Math.ceil(baudRate > 19200 ? 1.75 : (3.5 * 11 * 1000) / baudRate);
}

export interface Pacing {
  interRequestDelay: number;
  delayAfterConnect: number;
}

export interface LineCounters {
  requests: number;
  timeouts: number;
  connects: number;
  connectFailures: number;
}

export class Line {
  refs = 0;
  readonly key: string;
  readonly transport: Transport;
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private connectedAt = 0;
  private lastRequestEnd = 0;
  private nextAttemptAt = 0;
  private readonly backoff = new Backoff({ baseMs: RECONNECT_BASE_MS, capMs: RECONNECT_CAP_MS });
  private outage = false;
  private timeoutsInARow = 0;
  readonly counters: LineCounters = { requests: 0, timeouts: 0, connects: 0, connectFailures: 0 };
  /** RTU on a serial line: the silent interval (3.5 characters) a frame needs before the next one */
  private readonly frameGapMs: number;

  constructor(
    readonly endpoint: Endpoint,
    private readonly clock: Clock,
    private readonly log: Logger,
    connectTimeoutMs: number,
  ) {
    this.key = endpointKey(endpoint);
    this.frameGapMs = endpoint.kind === 'serial' ? rtuFrameGapMs(endpoint.baudRate) : 0;
    this.transport = new Transport(endpoint, Math.max(connectTimeoutMs, 1000));
    this.transport.onClose((why) => {
      if (!this.outage) {
        this.outage = true;
        this.log.warn({ line: describeEndpoint(endpoint), reason: why }, 'modbus line lost; reconnecting with backoff');
      }
    });
  }

  get isOpen(): boolean {
    return this.transport.isOpen;
  }

  /** Runs fn with the line to itself (FIFO). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.waiting++;
    const run = this.tail.then(() => {
      this.waiting--;
      return fn();
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Opens the connection if it is closed and the backoff allows; else throws NOT_CONNECTED. Call inside exclusive(). */
  async ensureOpen(): Promise<void> {
    if (this.transport.isOpen) return;
    const now = this.clock.now();
    if (now < this.nextAttemptAt)
      throw new ModbusIoError(IO.NOT_CONNECTED, `reconnect to ${describeEndpoint(this.endpoint)} in ${this.nextAttemptAt - now} ms`);
    try {
      await this.transport.open();
    } catch (e) {
      this.counters.connectFailures++;
      this.nextAttemptAt = this.clock.now() + this.backoff.next();
      if (!this.outage) {
        this.outage = true;
        this.log.warn({ line: describeEndpoint(this.endpoint), err: errorText(e) }, 'modbus line cannot connect; retrying with backoff');
      }
      throw e instanceof ModbusIoError ? e : new ModbusIoError(IO.NOT_CONNECTED, errorText(e));
    }
    this.counters.connects++;
    this.connectedAt = this.clock.now();
    this.timeoutsInARow = 0;
    if (this.outage) this.log.info({ line: describeEndpoint(this.endpoint), failedAttempts: this.backoff.failures }, 'modbus line connected again');
    else this.log.debug({ line: describeEndpoint(this.endpoint) }, 'modbus line connected');
    this.outage = false;
    this.backoff.reset();
  }

  /** One request, paced for the device. Call inside exclusive(). */
  async transact(unit: number, pdu: Uint8Array, timeoutMs: number, pacing: Pacing): Promise<Buffer> {
    await this.ensureOpen();
    if (pacing.delayAfterConnect > 0) {
      const wait = this.connectedAt + pacing.delayAfterConnect - this.clock.now();
      if (wait > 0) await this.clock.sleep(wait);
    }
    const gap = Math.max(pacing.interRequestDelay, this.frameGapMs);
    if (gap > 0 && this.lastRequestEnd > 0) {
      const wait = this.lastRequestEnd + gap - this.clock.now();
      if (wait > 0) await this.clock.sleep(wait);
    }
    this.counters.requests++;
    try {
      const pdu2 = await this.transport.transact(unit, pdu, timeoutMs);
      this.timeoutsInARow = 0;
      return pdu2;
    } catch (e) {
      if (e instanceof ModbusIoError && e.code === IO.TIMEOUT) {
        this.counters.timeouts++;
        if (this.endpoint.kind === 'tcp' && ++this.timeoutsInARow >= TCP_REOPEN_AFTER_TIMEOUTS) {
          // a half-open TCP connection (peer vanished without FIN) only shows as silence
          this.timeoutsInARow = 0;
          this.log.warn({ line: describeEndpoint(this.endpoint) }, 'no answers on this connection; reopening it');
          this.transport.close();
          this.outage = true;
        }
      }
      throw e;
    } finally {
      this.lastRequestEnd = this.clock.now();
    }
  }

  /**
   * closeAfterPoll: closes the connection after the requests already queued, unless more are
   * waiting behind (another unit on the line would only reopen it at once).
   */
  closeWhenIdle(): Promise<void> {
    return this.exclusive(async () => {
      if (this.waiting === 0) this.transport.close();
    });
  }

  close(): void {
    this.transport.close();
  }
}

/** The line for an endpoint from ctx.shared, created on first use; release() when done. */
export function acquireLine(shared: Map<string, unknown>, endpoint: Endpoint, clock: Clock, log: Logger, connectTimeoutMs: number): Line {
  const key = endpointKey(endpoint);
  let line = shared.get(key) as Line | undefined;
  if (!line) {
    line = new Line(endpoint, clock, log, connectTimeoutMs);
    shared.set(key, line);
  } else if (JSON.stringify(line.endpoint) !== JSON.stringify(endpoint)) {
    log.warn(
      { line: describeEndpoint(line.endpoint), wanted: describeEndpoint(endpoint) },
      "devices on one serial line disagree on its settings; the first device's settings are used",
    );
  }
  line.refs++;
  return line;
}

export function releaseLine(shared: Map<string, unknown>, line: Line): void {
  line.refs--;
  if (line.refs <= 0) {
    line.close();
    if (shared.get(line.key) === line) shared.delete(line.key);
  }
}
