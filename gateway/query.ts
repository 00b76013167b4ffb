/** `fgw query`: stored readings from the embedded store, or from InfluxDB with --source influx. */
import type { Quality, Value } from '../adapters/types.js';
import { ErrorCodes, GatewayError } from '../config/errors.js';
import type { GatewayConfig } from './schema.js';
import { influxClient, influxQueryError } from '../ingest/influx-writer.js';
import { influxIdent, influxString } from '../ingest/influxql.js';
import { openStore } from '../ingest/store/index.js';

export interface QueryRow {
  ts: number;
  device: string;
  tag: string;
  value: Value | null;
  quality: Quality;
  error?: string;
}

export async function queryReadings(
  config: GatewayConfig,
  source: 'store' | 'influx',
  q: { device: string; tag?: string; from?: number; to?: number; limit: number },
): Promise<QueryRow[]> {
  if (source === 'store') {
    const store = openStore({ path: config.storage.path, maxSizeBytes: config.storage.maxSize, retentionMs: config.storage.retention });
    try {
      return store.query({ device: q.device, tag: q.tag, from: q.from, to: q.to, limit: q.limit, order: 'asc', measurement: 'data' }).map((r) => ({
        ts: r.ts,
        device: r.device,
        tag: r.tag,
        value: r.value,
        quality: r.quality,
        ...(r.error ? { error: r.error } : {}),
      }));
    } finally {
      await store.close();
    }
  }
  if (!config.influx) throw new GatewayError(ErrorCodes.USAGE, '--source influx: the config has no influx section');
  const influx = influxClient(config.influx);
  const where = [`"device" = ${influxString(q.device)}`];
  if (q.from !== undefined) where.push(`time >= ${q.from}ms`);
  if (q.to !== undefined) where.push(`time < ${q.to}ms`);
  const fields = q.tag ? influxIdent(q.tag) : '*';
  const text = `SELECT ${fields} FROM ${influxIdent(config.influx.measurement)} WHERE ${where.join(' AND ')} ORDER BY time ASC LIMIT ${q.limit}`;
  let rows: Array<Record<string, unknown>>;
  try {
    rows = await influx.query<Record<string, unknown>>(text, { precision: 'ms' as never });
  } catch (e) {
    throw influxQueryError(config.influx, (e as Error).message ?? String(e), e);
  }
  const device = config.devices.find((d) => d.id === q.device);
  const tagNames = q.tag ? [q.tag] : (device?.tags.map((t) => t.name) ?? []);
  const out: QueryRow[] = [];
  for (const row of rows) {
    const ts = (row.time as { getTime(): number }).getTime();
    for (const tag of tagNames) {
      const v = row[tag];
      if (v === null || v === undefined) continue;
      // only good and uncertain readings reach InfluxDB; uncertain ones carry the tag uncertain=true
      out.push({ ts, device: q.device, tag, value: v as Value, quality: row.uncertain === 'true' ? 'uncertain' : 'good' });
    }
  }
  return out;
}
