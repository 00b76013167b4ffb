/**
 * FactQuery over InfluxDB 1.x (InfluxQL through the `influx` package). Everything is aggregated in
 * the database: `count(*) ... GROUP BY time(<slot>, <offset>) fill(none)` per device, never raw
 * readings. Schema (user contract, ingest/line-protocol.ts): device data in `influx.measurement`
 * (tags gateway, site, line, process, device; one field per tag), the heartbeat in `gateway_status`
 * (field heartbeat), audits in `gateway_audit` (tags system, device; fields action, route, result, ...).
 * Only non-bad readings are forwarded; readings of uncertain quality carry the tag `uncertain=true`
 * and are left out unless the policy counts them as good (measure.uncertainCountsAsGood), exactly
 * as the store backend does.
 */
import { influxClient, influxQueryError } from '../ingest/influx-writer.js';
import { influxIdent, influxString } from '../ingest/influxql.js';
import { DAY_MS, type AuditDay, type CommandSample, type FactQuery } from './facts.js';

export interface InfluxFactOptions {
  url: string;
  database: string;
  measurement?: string;
  username?: string;
  password?: string;
  /** filter on the `gateway` tag (a database may hold several gateways) */
  gateway?: string;
}

interface RawSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

/** one aggregation query over a 30-day window of 100 devices takes about 30 s (npm run bench -- verify) */
const QUERY_TIMEOUT_MS = 10 * 60_000;

export function influxFacts(o: InfluxFactOptions): FactQuery {
  // the same client (URL, credentials, no hidden retries) as fgw query; long windows take a while
  const client = influxClient({ url: o.url, database: o.database, username: o.username ?? '', password: o.password ?? '', timeout: QUERY_TIMEOUT_MS });
  const data = influxIdent(o.measurement ?? 'equipment');
  const gw = o.gateway ? ` AND "gateway" = ${influxString(o.gateway)}` : '';
  const range = (from: number, to: number) => `time >= ${Math.trunc(from)}ms AND time < ${Math.trunc(to)}ms`;

  async function q(text: string): Promise<RawSeries[]> {
    let body: { results?: Array<{ error?: string; series?: RawSeries[] }> };
    try {
      body = (await client.queryRaw(text, { database: o.database, precision: 'ms' })) as typeof body;
    } catch (e) {
      throw influxQueryError(o, (e as Error).message ?? String(e), e);
    }
    const out: RawSeries[] = [];
    for (const r of body.results ?? []) {
      if (r.error) throw influxQueryError(o, r.error);
      out.push(...(r.series ?? []));
    }
    return out;
  }

  const offsetFor = (from: number, slotMs: number) => ((from % slotMs) + slotMs) % slotMs;

  async function slotsWithPoints(select: string, from: number, to: number, slotMs: number): Promise<Map<number, number>> {
    const series = await q(`${select} AND ${range(from, to)} GROUP BY time(${slotMs}ms, ${offsetFor(from, slotMs)}ms) fill(none)`);
    const out = new Map<number, number>();
    for (const s of series) {
      for (const row of s.values) {
        const t = Number(row[0]);
        let n = 0;
        for (let i = 1; i < row.length; i++) n += typeof row[i] === 'number' ? (row[i] as number) : 0;
        if (n > 0 && t >= from) out.set(Math.floor((t - from) / slotMs), (out.get(Math.floor((t - from) / slotMs)) ?? 0) + n);
      }
    }
    return out;
  }

  /** only good readings, or good and uncertain ones */
  const quality = (uncertainIsGood: boolean) => (uncertainIsGood ? '' : ` AND "uncertain" != 'true'`);
  const col = (s: RawSeries, row: unknown[], name: string): string => {
    const i = s.columns.indexOf(name);
    const v = i < 0 ? s.tags?.[name] : row[i];
    return v === null || v === undefined ? '' : String(v);
  };
  const samples = (series: RawSeries[]): CommandSample[] => {
    const out: CommandSample[] = [];
    for (const s of series) {
      for (const row of s.values) {
        out.push({
          ts: Number(row[0]),
          actor: col(s, row, 'actor'),
          system: col(s, row, 'system'),
          device: col(s, row, 'device'),
          tag: col(s, row, 'tag'),
          value: col(s, row, 'value'),
          result: col(s, row, 'result'),
        });
      }
    }
    return out;
  };

  return {
    name: 'influx',
    async slotCounts({ device, from, to, slotMs, uncertainIsGood }) {
      const m = await slotsWithPoints(
        `SELECT count(*) FROM ${data} WHERE "device" = ${influxString(device)}${gw}${quality(uncertainIsGood)}`,
        from,
        to,
        slotMs,
      );
      return [...m.entries()].sort((a, b) => a[0] - b[0]).map(([slot, good]) => ({ slot, good, bad: 0 }));
    },
    async tagsSeen({ device, from, to, uncertainIsGood }) {
      const series = await q(`SELECT count(*) FROM ${data} WHERE "device" = ${influxString(device)}${gw}${quality(uncertainIsGood)} AND ${range(from, to)}`);
      const seen = new Set<string>();
      for (const s of series) {
        s.columns.forEach((c, i) => {
          if (i === 0 || !c.startsWith('count_')) return;
          if (s.values.some((row) => typeof row[i] === 'number' && (row[i] as number) > 0)) seen.add(c.slice('count_'.length));
        });
      }
      return [...seen].sort();
    },
    async lastGoodTs({ device, to, uncertainIsGood }) {
      const series = await q(
        `SELECT * FROM ${data} WHERE "device" = ${influxString(device)}${gw}${quality(uncertainIsGood)} AND time < ${Math.trunc(to)}ms ORDER BY time DESC LIMIT 1`,
      );
      const t = series[0]?.values[0]?.[0];
      return typeof t === 'number' ? t : undefined;
    },
    async heartbeatSlots({ from, to, slotMs }) {
      const m = await slotsWithPoints(`SELECT count("heartbeat") FROM "gateway_status" WHERE time > 0${gw}`, from, to, slotMs);
      return [...m.keys()].sort((a, b) => a - b);
    },
    async lossEpisodes({ from, to }) {
      // one point per closed episode, stamped when it closed (never before the episode): every
      // episode touching [from, to) is at time >= from; keep those that began before `to`
      const out: Array<{ device: string; reason: string; from: number; to: number; count: number }> = [];
      for (const s of await q(
        `SELECT "lost", "lostFrom", "lostTo", "lostReason" FROM "gateway_status" WHERE time >= ${Math.trunc(from)}ms AND "lost" > 0${gw} GROUP BY "device"`,
      )) {
        const device = s.tags?.device ?? '';
        const col = (name: string) => s.columns.indexOf(name);
        for (const row of s.values) {
          const [count, lf, lt, reason] = [row[col('lost')], row[col('lostFrom')], row[col('lostTo')], row[col('lostReason')]];
          if (typeof count !== 'number' || typeof lf !== 'number' || typeof lt !== 'number' || !device) continue;
          if (lf < to && lt >= from) out.push({ device, reason: typeof reason === 'string' ? reason : '', from: lf, to: lt, count });
        }
      }
      return out;
    },
    async auditDays({ from, to, offsetMs }) {
      const out: Array<Omit<AuditDay, 'gateway'>> = [];
      const dayOffset = ((-offsetMs % DAY_MS) + DAY_MS) % DAY_MS;
      for (const action of ['read', 'write'] as const) {
        // the route is a field: list the routes present, then count per route
        const ok = `"action" = ${influxString(action)} AND "result" = 'ok'${gw} AND ${range(from, to)}`;
        const routes = new Set<string>();
        for (const s of await q(`SELECT DISTINCT("route") FROM "gateway_audit" WHERE ${ok}`))
          for (const row of s.values) if (typeof row[1] === 'string') routes.add(row[1]);
        for (const route of [...routes].sort()) {
          const series = await q(
            `SELECT count("route") FROM "gateway_audit" WHERE ${ok} AND "route" = ${influxString(route)} GROUP BY time(1d, ${dayOffset}ms), "system", "device" fill(none)`,
          );
          for (const s of series) {
            for (const row of s.values) {
              const n = Number(row[1]);
              if (!(n > 0)) continue;
              out.push({
                day: Math.floor((Number(row[0]) + offsetMs) / DAY_MS),
                action,
                system: s.tags?.system ?? '',
                device: s.tags?.device ?? '',
                route,
                count: n,
              });
            }
          }
        }
      }
      return out;
    },
    async commandSamples({ from, to, limit }) {
      return samples(
        await q(
          `SELECT * FROM "gateway_audit" WHERE "action" = 'write'${gw} AND ${range(from, to)} ORDER BY time DESC LIMIT ${Math.max(1, Math.trunc(limit))}`,
        ),
      );
    },
    async okCommandSamplesPerDevice({ from, to, limit }) {
      const series = await q(
        `SELECT * FROM "gateway_audit" WHERE "action" = 'write' AND "result" = 'ok'${gw} AND ${range(from, to)} GROUP BY "device", "system" ORDER BY time DESC LIMIT ${Math.max(1, Math.trunc(limit))}`,
      );
      return samples(series).sort((a, b) => b.ts - a.ts);
    },
    async close() {
      /* the influx client holds no connection open between requests */
    },
  };
}
