/**
 * The gateway as a Sparkplug B edge node, pure apart from the codec (`sparkplug-payload`, Eclipse
 * Tahu's): topics, the seq counter (0 in NBIRTH, +1 per message after it, wrapping 255 → 0), the
 * bdSeq metric of NBIRTH and of the NDEATH will, metric aliases (one per device tag, unique in the
 * node, stable for a config), datatypes, births, data with aliases only, deaths, and the decoding
 * of NCMD (Node Control/Rebirth) and DCMD (writes).
 */
import type { FieldKind, TagType, Value, WireType } from '../../types.js';
import { REBIRTH_METRIC, decodeSparkplug, encodeSparkplug, metricValue } from '../sparkplug.js';
import type { Point } from './json.js';

const WIRE_TYPE: Record<WireType, string> = {
  bool: 'Boolean',
  int16: 'Int16',
  uint16: 'UInt16',
  int32: 'Int32',
  uint32: 'UInt32',
  int64: 'Int64',
  uint64: 'UInt64',
  float32: 'Float',
  float64: 'Double',
  string: 'String',
};
const KIND_TYPE: Record<FieldKind, string> = { integer: 'Int64', float: 'Double', boolean: 'Boolean', string: 'String' };

/** OPC-style quality codes in the metric property "Quality" (good metrics carry none) */
export const QUALITY_UNCERTAIN = 64;
export const QUALITY_BAD = 0;

export interface EdgeDevice {
  id: string;
  tags: ReadonlyArray<{ name: string; type?: TagType | undefined }>;
}

/** The Sparkplug datatype of a tag: its wire type when configured, else by its field kind. */
export function sparkplugType(type: TagType | undefined, kind: FieldKind | undefined): string | undefined {
  if (type?.wire) return WIRE_TYPE[type.wire];
  const k = type?.kind ?? kind;
  return k ? KIND_TYPE[k] : undefined;
}

export interface Message {
  topic: string;
  payload: Buffer;
}

export interface BirthValue {
  tag: string;
  kind: FieldKind;
  value: Value | null;
  ts: number;
}

interface Metric {
  name?: string;
  alias: number;
  type: string;
  value: unknown;
  timestamp?: number;
  isHistorical?: boolean;
  properties?: Record<string, { type: string; value: unknown }>;
}

export type Command =
  { kind: 'rebirth' } | { kind: 'write'; device: string; tag: string; value: Value } | { kind: 'bad'; device?: string; tag?: string; error: string };

export class EdgeNode {
  readonly prefix: string;
  private seq = 0;
  /** device → tag → alias */
  private readonly aliases = new Map<string, Map<string, number>>();
  private readonly tagByAlias = new Map<number, { device: string; tag: string }>();
  private readonly types = new Map<string, TagType | undefined>();
  /** device → tag → datatype declared in its last DBIRTH */
  private readonly born = new Map<string, Map<string, string>>();

  constructor(
    readonly groupId: string,
    readonly edgeNodeId: string,
    devices: readonly EdgeDevice[],
  ) {
    this.prefix = `spBv1.0/${groupId}`;
    let next = 1;
    for (const d of devices) {
      const m = new Map<string, number>();
      for (const t of d.tags) {
        m.set(t.name, next);
        this.tagByAlias.set(next, { device: d.id, tag: t.name });
        this.types.set(`${d.id}\u0000${t.name}`, t.type);
        next++;
      }
      this.aliases.set(d.id, m);
    }
  }

  get devices(): string[] {
    return [...this.aliases.keys()];
  }

  /** the command topics an edge node subscribes to */
  commandFilters(): string[] {
    return [`${this.prefix}/NCMD/${this.edgeNodeId}`, `${this.prefix}/DCMD/${this.edgeNodeId}/+`];
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) % 256;
    return s;
  }

  /** NBIRTH: seq starts again at 0; bdSeq as in this session's will; the rebirth control. */
  nbirth(ts: number, bdSeq: number): Message {
    this.seq = 0;
    this.born.clear();
    const payload = encodeSparkplug({
      timestamp: ts,
      seq: this.nextSeq(),
      metrics: [
        { name: 'bdSeq', type: 'UInt64', value: bdSeq, timestamp: ts },
        { name: REBIRTH_METRIC, type: 'Boolean', value: false, timestamp: ts },
      ],
    });
    return { topic: `${this.prefix}/NBIRTH/${this.edgeNodeId}`, payload: Buffer.from(payload) };
  }

  /** NDEATH (the will, and a clean stop): bdSeq only, no seq. */
  ndeath(ts: number, bdSeq: number): Message {
    const payload = encodeSparkplug({ timestamp: ts, metrics: [{ name: 'bdSeq', type: 'UInt64', value: bdSeq }] });
    return { topic: `${this.prefix}/NDEATH/${this.edgeNodeId}`, payload: Buffer.from(payload) };
  }

  /**
   * DBIRTH: every tag of the device whose datatype is known (configured, or from `values`, the
   * newest stored readings), with name, alias, datatype and its newest value (null when none).
   */
  dbirth(device: string, ts: number, values: readonly BirthValue[]): Message {
    const aliases = this.aliases.get(device)!;
    const byTag = new Map(values.map((v) => [v.tag, v]));
    const metrics: Metric[] = [];
    const declared = new Map<string, string>();
    for (const [tag, alias] of aliases) {
      const v = byTag.get(tag);
      const type = sparkplugType(this.types.get(`${device}\u0000${tag}`), v?.kind);
      if (!type) continue;
      declared.set(tag, type);
      metrics.push({ name: tag, alias, type, value: v?.value ?? null, timestamp: v?.ts ?? ts });
    }
    this.born.set(device, declared);
    return {
      topic: `${this.prefix}/DBIRTH/${this.edgeNodeId}/${device}`,
      payload: Buffer.from(encodeSparkplug({ timestamp: ts, seq: this.nextSeq(), metrics } as never)),
    };
  }

  ddeath(device: string, ts: number): Message {
    this.born.delete(device);
    return {
      topic: `${this.prefix}/DDEATH/${this.edgeNodeId}/${device}`,
      payload: Buffer.from(encodeSparkplug({ timestamp: ts, seq: this.nextSeq(), metrics: [] })),
    };
  }

  isBorn(device: string): boolean {
    return this.born.has(device);
  }

  /**
   * Whether `p` can go as DDATA under the device's current birth: every metric was declared, with
   * the datatype its kind gives. Otherwise the device needs a DBIRTH first (a tag whose type was
   * learnt after the birth, OPC UA's).
   */
  fitsBirth(p: Point): boolean {
    const declared = this.born.get(p.device);
    if (!declared) return false;
    for (const r of p.readings) {
      const t = declared.get(r.tag);
      if (t === undefined || t !== sparkplugType(this.types.get(`${p.device}\u0000${r.tag}`), r.kind)) return false;
    }
    return true;
  }

  /** DDATA with aliases only; bad readings null with Quality 0 and Error, uncertain ones Quality 64. */
  ddata(p: Point, historical: boolean): Message {
    const aliases = this.aliases.get(p.device)!;
    const declared = this.born.get(p.device)!;
    const metrics: Metric[] = [];
    for (const r of p.readings) {
      const alias = aliases.get(r.tag);
      if (alias === undefined) continue;
      const m: Metric = { alias, type: declared.get(r.tag)!, value: r.quality === 'bad' ? null : r.value, timestamp: p.ts };
      if (historical) m.isHistorical = true;
      if (r.quality === 'bad') m.properties = { Quality: { type: 'Int32', value: QUALITY_BAD }, Error: { type: 'String', value: r.error ?? 'BAD' } };
      else if (r.quality === 'uncertain')
        m.properties = { Quality: { type: 'Int32', value: QUALITY_UNCERTAIN }, ...(r.error ? { Error: { type: 'String', value: r.error } } : {}) };
      metrics.push(m);
    }
    return {
      topic: `${this.prefix}/DDATA/${this.edgeNodeId}/${p.device}`,
      payload: Buffer.from(encodeSparkplug({ timestamp: p.ts, seq: this.nextSeq(), metrics } as never)),
    };
  }

  /** NCMD / DCMD: the rebirth request, or one write per metric (by name or alias). */
  command(topic: string, payload: Buffer): Command[] {
    const parts = topic.split('/');
    const type = parts[2];
    let decoded;
    try {
      decoded = decodeSparkplug(payload);
    } catch (e) {
      return [{ kind: 'bad', ...(type === 'DCMD' && parts[4] ? { device: parts[4] } : {}), error: `not a Sparkplug payload: ${(e as Error).message}` }];
    }
    const out: Command[] = [];
    for (const m of decoded.metrics ?? []) {
      if (type === 'NCMD') {
        if (m.name === REBIRTH_METRIC && metricValue(m) === true) out.push({ kind: 'rebirth' });
        else out.push({ kind: 'bad', error: `NCMD metric ${JSON.stringify(m.name ?? m.alias)}: only ${REBIRTH_METRIC} is accepted` });
        continue;
      }
      const device = parts[4] ?? '';
      const aliases = this.aliases.get(device);
      let tag = m.name ?? undefined;
      if (tag === undefined && m.alias !== undefined && m.alias !== null) {
        const a = this.tagByAlias.get(Number(typeof m.alias === 'number' ? m.alias : (m.alias as { low: number }).low));
        if (a && a.device === device) tag = a.tag;
      }
      if (!aliases || tag === undefined) {
        out.push({
          kind: 'bad',
          device,
          ...(tag !== undefined ? { tag } : {}),
          error: !aliases ? `no device "${device}" on this edge node` : `metric without a name or a known alias`,
        });
        continue;
      }
      const value = metricValue(m);
      if (value === null || value === undefined) out.push({ kind: 'bad', device, tag, error: `metric ${tag}: no scalar value` });
      else out.push({ kind: 'write', device, tag, value });
    }
    return out;
  }
}
