/**
 * Turns a golden case folder (test/cases/verify/<name>/) into the core's inputs. A case holds
 * project.yaml (as a user writes it), case.yaml (the gateways, their devices and what the data
 * shows, in compact form: slot ranges, outage intervals, daily audit counts, commands) and
 * expected.json (values computed by hand from the rules in verify/README.md, the arithmetic in its
 * `notes`). The harness only expands the compact form; every decision is the core's.
 *
 * Compact-form defaults: one gateway named '' (or `gateways:` with their own `outages`; top-level
 * `outages` belong to the first); an audited read without `route` is `GET /api/latest` (a data
 * route), a write to a device is `POST /api/devices/:id/tags/:tag`; heartbeats are in every slot of
 * the policy's slotMin that an outage does not cover whole.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { parseDuration } from '../../config/common.js';
import { COMMAND_ROUTE } from '../../verify/data-routes.js';
import { DAY_MS, WEEKLY_COMMAND_SAMPLES, toRanges, type AuditDay, type CommandSample, type DeviceSpec, type Facts, type Ranges } from '../../verify/facts.js';
import { matchOrders, type OrderMatch } from '../../verify/orders.js';
import { DEFAULT_POLICY, loadPolicy, type Policy } from '../../verify/policy.js';
import { parseProjectText, type Project } from '../../verify/project.js';
import { instantMs, weekOf } from '../../verify/measure.js';

interface CaseDevice {
  id: string;
  interval?: string;
  process?: string;
  name?: string;
  tags: Array<{ name: string; role: string }>;
  /** slot ranges with a good reading; default all */
  good?: Ranges;
  /** or: slot ranges without */
  missing?: Ranges;
  /** or: every n-th slot (i % n == n - 1) missing */
  missingEvery?: number;
  /** tags with a good reading; default all the device's tags */
  seen?: string[];
  /** ISO time of the last good reading; default the start of the last good slot; "none" for no reading */
  lastGood?: string;
  /** the gateway collecting it (an id of `gateways`); default the first */
  gateway?: string;
  /** slot ranges whose only readings are of uncertain quality: good only when the policy counts uncertain as good */
  uncertain?: Ranges;
  /** its gateway's loss-ledger episodes: ISO times of the first and last lost reading, the readings lost */
  losses?: Array<{ reason: string; from: string; to: string; count: number }>;
}

type CaseAudit = { action: 'read' | 'write'; system: string; device?: string; route?: string; count: number; gateway?: string };
/** every local day of the window, or of [from, to) (local dates) */
type DailyAudit = CaseAudit & { from?: string; to?: string };

export interface CaseFile {
  factsFrom?: string;
  window: { from: string; to: string };
  preliminary?: boolean;
  registeredSystems?: string[];
  devices: CaseDevice[];
  outages?: Array<{ from: string; to: string }>;
  /** several gateways: ids, sites, their own outages */
  gateways?: Array<{ id: string; site?: string; outages?: Array<{ from: string; to: string }> }>;
  auditsDaily?: DailyAudit[];
  audits?: Array<CaseAudit & { date: string }>;
  /** audited writes with their times (the command samples); `result` default ok, `gateway` default the first */
  commands?: Array<{ ts: string; actor?: string; system: string; device: string; tag?: string; value?: string; result?: string; gateway?: string }>;
}

export interface LoadedCase {
  name: string;
  dir: string;
  project: Project;
  projectFile: string;
  policy: Policy;
  devices: DeviceSpec[];
  facts: Facts;
  orders?: OrderMatch;
  preliminary: boolean;
  registeredSystems: string[];
  gateways?: Array<{ id: string; site?: string; config: string }>;
  expected: Record<string, unknown>;
  caseFile: CaseFile;
}

const gatewaysOf = (cf: CaseFile) => cf.gateways ?? [{ id: '', outages: cf.outages ?? [] }];

/** A case file; `factsFrom` names a file whose keys it extends (which may itself extend another). */
function readCaseYaml(file: string): CaseFile {
  const own = parse(readFileSync(file, 'utf8')) as Partial<CaseFile> | null;
  if (own?.factsFrom) return { ...readCaseYaml(resolve(dirname(file), own.factsFrom)), ...own } as CaseFile;
  return own as CaseFile;
}

export function loadCaseFile(dir: string): CaseFile {
  return readCaseYaml(join(dir, 'case.yaml'));
}

export function loadCase(dir: string, name: string): LoadedCase {
  const projectFile = join(dir, 'project.yaml');
  const cf = loadCaseFile(dir);
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, unknown>;
  const project = parseProjectText(readFileSync(projectFile, 'utf8'), projectFile);
  const policy = loadPolicy(project.policy ?? DEFAULT_POLICY, dir);
  const gws = gatewaysOf(cf);
  const devices: DeviceSpec[] = cf.devices.map((d) => {
    const s: DeviceSpec = { id: d.id, interval: parseDuration(d.interval ?? '1s')!, tags: d.tags, gateway: d.gateway ?? gws[0]!.id };
    if (d.process) s.process = d.process;
    if (d.name) s.name = d.name;
    return s;
  });
  const facts = buildFacts(cf, devices, policy);
  const out: LoadedCase = {
    name,
    dir,
    project,
    projectFile,
    policy,
    devices,
    facts,
    preliminary: cf.preliminary ?? false,
    registeredSystems: cf.registeredSystems ?? [],
    expected,
    caseFile: cf,
  };
  if (cf.gateways) out.gateways = cf.gateways.map((g) => ({ id: g.id, ...(g.site ? { site: g.site } : {}), config: `${g.id}.yaml` }));
  const ev = project.evidence;
  if (ev.erpOrders && ev.mesOrders) {
    const e = resolve(dir, ev.erpOrders);
    const m = resolve(dir, ev.mesOrders);
    if (existsSync(e) && existsSync(m))
      out.orders = matchOrders(readFileSync(e, 'utf8'), ev.erpOrders, readFileSync(m, 'utf8'), ev.mesOrders, {
        from: facts.from,
        to: facts.to,
        offsetMs: policy.offsetMs,
      });
  }
  return out;
}

export function buildFacts(cf: CaseFile, devices: DeviceSpec[], policy: Policy): Facts {
  const from = instantMs(cf.window.from, policy.offsetMs);
  const to = instantMs(cf.window.to, policy.offsetMs);
  const slotMin = policy.values.measure.slotMin;
  const gws = gatewaysOf(cf);
  const facts: Facts = { from, to, heartbeats: [], devices: [], audits: [], commands: [], weeklyCommands: [] };
  cf.devices.forEach((d, i) => {
    const slotMs = Math.max(devices[i]!.interval, slotMin);
    const n = Math.floor((to - from) / slotMs);
    let good: Ranges;
    if (d.good) good = d.good;
    else if (d.missing) {
      const miss = d.missing;
      const keep: number[] = [];
      for (let s = 0; s < n; s++) if (!miss.some(([a, b]) => s >= a && s < b)) keep.push(s);
      good = toRanges(keep);
    } else if (d.missingEvery) {
      const keep: number[] = [];
      for (let s = 0; s < n; s++) if (s % d.missingEvery !== d.missingEvery - 1) keep.push(s);
      good = toRanges(keep);
    } else good = n > 0 ? [[0, n]] : [];
    if (d.uncertain && !policy.values.measure.uncertainCountsAsGood) {
      const unc = d.uncertain;
      const keep: number[] = [];
      for (const [a, b] of good) for (let s = a; s < b; s++) if (!unc.some(([x, y]) => s >= x && s < y)) keep.push(s);
      good = toRanges(keep);
    }
    const f: Facts['devices'][number] = {
      id: d.id,
      gateway: devices[i]!.gateway!,
      slotMs,
      goodSlots: good,
      tagsSeen: [...(d.seen ?? d.tags.map((t) => t.name))].sort(),
    };
    if (d.losses) f.losses = d.losses.map((l) => ({ reason: l.reason, from: Date.parse(l.from), to: Date.parse(l.to), count: l.count }));
    if (d.lastGood !== 'none') {
      const last = good[good.length - 1];
      const ts = d.lastGood ? Date.parse(d.lastGood) : last ? from + (last[1] - 1) * slotMs : undefined;
      if (ts !== undefined) f.lastGoodTs = ts;
    }
    facts.devices.push(f);
  });
  for (const g of gws) {
    const outages = (g.outages ?? (g === gws[0] ? (cf.outages ?? []) : [])).map((o) => [Date.parse(o.from), Date.parse(o.to)] as const);
    const n = Math.floor((to - from) / slotMin);
    const beat: number[] = [];
    for (let s = 0; s < n; s++) {
      const a = from + s * slotMin;
      const b = a + slotMin;
      // a slot has no heartbeat when an outage covers all of it
      if (!outages.some(([x, y]) => x <= a && b <= y)) beat.push(s);
    }
    facts.heartbeats.push({ gateway: g.id, slotMs: slotMin, slots: toRanges(beat) });
  }
  const audit = (day: number, a: CaseAudit): AuditDay => ({
    day,
    gateway: a.gateway ?? gws[0]!.id,
    action: a.action,
    system: a.system,
    device: a.device ?? '',
    route: a.route ?? (a.action === 'read' ? 'GET /api/latest' : COMMAND_ROUTE),
    count: a.count,
  });
  const firstDay = Math.floor((from + policy.offsetMs) / DAY_MS);
  const lastDay = Math.floor((to - 1 + policy.offsetMs) / DAY_MS);
  const dayOf = (date: string) => Math.floor(Date.parse(`${date}T00:00:00Z`) / DAY_MS);
  for (const a of cf.auditsDaily ?? []) {
    const lo = Math.max(firstDay, a.from ? dayOf(a.from) : firstDay);
    const hi = Math.min(lastDay, a.to ? dayOf(a.to) - 1 : lastDay);
    for (let d = lo; d <= hi; d++) facts.audits.push(audit(d, a));
  }
  for (const a of cf.audits ?? []) facts.audits.push(audit(dayOf(a.date), a));
  // the command samples as the backends give them: the newest 20 (any result), and per week,
  // device and system the newest successful ones
  const cmds: CommandSample[] = (cf.commands ?? [])
    .map((c) => ({
      ts: Date.parse(c.ts),
      actor: c.actor ?? c.system.toLowerCase(),
      system: c.system,
      device: c.device,
      tag: c.tag ?? 'setpoint',
      value: c.value ?? '1',
      result: c.result ?? 'ok',
      gateway: c.gateway ?? gws[0]!.id,
    }))
    .filter((c) => c.ts >= from && c.ts < to)
    .sort((a, b) => b.ts - a.ts);
  facts.commands = cmds.slice(0, 20);
  const perKey = new Map<string, number>();
  for (const c of cmds) {
    if (c.result !== 'ok') continue;
    const k = `${weekOf(c.ts, policy)}/${c.gateway}/${c.device}/${c.system}`;
    const n = perKey.get(k) ?? 0;
    if (n >= WEEKLY_COMMAND_SAMPLES) continue;
    perKey.set(k, n + 1);
    facts.weeklyCommands!.push(c);
  }
  return facts;
}

/** Keyed views of the arrays, so expected.json can name rules, tracks, devices and steps. */
export function keyed(result: Record<string, unknown>): Record<string, unknown> {
  const r = result as {
    rules: Array<{ rule: string }>;
    devices: Array<{ id: string }>;
    processes: Array<{ id: string }>;
    subsidy: { tracks: Array<{ track: string; variant?: string; excluded: Array<{ index: number; code: string }> }> };
  };
  return {
    ...result,
    rulesById: Object.fromEntries(r.rules.map((x) => [x.rule, x])),
    devicesById: Object.fromEntries(r.devices.map((x) => [x.id, x])),
    processesById: Object.fromEntries(r.processes.map((x) => [x.id, x])),
    tracksById: Object.fromEntries(
      r.subsidy.tracks.map((t) => [
        t.variant ? `${t.track}/${t.variant}` : t.track,
        { ...t, excludedCodes: Object.fromEntries(t.excluded.map((e) => [String(e.index), e.code])) },
      ]),
    ),
  };
}
