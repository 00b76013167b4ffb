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
import { parseFen, parseSignedFen } from './decimal.js';
import { instantMs } from './measure.js';

const IDENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const ident = (d: string) => z.string().regex(IDENT, 'expected an id of letters, digits, "_", "-" or "." (no spaces)').describe(d);

function isRealDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

/** A calendar date (YYYY-MM-DD), local to the policy's timezone. YAML 1.1 timestamps are taken back to text. */
export const calendarDate = (d: string) =>
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

/** An invoice amount: as `amount`, negative ("-24000.00") only on a red-letter line (`corrects:`). */
const signedAmount = (d: string) =>
  z
    .string({ error: 'expected an amount in 元 as a string with two decimals, like "760000.00"' })
    .refine((v) => parseSignedFen(v) !== undefined, {
      message: 'expected an amount in 元 with two decimals, like "760000.00" or "-24000.00" on a red-letter line (no separators)',
    })
    .describe(d);

/** 全电发票 (fully digital invoices) carry one 20-digit number and no invoice code. */
export const DIGITAL_INVOICE_NUMBER = /^\d{20}$/;

export const EQUIPMENT_CATEGORIES = ['production', 'inspection', 'logistics', 'auxiliary', 'office', 'other'] as const;
export const INVOICE_CATEGORIES = ['equipment', 'hardware', 'software', 'cloud'] as const;
export type InvoiceCategory = (typeof INVOICE_CATEGORIES)[number];

type Issue = (path: Array<string | number>, message: string) => void;

interface InvoiceLike {
  number: string;
  code?: string | undefined;
  line?: number | undefined;
  category: string;
  quantity: number;
  amount: string;
  vat?: string | undefined;
  devices?: string[] | undefined;
  listPrice?: string | undefined;
  corrects?: string | undefined;
  correctsCode?: string | undefined;
  correctsLine?: number | undefined;
}

/**
 * The key duplicates are found by: a 全电发票 by its 20-digit number, any other invoice by its code and
 * number (the code may be missing: then the number alone), and the line within the invoice.
 */
export function invoiceKey(inv: Pick<InvoiceLike, 'number' | 'code' | 'line'>): string {
  return `${DIGITAL_INVOICE_NUMBER.test(inv.number) ? '' : (inv.code ?? '')}:${inv.number}#${inv.line ?? 1}`;
}

/**
 * The line a red-letter line corrects: the first line (not itself a correction, not a repeat of an
 * earlier key) with the number it names, and the code and line when it names them. Returns the
 * indexes of every candidate, so that validation can say when the reference is ambiguous.
 */
export function correctionTargets(invoices: readonly InvoiceLike[], i: number): number[] {
  const r = invoices[i]!;
  if (r.corrects === undefined) return [];
  const seen = new Set<string>();
  const out: number[] = [];
  invoices.forEach((inv, j) => {
    if (inv.corrects !== undefined) return;
    const key = invoiceKey(inv);
    if (seen.has(key)) return;
    seen.add(key);
    if (inv.number !== r.corrects) return;
    if (r.correctsCode !== undefined && inv.code !== r.correctsCode) return;
    if (r.correctsLine !== undefined && (inv.line ?? 1) !== r.correctsLine) return;
    out.push(j);
  });
  return out;
}

/** Amounts, red-letter references and device links of the invoice lines (errors through `issue`). */
function checkInvoices(p: { invoices: readonly InvoiceLike[] }, equipmentIds: ReadonlySet<string>, issue: Issue): void {
  const net = new Map<number, { fen: bigint; quantity: number; by: number[] }>();
  p.invoices.forEach((inv, i) => {
    const at = (field: string | number, ...more: Array<string | number>) => ['invoices', i, field, ...more];
    const fen = parseSignedFen(inv.amount);
    const red = inv.corrects !== undefined;
    if (fen === 0n)
      issue(at('amount'), 'zero amount: every invoice line has an amount (a correction is a red-letter line with corrects: and a negative amount)');
    else if (fen !== undefined && red && fen > 0n)
      issue(at('amount'), `a red-letter line (corrects: ${inv.corrects}) has a negative amount, got ${inv.amount}`);
    else if (fen !== undefined && !red && fen < 0n)
      issue(at('amount'), `negative amount ${inv.amount}: a red-letter line names the invoice it corrects with corrects: <number>`);
    const vat = inv.vat === undefined ? undefined : parseSignedFen(inv.vat);
    if (vat !== undefined && (red ? vat > 0n : vat < 0n))
      issue(at('vat'), red ? 'the VAT of a red-letter line is negative or zero' : 'negative VAT: only a red-letter line (corrects:) has one');
    if (!red && inv.quantity < 1) issue(at('quantity'), 'expected at least 1 unit');
    if (inv.code !== undefined && DIGITAL_INVOICE_NUMBER.test(inv.number)) issue(at('code'), 'a 20-digit 全电发票 number has no invoice code');
    if (!red) {
      if (inv.correctsCode !== undefined) issue(at('correctsCode'), 'only on a red-letter line (with corrects:)');
      if (inv.correctsLine !== undefined) issue(at('correctsLine'), 'only on a red-letter line (with corrects:)');
    } else {
      if (inv.listPrice !== undefined) issue(at('listPrice'), 'not on a red-letter line (the line it corrects carries the list price)');
      if (inv.devices !== undefined) issue(at('devices'), 'not on a red-letter line (the line it corrects names the devices)');
      const targets = correctionTargets(p.invoices, i);
      const what = `${inv.corrects}${inv.correctsCode ? ` (code ${inv.correctsCode})` : ''}${inv.correctsLine ? ` line ${inv.correctsLine}` : ''}`;
      if (targets.length === 0) issue(at('corrects'), `no invoice line ${what} to correct`);
      else if (targets.length > 1)
        issue(at('corrects'), `${what} matches ${targets.length} lines (invoices[${targets.join('], invoices[')}]): add correctsLine or correctsCode`);
      else {
        const j = targets[0]!;
        const orig = p.invoices[j]!;
        if (orig.category !== inv.category) issue(at('category'), `${inv.category}, but the line it corrects (invoices[${j}]) is ${orig.category}`);
        const n = net.get(j) ?? { fen: parseSignedFen(orig.amount) ?? 0n, quantity: orig.quantity, by: [] };
        n.fen += fen ?? 0n;
        n.quantity -= inv.quantity;
        n.by.push(i);
        net.set(j, n);
      }
    }
    inv.devices?.forEach((d, k) => {
      if (!equipmentIds.has(d)) issue(at('devices', k), `unknown equipment "${d}" (not in the equipment register)`);
    });
  });
  for (const [j, n] of net) {
    const last = n.by[n.by.length - 1]!;
    const orig = p.invoices[j]!;
    if (n.fen < 0n)
      issue(
        ['invoices', last, 'amount'],
        `the red-letter line(s) invoices[${n.by.join('], invoices[')}] take more than the ${orig.amount} of the line they correct (invoices[${j}])`,
      );
    if (n.quantity < 0)
      issue(['invoices', last, 'quantity'], `the red-letter line(s) return more than the ${orig.quantity} unit(s) of the line they correct (invoices[${j}])`);
    else if (n.quantity === 0 && n.fen > 0n)
      issue(
        ['invoices', last, 'quantity'],
        `the red-letter line(s) return every unit of invoices[${j}] but leave an amount: return fewer units or the whole amount`,
      );
  }
}

export const projectSchema = z
  .strictObject({
    project: z.strictObject({
      id: z.string().min(1).describe('Project id (e.g. YK-2026-0173).'),
      name: z.string().min(1).describe('Project name.'),
      enterprise: z.strictObject({
        name: z.string().min(1).describe('Enterprise name.'),
        uscc: z.string().min(1).describe('Unified social credit code.'),
        town: z.string().min(1).optional().describe('Town or street (乡镇/街道), shown and filterable in the hub.'),
        industry: z.string().min(1).optional().describe('Industry (e.g. 保温杯), shown and filterable in the hub.'),
      }),
      period: z.strictObject({ from: calendarDate('First day of the project period.'), to: calendarDate('Last day of the project period (inclusive).') }),
      claim: z.enum(['full', 'partial']).describe('The retrofit tier the applicant claims.'),
      pilot: z.boolean().default(false).describe('On the 一企一线 pilot list (computes the B-pilot track).'),
      expertAcceptance: z.string().min(1).optional().describe('Expert acceptance record; B-pilot needs it.'),
      firstCloudContract: z.boolean().default(false).describe('No cloud contract before this one (C-cloud).'),
      firstCloudDate: calendarDate(
        'Date of the first cloud contract: the C-cloud first year runs from it to the same date a year later (default: the first cloud invoice line).',
      ).optional(),
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
        z
          .strictObject({
            number: z
              .string()
              .regex(/^[0-9A-Za-z-]+$/, 'expected the invoice number as text of digits/letters')
              .describe('Invoice number (发票号码; a 全电发票 has 20 digits).'),
            code: z
              .string()
              .regex(/^(\d{10}|\d{12})$/, 'expected the invoice code (发票代码) of 10 or 12 digits, as a string')
              .optional()
              .describe('Invoice code (发票代码) of a VAT invoice; duplicates are keyed on code + number. A 20-digit 全电发票 number has none.'),
            line: z.number().int().positive().optional().describe('Line number within the invoice (several lines may share a number).'),
            date: calendarDate('Invoice date.'),
            category: z.enum(INVOICE_CATEGORIES).describe('equipment, hardware, software or cloud.'),
            item: z.string().min(1).describe('What was bought.'),
            quantity: z
              .number()
              .int()
              .nonnegative()
              .optional()
              .describe('Units on the line (default 1); on a red-letter line the units returned (default 0: a price correction).'),
            amount: signedAmount('Line amount before VAT, 元; never zero; negative only on a red-letter line.'),
            vat: signedAmount('VAT on the line, 元.').optional(),
            devices: z.array(ident('Equipment id of the register.')).optional().describe('Equipment of the register this line paid for.'),
            listPrice: amount('List price before the contractor discount, 元.').optional(),
            contractor: z
              .union([z.boolean(), z.string().min(1)])
              .default(false)
              .describe(
                "Billed by the general contractor (true), or by the contractor named here: the discount check sums each contractor's software and service lines.",
              ),
            service: z
              .boolean()
              .default(false)
              .describe('A service line (implementation, integration, training): checked with software lines in the contractor discount check.'),
            secondHand: z.boolean().default(false).describe('Second-hand equipment (excluded).'),
            office: z.boolean().default(false).describe('Office equipment (excluded).'),
            corrects: z
              .string()
              .regex(/^[0-9A-Za-z-]+$/, 'expected the number of the invoice this red-letter line corrects')
              .optional()
              .describe('Red-letter (红字) line: the number of the invoice it corrects; its negative amount is netted against that line.'),
            correctsCode: z
              .string()
              .regex(/^(\d{10}|\d{12})$/, 'expected the invoice code of 10 or 12 digits')
              .optional()
              .describe('Red-letter line: the code of the invoice it corrects, when the number alone is ambiguous.'),
            correctsLine: z
              .number()
              .int()
              .positive()
              .optional()
              .describe('Red-letter line: the line of the invoice it corrects, when that invoice has several lines.'),
          })
          .transform((inv) => ({ ...inv, quantity: inv.quantity ?? (inv.corrects === undefined ? 1 : 0) })),
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
      if (!steps.has(e.process))
        ctx.addIssue({ code: 'custom', path: ['equipment', i, 'process'], message: `unknown process "${e.process}" (not in processes)` });
    });
    if (p.project.period.from > p.project.period.to)
      ctx.addIssue({
        code: 'custom',
        path: ['project', 'period', 'from'],
        message: `period.from ${p.project.period.from} is after period.to ${p.project.period.to}`,
      });
    checkInvoices(p, ids, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
  });

export type Project = z.output<typeof projectSchema>;

/**
 * Planned shutdowns, strictly: `from` before `to` (dates are local midnight in the policy's zone, so
 * the check needs the policy). Returns one problem per bad entry, naming the file and the entry.
 */
export function shutdownProblems(project: Project, file: string, offsetMs: number): string[] {
  return project.shutdowns.flatMap((s, i) =>
    instantMs(s.from, offsetMs) < instantMs(s.to, offsetMs) ? [] : [`${file}: shutdowns[${i}]: from ${s.from} is not before to ${s.to}`],
  );
}
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
  if (doc.errors.length > 0)
    throw inputError(
      file,
      doc.errors.map((e) => `${file}: ${e.message.split('\n')[0]}`),
    );
  const raw = doc.toJS();
  const parsed = projectSchema.safeParse(raw);
  if (!parsed.success) {
    const details = parsed.error.issues.flatMap((i) =>
      i.code === 'unrecognized_keys'
        ? i.keys.map((k) => `${file}: ${entryLabel(raw, [...i.path, k])}: unknown key`)
        : [`${file}: ${entryLabel(raw, i.path)}: ${i.message}`],
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
