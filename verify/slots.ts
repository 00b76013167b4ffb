/**
 * Slot arithmetic shared by the fact gathering (facts.ts) and the decisions (measure.ts), so both
 * agree on which slots a rule judges. A window [from, to) is cut into whole slots of `slotMs`
 * aligned to `from`; slot i is [from + i·slotMs, from + (i+1)·slotMs).
 *
 * A slot is *excluded* when it overlaps a planned shutdown, or when it overlaps a platform outage of
 * the device's own gateway: a whole slot of the policy's `slotMin` holding no heartbeat of that
 * gateway, or when it overlaps an episode of that gateway's loss ledger for the device (readings
 * the gateway's own store refused or dropped before InfluxDB had them: a gap of the gateway's
 * making, not the device's). Excluded slots are neither expected nor held against a device.
 */

/** Half-open ranges of slot indexes [start, end), ascending and disjoint. */
export type Ranges = Array<[number, number]>;

/** Ascending slot numbers → ranges. */
export function toRanges(slots: Iterable<number>): Ranges {
  const out: Ranges = [];
  for (const s of [...slots].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], s + 1);
    else out.push([s, s + 1]);
  }
  return out;
}

/** Whether slot i is in ranges r (binary search). */
export function rangesHas(r: Ranges, i: number): boolean {
  let lo = 0;
  let hi = r.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = r[mid]!;
    if (i < a) hi = mid - 1;
    else if (i >= b) lo = mid + 1;
    else return true;
  }
  return false;
}

export function slotSize(intervalMs: number, slotMinMs: number): number {
  return Math.max(intervalMs, slotMinMs);
}

/** Whole slots of `slotMs` in [from, to). */
export const slotCount = (from: number, to: number, slotMs: number): number => Math.max(0, Math.floor((to - from) / slotMs));

export interface SlotGrid {
  from: number;
  slotMs: number;
  n: number;
  /** 1 where the slot overlaps a planned shutdown */
  shutdown: Uint8Array;
  /** 1 where the slot does not overlap a shutdown but overlaps a platform outage */
  outage: Uint8Array;
  /** 1 where the slot overlaps none of those but a loss episode of the device (its gateway lost readings) */
  lost: Uint8Array;
}

/** Loss episodes (first and last lost reading's ms, both inclusive) as half-open ms ranges. */
export function lossRanges(losses: ReadonlyArray<{ from: number; to: number }> | undefined): Array<[number, number]> {
  return (losses ?? []).map((l) => [l.from, l.to + 1]);
}

/**
 * The exclusions of one device's slots (or of the platform's own, at slotMin).
 * `heartbeat`: the gateway's heartbeat slots at `slotMinMs`, aligned to the same `from`.
 * Linear in the slots: shutdowns and heartbeat gaps are marked as ranges, never tested per slot.
 */
export function slotGrid(o: {
  from: number;
  to: number;
  slotMs: number;
  shutdowns: ReadonlyArray<readonly [number, number]>;
  slotMinMs: number;
  heartbeat: Ranges;
  /** the device's loss episodes as ms ranges [from, to) (lossRanges) */
  lost?: ReadonlyArray<readonly [number, number]>;
}): SlotGrid {
  const { from, slotMs, slotMinMs } = o;
  const n = slotCount(from, o.to, slotMs);
  const nMin = slotCount(from, o.to, slotMinMs);
  const shutdown = new Uint8Array(n);
  const outage = new Uint8Array(n);
  const lost = new Uint8Array(n);
  // slot i = [i·s, (i+1)·s) (relative to from) overlaps [x, y) when i >= floor(x / s) and i < ceil(y / s)
  const mark = (a: Uint8Array, x: number, y: number) => {
    const lo = Math.max(0, Math.floor(x / slotMs));
    const hi = Math.min(n, Math.ceil(y / slotMs));
    if (lo < hi) a.fill(1, lo, hi);
  };
  for (const [x, y] of o.shutdowns) if (y > x) mark(shutdown, x - from, y - from);
  // the slotMin slots [0, nMin) without heartbeat: the gaps between the heartbeat ranges
  let j = 0;
  for (const [a, b] of [...o.heartbeat, [nMin, nMin] as [number, number]]) {
    const gapEnd = Math.min(a, nMin);
    if (gapEnd > j) mark(outage, j * slotMinMs, gapEnd * slotMinMs);
    j = Math.max(j, b);
    if (j >= nMin) break;
  }
  for (const [x, y] of o.lost ?? []) if (y > x) mark(lost, x - from, y - from);
  // a slot in a shutdown is a shutdown slot, not an outage; one in either is not a loss slot
  for (let i = 0; i < n; i++) {
    if (shutdown[i]) outage[i] = 0;
    if (shutdown[i] || outage[i]) lost[i] = 0;
  }
  return { from, slotMs, n, shutdown, outage, lost };
}

/** The end of the last slot that is not excluded (where staleness is judged), or undefined when every slot is. */
export function lastJudgedEnd(g: SlotGrid): number | undefined {
  for (let i = g.n - 1; i >= 0; i--) if (!g.shutdown[i] && !g.outage[i] && !g.lost[i]) return g.from + (i + 1) * g.slotMs;
  return undefined;
}
