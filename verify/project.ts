/**
 * The project file (project.yaml): the retrofit under review, its equipment register, process
 * route, planned shutdowns, evidence exports and invoice lines. Strict zod schema (unknown keys are
 * errors); every problem names the file, the entry and the field:
 * `project.yaml: invoices[2] (33002026000101).amount: expected an amount in 元 with two decimals`.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ErrorCodes, GatewayError } from '../config/errors.js';
import { parseFen } from './decimal.js';

const IDENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const ident = (d: string) => z.string().regex(IDENT, 'expected an id of letters, digits, "_", "-" or "." (no spaces)').describe(d);

function isRealDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

/** A calendar date (YYYY-MM-DD), local to the policy's timezone. YAML 1.1 timestamps are taken back to text. */
const date = (d: string) =>
  z
    .union([z.string(), z.date()])
    .transform((v, ctx) => {
      const s = v instanceof Date ? v.toISOString().slice(0, 10) : v;
      if (!isRealDate(s)) {
        ctx.addIssue({ code: 'custom', message: `expected a date like 2026-03-01, got ${JSON.stringify(s)}` });
        return z.NEVER;
      }
      return s;
    })
    .describe(d);

/** An instant with an explicit offset (2026-10-01T00:00:00+08:00), or a date (local midnight). Output: text. */
const instant = (d: string) =>
  z
    .union([z.string(), z.date()])
    .transform((v, ctx) => {
      const s = v instanceof Date ? v.toISOString() : v;
      if (isRealDate(s)) return s;
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s) || Number.isNaN(Date.parse(s))) {
        ctx.addIssue({ code: 'custom', message: `expected a time with offset like 2026-10-01T00:00:00+08:00, got ${JSON.stringify(s)}` });
        return z.NEVER;
      }
      return s;
    })
    .describe(d);

const amount = (d: string) =>
  z
    .string({ error: 'expected an amount in 元 as a string with two decimals, like "760000.00"' })
    .refine((v) => parseFen(v) !== undefined, { message: 'expected an amount in 元 with two decimals, like "760000.00" (no separators, no sign)' })
    .describe(d);

export const EQUIPMENT_CATEGORIES = ['production', 'inspection', 'logistics', 'auxiliary', 'office', 'other'] as const;
export const INVOICE_CATEGORIES = ['equipment', 'hardware', 'software', 'cloud'] as const;
export type InvoiceCategory = (typeof INVOICE_CATEGORIES)[number];

export const projectSchema = z
  .strictObject({
    project: z.strictObject({
      id: z.string().min(1).describe('Project id (e.g. YK-2026-0173).'),
      name: z.string().min(1).describe('Project name.'),
      enterprise: z.strictObject({
        name: z.string().min(1).describe('Enterprise name.'),
        uscc: z.string().min(1).describe('Unified social credit code.'),
      }),
      period: z.strictObject({ from: date('First day of the project period.'), to: date('Last day of the project period (inclusive).') }),
      claim: z.enum(['full', 'partial']).describe('The retrofit tier the applicant claims.'),
      pilot: z.boolean().default(false).describe('On the 一企一线 pilot list (computes the B-pilot track).'),
      expertAcceptance: z.string().min(1).optional().describe('Expert acceptance record; B-pilot needs it.'),
      firstCloudContract: z.boolean().default(false).describe('No cloud contract before this one (C-cloud).'),
    }),
    policy: z.string().min(1).optional().describe('A shipped policy by name, or a path to a policy file (relative to this file).'),
    processes: z
      .array(
        z.strictObject({
          id: ident('Process step id.'),
          name: z.string().optional().describe('Step name.'),
          key: z.boolean().default(false).describe('A key step (partial tier needs one covered).'),
        }),
      )
      .min(1)
      .describe('The production route, in order.'),
    equipment: z
      .array(
        z.strictObject({
          id: ident('Equipment id; matches a gateway device id.'),
          name: z.string().optional().describe('Equipment name.'),
          process: ident('Process step id this equipment serves.'),
          category: z.enum(EQUIPMENT_CATEGORIES).describe('production, inspection and logistics are in scope.'),
          digitalControl: z.boolean().default(false).describe('Digitally controlled (NC/PLC).'),
          exempt: z.string().min(1).optional().describe('Exempt from the networking rate, with the reason.'),
        }),
      )
      .describe('The equipment register.'),
    shutdowns: z
      .array(z.strictObject({ from: instant('Start of the planned shutdown.'), to: instant('End (exclusive).'), reason: z.string().min(1).describe('Why.') }))
      .default([])
      .describe('Planned shutdowns, excluded from expected slots.'),
    evidence: z
      .strictObject({
        erpOrders: z.string().min(1).optional().describe('ERP order export (CSV: order,item,quantity,...), relative to this file.'),
        mesOrders: z.string().min(1).optional().describe('MES order export (CSV: order,item,quantity,...), relative to this file.'),
      })
      .default({})
      .describe('Optional exports from the enterprise systems.'),
    invoices: z
      .array(
        z.strictObject({
          number: z.string().regex(/^[0-9A-Za-z-]+$/, 'expected the invoice number as text of digits/letters').describe('VAT invoice number.'),
          line: z.number().int().positive().optional().describe('Line number within the invoice (several lines may share a number).'),
          date: date('Invoice date.'),
          category: z.enum(INVOICE_CATEGORIES).describe('equipment, hardware, software or cloud.'),
          item: z.string().min(1).describe('What was bought.'),
          quantity: z.number().int().positive().default(1).describe('Units on the line.'),
          amount: amount('Line amount before VAT, 元.'),
          vat: amount('VAT on the line, 元.').optional(),
          devices: z.array(ident('Gateway device id.')).optional().describe('Devices this line paid for.'),
          listPrice: amount('List price before the contractor discount, 元.').optional(),
          contractor: z.boolean().default(false).describe('Billed by the general contractor (discount check).'),
          secondHand: z.boolean().default(false).describe('Second-hand equipment (excluded).'),
          office: z.boolean().default(false).describe('Office equipment (excluded).'),
        }),
      )
      .default([])
      .describe('One row per invoice line; amounts in 元 with two decimals.'),
  })
  .superRefine((p, ctx) => {
    const steps = new Set<string>();
    p.processes.forEach((s, i) => {
      if (steps.has(s.id)) ctx.addIssue({ code: 'custom', path: ['processes', i, 'id'], message: `duplicate process id "${s.id}"` });
      steps.add(s.id);
    });
    const ids = new Set<string>();
    p.equipment.forEach((e, i) => {
      if (ids.has(e.id)) ctx.addIssue({ code: 'custom', path: ['equipment', i, 'id'], message: `duplicate equipment id "${e.id}"` });
      ids.add(e.id);
      if (!steps.has(e.process)) ctx.addIssue({ code: 'custom', path: ['equipment', i, 'process'], message: `unknown process "${e.process}" (not in processes)` });
    });
    if (p.project.period.from > p.project.period.to) ctx.addIssue({ code: 'custom', path: ['project', 'period', 'from'], message: `period.from ${p.project.period.from} is after period.to ${p.project.period.to}` });
    p.shutdowns.forEach((s, i) => {
      if (Date.parse(s.from) >= Date.parse(s.to) && !/^\d{4}-\d{2}-\d{2}$/.test(s.from)) ctx.addIssue({ code: 'custom', path: ['shutdowns', i, 'to'], message: 'shutdown ends before it starts' });
    });
  });

export type Project = z.output<typeof projectSchema>;
export type Invoice = Project['invoices'][number];

export interface LoadedProject {
  project: Project;
  /** absolute path of the file */
  path: string;
  /** evidence paths resolved against the file's directory */
  erpOrdersPath?: string;
  mesOrdersPath?: string;
}

function entryLabel(raw: unknown, path: ReadonlyArray<PropertyKey>): string {
  let node: unknown = raw;
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') {
      out += `[${seg}]`;
      node = Array.isArray(node) ? node[seg] : undefined;
      const o = node as { id?: unknown; number?: unknown } | undefined;
      const name = o && typeof o === 'object' ? (o.id ?? o.number) : undefined;
      if (typeof name === 'string' || typeof name === 'number') out += ` (${String(name)})`;
    } else {
      out += out ? `.${String(seg)}` : String(seg);
      node = node && typeof node === 'object' ? (node as Record<string, unknown>)[String(seg)] : undefined;
    }
  }
  return out || '(root)';
}

export function inputError(file: string, details: string[]): GatewayError {
  return new GatewayError(ErrorCodes.VERIFY_INPUT, `${file}: ${details.length} problem(s)${details[0] ? `: ${details[0]}` : ''}`, { details });
}

export function parseProjectText(text: string, file = 'project.yaml'): Project {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw inputError(file, doc.errors.map((e) => `${file}: ${e.message.split('\n')[0]}`));
  const raw = doc.toJS();
  const parsed = projectSchema.safeParse(raw);
  if (!parsed.success) {
    const details = parsed.error.issues.flatMap((i) =>
      i.code === 'unrecognized_keys' ? i.keys.map((k) => `${file}: ${entryLabel(raw, [...i.path, k])}: unknown key`) : [`${file}: ${entryLabel(raw, i.path)}: ${i.message}`],
    );
    throw inputError(file, details);
  }
  return parsed.data;
}

export function loadProject(file: string): LoadedProject {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new GatewayError(ErrorCodes.VERIFY_INPUT, `cannot read project file ${path}: ${(e as Error).message}`, { cause: e });
  }
  const project = parseProjectText(text, path);
  const base = dirname(path);
  const out: LoadedProject = { project, path };
  if (project.evidence.erpOrders) out.erpOrdersPath = resolve(base, project.evidence.erpOrders);
  if (project.evidence.mesOrders) out.mesOrdersPath = resolve(base, project.evidence.mesOrders);
  return out;
}
