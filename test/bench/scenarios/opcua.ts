/**
 * OPC UA (4): 10,000 monitored items (10 devices × 1,000 Double variables, one session and one
 * subscription each) at 1 s; the server changes every variable once a second. Gateway CPU, RSS,
 * and notification loss: changes made by the server against values landed in InfluxDB.
 */
import { join } from 'node:path';
import { startProcess } from '../../helpers/proc.js';
import { nodeArgs, windowMs, type BenchContext, type Scenario } from '../context.js';
import { BENCH_DIST, ROOT, baseConfig, countValues, dropDatabase, metric, round, sleep, spawnFgw, writeConfig } from '../lib.js';

export const opcua: Scenario = {
  name: 'opcua',
  title: 'OPC UA: 10,000 monitored items at 1 s',
  default: true,
  async run(ctx: BenchContext) {
    const devices = ctx.quick ? 2 : 10;
    const items = ctx.quick ? 50 : 1000;
    const ms = windowMs(ctx, 30_000, 2500);
    const server = startProcess(process.execPath, [join(BENCH_DIST, 'opcua-server.js'), '--devices', String(devices), '--items', String(items)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, XDG_CONFIG_HOME: join(ctx.dir, 'xdg-server') },
    });
    const url = ctx.influx.url;
    const db = 'opcua';
    try {
      const ready = await server.waitForOutput(/BENCH_READY (\{.*\})/, 180_000);
      const endpoint = (JSON.parse(ready[1]!) as { endpoint: string }).endpoint;
      await dropDatabase(url, db);
      const devs = Array.from({ length: devices }, (_, d) => ({
        id: `cnc-${d}`,
        line: 'bench-line',
        process: 'machining',
        protocol: 'opcua',
        connection: { endpoint, securityMode: 'None', trustUnknownServers: true },
        interval: '1s',
        tags: Array.from({ length: items }, (_, i) => ({ name: `t${i}`, role: 'parameter', nodeId: `ns=1;s=Dev${d}.T${i}` })),
      }));
      const cfg = writeConfig(ctx.dir, 'opcua', baseConfig({ dir: `${ctx.dir}/opcua`, influxUrl: url, database: db, devices: devs }));
      ctx.log(`opcua: ${devices * items} items, ${ms} ms`);
      const gw = spawnFgw(cfg, ms + 300_000, nodeArgs(ctx, 'opcua'));
      try {
        // subscribed: the initial values (0) of every item are in InfluxDB
        const t = Date.now();
        for (;;) {
          const n = await countValues(url, db, 'equipment').catch(() => 0);
          if (n >= devices * items) break;
          if (Date.now() - t > 180_000) throw new Error(`only ${n} of ${devices * items} initial values arrived`);
          await sleep(250);
        }
        gw.sampler.mark('a');
        server.child.send({ op: 'start', intervalMs: 1000 });
        await sleep(ms);
        const done = new Promise<{ ticks: number; changes: number; firstTs: number; lastTs: number }>((resolve) =>
          server.child.once('message', (m) => resolve(m as never)),
        );
        server.child.send({ op: 'stop' });
        const made = await done;
        gw.sampler.mark('b');
        const w = gw.sampler.window('a', 'b');
        await sleep(ctx.quick ? 1500 : 2500); // the last publish
        await gw.stop();
        const landed = await countValues(url, db, 'equipment', `time >= ${made.firstTs}ms AND time <= ${made.lastTs}ms`);
        const lost = made.changes - landed;
        await dropDatabase(url, db);
        return {
          name: 'opcua',
          title: this.title,
          windowS: round(w.wallS, 1),
          params: {
            items: devices * items,
            sessions: devices,
            itemsPerSubscription: items,
            interval: '1s',
            samplingInterval: '1s (the device interval)',
            queueSize: 10,
            dataType: 'Double',
            security: 'None',
          },
          metrics: [
            metric('changes made by the server', made.changes / Math.max(1, made.ticks), 'values/s'),
            metric('values landed in InfluxDB', landed / Math.max(1, made.ticks), 'values/s', {
              limit: made.changes / Math.max(1, made.ticks),
              limitName: 'changes made',
            }),
            metric('notification loss (changes − landed)', lost, 'values', { target: '0', met: lost === 0 }),
            metric('gateway CPU', w.cores, 'cores', { limit: 0.1, limitName: 'target', target: '< 10 % of a core', met: w.cores < 0.1 }),
            metric('gateway peak RSS', w.peakRssMB, 'MB', { limit: 250, limitName: 'target', target: '< 250 MB', met: w.peakRssMB < 250 }),
            metric('gateway mean RSS', w.meanRssMB, 'MB'),
            metric('gateway RSS at start (after subscribing)', gw.sampler.get('a')!.rssMB, 'MB'),
          ],
          notes: [`${made.ticks} ticks of ${devices * items} changes each; loss counts values with a source timestamp of a tick that are not in InfluxDB`],
        };
      } finally {
        await gw.stop();
      }
    } finally {
      await server.kill('SIGTERM');
    }
  },
};
