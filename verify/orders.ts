/**
 * ERP/MES order exports (verify/README.md "Orders"): a small RFC 4180 CSV reader (quoted fields, ""
 * inside quotes, CRLF or LF, newlines inside quotes; no dependency needed for this) and the matcher.
 * Rows are matched on (order, item) and their quantities compared; only rows released in the window
 * count; a malformed row is unmatched and listed, never removed from the denominator, never fatal.
 */
import { parseTimeArg } from '../config/time.js';
import type { RuleResult } from './classify.js';
import { rate4 } from './decimal.js';
import { formatLocal, isoLocal } from './local-time.js';
import type { Project } from './project.js';

export interface CsvRow {
  /** 1-based line number where the record starts */
  line: number;
  fields: string[];
}

export function parseCsv(text: string): { rows: CsvRow[]; error?: { line: number; message: string } } {
  const rows: CsvRow[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // BOM
  let line = 1;
  let fields: string[] = [];
  let field = '';
  let start = 1;
  let quoted = false;
  let inQuotes = false;
  let any = false;
  const endField = () => {
    fields.push(field);
    field = '';
    quoted = false;
  };
  const endRow = () => {
    endField();
    if (!(fields.length === 1 && fields[0] === '' && !any)) rows.push({ line: start, fields });
    fields = [];
    any = false;
  };
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else inQuotes = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && field === '' && !quoted) {
      inQuotes = true;
      quoted = true;
      any = true;
    } else if (ch === ',') {
      endField();
      any = true;
    } else if (ch === '\r' && text[i + 1] === '\n') {
      continue;
    } else if (ch === '\n') {
      endRow();
      line++;
      start = line;
    } else {
      field += ch;
      any = true;
    }
  }
  if (inQuotes) return { rows, error: { line: start, message: 'unterminated quoted field' } };
  if (field !== '' || fields.length > 0 || any) endRow();
  return { rows };
}

export interface OrderRow {
  line: number;
  order: string;
  item: string;
  quantity: number;
  /** release time (ms); absent when the row has none (not released) */
  released?: number;
}

export interface BadRow {
  file: string;
  line: number;
  reason: string;
  /** (schema 2) the row's order and item, when it has them */
  order?: string;
  item?: string;
}

/** The window orders must be released in, and the zone of release times written without one. */
export interface OrderScope {
  from: number;
  to: number;
  offsetMs: number;
}

/** Release-time columns, in order of preference: ERP exports say `released`, MES exports `dispatched`. */
export const RELEASE_COLUMNS = ['released', 'dispatched'] as const;

export interface OrderFile {
  /** rows released in the window, well formed (the denominator, with `bad`) */
  rows: OrderRow[];
  /** malformed rows that may be in the window: unmatched, in the denominator */
  bad: BadRow[];
  /** well-formed rows of any release time, for looking up the other side's rows */
  all: OrderRow[];
  /** rows released outside the window, and rows without a release time (not released): not counted */
  outside: number;
  notReleased: number;
}

const TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})?)?$/;

/** A release time: a date (local midnight), or a date and time with or without a zone (the policy's). */
function releaseTime(text: string, offsetMs: number): number | undefined {
  if (!TIME.test(text)) return undefined;
  return parseTimeArg(text.replace(' ', 'T'), 0, offsetMs);
}

export function readOrders(text: string, file: string, scope: OrderScope): OrderFile {
  const { rows, error } = parseCsv(text);
  const out: OrderFile = { rows: [], bad: [], all: [], outside: 0, notReleased: 0 };
  const header = rows[0];
  if (!header) {
    out.bad.push({ file, line: 1, reason: error?.message ?? 'empty file (expected a header order,item,quantity,released)' });
    return out;
  }
  const names = header.fields.map((h) => h.trim().toLowerCase());
  const col = {
    order: names.indexOf('order'),
    item: names.indexOf('item'),
    quantity: names.indexOf('quantity'),
    released: RELEASE_COLUMNS.map((c) => names.indexOf(c)).find((x) => x >= 0) ?? -1,
  };
  const missing = Object.entries(col)
    .filter(([, v]) => v < 0)
    .map(([k]) => (k === 'released' ? 'released (or dispatched)' : k));
  const seen = new Map<string, number>();
  for (const r of rows.slice(1)) {
    if (missing.length > 0) {
      out.bad.push({ file, line: r.line, reason: `the header (line ${header.line}) lacks column(s) ${missing.join(', ')}` });
      continue;
    }
    if (r.fields.length !== header.fields.length) {
      out.bad.push({ file, line: r.line, reason: `expected ${header.fields.length} fields, got ${r.fields.length}` });
      continue;
    }
    const rel = r.fields[col.released]!.trim();
    const released = rel === '' ? undefined : releaseTime(rel, scope.offsetMs);
    const order = r.fields[col.order]!.trim();
    const item = r.fields[col.item]!.trim();
    const q = r.fields[col.quantity]!.trim();
    const problem = !order
      ? 'empty order number'
      : !item
        ? 'empty item'
        : !/^\d+$/.test(q)
          ? `quantity "${q}" is not a whole number`
          : rel !== '' && released === undefined
            ? `${names[col.released]} "${rel}" is not a time`
            : undefined;
    const row: OrderRow = { line: r.line, order, item, quantity: Number(q) };
    if (released !== undefined) row.released = released;
    if (!problem) out.all.push(row);
    if (released !== undefined && (released < scope.from || released >= scope.to)) out.outside++;
    else if (rel === '') out.notReleased++;
    else if (problem) out.bad.push({ file, line: r.line, reason: problem, ...(order ? { order } : {}), ...(item ? { item } : {}) });
    else {
      const key = `${order}\u0000${item}`;
      const first = seen.get(key);
      if (first !== undefined) out.bad.push({ file, line: r.line, reason: `duplicate order ${order} item ${item} (first on line ${first})`, order, item });
      else {
        seen.set(key, r.line);
        out.rows.push(row);
      }
    }
  }
  if (error) out.bad.push({ file, line: error.line, reason: error.message });
  return out;
}

export interface Unmatched {
  side: 'erp' | 'mes';
  order: string;
  /** (schema 2) */
  item: string;
  line: number;
  /** missing: no row of the order in the other export; item: the order is there with other items; quantity: same order and item, another quantity; malformed: the row cannot be read (detail says why) */
  reason: 'missing' | 'item' | 'quantity' | 'malformed';
  /** (schema 2) quantity mismatch: this row's and the other export's */
  quantity?: number;
  otherQuantity?: number;
  otherLine?: number;
  detail?: string;
}

export interface OrderMatch {
  erpFile: string;
  mesFile: string;
  /** rows released in the window plus malformed rows: the denominators */
  erpRows: number;
  mesRows: number;
  /** rows with a row of the same order, item and quantity in the other export */
  erpMatched: number;
  mesMatched: number;
  /** display values, 4 decimals; decisions use the counts */
  erpToMes: number | null;
  mesToErp: number | null;
  /** every counted row that did not match, malformed ones included */
  unmatched: Unmatched[];
  bad: BadRow[];
  /** (schema 2) the window rows must be released in (ISO 8601 in the policy's zone, `to` exclusive), and as people read it */
  window: { from: string; to: string; text: string };
  /** (schema 2) rows not counted: released outside the window, or without a release time */
  erpOutside: number;
  mesOutside: number;
  erpNotReleased: number;
  mesNotReleased: number;
}

export function matchOrders(erpText: string, erpFile: string, mesText: string, mesFile: string, scope: OrderScope): OrderMatch {
  const erp = readOrders(erpText, erpFile, scope);
  const mes = readOrders(mesText, mesFile, scope);
  const index = (rows: OrderRow[]) => {
    const byKey = new Map<string, OrderRow>();
    const orders = new Set<string>();
    for (const r of rows) {
      const k = `${r.order}\u0000${r.item}`;
      if (!byKey.has(k)) byKey.set(k, r);
      orders.add(r.order);
    }
    return { byKey, orders };
  };
  const unmatched: Unmatched[] = [];
  const side = (f: OrderFile, other: ReturnType<typeof index>, name: 'erp' | 'mes') => {
    let matched = 0;
    for (const r of f.rows) {
      const o = other.byKey.get(`${r.order}\u0000${r.item}`);
      if (!o) unmatched.push({ side: name, order: r.order, item: r.item, line: r.line, reason: other.orders.has(r.order) ? 'item' : 'missing' });
      else if (o.quantity !== r.quantity)
        unmatched.push({
          side: name,
          order: r.order,
          item: r.item,
          line: r.line,
          reason: 'quantity',
          quantity: r.quantity,
          otherQuantity: o.quantity,
          otherLine: o.line,
        });
      else matched++;
    }
    for (const b of f.bad) unmatched.push({ side: name, order: b.order ?? '', item: b.item ?? '', line: b.line, reason: 'malformed', detail: b.reason });
    return matched;
  };
  const erpMatched = side(erp, index(mes.all), 'erp');
  const mesMatched = side(mes, index(erp.all), 'mes');
  const erpRows = erp.rows.length + erp.bad.length;
  const mesRows = mes.rows.length + mes.bad.length;
  return {
    erpFile,
    mesFile,
    erpRows,
    mesRows,
    erpMatched,
    mesMatched,
    erpToMes: rate4(erpMatched, erpRows),
    mesToErp: rate4(mesMatched, mesRows),
    unmatched,
    bad: [...erp.bad, ...mes.bad],
    window: {
      from: isoLocal(scope.from, scope.offsetMs),
      to: isoLocal(scope.to, scope.offsetMs),
      text: `${formatLocal(scope.from, scope.offsetMs)} – ${formatLocal(scope.to, scope.offsetMs)}`,
    },
    erpOutside: erp.outside,
    mesOutside: mes.outside,
    erpNotReleased: erp.notReleased,
    mesNotReleased: mes.notReleased,
  };
}

/**
 * The order rule: which exports were given, what was counted. One export without the other is
 * flagged (the orders cannot be matched; the order rules are not assessed); malformed rows are
 * flagged (they count as unmatched).
 */
export function orderRules(project: Project, o: OrderMatch | undefined): RuleResult[] {
  const { erpOrders, mesOrders } = project.evidence;
  if (!erpOrders && !mesOrders) return [];
  if (!erpOrders || !mesOrders) {
    const given = erpOrders ? 'ERP' : 'MES';
    const lacking = erpOrders ? 'MES' : 'ERP';
    return [
      {
        rule: 'orders.exports',
        value: given,
        threshold: 'ERP and MES',
        result: 'flag',
        evidence: `only the ${given} order export is given (evidence.${erpOrders ? 'erpOrders' : 'mesOrders'}); without the ${lacking} export (evidence.${erpOrders ? 'mesOrders' : 'erpOrders'}) the orders cannot be matched, so no order rule is assessed: give both exports or neither`,
        evidenceZh: `只提供了 ${given} 订单导出，缺少 ${lacking} 订单导出：无法对账，订单相关规则不作评判（请同时提供两份导出，或都不提供）`,
      },
    ];
  }
  if (!o) return [];
  const bad = o.bad.length;
  const scope = `released in the window ${o.window.text} (end excluded)`;
  return [
    {
      rule: 'orders.exports',
      value: `${o.erpRows}/${o.mesRows}`,
      threshold: null,
      result: bad ? 'flag' : 'pass',
      evidence: `rows ${scope}: ERP ${o.erpRows}, MES ${o.mesRows} (not counted: released outside the window ERP ${o.erpOutside}, MES ${o.mesOutside}; not released ERP ${o.erpNotReleased}, MES ${o.mesNotReleased})${bad ? `; ${bad} malformed row(s) counted as unmatched` : ''}`,
      evidenceZh: `核验窗口（${o.window.text}，不含结束时刻）内下达的订单行：ERP ${o.erpRows} 行，MES ${o.mesRows} 行（不计：窗口外下达 ERP ${o.erpOutside} 行、MES ${o.mesOutside} 行，未下达 ERP ${o.erpNotReleased} 行、MES ${o.mesNotReleased} 行）${bad ? `；格式错误 ${bad} 行，按未匹配计` : ''}`,
    },
  ];
}
