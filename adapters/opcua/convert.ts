/**
 * The pure core of the OPC UA adapter: NodeId syntax, DataType → FieldKind, StatusCode → Quality,
 * DataValue → Reading value, value → write variant, chunking by OperationLimits, browse names →
 * tag names. No I/O and no node-opcua import: the numbers below are the OPC UA spec's (Part 6).
 */
import { NOT_FINITE, shortestFloat32 } from '../values.js';
import type { FieldKind, Quality, Value } from '../types.js';

/** Built-in type ids (OPC UA Part 6, 5.1.2); equal to the ns=0 DataType NodeId numbers 1..25. */
export const BuiltIn = {
  Null: 0,
  Boolean: 1,
  SByte: 2,
  Byte: 3,
  Int16: 4,
  UInt16: 5,
  Int32: 6,
  UInt32: 7,
  Int64: 8,
  UInt64: 9,
  Float: 10,
  Double: 11,
  String: 12,
  DateTime: 13,
  Guid: 14,
  ByteString: 15,
  XmlElement: 16,
  NodeId: 17,
  ExpandedNodeId: 18,
  StatusCode: 19,
  QualifiedName: 20,
  LocalizedText: 21,
  ExtensionObject: 22,
  DataValue: 23,
  Variant: 24,
  DiagnosticInfo: 25,
} as const;
export type BuiltInId = (typeof BuiltIn)[keyof typeof BuiltIn];
const BUILTIN_NAME: Record<number, string> = Object.fromEntries(Object.entries(BuiltIn).map(([k, v]) => [v, k]));
export function builtInName(id: number): string {
  return BUILTIN_NAME[id] ?? `BuiltIn${id}`;
}

const NODE_ID = /^(ns=\d+;)?(i=\d+|s=.+|g=[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/=]+)$/s;
/** "ns=1;s=Lathe3.State", "i=2258", "ns=2;g=...", "ns=3;b=..." */
export function isValidNodeId(text: string): boolean {
  return NODE_ID.test(text);
}

/**
 * The ns=0 abstract/base DataTypes a variable may declare and the built-in type that carries them.
 * Enumerations travel as Int32. BaseDataType (i=24) is refused: its values could change type.
 */
const ABSTRACT_NS0: Record<number, number> = { 26: BuiltIn.Double, 27: BuiltIn.Int64, 28: BuiltIn.UInt64, 29: BuiltIn.Int32 };

/**
 * The built-in type behind an ns=0 DataType NodeId number, when it is one we can tell without
 * browsing (1..22 except 24/25, Number/Integer/UInteger/Enumeration); undefined otherwise (caller
 * walks the type hierarchy).
 */
export function builtInOfNs0DataType(id: number): number | undefined {
  if (id >= 1 && id <= 22) return id;
  return ABSTRACT_NS0[id];
}

/**
 * FieldKind of a built-in type: Boolean → boolean; integers → integer; Float/Double → float;
 * String/LocalizedText/ByteString/Guid/XmlElement → string; DateTime → integer (ms since epoch).
 * Anything else (structures, NodeIds, arrays of …) is not collectable: undefined.
 */
export function kindOfBuiltIn(id: number): FieldKind | undefined {
  switch (id) {
    case BuiltIn.Boolean:
      return 'boolean';
    case BuiltIn.SByte:
    case BuiltIn.Byte:
    case BuiltIn.Int16:
    case BuiltIn.UInt16:
    case BuiltIn.Int32:
    case BuiltIn.UInt32:
    case BuiltIn.Int64:
    case BuiltIn.UInt64:
    case BuiltIn.DateTime:
      return 'integer';
    case BuiltIn.Float:
    case BuiltIn.Double:
      return 'float';
    case BuiltIn.String:
    case BuiltIn.LocalizedText:
    case BuiltIn.ByteString:
    case BuiltIn.Guid:
    case BuiltIn.XmlElement:
      return 'string';
    default:
      return undefined;
  }
}

/** OPC UA StatusCode severity (top two bits): 00 good, 01 uncertain, 10/11 bad. */
export function qualityOf(statusCode: number): Quality {
  const sev = (statusCode >>> 30) & 3;
  return sev === 0 ? 'good' : sev === 1 ? 'uncertain' : 'bad';
}

export interface RawDataValue {
  statusCode: number;
  statusName: string;
  /** variant built-in type id and value as node-opcua delivers it */
  variantType: number;
  value: unknown;
  sourceTimestamp?: Date | null;
  serverTimestamp?: Date | null;
}

export interface Decoded {
  ts: number;
  value: Value | null;
  quality: Quality;
  error?: string;
}

/** Reading.ts = sourceTimestamp ?? serverTimestamp ?? receive time. */
export function timestampOf(dv: Pick<RawDataValue, 'sourceTimestamp' | 'serverTimestamp'>, receivedAt: number): number {
  const s = dv.sourceTimestamp?.getTime();
  if (s !== undefined && Number.isFinite(s) && s > 0) return s;
  const v = dv.serverTimestamp?.getTime();
  if (v !== undefined && Number.isFinite(v) && v > 0) return v;
  return receivedAt;
}

/** [high, low] 32-bit words (node-opcua's Int64/UInt64) → number (exact up to ±2^53). */
export function int64ToNumber(v: unknown, signed: boolean): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number') {
    const hi = signed ? v[0] | 0 : v[0] >>> 0;
    return hi * 4294967296 + (v[1] >>> 0);
  }
  return undefined;
}

function convertValue(kind: FieldKind, variantType: number, v: unknown): Value | undefined {
  switch (kind) {
    case 'boolean':
      return typeof v === 'boolean' ? v : undefined;
    case 'integer': {
      if (v instanceof Date) return Number.isFinite(v.getTime()) ? v.getTime() : undefined;
      if (variantType === BuiltIn.Int64 || variantType === BuiltIn.UInt64) return int64ToNumber(v, variantType === BuiltIn.Int64);
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      if (typeof v === 'bigint') return Number(v);
      return undefined;
    }
    case 'float':
      if (typeof v === 'number') return variantType === BuiltIn.Float ? shortestFloat32(v) : v;
      if (variantType === BuiltIn.Int64 || variantType === BuiltIn.UInt64) return int64ToNumber(v, variantType === BuiltIn.Int64);
      return undefined;
    case 'string':
      if (typeof v === 'string') return v;
      if (Buffer.isBuffer(v)) return v.toString('base64');
      if (v && typeof v === 'object' && 'text' in v) {
        const t = (v as { text?: unknown }).text;
        return typeof t === 'string' ? t : '';
      }
      if (v && typeof v === 'object' && variantType === BuiltIn.Guid) return String(v);
      return undefined;
  }
}

/**
 * A DataValue as the server sent it → value and quality for a tag of a fixed kind. Bad status: no
 * value, error = the status name. A value that does not fit the kind (an array, a variable whose
 * values change type) is bad with "BadTypeMismatch", never a field of another type.
 */
export function decodeDataValue(kind: FieldKind, dv: RawDataValue, receivedAt: number): Decoded {
  const ts = timestampOf(dv, receivedAt);
  const quality = qualityOf(dv.statusCode);
  if (quality === 'bad') return { ts, value: null, quality, error: dv.statusName };
  if (dv.value === null || dv.value === undefined || dv.variantType === BuiltIn.Null) {
    return { ts, value: null, quality: 'bad', error: 'BadNoValue' };
  }
  const value = convertValue(kind, dv.variantType, dv.value);
  if (value === undefined) return { ts, value: null, quality: 'bad', error: 'BadTypeMismatch' };
  if (typeof value === 'number' && !Number.isFinite(value)) return { ts, value: null, quality: 'bad', error: NOT_FINITE };
  return quality === 'uncertain' ? { ts, value, quality, error: dv.statusName } : { ts, value, quality };
}

const INT_RANGES: Record<number, [number, number]> = {
  [BuiltIn.SByte]: [-128, 127],
  [BuiltIn.Byte]: [0, 255],
  [BuiltIn.Int16]: [-32768, 32767],
  [BuiltIn.UInt16]: [0, 65535],
  [BuiltIn.Int32]: [-2147483648, 2147483647],
  [BuiltIn.UInt32]: [0, 4294967295],
  [BuiltIn.Int64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  [BuiltIn.UInt64]: [0, Number.MAX_SAFE_INTEGER],
};

export type WriteValue = { ok: true; value: unknown } | { ok: false; reason: string };

/**
 * A value from the API → the JS value node-opcua puts in a Variant of `builtIn` type. Refuses
 * (reason text) what does not fit: fractions for integers, out-of-range integers, text for numbers.
 */
export function toWriteValue(builtIn: number, v: Value): WriteValue {
  const range = INT_RANGES[builtIn];
  if (range) {
    if (typeof v !== 'number' || !Number.isInteger(v)) return { ok: false, reason: `${builtInName(builtIn)} needs an integer, got ${JSON.stringify(v)}` };
    if (v < range[0] || v > range[1]) return { ok: false, reason: `${v} is outside ${builtInName(builtIn)} [${range[0]}, ${range[1]}]` };
    if (builtIn === BuiltIn.Int64 || builtIn === BuiltIn.UInt64) {
      const hi = Math.floor(v / 4294967296);
      const lo = v - hi * 4294967296;
      return { ok: true, value: [hi >>> 0, lo >>> 0] };
    }
    return { ok: true, value: v };
  }
  switch (builtIn) {
    case BuiltIn.Boolean:
      if (typeof v === 'boolean') return { ok: true, value: v };
      if (v === 0 || v === 1) return { ok: true, value: v === 1 };
      return { ok: false, reason: `Boolean needs true/false, got ${JSON.stringify(v)}` };
    case BuiltIn.Float:
    case BuiltIn.Double:
      if (typeof v === 'number' && Number.isFinite(v)) return { ok: true, value: v };
      return { ok: false, reason: `${builtInName(builtIn)} needs a number, got ${JSON.stringify(v)}` };
    case BuiltIn.String:
    case BuiltIn.LocalizedText:
      if (typeof v === 'string') return { ok: true, value: builtIn === BuiltIn.LocalizedText ? { text: v } : v };
      return { ok: false, reason: `${builtInName(builtIn)} needs a string, got ${JSON.stringify(v)}` };
    case BuiltIn.ByteString:
      if (typeof v === 'string') return { ok: true, value: Buffer.from(v, 'base64') };
      return { ok: false, reason: 'ByteString needs a base64 string' };
    case BuiltIn.DateTime:
      if (typeof v === 'number' && Number.isFinite(v)) return { ok: true, value: new Date(v) };
      if (typeof v === 'string' && Number.isFinite(Date.parse(v))) return { ok: true, value: new Date(v) };
      return { ok: false, reason: 'DateTime needs ms since epoch or an ISO 8601 text' };
    default:
      return { ok: false, reason: `writing ${builtInName(builtIn)} is not supported` };
  }
}

/** Splits `items` into chunks of at most `limit` (0 or less: the fallback cap). */
export function chunk<T>(items: readonly T[], limit: number, fallback = 1000): T[][] {
  const size = limit > 0 ? limit : fallback;
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** "Lathe3.SpindleSpeed" / "Spindle Speed" → "spindle_speed": a valid, stable tag name. */
export function tagNameOf(browsePath: readonly string[]): string {
  const joined = browsePath
    .join('_')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9_.-]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^[_.-]+|[_.-]+$/g, '')
    .toLowerCase();
  return joined || 'tag';
}

/**
 * What a connect/session error means, from node-opcua's message text (it wraps status codes in
 * plain Errors): 'auth' (identity refused), 'untrusted' (certificate trust), 'other'.
 */
export function classifyConnectError(message: string): 'auth' | 'untrusted' | 'other' {
  if (/BadUserAccessDenied|BadIdentityToken(Invalid|Rejected)|BadUserSignatureInvalid|BadIdentityChangeNotSupported/.test(message)) return 'auth';
  if (
    /BadCertificate(Untrusted|Invalid|TimeInvalid|IssuerTimeInvalid|Revoked|IssuerRevoked|HostNameInvalid|UriInvalid|UseNotAllowed|ChainIncomplete)|BadSecurityChecksFailed/.test(
      message,
    )
  )
    return 'untrusted';
  return 'other';
}
