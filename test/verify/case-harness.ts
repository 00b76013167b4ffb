/**
 * Turns a golden case folder (test/cases/verify/<name>/) into the core's inputs. A case holds
 * project.yaml (as a user writes it), case.yaml (the gateway's devices and what the data shows, in
 * compact form: slot ranges, outage intervals, daily audit counts) and expected.json (values computed
 * by hand from the rules in verify/README.md). The harness only expands the compact form; every decision is the core's.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { parseDuration } from '../../config/common.js';
import { DAY_MS, toRanges, type AuditDay, type DeviceSpec, type Facts, type Ranges } from '../../verify/facts.js';
import { matchOrders, type OrderMatch } from '../../verify/orders.js';
import { DEFAULT_POLICY, loadPolicy, type Policy } from '../../verify/policy.js';
import { parseProjectText, type Project } from '../../verify/project.js';
import { instantMs } from '../../verify/measure.js';

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
}

export interface CaseFile {
  factsFrom?: string;
  window: { from: string; to: string };
  preliminary?: boolean;
  registeredSystems?: string[];
  devices: CaseDevice[];
  outages?: Array<{ from: string; to: string }>;
  auditsDaily?: Array<{ action: 'read' | 'write'; system: string; device?: string; count: number }>;
  audits?: Array<{ date: string; action: 'read' | 'write'; system: string; device?: string; count: number }>;
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
  expected: Record<string, unknown>;
  caseFile: CaseFile;
}

export function loadCaseFile(dir: string): CaseFile {
  const own = parse(readFileSync(join(dir, 'case.yaml'), 'utf8')) as Partial<CaseFile> | null;
  if (own?.factsFrom) {
    const base = parse(readFileSync(resolve(dir, own.factsFrom), 'utf8')) as CaseFile;
    return { ...base, ...own } as CaseFile;
  }
  return own as CaseFile;
}

export function loadCase(dir: string, name: string): LoadedCase {
  const projectFile = join(dir, 'project.yaml');
  const cf = loadCaseFile(dir);
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, unknown>;
  const project = parseProjectText(readFileSync(projectFile, 'utf8'), projectFile);
  const policy = loadPolicy(project.policy ?? DEFAULT_POLICY, dir);
  const devices: DeviceSpec[] = cf.devices.map((d) => {
    const s: DeviceSpec = { id: d.id, interval: parseDuration(d.interval ?? '1s')!, tags: d.tags };
    if (d.process) s.process = d.process;
    if (d.name) s.name = d.name;
    return s;
  });
  const facts = buildFacts(cf, devices, policy);
  const out: LoadedCase = { name, dir, project, projectFile, policy, devices, facts, preliminary: cf.preliminary ?? false, registeredSystems: cf.registeredSystems ?? [], expected, caseFile: cf };
  const ev = project.evidence;
  if (ev.erpOrders && ev.mesOrders) {
    const e = resolve(dir, ev.erpOrders);
    const m = resolve(dir, ev.mesOrders);
    if (existsSync(e) && existsSync(m)) out.orders = matchOrders(readFileSync(e, 'utf8'), ev.erpOrders, readFileSync(m, 'utf8'), ev.mesOrders, { from: facts.from, to: facts.to, offsetMs: policy.offsetMs });
  }
  return out;
}

export function buildFacts(cf: CaseFile, devices: DeviceSpec[], policy: Policy): Facts {
  const from = instantMs(cf.window.from, policy.offsetMs);
  const to = instantMs(cf.window.to, policy.offsetMs);
  const slotMin = policy.values.measure.slotMin;
  const facts: Facts = { from, to, heartbeats: [], devices: [], audits: [] };
  const sizes = new Set<number>([slotMin]);
  cf.devices.forEach((d, i) => {
    const slotMs = Math.max(devices[i]!.interval, slotMin);
    sizes.add(slotMs);
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
    const f: Facts['devices'][number] = { id: d.id, slotMs, goodSlots: good, tagsSeen: [...(d.seen ?? d.tags.map((t) => t.name))].sort() };
    if (d.lastGood !== 'none') {
      const last = good[good.length - 1];
      const ts = d.lastGood ? Date.parse(d.lastGood) : last ? from + (last[1] - 1) * slotMs : undefined;
      if (ts !== undefined) f.lastGoodTs = ts;
    }
    facts.devices.push(f);
  });
  const outages = (cf.outages ?? []).map((o) => [Date.parse(o.from), Date.parse(o.to)] as const);
  for (const slotMs of [...sizes].sort((a, b) => a - b)) {
    const n = Math.floor((to - from) / slotMs);
    const beat: number[] = [];
    for (let s = 0; s < n; s++) {
      const a = from + s * slotMs;
      const b = a + slotMs;
      // a slot has no heartbeat when an outage covers all of it
      if (!outages.some(([x, y]) => x <= a && b <= y)) beat.push(s);
    }
    facts.heartbeats.push({ slotMs, slots: toRanges(beat) });
  }
  const audits: AuditDay[] = [];
  const firstDay = Math.floor((from + policy.offsetMs) / DAY_MS);
  const lastDay = Math.floor((to - 1 + policy.offsetMs) / DAY_MS);
  for (const a of cf.auditsDaily ?? []) for (let d = firstDay; d <= lastDay; d++) audits.push({ day: d, action: a.action, system: a.system, device: a.device ?? '', count: a.count });
  for (const a of cf.audits ?? []) audits.push({ day: Math.floor(Date.parse(`${a.date}T00:00:00Z`) / DAY_MS), action: a.action, system: a.system, device: a.device ?? '', count: a.count });
  facts.audits = audits;
  return facts;
}

/** Keyed views of the arrays, so expected.json can name rules, tracks, devices and steps. */
export function keyed(result: Record<string, unknown>): Record<string, unknown> {
  const r = result as { rules: Array<{ rule: string }>; devices: Array<{ id: string }>; processes: Array<{ id: string }>; subsidy: { tracks: Array<{ track: string; variant?: string; excluded: Array<{ index: number; code: string }> }> } };
  return {
    ...result,
    rulesById: Object.fromEntries(r.rules.map((x) => [x.rule, x])),
    devicesById: Object.fromEntries(r.devices.map((x) => [x.id, x])),
    processesById: Object.fromEntries(r.processes.map((x) => [x.id, x])),
    tracksById: Object.fromEntries(
      r.subsidy.tracks.map((t) => [t.variant ? `${t.track}/${t.variant}` : t.track, { ...t, excludedCodes: Object.fromEntries(t.excluded.map((e) => [String(e.index), e.code])) }]),
    ),
  };
}
