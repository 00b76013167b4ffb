/**
 * The facts the verifier decides on, and the one query interface they come through. Two backends
 * implement FactQuery: the embedded store (source-store.ts) and InfluxDB (source-influx.ts), both
 * aggregating in the database (slot counts, never raw readings). gatherFacts() is the thin shell
 * that asks one backend per gateway for what the pure core (evaluate.ts) needs.
 *
 * The facts are deterministic (sorted), so their canonical JSON has one digest: the report's
 * `factsDigest`, which `fgw verify --reproduce` compares.
 */
import type { SlotCount } from '../ingest/types.js';
import type { TagRole } from '../config/common.js';
import { weeksOf } from './calendar.js';
import type { Policy } from './policy.js';
import { lastJudgedEnd, lossRanges, slotGrid, slotSize, toRanges, type Ranges } from './slots.js';

export { DAY_MS } from './calendar.js';
export { rangesHas, slotSize, toRanges, type Ranges } from './slots.js';

/** The device as the gateway config describes it (a subset of gateway/schema.ts DeviceConfig). */
export interface DeviceSpec {
  id: string;
  name?: string;
  line?: string;
  process?: string;
  /** ms */
  interval: number;
  tags: Array<{ name: string; role: TagRole | string }>;
  /** the gateway whose config names the device (gateway.id); '' when only one gateway is judged */
  gateway?: string;
}

export interface DeviceFacts {
  id: string;
  /** the gateway collecting the device: its heartbeat decides the device's platform outages */
  gateway: string;
  /** the slot size the counts were taken at: max(interval, slotMin) */
  slotMs: number;
  /** slot indexes (floor((ts - from) / slotMs)) holding at least one good reading */
  goodSlots: Ranges;
  /** tags with at least one good reading in the window */
  tagsSeen: string[];
  /** newest good reading before `lastGoodBefore` */
  lastGoodTs?: number;
  /** the end of the device's last slot that is not excluded (staleness is judged there); the window's end when every slot is excluded */
  lastGoodBefore?: number;
  /**
   * readings of this device the gateway itself lost (its store full or failing, or a limit dropping
   * them before InfluxDB had them), episodes overlapping the window, oldest first; absent when none
   */
  losses?: LossFact[];
}

/** One episode of the gateway's loss ledger: `count` readings with timestamps from `from` to `to` (ms, both inclusive). */
export interface LossFact {
  reason: string;
  from: number;
  to: number;
  count: number;
}

/** Successful audited accesses per local day (day = floor((ts + offsetMs) / DAY_MS)). */
export interface AuditDay {
  day: number;
  /** the gateway whose API was called ('' with one unnamed gateway) */
  gateway: string;
  action: 'read' | 'write';
  system: string;
  /** '' when the access named no device */
  device: string;
  /** the route as audited: `GET /api/latest`, `POST /api/devices/:id/tags/:tag` */
  route: string;
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
  /** (schema 2) the gateway that took the command */
  gateway?: string;
}

/** How many of the newest audited commands the facts carry as evidence. */
export const COMMAND_SAMPLES = 20;
/** Per calendar week, device and system: how many of the newest successful commands are kept as samples. */
export const WEEKLY_COMMAND_SAMPLES = 3;

export interface Facts {
  from: number;
  to: number;
  /** per gateway, the slots of the policy's slotMin holding at least one of its heartbeats */
  heartbeats: Array<{ gateway: string; slotMs: number; slots: Ranges }>;
  devices: DeviceFacts[];
  audits: AuditDay[];
  /** the newest audited commands in the window (any result), newest first */
  commands?: CommandSample[];
  /** per calendar week of the window, device and system: the newest successful commands, newest first */
  weeklyCommands?: CommandSample[];
}

export interface QualityOption {
  /** count readings of uncertain quality as good (policy measure.uncertainCountsAsGood) */
  uncertainIsGood: boolean;
}

export interface FactQuery {
  readonly name: 'store' | 'influx';
  slotCounts(q: { device: string; from: number; to: number; slotMs: number } & QualityOption): Promise<SlotCount[]>;
  tagsSeen(q: { device: string; from: number; to: number } & QualityOption): Promise<string[]>;
  lastGoodTs(q: { device: string; to: number } & QualityOption): Promise<number | undefined>;
  heartbeatSlots(q: { from: number; to: number; slotMs: number }): Promise<number[]>;
  /** the gateway's loss episodes overlapping [from, to), per device (ingest/README.md "The loss ledger") */
  lossEpisodes(q: { from: number; to: number }): Promise<Array<LossFact & { device: string }>>;
  /** successful (result ok) audits per local day, action, system, device and route */
  auditDays(q: { from: number; to: number; offsetMs: number }): Promise<Array<Omit<AuditDay, 'gateway'>>>;
  /** the newest `limit` audited writes in [from, to) (any result), newest first */
  commandSamples(q: { from: number; to: number; limit: number }): Promise<CommandSample[]>;
  /** per (device, system), the newest `limit` successful audited writes in [from, to), newest first */
  okCommandSamplesPerDevice(q: { from: number; to: number; limit: number }): Promise<CommandSample[]>;
  close(): Promise<void>;
}

/** One gateway's backend and its devices. */
export interface GatewaySource {
  gateway: string;
  src: FactQuery;
  devices: readonly DeviceSpec[];
}

export interface GatherOptions {
  from: number;
  to: number;
  policy: Pick<Policy, 'offsetMs' | 'values'>;
  /** planned shutdowns, ms ranges [from, to) */
  shutdowns: ReadonlyArray<readonly [number, number]>;
  progress?: (done: number, total: number, what: string) => void;
}

const byTsDesc = (a: CommandSample, b: CommandSample) => b.ts - a.ts;

/**
 * One device's loss episodes that touch [from, to), in the order the facts hold them (by start,
 * end, reason): from a gateway's episodes as its source's `lossEpisodes` answers them. The hub
 * (gateway/hub/facts.ts) cuts its windows out of one 30-day answer with the same function.
 */
export function deviceLosses(episodes: ReadonlyArray<LossFact & { device: string }>, device: string, from: number, to: number): LossFact[] {
  return episodes
    .filter((l) => l.device === device && l.from < to && l.to >= from)
    .map((l) => ({ reason: l.reason, from: l.from, to: l.to, count: l.count }))
    .sort((a, b) => a.from - b.from || a.to - b.to || cmp(a.reason, b.reason));
}

/**
 * Asks each gateway's backend for everything the core needs: its heartbeat slots (at slotMin); per
 * device its good slots, tags seen and last good reading before the end of its last slot that is
 * not excluded; audits per day; command samples. `progress` is called after each device.
 */
export async function gatherFacts(sources: readonly GatewaySource[], opts: GatherOptions): Promise<Facts> {
  const { from, to, policy } = opts;
  const m = policy.values.measure;
  const slotMinMs = m.slotMin;
  const quality = { uncertainIsGood: m.uncertainCountsAsGood };
  const out: Facts = { from, to, heartbeats: [], devices: [], audits: [], commands: [], weeklyCommands: [] };
  const total = sources.reduce((n, s) => n + s.devices.length + 2, 0);
  let done = 0;
  const weeks = weeksOf(from, to, policy);
  const commands: CommandSample[] = [];
  for (const { gateway, src, devices } of sources) {
    const heartbeat = toRanges(await src.heartbeatSlots({ from, to, slotMs: slotMinMs }));
    out.heartbeats.push({ gateway, slotMs: slotMinMs, slots: heartbeat });
    opts.progress?.(++done, total, `${gateway || 'gateway'} heartbeat`);
    const episodes = await src.lossEpisodes({ from, to });
    for (const d of devices) {
      const slotMs = slotSize(d.interval, slotMinMs);
      const counts = await src.slotCounts({ device: d.id, from, to, slotMs, ...quality });
      const tagsSeen = await src.tagsSeen({ device: d.id, from, to, ...quality });
      const losses = deviceLosses(episodes, d.id, from, to);
      const judgedTo = lastJudgedEnd(slotGrid({ from, to, slotMs, shutdowns: opts.shutdowns, slotMinMs, heartbeat, lost: lossRanges(losses) })) ?? to;
      const lastGoodTs = await src.lastGoodTs({ device: d.id, to: judgedTo, ...quality });
      const f: DeviceFacts = {
        id: d.id,
        gateway,
        slotMs,
        goodSlots: toRanges(counts.filter((c) => c.good > 0).map((c) => c.slot)),
        tagsSeen: [...tagsSeen].sort(),
      };
      if (lastGoodTs !== undefined) f.lastGoodTs = lastGoodTs;
      f.lastGoodBefore = judgedTo;
      if (losses.length > 0) f.losses = losses;
      out.devices.push(f);
      opts.progress?.(++done, total, d.id);
    }
    for (const a of await src.auditDays({ from, to, offsetMs: policy.offsetMs })) out.audits.push({ ...a, gateway });
    for (const c of await src.commandSamples({ from, to, limit: COMMAND_SAMPLES })) commands.push({ ...c, gateway });
    for (const w of weeks) {
      const samples = await src.okCommandSamplesPerDevice({ from: w.from, to: w.to, limit: WEEKLY_COMMAND_SAMPLES });
      for (const c of samples) out.weeklyCommands!.push({ ...c, gateway });
    }
    opts.progress?.(++done, total, `${gateway || 'gateway'} audit`);
  }
  out.audits.sort(
    (a, b) =>
      a.day - b.day || cmp(a.gateway, b.gateway) || cmp(a.action, b.action) || cmp(a.system, b.system) || cmp(a.device, b.device) || cmp(a.route, b.route),
  );
  out.commands = commands.sort(byTsDesc).slice(0, COMMAND_SAMPLES);
  out.weeklyCommands!.sort((a, b) => byTsDesc(a, b) || cmp(a.gateway ?? '', b.gateway ?? '') || cmp(a.device, b.device) || cmp(a.system, b.system));
  return out;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** JSON with object keys sorted at every level: one text, so one digest, for the same facts. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}
