/**
 * The policy file (config/policy/<name>.yaml): every threshold and rate of the rules as a parameter.
 * Loaded once, validated (strict: unknown keys are errors), hashed (sha256 of the file's bytes, so the
 * report shows exactly which file was applied) and frozen. Rates are exact rationals.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../config/common.js';
import { ErrorCodes, GatewayError } from '../config/errors.js';
import { parseFen, parseRational, type Rational } from './decimal.js';

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

export const policySchema = z.strictObject({
  id: z.string().min(1).describe('Policy id (the name it is shipped under).'),
  title: z.string().optional().describe('Human title printed in the report.'),
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
    uncertainCountsAsGood: z.boolean().default(false).describe('Whether a reading of uncertain quality fills a slot (and counts for tags seen and staleness) like a good one; default false: only good readings do.'),
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
        firstYearDays: z.number().int().positive(),
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

export interface Policy {
  values: PolicyValues;
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
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(parsed.data.timezone)!;
  const offsetMs = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000;
  return Object.freeze({
    values: deepFreeze(parsed.data),
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

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

export type { Rational };
