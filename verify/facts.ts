/**
 * The facts the verifier decides on, and the one query interface they come through. Two backends
 * implement FactQuery: the embedded store (source-store.ts) and InfluxDB (source-influx.ts), both
 * aggregating in the database (slot counts, never raw readings). gatherFacts() is the thin shell
 * that asks a backend for what the pure core (evaluate.ts) needs.
 */
import type { SlotCount } from '../ingest/types.js';
import type { TagRole } from '../config/common.js';

/** Half-open ranges of slot indexes [start, end), ascending and disjoint. */
export type Ranges = Array<[number, number]>;

export const DAY_MS = 86_400_000;

/** The device as the gateway config describes it (a subset of config/schema.ts DeviceConfig). */
export interface DeviceSpec {
  id: string;
  name?: string;
  line?: string;
  process?: string;
  /** ms */
  interval: number;
  tags: Array<{ name: string; role: TagRole | string }>;
}

export interface DeviceFacts {
  id: string;
  /** the slot size the counts were taken at: max(interval, slotMin) */
  slotMs: number;
  /** slot indexes (floor((ts - from) / slotMs)) holding at least one good reading */
  goodSlots: Ranges;
  /** tags with at least one good reading in the window */
  tagsSeen: string[];
  /** newest good reading before the window's end */
  lastGoodTs?: number;
}

/** Successful audited accesses per local day (day = floor((ts + offsetMs) / DAY_MS)). */
export interface AuditDay {
  day: number;
  action: 'read' | 'write';
  system: string;
  /** '' when the access named no device */
  device: string;
  count: number;
}

/** One audited command (a write through the gateway's API): who, when, device, tag, value, result. */
export interface CommandSample {
  ts: number;
  actor: string;
  system: string;
  device: string;
  tag: string;
  value: string;
  result: string;
}

/** How many of the newest audited commands the facts carry as evidence. */
export const COMMAND_SAMPLES = 20;

export interface Facts {
  from: number;
  to: number;
  /** slots holding at least one gateway heartbeat, per slot size in use */
  heartbeats: Array<{ slotMs: number; slots: Ranges }>;
  devices: DeviceFacts[];
  audits: AuditDay[];
  /** the newest audited commands in the window (any result), newest first */
  commands?: CommandSample[];
}

export interface FactQuery {
  readonly name: 'store' | 'influx';
  slotCounts(q: { device: string; from: number; to: number; slotMs: number }): Promise<SlotCount[]>;
  tagsSeen(q: { device: string; from: number; to: number }): Promise<string[]>;
  lastGoodTs(q: { device: string; to: number }): Promise<number | undefined>;
  heartbeatSlots(q: { from: number; to: number; slotMs: number }): Promise<number[]>;
  /** successful (result ok) audits per local day, action, system and device */
  auditDays(q: { from: number; to: number; offsetMs: number }): Promise<AuditDay[]>;
  /** the newest `limit` audited writes in [from, to), newest first */
  commandSamples(q: { from: number; to: number; limit: number }): Promise<CommandSample[]>;
  close(): Promise<void>;
}

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

/**
 * Asks a backend for everything the core needs: per device its good slots, tags seen and last good
 * reading; heartbeat slots at every slot size in use; audits per day. `progress` is called after
 * each device (the CLI shows it on a terminal).
 */
export async function gatherFacts(
  src: FactQuery,
  devices: readonly DeviceSpec[],
  opts: { from: number; to: number; slotMinMs: number; offsetMs: number; progress?: (done: number, total: number, what: string) => void },
): Promise<Facts> {
  const { from, to } = opts;
  const out: Facts = { from, to, heartbeats: [], devices: [], audits: [] };
  const sizes = new Set<number>([opts.slotMinMs]);
  const total = devices.length + 2;
  let done = 0;
  for (const d of devices) {
    const slotMs = slotSize(d.interval, opts.slotMinMs);
    sizes.add(slotMs);
    const counts = await src.slotCounts({ device: d.id, from, to, slotMs });
    const tagsSeen = await src.tagsSeen({ device: d.id, from, to });
    const lastGoodTs = await src.lastGoodTs({ device: d.id, to });
    const f: DeviceFacts = { id: d.id, slotMs, goodSlots: toRanges(counts.filter((c) => c.good > 0).map((c) => c.slot)), tagsSeen: [...tagsSeen].sort() };
    if (lastGoodTs !== undefined) f.lastGoodTs = lastGoodTs;
    out.devices.push(f);
    opts.progress?.(++done, total, d.id);
  }
  for (const slotMs of [...sizes].sort((a, b) => a - b)) {
    out.heartbeats.push({ slotMs, slots: toRanges(await src.heartbeatSlots({ from, to, slotMs })) });
  }
  opts.progress?.(++done, total, 'heartbeat');
  out.audits = await src.auditDays({ from, to, offsetMs: opts.offsetMs });
  out.commands = await src.commandSamples({ from, to, limit: COMMAND_SAMPLES });
  opts.progress?.(++done, total, 'audit');
  return out;
}
