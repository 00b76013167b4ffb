/**
 * What the hub asks InfluxDB, per gateway: point counts per device, field and bucket (a bucket is
 * a whole number of verifier slots, about an hour), heartbeat counts per bucket, each device's
 * newest reading and the gateway's newest heartbeat. All aggregated in the database (InfluxQL
 * `count(*) ... GROUP BY time(<bucket>, <offset>), "device"`), never raw points: one row per
 * device and bucket comes back, about 720 per device for 30 days.
 *
 * Buckets instead of slots: a slot-level answer for a city (10,000 devices × 43,200 slots of 60 s
 * in 30 days) is 432 million rows, and InfluxDB 1.x subqueries that would count non-empty slots
 * in the database run at a fifth of the speed of a plain count. facts.ts turns the bucket counts
 * back into slots (README "Hub figures and the verifier").
 */
import { influxIdent, influxString } from '../../ingest/influxql.js';
import { STATUS_MEASUREMENT } from '../../ingest/line-protocol.js';
import { type HubInflux, type RawSeries } from './influx.js';

export const HOUR_MS = 3_600_000;

/** The bucket of a slot size: the largest whole number of slots not above an hour (one slot when the slot is longer). */
export function bucketMs(slotMs: number): number {
  return slotMs >= HOUR_MS ? slotMs : slotMs * Math.floor(HOUR_MS / slotMs);
}

/**
 * One device's buckets, as compact arrays indexed by bucket (bucket i starts at from + i × bucketMs):
 * the largest point count of any field (each point carries at least one field) and, per field,
 * whether it had a point. About 3 kB per device for 30 days of hours.
 */
export interface DeviceBuckets {
  points: Int32Array;
  fields: Map<string, Uint8Array>;
}

export interface GatewayCounts {
  gateway: string;
  bucketMs: number;
  /** start of bucket 0 (ms) */
  from: number;
  to: number;
  /** number of buckets in [from, to) */
  n: number;
  /** device id → its buckets (devices without a point in [from, to) are absent) */
  devices: Map<string, DeviceBuckets>;
  /** heartbeat points per bucket */
  heartbeats: Int32Array;
}

export interface LiveState {
  gateway: string;
  /** newest heartbeat (ms), undefined when none since `since` */
  lastHeartbeat?: number;
  /** device id → newest reading (ms) since `since` */
  lastReading: Map<string, number>;
}

const range = (from: number, to: number) => `time >= ${Math.trunc(from)}ms AND time < ${Math.trunc(to)}ms`;
const offsetOf = (from: number, b: number) => ((from % b) + b) % b;

/**
 * Readings of uncertain quality carry the tag uncertain=true (ingest/line-protocol.ts): unless the
 * policy counts them as good (`uncertainIsGood`), they are left out like the verifier leaves them out.
 */
const quality = (uncertainIsGood: boolean | undefined) => (uncertainIsGood === false ? ` AND "uncertain" != 'true'` : '');

/** The two statements of one gateway's bucket counts over [from, to). */
export function countStatements(o: { measurement: string; gateway: string; from: number; to: number; bucketMs: number; uncertainIsGood?: boolean }): {
  data: string;
  heartbeat: string;
} {
  const g = `"gateway" = ${influxString(o.gateway)}`;
  const group = `GROUP BY time(${o.bucketMs}ms, ${offsetOf(o.from, o.bucketMs)}ms)`;
  return {
    data: `SELECT count(*) FROM ${influxIdent(o.measurement)} WHERE ${g}${quality(o.uncertainIsGood)} AND ${range(o.from, o.to)} ${group}, "device" fill(none)`,
    heartbeat: `SELECT count("heartbeat") FROM ${influxIdent(STATUS_MEASUREMENT)} WHERE ${g} AND ${range(o.from, o.to)} ${group} fill(none)`,
  };
}

export function parseCounts(gateway: string, from: number, to: number, b: number, data: readonly RawSeries[], heartbeat: readonly RawSeries[]): GatewayCounts {
  const n = Math.max(0, Math.ceil((to - from) / b));
  const index = (t: number) => Math.floor((t - from) / b);
  const devices = new Map<string, DeviceBuckets>();
  for (const s of data) {
    const id = s.tags?.device;
    if (id === undefined) continue;
    const d: DeviceBuckets = { points: new Int32Array(n), fields: new Map() };
    const cols = s.columns.map((c) => c.replace(/^count_/, ''));
    for (const row of s.values) {
      const i = index(Number(row[0]));
      if (i < 0 || i >= n) continue;
      for (let c = 1; c < row.length; c++) {
        const v = row[c];
        if (typeof v !== 'number' || !(v > 0)) continue;
        if (v > d.points[i]!) d.points[i] = v;
        let f = d.fields.get(cols[c]!);
        if (!f) d.fields.set(cols[c]!, (f = new Uint8Array(n)));
        f[i] = 1;
      }
    }
    if (d.fields.size > 0) devices.set(id, d);
  }
  const heartbeats = new Int32Array(n);
  for (const s of heartbeat) {
    for (const row of s.values) {
      const i = index(Number(row[0]));
      const v = Number(row[1]);
      if (i >= 0 && i < n && v > 0) heartbeats[i] = v;
    }
  }
  return { gateway, bucketMs: b, from, to, n, devices, heartbeats };
}

/** One gateway's bucket counts over [from, to) (two statements, one request). */
export async function gatewayCounts(
  influx: HubInflux,
  o: { measurement: string; gateway: string; from: number; to: number; bucketMs: number; uncertainIsGood?: boolean },
): Promise<GatewayCounts> {
  const st = countStatements(o);
  const [data, hb] = await influx.run([st.data, st.heartbeat]);
  return parseCounts(o.gateway, o.from, o.to, o.bucketMs, data!, hb!);
}

/** Newest reading per device (of good quality unless `uncertainIsGood`) and newest heartbeat of one gateway since `since`. */
export function liveStatements(o: { measurement: string; gateway: string; since: number; until?: number; uncertainIsGood?: boolean }): {
  readings: string;
  heartbeat: string;
} {
  const g = `"gateway" = ${influxString(o.gateway)}`;
  const t = `time >= ${Math.trunc(o.since)}ms${o.until === undefined ? '' : ` AND time < ${Math.trunc(o.until)}ms`}`;
  return {
    readings: `SELECT * FROM ${influxIdent(o.measurement)} WHERE ${g}${quality(o.uncertainIsGood)} AND ${t} GROUP BY "device" ORDER BY time DESC LIMIT 1`,
    heartbeat: `SELECT last("heartbeat") FROM ${influxIdent(STATUS_MEASUREMENT)} WHERE ${g} AND ${t}`,
  };
}

export async function liveState(
  influx: HubInflux,
  o: { measurement: string; gateway: string; since: number; until?: number; uncertainIsGood?: boolean },
): Promise<LiveState> {
  const st = liveStatements(o);
  const [readings, hb] = await influx.run([st.readings, st.heartbeat]);
  const lastReading = new Map<string, number>();
  for (const s of readings!) {
    const id = s.tags?.device;
    const t = s.values[0]?.[0];
    if (id !== undefined && typeof t === 'number') lastReading.set(id, t);
  }
  const out: LiveState = { gateway: o.gateway, lastReading };
  const t = hb![0]?.values[0]?.[0];
  if (typeof t === 'number') out.lastHeartbeat = t;
  return out;
}

/** Joins the bucket counts of adjacent ranges of one gateway (history, then today), on the grid of the first. */
export function mergeCounts(parts: readonly GatewayCounts[]): GatewayCounts {
  if (parts.length === 1) return parts[0]!;
  const first = parts[0]!;
  const b = first.bucketMs;
  const to = Math.max(...parts.map((p) => p.to));
  const n = Math.max(0, Math.ceil((to - first.from) / b));
  const out: GatewayCounts = { gateway: first.gateway, bucketMs: b, from: first.from, to, n, devices: new Map(), heartbeats: new Int32Array(n) };
  for (const p of parts) {
    const shift = Math.round((p.from - first.from) / b);
    out.heartbeats.set(p.heartbeats.subarray(0, Math.max(0, Math.min(p.n, n - shift))), shift);
    for (const [id, d] of p.devices) {
      let m = out.devices.get(id);
      if (!m) out.devices.set(id, (m = { points: new Int32Array(n), fields: new Map() }));
      m.points.set(d.points.subarray(0, Math.max(0, Math.min(p.n, n - shift))), shift);
      for (const [name, f] of d.fields) {
        let g = m.fields.get(name);
        if (!g) m.fields.set(name, (g = new Uint8Array(n)));
        g.set(f.subarray(0, Math.max(0, Math.min(p.n, n - shift))), shift);
      }
    }
  }
  return out;
}
