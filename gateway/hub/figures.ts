/**
 * A project's live figures: liveness now (each device's newest reading, each gateway's newest
 * heartbeat), the verifier's networking rate and preliminary classification over the last 7 and
 * 30 days (verify/evaluate.ts run on facts.ts's bucket-resolved facts), the networking rate of each
 * day, the weekly evidence (audited commands and reads per system) and the alarms.
 *
 * Windows (all in the policy's zone): `to` is now (a whole slotMin), clipped to the project period;
 * the 30-day window starts at the local midnight 29 days before today (or the period's start), the
 * 7-day one 6 days before. InfluxDB is asked per gateway: counts for the days before today (cached
 * `cache.history`), counts for today and the newest readings (cached `cache.ttl`), audits per day
 * (the verifier's own query, source-influx.ts, cached `cache.ttl`).
 */
import { readFileSync } from 'node:fs';
import { staleAfterMs } from '../api/live.js';
import { DAY_MS, type AuditDay, type DeviceSpec } from '../../verify/facts.js';
import { evaluate, registeredConsumerSystems, type VerifyResult } from '../../verify/evaluate.js';
import { instantMs, localDay, weekOf } from '../../verify/measure.js';
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
  slots30d?: { good: number; expected: number; outage: number };
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
  weekly: Array<{ week: string; from: number; to: number; commands: Record<string, number>; reads: Record<string, number>; registeredReads: number; commandsToScope: number }>;
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

function deviceSpecsOf(p: HubProjectOk): DeviceSpec[] {
  return p.devices.map(({ gateway: _g, ...d }) => d);
}

/** Order exports matched once per project catalog load (they are files in the project folder). */
const ordersCache = new WeakMap<HubProjectOk, OrderMatch | null>();
function ordersOf(p: HubProjectOk): OrderMatch | undefined {
  if (!ordersCache.has(p)) {
    const l = p.loaded;
    let m: OrderMatch | null = null;
    if (l.erpOrdersPath && l.mesOrdersPath) {
      try {
        m = matchOrders(readFileSync(l.erpOrdersPath, 'utf8'), l.project.evidence.erpOrders!, readFileSync(l.mesOrdersPath, 'utf8'), l.project.evidence.mesOrders!);
      } catch {
        m = null; // unreadable exports: judged as absent here; the review report names the problem
      }
    }
    ordersCache.set(p, m);
  }
  return ordersCache.get(p) ?? undefined;
}

export function registeredSystemsOf(p: HubProjectOk): string[] {
  return registeredConsumerSystems(p.gateways.flatMap((g) => g.config.http.tokens));
}

function evaluateWindow(p: HubProjectOk, counts: Map<string, { counts: GatewayCounts; statusInterval: number }>, audits: AuditDay[], live: Map<string, LiveState> | undefined, from: number, to: number): VerifyResult {
  const policy = p.policy;
  const facts = windowFacts({
    from,
    to,
    slotMinMs: policy.values.measure.slotMin,
    devices: p.devices,
    counts,
    audits,
    offsetMs: policy.offsetMs,
    ...(live ? { live } : {}),
  });
  const gw = p.gateways[0]!;
  const orders = ordersOf(p);
  return evaluate({
    project: p.loaded.project,
    projectFile: p.loaded.path,
    policy,
    devices: deviceSpecsOf(p),
    registeredSystems: registeredSystemsOf(p),
    facts,
    ...(orders ? { orders } : {}),
    preliminary: true,
    source: 'influx',
    gateway: { id: gw.id, ...(gw.site ? { site: gw.site } : {}) },
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

/** The data a project's figures are made of, each piece from the cache or InfluxDB. */
async function gather(ctx: FiguresContext, p: HubProjectOk, w: NonNullable<ReturnType<typeof liveWindows>>) {
  const { config, cache, influx } = ctx;
  const measurement = config.influx.measurement;
  const ttl = config.cache.ttl;
  const sizes = [...new Set(p.devices.map((d) => bucketMs(Math.max(d.interval, p.policy.values.measure.slotMin))))];
  const b = sizes.length === 1 ? sizes[0]! : bucketMs(p.policy.values.measure.slotMin);
  const counts = new Map<string, { counts: GatewayCounts; statusInterval: number }>();
  const live = new Map<string, LiveState>();
  const audits: AuditDay[] = [];
  const errors: string[] = [];
  await Promise.all(
    p.gateways.map(async (g) => {
      const key = `${g.id}|${b}`;
      // days before today change only when a gateway forwards a backlog late: cached longer
      const history = w.from30 < w.today0 ? await cache.get(`hist|${key}|${w.from30}|${w.today0}`, config.cache.history, () => gatewayCounts(influx, { measurement, gateway: g.id, from: w.from30, to: w.today0, bucketMs: b })) : undefined;
      const today = await cache.get(`today|${key}|${w.today0}`, ttl, () => gatewayCounts(influx, { measurement, gateway: g.id, from: Math.max(w.today0, w.from30), to: w.to, bucketMs: b }));
      // the newest reading before `to` (the verifier's staleness rule) is also the device's liveness now
      const state = await cache.get(`live|${g.id}`, ttl, () => liveState(influx, { measurement, gateway: g.id, since: w.from30, until: w.to }));
      const aud = await cache.get(`audit|${g.id}|${w.from30}`, ttl, async () => {
        const t0 = performance.now();
        const src = influxFacts({ url: config.influx.url, database: config.influx.database, gateway: g.id, measurement, ...(config.influx.username ? { username: config.influx.username } : {}), ...(config.influx.password ? { password: config.influx.password } : {}) });
        try {
          return await src.auditDays({ from: w.from30, to: w.to, offsetMs: p.policy.offsetMs });
        } finally {
          influx.stats.ms += performance.now() - t0;
          influx.stats.statements += 2;
          influx.stats.requests += 2;
        }
      });
      for (const c of [history, today, state, aud]) if (c?.error) errors.push(c.error);
      counts.set(g.id, { counts: mergeCounts([...(history ? [history.value] : []), today.value]), statusInterval: g.statusInterval });
      live.set(g.id, state.value);
      audits.push(...aud.value);
    }),
  );
  return { counts, live, audits, errors };
}

/** Thresholds of the silence alarms: the hub file's, else the policy's staleness rule. */
export function silenceThresholds(config: HubConfig, p: HubProjectOk): { gateway: (statusInterval: number) => number; device: (interval: number) => number } {
  const m = p.policy.values.measure;
  const rule = { intervalFactor: m.staleIntervals, minMs: m.staleMin };
  return {
    gateway: (si) => config.alarms.gatewaySilent ?? staleAfterMs(si, rule),
    device: (iv) => config.alarms.deviceSilent ?? staleAfterMs(iv, rule),
  };
}

function headerOf(p: HubProjectOk) {
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
  if (p.loaded.project.project.claim === 'full') return { met: n.inScope > 0 && n.full.networked === n.inScope, value: n.full.value, threshold: `all in-scope devices at rMin ${n.full.rMin}` };
  return { met: n.networked >= c.partial.minNetworkedDevices, value: n.value, threshold: `${c.partial.minNetworkedDevices} device(s) at rMin ${n.rMin}` };
}

/** Alarms of the evidence rules for the last full calendar week of the 30-day evaluation. */
function weekAlarms(config: HubConfig, p: HubProjectOk, r: VerifyResult): Alarm[] {
  const out: Alarm[] = [];
  const id = p.id;
  const wi = r.weeks.map((w, i) => ({ w, i })).filter(({ w }) => w.to - w.from === 7 * DAY_MS).pop();
  if (!wi) return out;
  const expected = r.devices.filter((d) => d.inScope).reduce((s, d) => s + (d.weekly?.[wi.i]?.expected ?? 0), 0);
  if (expected === 0) return out; // a week wholly shut down (or with the platform down) is not judged
  const c = p.policy.values.classification.full;
  const minReads = config.alarms.readsPerWeekMin ?? c.minReadsPerWeek;
  const reads = r.dataUse.readsPerWeek[wi.i] ?? 0;
  if (reads < minReads) out.push({ kind: 'evidence.noReads', project: id, since: wi.w.from, value: reads, threshold: minReads, period: wi.w.label, detail: `reads by registered systems (${r.dataUse.registeredSystems.join(', ') || 'none registered'})` });
  const minCmd = config.alarms.commandsPerWeekMin ?? c.minCommandsPerWeek;
  const short = r.processes.filter((s) => s.inScopeDevices.length > 0 && (s.commandsPerWeek[wi.i] ?? 0) < minCmd);
  if (short.length > 0) out.push({ kind: 'evidence.noCommands', project: id, since: wi.w.from, value: Math.min(...short.map((s) => s.commandsPerWeek[wi.i] ?? 0)), threshold: minCmd, period: wi.w.label, detail: short.map((s) => s.id).join(', ') });
  return out;
}

async function compute(ctx: FiguresContext, p: HubProjectOk, detail: boolean): Promise<ProjectDetail> {
  const now = ctx.now();
  const head = headerOf(p);
  const th = silenceThresholds(ctx.config, p);
  const w = liveWindows(p, now);
  const cats = new Set(p.policy.values.measure.inScopeCategories);
  const register = p.loaded.project.equipment;
  const byId = new Map(p.devices.map((d) => [d.id, d]));
  const empty: ProjectDetail = {
    ...head,
    at: now,
    gateways: p.gateways.map((g) => ({ id: g.id, ...(g.site ? { site: g.site } : {}), online: false, silentAfterMs: th.gateway(g.statusInterval) })),
    devices: [],
    live: { inScope: 0, live: 0, rate: null },
    classification: 'pending',
    trend: null,
    alarms: [],
    daily: [],
    weekly: [],
    registeredSystems: registeredSystemsOf(p),
  };
  if (!w) {
    empty.devices = register.map((e) => ({ id: e.id, ...(e.name ? { name: e.name } : {}), inScope: cats.has(e.category) && !e.exempt, inGateway: byId.has(e.id), live: false, rate7d: null, rate30d: null, networked30d: false, reasons30d: [] }));
    return empty;
  }
  const g = await gather(ctx, p, w);
  const r30 = evaluateWindow(p, g.counts, g.audits, g.live, w.from30, w.to);
  const r7 = evaluateWindow(p, g.counts, g.audits, g.live, w.from7, w.to);

  const gateways: GatewayFigures[] = p.gateways.map((gw) => {
    const last = g.live.get(gw.id)?.lastHeartbeat;
    const limit = th.gateway(gw.statusInterval);
    return { id: gw.id, ...(gw.site ? { site: gw.site } : {}), ...(last !== undefined ? { lastHeartbeat: last } : {}), online: last !== undefined && now - last <= limit, silentAfterMs: limit };
  });
  const online = new Map(gateways.map((x) => [x.id, x.online]));
  const m30 = new Map(r30.devices.map((d) => [d.id, d]));
  const m7 = new Map(r7.devices.map((d) => [d.id, d]));
  const devices: DeviceFigures[] = [];
  const alarms: Alarm[] = [];
  for (const gw of gateways) {
    if (!gw.online) alarms.push({ kind: 'gateway.silent', project: p.id, gateway: gw.id, ...(gw.lastHeartbeat !== undefined ? { since: gw.lastHeartbeat } : {}), value: gw.lastHeartbeat === undefined ? null : now - gw.lastHeartbeat, threshold: gw.silentAfterMs });
  }
  for (const d of r30.devices) {
    const spec = byId.get(d.id);
    const last = spec ? g.live.get(spec.gateway)?.lastReading.get(d.id) : undefined;
    const limit = spec ? th.device(spec.interval) : undefined;
    const live = last !== undefined && limit !== undefined && now - last <= limit;
    const f: DeviceFigures = {
      id: d.id,
      ...(d.name ? { name: d.name } : {}),
      ...(spec ? { gateway: spec.gateway } : {}),
      ...(d.process ? { process: d.process } : {}),
      ...(d.category ? { category: d.category } : {}),
      inScope: d.inScope,
      ...(d.exempt ? { exempt: d.exempt } : {}),
      inGateway: d.inGateway,
      live,
      ...(last !== undefined ? { lastReading: last } : {}),
      ...(limit !== undefined ? { silentAfterMs: limit } : {}),
      rate7d: m7.get(d.id)?.reportingRate?.value ?? null,
      rate30d: d.reportingRate?.value ?? null,
      networked30d: d.networked,
      reasons30d: d.reasons,
      ...(d.expectedSlots !== undefined ? { slots30d: { good: d.goodSlots ?? 0, expected: d.expectedSlots, outage: d.outageSlots ?? 0 } } : {}),
    };
    devices.push(f);
    // a silent gateway raises one alarm for all its devices
    if (d.inScope && spec && !live && online.get(spec.gateway)) {
      alarms.push({ kind: 'device.silent', project: p.id, gateway: spec.gateway, device: d.id, ...(last !== undefined ? { since: last } : {}), value: last === undefined ? null : now - last, threshold: limit! });
    }
  }
  const scoped = devices.filter((d) => d.inScope);
  const liveN = scoped.filter((d) => d.live).length;

  // the last full day: networking rule of the claimed tier
  const daily: ProjectDetail['daily'] = [];
  const dayStarts: number[] = [];
  for (let t = w.from30; t < w.to; t = localDay(t, p.policy.offsetMs) * DAY_MS - p.policy.offsetMs + DAY_MS) dayStarts.push(t);
  const judged = detail ? dayStarts : dayStarts.filter((t) => t + DAY_MS <= w.today0 && t >= w.today0 - DAY_MS);
  for (const t of judged) {
    const end = Math.min(w.to, localDay(t, p.policy.offsetMs) * DAY_MS - p.policy.offsetMs + DAY_MS);
    const r = evaluateWindow(p, g.counts, g.audits, end === w.to ? g.live : undefined, t, end);
    daily.push({ day: localDate(t, p.policy.offsetMs), from: t, rate: r.networkingRate.value, rateFull: r.networkingRate.full.value, networked: r.networkingRate.networked, inScope: r.networkingRate.inScope });
    if (end <= w.today0 && end > w.today0 - DAY_MS) {
      const tier = tierMet(ctx.config, p, r);
      // a day wholly shut down or without the platform is not judged (the gateway alarm covers the latter)
      const judgedSlots = r.platform.slots - r.platform.shutdownSlots - r.platform.outageSlots;
      if (!tier.met && r.networkingRate.inScope > 0 && judgedSlots > 0) alarms.push({ kind: 'networking.belowTier', project: p.id, since: t, value: tier.value, threshold: tier.threshold, period: localDate(t, p.policy.offsetMs) });
    }
  }
  alarms.push(...weekAlarms(ctx.config, p, r30));

  const weekly: ProjectDetail['weekly'] = [];
  if (detail) {
    const registered = new Set(registeredSystemsOf(p).map((s) => s.toLowerCase()));
    const scope = new Set(scoped.map((d) => d.id));
    for (const wk of r30.weeks) {
      const row = { week: wk.label, from: wk.from, to: wk.to, commands: {} as Record<string, number>, reads: {} as Record<string, number>, registeredReads: 0, commandsToScope: 0 };
      for (const a of g.audits) {
        const ts = a.day * DAY_MS - p.policy.offsetMs + DAY_MS / 2;
        if (weekOf(ts, p.policy) !== wk.index) continue;
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
  const c30 = r30.classification;
  const c7 = r7.classification;
  const trend = RANK[c30] === undefined || RANK[c7] === undefined ? null : RANK[c7]! > RANK[c30]! ? 'up' : RANK[c7]! < RANK[c30]! ? 'down' : 'same';
  return {
    ...head,
    at: now,
    gateways,
    devices,
    live: { inScope: scoped.length, live: liveN, rate: scoped.length ? liveN / scoped.length : null },
    d7: windowFigures(r7),
    d30: windowFigures(r30),
    classification: c30,
    trend,
    alarms,
    daily,
    weekly,
    registeredSystems: registeredSystemsOf(p),
  };
}

/** The overview row of a project (cached `cache.ttl`). */
export async function projectFigures(ctx: FiguresContext, p: HubProjectOk): Promise<ProjectFigures & { error?: string }> {
  const c = await ctx.cache.get(`fig|${p.id}`, ctx.config.cache.ttl, () => compute(ctx, p, false));
  const { daily: _d, weekly: _w, registeredSystems: _r, ...row } = c.value;
  return c.error ? { ...row, error: c.error } : row;
}

/** The project page: the row plus the daily series and the weekly evidence (cached `cache.ttl`). */
export async function projectDetail(ctx: FiguresContext, p: HubProjectOk): Promise<ProjectDetail & { error?: string }> {
  const c = await ctx.cache.get(`detail|${p.id}`, ctx.config.cache.ttl, () => compute(ctx, p, true));
  return c.error ? { ...c.value, error: c.error } : c.value;
}
