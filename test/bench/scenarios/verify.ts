/**
 * Verify (issue 7's benchmark): a 30-day window of 100 devices at 10 s in InfluxDB (25.9 M points
 * plus the heartbeat), judged by `fgw verify --source influx`: wall time and peak memory of the
 * verify process, against the time InfluxDB itself takes for the same slot aggregation (the
 * limit: the verifier cannot be faster than the database's GROUP BY time() over the window).
 */
import { join } from 'node:path';
import { startProcess } from '../../helpers/proc.js';
import { type BenchContext, type Scenario } from '../context.js';
import { ProcSampler, ROOT, baseConfig, createDatabase, dropDatabase, influxQuery, metric, round, writeConfig, writeLines } from '../lib.js';

const DAY = 86_400_000;

export const verifyScenario: Scenario = {
  name: 'verify',
  title: 'Verify: 30 days × 100 devices at 10 s from InfluxDB',
  default: false,
  async run(ctx: BenchContext) {
    const devices = ctx.quick ? 3 : 100;
    const days = ctx.quick ? 1 : 30;
    const stepS = 10;
    const url = ctx.influx.url;
    const db = 'verify';
    const to = Math.floor((Date.now() - DAY) / DAY) * DAY; // whole days, ending yesterday (UTC)
    const from = to - days * DAY;
    const ids = Array.from({ length: devices }, (_, d) => `dev-${String(d).padStart(3, '0')}`);
    await dropDatabase(url, db);
    await createDatabase(url, db);
    ctx.log(`verify: loading ${devices} devices × ${days} days at ${stepS} s into InfluxDB`);
    const t0 = Date.now();
    const points = await writeLines(url, db, function* () {
      for (let t = from / 1000; t < to / 1000; t += stepS) {
        yield `gateway_status,gateway=bench,site=bench-site heartbeat=true ${t}`;
        for (let d = 0; d < devices; d++) {
          // every 10th device is off one hour a day: an intermittent machine
          if (d % 10 === 9 && Math.floor(t / 3600) % 24 === 3) continue;
          yield `equipment,device=${ids[d]},gateway=bench,line=l1,process=p${d % 10},site=bench-site state=2i,count=${Math.floor(t / 60)}i ${t}`;
        }
      }
    });
    const loadS = (Date.now() - t0) / 1000;

    // the limit: InfluxDB's own aggregation by slot over the whole window
    const q0 = Date.now();
    await influxQuery(url, `SELECT count("state") FROM "equipment" WHERE time >= ${from}ms AND time < ${to}ms GROUP BY time(60s), "device" fill(none)`, db);
    const limitS = (Date.now() - q0) / 1000;

    const devs = ids.map((id, d) => ({
      id,
      line: 'l1',
      process: `p${d % 10}`,
      protocol: 'modbus',
      enabled: true,
      connection: { host: '127.0.0.1', port: 1, unitId: 1 },
      interval: `${stepS}s`,
      tags: [
        { name: 'state', role: 'state', area: 'holding', address: 0, type: 'uint16' },
        { name: 'count', role: 'counter', area: 'holding', address: 1, type: 'uint32' },
      ],
    }));
    const cfg = writeConfig(ctx.dir, 'verify', baseConfig({ dir: `${ctx.dir}/verify`, influxUrl: url, database: db, devices: devs }));
    const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const project = {
      project: {
        id: 'BENCH-1',
        name: 'bench',
        enterprise: { name: 'bench', uscc: '91330784MA2BENCH00' },
        period: { from: iso(from - DAY), to: iso(to + DAY) },
        claim: 'partial',
      },
      processes: Array.from({ length: 10 }, (_, p) => ({ id: `p${p}`, name: `step ${p}`, key: true })),
      equipment: ids.map((id, d) => ({ id, process: `p${d % 10}`, category: 'production', digitalControl: true })),
      invoices: [{ number: '1', date: iso(from), category: 'hardware', item: 'gateway', quantity: 1, amount: '100000.00', vat: '13000.00' }],
    };
    const projectFile = writeConfig(ctx.dir, 'project', project);
    const out = join(ctx.dir, 'verify-result.json');
    const proc = startProcess(
      process.execPath,
      [
        join(ROOT, 'gateway', 'bin', 'fgw.js'),
        'verify',
        '--config',
        cfg,
        '--project',
        projectFile,
        '--from',
        String(from),
        '--to',
        String(to),
        '--source',
        'influx',
        '--json',
        out,
        '--html',
        join(ctx.dir, 'verify.html'),
      ],
      { cwd: ROOT },
    );
    const sampler = new ProcSampler(proc.child.pid!, 100);
    const v0 = Date.now();
    const { code } = await proc.exited;
    const wallS = (Date.now() - v0) / 1000;
    const peak = Math.max(...sampler.samples.map((s) => s.rssMB));
    const cpuS = sampler.samples.at(-1)?.cpuS ?? 0;
    sampler.stop();
    if (code !== 0) throw new Error(`fgw verify exited ${code}: ${proc.output().slice(-2000)}`);
    const result = JSON.parse((await import('node:fs')).readFileSync(out, 'utf8')) as { classification: string; devices: Array<{ networked: boolean }> };
    await dropDatabase(url, db);
    return {
      name: 'verify',
      title: this.title,
      windowS: round(wallS, 1),
      params: { devices, days, intervalS: stepS, slot: '60 s (policy slotMin)', source: 'influx', pointsLoaded: points },
      metrics: [
        metric('points in the window (readings + heartbeats)', points, 'points'),
        metric('fgw verify wall time', wallS, 's', { limit: limitS, limitName: 'InfluxDB alone: count() GROUP BY time(60s), device over the window' }),
        metric('fgw verify CPU', cpuS, 'CPU s'),
        metric('fgw verify peak RSS', peak, 'MB'),
        metric('devices networked', result.devices.filter((d) => d.networked).length, 'devices'),
        metric('load time (2 writers, 5,000-line batches)', loadS, 's'),
      ],
      notes: [`classification ${result.classification}; every 10th device is off one hour a day (reporting rate 23/24 ≈ 0.958)`],
    };
  },
};
