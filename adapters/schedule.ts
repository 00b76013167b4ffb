/**
 * The poll schedule of one device: tick n is due at `anchor + n × interval` (anchored to the start,
 * so a slow timer or a slow poll never makes the grid drift, as a chain of setTimeout(interval)
 * would). Every tick is accounted for, none is dropped silently:
 *
 * - **on time**: its poll started at most `lateAfter` after the tick (by default half the interval);
 * - **late**: its poll started more than `lateAfter` after the tick (the event loop was busy, so the
 *   timer fired late), but before the next tick;
 * - **skipped**: no poll started for it, either because the previous poll of the device was still
 *   running when it came (a slow device, or an interval shorter than a poll), or because the timer
 *   fired so late that a newer tick was already due (the newest passed tick is polled, the older ones
 *   are skipped). Polls of one device never overlap and missed ticks are never queued up.
 *
 * The adapter calls `started(now)` when a poll starts, `finished(now)` when it ends, and sleeps
 * until `next()` in between.
 */
export class PollSchedule {
  /** index of the next tick no poll has been started for nor counted as skipped */
  private k = 0;
  /** ticks whose poll started more than `lateAfter` after the tick */
  late = 0;
  /** ticks without a poll */
  skipped = 0;
  /** ticks whose poll started (on time or late) */
  taken = 0;
  readonly lateAfter: number;

  constructor(
    readonly interval: number,
    private anchor: number,
    lateAfter?: number,
  ) {
    if (!(interval > 0)) throw new RangeError(`poll interval must be > 0 ms, got ${interval}`);
    this.lateAfter = lateAfter ?? interval / 2;
  }

  private dueAt(n: number): number {
    return this.anchor + n * this.interval;
  }

  /** When the next poll is due (ms epoch on the adapter's clock). */
  next(): number {
    return this.dueAt(this.k);
  }

  /**
   * A poll starts at `now` (at or after `next()`): it serves the newest tick due by now; older
   * ticks still open are counted skipped, and the poll is late if it starts more than `lateAfter`
   * after its tick.
   */
  started(now: number): void {
    let m = Math.floor((now - this.anchor) / this.interval);
    if (m < this.k) m = this.k; // started early (a clock that fired at the due time exactly)
    this.skipped += m - this.k;
    if (now - this.dueAt(m) > this.lateAfter) this.late++;
    this.taken++;
    this.k = m + 1;
  }

  /** The poll ended at `now`: every tick that came while it ran is skipped. */
  finished(now: number): void {
    if (this.dueAt(this.k) >= now) return;
    const n = Math.ceil((now - this.anchor) / this.interval); // first tick due at or after now
    this.skipped += n - this.k;
    this.k = n;
  }

  /**
   * A new grid from `anchor` on (a demoted device polled with backoff, by design not on its ticks:
   * the ticks in between are neither late nor skipped).
   */
  restart(anchor: number): void {
    this.anchor = anchor;
    this.k = 0;
  }
}
