/**
 * Verifier facts for a window, from the bucket counts of counts.ts, so the hub's live figures are
 * decided by the verifier itself (verify/evaluate.ts: the same slots, networked rule, weekly
 * rules, classification) and only the facts are resolved per bucket instead of per slot.
 *
 * Within a bucket of S whole slots of a device (slot = max(interval, slotMin), aligned to the
 * window's start like the verifier's), the good slots are estimated as
 *     min(S, round(points × interval / slot))
 * (a device polled every `interval` puts slot / interval points in a slot), and the heartbeat
 * slots of each gateway (at the policy's slotMin, like the verifier's) as
 * min(S, round(heartbeats × statusInterval / slotMin)). Both are laid at the start of the bucket,
 * so a slot that has a reading but no heartbeat of the device's own gateway is counted as the
 * verifier does (excluded), bucket by bucket. Each gateway keeps its own heartbeats: one gateway's
 * outage is excluded for its own devices only. For a device that reports at its interval this is
 * exactly the verifier's count; a device that reports in bursts within an hour can be credited
 * with slots it missed inside that hour. The gateways' loss ledgers (episodes of readings a
 * gateway's own store refused or dropped) are passed through as the verifier gathers them, so the
 * same slots are excluded as lost in the hub's figures as in the review report. Pure: no I/O.
 */
import { DAY_MS, deviceLosses, slotSize, type AuditDay, type DeviceFacts, type Facts, type LossFact, type Ranges } from '../../verify/facts.js';
import { lastJudgedEnd, lossRanges, slotGrid } from '../../verify/slots.js';
import type { GatewayCounts, LiveState } from './counts.js';

export interface FactDevice {
  id: string;
  gateway: string;
  interval: number;
}

export interface WindowInput {
  from: number;
  to: number;
  slotMinMs: number;
  devices: readonly FactDevice[];
  /** per gateway: its bucket counts covering the window, and its heartbeat interval */
  counts: ReadonlyMap<string, { counts: GatewayCounts; statusInterval: number }>;
  /** successful audits per local day (the verifier's own query, per gateway), at least covering the window */
  audits: readonly AuditDay[];
  /** the project's planned shutdowns, ms ranges [from, to): staleness is judged at the end of a device's last slot outside them and its gateway's outages */
  shutdowns: ReadonlyArray<readonly [number, number]>;
  /** the policy's zone offset: audit days are local days */
  offsetMs: number;
  /**
   * the newest reading of each device before `to` when known exactly (the live query, for windows
   * ending now); otherwise the end of the device's last good slot in the window is used
   */
  live?: ReadonlyMap<string, LiveState>;
  /** per gateway: its loss episodes per device (the verifier's own query, source-influx.ts), at least covering the window */
  losses?: ReadonlyMap<string, ReadonlyArray<LossFact & { device: string }>>;
}

/** Slots in [start, start + b) ∩ [from, to) on the grid of `from`: [first slot index, count]. */
function bucketSlots(start: number, b: number, from: number, to: number, slotMs: number): [number, number] {
  const lo = Math.max(start, from);
  const hi = Math.min(start + b, from + Math.floor((to - from) / slotMs) * slotMs);
  if (hi <= lo) return [0, 0];
  const first = Math.ceil((lo - from) / slotMs);
  const last = Math.floor((hi - from) / slotMs);
  return [first, Math.max(0, last - first)];
}

/** The buckets of `c` that meet [from, to): [first, end) indexes. */
function bucketRange(c: GatewayCounts, from: number, to: number): [number, number] {
  const a = Math.max(0, Math.floor((from - c.from) / c.bucketMs));
  const z = Math.min(c.n, Math.ceil((to - c.from) / c.bucketMs));
  return [a, Math.max(a, z)];
}

/** Estimated occupied slots of each bucket, laid at the bucket's start. */
function packed(counts: Int32Array, c: GatewayCounts, from: number, to: number, slotMs: number, perPointMs: number): Ranges {
  const out: Ranges = [];
  const [a, z] = bucketRange(c, from, to);
  for (let i = a; i < z; i++) {
    const n = counts[i]!;
    if (n <= 0) continue;
    const [first, cap] = bucketSlots(c.from + i * c.bucketMs, c.bucketMs, from, to, slotMs);
    const k = Math.min(cap, Math.round((n * perPointMs) / slotMs));
    if (k <= 0) continue;
    const last = out[out.length - 1];
    if (last && last[1] === first) last[1] = first + k;
    else out.push([first, first + k]);
  }
  return out;
}

/** The verifier's Facts for [from, to). */
export function windowFacts(inp: WindowInput): Facts {
  const { from, to } = inp;
  const facts: Facts = { from, to, heartbeats: [], devices: [], audits: [], commands: [] };
  const slotMinMs = inp.slotMinMs;
  // each gateway's own heartbeat slots at slotMin, as the verifier gathers them
  const heartbeats = new Map<string, Ranges>();
  for (const [gateway, { counts, statusInterval }] of [...inp.counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const slots = packed(counts.heartbeats, counts, from, to, slotMinMs, statusInterval);
    heartbeats.set(gateway, slots);
    facts.heartbeats.push({ gateway, slotMs: slotMinMs, slots });
  }
  for (const d of inp.devices) {
    const slotMs = slotSize(d.interval, slotMinMs);
    const g = inp.counts.get(d.gateway);
    const c = g?.counts.devices.get(d.id);
    const f: DeviceFacts = { id: d.id, gateway: d.gateway, slotMs, goodSlots: [], tagsSeen: [] };
    const losses = deviceLosses(inp.losses?.get(d.gateway) ?? [], d.id, from, to);
    // staleness is judged at the end of the device's last slot not excluded (a shutdown, its own gateway's outage or a loss episode)
    const judgedTo =
      lastJudgedEnd(
        slotGrid({ from, to, slotMs, shutdowns: inp.shutdowns, slotMinMs, heartbeat: heartbeats.get(d.gateway) ?? [], lost: lossRanges(losses) }),
      ) ?? to;
    f.lastGoodBefore = judgedTo;
    if (losses.length > 0) f.losses = losses;
    if (g && c) {
      f.goodSlots = packed(c.points, g.counts, from, to, slotMs, d.interval);
      const [a, z] = bucketRange(g.counts, from, to);
      f.tagsSeen = [...c.fields]
        .filter(([, on]) => on.subarray(a, z).includes(1))
        .map(([name]) => name)
        .sort();
      const exact = inp.live?.get(d.gateway)?.lastReading.get(d.id);
      if (exact !== undefined && exact < judgedTo) f.lastGoodTs = exact;
      else {
        // the end of the last good slot that starts before judgedTo
        const before = Math.ceil((judgedTo - from) / slotMs);
        const last = [...f.goodSlots].reverse().find(([lo]) => lo < before);
        if (last) f.lastGoodTs = from + Math.min(last[1], before) * slotMs - 1;
      }
    }
    facts.devices.push(f);
  }
  // the window starts at a local midnight (live.ts), so whole local days are exactly the window
  const firstDay = Math.floor((from + inp.offsetMs) / DAY_MS);
  const lastDay = Math.floor((to - 1 + inp.offsetMs) / DAY_MS);
  facts.audits = inp.audits.filter((a) => a.day >= firstDay && a.day <= lastDay);
  return facts;
}
