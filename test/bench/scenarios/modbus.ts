/**
 * Modbus scenarios (3: 100 devices × 100 registers at 1 s and 100 ms; 6: latency from a register
 * change to the point in InfluxDB). The devices are ModbusSimulators (modbus-serial ServerTCP) in
 * their own process (modbus-servers.ts); the gateway is `fgw run`.
 */
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { freePort } from '../../helpers/net.js';
import { startProcess, type Proc } from '../../helpers/proc.js';
import { nodeArgs, windowMs, type Scenario } from '../context.js';
import {
  BENCH_DIST,
  ROOT,
  baseConfig,
  countValues,
  createDatabase,
  dropDatabase,
  influxQuery,
  metric,
  percentile,
  round,
  simulatorReads,
  sleep,
  spawnFgw,
  waitForValues,
  writeConfig,
  type Metric,
} from '../lib.js';

const require = createRequire(import.meta.url);
type Client = {
  connectTCP(host: string, opts: { port: number }): Promise<void>;
  setID(id: number): void;
  setTimeout(ms: number): void;
  readHoldingRegisters(addr: number, n: number): Promise<unknown>;
  close(cb: () => void): void;
};
const ModbusRTU = require('modbus-serial') as new () => Client;

const REGISTERS = 100;

interface Servers {
  proc: Proc;
  ports: number[];
  reads(): Promise<number>;
  set(index: number, address: number, value: number): void;
  stop(): Promise<void>;
}

async function startServers(count: number): Promise<Servers> {
  const ports: number[] = [];
  while (ports.length < count) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const proc = startProcess(process.execPath, [join(BENCH_DIST, 'modbus-servers.js'), '--ports', ports.join(','), '--registers', String(REGISTERS)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  await proc.waitForOutput(/BENCH_READY/, 60_000);
  return {
    proc,
    ports,
    reads: simulatorReads(proc),
    set: (index, address, value) => proc.child.send({ op: 'set', index, address, value }),
    stop: () => proc.kill('SIGTERM'),
  };
}

function devices(ports: number[], interval: string): unknown[] {
  return ports.map((port, i) => ({
    id: `plc-${i}`,
    line: 'bench-line',
    process: 'bench',
    protocol: 'modbus',
    connection: { host: '127.0.0.1', port, unitId: 1, timeout: '1s' },
    interval,
    tags: Array.from({ length: REGISTERS }, (_, r) => ({ name: `r${r}`, role: 'parameter', area: 'holding', address: r, type: 'uint16' })),
  }));
}

/** The limit: reads of 100 registers/s the same servers answer to bare modbus-serial clients, one connection per device, back to back. */
async function serverCapacity(ports: number[], ms: number): Promise<number> {
  const clients = await Promise.all(
    ports.map(async (port) => {
      const c = new ModbusRTU();
      await c.connectTCP('127.0.0.1', { port });
      c.setID(1);
      c.setTimeout(2000);
      return c;
    }),
  );
  let reads = 0;
  const end = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < end) {
        await c.readHoldingRegisters(0, REGISTERS);
        reads++;
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  await Promise.all(clients.map((c) => new Promise<void>((r) => c.close(() => r()))));
  return reads / s;
}

export const modbus: Scenario = {
  name: 'modbus',
  title: 'Modbus TCP: 100 devices × 100 registers at 1 s and at 100 ms',
  default: true,
  async run(ctx) {
    const n = ctx.quick ? 10 : 100;
    const servers = await startServers(n);
    const metrics: Metric[] = [];
    const notes: string[] = [];
    let total = 0;
    try {
      ctx.log('modbus: server capacity with bare clients');
      const capacity = await serverCapacity(servers.ports, ctx.quick ? 1000 : 5000);
      metrics.push(metric(`server capacity (bare modbus-serial clients, ${n} connections)`, capacity, 'reads/s'));
      for (const interval of [1000, 100]) {
        const db = `modbus_${interval}`;
        const ms = windowMs(ctx, 30_000, 1500);
        const warm = ctx.quick ? 1500 : 5000;
        await dropDatabase(ctx.influx.url, db);
        const cfg = writeConfig(
          ctx.dir,
          db,
          baseConfig({ dir: `${ctx.dir}/${db}`, influxUrl: ctx.influx.url, database: db, devices: devices(servers.ports, `${interval}ms`) }),
        );
        ctx.log(`modbus: gateway at ${interval} ms for ${ms} ms`);
        const gw = spawnFgw(cfg, warm + ms + 120_000, nodeArgs(ctx, db));
        try {
          await waitForValues(ctx.influx.url, db, 'equipment');
          await sleep(warm);
          const r0 = await servers.reads();
          const a = gw.sampler.mark('a')!;
          await sleep(ms);
          const r1 = await servers.reads();
          const b = gw.sampler.mark('b')!;
          const w = gw.sampler.window('a', 'b');
          await gw.stop();
          const landed = await countValues(ctx.influx.url, db, 'equipment', `time >= ${a.at}ms AND time < ${b.at}ms`);
          const scheduledPolls = (n * 1000) / interval;
          const polls = (r1 - r0) / w.wallS;
          const k = interval >= 1000 ? `${interval / 1000} s` : `${interval} ms`;
          const fast = interval === 100;
          metrics.push(
            metric(`${k}: polls answered`, polls, 'polls/s', { limit: scheduledPolls, limitName: 'scheduled' }),
            metric(`${k}: values landed in InfluxDB`, landed / w.wallS, 'values/s', { limit: scheduledPolls * REGISTERS, limitName: 'scheduled' }),
            metric(`${k}: gateway CPU`, w.cores, 'cores', fast ? { limit: 0.3, limitName: 'target', target: '< 0.3 core', met: w.cores < 0.3 } : {}),
            metric(`${k}: gateway peak RSS`, w.peakRssMB, 'MB', fast ? { limit: 150, limitName: 'target', target: '< 150 MB', met: w.peakRssMB < 150 } : {}),
            metric(`${k}: gateway mean RSS`, w.meanRssMB, 'MB'),
          );
          total += w.wallS;
          if (polls > capacity * 0.8) notes.push(`at ${k} the schedule asks for ${Math.round(scheduledPolls)} polls/s, near the servers' capacity`);
        } finally {
          await gw.stop();
          await dropDatabase(ctx.influx.url, db);
        }
      }
    } finally {
      await servers.stop();
    }
    return {
      name: 'modbus',
      title: this.title,
      windowS: round(total, 1),
      params: { devices: n, registersPerDevice: REGISTERS, tags: 'uint16 × 100 (one FC3 request per poll)', connections: n, flushInterval: '1s' },
      metrics,
      notes: [...notes, 'polls answered = requests the simulators served in the window; landed = values counted in InfluxDB with a timestamp in the window'],
    };
  },
};

export const latency: Scenario = {
  name: 'latency',
  title: 'Latency: register change → point in InfluxDB, 10 devices × 100 registers at 100 ms (10,000 values/s)',
  default: true,
  async run(ctx) {
    const n = 10;
    const servers = await startServers(n);
    const metrics: Metric[] = [];
    const notes: string[] = [];
    let total = 0;
    const url = ctx.influx.url;
    // one InfluxDB round trip of a single line: the physical floor of any latency here
    await createDatabase(url, 'rtt');
    const rtts: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await fetch(`${url}/write?db=rtt&precision=ms`, { method: 'POST', body: `rtt v=${i} ${Date.now()}` }).then((r) => r.arrayBuffer());
      rtts.push(performance.now() - t);
    }
    await dropDatabase(url, 'rtt');
    const rtt = percentile(
      rtts.sort((a, b) => a - b),
      50,
    )!;
    try {
      for (const flush of ctx.quick ? ['250ms'] : ['1s', '250ms']) {
        const flushMs = flush === '1s' ? 1000 : 250;
        const db = `latency_${flushMs}`;
        const ms = windowMs(ctx, 30_000, 2000);
        await dropDatabase(url, db);
        const cfg = writeConfig(
          ctx.dir,
          db,
          baseConfig({ dir: `${ctx.dir}/${db}`, influxUrl: url, database: db, influx: { flushInterval: flush }, devices: devices(servers.ports, '100ms') }),
        );
        ctx.log(`latency: flushInterval ${flush}, ${ms} ms`);
        const gw = spawnFgw(cfg, ms + 120_000, nodeArgs(ctx, db));
        const samples: number[] = [];
        try {
          // wait for data to flow
          const t0 = Date.now();
          while (Date.now() - t0 < 30_000) {
            const rows = await influxQuery(url, 'SELECT count(r0) FROM equipment', db).catch(() => []);
            if (rows.length && Number(rows[0]?.count) > 0) break;
            await sleep(100);
          }
          gw.sampler.mark('a');
          const state = Array.from({ length: n }, (_, i) => ({
            i,
            value: 40_000 + i * 1000,
            setAt: 0,
            pending: false,
            nextAt: Date.now() + Math.random() * 100,
          }));
          const end = Date.now() + ms;
          while (Date.now() < end || state.some((s) => s.pending)) {
            if (Date.now() > end + 10_000) break;
            const now = Date.now();
            for (const s of state) {
              if (!s.pending && now >= s.nextAt && now < end) {
                s.value = s.value >= 65_000 ? 40_000 + s.i : s.value + 1;
                s.setAt = Date.now();
                s.pending = true;
                servers.set(s.i, REGISTERS - 1, s.value);
              }
            }
            await sleep(50);
            const rows = await influxQuery(url, `SELECT last(r${REGISTERS - 1}) FROM equipment WHERE time > now() - 1m GROUP BY device`, db).catch(() => []);
            const seenAt = Date.now();
            for (const r of rows) {
              const s = state[Number(String(r.device).slice(4))];
              if (s?.pending && Number(r.last) === s.value) {
                samples.push(seenAt - s.setAt);
                s.pending = false;
                // the next change at a random phase of the flush cycle: a machine does not wait
                // for our flushes (changing right after one was seen measured the worst case only)
                s.nextAt = seenAt + Math.random() * flushMs;
              }
            }
          }
          gw.sampler.mark('b');
          const w = gw.sampler.window('a', 'b');
          total += w.wallS;
          const sorted = samples.sort((x, y) => x - y);
          const p99 = percentile(sorted, 99);
          const bound = 100 + flushMs + rtt;
          metrics.push(
            metric(`flush ${flush}: samples`, sorted.length, 'changes'),
            metric(`flush ${flush}: p50`, percentile(sorted, 50), 'ms', { limit: bound, limitName: 'poll + flushInterval + write RTT' }),
            metric(`flush ${flush}: p99`, p99, 'ms', {
              limit: bound,
              limitName: 'poll + flushInterval + write RTT',
              target: '< 1,000 ms',
              met: p99 !== null && p99 < 1000,
            }),
            metric(`flush ${flush}: max`, sorted.length ? sorted[sorted.length - 1]! : null, 'ms'),
            metric(`flush ${flush}: gateway CPU`, w.cores, 'cores'),
            metric(`flush ${flush}: gateway peak RSS`, w.peakRssMB, 'MB'),
          );
        } finally {
          await gw.stop();
          await dropDatabase(url, db);
        }
      }
    } finally {
      await servers.stop();
    }
    notes.push(`InfluxDB write round trip of one line: ${round(rtt, 2)} ms (median of 20)`);
    notes.push(
      'a register is changed in the simulator process; the change counts as seen when a query (every 50 ms) returns it, so figures include up to ~50 ms of probe granularity',
    );
    return {
      name: 'latency',
      title: this.title,
      windowS: round(total, 1),
      params: { devices: n, registersPerDevice: REGISTERS, interval: '100ms', valuesPerS: n * REGISTERS * 10, flushIntervals: ['1s', '250ms'] },
      metrics,
      notes,
    };
  },
};
