/**
 * The pure core of the MQTT adapter: topic patterns with captures, JSON paths, timestamps, value
 * conversion to a tag's fixed FieldKind, and decoding one JSON/raw message into readings and dead
 * letters. No I/O here: the shell (connection.ts, adapter.ts) only moves bytes.
 */
import { DEAD_PAYLOAD_MAX, type FieldKind, type Reading, type Value } from '../types.js';

// ---------------------------------------------------------------------------------------------
// Topic patterns: MQTT filters whose "+name" / "#name" segments also capture
// ---------------------------------------------------------------------------------------------

export interface TopicPattern {
  /** the pattern as written */
  source: string;
  /** the MQTT subscription filter ("+name" → "+", "#name" → "#") */
  filter: string;
  /** capture names in order */
  captures: string[];
  /** true when the filter has no wildcard (matched by a map lookup) */
  exact: boolean;
  /** the captures when `topic` matches, else undefined */
  match(topic: string): Record<string, string> | undefined;
}

const CAPTURE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Seg = { lit: string } | { one: string | null } | { rest: string | null };

export function compileTopicPattern(pattern: string): TopicPattern {
  if (pattern.length === 0) throw new Error('a topic cannot be empty');
  const parts = pattern.split('/');
  const segs: Seg[] = [];
  const captures: string[] = [];
  parts.forEach((p, i) => {
    const head = p[0];
    if (head === '+' || head === '#') {
      const name = p.slice(1);
      if (name && !CAPTURE_NAME.test(name)) throw new Error(`"${p}": a capture name is letters, digits and "_" (e.g. "+device")`);
      if (name && captures.includes(name)) throw new Error(`capture "${name}" used twice`);
      if (name) captures.push(name);
      if (head === '#') {
        if (i !== parts.length - 1) throw new Error(`"${p}": "#" must be the last level`);
        segs.push({ rest: name || null });
      } else segs.push({ one: name || null });
    } else {
      if (p.includes('+') || p.includes('#')) throw new Error(`"${p}": "+" and "#" must fill a whole topic level`);
      segs.push({ lit: p });
    }
  });
  const filter = segs.map((s) => ('lit' in s ? s.lit : 'one' in s ? '+' : '#')).join('/');
  const exact = segs.every((s) => 'lit' in s);
  const startsWild = segs[0] !== undefined && !('lit' in segs[0]);
  return {
    source: pattern,
    filter,
    captures,
    exact,
    match(topic: string) {
      if (exact) return topic === filter ? {} : undefined;
      // MQTT: a filter starting with a wildcard does not match topics starting with "$"
      if (startsWild && topic.startsWith('$')) return undefined;
      const levels = topic.split('/');
      const out: Record<string, string> = {};
      for (let i = 0; i < segs.length; i++) {
        const s = segs[i]!;
        if ('rest' in s) {
          // "a/#" matches "a" too (the parent level)
          if (s.rest) out[s.rest] = levels.slice(i).join('/');
          return out;
        }
        const l = levels[i];
        if (l === undefined) return undefined;
        if ('lit' in s) {
          if (l !== s.lit) return undefined;
        } else if (s.one) out[s.one] = l;
      }
      return levels.length === segs.length ? out : undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Templates: "{line}-{device}" filled from captures
// ---------------------------------------------------------------------------------------------

export interface Template {
  vars: string[];
  render(captures: Record<string, string>): string;
}

export function compileTemplate(text: string): Template {
  const parts: Array<string | { v: string }> = [];
  const vars: string[] = [];
  const re = /\{([^{}]*)\}/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const name = m[1]!;
    if (!CAPTURE_NAME.test(name)) throw new Error(`"{${name}}": a placeholder names a topic capture (letters, digits, "_")`);
    parts.push(text.slice(last, m.index));
    parts.push({ v: name });
    if (!vars.includes(name)) vars.push(name);
    last = m.index + m[0].length;
  }
  const tail = text.slice(last);
  if (tail.includes('{') || tail.includes('}') || parts.some((p) => typeof p === 'string' && /[{}]/.test(p)))
    throw new Error(`"${text}": unbalanced "{" or "}"`);
  parts.push(tail);
  return { vars, render: (c) => parts.map((p) => (typeof p === 'string' ? p : (c[p.v] ?? ''))).join('') };
}

// ---------------------------------------------------------------------------------------------
// JSON paths: motor.current, motors[1].current, ['a.b'], [0]
// ---------------------------------------------------------------------------------------------

export type PathStep = string | number;

export function compileJsonPath(path: string): PathStep[] {
  const steps: PathStep[] = [];
  let i = 0;
  const n = path.length;
  const fail = (why: string): never => {
    throw new Error(`path "${path}": ${why} at character ${i + 1}`);
  };
  if (n === 0) return steps;
  let expectKey = true; // at start or after "."
  while (i < n) {
    const c = path[i]!;
    if (c === '[') {
      const close = path.indexOf(']', i);
      if (close < 0) fail('missing "]"');
      const inner = path.slice(i + 1, close).trim();
      if (/^\d+$/.test(inner)) steps.push(Number(inner));
      else if (/^'[^']*'$/.test(inner) || /^"[^"]*"$/.test(inner)) steps.push(inner.slice(1, -1));
      else fail("expected an index like [1] or a quoted key like ['a.b']");
      i = close + 1;
      expectKey = false;
      if (i < n && path[i] !== '.' && path[i] !== '[') fail('expected "." or "["');
      if (path[i] === '.') {
        i++;
        expectKey = true;
        if (i >= n) fail('path ends with "."');
      }
      continue;
    }
    if (!expectKey) fail('expected "." or "["');
    let j = i;
    while (j < n && path[j] !== '.' && path[j] !== '[') j++;
    const key = path.slice(i, j);
    if (key.length === 0) fail('empty key');
    steps.push(key);
    i = j;
    expectKey = false;
    if (path[i] === '.') {
      i++;
      expectKey = true;
      if (i >= n) fail('path ends with "."');
    }
  }
  return steps;
}

/** The value at `steps` in `root`, or { found: false } when a step is missing. */
export function getPath(root: unknown, steps: readonly PathStep[]): { found: true; value: unknown } | { found: false } {
  let cur: unknown = root;
  for (const s of steps) {
    if (typeof s === 'number') {
      if (!Array.isArray(cur) || s >= cur.length) return { found: false };
      cur = cur[s];
    } else {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.prototype.hasOwnProperty.call(cur, s)) return { found: false };
      cur = (cur as Record<string, unknown>)[s];
    }
  }
  return { found: true, value: cur };
}

// ---------------------------------------------------------------------------------------------
// Timestamps and values
// ---------------------------------------------------------------------------------------------

/** Epoch numbers below this are seconds, above it milliseconds (1e11 s is year 5138, 1e11 ms is 1973). */
export const SECONDS_BELOW = 1e11;
const ISO = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;
const NUMERIC = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

/** A source timestamp in ms: epoch s or ms (by magnitude), numeric text, or ISO 8601 (UTC when no zone). */
export function parseTimestamp(v: unknown): number | undefined {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v <= 0) return undefined;
    return Math.round(v < SECONDS_BELOW ? v * 1000 : v);
  }
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  if (NUMERIC.test(t)) return parseTimestamp(Number(t));
  const m = ISO.exec(t);
  if (!m) return undefined;
  const text = m[1] && !m[4] ? `${t.replace(' ', 'T')}Z` : t.replace(' ', 'T');
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/** A source timestamp may be at most this far ahead of the receive time (a device clock running fast, a zone mistaken for UTC). */
export const TS_MAX_AHEAD_MS = 86_400_000;
/** ... and at most this far behind it (a device replaying what it buffered during an outage). */
export const TS_MAX_BEHIND_MS = 30 * 86_400_000;

/**
 * Why a source timestamp is refused, or undefined when it is within [receivedAt - 30 d,
 * receivedAt + 1 d]. Outside that window it is a broken clock or a misread field (1.5 read as epoch
 * seconds is 1970; 99999999999999 is the year 5138), which InfluxDB would refuse later or a
 * retention would drop unseen: it is dead-lettered BAD_TIMESTAMP now instead.
 */
export function timestampProblem(ts: number, receivedAt: number): string | undefined {
  if (!Number.isFinite(ts)) return 'not a finite time';
  if (ts > receivedAt + TS_MAX_AHEAD_MS) return `${isoOrNumber(ts)} is more than 1 day after the receive time`;
  if (ts < receivedAt - TS_MAX_BEHIND_MS) return `${isoOrNumber(ts)} is more than 30 days before the receive time`;
  return undefined;
}

function isoOrNumber(ts: number): string {
  const d = new Date(ts);
  return Number.isFinite(d.getTime()) ? d.toISOString() : String(ts);
}

/**
 * One dead letter per message: the problems of several tags of one payload (two missing paths, a
 * bad timestamp and a wrong type) become one entry with the first reason and every detail, so the
 * dead-letter count is the count of malformed payloads.
 */
export function oneDeadLetter(items: DeadItem[]): DeadItem[] {
  if (items.length <= 1) return items;
  const detail = items.map((d) => `${d.reason}: ${d.detail}`).join('; ');
  return [{ ...items[0]!, detail: detail.length > 2000 ? `${detail.slice(0, 2000)}…` : detail }];
}

/** The kind a value fixes for an untyped tag (JSON numbers are floats: 5 then 5.5 must not conflict). */
export function inferKind(v: unknown): FieldKind | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? 'float' : undefined;
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'string') return 'string';
  return undefined;
}

/**
 * Converts a value to a kind when that is lossless: numeric text → number, 0/1 and "true"/"false"
 * → boolean, numbers and booleans → text. Anything else (objects, null, 5.5 → integer, "running"
 * → float, booleans → numbers) is refused.
 */
export function convertValue(v: unknown, kind: FieldKind): { ok: true; value: Value } | { ok: false } {
  switch (kind) {
    case 'float':
      if (typeof v === 'number') return Number.isFinite(v) ? { ok: true, value: v } : { ok: false };
      // numeric text beyond float64 ("1e999") is no reading: it would be stored as ±Infinity
      if (typeof v === 'string' && NUMERIC.test(v) && Number.isFinite(Number(v))) return { ok: true, value: Number(v) };
      return { ok: false };
    case 'integer':
      if (typeof v === 'number') return Number.isSafeInteger(v) ? { ok: true, value: v } : { ok: false };
      if (typeof v === 'string' && /^\s*[-+]?\d+\s*$/.test(v) && Number.isSafeInteger(Number(v))) return { ok: true, value: Number(v) };
      return { ok: false };
    case 'boolean':
      if (typeof v === 'boolean') return { ok: true, value: v };
      if (v === 0 || v === 1) return { ok: true, value: v === 1 };
      if (typeof v === 'string') {
        const t = v.trim().toLowerCase();
        if (t === 'true' || t === '1') return { ok: true, value: true };
        if (t === 'false' || t === '0') return { ok: true, value: false };
      }
      return { ok: false };
    case 'string':
      if (typeof v === 'string') return { ok: true, value: v };
      if (typeof v === 'number' && Number.isFinite(v)) return { ok: true, value: String(v) };
      if (typeof v === 'boolean') return { ok: true, value: String(v) };
      return { ok: false };
  }
}

/** An untyped raw payload's value: "true"/"false" → boolean, numeric text → number, else the text. */
export function rawValue(text: string): Value {
  const t = text.trim();
  if (t === 'true' || t === 'false') return t === 'true';
  if (NUMERIC.test(t)) return Number(t);
  return text;
}

// ---------------------------------------------------------------------------------------------
// Decoding one message
// ---------------------------------------------------------------------------------------------

export type DeadReason =
  'NOT_JSON' | 'PATH_MISSING' | 'WRONG_TYPE' | 'OVERSIZE' | 'EMPTY' | 'BAD_TIMESTAMP' | 'BAD_CAPTURE' | 'NOT_SPARKPLUG' | 'UNKNOWN_ALIAS' | 'INTERNAL';

export interface DeadItem {
  device: string;
  topic: string;
  reason: DeadReason;
  detail: string;
  payload: string;
}

export interface TagPlan {
  /** the configured tag name */
  name: string;
  pattern: TopicPattern;
  path: PathStep[];
  pathText?: string;
  tsPath?: PathStep[];
  tsPathText?: string;
  /** configured type; undefined: learnt from the first value */
  type?: FieldKind;
  nameTemplate?: Template;
}

export interface DevicePlan {
  deviceId: string;
  format: 'json' | 'raw';
  maxPayloadSize: number;
  deviceTemplate?: Template;
  tags: TagPlan[];
  /** exact topic → tags (map lookup), then the wildcard tags (scanned) */
  exact: Map<string, TagPlan[]>;
  wildcard: TagPlan[];
  /** distinct subscription filters */
  filters: string[];
}

export interface PlanInput {
  id: string;
  format: 'json' | 'raw';
  maxPayloadSize: number;
  deviceTemplate?: string;
  tags: ReadonlyArray<{ name: string; topic?: string; path?: string; timestampPath?: string; type?: FieldKind; nameTemplate?: string }>;
}

/** Compiles a (validated) device config once; the hot path only looks up and reads. */
export function buildPlan(d: PlanInput): DevicePlan {
  const tags: TagPlan[] = d.tags.map((t) => {
    const plan: TagPlan = { name: t.name, pattern: compileTopicPattern(t.topic ?? ''), path: compileJsonPath(t.path ?? '') };
    if (t.path !== undefined) plan.pathText = t.path;
    if (t.timestampPath !== undefined) {
      plan.tsPath = compileJsonPath(t.timestampPath);
      plan.tsPathText = t.timestampPath;
    }
    if (t.type !== undefined) plan.type = t.type;
    if (t.nameTemplate !== undefined) plan.nameTemplate = compileTemplate(t.nameTemplate);
    return plan;
  });
  const exact = new Map<string, TagPlan[]>();
  const wildcard: TagPlan[] = [];
  for (const t of tags) {
    if (t.pattern.exact) {
      const list = exact.get(t.pattern.filter) ?? [];
      list.push(t);
      exact.set(t.pattern.filter, list);
    } else wildcard.push(t);
  }
  const plan: DevicePlan = {
    deviceId: d.id,
    format: d.format,
    maxPayloadSize: d.maxPayloadSize,
    tags,
    exact,
    wildcard,
    filters: [...new Set(tags.map((t) => t.pattern.filter))],
  };
  if (d.deviceTemplate !== undefined) plan.deviceTemplate = compileTemplate(d.deviceTemplate);
  return plan;
}

/** Remembers the kind an untyped field was fixed to (first value seen, or persisted). */
export interface KindMemory {
  get(field: string): FieldKind | undefined;
  set(field: string, kind: FieldKind): void;
}

export class MapKindMemory implements KindMemory {
  readonly map = new Map<string, FieldKind>();
  get(field: string) {
    return this.map.get(field);
  }
  set(field: string, kind: FieldKind) {
    this.map.set(field, kind);
  }
}

const IDENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** A payload as text for the dead-letter table: UTF-8 when it is valid text, else base64; at most DEAD_PAYLOAD_MAX bytes of it. */
export function payloadText(payload: Uint8Array): string {
  const cut = payload.subarray(0, DEAD_PAYLOAD_MAX);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(cut);
  } catch {
    return `base64:${Buffer.from(cut).toString('base64')}`;
  }
}

export interface Decoded {
  readings: Reading[];
  dead: DeadItem[];
  /** how many tags the topic matched (0: the message is not for this device) */
  matched: number;
}

/** The tags whose topic pattern matches, with their captures. */
export function matchTags(plan: DevicePlan, topic: string): Array<{ tag: TagPlan; captures: Record<string, string> }> {
  const out: Array<{ tag: TagPlan; captures: Record<string, string> }> = [];
  for (const t of plan.exact.get(topic) ?? []) out.push({ tag: t, captures: {} });
  for (const t of plan.wildcard) {
    const c = t.pattern.match(topic);
    if (c) out.push({ tag: t, captures: c });
  }
  return out;
}

/**
 * Decodes one JSON or raw message for a device: one reading per matching tag, and at most one dead
 * letter for whatever could not be read (its first reason, every tag's detail). `receivedAt` is the
 * timestamp when the payload has none.
 */
export function decodeMessage(plan: DevicePlan, topic: string, payload: Uint8Array, receivedAt: number, kinds: KindMemory): Decoded {
  const matches = matchTags(plan, topic);
  const out: Decoded = { readings: [], dead: [], matched: matches.length };
  if (matches.length === 0) return out;
  const firstDevice = plan.deviceTemplate ? plan.deviceTemplate.render(matches[0]!.captures) : plan.deviceId;
  const dead = (device: string, reason: DeadReason, detail: string) => out.dead.push({ device, topic, reason, detail, payload: payloadText(payload) });

  if (payload.length > plan.maxPayloadSize) {
    dead(firstDevice, 'OVERSIZE', `payload of ${payload.length} bytes exceeds maxPayloadSize ${plan.maxPayloadSize}`);
    return out;
  }
  if (payload.length === 0) {
    dead(firstDevice, 'EMPTY', 'empty payload');
    return out;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    dead(firstDevice, plan.format === 'json' ? 'NOT_JSON' : 'WRONG_TYPE', 'payload is not UTF-8 text');
    return out;
  }
  let doc: unknown;
  if (plan.format === 'json') {
    try {
      doc = JSON.parse(text);
    } catch (e) {
      dead(firstDevice, 'NOT_JSON', (e as Error).message);
      return out;
    }
  }

  for (const { tag, captures } of matches) {
    const device = plan.deviceTemplate ? plan.deviceTemplate.render(captures) : plan.deviceId;
    const field = tag.nameTemplate ? tag.nameTemplate.render(captures) : tag.name;
    if (!IDENT.test(device) || !IDENT.test(field)) {
      dead(plan.deviceId, 'BAD_CAPTURE', `topic gives device "${device}", field "${field}": expected letters, digits, "_", "-" or "."`);
      continue;
    }
    let raw: unknown;
    if (plan.format === 'json') {
      const got = getPath(doc, tag.path);
      if (!got.found) {
        dead(device, 'PATH_MISSING', `${field}: no value at path "${tag.pathText ?? ''}"`);
        continue;
      }
      raw = got.value;
    } else raw = tag.type ? text : rawValue(text);

    let ts = receivedAt;
    if (tag.tsPath) {
      const got = getPath(doc, tag.tsPath);
      const parsed = got.found ? parseTimestamp(got.value) : undefined;
      if (parsed === undefined) {
        dead(
          device,
          'BAD_TIMESTAMP',
          got.found
            ? `${field}: timestamp at "${tag.tsPathText}" is not epoch s/ms or ISO 8601: ${JSON.stringify(got.value)}`
            : `${field}: no timestamp at path "${tag.tsPathText}"`,
        );
        continue;
      }
      const problem = timestampProblem(parsed, receivedAt);
      if (problem !== undefined) {
        dead(device, 'BAD_TIMESTAMP', `${field}: timestamp at "${tag.tsPathText}" ${problem}: ${JSON.stringify(got.found ? got.value : null)}`);
        continue;
      }
      ts = parsed;
    }

    const kind = tag.type ?? kinds.get(field) ?? inferKind(raw);
    if (kind === undefined) {
      dead(device, 'WRONG_TYPE', `${field}: ${describe(raw)} is not a number, boolean or string`);
      continue;
    }
    const conv = convertValue(raw, kind);
    if (!conv.ok) {
      dead(device, 'WRONG_TYPE', `${field}: ${describe(raw)} does not convert to ${kind}${tag.type ? '' : ' (the kind fixed by the first value)'}`);
      continue;
    }
    if (!tag.type && kinds.get(field) === undefined) kinds.set(field, kind);
    out.readings.push({ device, tag: field, ts, kind, value: conv.value, quality: 'good' });
  }
  out.dead = oneDeadLetter(out.dead);
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}
