/**
 * Pure rules the API and the dashboard share about whether a device is live now, and the line's
 * networking rate over time (share of devices with at least one good reading per slot). No I/O:
 * the routes feed these from the runtime's device views and the store's slot counts.
 */
import type { DeviceStatus } from '../../adapters/types.js';
import type { SlotCount } from '../../ingest/types.js';

/**
 * The verifier's staleness rule (verify/README.md): no reading for more than max(staleIntervals × interval, staleMin). Both numbers
 * come from the policy file (measure.staleIntervals, measure.staleMin), never from code, so the
 * dashboard's alarm uses the threshold the verifier uses.
 */
export interface StalePolicy {
  intervalFactor: number;
  minMs: number;
}

export function staleAfterMs(intervalMs: number, policy: StalePolicy): number {
  return Math.max(policy.intervalFactor * intervalMs, policy.minMs);
}

export interface Liveness {
  /** connected and not silent */
  live: boolean;
  /** no good reading for longer than staleAfterMs (counted from gateway start when there was none yet) */
  silent: boolean;
  /** ms since the last good reading (or since the gateway started, when none yet) */
  silentForMs: number;
  staleAfterMs: number;
}

/**
 * Whether a device is live at `now`. A disabled device is never live and never raises the silence
 * alarm (it is not expected to report).
 */
export function liveness(
  d: { enabled: boolean; interval: number },
  status: Pick<DeviceStatus, 'connected' | 'lastReadingAt'>,
  now: number,
  startedAt: number,
  policy: StalePolicy,
): Liveness {
  const limit = staleAfterMs(d.interval, policy);
  const since = status.lastReadingAt ?? startedAt;
  const silentForMs = Math.max(0, now - since);
  const silent = d.enabled && silentForMs > limit;
  return { live: d.enabled && status.connected && !silent, silent, silentForMs, staleAfterMs: limit };
}

export interface NetworkingPoint {
  /** start of the slot, ms */
  ts: number;
  /** devices with at least one good reading in the slot */
  live: number;
  total: number;
  /** live / total, null when there are no devices */
  rate: number | null;
}

/**
 * The networking rate of a set of devices per slot of `stepMs` in [from, to): for each slot the
 * share of devices that delivered at least one good reading in it. `counts` holds each device's
 * slot counts as Store.slotCounts returns them (slot = floor((ts - from) / stepMs)).
 */
export function networkingSeries(counts: ReadonlyMap<string, readonly SlotCount[]>, from: number, to: number, stepMs: number): NetworkingPoint[] {
  const slots = Math.max(0, Math.ceil((to - from) / stepMs));
  const live = new Array<number>(slots).fill(0);
  for (const rows of counts.values()) {
    const seen = new Set<number>();
    for (const r of rows) if (r.good > 0 && r.slot >= 0 && r.slot < slots) seen.add(r.slot);
    for (const s of seen) live[s]! += 1;
  }
  const total = counts.size;
  return live.map((n, i) => ({ ts: from + i * stepMs, live: n, total, rate: total === 0 ? null : n / total }));
}
