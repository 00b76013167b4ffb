/**
 * ERP/MES order exports (RULES.md "Data use"): a small RFC 4180 CSV reader (quoted fields, "" inside
 * quotes, CRLF or LF, newlines inside quotes; no dependency needed for this) and the matcher:
 * an order matches when the other export has the same order number, item and quantity. Bad rows
 * are listed, never fatal.
 */
import { rate4 } from './decimal.js';

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
}

export interface BadRow {
  file: string;
  line: number;
  reason: string;
}

export function readOrders(text: string, file: string): { rows: OrderRow[]; bad: BadRow[] } {
  const { rows, error } = parseCsv(text);
  const bad: BadRow[] = [];
  if (error) bad.push({ file, line: error.line, reason: error.message });
  const header = rows[0];
  if (!header) return { rows: [], bad: [...bad, { file, line: 1, reason: 'empty file (expected a header order,item,quantity,...)' }] };
  const names = header.fields.map((h) => h.trim().toLowerCase());
  const col = { order: names.indexOf('order'), item: names.indexOf('item'), quantity: names.indexOf('quantity') };
  const missing = Object.entries(col).filter(([, v]) => v < 0).map(([k]) => k);
  if (missing.length > 0) return { rows: [], bad: [...bad, { file, line: header.line, reason: `header lacks column(s) ${missing.join(', ')}` }] };
  const out: OrderRow[] = [];
  const seen = new Map<string, number>();
  for (const r of rows.slice(1)) {
    if (r.fields.length !== header.fields.length) {
      bad.push({ file, line: r.line, reason: `expected ${header.fields.length} fields, got ${r.fields.length}` });
      continue;
    }
    const order = r.fields[col.order]!.trim();
    const item = r.fields[col.item]!.trim();
    const q = r.fields[col.quantity]!.trim();
    if (!order) bad.push({ file, line: r.line, reason: 'empty order number' });
    else if (!item) bad.push({ file, line: r.line, reason: 'empty item' });
    else if (!/^\d+$/.test(q)) bad.push({ file, line: r.line, reason: `quantity "${q}" is not a whole number` });
    else if (seen.has(order)) bad.push({ file, line: r.line, reason: `duplicate order ${order} (first on line ${seen.get(order)})` });
    else {
      seen.set(order, r.line);
      out.push({ line: r.line, order, item, quantity: Number(q) });
    }
  }
  return { rows: out, bad };
}

export interface OrderMatch {
  erpFile: string;
  mesFile: string;
  erpRows: number;
  mesRows: number;
  /** ERP orders found in MES with the same item and quantity */
  erpMatched: number;
  mesMatched: number;
  /** display values, 4 decimals; decisions use the counts */
  erpToMes: number | null;
  mesToErp: number | null;
  unmatched: Array<{ side: 'erp' | 'mes'; order: string; line: number; reason: 'missing' | 'item' | 'quantity' }>;
  bad: BadRow[];
}

export function matchOrders(erpText: string, erpFile: string, mesText: string, mesFile: string): OrderMatch {
  const erp = readOrders(erpText, erpFile);
  const mes = readOrders(mesText, mesFile);
  const byOrder = (rows: OrderRow[]) => new Map(rows.map((r) => [r.order, r]));
  const e = byOrder(erp.rows);
  const m = byOrder(mes.rows);
  const unmatched: OrderMatch['unmatched'] = [];
  const side = (rows: OrderRow[], other: Map<string, OrderRow>, name: 'erp' | 'mes') => {
    let matched = 0;
    for (const r of rows) {
      const o = other.get(r.order);
      if (!o) unmatched.push({ side: name, order: r.order, line: r.line, reason: 'missing' });
      else if (o.item !== r.item) unmatched.push({ side: name, order: r.order, line: r.line, reason: 'item' });
      else if (o.quantity !== r.quantity) unmatched.push({ side: name, order: r.order, line: r.line, reason: 'quantity' });
      else matched++;
    }
    return matched;
  };
  const erpMatched = side(erp.rows, m, 'erp');
  const mesMatched = side(mes.rows, e, 'mes');
  return {
    erpFile,
    mesFile,
    erpRows: erp.rows.length,
    mesRows: mes.rows.length,
    erpMatched,
    mesMatched,
    erpToMes: rate4(erpMatched, erp.rows.length),
    mesToErp: rate4(mesMatched, mes.rows.length),
    unmatched,
    bad: [...erp.bad, ...mes.bad],
  };
}
