/**
 * Classification, pure: every rule as {rule, value, threshold, result, evidence, evidenceZh};
 * process-step coverage and platform execution per judged week; data use per judged week; the
 * networking rate. The rules are written out in verify/README.md ("The rules"). Evidence gives
 * times in the policy's zone with the zone written out; the Chinese evidence names process steps by
 * their names and keeps three words apart: 停报 (a device stopped reporting before the end of the
 * window: stale), 缺报 (slots without a good reading: a gap), 平台中断 (slots without the gateway's
 * heartbeat: a platform outage).
 */
import { weekOf, weekOfLocalDay } from './calendar.js';
import { DATA_ROUTES, isCommandRoute, isDataRoute } from './data-routes.js';
import { rate4, rationalText, ratioAtLeast } from './decimal.js';
import type { AuditDay, CommandSample } from './facts.js';
import { CLASSIFICATION, codeText } from './i18n.js';
import { formatLocal } from './local-time.js';
import { localDay, type DeviceMeasure, type PlatformMeasure, type Ratio, type Week } from './measure.js';
import type { Classification } from './money.js';
import type { OrderMatch } from './orders.js';
import type { Policy } from './policy.js';
import type { Project } from './project.js';

export interface RuleResult {
  rule: string;
  value: string | number | null;
  threshold: string | number | null;
  result: 'pass' | 'fail' | 'flag';
  /** English; the JSON's evidence */
  evidence: string;
  /** the same evidence in Chinese, for the zh-CN report */
  evidenceZh?: string;
}

export interface RegisterEntry {
  id: string;
  name?: string;
  process?: string;
  category?: string;
  digitalControl: boolean;
  exempt?: string;
  inScope: boolean;
  inGateway: boolean;
  inRegister: boolean;
  measure?: DeviceMeasure;
}

export interface ProcessResult {
  id: string;
  name?: string;
  key: boolean;
  devices: string[];
  inScopeDevices: string[];
  covered: boolean;
  fullyCovered: boolean;
  executed: boolean;
  /** successful commands by registered systems to the step's in-scope devices, per week of the window */
  commandsPerWeek: number[];
  /** (schema 2) per week of the window: whether it is judged, the commands counted, by system, samples */
  weeks: StepWeek[];
  /** (schema 2) successful commands to the step's in-scope devices by systems that are not registered: not counted */
  unregisteredCommands: number;
  evidence: string;
  evidenceZh?: string;
}

export interface NetworkingRate {
  rMin: string;
  networked: number;
  inScope: number;
  value: number | null;
  digitalControl: { networked: number; inScope: number; value: number | null };
}

/** One week of a process step's platform execution. */
export interface StepWeek {
  /** week index (as in `weeks[].index`) */
  week: number;
  /** local date of the week's first day */
  label: string;
  /** the week keeps an expected slot of one of the step's in-scope devices: held to the weekly rule */
  judged: boolean;
  /** successful commands by registered systems to the step's in-scope devices */
  commands: number;
  bySystem: Record<string, number>;
  /** the newest of those commands (at most STEP_WEEK_SAMPLES), newest first */
  samples: CommandSample[];
}

/** One week of data use. */
export interface DataUseWeek {
  week: number;
  label: string;
  /** the week keeps an expected slot of an in-scope device: held to the weekly rule */
  judged: boolean;
  /** successful reads of data routes by registered systems */
  reads: number;
  bySystem: Record<string, number>;
  byRoute: Record<string, number>;
}

export interface DataUse {
  registeredSystems: string[];
  /** successful reads of data routes by registered systems in the window */
  readsInWindow: number;
  readsBySystem: Record<string, number>;
  readsPerWeek: number[];
  /** successful reads (any route) by systems that are not registered: not counted */
  unregisteredReads: number;
  /** every successful audited access in the window (reads and writes, any system, any route) */
  auditRecords: number;
  /** (schema 2) the routes whose reads are data use (verify/data-routes.ts) */
  dataRoutes: string[];
  /** (schema 2) counted reads per data route */
  readsByRoute: Record<string, number>;
  /** (schema 2) reads by registered systems of routes that are not data routes (status, audit, pilots...): not counted */
  nonDataReads: number;
  nonDataReadsByRoute: Record<string, number>;
  /** (schema 2) per week of the window */
  weeks: DataUseWeek[];
}

/** Command samples shown per step and week. */
export const STEP_WEEK_SAMPLES = 5;

const pct = (r: Ratio) => (r.value === null ? 'n/a' : `${r.count}/${r.total} = ${(r.value * 100).toFixed(2)}%`);
const pctZh = (r: Ratio) => (r.value === null ? '无应报时隙' : `${r.count}/${r.total} = ${(r.value * 100).toFixed(2)}%`);
const share = (r: Ratio) => (r.value === null ? '—' : `${(r.value * 100).toFixed(2)}%`);

export function networkingRate(entries: readonly RegisterEntry[], tier: 'partial' | 'full', policy: Policy): NetworkingRate {
  const inScope = entries.filter((e) => e.inScope);
  const net = (e: RegisterEntry) => (tier === 'partial' ? e.measure?.networkedPartial : e.measure?.networkedFull) === true;
  const dc = inScope.filter((e) => e.digitalControl);
  const n = inScope.filter(net).length;
  const dn = dc.filter(net).length;
  return {
    rMin: rationalText(policy.values.classification[tier].rMin),
    networked: n,
    inScope: inScope.length,
    value: rate4(n, inScope.length),
    digitalControl: { networked: dn, inScope: dc.length, value: rate4(dn, dc.length) },
  };
}

/** One gateway as the classification sees it: its outages and the in-scope devices it serves. */
export interface GatewayPlatform {
  id: string;
  platform: PlatformMeasure;
  inScopeDevices: string[];
}

export interface ClassifyInput {
  project: Project;
  policy: Policy;
  preliminary: boolean;
  windowMs: number;
  /** the window's weeks, `judged` set (measure.ts judgeWeeks) */
  weeks: Week[];
  /** every gateway given (one at least) */
  gateways: GatewayPlatform[];
  entries: RegisterEntry[];
  audits: AuditDay[];
  /** the newest successful commands per week, device and system (facts.weeklyCommands) */
  weeklyCommands?: CommandSample[];
  registeredSystems: string[];
  orders?: OrderMatch;
  eligibleInvoiceLines: number;
}

export interface ClassifyResult {
  classification: Classification;
  rules: RuleResult[];
  processes: ProcessResult[];
  dataUse: DataUse;
  /** the gateway whose outages the result's `platform` shows: the deciding one with the largest outage share */
  platform: PlatformMeasure;
}

function weekIndexOfDay(day: number, weeks: readonly Week[], policy: Policy): number {
  const w = weekOfLocalDay(day, policy);
  return weeks.findIndex((x) => x.index === w);
}

/** Outage share of a over b, exactly: a's count/total compared with b's. */
const worse = (a: PlatformMeasure, b: PlatformMeasure): boolean => {
  const at = a.slots - a.shutdownSlots;
  const bt = b.slots - b.shutdownSlots;
  if (at === 0 || bt === 0) return bt === 0 && at > 0;
  return a.outageSlots * bt > b.outageSlots * at;
};

const add = (o: Record<string, number>, k: string, n: number) => {
  o[k] = (o[k] ?? 0) + n;
};

export function classify(inp: ClassifyInput): ClassifyResult {
  const { policy, weeks, entries } = inp;
  const v = policy.values;
  const off = policy.offsetMs;
  const at = (ms: number) => formatLocal(ms, off);
  const rules: RuleResult[] = [];
  const rule = (r: RuleResult) => rules.push(r);
  const days = (ms: number) => Math.round((ms / 86_400_000) * 100) / 100;
  const tierZh = (t: string) => CLASSIFICATION.zh[t] ?? t;
  const cpMin = rationalText(v.classification.partial.rMin);
  const cfMin = rationalText(v.classification.full.rMin);
  /** why a device is not networked, in words, with the instants that matter */
  const whyEn = (m: DeviceMeasure) =>
    m.reasons
      .map((c) =>
        c === 'STALE'
          ? `stale: ${m.lastGoodTs === undefined ? 'no good reading' : `last good reading ${at(m.lastGoodTs)}`}, judged at ${at(m.staleAt!)} (limit ${m.staleLimitMs / 1000} s)`
          : codeText('en', c),
      )
      .join(', ');
  const ZH: Record<string, string> = {
    NO_EXPECTED_SLOTS: '无应报时隙',
    RATE_BELOW_PARTIAL: `上报率低于 ${cpMin}`,
    RATE_BELOW_FULL: `上报率低于 ${cfMin}`,
    SIGNAL_SET_INCOMPLETE: '信号不全（需有状态信号，及计数、参数或质量信号之一）',
    WEEK_BELOW_FULL: `有自然周上报率低于 ${cfMin}`,
  };
  const whyZh = (m: DeviceMeasure) =>
    m.reasons
      .map((c) =>
        c === 'STALE'
          ? `停报（${m.lastGoodTs === undefined ? '无有效读数' : `最后一次有效读数 ${at(m.lastGoodTs)}`}，判定时刻 ${at(m.staleAt!)}，限值 ${m.staleLimitMs / 1000} 秒）`
          : (ZH[c] ?? codeText('zh', c)),
      )
      .join('、');
  const steps = new Map(inp.project.processes.map((s) => [s.id, s]));
  const stepZh = (id: string) => `「${steps.get(id)?.name ?? id}」`;
  const judgedWeeks = weeks.filter((w) => w.judged);
  const weekList = (counts: readonly number[], judged: readonly boolean[]) => `[${counts.map((c, i) => (judged[i] ? String(c) : '—')).join(', ')}]`;

  // --- gates: window length, a window with nothing to judge, platform outages → indeterminate
  const shortWindow = inp.windowMs < v.measure.minWindow;
  const minD = days(v.measure.minWindow);
  rule({
    rule: 'window.minimum',
    value: days(inp.windowMs),
    threshold: minD,
    result: !shortWindow ? 'pass' : inp.preliminary ? 'flag' : 'fail',
    evidence: shortWindow
      ? inp.preliminary
        ? `window of ${days(inp.windowMs)} d is shorter than ${minD} d: evaluated as PRELIMINARY on request`
        : `window of ${days(inp.windowMs)} d is shorter than ${minD} d: indeterminate (use --preliminary for pilot monitoring)`
      : `window of ${days(inp.windowMs)} d`,
    evidenceZh: shortWindow
      ? inp.preliminary
        ? `核验窗口 ${days(inp.windowMs)} 天，短于规定的 ${minD} 天：按申请作初步评估`
        : `核验窗口 ${days(inp.windowMs)} 天，短于规定的 ${minD} 天：无法判定（试点监测可加 --preliminary 作初步评估）`
      : `核验窗口 ${days(inp.windowMs)} 天`,
  });

  const gws = inp.gateways;
  const first = gws[0]!.platform;
  const slotS = first.slotMs / 1000;
  const openSlots = first.slots - first.shutdownSlots;
  const noExpected = openSlots === 0;
  const from = inp.weeks[0]?.from;
  const to = inp.weeks[inp.weeks.length - 1]?.to;
  const span = from !== undefined && to !== undefined ? ` (${at(from)} to ${at(to)})` : '';
  const spanZh = from !== undefined && to !== undefined ? `（${at(from)} 至 ${at(to)}）` : '';
  rule({
    rule: 'window.noExpectedSlots',
    value: openSlots,
    threshold: 1,
    result: noExpected ? 'fail' : 'pass',
    evidence: noExpected
      ? `the window${span} holds no slot of ${slotS} s outside planned shutdowns (${first.slots === 0 ? 'it is shorter than one slot' : 'every slot overlaps a planned shutdown'}): nothing can be judged, indeterminate`
      : `${openSlots} of ${first.slots} slots of ${slotS} s lie outside planned shutdowns`,
    evidenceZh: noExpected
      ? `核验窗口${spanZh}在计划停机以外没有一个 ${slotS} 秒的时隙（${first.slots === 0 ? '窗口短于一个时隙' : '全部时隙都与计划停机重叠'}）：无从评判，无法判定`
      : `${first.slots} 个 ${slotS} 秒时隙中有 ${openSlots} 个在计划停机以外`,
  });

  // the gateways that decide: those serving in-scope equipment (all, when none does)
  const serving = gws.filter((g) => g.inScopeDevices.length > 0);
  const deciding = serving.length > 0 ? serving : gws;
  let platform = deciding[0]!.platform;
  for (const g of deciding) if (worse(g.platform, platform)) platform = g.platform;
  const outageExceeded = deciding.some((g) => g.platform.outageExceeded);
  const gwEn = (g: GatewayPlatform) => {
    const p = g.platform;
    const longest = p.outages[0];
    return `${g.id ? `gateway ${g.id}` : 'the gateway'}: ${p.outageSlots} of ${p.slots - p.shutdownSlots} slots without its heartbeat (${share(p.outage)})${longest ? `, longest from ${at(longest.from)} to ${at(longest.to)}` : ''}`;
  };
  const gwZh = (g: GatewayPlatform) => {
    const p = g.platform;
    const longest = p.outages[0];
    return `${g.id ? `网关 ${g.id}` : '网关'}：${p.slots - p.shutdownSlots} 个时隙中 ${p.outageSlots} 个无心跳（平台中断，占 ${share(p.outage)}）${longest ? `，最长一次 ${at(longest.from)} 至 ${at(longest.to)}` : ''}`;
  };
  const idle = gws.filter((g) => !deciding.includes(g));
  rule({
    rule: 'platform.outage',
    value: noExpected ? null : platform.outage.value,
    threshold: rationalText(v.measure.outageMax),
    result: noExpected ? 'flag' : outageExceeded ? 'fail' : 'pass',
    evidence: noExpected
      ? 'no slot outside planned shutdowns: platform outages not assessed (see window.noExpectedSlots)'
      : `slots of ${slotS} s outside planned shutdowns (${first.shutdownSlots} slots in shutdowns); ${deciding.map(gwEn).join('; ')}; a device's slots overlapping an outage of its own gateway are removed from its expected slots${idle.length ? `; gateways serving no in-scope equipment do not decide: ${idle.map(gwEn).join('; ')}` : ''}`,
    evidenceZh: noExpected
      ? '计划停机以外没有时隙：平台中断不作评判（见核验窗口无应报时隙一项）'
      : `按 ${slotS} 秒时隙计，计划停机 ${first.shutdownSlots} 个时隙不计；${deciding.map(gwZh).join('；')}；设备与其所属网关平台中断重叠的时隙不计入该设备的应报时隙${idle.length ? `；未连接纳入统计设备的网关不参与判定：${idle.map(gwZh).join('；')}` : ''}`,
  });
  if (gws.length > 1 && !noExpected) {
    for (const g of gws) {
      const decides = deciding.includes(g);
      rule({
        rule: `platform.outage:${g.id}`,
        value: g.platform.outage.value,
        threshold: rationalText(v.measure.outageMax),
        result: !g.platform.outageExceeded ? 'pass' : decides ? 'fail' : 'flag',
        evidence: `${gwEn(g)}; serves in-scope equipment: ${g.inScopeDevices.join(', ') || 'none (does not decide)'}`,
        evidenceZh: `${gwZh(g)}；所连纳入统计设备：${g.inScopeDevices.join('、') || '无（不参与判定）'}`,
      });
    }
  }

  // --- readings the gateways themselves lost (their stores' loss ledgers): excluded, and said
  const lossy = entries.filter((e) => (e.measure?.losses.length ?? 0) > 0);
  if (lossy.length > 0) {
    const REASON_ZH: Record<string, string> = {
      'store-full': '存储已满被拒',
      'store-error': '存储写入失败',
      maxSize: '超出存储上限被删',
      retention: '超出保留期被删',
    };
    const lostEn = (e: RegisterEntry) => {
      const m = e.measure!;
      return `${e.id}: ${m.losses.map((l) => `${l.count} readings ${l.reason} from ${at(l.from)} to ${at(l.to)}`).join(', ')} (${m.lostSlots} slots excluded)`;
    };
    const lostZh = (e: RegisterEntry) => {
      const m = e.measure!;
      return `${e.id}：${m.losses.map((l) => `${at(l.from)} 至 ${at(l.to)} ${l.count} 条读数${REASON_ZH[l.reason] ?? l.reason}`).join('，')}（${m.lostSlots} 个时隙不计）`;
    };
    rule({
      rule: 'gateway.losses',
      value: lossy.reduce((n, e) => n + e.measure!.losses.reduce((k, l) => k + l.count, 0), 0),
      threshold: null,
      result: 'flag',
      evidence: `readings the gateway itself lost (its store full or failing, or dropped by a limit before InfluxDB had them), a gap of the gateway's making, not the device's: those slots are excluded like a platform outage; ${lossy.map(lostEn).join('; ')}`,
      evidenceZh: `网关自身丢失的读数（存储已满或写入失败，或在转发至中心数据库之前因存储上限、保留期被删），属网关原因而非设备原因：相应时隙与平台中断同样不计；${lossy.map(lostZh).join('；')}`,
    });
  }

  // --- audits: data use (reads of data routes) and platform execution (commands), per week
  const registered = inp.registeredSystems.map((s) => s.toLowerCase());
  const isRegistered = (system: string) => registered.includes(system.toLowerCase());
  const readsPerWeek = weeks.map(() => 0);
  const useWeeks: DataUseWeek[] = weeks.map((w) => ({ week: w.index, label: w.label, judged: w.judged === true, reads: 0, bySystem: {}, byRoute: {} }));
  const readsBySystem: Record<string, number> = {};
  const readsByRoute: Record<string, number> = {};
  const nonDataReadsByRoute: Record<string, number> = {};
  let unregisteredReads = 0;
  let nonDataReads = 0;
  let auditRecords = 0;
  /** device → per week → system → commands */
  const writes = new Map<string, Array<Record<string, number>>>();
  const unregisteredWrites = new Map<string, number>();
  for (const a of inp.audits) {
    auditRecords += a.count;
    const wi = weekIndexOfDay(a.day, weeks, policy);
    if (wi < 0) continue;
    if (a.action === 'read') {
      if (!isRegistered(a.system)) unregisteredReads += a.count;
      else if (!isDataRoute(a.route)) {
        nonDataReads += a.count;
        add(nonDataReadsByRoute, a.route, a.count);
      } else {
        readsPerWeek[wi]! += a.count;
        add(readsBySystem, a.system, a.count);
        add(readsByRoute, a.route, a.count);
        const uw = useWeeks[wi]!;
        uw.reads += a.count;
        add(uw.bySystem, a.system, a.count);
        add(uw.byRoute, a.route, a.count);
      }
    } else if (a.device && isCommandRoute(a.route)) {
      if (!isRegistered(a.system)) {
        unregisteredWrites.set(a.device, (unregisteredWrites.get(a.device) ?? 0) + a.count);
        continue;
      }
      const arr = writes.get(a.device) ?? weeks.map(() => ({}));
      add(arr[wi]!, a.system, a.count);
      writes.set(a.device, arr);
    }
  }
  const readsInWindow = readsPerWeek.reduce((s, x) => s + x, 0);
  const dataUse: DataUse = {
    registeredSystems: inp.registeredSystems,
    readsInWindow,
    readsBySystem,
    readsPerWeek,
    unregisteredReads,
    auditRecords,
    dataRoutes: [...DATA_ROUTES],
    readsByRoute,
    nonDataReads,
    nonDataReadsByRoute,
    weeks: useWeeks,
  };
  if (auditRecords === 0) {
    rule({
      rule: 'audit.available',
      value: 0,
      threshold: null,
      result: 'flag',
      evidence: 'no audit data in the window: there is no evidence of data use by consumer systems nor of platform execution (commands)',
      evidenceZh: '窗口内无访问审计数据：没有业务系统使用数据的证据，也没有平台下发指令（平台执行）的证据',
    });
  }

  // --- process steps: coverage, and execution in every judged week
  const cf = v.classification.full;
  const cp = v.classification.partial;
  const processes: ProcessResult[] = inp.project.processes.map((s) => {
    const devs = entries.filter((e) => e.process === s.id && e.inRegister);
    const scoped = devs.filter((e) => e.inScope);
    const ids = new Set(scoped.map((e) => e.id));
    const stepWeeks: StepWeek[] = weeks.map((w, wi) => {
      const bySystem: Record<string, number> = {};
      for (const e of scoped) for (const [sys, n] of Object.entries(writes.get(e.id)?.[wi] ?? {})) add(bySystem, sys, n);
      const samples = (inp.weeklyCommands ?? [])
        .filter((c) => ids.has(c.device) && isRegistered(c.system) && weekOf(c.ts, policy) === w.index)
        .slice(0, STEP_WEEK_SAMPLES);
      return {
        week: w.index,
        label: w.label,
        judged: scoped.some((e) => (e.measure?.weekly[wi]?.expected ?? 0) > 0),
        commands: Object.values(bySystem).reduce((a, b) => a + b, 0),
        bySystem,
        samples,
      };
    });
    const commandsPerWeek = stepWeeks.map((w) => w.commands);
    const judged = stepWeeks.filter((w) => w.judged);
    const covered = scoped.some((e) => e.measure?.networkedPartial === true);
    const fullyCovered = scoped.length > 0 && scoped.every((e) => e.measure?.networkedFull === true && e.measure.weeklyStable);
    const executed = scoped.length > 0 && judged.length > 0 && judged.every((w) => w.commands >= cf.minCommandsPerWeek);
    const unregisteredCommands = scoped.reduce((n, e) => n + (unregisteredWrites.get(e.id) ?? 0), 0);
    const exempt = devs.filter((e) => e.exempt !== undefined).map((e) => e.id);
    const judgedFlags = stepWeeks.map((w) => w.judged);
    const unjudged = stepWeeks.length - judged.length;
    const netP = scoped.filter((e) => e.measure?.networkedPartial).length;
    const netF = scoped.filter((e) => e.measure?.networkedFull).length;
    const ev =
      scoped.length === 0
        ? `no in-scope equipment in the register for this step${exempt.length ? ` (exempt: ${exempt.join(', ')})` : ''}: it cannot be executed by the platform, so the full tier fails`
        : `${netP}/${scoped.length} in-scope devices networked at ${rationalText(cp.rMin)}, ${netF}/${scoped.length} at ${rationalText(cf.rMin)}; successful commands by registered systems per week: ${weekList(commandsPerWeek, judgedFlags)}${unjudged ? ` (— : week without an expected slot, not judged)` : ''}${unregisteredCommands ? `; ${unregisteredCommands} commands by unregistered systems not counted` : ''}`;
    const evZh =
      scoped.length === 0
        ? `设备台账中该工序没有纳入统计的设备${exempt.length ? `（豁免设备：${exempt.join('、')}）` : ''}：不能由平台执行，全流程标准不通过`
        : `纳入统计设备 ${scoped.length} 台，按上报率 ${rationalText(cp.rMin)} 联网 ${netP} 台，按 ${rationalText(cf.rMin)} 联网 ${netF} 台；注册系统每周成功下发的平台指令：${weekList(commandsPerWeek, judgedFlags)}${unjudged ? '（— 表示该周无应报时隙，不评判）' : ''}${unregisteredCommands ? `；未注册系统的指令 ${unregisteredCommands} 条不计` : ''}`;
    const out: ProcessResult = {
      id: s.id,
      key: s.key,
      devices: devs.map((e) => e.id),
      inScopeDevices: [...ids],
      covered,
      fullyCovered,
      executed,
      commandsPerWeek,
      weeks: stepWeeks,
      unregisteredCommands,
      evidence: ev,
      evidenceZh: evZh,
    };
    if (s.name !== undefined) out.name = s.name;
    return out;
  });
  for (const s of processes) {
    if (s.inScopeDevices.length === 0) {
      rule({
        rule: `process.noInScopeEquipment:${s.id}`,
        value: 0,
        threshold: null,
        result: 'flag',
        evidence: `step ${s.id}: ${s.evidence}; not assessed for the partial tier`,
        evidenceZh: `工序${stepZh(s.id)}：${s.evidenceZh}；部分改造不作评判`,
      });
    }
  }
  for (const e of entries) {
    if (e.inRegister && !e.inGateway)
      rule({
        rule: `register.notInGateway:${e.id}`,
        value: e.id,
        threshold: null,
        result: 'flag',
        evidence: `equipment ${e.id} is not among the gateways' devices: not networked`,
        evidenceZh: `台账设备 ${e.id} 未接入任何网关：按未联网计`,
      });
    if (!e.inRegister)
      rule({
        rule: `gateway.notInRegister:${e.id}`,
        value: e.id,
        threshold: null,
        result: 'flag',
        evidence: `gateway device ${e.id} is not in the project's equipment register: not counted`,
        evidenceZh: `网关设备 ${e.id} 不在项目设备台账中：不计入统计`,
      });
  }

  // --- order exports
  const o = inp.orders;
  const ordersAt = (r: typeof v.classification.partial.orderMatchMin) =>
    !!o && o.erpRows > 0 && o.mesRows > 0 && ratioAtLeast(o.erpMatched, o.erpRows, r) && ratioAtLeast(o.mesMatched, o.mesRows, r);
  const ordersText = o
    ? `ERP→MES ${o.erpMatched}/${o.erpRows}, MES→ERP ${o.mesMatched}/${o.mesRows}${o.bad.length ? `; ${o.bad.length} bad row(s)` : ''}`
    : 'no order exports given';
  const ordersZh = o
    ? `ERP→MES ${o.erpMatched}/${o.erpRows}，MES→ERP ${o.mesMatched}/${o.mesRows}${o.bad.length ? `；错误行 ${o.bad.length} 行` : ''}`
    : '未提供订单导出';

  // --- partial
  const scopedEntries = entries.filter((e) => e.inScope);
  const netPartial = scopedEntries.filter((e) => e.measure?.networkedPartial);
  rule({
    rule: 'partial.networkedDevices',
    value: netPartial.length,
    threshold: cp.minNetworkedDevices,
    result: netPartial.length >= cp.minNetworkedDevices ? 'pass' : 'fail',
    evidence: `networked at rMin ${rationalText(cp.rMin)}: ${netPartial.map((e) => e.id).join(', ') || 'none'} (of ${scopedEntries.length} in scope)`,
    evidenceZh: `按上报率 ≥ ${rationalText(cp.rMin)} 联网的设备：${netPartial.map((e) => e.id).join('、') || '无'}（纳入统计 ${scopedEntries.length} 台）`,
  });
  const keyCovered = processes.filter((s) => s.key && s.covered);
  const keySteps = processes.filter((s) => s.key);
  rule({
    rule: 'partial.keyStepCovered',
    value: keyCovered.length,
    threshold: cp.minKeyStepsCovered,
    result: keyCovered.length >= cp.minKeyStepsCovered ? 'pass' : 'fail',
    evidence: `key steps covered: ${keyCovered.map((s) => s.id).join(', ') || 'none'} (key steps: ${keySteps.map((s) => s.id).join(', ') || 'none'})`,
    evidenceZh: `已覆盖的关键工序：${keyCovered.map((s) => stepZh(s.id)).join('、') || '无'}（关键工序：${keySteps.map((s) => stepZh(s.id)).join('、') || '无'}）`,
  });
  const usedByReads = readsInWindow > 0;
  const usedByOrders = ordersAt(cp.orderMatchMin);
  const bySys = (sep: string, unit: string) =>
    Object.entries(readsBySystem)
      .map(([k, n]) => `${k} ${n}${unit}`)
      .join(sep);
  rule({
    rule: 'partial.dataUse',
    value: readsInWindow,
    threshold: `>= 1 read of a data route by a registered system, or order match >= ${rationalText(cp.orderMatchMin)}`,
    result: usedByReads || usedByOrders ? 'pass' : 'fail',
    evidence: `successful reads of data routes by registered systems (${inp.registeredSystems.join(', ') || 'none registered'}): ${bySys(', ', '') || 'none'}${nonDataReads ? `; ${nonDataReads} reads of other routes (status, audit, pilots, networking...) not counted` : ''}${unregisteredReads ? `; ${unregisteredReads} reads by unregistered systems not counted` : ''}; orders: ${ordersText}`,
    evidenceZh: `注册系统（${inp.registeredSystems.join('、') || '未注册'}）经审计成功读取数据接口：${bySys('、', ' 次') || '无'}${nonDataReads ? `；读取非数据接口（状态、审计、试点、联网率等）${nonDataReads} 次不计` : ''}${unregisteredReads ? `；未注册系统读取 ${unregisteredReads} 次不计` : ''}；订单对账：${ordersZh}`,
  });
  rule({
    rule: 'partial.eligibleInvoice',
    value: inp.eligibleInvoiceLines,
    threshold: cp.minEligibleInvoices,
    result: inp.eligibleInvoiceLines >= cp.minEligibleInvoices ? 'pass' : 'fail',
    evidence: `${inp.eligibleInvoiceLines} invoice line(s) pass the general exclusions (period, duplicates, second-hand, office)`,
    evidenceZh: `${inp.eligibleInvoiceLines} 行发票通过一般剔除规则（项目期、重复、二手、办公设备）`,
  });

  // --- full
  const netFull = scopedEntries.filter((e) => e.measure?.networkedFull);
  rule({
    rule: 'full.allNetworked',
    value: `${netFull.length}/${scopedEntries.length}`,
    threshold: `all at rMin ${rationalText(cf.rMin)}`,
    result: scopedEntries.length > 0 && netFull.length === scopedEntries.length ? 'pass' : 'fail',
    evidence:
      scopedEntries
        .map(
          (e) =>
            `${e.id}: ${e.measure ? `${pct(e.measure.reportingRate)}${e.measure.reasons.length ? ` (${whyEn(e.measure)})` : ''}` : 'not connected to a gateway'}`,
        )
        .join('; ') || 'no in-scope equipment',
    evidenceZh:
      scopedEntries
        .map((e) => `${e.id}：${e.measure ? `${pctZh(e.measure.reportingRate)}${e.measure.reasons.length ? `（${whyZh(e.measure)}）` : ''}` : '未接入网关'}`)
        .join('；') || '无纳入统计的设备',
  });
  const weekFails = weeks.map((_, wi) => scopedEntries.filter((e) => e.measure?.weekly[wi]?.pass === false).map((e) => e.id));
  const stableWeeks = weeks.filter((w, wi) => w.judged && weekFails[wi]!.length === 0).length;
  rule({
    rule: 'full.weeklyStability',
    value: `${stableWeeks}/${judgedWeeks.length}`,
    threshold: `every judged week, every in-scope device at ${rationalText(cf.rMin)}`,
    result: judgedWeeks.length > 0 && stableWeeks === judgedWeeks.length && scopedEntries.every((e) => e.measure) ? 'pass' : 'fail',
    evidence: weeks
      .map((w, wi) => `${w.label}: ${!w.judged ? 'not judged (no expected slot)' : weekFails[wi]!.length ? `below: ${weekFails[wi]!.join(', ')}` : 'ok'}`)
      .join('; '),
    evidenceZh: weeks
      .map((w, wi) => `${w.label} 起一周：${!w.judged ? '无应报时隙，不评判' : weekFails[wi]!.length ? `未达标 ${weekFails[wi]!.join('、')}` : '达标'}`)
      .join('；'),
  });
  const someUnjudged = processes.some((s) => s.inScopeDevices.length > 0 && s.weeks.some((w) => !w.judged));
  const stepState = (s: ProcessResult, en: boolean) => (s.inScopeDevices.length === 0 ? (en ? 'no in-scope equipment' : '无纳入统计设备') : '');
  rule({
    rule: 'full.stepsFullyCovered',
    value: `${processes.filter((s) => s.fullyCovered).length}/${processes.length}`,
    threshold: 'every process step, fully covered',
    result: processes.length > 0 && processes.every((s) => s.fullyCovered) ? 'pass' : 'fail',
    evidence: processes.map((s) => `${s.id}: ${stepState(s, true) || (s.fullyCovered ? 'fully covered' : 'not fully covered')}`).join('; '),
    evidenceZh: processes.map((s) => `${stepZh(s.id)}：${stepState(s, false) || (s.fullyCovered ? '全部覆盖' : '未全部覆盖')}`).join('；'),
  });
  rule({
    rule: 'full.stepsExecuted',
    value: `${processes.filter((s) => s.executed).length}/${processes.length}`,
    threshold: `every process step: >= ${cf.minCommandsPerWeek} successful command(s) by a registered system to its in-scope devices in every judged week`,
    result: processes.length > 0 && processes.every((s) => s.executed) ? 'pass' : 'fail',
    evidence:
      processes
        .map(
          (s) =>
            `${s.id}: ${
              stepState(s, true) ||
              weekList(
                s.commandsPerWeek,
                s.weeks.map((w) => w.judged),
              )
            }`,
        )
        .join('; ') + (someUnjudged ? ' (— : week without an expected slot, not judged)' : ''),
    evidenceZh: `各工序每周注册系统成功下发的平台指令数：${processes
      .map(
        (s) =>
          `${stepZh(s.id)} ${
            stepState(s, false) ||
            weekList(
              s.commandsPerWeek,
              s.weeks.map((w) => w.judged),
            )
          }`,
      )
      .join('；')}${someUnjudged ? '（— 表示该周无应报时隙，不评判）' : ''}`,
  });
  const readWeeks = weeks.filter((w, wi) => w.judged && readsPerWeek[wi]! >= cf.minReadsPerWeek).length;
  const readFlags = weeks.map((w) => w.judged === true);
  rule({
    rule: 'full.dataUseEveryWeek',
    value: `${readWeeks}/${judgedWeeks.length}`,
    threshold: `>= ${cf.minReadsPerWeek} read(s) of a data route by a registered system in every judged week`,
    result: judgedWeeks.length > 0 && readWeeks === judgedWeeks.length ? 'pass' : 'fail',
    evidence: `reads of data routes by registered systems per week: ${weekList(readsPerWeek, readFlags)}${judgedWeeks.length < weeks.length ? ' (— : week without an expected slot, not judged)' : ''}`,
    evidenceZh: `注册系统每周读取数据接口次数：${weekList(readsPerWeek, readFlags)}${judgedWeeks.length < weeks.length ? '（— 表示该周无应报时隙，不评判）' : ''}`,
  });
  rule({
    rule: 'full.orderMatch',
    value: o ? `${o.erpToMes ?? 'n/a'} / ${o.mesToErp ?? 'n/a'}` : null,
    threshold: rationalText(cf.orderMatchMin),
    result: !o || ordersAt(cf.orderMatchMin) ? 'pass' : 'fail',
    evidence: ordersText,
    evidenceZh: ordersZh,
  });

  const failed = (prefix: string) => rules.some((r) => r.rule.startsWith(prefix) && r.result === 'fail');
  let classification: Classification;
  if ((shortWindow && !inp.preliminary) || noExpected || outageExceeded) classification = 'indeterminate';
  else if (failed('partial.')) classification = 'none';
  else if (failed('full.')) classification = 'partial';
  else classification = 'full';

  const claim = inp.project.project.claim;
  const reached = classification === 'full' || (classification === 'partial' && claim === 'partial');
  rule({
    rule: 'claim.tier',
    value: classification,
    threshold: claim,
    result: reached ? 'pass' : 'flag',
    evidence: reached ? `the claimed tier (${claim}) is reached` : `claimed ${claim}, verified ${classification}`,
    evidenceZh: reached ? `达到申报类型（${tierZh(claim)}）` : `申报类型为${tierZh(claim)}，核验结论为${tierZh(classification)}`,
  });
  return { classification, rules, processes, dataUse, platform };
}

export { localDay };
