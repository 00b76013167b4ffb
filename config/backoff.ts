/**
 * Capped exponential backoff with full jitter (AWS architecture blog's "full jitter"): the delay
 * for attempt n is uniform in [min, min(cap, base * 2^n)]. Used by every reconnect loop and the
 * forwarder, so one device or sink going down never makes a retry storm.
 */
export interface BackoffOptions {
  /** first delay ceiling, ms */
  baseMs: number;
  /** ceiling for any delay, ms */
  capMs: number;
  /** floor for any delay, ms (default: baseMs / 2) */
  minMs?: number;
  /** random source in [0,1), injectable for tests */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  constructor(private readonly opts: BackoffOptions) {}
  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const { baseMs, capMs } = this.opts;
    const min = Math.min(this.opts.minMs ?? baseMs / 2, capMs);
    const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const r = (this.opts.random ?? Math.random)();
    return Math.round(min + r * Math.max(0, ceiling - min));
  }
  reset(): void {
    this.attempt = 0;
  }
  get failures(): number {
    return this.attempt;
  }
}
