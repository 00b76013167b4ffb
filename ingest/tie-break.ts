/**
 * One point per reading in InfluxDB. InfluxDB keeps one point per series and timestamp, so two
 * readings of one tag in the same millisecond (an MQTT burst delivered on reconnect, an OPC UA
 * server repeating a source timestamp) would collapse into one point. Each stored reading therefore
 * gets a `tie`: 0 for the first reading of its series at a millisecond, 1 for the second, and so on.
 * The forwarder writes `ts * 1e6 + tie` nanoseconds (precision ns), so:
 *
 * - the readings of one series never share an InfluxDB timestamp, and a reading alone in its
 *   millisecond (tie 0) lands exactly on its ms, as before;
 * - read back in ms (`epoch=ms`, GROUP BY time(...)), every point shows its stored ts: the
 *   verifier's slots and `fgw query` see the same times as the store;
 * - the tie is assigned once, when the reading is stored, and kept in the store: a replay after a
 *   crash writes the same timestamps again and overwrites the same points, never duplicates.
 *
 * The tie is per store series (device, tag, kind). It is computed from the newest timestamp of the
 * series, kept in memory; a reading older than that (out of order) or the first of a series in
 * this process asks the store for the highest tie at its (series, ts), through the (dev, ts, series)
 * index. Ties never decrease for a (series, ts), so after a rolled-back commit some ties are merely
 * skipped (a gap is harmless; a repeat would not be).
 *
 * A damaged store file replaced in place by a fresh one (ingest/damage.ts) takes its readings with
 * it, and the fresh file numbers its series anew; what InfluxDB got from the old file stays. So the
 * store carries this cache over by series name (snapshot() before, floor() per series after): a
 * reading in the same ms as the old file's last ones continues their ties instead of starting at
 * 0 again and overwriting them in InfluxDB. Only the newest ms of each series this process wrote
 * is known; older ones went with the file.
 */

/** ties per millisecond at nanosecond precision; a reading that would need more is stored bad */
export const TIE_LIMIT = 1_000_000;
/** error code of a reading whose series already has TIE_LIMIT readings in its millisecond */
export const TIE_OVERFLOW = 'TIMESTAMP_REPEATED';

export interface TieLookup {
  /** the newest stored ts of a series, or undefined when it has none */
  newestTs(series: number): number | undefined;
  /** the highest tie stored at (series, ts), or undefined when there is no row there */
  maxTie(dev: number, series: number, ts: number): number | undefined;
}

export type TieState = { ts: number; tie: number };

export class TieBreaker {
  /** per series: its newest ts and the highest tie given at that ts */
  private readonly newest = new Map<number, TieState>();
  /** per series: the newest ts and tie of a replaced file, which the table no longer holds */
  private readonly floors = new Map<number, TieState>();

  constructor(private readonly lookup: TieLookup) {}

  /** The tie of a new reading of `series` at `ts` (call inside the transaction that inserts it). */
  next(series: number, dev: number, ts: number): number {
    let s = this.newest.get(series);
    if (s === undefined) {
      const t = this.lookup.newestTs(series);
      const at = t === undefined || ts >= t ? ts : t;
      s = { ts: at, tie: this.maxTie(dev, series, at) };
      const f = this.floors.get(series);
      if (f !== undefined && f.ts > s.ts) s = { ...f };
      this.newest.set(series, s);
    }
    if (ts > s.ts) {
      s.ts = ts;
      s.tie = 0;
      return 0;
    }
    if (ts === s.ts) return ++s.tie;
    return this.maxTie(dev, series, ts) + 1;
  }

  /** the highest tie at (series, ts) in the table or the floor, -1 for none */
  private maxTie(dev: number, series: number, ts: number): number {
    const stored = this.lookup.maxTie(dev, series, ts) ?? -1;
    const f = this.floors.get(series);
    return f !== undefined && f.ts === ts ? Math.max(stored, f.tie) : stored;
  }

  /** a series just created: it has no rows, so its first readings need no lookup */
  created(series: number): void {
    const f = this.floors.get(series);
    this.newest.set(series, f ? { ...f } : { ts: -Infinity, tie: -1 });
  }

  /** per series: the newest ts and the last tie given there (what a fresh file must continue) */
  snapshot(): Map<number, TieState> {
    const out = new Map<number, TieState>();
    for (const m of [this.floors, this.newest]) {
      for (const [series, s] of m) if (Number.isFinite(s.ts) && s.tie >= 0) out.set(series, newer(out.get(series), s));
    }
    return out;
  }

  /** `series` (an id of the fresh file) continues after `state` (its newest ms in the replaced file) */
  floor(series: number, state: TieState): void {
    this.floors.set(series, newer(this.floors.get(series), state));
    const s = this.newest.get(series);
    if (s !== undefined && (state.ts > s.ts || (state.ts === s.ts && state.tie > s.tie))) this.newest.set(series, { ...state });
  }

  /**
   * Forget what is cached, floors included (after a rollback, when another connection may have
   * written, for a fresh file): the caller sets the floors again as it meets each series.
   */
  clear(): void {
    this.newest.clear();
    this.floors.clear();
  }
}

/** the later of two states (the higher tie at the same ms) */
export function newer(a: TieState | undefined, b: TieState): TieState {
  if (a === undefined || b.ts > a.ts || (b.ts === a.ts && b.tie > a.tie)) return { ...b };
  return a;
}

/** The InfluxDB nanosecond timestamp of a reading: ts ms and its tie, exactly (beyond 2^53). */
export function nsTimestamp(ts: number, tie: number): string {
  if (ts > 0 && Number.isSafeInteger(ts) && tie >= 0 && tie < TIE_LIMIT) return tie === 0 ? `${ts}000000` : `${ts}${String(tie).padStart(6, '0')}`;
  return (BigInt(Math.trunc(ts)) * 1_000_000n + BigInt(Math.trunc(tie))).toString();
}
