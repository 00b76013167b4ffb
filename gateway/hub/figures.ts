/**
 * A project's live figures: liveness now (each device's newest reading, each gateway's newest
 * heartbeat), the verifier's networking rate and preliminary classification over the last 7 and
 * 30 days (verify/evaluate.ts run on facts.ts's bucket-resolved facts), the networking rate of each
 * day, the weekly evidence (audited commands and reads per system) and the alarms.
 *
 * Windows (all in the policy's zone): `to` is now (a whole slotMin), clipped to the project period;
 * the 30-day window starts at the local midnight 29 days before today (or the period's start), the
 * 7-day one 6 days before. What changes fast is cached briefly, what is costly longer:
 * - each gateway's newest heartbeat and its devices' newest readings (liveness, silence alarms):
 *   `cache.ttl` (30 s);
 * - the verifier's figures over the windows (rates, classification, daily series, weekly evidence,
 *   their alarms), evaluated on the counts of today and the days before plus the audit days (the
 *   verifier's own query, source-influx.ts): `cache.figures` (5 min);
 * - the counts of the days before today, which change only when a gateway forwards a backlog
 *   late: `cache.history` (1 h).
 */
import { readFileSync } from 'node:fs';
import { staleAfterMs } from '../api/live.js';
import { DAY_MS, type AuditDay, type LossFact } from '../../verify/facts.js';
import { evaluate, registeredSystemsOf as systemsOfConfig, type VerifyResult } from '../../verify/evaluate.js';
import { instantMs, localDay, shutdownRanges, weekOf } from '../../verify/measure.js';
import { matchOrders, type OrderMatch } from '../../verify/orders.js';
import { ratioAtLeast } from '../../verify/decimal.js';
import { influxFacts } from '../../verify/source-influx.js';
import { localDate } from '../../verify/local-time.js';
import type { FigureCache } from './cache.js';
import type { HubProjectOk } from './config.js';
import { bucketMs, gatewayCounts, liveState, mergeCounts, type GatewayCounts, type LiveState } from './counts.js';
import { windowFacts } from './facts.js';
import type { HubInflux } from './influx.js';
import type { HubConfig } from './schema.js';

export type ClassificationOrPending = VerifyResult['classification'] | 'pending';

export interface Alarm {
  kind: 'gateway.silent' | 'device.silent' | 'networking.belowTier' | 'evidence.noCommands' | 'evidence.noReads';
  project: string;
  gateway?: string;
  device?: string;
  /** since when (ms): the newest heartbeat / reading, or the start of the day / week judged */
  since?: number;
  /** the measured value (ms silent, a rate, a count) and the threshold it was compared with */
  value: number | null;
  threshold: number | string;
  /** the day (YYYY-MM-DD) or week label judged */
  period?: string;
  detail?: string;
}

export interface WindowFigures {
  from: number;
  to: number;
  classification: VerifyResult['classification'];
  /** partial-tier networking rate (networked in-scope / in-scope), null without in-scope devices */
  networkingRate: number | null;
  networkingRateFull: number | null;
  networked: number;
  inScope: number;
  failed: string[];
}

export interface DeviceFigures {
  id: string;
  name?: string;
  gateway?: string;
  process?: string;
  category?: string;
  inScope: boolean;
  exempt?: string;
  inGateway: boolean;
  live: boolean;
  lastReading?: number;
  silentAfterMs?: number;
  /** reporting rate over the 7 / 30 days (the verifier's good / expected slots) */
  rate7d: number | null;
  rate30d: number | null;
  networked30d: boolean;
  reasons30d: string[];
  /** the verifier's good and expected slots over the 30 days */
  slots30d?: { good: number; expected: number; outage: number; lost: number };
}

export interface GatewayFigures {
  id: string;
  site?: string;
  lastHeartbeat?: number;
  online: boolean;
  silentAfterMs: number;
}

export interface ProjectFigures {
  id: string;
  name: string;
  enterprise: string;
  town?: string;
  industry?: string;
  claim: 'full' | 'partial';
  pilot: boolean;
  period: { from: string; to: string };
  /** the policy's zone offset (ms): times are shown local to it */
  offsetMs: number;
  /** when these figures were computed (ms) */
  at: number;
  gateways: GatewayFigures[];
  devices: DeviceFigures[];
  live: { inScope: number; live: number; rate: number | null };
  d7?: WindowFigures;
  d30?: WindowFigures;
  classification: ClassificationOrPending;
  /** 7-day classification against the 30-day one */
  trend: 'up' | 'down' | 'same' | null;
  alarms: Alarm[];
}

export interface ProjectDetail extends ProjectFigures {
  /** networking rate of each local day of the 30-day window */
  daily: Array<{ day: string; from: number; rate: number | null; rateFull: number | null; networked: number; inScope: number }>;
  /** audited successful accesses per calendar week and system */
  weekly: Array<{
    week: string;
    from: number;
    to: number;
    commands: Record<string, number>;
    reads: Record<string, number>;
    registeredReads: number;
    commandsToScope: number;
  }>;
  registeredSystems: string[];
}

export interface FiguresContext {
  influx: HubInflux;
  config: HubConfig;
  cache: FigureCache;
  now(): number;
}

const RANK: Record<string, number> = { none: 0, partial: 1, full: 2 };

/** The live windows of a project at `now`: undefined while its period has not started. */
export function liveWindows(p: HubProjectOk, now: number): { today0: number; from30: number; from7: number; to: number } | undefined {
  const off = p.policy.offsetMs;
  const periodStart = instantMs(p.loaded.project.project.period.from, off);
  const periodEnd = instantMs(p.loaded.project.project.period.to, off) + DAY_MS;
  const slot = p.policy.values.measure.slotMin;
  const to = Math.min(Math.floor(now / slot) * slot, periodEnd);
  if (to <= periodStart) return undefined;
  const today0 = localDay(to - 1, off) * DAY_MS - off;
  return { today0, to, from30: Math.max(periodStart, today0 - 29 * DAY_MS), from7: Math.max(periodStart, today0 - 6 * DAY_MS) };
}

/** The order exports of a project matched for a window (only orders released in it count). */
function ordersOf(p: HubProjectOk, from: number, to: number): OrderMatch | undefined {
  const l = p.loaded;
  if (!l.erpOrdersPath || !l.mesOrdersPath) return undefined;
  try {
    return matchOrders(
      readFileSync(l.erpOrdersPath, 'utf8'),
      l.project.evidence.erpOrders!,
      readFileSync(l.mesOrdersPath, 'utf8'),
      l.project.evidence.mesOrders!,
      { from, to, offsetMs: p.policy.offsetMs },
    );
  } catch {
    return undefined; // unreadable exports: judged as absent here; the review report names the problem
  }
}

export function registeredSystemsOf(p: HubProjectOk): string[] {
  // the verifier's one definition, over every gateway of the project
  return [...new Set(p.gateways.flatMap((g) => systemsOfConfig(g.config)))];
}

type Losses = Map<string, Array<LossFact & { device: string }>>;

function evaluateWindow(
  p: HubProjectOk,
  counts: Map<string, { counts: GatewayCounts; statusInterval: number }>,
  audits: AuditDay[],
  losses: Losses,
  live: Map<string, LiveState> | undefined,
  from: number,
  to: number,
): VerifyResult {
  const policy = p.policy;
  const facts = windowFacts({
    losses,
    from,
    to,
    slotMinMs: policy.values.measure.slotMin,
    devices: p.devices,
    counts,
    audits,
    offsetMs: policy.offsetMs,
    shutdowns: shutdownRanges(p.loaded.project, policy),
    ...(live ? { live } : {}),
  });
  const orders = ordersOf(p, from, to);
  return evaluate({
    project: p.loaded.project,
    projectFile: p.loaded.path,
    policy,
    devices: p.devices,
    registeredSystems: registeredSystemsOf(p),
    facts,
    ...(orders ? { orders } : {}),
    preliminary: true,
    source: 'influx',
    // each gateway's own heartbeat decides its own devices' outages
    gateways: p.gateways.map((g) => ({ id: g.id, ...(g.site ? { site: g.site } : {}), config: g.file })),
  });
}

function windowFigures(r: VerifyResult): WindowFigures {
  return {
    from: r.window.fromMs,
    to: r.window.toMs,
    classification: r.classification,
    networkingRate: r.networkingRate.value,
    networkingRateFull: r.networkingRate.full.value,
    networked: r.networkingRate.networked,
    inScope: r.networkingRate.inScope,
    failed: r.rules.filter((x) => x.result === 'fail').map((x) => x.rule),
  };
}

/** Each gateway's newest heartbeat and its devices' newest readings before `to` (cached `cache.ttl`). */
async function liveOf(ctx: FiguresContext, p: HubProjectOk, w: Windows): Promise<{ live: Map<string, LiveState>; errors: string[] }> {
  const { config, cache, influx } = ctx;
  const live = new Map<string, LiveState>();
  const errors: string[] = [];
  await Promise.all(
    p.gateways.map(async (g) => {
      // the newest reading before `to` (the verifier's staleness rule) is also the device's liveness now
      const c = await cache.get(
        `live|${g.id}`,
        config.cache.ttl,
        () =>
          liveState(influx, {
            measurement: config.influx.measurement,
            gateway: g.id,
            since: w.from30,
            until: w.to,
            uncertainIsGood: p.policy.values.measure.uncertainCountsAsGood,
          }),
        { stale: false },
      );
      if (c.error) errors.push(c.error);
      live.set(g.id, c.value);
    }),
  );
  return { live, errors };
}

/** Bucket counts, audit days and loss episodes of every gateway of a project over the 30-day window. */
async function countsOf(ctx: FiguresContext, p: HubProjectOk, w: Windows) {
  const { config, cache, influx } = ctx;
  const measurement = config.influx.measurement;
  const sizes = [...new Set(p.devices.map((d) => bucketMs(Math.max(d.interval, p.policy.values.measure.slotMin))))];
  const b = sizes.length === 1 ? sizes[0]! : bucketMs(p.policy.values.measure.slotMin);
  const counts = new Map<string, { counts: GatewayCounts; statusInterval: number }>();
  const audits: AuditDay[] = [];
  const losses: Losses = new Map();
  const uncertainIsGood = p.policy.values.measure.uncertainCountsAsGood;
  await Promise.all(
    p.gateways.map(async (g) => {
      const key = `${g.id}|${b}`;
      // days before today change only when a gateway forwards a backlog late: cached longest
      const history =
        w.from30 < w.today0
          ? await cache.get(`hist|${key}|${w.from30}|${w.today0}`, config.cache.history, () =>
              gatewayCounts(influx, { measurement, gateway: g.id, from: w.from30, to: w.today0, bucketMs: b, uncertainIsGood }),
            )
          : undefined;
      const today = await gatewayCounts(influx, { measurement, gateway: g.id, from: Math.max(w.today0, w.from30), to: w.to, bucketMs: b, uncertainIsGood });
      // audits per day through the verifier's own query (one per action)
      const src = influxFacts({
        url: config.influx.url,
        database: config.influx.database,
        gateway: g.id,
        measurement,
        ...(config.influx.username ? { username: config.influx.username } : {}),
        ...(config.influx.password ? { password: config.influx.password } : {}),
      });
      const days = await influx.limited(2, () => src.auditDays({ from: w.from30, to: w.to, offsetMs: p.policy.offsetMs }));
      audits.push(...days.map((a) => ({ ...a, gateway: g.id })));
      // the gateway's loss ledger through the verifier's own query: its lost slots are excluded, as in the report
      losses.set(g.id, await influx.limited(2, () => src.lossEpisodes({ from: w.from30, to: w.to })));
      counts.set(g.id, { counts: mergeCounts([...(history ? [history.value] : []), today]), statusInterval: g.statusInterval });
    }),
  );
  return { counts, audits, losses };
}

type Windows = NonNullable<ReturnType<typeof liveWindows>>;

/** Thresholds of the silence alarms: the hub file's, else the policy's staleness rule. */
export function silenceThresholds(config: HubConfig, p: HubProjectOk): { gateway: (statusInterval: number) => number; device: (interval: number) => number } {
  const m = p.policy.values.measure;
  const rule = { intervalFactor: m.staleIntervals, minMs: m.staleMin };
  return {
    gateway: (si) => config.alarms.gatewaySilent ?? staleAfterMs(si, rule),
    device: (iv) => config.alarms.deviceSilent ?? staleAfterMs(iv, rule),
  };
}

/** What the project file says about the project, as the hub shows it. */
export function headerOf(p: HubProjectOk) {
  const pr = p.loaded.project.project;
  return {
    id: pr.id,
    name: pr.name,
    enterprise: pr.enterprise.name,
    ...(pr.enterprise.town ? { town: pr.enterprise.town } : {}),
    ...(pr.enterprise.industry ? { industry: pr.enterprise.industry } : {}),
    claim: pr.claim,
    pilot: pr.pilot,
    period: pr.period,
    offsetMs: p.policy.offsetMs,
  };
}

/** Whether a day's evaluation meets the claimed tier's networking rule (or the hub file's rate). */
function tierMet(config: HubConfig, p: HubProjectOk, r: VerifyResult): { met: boolean; value: number | null; threshold: string } {
  const c = p.policy.values.classification;
  const n = r.networkingRate;
  if (config.alarms.networkingRateMin) {
    const t = config.alarms.networkingRateMin;
    const net = p.loaded.project.project.claim === 'full' ? n.full : n;
    return { met: net.inScope > 0 && ratioAtLeast(net.networked, net.inScope, t), value: net.value, threshold: `${Number(t.num) / Number(t.den)}` };
  }
  if (p.loaded.project.project.claim === 'full')
    return { met: n.inScope > 0 && n.full.networked === n.inScope, value: n.full.value, threshold: `all in-scope devices at rMin ${n.full.rMin}` };
  return { met: n.networked >= c.partial.minNetworkedDevices, value: n.value, threshold: `${c.partial.minNetworkedDevices} device(s) at rMin ${n.rMin}` };
}

/** Alarms of the evidence rules for the last full calendar week of the 30-day evaluation. */
function weekAlarms(config: HubConfig, p: HubProjectOk, r: VerifyResult): Alarm[] {
  const out: Alarm[] = [];
  const id = p.id;
  const wi = r.weeks
    .map((w, i) => ({ w, i }))
    .filter(({ w }) => w.to - w.from === 7 * DAY_MS)
    .pop();
  if (!wi) return out;
  const expected = r.devices.filter((d) => d.inScope).reduce((s, d) => s + (d.weekly?.[wi.i]?.expected ?? 0), 0);
  if (expected === 0) return out; // a week wholly shut down (or with the platform down) is not judged
  const c = p.policy.values.classification.full;
  const minReads = config.alarms.readsPerWeekMin ?? c.minReadsPerWeek;
  const reads = r.dataUse.readsPerWeek[wi.i] ?? 0;
  if (reads < minReads)
    out.push({
      kind: 'evidence.noReads',
      project: id,
      since: wi.w.from,
      value: reads,
      threshold: minReads,
      period: wi.w.label,
      detail: `reads by registered systems (${r.dataUse.registeredSystems.join(', ') || 'none registered'})`,
    });
  const minCmd = config.alarms.commandsPerWeekMin ?? c.minCommandsPerWeek;
  const short = r.processes.filter((s) => s.inScopeDevices.length > 0 && (s.commandsPerWeek[wi.i] ?? 0) < minCmd);
  if (short.length > 0)
    out.push({
      kind: 'evidence.noCommands',
      project: id,
      since: wi.w.from,
      value: Math.min(...short.map((s) => s.commandsPerWeek[wi.i] ?? 0)),
      threshold: minCmd,
      period: wi.w.label,
      detail: short.map((s) => s.id).join(', '),
    });
  return out;
}

/** What the verifier says about a project's windows (cached `cache.figures`): the slow-moving figures. */
interface WindowPart {
  to: number;
  d7: WindowFigures;
  d30: WindowFigures;
  devices: Array<
    Pick<
      DeviceFigures,
      'id' | 'name' | 'process' | 'category' | 'inScope' | 'exempt' | 'inGateway' | 'rate7d' | 'rate30d' | 'networked30d' | 'reasons30d' | 'slots30d'
    >
  >;
  alarms: Alarm[];
  daily: ProjectDetail['daily'];
  weekly: ProjectDetail['weekly'];
}

async function windowPart(ctx: FiguresContext, p: HubProjectOk, w: Windows, detail: boolean): Promise<WindowPart> {
  const g = await countsOf(ctx, p, w);
  const { live } = await liveOf(ctx, p, w);
  const off = p.policy.offsetMs;
  const r30 = evaluateWindow(p, g.counts, g.audits, g.losses, live, w.from30, w.to);
  const r7 = evaluateWindow(p, g.counts, g.audits, g.losses, live, w.from7, w.to);
  const m7 = new Map(r7.devices.map((d) => [d.id, d]));
  const devices: WindowPart['devices'] = r30.devices.map((d) => ({
    id: d.id,
    ...(d.name ? { name: d.name } : {}),
    ...(d.process ? { process: d.process } : {}),
    ...(d.category ? { category: d.category } : {}),
    inScope: d.inScope,
    ...(d.exempt ? { exempt: d.exempt } : {}),
    inGateway: d.inGateway,
    rate7d: m7.get(d.id)?.reportingRate?.value ?? null,
    rate30d: d.reportingRate?.value ?? null,
    networked30d: d.networked,
    reasons30d: d.reasons,
    ...(d.expectedSlots !== undefined
      ? { slots30d: { good: d.goodSlots ?? 0, expected: d.expectedSlots, outage: d.outageSlots ?? 0, lost: d.lostSlots ?? 0 } }
      : {}),
  }));
  const alarms: Alarm[] = [];
  // each local day of the window (the project page), or only the last full day (the overview's alarm)
  const daily: ProjectDetail['daily'] = [];
  const dayEnd = (t: number) => localDay(t, off) * DAY_MS - off + DAY_MS;
  for (let t = w.from30; t < w.to; t = dayEnd(t)) {
    const end = Math.min(w.to, dayEnd(t));
    const lastFull = end <= w.today0 && end > w.today0 - DAY_MS;
    if (!detail && !lastFull) continue;
    const r = evaluateWindow(p, g.counts, g.audits, g.losses, end === w.to ? live : undefined, t, end);
    daily.push({
      day: localDate(t, off),
      from: t,
      rate: r.networkingRate.value,
      rateFull: r.networkingRate.full.value,
      networked: r.networkingRate.networked,
      inScope: r.networkingRate.inScope,
    });
    if (lastFull) {
      const tier = tierMet(ctx.config, p, r);
      // a day wholly shut down or without the platform is not judged (the gateway alarm covers the latter)
      const judgedSlots = r.platform.slots - r.platform.shutdownSlots - r.platform.outageSlots;
      if (!tier.met && r.networkingRate.inScope > 0 && judgedSlots > 0)
        alarms.push({ kind: 'networking.belowTier', project: p.id, since: t, value: tier.value, threshold: tier.threshold, period: localDate(t, off) });
    }
  }
  alarms.push(...weekAlarms(ctx.config, p, r30));
  const weekly: ProjectDetail['weekly'] = [];
  if (detail) {
    const registered = new Set(registeredSystemsOf(p).map((x) => x.toLowerCase()));
    const scope = new Set(devices.filter((d) => d.inScope).map((d) => d.id));
    for (const wk of r30.weeks) {
      const row = {
        week: wk.label,
        from: wk.from,
        to: wk.to,
        commands: {} as Record<string, number>,
        reads: {} as Record<string, number>,
        registeredReads: 0,
        commandsToScope: 0,
      };
      for (const a of g.audits) {
        if (weekOf(a.day * DAY_MS - off + DAY_MS / 2, p.policy) !== wk.index) continue;
        if (a.action === 'write') {
          row.commands[a.system] = (row.commands[a.system] ?? 0) + a.count;
          if (scope.has(a.device)) row.commandsToScope += a.count;
        } else {
          row.reads[a.system] = (row.reads[a.system] ?? 0) + a.count;
          if (registered.has(a.system.toLowerCase())) row.registeredReads += a.count;
        }
      }
      weekly.push(row);
    }
  }
  return { to: w.to, d7: windowFigures(r7), d30: windowFigures(r30), devices, alarms, daily, weekly };
}

async function compute(ctx: FiguresContext, p: HubProjectOk, detail: boolean): Promise<ProjectDetail & { error?: string }> {
  const now = ctx.now();
  const head = headerOf(p);
  const th = silenceThresholds(ctx.config, p);
  const w = liveWindows(p, now);
  const cats = new Set(p.policy.values.measure.inScopeCategories);
  const byId = new Map(p.devices.map((d) => [d.id, d]));
  const registeredSystems = registeredSystemsOf(p);
  if (!w) {
    return {
      ...head,
      at: now,
      gateways: p.gateways.map((g) => ({ id: g.id, ...(g.site ? { site: g.site } : {}), online: false, silentAfterMs: th.gateway(g.statusInterval) })),
      devices: p.loaded.project.equipment.map((e) => ({
        id: e.id,
        ...(e.name ? { name: e.name } : {}),
        inScope: cats.has(e.category) && !e.exempt,
        inGateway: byId.has(e.id),
        live: false,
        rate7d: null,
        rate30d: null,
        networked30d: false,
        reasons30d: [],
      })),
      live: { inScope: 0, live: 0, rate: null },
      classification: 'pending',
      trend: null,
      alarms: [],
      daily: [],
      weekly: [],
      registeredSystems,
    };
  }
  const win = await ctx.cache.get(`win|${detail ? 'detail' : 'row'}|${p.id}`, ctx.config.cache.figures, () => windowPart(ctx, p, w, detail));
  const { live, errors } = await liveOf(ctx, p, w);
  const gateways: GatewayFigures[] = p.gateways.map((gw) => {
    const last = live.get(gw.id)?.lastHeartbeat;
    const limit = th.gateway(gw.statusInterval);
    return {
      id: gw.id,
      ...(gw.site ? { site: gw.site } : {}),
      ...(last !== undefined ? { lastHeartbeat: last } : {}),
      online: last !== undefined && now - last <= limit,
      silentAfterMs: limit,
    };
  });
  const online = new Map(gateways.map((x) => [x.id, x.online]));
  const alarms: Alarm[] = [];
  for (const gw of gateways) {
    if (!gw.online)
      alarms.push({
        kind: 'gateway.silent',
        project: p.id,
        gateway: gw.id,
        ...(gw.lastHeartbeat !== undefined ? { since: gw.lastHeartbeat } : {}),
        value: gw.lastHeartbeat === undefined ? null : now - gw.lastHeartbeat,
        threshold: gw.silentAfterMs,
      });
  }
  const devices: DeviceFigures[] = win.value.devices.map((d) => {
    const spec = byId.get(d.id);
    const last = spec ? live.get(spec.gateway)?.lastReading.get(d.id) : undefined;
    const limit = spec ? th.device(spec.interval) : undefined;
    const isLive = last !== undefined && limit !== undefined && now - last <= limit;
    // a silent gateway raises one alarm for all its devices
    if (d.inScope && spec && !isLive && online.get(spec.gateway)) {
      alarms.push({
        kind: 'device.silent',
        project: p.id,
        gateway: spec.gateway,
        device: d.id,
        ...(last !== undefined ? { since: last } : {}),
        value: last === undefined ? null : now - last,
        threshold: limit!,
      });
    }
    return {
      ...d,
      ...(spec ? { gateway: spec.gateway } : {}),
      live: isLive,
      ...(last !== undefined ? { lastReading: last } : {}),
      ...(limit !== undefined ? { silentAfterMs: limit } : {}),
    };
  });
  alarms.push(...win.value.alarms);
  const scoped = devices.filter((d) => d.inScope);
  const liveN = scoped.filter((d) => d.live).length;
  const c30 = win.value.d30.classification;
  const c7 = win.value.d7.classification;
  const trend = RANK[c30] === undefined || RANK[c7] === undefined ? null : RANK[c7]! > RANK[c30]! ? 'up' : RANK[c7]! < RANK[c30]! ? 'down' : 'same';
  const error = [win.error, ...errors].filter(Boolean).join('; ');
  return {
    ...head,
    at: now,
    gateways,
    devices,
    live: { inScope: scoped.length, live: liveN, rate: scoped.length ? liveN / scoped.length : null },
    d7: win.value.d7,
    d30: win.value.d30,
    classification: c30,
    trend,
    alarms,
    daily: win.value.daily,
    weekly: win.value.weekly,
    registeredSystems,
    ...(error ? { error } : {}),
  };
}

/** The overview row of a project: live state within `cache.ttl`, the verifier's window figures within `cache.figures`. */
export async function projectFigures(ctx: FiguresContext, p: HubProjectOk): Promise<ProjectFigures & { error?: string }> {
  const { daily: _d, weekly: _w, registeredSystems: _r, ...row } = await compute(ctx, p, false);
  return row;
}

/** The project page: the row plus the daily series and the weekly evidence. */
export async function projectDetail(ctx: FiguresContext, p: HubProjectOk): Promise<ProjectDetail & { error?: string }> {
  return compute(ctx, p, true);
}
