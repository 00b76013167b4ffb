/**
 * The verifier core, pure: facts in (slot counts, tags seen, heartbeats, audits, the project file,
 * order exports, the policy), decisions and money out, each decision with its reasons. No I/O here:
 * run.ts gathers the facts from the backends and fills the report header; cli.ts writes the reports.
 */
import { ErrorCodes, GatewayError } from '../config/errors.js';
import {
  classify,
  networkingRate,
  type DataUse,
  type GatewayPlatform,
  type NetworkingRate,
  type ProcessResult,
  type RegisterEntry,
  type RuleResult,
} from './classify.js';
import { rationalText } from './decimal.js';
import type { CommandSample, DeviceSpec, Facts } from './facts.js';
import { measureDevice, measurePlatform, weeksOf, type DeviceMeasure, type PlatformMeasure, type Week } from './measure.js';
import { computeSubsidy, moneyRules, type Classification, type SubsidyResult } from './money.js';
import { orderRules, type OrderMatch } from './orders.js';
import { validityRule, type Policy, type PolicyKey } from './policy.js';
import { shutdownProblems, type Project } from './project.js';

export interface VerifyInput {
  project: Project;
  /** for error messages and the report */
  projectFile: string;
  policy: Policy;
  /** the gateways' devices (from their configs); `gateway` names each one's gateway */
  devices: readonly DeviceSpec[];
  /** consumer systems registered with the gateways (http.tokens[].system, minus non-consumers) */
  registeredSystems: readonly string[];
  facts: Facts;
  orders?: OrderMatch;
  preliminary: boolean;
  source: string;
  /** one gateway (schema 1); with `gateways` the first of them */
  gateway?: { id: string; site?: string };
  /** every gateway whose config was given, in order (default: `gateway`, or one gateway named '') */
  gateways?: ReadonlyArray<{ id: string; site?: string; config: string }>;
}

/** A register entry or gateway device; the measured fields are absent when the device has no data source. */
export interface DeviceResult extends Omit<RegisterEntry, 'measure'>, Partial<Omit<DeviceMeasure, 'id' | 'reasons' | 'networkedPartial' | 'networkedFull'>> {
  reasons: string[];
  networked: boolean;
  networkedFull: boolean;
}

/**
 * The header of a report a panel can sign: what was run, on which inputs and data, and the digests
 * that make it reproducible (`fgw verify --reproduce report.json`). Every field but `generatedAt`
 * is the same when the same command runs again on the same data.
 */
export interface ReportHeader {
  /** derived from the project id, the window's local dates and the digest of inputs and facts */
  number: string;
  /** ISO 8601 in the policy's zone, e.g. 2026-12-03T21:10:03+08:00 */
  generatedAt: string;
  fgw: { version: string; revision?: string };
  /** the command's arguments after `fgw`, credentials removed */
  command: string[];
  source: {
    kind: 'store' | 'influx';
    /** store files read (--source store) */
    stores?: string[];
    /** InfluxDB read (--source influx), URL without credentials */
    influx?: { url: string; database: string };
    gateways: string[];
    /** made by this hub (`fgw hub`, its hub.yaml) over HTTP: `command` is then the equivalent fgw verify command */
    hub?: { id: string; config: string };
  };
  /** SHA-256 of every input file */
  inputs: Array<{ role: 'gateway-config' | 'project' | 'policy' | 'erp-orders' | 'mes-orders'; path: string; sha256: string }>;
  /** SHA-256 of the canonical JSON of the facts the decisions were made on */
  factsDigest: string;
  /** the working directory the command ran in (relative paths in `command` are relative to it) */
  cwd: string;
}

/** One gateway serving devices of the project: its own heartbeat decides its devices' outages. */
export interface GatewayResult {
  id: string;
  site?: string;
  /** the gateway config file */
  config: string;
  /** the enabled devices of this config */
  devices: string[];
  /** of those, the in-scope equipment of the register: a gateway serving none does not decide indeterminacy */
  inScopeDevices: string[];
  platform: PlatformMeasure;
}

/** How the decisions were measured (the method statement of the report). */
export interface MethodResult {
  /** the policy's zone, e.g. +08:00: local days, calendar weeks and every time in the evidence */
  timezone: string;
  weekStartsOn: 'monday' | 'sunday';
  /** the policy's smallest slot, ms; a device's slot is max(its interval, slotMin) */
  slotMinMs: number;
  /** whether readings of uncertain quality count as good (policy measure.uncertainCountsAsGood) */
  uncertainCountsAsGood: boolean;
  /** the platform outage share above which the result is indeterminate */
  outageMax: string;
}

export interface VerifyResult {
  kind: 'fgw-verify-result';
  /** the schema version of this JSON: 2 (schema 1 fields are all kept) */
  version: 2;
  project: {
    id: string;
    name: string;
    enterprise: string;
    uscc: string;
    claim: string;
    period: { from: string; to: string };
    file: string;
    /** (schema 2) the project file's flags and declarations, as the report prints them */
    pilot: boolean;
    expertAcceptance?: string;
    firstCloudContract: boolean;
    firstCloudDate?: string;
    shutdowns: Array<{ from: string; to: string; reason: string }>;
  };
  gateway?: { id: string; site?: string };
  /** (schema 2) every gateway whose config was given, with its own platform outages */
  gateways: GatewayResult[];
  /** (schema 2) the signable header (filled by run.ts; absent when the core is called directly) */
  report?: ReportHeader;
  /** (schema 2) how the decisions were measured */
  method: MethodResult;
  source: string;
  window: { from: string; to: string; fromMs: number; toMs: number; days: number };
  classification: Classification;
  preliminary: boolean;
  rules: RuleResult[];
  platform: PlatformMeasure;
  weeks: Week[];
  devices: DeviceResult[];
  networkingRate: NetworkingRate & { full: NetworkingRate };
  processes: ProcessResult[];
  dataUse: DataUse;
  /** the newest audited commands (platform execution evidence), newest first */
  commands: CommandSample[];
  orders?: OrderMatch;
  subsidy: SubsidyResult;
  policy: {
    id: string;
    title?: string;
    path: string;
    sha256: string;
    /** the policy file as written */
    values: unknown;
    /** (schema 2) the days the policy applies to (`to` null: no end published) */
    valid: { from: string; to: string | null };
    /** (schema 2) every value with its source (policy text or product default) and meaning */
    table: PolicyKey[];
  };
}

export function validateInput(inp: { project: Project; projectFile: string; policy: Policy; from: number; to: number }): void {
  const problems: string[] = [];
  if (!Number.isFinite(inp.from)) problems.push('window.from: not a valid time');
  if (!Number.isFinite(inp.to)) problems.push('window.to: not a valid time');
  if (Number.isFinite(inp.from) && Number.isFinite(inp.to) && inp.from >= inp.to)
    problems.push(`window.from: ${new Date(inp.from).toISOString()} is not before window.to ${new Date(inp.to).toISOString()}`);
  problems.push(...shutdownProblems(inp.project, inp.projectFile, inp.policy.offsetMs));
  if (inp.policy.values.money.vatBasis === 'incl') {
    inp.project.invoices.forEach((inv, i) => {
      if (inv.vat === undefined) problems.push(`${inp.projectFile}: invoices[${i}] (${inv.number}).vat: required when the policy's VAT basis is incl`);
    });
  }
  if (problems.length) throw new GatewayError(ErrorCodes.VERIFY_INPUT, problems[0]!, { details: problems });
}

export function evaluate(inp: VerifyInput): VerifyResult {
  const { project, policy, facts } = inp;
  const pr = project.project;
  validateInput({ project, projectFile: inp.projectFile, policy, from: facts.from, to: facts.to });
  const gwList = inp.gateways ?? [{ id: inp.gateway?.id ?? '', ...(inp.gateway?.site ? { site: inp.gateway.site } : {}), config: '' }];
  const specs = new Map(inp.devices.map((d) => [d.id, { ...d, gateway: d.gateway ?? gwList[0]!.id }]));
  const factsById = new Map(facts.devices.map((d) => [d.id, d]));
  const inScopeCats = policy.values.measure.inScopeCategories;
  const allWeeks = weeksOf(facts.from, facts.to, policy);

  const entries: RegisterEntry[] = project.equipment.map((e) => {
    const spec = specs.get(e.id);
    const f = factsById.get(e.id);
    const r: RegisterEntry = {
      id: e.id,
      process: e.process,
      category: e.category,
      digitalControl: e.digitalControl,
      inScope: inScopeCats.includes(e.category) && e.exempt === undefined,
      inGateway: spec !== undefined,
      inRegister: true,
    };
    if (e.name ?? spec?.name) r.name = (e.name ?? spec?.name)!;
    if (e.exempt !== undefined) r.exempt = e.exempt;
    if (spec && f) r.measure = measureDevice(f, spec, facts, project, policy, allWeeks);
    return r;
  });
  for (const d of inp.devices) {
    if (project.equipment.some((e) => e.id === d.id)) continue;
    const f = factsById.get(d.id);
    const r: RegisterEntry = { id: d.id, digitalControl: false, inScope: false, inGateway: true, inRegister: false };
    if (d.name) r.name = d.name;
    if (d.process) r.process = d.process;
    if (f) r.measure = measureDevice(f, specs.get(d.id)!, facts, project, policy, allWeeks);
    entries.push(r);
  }

  // a week is judged when it keeps an expected slot of an in-scope device
  const weeks: Week[] = allWeeks.map((w, wi) => ({ ...w, judged: entries.some((e) => e.inScope && (e.measure?.weekly[wi]?.expected ?? 0) > 0) }));
  const gateways: GatewayResult[] = gwList.map((g) => {
    const devs = inp.devices.filter((d) => specs.get(d.id)!.gateway === g.id).map((d) => d.id);
    return {
      id: g.id,
      ...(g.site ? { site: g.site } : {}),
      config: g.config,
      devices: devs,
      inScopeDevices: entries.filter((e) => e.inScope && e.inGateway && devs.includes(e.id)).map((e) => e.id),
      platform: measurePlatform(facts, project, policy, g.id),
    };
  });

  // money first needs only the lines (and which devices are networked); classification needs the count of eligible lines
  const networked = new Set(entries.filter((e) => e.inRegister && e.measure?.networkedPartial === true).map((e) => e.id));
  const preSubsidy = computeSubsidy(project, policy.values, 'none', { networked });
  const cls = classify({
    project,
    policy,
    preliminary: inp.preliminary,
    windowMs: facts.to - facts.from,
    weeks,
    gateways: gateways.map((g): GatewayPlatform => ({ id: g.id, platform: g.platform, inScopeDevices: g.inScopeDevices })),
    entries,
    audits: facts.audits,
    ...(facts.weeklyCommands ? { weeklyCommands: facts.weeklyCommands } : {}),
    registeredSystems: [...inp.registeredSystems],
    ...(inp.orders ? { orders: inp.orders } : {}),
    eligibleInvoiceLines: preSubsidy.eligibleLines,
  });
  const subsidy = computeSubsidy(project, policy.values, cls.classification, { networked });
  const rules = [...cls.rules, ...orderRules(project, inp.orders), validityRule(policy, pr.period), ...moneyRules(subsidy, project)];

  const devices = entries.map((e): DeviceResult => {
    const base = {
      id: e.id,
      ...(e.name !== undefined ? { name: e.name } : {}),
      ...(e.process !== undefined ? { process: e.process } : {}),
      ...(e.category !== undefined ? { category: e.category } : {}),
      digitalControl: e.digitalControl,
      ...(e.exempt !== undefined ? { exempt: e.exempt } : {}),
      inScope: e.inScope,
      inGateway: e.inGateway,
      inRegister: e.inRegister,
      networked: e.measure?.networkedPartial === true,
      networkedFull: e.measure?.networkedFull === true,
    };
    if (!e.measure) return { ...base, reasons: [e.inGateway ? 'NO_FACTS' : 'NOT_IN_GATEWAY'] };
    const { id: _id, networkedPartial: _p, ...m } = e.measure;
    return { ...m, ...base };
  });

  const out: VerifyResult = {
    kind: 'fgw-verify-result',
    version: 2,
    project: {
      id: pr.id,
      name: pr.name,
      enterprise: pr.enterprise.name,
      uscc: pr.enterprise.uscc,
      claim: pr.claim,
      period: pr.period,
      file: inp.projectFile,
      pilot: pr.pilot,
      ...(pr.expertAcceptance !== undefined ? { expertAcceptance: pr.expertAcceptance } : {}),
      firstCloudContract: pr.firstCloudContract,
      ...(pr.firstCloudDate !== undefined ? { firstCloudDate: pr.firstCloudDate } : {}),
      shutdowns: project.shutdowns.map((x) => ({ from: x.from, to: x.to, reason: x.reason })),
    },
    gateways,
    source: inp.source,
    window: {
      from: new Date(facts.from).toISOString(),
      to: new Date(facts.to).toISOString(),
      fromMs: facts.from,
      toMs: facts.to,
      days: Math.round(((facts.to - facts.from) / 86_400_000) * 100) / 100,
    },
    classification: cls.classification,
    preliminary: inp.preliminary,
    rules,
    platform: cls.platform,
    weeks,
    devices,
    networkingRate: { ...networkingRate(entries, 'partial', policy), full: networkingRate(entries, 'full', policy) },
    processes: cls.processes,
    dataUse: cls.dataUse,
    commands: facts.commands ?? [],
    subsidy,
    policy: {
      id: policy.values.id,
      ...(policy.values.title ? { title: policy.values.title } : {}),
      path: policy.path,
      sha256: policy.sha256,
      values: policy.raw,
      valid: { from: policy.values.valid.from, to: policy.values.valid.to },
      table: [...policy.table],
    },
    method: {
      timezone: policy.values.timezone,
      weekStartsOn: policy.values.weekStartsOn,
      slotMinMs: policy.values.measure.slotMin,
      uncertainCountsAsGood: policy.values.measure.uncertainCountsAsGood,
      outageMax: rationalText(policy.values.measure.outageMax),
    },
  };
  if (inp.gateway) out.gateway = inp.gateway;
  else if (inp.gateways?.[0]) out.gateway = { id: gwList[0]!.id, ...(gwList[0]!.site ? { site: gwList[0]!.site } : {}) };
  if (inp.orders) out.orders = inp.orders;
  return out;
}

/**
 * Token systems whose reads are never evidence of data use: the gateway's own dashboard and
 * anonymous loopback access. Everything else configured in `http.tokens` is a registered consumer.
 */
export const NON_CONSUMER_SYSTEMS: readonly string[] = ['dashboard', 'anonymous'];

/** The registered consumer systems of a gateway config (distinct token systems, minus non-consumers). */
export function registeredConsumerSystems(tokens: ReadonlyArray<{ system: string }>): string[] {
  return [...new Set(tokens.map((t) => t.system))].filter((s) => !NON_CONSUMER_SYSTEMS.includes(s.toLowerCase()));
}

/**
 * The registered systems of a gateway config, the one definition the verifier and the pilots view
 * use: the systems of `http.tokens` and of the northbound targets (`north[].system`: the platform
 * that reads over MQTT and sends commands back), minus the non-consumers.
 */
export function registeredSystemsOf(cfg: {
  http?: { tokens?: ReadonlyArray<{ system: string }> } | undefined;
  north?: ReadonlyArray<{ system: string }> | undefined;
}): string[] {
  return registeredConsumerSystems([...(cfg.http?.tokens ?? []), ...(cfg.north ?? [])]);
}
