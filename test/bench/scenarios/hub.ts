/**
 * Hub (issue 14's benchmark): 200 enterprises × 50 devices × 30 days at 60 s in InfluxDB (432 M
 * points, plus one heartbeat a minute per gateway), one project folder per enterprise, then `fgw
 * hub` as its own process: the project page and the overview cold (empty cache) and warm, the
 * hub's CPU and peak RSS. The limit: InfluxDB's own time for the same aggregate statements the
 * hub sends (counts.ts and the verifier's audit query), run straight against it with the same
 * concurrency.
 *
 * The data is line protocol in 10,000-line requests from 3 writers, generated a local day at a
 * time with each series' points of the day together (what InfluxDB ingests fastest); every 10th
 * device of each enterprise is off one hour a day (03:00 local) so the figures are not all 100 %.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { countStatements, liveStatements, bucketMs } from '../../../gateway/hub/counts.js';
import { startProcess } from '../../helpers/proc.js';
import { type BenchContext, type Scenario } from '../context.js';
import { ProcSampler, ROOT, createDatabase, dropDatabase, metric, round, writeLines } from '../lib.js';

const DAY = 86_400_000;
const OFFSET = 8 * 3_600_000;
const DB = 'city';
const BUREAU = 'bench-bureau-token';

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await f();
  return { ms: performance.now() - t0, value };
}

async function pool<T>(items: readonly T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await f(items[i++]!);
    }),
  );
}

export const hubScenario: Scenario = {
  name: 'hub',
  title: 'Hub: 200 enterprises × 50 devices × 30 days at 60 s in InfluxDB',
  default: false,
  async run(ctx: BenchContext) {
    const enterprises = ctx.quick ? 3 : 200;
    const devices = ctx.quick ? 5 : 50;
    // --duration <s> sets the span of the data (e.g. 259200 for 3 days) on a machine too busy for 30
    const days = ctx.durationMs !== undefined ? Math.max(1, Math.round(ctx.durationMs / DAY)) : ctx.quick ? 1 : 30;
    const stepS = 60;
    const url = ctx.influx.url;
    const gws = Array.from({ length: enterprises }, (_, e) => `gw-${String(e).padStart(3, '0')}`);
    const devs = Array.from({ length: devices }, (_, d) => `d${String(d).padStart(2, '0')}`);
    const now = Date.now();
    const today0 = Math.floor((now + OFFSET) / DAY) * DAY - OFFSET;
    const from = today0 - (days - 1) * DAY;
    await dropDatabase(url, DB);
    await createDatabase(url, DB);

    // one local day at a time, each series' points of the day together (InfluxDB takes runs of one
    // series faster than every series at one timestamp: 1.8× here)
    const gen = (a: number, b: number) =>
      function* () {
        for (let d0 = Math.floor((a + OFFSET) / DAY) * DAY - OFFSET; d0 < b; d0 += DAY) {
          const t0 = Math.ceil(Math.max(a, d0) / 60_000) * 60;
          const t1 = Math.min(b, d0 + DAY) / 1000;
          for (const g of gws) {
            for (let t = t0; t < t1; t += stepS) yield `gateway_status,gateway=${g} heartbeat=true ${t}`;
            for (let d = 0; d < devices; d++) {
              for (let t = t0; t < t1; t += stepS) {
                // every 10th device is off from 03:00 to 04:00 local
                if (d % 10 === 9 && Math.floor(((t * 1000 + OFFSET) % DAY) / 3_600_000) === 3) continue;
                yield `equipment,device=${devs[d]},gateway=${g} state=2i,count=${t % 100000}i ${t}`;
              }
            }
          }
        }
      };
    ctx.log(
      `hub: loading ${enterprises} × ${devices} devices × ${days} days at ${stepS} s (${((enterprises * (devices + 1) * days * 1440) / 1e6).toFixed(1)} M lines)`,
    );
    const l0 = Date.now();
    let points = await writeLines(url, DB, gen(from, now), { writers: 3, batch: 10_000 });
    // the load takes minutes: top up to the present so the devices are live when the hub looks
    const loaded = Date.now();
    points += await writeLines(url, DB, gen(now, loaded), { writers: 3, batch: 10_000 });
    const loadS = (Date.now() - l0) / 1000;
    ctx.log(`hub: ${points} lines in ${loadS.toFixed(0)} s`);

    // project folders: one per enterprise, its project.yaml and its gateway config
    const projects = join(ctx.dir, 'projects');
    const iso = (ms: number) => new Date(ms + OFFSET).toISOString().slice(0, 10);
    for (const [e, g] of gws.entries()) {
      const p = join(projects, g);
      mkdirSync(p, { recursive: true });
      writeFileSync(
        join(p, 'project.yaml'),
        `project:\n  id: BENCH-${String(e).padStart(3, '0')}\n  name: 试点线 ${e}\n  enterprise: { name: 企业 ${e}, uscc: 9133078400BENCH${String(e).padStart(3, '0')}, town: 镇 ${e % 12} }\n  period: { from: ${iso(from)}, to: ${iso(now + 365 * DAY)} }\n  claim: partial\nprocesses:\n${Array.from({ length: 5 }, (_, s) => `  - { id: s${s}, key: ${s === 0} }`).join('\n')}\nequipment:\n${devs.map((d, i) => `  - { id: ${d}, process: s${i % 5}, category: production }`).join('\n')}\ninvoices:\n  - { number: "B-${e}", date: ${iso(from)}, category: hardware, item: 网关, quantity: 1, amount: "100000.00" }\n`,
      );
      writeFileSync(
        join(p, 'gateway.yaml'),
        `gateway: { id: ${g}, statusInterval: 60s }\nstorage: { path: ./data }\ndevices:\n${devs.map((d, i) => `  - { id: ${d}, process: s${i % 5}, protocol: modbus, interval: 60s, connection: { host: 127.0.0.1, port: ${10000 + i} }, tags: [{ name: state, role: state, area: holding, address: 0 }, { name: count, role: counter, area: holding, address: 1 }] }`).join('\n')}\n`,
      );
    }
    writeFileSync(
      join(ctx.dir, 'hub.yaml'),
      `hub: { id: bench-hub, logLevel: warn }\ninflux: { url: "${url}", database: ${DB} }\nprojects: ./projects\nhttp:\n  listen: 127.0.0.1:0\n  tokens:\n    - { name: bureau, token: ${BUREAU}, role: official }\ncache: { ttl: 30m, figures: 30m, history: 30m }\n`,
    );

    // the limit: the statements the hub sends, straight to InfluxDB with the hub's concurrency (2);
    // once before the hub (InfluxDB's files not yet in the page cache) and once after
    const influxAlone = async () => {
      const to = Math.floor(Date.now() / 60_000) * 60_000;
      const b = bucketMs(60_000);
      const dayOffset = ((-OFFSET % DAY) + DAY) % DAY;
      const stmts: string[] = [];
      for (const g of gws) {
        const h = countStatements({ measurement: 'equipment', gateway: g, from, to: today0, bucketMs: b });
        const t = countStatements({ measurement: 'equipment', gateway: g, from: today0, to, bucketMs: b });
        const l = liveStatements({ measurement: 'equipment', gateway: g, since: from, until: to });
        const audits = ['read', 'write'].map(
          (a) =>
            `SELECT count("route") FROM "gateway_audit" WHERE "action" = '${a}' AND "result" = 'ok' AND "gateway" = '${g}' AND time >= ${from}ms AND time < ${to}ms GROUP BY time(1d, ${dayOffset}ms), "system", "device" fill(none)`,
        );
        stmts.push([h.data, h.heartbeat].join(';'), [t.data, t.heartbeat].join(';'), [l.readings, l.heartbeat].join(';'), ...audits);
      }
      return timed(() =>
        pool(stmts, 2, async (q) => {
          const r = await fetch(`${url}/query`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ q, db: DB, epoch: 'ms' }),
            signal: AbortSignal.timeout(3_600_000),
          });
          await r.arrayBuffer();
          if (r.status !== 200) throw new Error(`bench hub: limit query HTTP ${r.status}`);
        }),
      );
    };
    const limitBefore = await influxAlone();
    ctx.log(`hub: the hub's statements straight to InfluxDB: ${(limitBefore.ms / 1000).toFixed(1)} s`);
    const hub = startProcess(process.execPath, [join(ROOT, 'gateway', 'bin', 'fgw.js'), 'hub', '--config', join(ctx.dir, 'hub.yaml')], { cwd: ctx.dir });
    const hubUrl = (await hub.waitForOutput(/hub: (http:\/\/127\.0\.0\.1:\d+)\//, 60_000))[1]!;
    const sampler = new ProcSampler(hub.child.pid!, 250);
    const get = async (path: string) => {
      const r = await fetch(`${hubUrl}${path}`, { headers: { authorization: `Bearer ${BUREAU}` }, signal: AbortSignal.timeout(3_600_000) });
      const body = await r.text();
      if (r.status !== 200) throw new Error(`bench hub: ${path}: HTTP ${r.status} ${body.slice(0, 500)}`);
      return body;
    };
    try {
      const first = 'BENCH-000';
      sampler.mark('start');
      const projectCold = await timed(() => get(`/api/projects/${first}`));
      sampler.mark('project');
      const overviewCold = await timed(() => get('/api/projects'));
      sampler.mark('overview');
      const overviewWarm = await timed(() => get('/api/projects'));
      const projectWarm = await timed(() => get(`/api/projects/${first}`));
      sampler.mark('warm');
      const overview = JSON.parse(overviewCold.value) as {
        projects: Array<{ ok: boolean; classification: string; networkingRates: { now: number | null; d30: number | null }; alarms: unknown[] }>;
      };
      const metricsText = await get('/metrics');
      const hubInfluxS = Number(/^fgw_hub_influx_query_seconds_total (\S+)$/m.exec(metricsText)?.[1] ?? NaN);
      const statements = Number(/^fgw_hub_influx_statements_total (\S+)$/m.exec(metricsText)?.[1] ?? NaN);

      const limitAfter = await influxAlone();
      const cold = sampler.window('project', 'overview');
      const peak = sampler.hwmMB() ?? Math.max(...sampler.samples.map((s) => s.rssMB));
      const rates = overview.projects.map((p) => p.networkingRates.d30).filter((x): x is number => x !== null);
      return {
        name: 'hub',
        title: this.title,
        windowS: round((overviewCold.ms + projectCold.ms) / 1000, 1),
        params: {
          enterprises,
          devicesPerEnterprise: devices,
          days,
          intervalS: stepS,
          heartbeatS: 60,
          bucket: `${bucketMs(60_000) / 60_000} min`,
          hubConcurrency: 2,
          pointsLoaded: points,
        },
        metrics: [
          metric('lines loaded (readings + heartbeats)', points, 'lines'),
          metric('load time (3 writers, 10,000-line requests)', loadS, 's'),
          metric('load rate', points / loadS, 'lines/s'),
          metric('project page, cold (empty cache)', projectCold.ms / 1000, 's'),
          metric('overview, cold (every project)', overviewCold.ms / 1000, 's', {
            limit: limitBefore.ms / 1000,
            limitName: 'InfluxDB alone: the same statements, 2 at a time, before the hub ran',
          }),
          metric('the same statements to InfluxDB alone, again after the hub', limitAfter.ms / 1000, 's'),
          metric('overview, warm (cached)', overviewWarm.ms, 'ms'),
          metric('project page, warm (cached)', projectWarm.ms, 'ms'),
          metric('hub CPU during the cold overview', cold.cpuS, 'CPU s'),
          metric('hub time waiting for InfluxDB (all requests so far)', hubInfluxS, 's'),
          metric('InfluxQL statements sent by the hub', statements, 'statements'),
          metric('hub peak RSS', peak, 'MB'),
        ],
        notes: [
          `${overview.projects.length} projects, ${overview.projects.filter((p) => p.ok).length} readable; 30-day networking rate ${rates.length ? `${Math.min(...rates)}–${Math.max(...rates)}` : 'n/a'}; classifications ${[...new Set(overview.projects.map((p) => p.classification))].join(', ')}`,
          'every 10th device is off one hour a day (reporting rate 23/24 ≈ 0.958, networked at the partial tier, not at the full tier)',
        ],
      };
    } finally {
      sampler.stop();
      await hub.kill('SIGTERM');
      await dropDatabase(url, DB);
    }
  },
};
