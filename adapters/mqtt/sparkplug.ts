/**
 * Sparkplug B (spBv1.0) for one configured device: an edge node, or one device under it. Births
 * define metrics, datatypes and aliases; data messages resolve aliases; deaths mark the tags bad.
 * Protobuf coding is the maintained `sparkplug-payload` package (Eclipse Tahu). Pure apart from
 * the codec: the shell publishes the rebirth request this returns.
 */
import { get as sparkplugCodec } from 'sparkplug-payload';
import type { FieldKind, Reading, Value } from '../types.js';
import { convertValue, oneDeadLetter, payloadText, timestampProblem, type DeadItem, type KindMemory } from './mapping.js';

const codec = sparkplugCodec('spBv1.0')!;
export const REBIRTH_METRIC = 'Node Control/Rebirth';

type SpType = string;
interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}
interface SpMetric {
  name?: string | null;
  alias?: number | LongLike | null;
  timestamp?: number | LongLike | null;
  type?: SpType;
  value?: unknown;
  isNull?: boolean | null;
}
interface SpPayload {
  timestamp?: number | LongLike | null;
  seq?: number | LongLike | null;
  metrics?: SpMetric[] | null;
}

function isLong(v: unknown): v is LongLike {
  return typeof v === 'object' && v !== null && typeof (v as LongLike).low === 'number' && typeof (v as LongLike).high === 'number';
}
function toNum(v: unknown, signed = false): number | undefined {
  if (typeof v === 'number') return v;
  if (isLong(v)) return (signed ? v.high | 0 : v.high >>> 0) * 4294967296 + (v.low >>> 0);
  return undefined;
}

/** The FieldKind a Sparkplug datatype fixes (when the tag has no configured type). */
export function kindOfSparkplugType(t: SpType | undefined): FieldKind | undefined {
  switch (t) {
    case 'Int8':
    case 'Int16':
    case 'Int32':
    case 'Int64':
    case 'UInt8':
    case 'UInt16':
    case 'UInt32':
    case 'UInt64':
    case 'DateTime':
      return 'integer';
    case 'Float':
    case 'Double':
      return 'float';
    case 'Boolean':
      return 'boolean';
    case 'String':
    case 'Text':
    case 'UUID':
      return 'string';
    default:
      return undefined;
  }
}

/** A metric value as a JS value: 64-bit ints as numbers (signed for Int64), Float rounded to float32's 7 digits. */
export function metricValue(m: SpMetric): Value | null | undefined {
  if (m.isNull) return null;
  const v = m.value;
  if (v === null || v === undefined) return null;
  switch (m.type) {
    case 'Int64':
      return toNum(v, true);
    case 'UInt64':
    case 'DateTime':
      return toNum(v, false);
    case 'Float':
      return typeof v === 'number' ? Number(v.toPrecision(7)) : undefined;
    default:
      if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
      if (isLong(v)) return toNum(v, false);
      return undefined; // DataSet, Template, Bytes, ...
  }
}

export function decodeSparkplug(payload: Uint8Array): SpPayload {
  return codec.decodePayload(payload) as SpPayload;
}

export function encodeSparkplug(p: {
  timestamp?: number;
  seq?: number;
  metrics: Array<{ name?: string; alias?: number; type: string; value: unknown; timestamp?: number }>;
}): Uint8Array {
  return codec.encodePayload(p as Parameters<typeof codec.encodePayload>[0]);
}

/** The NCMD payload asking an edge node to publish its births again. */
export function rebirthPayload(now: number): Uint8Array {
  return encodeSparkplug({ timestamp: now, metrics: [{ name: REBIRTH_METRIC, type: 'Boolean', value: true }] });
}

export interface SparkplugConfig {
  groupId: string;
  edgeNodeId: string;
  deviceId?: string;
  rebirthInterval: number;
  /** payloads larger than this are dead-lettered OVERSIZE (the device's maxPayloadSize) */
  maxPayloadSize?: number;
}

export interface SparkplugResult {
  readings: Reading[];
  dead: DeadItem[];
  /** publish a rebirth request (NCMD) now */
  rebirth: boolean;
  /** the message concerned this device's edge node */
  matched: boolean;
  /** a command or STATE message on the node's topics (the gateway's own rebirth request among them): not data, not an error */
  ignored?: boolean;
}

interface MetricDef {
  name: string;
  type?: SpType;
}

/** Birth/alias/death state of one configured Sparkplug source. */
export class SparkplugState {
  readonly filter: string;
  readonly ncmdTopic: string;
  readonly cmdTopic: string;
  private aliases = new Map<number, MetricDef>();
  private types = new Map<string, SpType>();
  private born = false;
  private nodeBdSeq: number | undefined;
  /** the source is alive (birth seen and no death since) */
  online = false;
  private lastRebirthAt = -Infinity;
  private readonly tagsByMetric = new Map<string, { name: string; type?: FieldKind }>();

  constructor(
    private readonly cfg: SparkplugConfig,
    private readonly deviceId: string,
    private readonly tags: ReadonlyArray<{ name: string; metric?: string; type?: FieldKind }>,
    private readonly kinds: KindMemory,
  ) {
    this.filter = `spBv1.0/${cfg.groupId}/+/${cfg.edgeNodeId}/#`;
    this.ncmdTopic = `spBv1.0/${cfg.groupId}/NCMD/${cfg.edgeNodeId}`;
    this.cmdTopic = cfg.deviceId ? `spBv1.0/${cfg.groupId}/DCMD/${cfg.edgeNodeId}/${cfg.deviceId}` : this.ncmdTopic;
    for (const t of tags) {
      const entry: { name: string; type?: FieldKind } = { name: t.name };
      if (t.type) entry.type = t.type;
      this.tagsByMetric.set(t.metric ?? t.name, entry);
    }
  }

  /** The metric name and its birth datatype for a configured tag (for writes). */
  metricOf(tag: string): { name: string; type?: SpType } | undefined {
    const t = this.tags.find((x) => x.name === tag);
    if (!t) return undefined;
    const name = t.metric ?? t.name;
    const type = this.types.get(name);
    return type ? { name, type } : { name };
  }

  /** One message: its readings, at most one dead letter (oneDeadLetter), a rebirth request. */
  handle(topic: string, payload: Uint8Array, receivedAt: number): SparkplugResult {
    const res = this.decode(topic, payload, receivedAt);
    res.dead = oneDeadLetter(res.dead);
    return res;
  }

  private decode(topic: string, payload: Uint8Array, receivedAt: number): SparkplugResult {
    const res: SparkplugResult = { readings: [], dead: [], rebirth: false, matched: false };
    const parts = topic.split('/');
    if (parts[0] !== 'spBv1.0' || parts[1] !== this.cfg.groupId || parts[3] !== this.cfg.edgeNodeId) return res;
    const type = parts[2] ?? '';
    const dev = parts[4];
    const forNode = type.startsWith('N');
    // commands to the node (the gateway's own rebirth NCMD comes back on its subscription) are ours
    // to ignore, never "no device"
    if (type === 'NCMD' || type === 'DCMD' || type === 'STATE') return { ...res, matched: true, ignored: true };
    // device-level messages of other devices under the same node are not ours
    if (!forNode && dev !== this.cfg.deviceId) return res;
    const targetIsNode = this.cfg.deviceId === undefined;
    // a device source follows its node's births and deaths, but not the node's data
    if (type === 'NDATA' && !targetIsNode) return res;
    const max = this.cfg.maxPayloadSize ?? Infinity;
    if (payload.length === 0 || payload.length > max) {
      // like a broken payload: a node-level one is the node source's to report
      if (forNode && !targetIsNode) return res;
      res.matched = true;
      const empty = payload.length === 0;
      res.dead.push({
        device: this.deviceId,
        topic,
        reason: empty ? 'EMPTY' : 'OVERSIZE',
        detail: empty ? 'empty payload (every Sparkplug payload has a timestamp and seq)' : `payload of ${payload.length} bytes exceeds maxPayloadSize ${max}`,
        payload: payloadText(payload),
      });
      return res;
    }
    let p: SpPayload;
    try {
      p = decodeSparkplug(payload);
    } catch (e) {
      // a broken node-level message is the node source's to report (or, without one, NO_DEVICE)
      if (forNode && !targetIsNode) return res;
      res.matched = true;
      res.dead.push({ device: this.deviceId, topic, reason: 'NOT_SPARKPLUG', detail: (e as Error).message, payload: payloadText(payload) });
      return res;
    }
    res.matched = true;
    // an absurd payload timestamp is refused where it is used (a metric without its own; a death
    // falls back to the receive time)
    const payloadTs = toNum(p.timestamp) ?? receivedAt;
    const metrics = p.metrics ?? [];

    switch (type) {
      case 'NBIRTH': {
        const bd = metrics.find((m) => m.name === 'bdSeq');
        this.nodeBdSeq = bd ? toNum(bd.value) : undefined;
        if (targetIsNode) this.birth(metrics, payloadTs, topic, res, receivedAt);
        else {
          // a node rebirth invalidates its devices' births until they are published again
          this.aliases.clear();
          this.born = false;
          this.online = false;
        }
        return res;
      }
      case 'DBIRTH':
        this.birth(metrics, payloadTs, topic, res, receivedAt);
        return res;
      case 'NDATA':
      case 'DDATA':
        this.data(metrics, payloadTs, topic, payload, receivedAt, res);
        return res;
      case 'NDEATH': {
        const bd = metrics.find((m) => m.name === 'bdSeq');
        const seq = bd ? toNum(bd.value) : undefined;
        // a will from an older session (bdSeq of a previous birth) does not kill the current one
        if (seq !== undefined && this.nodeBdSeq !== undefined && seq !== this.nodeBdSeq) return res;
        this.death('NDEATH', timestampProblem(payloadTs, receivedAt) === undefined ? payloadTs : receivedAt, res);
        return res;
      }
      case 'DDEATH':
        this.death('DDEATH', timestampProblem(payloadTs, receivedAt) === undefined ? payloadTs : receivedAt, res);
        return res;
      default:
        return res;
    }
  }

  private birth(metrics: SpMetric[], ts: number, topic: string, res: SparkplugResult, now: number): void {
    this.aliases.clear();
    this.types.clear();
    for (const m of metrics) {
      if (!m.name) continue;
      const def: MetricDef = { name: m.name };
      if (m.type) {
        def.type = m.type;
        this.types.set(m.name, m.type);
      }
      const alias = toNum(m.alias);
      if (alias !== undefined) this.aliases.set(alias, def);
    }
    this.born = true;
    this.online = true;
    this.emit(metrics, ts, topic, res, new Uint8Array(), now);
  }

  private data(metrics: SpMetric[], ts: number, topic: string, payload: Uint8Array, now: number, res: SparkplugResult): void {
    const unknown: number[] = [];
    const known: SpMetric[] = [];
    for (const m of metrics) {
      if (m.name) known.push(m);
      else {
        const alias = toNum(m.alias);
        const def = alias === undefined ? undefined : this.aliases.get(alias);
        if (def) known.push({ ...m, name: def.name, type: m.type ?? def.type });
        else unknown.push(alias ?? -1);
      }
    }
    if (unknown.length > 0 || !this.born) {
      if (unknown.length > 0)
        res.dead.push({
          device: this.deviceId,
          topic,
          reason: 'UNKNOWN_ALIAS',
          detail: `no birth defines alias ${unknown.join(', ')}; rebirth requested`,
          payload: payloadText(payload),
        });
      if (now - this.lastRebirthAt >= this.cfg.rebirthInterval) {
        this.lastRebirthAt = now;
        res.rebirth = true;
      }
    }
    this.emit(known, ts, topic, res, payload, now);
  }

  private emit(metrics: SpMetric[], ts: number, topic: string, res: SparkplugResult, payload: Uint8Array, now: number): void {
    for (const m of metrics) {
      const tag = m.name ? this.tagsByMetric.get(m.name) : undefined;
      if (!tag) continue;
      const type = m.type ?? this.types.get(m.name!);
      const value = metricValue({ ...m, type });
      const mts = toNum(m.timestamp) ?? ts;
      const tsProblem = timestampProblem(mts, now);
      if (tsProblem !== undefined) {
        res.dead.push({ device: this.deviceId, topic, reason: 'BAD_TIMESTAMP', detail: `${tag.name}: timestamp ${tsProblem}`, payload: payloadText(payload) });
        continue;
      }
      const kind = tag.type ?? this.kinds.get(tag.name) ?? kindOfSparkplugType(type);
      if (value === undefined || kind === undefined) {
        res.dead.push({
          device: this.deviceId,
          topic,
          reason: 'WRONG_TYPE',
          detail: `${tag.name}: Sparkplug datatype ${type ?? 'unknown'} has no scalar value`,
          payload: payloadText(payload),
        });
        continue;
      }
      if (value === null) {
        res.readings.push({ device: this.deviceId, tag: tag.name, ts: mts, kind, value: null, quality: 'bad', error: 'SPARKPLUG_NULL' });
        continue;
      }
      const conv = convertValue(value, kind);
      if (!conv.ok) {
        res.dead.push({
          device: this.deviceId,
          topic,
          reason: 'WRONG_TYPE',
          detail: `${tag.name}: ${JSON.stringify(value)} does not convert to ${kind}`,
          payload: payloadText(payload),
        });
        continue;
      }
      if (!tag.type && this.kinds.get(tag.name) === undefined) this.kinds.set(tag.name, kind);
      res.readings.push({ device: this.deviceId, tag: tag.name, ts: mts, kind, value: conv.value, quality: 'good' });
    }
  }

  private death(code: 'NDEATH' | 'DDEATH', ts: number, res: SparkplugResult): void {
    this.online = false;
    this.born = false;
    this.aliases.clear();
    for (const t of this.tags) {
      const kind = t.type ?? this.kinds.get(t.name) ?? kindOfSparkplugType(this.types.get(t.metric ?? t.name)) ?? 'float';
      res.readings.push({ device: this.deviceId, tag: t.name, ts, kind, value: null, quality: 'bad', error: code });
    }
  }
}
