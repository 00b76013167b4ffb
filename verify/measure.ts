/**
 * Measured facts, pure: expected slots per device (window minus the slots that overlap a planned
 * shutdown or a platform outage of the device's own gateway), reporting rate, minimum signal set,
 * staleness (judged at the end of the device's last slot that is not excluded), networked at each
 * tier, per calendar week, gaps (缺报) and a timeline. Every comparison with a threshold is exact.
 */
import { instantMs, type Week } from './calendar.js';
import { rate4, ratioAbove, ratioAtLeast, type Rational } from './decimal.js';
import type { DeviceFacts, DeviceSpec, Facts } from './facts.js';
import type { Policy } from './policy.js';
import type { Project } from './project.js';
import { lastJudgedEnd, lossRanges, slotGrid, type Ranges, type SlotGrid } from './slots.js';

export { instantMs, localDay, weekOf, weeksOf, type Week } from './calendar.js';

export interface Ratio {
  count: number;
  total: number;
  /** count / total rounded to 4 decimals for display (null when total is 0); decisions use the exact ratio */
  value: number | null;
}

export interface PlatformMeasure {
  /** (schema 2) the gateway this measure is of */
  gateway?: string;
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
  /** (schema 2) the gateway collecting the device */
  gateway: string;
  slotMs: number;
  slots: number;
  shutdownSlots: number;
  outageSlots: number;
  /** (schema 2) slots excluded because the gateway itself lost the device's readings there (loss ledger) */
  lostSlots: number;
  /** (schema 2) the gateway's loss episodes for the device in the window: a gap of the gateway's making */
  losses: Array<{ reason: string; from: number; to: number; count: number }>;
  expectedSlots: number;
  goodSlots: number;
  reportingRate: Ratio;
  tagsSeen: string[];
  rolesSeen: string[];
  signalSet: boolean;
  lastGoodTs?: number;
  /** (schema 2) where staleness was judged: the end of the last slot not excluded (absent when every slot is excluded) */
  staleAt?: number;
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

/** The project's planned shutdowns as ms ranges (dates are local midnight in the policy's zone). */
export function shutdownRanges(project: Pick<Project, 'shutdowns'>, policy: Pick<Policy, 'offsetMs'>): Array<[number, number]> {
  return project.shutdowns.map((s) => [instantMs(s.from, policy.offsetMs), instantMs(s.to, policy.offsetMs)]);
}

function heartbeatOf(facts: Facts, gateway: string): Ranges {
  return facts.heartbeats.find((h) => h.gateway === gateway)?.slots ?? [];
}

/** The slots of one device (with its loss episodes) or of a gateway at slotMin, with what excludes each. */
export function gridFor(
  facts: Facts,
  gateway: string,
  slotMs: number,
  project: Pick<Project, 'shutdowns'>,
  policy: Policy,
  losses?: DeviceFacts['losses'],
): SlotGrid {
  return slotGrid({
    from: facts.from,
    to: facts.to,
    slotMs,
    shutdowns: shutdownRanges(project, policy),
    slotMinMs: policy.values.measure.slotMin,
    heartbeat: heartbeatOf(facts, gateway),
    lost: lossRanges(losses),
  });
}

/** One gateway's platform outages: slots of slotMin outside planned shutdowns without its heartbeat. */
export function measurePlatform(facts: Facts, project: Pick<Project, 'shutdowns'>, policy: Policy, gateway: string): PlatformMeasure {
  const slotMs = policy.values.measure.slotMin;
  const g = gridFor(facts, gateway, slotMs, project, policy);
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
    gateway,
    slotMs,
    slots: g.n,
    shutdownSlots,
    outageSlots,
    outage: ratio(outageSlots, total),
    // a window without a slot outside planned shutdowns is judged by window.noExpectedSlots, not here
    outageExceeded: total > 0 && ratioAbove(outageSlots, total, policy.values.measure.outageMax),
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

export function measureDevice(
  f: DeviceFacts,
  spec: DeviceSpec,
  facts: Facts,
  project: Pick<Project, 'shutdowns'>,
  policy: Policy,
  weeks: readonly Week[],
): DeviceMeasure {
  const m = policy.values.measure;
  const c = policy.values.classification;
  const g = gridFor(facts, f.gateway, f.slotMs, project, policy, f.losses);
  const weekly = weeks.map((w) => ({ week: w.index, expected: 0, good: 0, pass: null as boolean | null }));
  const bins = Math.min(TIMELINE_BINS, g.n);
  const timeline = Array.from({ length: bins }, () => ({ good: 0, expected: 0, excluded: 0 }));
  let shutdownSlots = 0;
  let outageSlots = 0;
  let lostSlots = 0;
  let expected = 0;
  let good = 0;
  const gaps: Array<{ from: number; to: number; slots: number }> = [];
  let run: { from: number; to: number; slots: number } | undefined;
  // walked along the slots: the week a slot starts in, the good range at or after it
  const weekEnds = weeks.map((w) => Math.ceil((w.to - facts.from) / f.slotMs));
  let wi = 0;
  let gi = 0;
  const goodRanges = f.goodSlots;
  for (let i = 0; i < g.n; i++) {
    const start = facts.from + i * f.slotMs;
    const bin = timeline[Math.floor((i * bins) / g.n)]!;
    while (wi < weekEnds.length && i >= weekEnds[wi]!) wi++;
    while (gi < goodRanges.length && goodRanges[gi]![1] <= i) gi++;
    if (g.shutdown[i] || g.outage[i] || g.lost[i]) {
      if (g.shutdown[i]) shutdownSlots++;
      else if (g.outage[i]) outageSlots++;
      else lostSlots++;
      bin.excluded++;
      continue; // an excluded slot neither breaks nor extends a gap
    }
    expected++;
    bin.expected++;
    const wk = weekly[wi];
    if (wk) wk.expected++;
    if (gi < goodRanges.length && goodRanges[gi]![0] <= i) {
      good++;
      bin.good++;
      if (wk) wk.good++;
      run = undefined;
    } else if (run && run.to <= start) {
      // the gap goes on (across an excluded stretch, if one lies in between)
      run.to = start + f.slotMs;
      run.slots++;
    } else {
      run = { from: start, to: start + f.slotMs, slots: 1 };
      gaps.push(run);
    }
  }
  // a week that keeps no expected slot (shut down, or its gateway down) is not judged
  for (const w of weekly) w.pass = w.expected > 0 ? ratioAtLeast(w.good, w.expected, c.full.rMin) : null;
  const rolesSeen = rolesOf(spec, f.tagsSeen);
  const signalSet = m.signalSet.required.every((r) => rolesSeen.includes(r)) && m.signalSet.anyOf.some((r) => rolesSeen.includes(r));
  const staleLimitMs = Math.max(m.staleIntervals * spec.interval, m.staleMin);
  const staleAt = lastJudgedEnd(g);
  // 停报: no good reading for longer than the limit at the end of the last slot that is judged
  // (not judged when every slot is excluded: NO_EXPECTED_SLOTS says why the device is not networked)
  const stale = staleAt !== undefined && (f.lastGoodTs === undefined || staleAt - f.lastGoodTs > staleLimitMs);
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
    gateway: f.gateway,
    slotMs: f.slotMs,
    slots: g.n,
    shutdownSlots,
    outageSlots,
    lostSlots,
    losses: f.losses ?? [],
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
  if (staleAt !== undefined) out.staleAt = staleAt;
  return out;
}
