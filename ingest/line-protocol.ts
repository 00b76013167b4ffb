/**
 * InfluxDB line protocol, pure functions. The schema is a user contract:
 *
 *   <measurement>,device=..,gateway=..,line=..,process=..,site=.. <tag>=<value>[,<tag>=<value>...] <ts ns>
 *
 * - data rows: measurement `influx.measurement`; tags device, gateway, line, process, site (those
 *   set, keys in sorted order as InfluxDB prefers) and `uncertain=true` on readings of uncertain
 *   quality (absent on good ones, so the verifier can honour the policy's uncertainCountsAsGood
 *   from InfluxDB as from the store); one field per configured tag name.
 * - status rows: measurement `gateway_status`; tags device (if not the gateway itself), gateway, site.
 *   The heartbeat is the row of device '' and tag 'heartbeat' (`heartbeat=true`).
 * - audits: measurement `gateway_audit`; tags device, gateway, site, system (those set); string
 *   fields actor, action, route, tag, value, result, detail (those set). Audits are sent with
 *   precision `u` and time = ts * 1000 + (seq mod 1000) µs: read back in ms they show their ts,
 *   and two audits in the same millisecond (an MES polling twice) stay two points instead of one
 *   overwriting the other.
 * - readings and status rows are sent with precision `ns` at ts * 1e6 + tie ns (ingest/tie-break.ts):
 *   the tie, assigned when the reading was stored, keeps two readings of one series in the same ms
 *   apart, and a lone reading (tie 0) lands exactly on its ms. Read back in ms, every point shows
 *   its stored ts.
 * - the field type is fixed by the reading's kind, never by the value: float → plain number,
 *   integer → `i` suffix, boolean → true/false, string → quoted. Values are coerced to the kind so a
 *   line is always valid for its kind; a value that cannot be represented (NaN, ±Infinity, an integer
 *   beyond int64) is skipped like a bad reading.
 * - bad-quality rows (and rows without a value) are skipped; the cursor still advances past them.
 * - consecutive rows with the same measurement, device, ts and tie are merged into ONE line with
 *   several fields (InfluxDB takes ~110k lines/s here; merging is what reaches 300k+ field
 *   values/s): the fields of one poll share ts and tie 0. A row whose field is already in the line
 *   (only possible for a tag whose kind changed, two store series) starts a new line.
 *
 * Escaping: measurement names, tag keys, tag values and field keys use the `influx` package's
 * `escape.measurement` / `escape.tag` (commas, equals signs, spaces). String field values use a local
 * escaper (backslash and double quote), because `escape.quoted` first rewrites `\'` to `\\'` and so
 * changes such strings (see test/ingest/line-protocol.test.ts). Tag values cannot hold a newline or
 * end in a backslash in line protocol 1.x: newlines become spaces, trailing backslashes are dropped.
 */
import { escape } from 'influx';
import type { FieldKind, Value } from '../adapters/types.js';
import { nsTimestamp } from './tie-break.js';
import type { StoredAudit, StoredReading } from './types.js';

export const STATUS_MEASUREMENT = 'gateway_status';
export const AUDIT_MEASUREMENT = 'gateway_audit';
/** write precision of the readings stream (ts ms + tie ns) and of the audit stream */
export const READINGS_PRECISION = 'ns';
export const AUDIT_PRECISION = 'u';

export interface LineContext {
  /** measurement of data rows (influx.measurement) */
  measurement: string;
  gateway: { id: string; site?: string };
  deviceMeta: (device: string) => { line?: string | undefined; process?: string | undefined };
}

/** One line and the seq range of the stored rows it came from (skipped rows inside included). */
export interface Line {
  text: string;
  firstSeq: number;
  lastSeq: number;
  /** device of the line ('' for the gateway's own status) */
  device: string;
  /** field values in the line (readings it carries; 1 for an audit) */
  fields: number;
}

export const escapeMeasurement = (s: string): string => escape.measurement(s);
export const escapeKey = (s: string): string => escape.tag(s);
export function escapeTagValue(s: string): string {
  return escape.tag(s.replace(/[\r\n]+/g, ' ').replace(/\\+$/, ''));
}
export function escapeString(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&')}"`;
}

/** 2^63 (9,223,372,036,854,775,808): the first integer past int64, exact as a double */
const INT64_MAX = 2 ** 63;

/** The field value text for a kind, or undefined when the value cannot be written as that kind. */
export function fieldValue(kind: FieldKind, v: Value | null): string | undefined {
  if (v === null || v === undefined) return undefined;
  switch (kind) {
    case 'float': {
      const n = typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : Number(v);
      return typeof v === 'string' && v.trim() === '' ? undefined : Number.isFinite(n) ? String(n) : undefined;
    }
    case 'integer': {
      const n =
        typeof v === 'number' ? Math.trunc(v) : typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'string' && v.trim() !== '' ? Math.trunc(Number(v)) : NaN;
      if (!Number.isFinite(n) || Math.abs(n) >= INT64_MAX) return undefined;
      return `${Math.abs(n) < 1e21 ? String(n) : BigInt(n).toString()}i`;
    }
    case 'boolean':
      if (typeof v === 'boolean') return v ? 'true' : 'false';
      if (typeof v === 'number') return Number.isNaN(v) ? undefined : v !== 0 ? 'true' : 'false';
      return /^(true|1|on)$/i.test(v) ? 'true' : /^(false|0|off)$/i.test(v) ? 'false' : undefined;
    case 'string':
      return escapeString(String(v));
    default:
      return undefined;
  }
}

function tagSet(tags: Array<[string, string | undefined]>): string {
  let out = '';
  for (const [k, v] of tags.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    if (v === undefined || v === '') continue;
    const ev = escapeTagValue(v);
    if (ev !== '') out += `,${escapeKey(k)}=${ev}`;
  }
  return out;
}

/**
 * Formats stored rows into lines. Deterministic; caches each series' "measurement,tags" prefix and
 * each escaped field key (one formatter per forwarder).
 */
export class LineFormatter {
  private readonly prefixes = new Map<string, string>();
  private readonly keys = new Map<string, string>();
  private readonly dataMeasurement: string;
  private readonly statusMeasurement = escapeMeasurement(STATUS_MEASUREMENT);
  private readonly auditMeasurement = escapeMeasurement(AUDIT_MEASUREMENT);

  constructor(private readonly ctx: LineContext) {
    this.dataMeasurement = escapeMeasurement(ctx.measurement);
  }

  /** forget cached prefixes (device line/process changed) */
  clear(): void {
    this.prefixes.clear();
  }

  private prefix(measurement: 'data' | 'status', device: string, uncertain = false): string {
    const k = `${measurement}\u0000${device}\u0000${uncertain ? 'u' : ''}`;
    let p = this.prefixes.get(k);
    if (p === undefined) {
      const { gateway } = this.ctx;
      if (measurement === 'data') {
        let meta: { line?: string | undefined; process?: string | undefined } = {};
        try {
          meta = this.ctx.deviceMeta(device);
        } catch {
          /* an unknown device (removed by a reload) is written without line/process */
        }
        p =
          this.dataMeasurement +
          tagSet([
            ['device', device],
            ['gateway', gateway.id],
            ['line', meta.line],
            ['process', meta.process],
            ['site', gateway.site],
            ['uncertain', uncertain ? 'true' : undefined],
          ]);
      } else {
        p =
          this.statusMeasurement +
          tagSet([
            ['device', device],
            ['gateway', gateway.id],
            ['site', gateway.site],
          ]);
      }
      this.prefixes.set(k, p);
    }
    return p;
  }

  private key(tag: string): string {
    let k = this.keys.get(tag);
    if (k === undefined) this.keys.set(tag, (k = escapeKey(tag)));
    return k;
  }

  /** Whether reading `b` may belong to the same line (point) as reading `a`: same measurement, device, time, tie and uncertain tag. */
  static samePoint(
    a: Pick<StoredReading, 'ts' | 'tie' | 'device' | 'measurement' | 'quality'>,
    b: Pick<StoredReading, 'ts' | 'tie' | 'device' | 'measurement' | 'quality'>,
  ): boolean {
    return (
      a.ts === b.ts &&
      (a.tie ?? 0) === (b.tie ?? 0) &&
      a.device === b.device &&
      a.measurement === b.measurement &&
      (a.quality === 'uncertain') === (b.quality === 'uncertain')
    );
  }

  readings(rows: readonly StoredReading[]): Line[] {
    const out: Line[] = [];
    // the open group
    let gFirstRow: StoredReading | undefined;
    let gFields = '';
    let gNames: string[] = [];
    let gLast = 0;
    const close = () => {
      if (gFields !== '' && gFirstRow)
        out.push({
          text: `${this.prefix(gFirstRow.measurement, gFirstRow.device, gFirstRow.measurement === 'data' && gFirstRow.quality === 'uncertain')} ${gFields} ${nsTimestamp(gFirstRow.ts, gFirstRow.tie ?? 0)}`,
          firstSeq: gFirstRow.seq,
          lastSeq: gLast,
          device: gFirstRow.device,
          fields: gNames.length,
        });
      gFields = '';
      gNames = [];
    };
    for (const r of rows) {
      if (r.quality === 'bad') {
        if (gFields !== '') gLast = r.seq;
        continue;
      }
      const fv = fieldValue(r.kind, r.value);
      if (fv === undefined) {
        if (gFields !== '') gLast = r.seq;
        continue;
      }
      const same = gFields !== '' && LineFormatter.samePoint(gFirstRow!, r) && !gNames.includes(r.tag);
      if (!same) {
        close();
        gFirstRow = r;
      }
      gFields += `${gFields === '' ? '' : ','}${this.key(r.tag)}=${fv}`;
      gNames.push(r.tag);
      gLast = r.seq;
    }
    close();
    return out;
  }

  audits(rows: readonly StoredAudit[]): Line[] {
    const { gateway } = this.ctx;
    const out: Line[] = [];
    for (const a of rows) {
      const tags = tagSet([
        ['device', a.device],
        ['gateway', gateway.id],
        ['site', gateway.site],
        ['system', a.system],
      ]);
      const fields: string[] = [];
      for (const k of ['actor', 'action', 'route', 'tag', 'value', 'result', 'detail'] as const) {
        const v = a[k];
        if (v !== undefined && v !== null) fields.push(`${k}=${escapeString(String(v))}`);
      }
      if (fields.length === 0) continue;
      const us = BigInt(Math.trunc(a.ts)) * 1000n + BigInt(((a.seq % 1000) + 1000) % 1000);
      out.push({ text: `${this.auditMeasurement}${tags} ${fields.join(',')} ${us}`, firstSeq: a.seq, lastSeq: a.seq, device: a.device ?? '', fields: 1 });
    }
    return out;
  }
}

export function formatReadings(rows: readonly StoredReading[], ctx: LineContext): Line[] {
  return new LineFormatter(ctx).readings(rows);
}

export function formatAudits(rows: readonly StoredAudit[], ctx: LineContext): Line[] {
  return new LineFormatter(ctx).audits(rows);
}
