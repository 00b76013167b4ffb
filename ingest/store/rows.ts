/**
 * How rows look in the tables: the quality codes, junk rows' sizes, the keys of the id caches, the
 * conversions from a table row back to what the contract returns, and SQLite's no-room error.
 */
import { DEAD_PAYLOAD_MAX, type DeadLetter, type FieldKind, type Quality } from '../../adapters/types.js';
import type { AuditRecord, Measurement, StoredAudit, StoredReading } from '../types.js';

export const QUALITY_CODE: Record<Quality, number> = { good: 0, uncertain: 1, bad: 2 };
export const QUALITY_NAME: readonly Quality[] = ['good', 'uncertain', 'bad'];
/** quality codes below this count as good: 2 (good and uncertain, the default) or 1 (good only) */
export const goodBelow = (uncertainIsGood: boolean | undefined): number => (uncertainIsGood === false ? QUALITY_CODE.uncertain : QUALITY_CODE.bad);
/** the least a reading is taken to need on disk (a small integer packed in a point is about 2 bytes) */
export const MIN_BYTES_PER_READING = 2;
/** a junk row's bytes on disk besides its text (row header, rowid, index entry) */
export const JUNK_ROW_OVERHEAD = 64;

export interface SeriesInfo {
  measurement: Measurement;
  device: string;
  tag: string;
  kind: FieldKind;
  /** the id of (measurement, device) in the devices table */
  dev: number;
}

/** bytes a junk row's text takes, the same in SQL (for rows already stored) as in byteSize() */
export const DEAD_LETTER_BYTES = `(${JUNK_ROW_OVERHEAD} + length(CAST(source AS BLOB)) + coalesce(length(CAST(device AS BLOB)), 0) + coalesce(length(CAST(topic AS BLOB)), 0) + length(CAST(reason AS BLOB)) + coalesce(length(CAST(detail AS BLOB)), 0) + coalesce(length(CAST(payload AS BLOB)), 0))`;
export const AUDIT_BYTES = `(${JUNK_ROW_OVERHEAD} + length(CAST(actor AS BLOB)) + length(CAST(system AS BLOB)) + length(CAST(action AS BLOB)) + length(CAST(route AS BLOB)) + coalesce(length(CAST(device AS BLOB)), 0) + coalesce(length(CAST(tag AS BLOB)), 0) + coalesce(length(CAST(value AS BLOB)), 0) + length(CAST(result AS BLOB)) + coalesce(length(CAST(detail AS BLOB)), 0))`;

export function byteSize(...texts: Array<string | null | undefined>): number {
  let n = JUNK_ROW_OVERHEAD;
  for (const t of texts) if (typeof t === 'string') n += Buffer.byteLength(t);
  return n;
}

/** Restores a stored value by its series kind (booleans are kept as 0/1). */
export function restore(kind: FieldKind, value: number | null, text: string | null): StoredReading['value'] {
  if (text !== null) return text;
  if (value === null) return null;
  if (kind === 'boolean') return value !== 0;
  if (kind === 'string') return String(value);
  return value;
}

export const isDiskFull = (e: unknown) => (e as { code?: unknown } | null)?.code === 'SQLITE_FULL';

export function devKey(measurement: string, device: string): string {
  return `${measurement}\u0000${device}`;
}

export function seriesKey(measurement: string, device: string, tag: string, kind: string): string {
  return `${measurement}\u0000${device}\u0000${tag}\u0000${kind}`;
}

export function toAudit(r: Record<string, unknown>): StoredAudit {
  const a: StoredAudit = {
    seq: r.seq as number,
    ts: r.ts as number,
    actor: r.actor as string,
    system: r.system as string,
    action: r.action as StoredAudit['action'],
    route: r.route as string,
    result: r.result as StoredAudit['result'],
  };
  for (const k of ['device', 'tag', 'value', 'detail'] as const) if (r[k] !== null && r[k] !== undefined) a[k] = r[k] as string;
  return a;
}

/** An audit record as its table row, and the bytes it counts against the audit share (live and salvaged alike). */
export function auditRow(a: AuditRecord) {
  const row = {
    ts: a.ts,
    actor: a.actor,
    system: a.system,
    action: a.action,
    route: a.route,
    device: a.device ?? null,
    tag: a.tag ?? null,
    value: a.value ?? null,
    result: a.result,
    detail: a.detail ?? null,
  };
  return { row, bytes: byteSize(row.actor, row.system, row.action, row.route, row.device, row.tag, row.value, row.result, row.detail) };
}

/** A dead letter as its table row, its payload cut to the one cap adapters cut to, and the bytes it counts against its share. */
export function deadLetterRow(d: DeadLetter) {
  const payload = d.payload === undefined ? null : d.payload.length > DEAD_PAYLOAD_MAX ? d.payload.slice(0, DEAD_PAYLOAD_MAX) : d.payload;
  const row = { ts: d.ts, source: d.source, device: d.device ?? null, topic: d.topic ?? null, reason: d.reason, detail: d.detail ?? null, payload };
  return { row, bytes: byteSize(row.source, row.device, row.topic, row.reason, row.detail, row.payload) };
}

/**
 * The WHERE clause of the filters that are given: each `[condition with one ?, value]` whose value
 * is not undefined, joined by AND (' WHERE …', or '' when none), and their parameters in order.
 */
export function whereOf(filters: ReadonlyArray<readonly [string, unknown]>): { sql: string; params: unknown[] } {
  const given = filters.filter(([, v]) => v !== undefined);
  return { sql: given.length ? ` WHERE ${given.map(([c]) => c).join(' AND ')}` : '', params: given.map(([, v]) => v) };
}
