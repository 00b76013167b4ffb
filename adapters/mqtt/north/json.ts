/**
 * The JSON northbound format, pure: one message per device point (values and errors, like Neuron's
 * values-format), the retained device status, the gateway heartbeat and its will, and the
 * Neuron-style write request and response.
 */
import type { FieldKind, Quality, Value } from '../../types.js';

export interface PointReading {
  tag: string;
  kind: FieldKind;
  value: Value | null;
  quality: Quality;
  error?: string;
}

export interface Point {
  device: string;
  ts: number;
  tie: number;
  seq: number;
  readings: readonly PointReading[];
}

/**
 * `{"ts", "device", "seq", "values": {...}, "errors": {...}}`; `tie` when the reading shares its
 * millisecond with an earlier one of its series, `uncertain` naming the values of uncertain quality.
 */
export function dataMessage(p: Point): string {
  const values: Record<string, Value> = {};
  const errors: Record<string, string> = {};
  let uncertain: Record<string, string> | undefined;
  for (const r of p.readings) {
    if (r.quality === 'bad' || r.value === null) errors[r.tag] = r.error ?? 'BAD';
    else {
      values[r.tag] = r.value;
      if (r.quality === 'uncertain') (uncertain ??= {})[r.tag] = r.error ?? 'UNCERTAIN';
    }
  }
  const msg: Record<string, unknown> = { ts: p.ts, device: p.device, seq: p.seq };
  if (p.tie > 0) msg.tie = p.tie;
  msg.values = values;
  msg.errors = errors;
  if (uncertain) msg.uncertain = uncertain;
  return JSON.stringify(msg);
}

export interface DeviceStatusInfo {
  device: string;
  name?: string | undefined;
  line?: string | undefined;
  process?: string | undefined;
  connected: boolean;
  lastError?: string | undefined;
  lastErrorAt?: number | undefined;
  /** each published tag: its field type when known, unit, whether it can be written */
  tags: Record<string, { type: FieldKind | null; unit?: string | undefined; writable: boolean }>;
}

/** The retained status of a device: link state, last error and the types of its values. */
export function statusMessage(ts: number, s: DeviceStatusInfo): string {
  const msg: Record<string, unknown> = { ts, device: s.device };
  for (const k of ['name', 'line', 'process'] as const) if (s[k] !== undefined) msg[k] = s[k];
  msg.connected = s.connected;
  if (s.lastError !== undefined) msg.lastError = s.lastError;
  if (s.lastErrorAt !== undefined) msg.lastErrorAt = s.lastErrorAt;
  msg.tags = s.tags;
  return JSON.stringify(msg);
}

export interface Heartbeat {
  gateway: string;
  site?: string | undefined;
  devices: number;
  connected: number;
  startedAt: number;
}

export function heartbeatMessage(ts: number, h: Heartbeat): string {
  return JSON.stringify({
    ts,
    gateway: h.gateway,
    ...(h.site !== undefined ? { site: h.site } : {}),
    online: true,
    startedAt: h.startedAt,
    devices: h.devices,
    connected: h.connected,
  });
}

/** The will on the heartbeat topic (and what a clean stop publishes): the gateway is offline. */
export function offlineMessage(gateway: string, site: string | undefined): string {
  return JSON.stringify({ gateway, ...(site !== undefined ? { site } : {}), online: false });
}

export type WriteRequest =
  { ok: true; uuid?: string; device: string; tag: string; value: Value } | { ok: false; uuid?: string; device?: string; tag?: string; error: string };

/** `{"uuid", "device", "tag", "value"}` (uuid optional, echoed in the response). */
export function parseWriteRequest(payload: Buffer): WriteRequest {
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, error: 'expected an object {"uuid", "device", "tag", "value"}' };
  const b = body as Record<string, unknown>;
  const out: { uuid?: string; device?: string; tag?: string } = {};
  if (typeof b.uuid === 'string' && b.uuid.length <= 200) out.uuid = b.uuid;
  if (typeof b.device === 'string' && b.device.length <= 200) out.device = b.device;
  if (typeof b.tag === 'string' && b.tag.length <= 200) out.tag = b.tag;
  if (out.device === undefined) return { ok: false, ...out, error: 'expected "device": a device id' };
  if (out.tag === undefined) return { ok: false, ...out, error: 'expected "tag": a tag name' };
  const v = b.value;
  if (typeof v !== 'number' && typeof v !== 'boolean' && !(typeof v === 'string' && v.length <= 1024))
    return { ok: false, ...out, error: 'expected "value": a number, boolean or string (at most 1024 characters)' };
  return { ok: true, ...out, device: out.device, tag: out.tag, value: v };
}

/** `{"uuid", "error": 0}` on success, `{"uuid", "error": "GW_ERR_...", "message"}` otherwise. */
export function writeResponse(uuid: string | undefined, outcome: { code?: string; message?: string }): string {
  const base = uuid !== undefined ? { uuid } : {};
  return JSON.stringify(outcome.code === undefined ? { ...base, error: 0 } : { ...base, error: outcome.code, message: outcome.message ?? '' });
}
