/**
 * Measured facts (RULES.md "Measured facts"), pure: expected slots per device (window minus planned
 * shutdowns minus platform outages), reporting rate, minimum signal set, staleness, networked at each
 * tier, per calendar week, gaps and a timeline. Every comparison with a threshold is exact.
 */
import { rate4, ratioAbove, ratioAtLeast, type Rational } from './decimal.js';
import { DAY_MS, rangesHas, type DeviceFacts, type DeviceSpec, type Facts } from './facts.js';
import type { Policy } from './policy.js';
import type { Project } from './project.js';

export interface Week {
  index: number;
  /** ms, clipped to the window */
  from: number;
  to: number;
  /** local date of the week's first day (YYYY-MM-DD) */
  label: string;
}

export interface Ratio {
  count: number;
  total: number;
  /** count / total rounded to 4 decimals for display (null when total is 0); decisions use the exact ratio */
  value: number | null;
}

export interface PlatformMeasure {
  slotMs: number;
  slots: number;
  shutdownSlots: number;
  outageSlots: number;
  outage: Ratio;
  outageExceeded: boolean;
  /** longest outages (ms ranges) */
  outages: Array<{ from: number; to: number }>;
}

export interface DeviceMeasure {
  id: string;
  slotMs: number;
  slots: number;
  shutdownSlots: number;
  outageSlots: number;
  expectedSlots: number;
  goodSlots: number;
  reportingRate: Ratio;
  tagsSeen: string[];
  rolesSeen: string[];
  signalSet: boolean;
  lastGoodTs?: number;
  staleLimitMs: number;
  stale: boolean;
  networkedPartial: boolean;
  networkedFull: boolean;
  weekly: Array<{ week: number; expected: number; good: number; pass: boolean | null }>;
  weeklyStable: boolean;
  gapCount: number;
  gaps: Array<{ from: number; to: number; slots: number }>;
  timeline: Array<{ good: number; expected: number; excluded: number }>;
  reasons: string[];
}

const ratio = (count: number, total: number): Ratio => ({ count, total, value: rate4(count, total) });

export const TIMELINE_BINS = 96;
export const MAX_GAPS = 5;

/** Local epoch day of an instant. */
export const localDay = (ts: number, offsetMs: number): number => Math.floor((ts + offsetMs) / DAY_MS);

function weekOfDay(day: number, startsOn: 'monday' | 'sunday'): number {
  // 1970-01-01 (day 0) was a Thursday
  return Math.floor((day + (startsOn === 'monday' ? 3 : 4)) / 7);
}

export function weekOf(ts: number, policy: Policy): number {
  return weekOfDay(localDay(ts, policy.offsetMs), policy.values.weekStartsOn);
}

/** The calendar weeks intersecting [from, to), clipped to it. */
export function weeksOf(from: number, to: number, policy: Policy): Week[] {
  const out: Week[] = [];
  const shift = policy.values.weekStartsOn === 'monday' ? 3 : 4;
  for (let w = weekOf(from, policy); ; w++) {
    const firstDay = w * 7 - shift;
    const start = firstDay * DAY_MS - policy.offsetMs;
    if (start >= to) break;
    const end = start + 7 * DAY_MS;
    out.push({ index: w, from: Math.max(from, start), to: Math.min(to, end), label: new Date(firstDay * DAY_MS).toISOString().slice(0, 10) });
  }
  return out;
}

/** Date-only instants are local midnight in the policy's timezone. */
export function instantMs(text: string, offsetMs: number): number {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return Date.parse(`${text}T00:00:00Z`) - offsetMs;
  return Date.parse(text);
}

interface Grid {
  n: number;
  shutdown: Uint8Array;
  outage: Uint8Array;
}

function grid(facts: Facts, slotMs: number, shutdowns: Array<[number, number]>): Grid {
  const n = Math.max(0, Math.floor((facts.to - facts.from) / slotMs));
  const shutdown = new Uint8Array(n);
  const outage = new Uint8Array(n);
  const hb = facts.heartbeats.find((h) => h.slotMs === slotMs)?.slots ?? [];
  for (let i = 0; i < n; i++) {
    const start = facts.from + i * slotMs;
    if (shutdowns.some(([a, b]) => start >= a && start < b)) shutdown[i] = 1;
    else if (!rangesHas(hb, i)) outage[i] = 1;
  }
  return { n, shutdown, outage };
}

function shutdownRanges(project: Project, policy: Policy): Array<[number, number]> {
  return project.shutdowns.map((s) => [instantMs(s.from, policy.offsetMs), instantMs(s.to, policy.offsetMs)]);
}

export function measurePlatform(facts: Facts, project: Project, policy: Policy): PlatformMeasure {
  const slotMs = policy.values.measure.slotMin;
  const g = grid(facts, slotMs, shutdownRanges(project, policy));
  let shutdownSlots = 0;
  let outageSlots = 0;
  const runs: Array<{ from: number; to: number }> = [];
  for (let i = 0; i < g.n; i++) {
    shutdownSlots += g.shutdown[i]!;
    if (g.outage[i]) {
      outageSlots++;
      const t = facts.from + i * slotMs;
      const last = runs[runs.length - 1];
      if (last && last.to === t) last.to = t + slotMs;
      else runs.push({ from: t, to: t + slotMs });
    }
  }
  const total = g.n - shutdownSlots;
  return {
    slotMs,
    slots: g.n,
    shutdownSlots,
    outageSlots,
    outage: ratio(outageSlots, total),
    outageExceeded: total === 0 || ratioAbove(outageSlots, total, policy.values.measure.outageMax),
    outages: runs.sort((a, b) => b.to - b.from - (a.to - a.from) || a.from - b.from).slice(0, MAX_GAPS),
  };
}

export function rolesOf(spec: DeviceSpec | undefined, tags: readonly string[]): string[] {
  if (!spec) return [];
  const roles = new Set<string>();
  for (const t of tags) {
    const role = spec.tags.find((x) => x.name === t)?.role;
    if (role) roles.add(role);
  }
  return [...roles].sort();
}

export function measureDevice(f: DeviceFacts, spec: DeviceSpec, facts: Facts, project: Project, policy: Policy, weeks: readonly Week[]): DeviceMeasure {
  const m = policy.values.measure;
  const c = policy.values.classification;
  const g = grid(facts, f.slotMs, shutdownRanges(project, policy));
  const weekIdx = new Map(weeks.map((w, i) => [w.index, i]));
  const weekly = weeks.map((w) => ({ week: w.index, expected: 0, good: 0, pass: null as boolean | null }));
  const bins = Math.min(TIMELINE_BINS, g.n);
  const timeline = Array.from({ length: bins }, () => ({ good: 0, expected: 0, excluded: 0 }));
  let shutdownSlots = 0;
  let outageSlots = 0;
  let expected = 0;
  let good = 0;
  const gaps: Array<{ from: number; to: number; slots: number }> = [];
  let run: { from: number; to: number; slots: number } | undefined;
  for (let i = 0; i < g.n; i++) {
    const start = facts.from + i * f.slotMs;
    const bin = timeline[Math.floor((i * bins) / g.n)]!;
    if (g.shutdown[i] || g.outage[i]) {
      if (g.shutdown[i]) shutdownSlots++;
      else outageSlots++;
      bin.excluded++;
      continue; // an excluded slot neither breaks nor extends a gap
    }
    expected++;
    bin.expected++;
    const wk = weekly[weekIdx.get(weekOf(start, policy)) ?? -1];
    if (wk) wk.expected++;
    if (rangesHas(f.goodSlots, i)) {
      good++;
      bin.good++;
      if (wk) wk.good++;
      run = undefined;
    } else if (run && run.to === start) {
      run.to = start + f.slotMs;
      run.slots++;
    } else if (run && run.to < start) {
      // an excluded stretch in between: the gap goes on across it
      run.to = start + f.slotMs;
      run.slots++;
    } else {
      run = { from: start, to: start + f.slotMs, slots: 1 };
      gaps.push(run);
    }
  }
  for (const w of weekly) w.pass = w.expected > 0 ? ratioAtLeast(w.good, w.expected, c.full.rMin) : null;
  const rolesSeen = rolesOf(spec, f.tagsSeen);
  const signalSet = m.signalSet.required.every((r) => rolesSeen.includes(r)) && m.signalSet.anyOf.some((r) => rolesSeen.includes(r));
  const staleLimitMs = Math.max(m.staleIntervals * spec.interval, m.staleMin);
  const stale = f.lastGoodTs === undefined || facts.to - f.lastGoodTs > staleLimitMs;
  const meets = (r: Rational) => expected > 0 && ratioAtLeast(good, expected, r);
  const reasons: string[] = [];
  if (expected === 0) reasons.push('NO_EXPECTED_SLOTS');
  if (!meets(c.partial.rMin)) reasons.push('RATE_BELOW_PARTIAL');
  else if (!meets(c.full.rMin)) reasons.push('RATE_BELOW_FULL');
  if (!signalSet) reasons.push('SIGNAL_SET_INCOMPLETE');
  if (stale) reasons.push('STALE');
  const ok = signalSet && !stale;
  const weeklyStable = weekly.every((w) => w.pass !== false);
  if (!weeklyStable) reasons.push('WEEK_BELOW_FULL');
  const out: DeviceMeasure = {
    id: f.id,
    slotMs: f.slotMs,
    slots: g.n,
    shutdownSlots,
    outageSlots,
    expectedSlots: expected,
    goodSlots: good,
    reportingRate: ratio(good, expected),
    tagsSeen: f.tagsSeen,
    rolesSeen,
    signalSet,
    staleLimitMs,
    stale,
    networkedPartial: ok && meets(c.partial.rMin),
    networkedFull: ok && meets(c.full.rMin),
    weekly,
    weeklyStable,
    gapCount: gaps.length,
    gaps: [...gaps].sort((a, b) => b.slots - a.slots || a.from - b.from).slice(0, MAX_GAPS),
    timeline,
    reasons,
  };
  if (f.lastGoodTs !== undefined) out.lastGoodTs = f.lastGoodTs;
  return out;
}
