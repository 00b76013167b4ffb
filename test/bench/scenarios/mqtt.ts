/**
 * MQTT (2): JSON messages/s through Mosquitto into the gateway's store (QoS 1, persistent session,
 * PUBACK after the commit), against a bare mqtt.js subscriber receiving the same stream from the
 * same publisher (the limit). The publisher runs in its own process.
 */
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { join } from 'node:path';
import { openStore } from '../../../ingest/store/index.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { startProcess } from '../../helpers/proc.js';
import { nodeArgs, type BenchContext, type Scenario } from '../context.js';
import { BENCH_DIST, ROOT, baseConfig, metric, round, sleep, spawnFgw, writeConfig } from '../lib.js';

const TOPIC = 'bench/line-1/press-1/telemetry';

async function publish(broker: Mosquitto, count: number): Promise<{ published: number; ms: number }> {
  const p = startProcess(
    process.execPath,
    [join(BENCH_DIST, 'mqtt-publisher.js'), '--url', broker.url, '--topic', TOPIC, '--count', String(count), '--qos', '1'],
    { cwd: ROOT },
  );
  const m = await p.waitForOutput(/BENCH_DONE (\{.*\})/, 600_000);
  await p.exited;
  const d = JSON.parse(m[1]!) as { published: number; ms: number };
  return d;
}

/** The limit: a bare QoS 1 subscriber counting the same stream. */
async function bareSubscriber(broker: Mosquitto, count: number): Promise<{ received: number; rate: number; pubRate: number }> {
  const sub = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-bare', clean: true });
  await sub.subscribeAsync(TOPIC, { qos: 1 });
  let received = 0;
  let first = 0;
  let last = 0;
  sub.on('message', () => {
    const now = performance.now();
    if (received === 0) first = now;
    last = now;
    received++;
  });
  const pub = await publish(broker, count);
  const t = Date.now();
  while (received < count && Date.now() - t < 30_000) await sleep(50);
  await sub.endAsync();
  return { received, rate: received > 1 ? (received - 1) / ((last - first) / 1000) : 0, pubRate: pub.published / (pub.ms / 1000) };
}

export const mqttScenario: Scenario = {
  name: 'mqtt',
  title: 'MQTT: JSON messages through Mosquitto into the store (QoS 1)',
  default: true,
  async run(ctx: BenchContext) {
    const count = ctx.durationMs !== undefined ? Math.round(ctx.durationMs * 15) : ctx.quick ? 5_000 : 300_000;
    const broker = await startMosquitto();
    try {
      ctx.log(`mqtt: bare subscriber, ${count} messages`);
      const limit = await bareSubscriber(broker, count);
      const device = {
        id: 'press-1',
        protocol: 'mqtt',
        connection: { url: broker.url, clientId: 'bench-gw', qos: 1 },
        tags: [
          { name: 'a', role: 'counter', topic: TOPIC, path: 'a', type: 'float' },
          { name: 'b', role: 'parameter', topic: TOPIC, path: 'b', type: 'float' },
        ],
      };
      const storeDir = join(ctx.dir, 'mqtt-store');
      const cfg = writeConfig(ctx.dir, 'mqtt', baseConfig({ dir: ctx.dir, storage: { path: storeDir }, devices: [device] }));
      ctx.log('mqtt: gateway');
      const gw = spawnFgw(cfg, 900_000, nodeArgs(ctx, 'mqtt'));
      try {
        const t = Date.now();
        while (!/as bench-gw/.test(broker.output()) && Date.now() - t < 60_000) await sleep(50);
        await sleep(ctx.quick ? 800 : 1500); // the subscription follows the CONNACK
        gw.sampler.mark('a');
        const pub = await publish(broker, count);
        const db = new Database(join(storeDir, 'store.db'), { readonly: true, fileMustExist: true });
        db.pragma('busy_timeout = 5000');
        // press-1's tag a: the points of its device whose shape has it (one message, one point), through the (dev, ts) index
        const countA = () => {
          const a = db.prepare(`SELECT id, dev FROM series WHERE measurement = 'data' AND device = 'press-1' AND tag = 'a'`).get() as
            { id: number; dev: number } | undefined;
          if (a === undefined) return 0;
          const shapes = (db.prepare('SELECT id, series FROM shapes').raw().all() as Array<[number, string]>)
            .filter(([, series]) => series.split(',').includes(String(a.id)))
            .map(([id]) => id);
          return Number(
            db
              .prepare(`SELECT count(*) FROM points WHERE dev = ? AND shape IN (${shapes.join(',') || 'NULL'})`)
              .pluck()
              .get(a.dev),
          );
        };
        // wait until every message is stored, or nothing moves for 10 s
        let n = 0;
        let lastChange = Date.now();
        while (n < count && Date.now() - lastChange < 10_000) {
          const m = countA();
          if (m !== n) lastChange = Date.now();
          n = m;
          await sleep(200);
        }
        gw.sampler.mark('b');
        const w = gw.sampler.window('a', 'b');
        // the values of tag a, read back through the store as `fgw query` does
        const reader = openStore({ path: storeDir, maxSizeBytes: 2 ** 40, retentionMs: 0, limitsIntervalMs: 0 });
        const as = reader.query({ device: 'press-1', tag: 'a' });
        await reader.close();
        const stats = {
          rows: as.length,
          distinctA: new Set(as.map((r) => r.value)).size,
          first: as.reduce((m, r) => Math.min(m, r.ts), as[0]?.ts ?? 0),
          last: as.reduce((m, r) => Math.max(m, r.ts), as[0]?.ts ?? 0),
        };
        db.close();
        const rate = stats.distinctA > 1 ? (stats.distinctA - 1) / ((stats.last - stats.first) / 1000) : 0;
        await gw.stop();
        const lost = count - stats.distinctA;
        return {
          name: 'mqtt',
          title: this.title,
          windowS: round(w.wallS, 1),
          params: {
            messages: count,
            tagsPerMessage: 2,
            qos: 1,
            payload: '{"seq":i,"a":i,"b":x}',
            publisher: 'mqtt.js in its own process, 500 QoS 1 publishes in flight',
            broker: 'Mosquitto 2.0.11, max_inflight_messages 100',
          },
          metrics: [
            metric('bare subscriber received (the limit)', limit.rate, 'msg/s'),
            metric('publisher rate (limit run)', limit.pubRate, 'msg/s'),
            metric('into the gateway store', rate, 'msg/s', {
              limit: limit.rate,
              limitName: 'bare subscriber',
              target: "Mosquitto's QoS 1 rate",
              met: rate >= 0.9 * limit.rate,
            }),
            metric('publisher rate (gateway run)', pub.published / (pub.ms / 1000), 'msg/s'),
            metric('loss (published − stored distinct)', lost, 'messages', { target: '0', met: lost === 0 }),
            metric('duplicates stored', stats.rows - stats.distinctA, 'messages'),
            metric('gateway CPU', w.cores, 'cores'),
            metric('gateway CPU per million messages', w.cpuS / (count / 1e6), 'CPU s'),
            metric('gateway peak RSS', w.peakRssMB, 'MB'),
          ],
          notes: [`the bare subscriber got ${limit.received} of ${count}`, 'rates are first-to-last receive time (store: the readings’ receive timestamps)'],
        };
      } finally {
        await gw.stop();
      }
    } finally {
      await broker.close();
    }
  },
};
