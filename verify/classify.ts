/**
 * Classification (RULES.md "Classification"), pure: every rule as {rule, value, threshold, result,
 * evidence}; process-step coverage and platform execution; data use per week; the networking rate.
 */
import { rate4, rationalText, ratioAtLeast } from './decimal.js';
import { CLASSIFICATION, codeText } from './i18n.js';
import type { AuditDay } from './facts.js';
import { localDay, weekOf, type DeviceMeasure, type PlatformMeasure, type Ratio, type Week } from './measure.js';
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
  /** audited successful commands to the step's in-scope devices, per week */
  commandsPerWeek: number[];
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

export interface DataUse {
  registeredSystems: string[];
  readsInWindow: number;
  readsBySystem: Record<string, number>;
  readsPerWeek: number[];
  unregisteredReads: number;
  auditRecords: number;
}

const pct = (r: Ratio) => (r.value === null ? 'n/a' : `${r.count}/${r.total} = ${(r.value * 100).toFixed(2)}%`);

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

export interface ClassifyInput {
  project: Project;
  policy: Policy;
  preliminary: boolean;
  windowMs: number;
  weeks: Week[];
  platform: PlatformMeasure;
  entries: RegisterEntry[];
  audits: AuditDay[];
  registeredSystems: string[];
  orders?: OrderMatch;
  eligibleInvoiceLines: number;
}

export interface ClassifyResult {
  classification: Classification;
  rules: RuleResult[];
  processes: ProcessResult[];
  dataUse: DataUse;
}

function weekIndexOfDay(day: number, weeks: readonly Week[], policy: Policy): number {
  // the local day's noon is safely inside its week
  const ts = day * 86_400_000 - policy.offsetMs + 43_200_000;
  const w = weekOf(ts, policy);
  return weeks.findIndex((x) => x.index === w);
}

export function classify(inp: ClassifyInput): ClassifyResult {
  const { policy, weeks, entries } = inp;
  const v = policy.values;
  const rules: RuleResult[] = [];
  const rule = (r: RuleResult) => rules.push(r);
  const days = (ms: number) => Math.round((ms / 86_400_000) * 100) / 100;

  // --- gates: window length and platform outages → indeterminate
  const shortWindow = inp.windowMs < v.measure.minWindow;
  rule({
    rule: 'window.minimum',
    value: days(inp.windowMs),
    threshold: days(v.measure.minWindow),
    result: !shortWindow ? 'pass' : inp.preliminary ? 'flag' : 'fail',
    evidence: shortWindow
      ? inp.preliminary
        ? `window of ${days(inp.windowMs)} d is shorter than ${days(v.measure.minWindow)} d: evaluated as PRELIMINARY on request`
        : `window of ${days(inp.windowMs)} d is shorter than ${days(v.measure.minWindow)} d: indeterminate (use --preliminary for pilot monitoring)`
      : `window of ${days(inp.windowMs)} d`,
    evidenceZh: shortWindow
      ? inp.preliminary
        ? `核验窗口 ${days(inp.windowMs)} 天，短于 ${days(v.measure.minWindow)} 天：应申请按初步评估处理`
        : `核验窗口 ${days(inp.windowMs)} 天，短于 ${days(v.measure.minWindow)} 天：无法判定（试点监测可加 --preliminary）`
      : `核验窗口 ${days(inp.windowMs)} 天`,
  });
  const p = inp.platform;
  rule({
    rule: 'platform.outage',
    value: p.outage.value,
    threshold: rationalText(v.measure.outageMax),
    result: p.outageExceeded ? 'fail' : 'pass',
    evidence: `${p.outageSlots} of ${p.slots - p.shutdownSlots} slots of ${p.slotMs / 1000} s without a gateway heartbeat (planned shutdowns excluded: ${p.shutdownSlots} slots); outages are removed from every device's expected slots${p.outages.length ? `; longest from ${new Date(p.outages[0]!.from).toISOString()} to ${new Date(p.outages[0]!.to).toISOString()}` : ''}`,
    evidenceZh: `${p.slots - p.shutdownSlots} 个 ${p.slotMs / 1000} 秒时隙中有 ${p.outageSlots} 个无网关心跳（计划停机 ${p.shutdownSlots} 个时隙不计）；平台中断时隙不计入各设备的应报时隙${p.outages.length ? `；最长一次 ${new Date(p.outages[0]!.from).toISOString()} 至 ${new Date(p.outages[0]!.to).toISOString()}` : ''}`,
  });

  // --- audits: data use and platform execution, per week
  const registered = inp.registeredSystems.map((s) => s.toLowerCase());
  const readsPerWeek = weeks.map(() => 0);
  const readsBySystem: Record<string, number> = {};
  let unregisteredReads = 0;
  let auditRecords = 0;
  const writesPerWeekByDevice = new Map<string, number[]>();
  for (const a of inp.audits) {
    auditRecords += a.count;
    const wi = weekIndexOfDay(a.day, weeks, policy);
    if (wi < 0) continue;
    if (a.action === 'read') {
      if (registered.includes(a.system.toLowerCase())) {
        readsPerWeek[wi]! += a.count;
        readsBySystem[a.system] = (readsBySystem[a.system] ?? 0) + a.count;
      } else unregisteredReads += a.count;
    } else if (a.device) {
      const arr = writesPerWeekByDevice.get(a.device) ?? weeks.map(() => 0);
      arr[wi]! += a.count;
      writesPerWeekByDevice.set(a.device, arr);
    }
  }
  const readsInWindow = readsPerWeek.reduce((s, x) => s + x, 0);
  const dataUse: DataUse = { registeredSystems: inp.registeredSystems, readsInWindow, readsBySystem, readsPerWeek, unregisteredReads, auditRecords };
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

  // --- process steps
  const processes: ProcessResult[] = inp.project.processes.map((s) => {
    const devs = entries.filter((e) => e.process === s.id && e.inRegister);
    const scoped = devs.filter((e) => e.inScope);
    const commandsPerWeek = weeks.map((_, wi) => scoped.reduce((sum, e) => sum + (writesPerWeekByDevice.get(e.id)?.[wi] ?? 0), 0));
    const covered = scoped.some((e) => e.measure?.networkedPartial === true);
    const fullyCovered = scoped.length > 0 && scoped.every((e) => e.measure?.networkedFull === true && e.measure.weeklyStable);
    const executed = scoped.length > 0 && weeks.length > 0 && commandsPerWeek.every((c) => c >= v.classification.full.minCommandsPerWeek);
    const ev = scoped.length === 0
      ? 'no in-scope equipment in the register for this step'
      : `${scoped.filter((e) => e.measure?.networkedPartial).length}/${scoped.length} in-scope devices networked at ${rationalText(v.classification.partial.rMin)}, ${scoped.filter((e) => e.measure?.networkedFull).length}/${scoped.length} at ${rationalText(v.classification.full.rMin)}; audited commands per week: [${commandsPerWeek.join(', ')}]`;
    const evZh = scoped.length === 0
      ? '设备台账中该工序没有纳入统计的设备'
      : `纳入统计设备 ${scoped.length} 台，按 ${rationalText(v.classification.partial.rMin)} 联网 ${scoped.filter((e) => e.measure?.networkedPartial).length} 台，按 ${rationalText(v.classification.full.rMin)} 联网 ${scoped.filter((e) => e.measure?.networkedFull).length} 台；每周经审计的平台指令：[${commandsPerWeek.join(', ')}]`;
    const out: ProcessResult = { id: s.id, key: s.key, devices: devs.map((e) => e.id), inScopeDevices: scoped.map((e) => e.id), covered, fullyCovered, executed, commandsPerWeek, evidence: ev, evidenceZh: evZh };
    if (s.name !== undefined) out.name = s.name;
    return out;
  });
  for (const s of processes) {
    if (s.inScopeDevices.length === 0) rule({ rule: `process.noInScopeEquipment:${s.id}`, value: 0, threshold: null, result: 'flag', evidence: `step ${s.id}: ${s.evidence}; not assessed`, evidenceZh: `工序 ${s.id} 在设备台账中没有纳入统计的设备，不作评判` });
  }
  for (const e of entries) {
    if (e.inRegister && !e.inGateway) rule({ rule: `register.notInGateway:${e.id}`, value: e.id, threshold: null, result: 'flag', evidence: `equipment ${e.id} is not among the gateway's devices: not networked`, evidenceZh: `台账设备 ${e.id} 未接入网关：按未联网计` });
    if (!e.inRegister) rule({ rule: `gateway.notInRegister:${e.id}`, value: e.id, threshold: null, result: 'flag', evidence: `gateway device ${e.id} is not in the project's equipment register: not counted`, evidenceZh: `网关设备 ${e.id} 不在项目设备台账中：不计入统计` });
  }

  // --- order exports
  const o = inp.orders;
  const ordersAt = (r: typeof v.classification.partial.orderMatchMin) => !!o && o.erpRows > 0 && o.mesRows > 0 && ratioAtLeast(o.erpMatched, o.erpRows, r) && ratioAtLeast(o.mesMatched, o.mesRows, r);
  const ordersText = o ? `ERP→MES ${o.erpMatched}/${o.erpRows}, MES→ERP ${o.mesMatched}/${o.mesRows}${o.bad.length ? `; ${o.bad.length} bad row(s)` : ''}` : 'no order exports given';
  const ordersZh = o ? `ERP→MES ${o.erpMatched}/${o.erpRows}，MES→ERP ${o.mesMatched}/${o.mesRows}${o.bad.length ? `；错误行 ${o.bad.length} 行` : ''}` : '未提供订单导出';

  // --- partial
  const cp = v.classification.partial;
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
  rule({
    rule: 'partial.keyStepCovered',
    value: keyCovered.length,
    threshold: cp.minKeyStepsCovered,
    result: keyCovered.length >= cp.minKeyStepsCovered ? 'pass' : 'fail',
    evidence: `key steps covered: ${keyCovered.map((s) => s.id).join(', ') || 'none'} (key steps: ${processes.filter((s) => s.key).map((s) => s.id).join(', ') || 'none'})`,
    evidenceZh: `已覆盖的关键工序：${keyCovered.map((s) => s.id).join('、') || '无'}（关键工序：${processes.filter((s) => s.key).map((s) => s.id).join('、') || '无'}）`,
  });
  const usedByReads = readsInWindow > 0;
  const usedByOrders = ordersAt(cp.orderMatchMin);
  rule({
    rule: 'partial.dataUse',
    value: readsInWindow,
    threshold: `>= 1 read by a registered system, or order match >= ${rationalText(cp.orderMatchMin)}`,
    result: usedByReads || usedByOrders ? 'pass' : 'fail',
    evidence: `audited reads by registered systems (${inp.registeredSystems.join(', ') || 'none registered'}): ${Object.entries(readsBySystem).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}${unregisteredReads ? `; ${unregisteredReads} reads by unregistered systems not counted` : ''}; orders: ${ordersText}`,
    evidenceZh: `注册系统（${inp.registeredSystems.join('、') || '未注册'}）经审计的读取：${Object.entries(readsBySystem).map(([k, n]) => `${k} ${n} 次`).join('、') || '无'}${unregisteredReads ? `；未注册系统读取 ${unregisteredReads} 次不计` : ''}；订单对账：${ordersZh}`,
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
  const cf = v.classification.full;
  const netFull = scopedEntries.filter((e) => e.measure?.networkedFull);
  rule({
    rule: 'full.allNetworked',
    value: `${netFull.length}/${scopedEntries.length}`,
    threshold: `all at rMin ${rationalText(cf.rMin)}`,
    result: scopedEntries.length > 0 && netFull.length === scopedEntries.length ? 'pass' : 'fail',
    evidence: scopedEntries.map((e) => `${e.id}: ${e.measure ? `${pct(e.measure.reportingRate)}${e.measure.reasons.length ? ` (${e.measure.reasons.join(', ')})` : ''}` : 'not in gateway'}`).join('; ') || 'no in-scope equipment',
    evidenceZh: scopedEntries.map((e) => `${e.id}：${e.measure ? `${pct(e.measure.reportingRate)}${e.measure.reasons.length ? `（${e.measure.reasons.map((c) => codeText('zh', c)).join('、')}）` : ''}` : '未接入网关'}`).join('；') || '无纳入统计的设备',
  });
  const weekFails = weeks.map((w, wi) => scopedEntries.filter((e) => e.measure?.weekly[wi]?.pass === false).map((e) => e.id));
  const stableWeeks = weekFails.filter((f) => f.length === 0).length;
  rule({
    rule: 'full.weeklyStability',
    value: `${stableWeeks}/${weeks.length}`,
    threshold: `every week, every in-scope device at ${rationalText(cf.rMin)}`,
    result: weeks.length > 0 && stableWeeks === weeks.length && scopedEntries.every((e) => e.measure) ? 'pass' : 'fail',
    evidence: weeks.map((w, wi) => `${w.label}: ${weekFails[wi]!.length ? `below: ${weekFails[wi]!.join(', ')}` : 'ok'}`).join('; '),
    evidenceZh: weeks.map((w, wi) => `${w.label} 起一周：${weekFails[wi]!.length ? `未达标 ${weekFails[wi]!.join('、')}` : '达标'}`).join('；'),
  });
  const assessed = processes.filter((s) => s.inScopeDevices.length > 0);
  rule({
    rule: 'full.stepsFullyCovered',
    value: `${assessed.filter((s) => s.fullyCovered).length}/${assessed.length}`,
    threshold: 'every step with in-scope equipment',
    result: assessed.length > 0 && assessed.every((s) => s.fullyCovered) ? 'pass' : 'fail',
    evidence: assessed.map((s) => `${s.id}: ${s.fullyCovered ? 'fully covered' : 'not fully covered'}`).join('; ') || 'no step has in-scope equipment',
    evidenceZh: assessed.map((s) => `${s.id}：${s.fullyCovered ? '全部覆盖' : '未全部覆盖'}`).join('；') || '没有工序含纳入统计的设备',
  });
  rule({
    rule: 'full.stepsExecuted',
    value: `${assessed.filter((s) => s.executed).length}/${assessed.length}`,
    threshold: `>= ${cf.minCommandsPerWeek} audited command(s) to the step's devices in every week`,
    result: assessed.length > 0 && assessed.every((s) => s.executed) ? 'pass' : 'fail',
    evidence: assessed.map((s) => `${s.id}: [${s.commandsPerWeek.join(', ')}]`).join('; ') || 'no step has in-scope equipment',
    evidenceZh: `各工序每周经审计的平台指令数：${assessed.map((s) => `${s.id} [${s.commandsPerWeek.join(', ')}]`).join('；') || '无'}`,
  });
  const readWeeks = readsPerWeek.filter((n) => n >= cf.minReadsPerWeek).length;
  rule({
    rule: 'full.dataUseEveryWeek',
    value: `${readWeeks}/${weeks.length}`,
    threshold: `>= ${cf.minReadsPerWeek} read(s) by a registered system in every week`,
    result: weeks.length > 0 && readWeeks === weeks.length ? 'pass' : 'fail',
    evidence: `reads per week: [${readsPerWeek.join(', ')}]`,
    evidenceZh: `注册系统每周读取次数：[${readsPerWeek.join(', ')}]`,
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
  if ((shortWindow && !inp.preliminary) || p.outageExceeded) classification = 'indeterminate';
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
    evidenceZh: reached ? `达到申报类型（${CLASSIFICATION.zh[claim]}）` : `申报类型为“${CLASSIFICATION.zh[claim]}”，核验结论为“${CLASSIFICATION.zh[classification]}”`,
  });
  return { classification, rules, processes, dataUse };
}

export { localDay };
