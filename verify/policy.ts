/**
 * The policy file (config/policy/<name>.yaml, format in verify/README.md "The policy file"): every
 * threshold and rate of the rules as a parameter, its validity period, and per value a `keys` entry
 * saying whether it comes from the policy text or is a product default, with its meaning in Chinese
 * and English (the report's policy table). Loaded once, validated (strict: unknown keys are errors, a
 * value without a `keys` entry or an entry without a value too, a cap that is not rate × first
 * investment too), hashed (sha256 of the file's bytes, so the report shows exactly which file was
 * applied) and frozen. Rates are exact rationals.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { deepFreeze, parseDuration } from '../config/common.js';
import { ErrorCodes, GatewayError } from '../config/errors.js';
import type { RuleResult } from './classify.js';
import { calendarDate } from './project.js';
import { cmp, mul, parseFen, parseRational, rat, rationalText, formatFen, type Rational } from './decimal.js';

const rate = (description: string) =>
  z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      const r = parseRational(v);
      if (!r) {
        ctx.addIssue({ code: 'custom', message: `expected a non-negative decimal like "0.30", got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return r;
    })
    .describe(description);

const money = (description: string) =>
  z
    .string()
    .transform((v, ctx) => {
      const f = parseFen(v);
      if (f === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected an amount in 元 with two decimals like "30000.00", got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return f;
    })
    .describe(description);

const dur = (description: string) =>
  z
    .string()
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: `expected a duration like "60s" or "30d", got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return ms;
    })
    .describe(description);

const CATEGORY = ['software', 'hardware', 'equipment'] as const;

const aTrack = z.strictObject({
  rates: z.strictObject({
    software: rate('Rate on software lines.'),
    hardware: rate('Rate on hardware lines.'),
    equipment: rate('Rate on equipment lines.'),
  }),
  cap: money('Largest amount of the track, 元.'),
});

/** One `keys` entry: where a value comes from and what it means (the report's policy table). */
const keyMeta = z
  .strictObject({
    source: z.enum(['text', 'default']).describe("text: the value is written in the policy text; default: the text is silent and the value is the product's."),
    clause: z.string().min(1).optional().describe('The words of the policy text the value comes from (required for source: text).'),
    zh: z.string().min(1).describe('Meaning, in Chinese.'),
    en: z.string().min(1).describe('Meaning, in English.'),
  })
  .refine((k) => k.source !== 'text' || k.clause !== undefined, {
    message: 'required when source is text (quote the words the value comes from)',
    path: ['clause'],
  });

/** Top-level keys that describe the file rather than hold a policy value. */
const DOCUMENT_KEYS = new Set(['id', 'title', 'valid', 'keys']);

export const policySchema = z.strictObject({
  id: z.string().min(1).describe('Policy id (the name it is shipped under).'),
  title: z.string().optional().describe('Human title printed in the report.'),
  valid: z
    .strictObject({
      from: calendarDate('First day the policy applies to.'),
      to: calendarDate('Last day the policy applies to (inclusive); null while no end is published.').nullable(),
    })
    .refine((v) => v.to === null || v.from <= v.to, { message: 'from is after to', path: ['from'] })
    .describe('The days the policy applies to; a project period outside them is flagged.'),
  keys: z.record(z.string(), keyMeta).describe('Per value (dotted path): its source and meaning.'),
  timezone: z
    .string()
    .regex(/^[+-]\d{2}:\d{2}$/, 'expected a UTC offset like "+08:00"')
    .describe('UTC offset of local dates and calendar weeks.'),
  weekStartsOn: z.enum(['monday', 'sunday']).default('monday').describe('First day of a calendar week.'),
  measure: z.strictObject({
    slotMin: dur('Smallest slot: slot = max(device interval, slotMin).'),
    staleIntervals: z.number().int().positive().describe('Stale after more than this many intervals without a reading...'),
    staleMin: dur('...and at least this long.'),
    outageMax: rate('Platform outage share of the window above which the result is indeterminate.'),
    minWindow: dur('Windows shorter than this are indeterminate (unless evaluated as preliminary).'),
    inScopeCategories: z.array(z.string().min(1)).min(1).describe('Equipment categories in scope of the networking rate.'),
    signalSet: z.strictObject({
      required: z.array(z.string()).describe('Tag roles a device must deliver.'),
      anyOf: z.array(z.string()).describe('At least one tag of one of these roles.'),
    }),
    uncertainCountsAsGood: z
      .boolean()
      .default(false)
      .describe(
        'Whether a reading of uncertain quality fills a slot (and counts for tags seen and staleness) like a good one; default false: only good readings do.',
      ),
  }),
  classification: z.strictObject({
    partial: z.strictObject({
      rMin: rate('Reporting rate a device needs to count as networked (partial tier).'),
      minNetworkedDevices: z.number().int().nonnegative(),
      minKeyStepsCovered: z.number().int().nonnegative(),
      orderMatchMin: rate('Order export match rate (both directions) that counts as data use.'),
      minEligibleInvoices: z.number().int().nonnegative(),
    }),
    full: z.strictObject({
      rMin: rate('Reporting rate every in-scope device needs (full tier), over the window and each week.'),
      orderMatchMin: rate('ERP→MES and MES→ERP match rates needed where exports are given.'),
      minCommandsPerWeek: z.number().int().positive(),
      minReadsPerWeek: z.number().int().positive(),
    }),
  }),
  money: z.strictObject({
    vatBasis: z.enum(['excl', 'incl']).default('excl'),
    excludeUnnetworkedEquipment: z.boolean().default(false).describe('Exclude equipment lines whose linked device is not networked (default: flag them only).'),
    tracks: z.strictObject({
      'A-full': aTrack,
      'A-partial': aTrack,
      'B-pilot': z.strictObject({
        rate: rate('Rate on the first investment.'),
        firstInvestment: money('Investment the base rate applies to, 元.'),
        cap: money('Largest base amount, 元.'),
        equipmentUnitMin: money('Smallest equipment unit value (line amount / quantity), 元; "以上" includes it.'),
        excessRates: z.strictObject({
          software: rate('Excess rate, software.').nullable(),
          hardware: rate('Excess rate, hardware.').nullable(),
          equipment: rate('Excess rate, equipment (永委发〔2018〕8号).').nullable(),
          cloud: rate('Excess rate, cloud.').nullable(),
        }),
      }),
      'C-cloud': z.strictObject({
        rate: rate('Rate on first-year cloud fees.'),
        minFirstYear: money('Smallest first-year cloud spend, 元; "以上" includes it.'),
        cap: money('Largest amount per enterprise, 元.'),
      }),
    }),
    contractor: z.strictObject({
      discountRate: rate('Share of the list price the general contractor must waive.'),
      discountCap: money('Largest discount required, 元.'),
    }),
  }),
});

export type PolicyValues = z.output<typeof policySchema>;
export type MoneyCategory = (typeof CATEGORY)[number] | 'cloud';

/** One row of the report's policy table. */
export interface PolicyKey {
  /** dotted path, e.g. money.tracks.C-cloud.cap */
  key: string;
  /** as written in the file (YAML scalar or list); the schema default where the file omits it */
  value: string | number | boolean | null | Array<string | number>;
  /** how to print it: money is 元, a rate is an exact decimal, a duration has `ms` */
  kind: 'money' | 'rate' | 'duration' | 'count' | 'boolean' | 'text' | 'list' | 'unset';
  ms?: number;
  source: 'text' | 'default';
  clause?: string;
  zh: string;
  en: string;
}

export interface Policy {
  values: PolicyValues;
  /** every value with its source and meaning, in file order */
  table: PolicyKey[];
  /** the file as written, for the report */
  raw: unknown;
  sha256: string;
  path: string;
  /** local offset of the policy timezone, ms (east positive) */
  offsetMs: number;
}

/** Directories the shipped policies may live in (sources and the built dist/ tree). */
function shippedDirs(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  return [resolve(here, '../config/policy'), resolve(here, '../../config/policy')];
}

/**
 * A policy by shipped name (`yongkang-2019`) or by path (absolute, or relative to `baseDir`, e.g.
 * the project file's directory). A name is anything without a slash and without .yaml/.yml.
 */
export function resolvePolicyPath(ref: string, baseDir = process.cwd()): string {
  const isName = !/[\\/]/.test(ref) && !/\.ya?ml$/i.test(ref);
  if (isName) {
    for (const dir of shippedDirs()) {
      const p = resolve(dir, `${ref}.yaml`);
      if (existsSync(p)) return p;
    }
    throw new GatewayError(ErrorCodes.POLICY, `policy "${ref}" is not shipped with the product (looked in ${shippedDirs().join(', ')})`);
  }
  return isAbsolute(ref) ? ref : resolve(baseDir, ref);
}

export function parsePolicyText(bytes: Buffer | string, path: string): Policy {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const doc = parseDocument(buf.toString('utf8'), { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new GatewayError(ErrorCodes.POLICY, `${path}: not valid YAML`, { details: doc.errors.map((e) => `${path}: ${e.message.split('\n')[0]}`) });
  }
  const raw = doc.toJS();
  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) {
    const details = parsed.error.issues.map((i) => `${path}: ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new GatewayError(ErrorCodes.POLICY, `${path}: ${details.length} problem(s) in the policy file`, { details });
  }
  const problems = [...keyProblems(parsed.data, raw), ...capProblems(parsed.data)].map((p) => `${path}: ${p}`);
  if (problems.length > 0) throw new GatewayError(ErrorCodes.POLICY, `${path}: ${problems.length} problem(s) in the policy file`, { details: problems });
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(parsed.data.timezone)!;
  const offsetMs = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000;
  return Object.freeze({
    values: deepFreeze(parsed.data),
    table: deepFreeze(policyTable(parsed.data, raw)),
    raw: deepFreeze(raw),
    sha256: createHash('sha256').update(buf).digest('hex'),
    path,
    offsetMs,
  });
}

export function loadPolicy(ref: string, baseDir?: string): Policy {
  const path = resolvePolicyPath(ref, baseDir);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new GatewayError(ErrorCodes.POLICY, `cannot read policy file ${path}: ${(e as Error).message}`, { cause: e });
  }
  return parsePolicyText(bytes, path);
}

export const DEFAULT_POLICY = 'yongkang-2019';

const isRational = (v: unknown): v is Rational =>
  typeof v === 'object' && v !== null && typeof (v as Rational).num === 'bigint' && typeof (v as Rational).den === 'bigint';

/** The policy values as [dotted path, parsed value, raw value] in file order (document keys left out). */
function leaves(parsed: unknown, raw: unknown, prefix = ''): Array<[string, unknown, unknown]> {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || isRational(parsed)) return [[prefix, parsed, raw]];
  const r = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  return Object.entries(parsed as Record<string, unknown>)
    .filter(([k]) => prefix !== '' || !DOCUMENT_KEYS.has(k))
    .flatMap(([k, v]) => leaves(v, r[k], prefix ? `${prefix}.${k}` : k));
}

function keyProblems(values: PolicyValues, raw: unknown): string[] {
  const paths = leaves(values, raw).map(([p]) => p);
  const known = new Set(paths);
  return [
    ...paths.filter((p) => !(p in values.keys)).map((p) => `keys: no entry for ${p} (every value needs { source: text|default, zh, en })`),
    ...Object.keys(values.keys)
      .filter((k) => !known.has(k))
      .map((k) => `keys.${k}: no such policy value`),
  ];
}

/** A track's cap must be its rate times its first investment where it has both (B-pilot). */
function capProblems(values: PolicyValues): string[] {
  return Object.entries(values.money.tracks).flatMap(([id, t]) => {
    const x = t as { rate?: Rational; firstInvestment?: bigint; cap?: bigint };
    if (!x.rate || x.firstInvestment === undefined || x.cap === undefined) return [];
    const product = mul(rat(x.firstInvestment), x.rate);
    if (cmp(product, rat(x.cap)) === 0) return [];
    return [
      `money.tracks.${id}.cap: ${formatFen(x.cap, '')} is not rate ${rationalText(x.rate)} × firstInvestment ${formatFen(x.firstInvestment, '')} = ${rationalText({ num: product.num, den: product.den * 100n }, 4)}`,
    ];
  });
}

function policyTable(values: PolicyValues, raw: unknown): PolicyKey[] {
  return leaves(values, raw).map(([key, parsed, written]) => {
    const meta = values.keys[key]!;
    let kind: PolicyKey['kind'];
    let value: PolicyKey['value'];
    if (parsed === null) [kind, value] = ['unset', null];
    else if (typeof parsed === 'bigint') [kind, value] = ['money', formatFen(parsed, '')];
    else if (isRational(parsed)) [kind, value] = ['rate', typeof written === 'string' ? written : rationalText(parsed)];
    else if (typeof parsed === 'number') [kind, value] = typeof written === 'string' ? ['duration', written] : ['count', parsed];
    else if (typeof parsed === 'boolean') [kind, value] = ['boolean', parsed];
    else if (Array.isArray(parsed)) [kind, value] = ['list', parsed as Array<string | number>];
    else [kind, value] = ['text', String(parsed)];
    const row: PolicyKey = { key, value, kind, source: meta.source, zh: meta.zh, en: meta.en };
    if (kind === 'duration') row.ms = parsed as number;
    if (meta.clause !== undefined) row.clause = meta.clause;
    return row;
  });
}

export type { Rational };

/**
 * The policy's validity against the project period (both inclusive local dates): a warning (flag)
 * when part of the period lies before `valid.from` or after `valid.to`.
 */
export function validityRule(policy: Policy, period: { from: string; to: string }): RuleResult {
  const { from, to } = policy.values.valid;
  const before = period.from < from;
  const after = to !== null && period.to > to;
  const validEn = `${from} – ${to ?? '(no end published)'}`;
  const validZh = to === null ? `${from} 起，未公布截止日期` : `${from} 至 ${to}`;
  const parts = [before ? 'starts before the policy applies' : '', after ? 'ends after the policy ends' : ''].filter(Boolean);
  const partsZh = [before ? '开始早于政策生效日' : '', after ? '结束晚于政策截止日' : ''].filter(Boolean);
  const ok = parts.length === 0;
  return {
    rule: 'policy.validity',
    value: `${period.from} – ${period.to}`,
    threshold: validEn,
    result: ok ? 'pass' : 'flag',
    evidence: ok
      ? `the project period ${period.from} – ${period.to} lies within the policy's validity ${validEn}`
      : `the project period ${period.from} – ${period.to} ${parts.join(' and ')} (valid ${validEn}): the panel confirms that this policy file applies`,
    evidenceZh: ok
      ? `项目期 ${period.from} 至 ${period.to} 在政策有效期（${validZh}）内`
      : `项目期 ${period.from} 至 ${period.to} 超出政策有效期（${validZh}）：${partsZh.join('，')}，请专家组确认本政策文件是否适用`,
  };
}
