/**
 * Northbound (not in the default set): the gateway runtime fed by the in-process synthetic source
 * (ingest-gateway.ts: 100 devices × 10 float tags every 10 ms), the InfluxDB forwarder running, and
 * one `north:` JSON target on Mosquitto at QoS 1 (maxInflight 100): messages per second the broker
 * acknowledged, against a bare mqtt.js publisher of the same messages (same JSON, same topics, same
 * 100 QoS 1 publishes in flight, its own process) through the same broker: the limit. A subscriber
 * in the runner counts what arrived (distinct by the message's seq), so loss is counted.
 */
import mqtt from 'mqtt';
import { join } from 'node:path';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { startProcess } from '../../helpers/proc.js';
import { nodeArgs, windowMs, type BenchContext, type Scenario } from '../context.js';
import { BENCH_DIST, ROOT, baseConfig, countValues, dropDatabase, metric, round, sleep, spawnBenchScript, writeConfig } from '../lib.js';

const TAGS = 10;
const TICK_MS = 10;
const INFLIGHT = 100;

/** The limit: the same messages from a bare publisher process, `count` of them. */
async function barePublisher(broker: Mosquitto, topic: string, devices: number, count: number): Promise<{ rate: number }> {
  const p = startProcess(
    process.execPath,
    [
      join(BENCH_DIST, 'mqtt-publisher.js'),
      '--url',
      broker.url,
      '--topic',
      topic,
      '--count',
      String(count),
      '--qos',
      '1',
      '--window',
      String(INFLIGHT),
      '--north',
      `${devices}x${TAGS}`,
    ],
    { cwd: ROOT },
  );
  const m = await p.waitForOutput(/BENCH_DONE (\{.*\})/, 600_000);
  await p.exited;
  const d = JSON.parse(m[1]!) as { published: number; ms: number };
  return { rate: d.published / (d.ms / 1000) };
}

/** Counts the messages arriving on `filter`, distinct by their "seq". */
async function counter(broker: Mosquitto, filter: string): Promise<{ received: () => number; distinct: () => number; close: () => Promise<void> }> {
  const sub = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `bench-north-sub-${process.pid}`, clean: true });
  await sub.subscribeAsync(filter, { qos: 1 });
  const seen = new Set<number>();
  let received = 0;
  sub.on('message', (_t, payload) => {
    received++;
    const s = payload.toString('latin1');
    const i = s.indexOf('"seq":');
    if (i >= 0) seen.add(parseInt(s.slice(i + 6, i + 26), 10));
  });
  return { received: () => received, distinct: () => seen.size, close: () => sub.endAsync() };
}

export const northScenario: Scenario = {
  name: 'north',
  title: 'Northbound: JSON messages at QoS 1 through Mosquitto, InfluxDB forwarder running',
  default: false,
  async run(ctx: BenchContext) {
    // values/s offered; NORTH_RATE for experiments (e.g. the rate at which live publishing keeps up)
    const rate = ctx.quick ? 10_000 : Number(process.env.NORTH_RATE ?? 100_000);
    const ms = windowMs(ctx, 30_000, 1500);
    const devices = (rate * TICK_MS) / 1000 / TAGS;
    const msgRate = (devices * 1000) / TICK_MS;
    const broker = await startMosquitto();
    try {
      // the limit first: the same messages, as many as 10 s of the offered rate (2 s quick)
      const limitCount = Math.round(msgRate * (ctx.quick ? 2 : 10));
      ctx.log(`north: limit, a bare publisher of ${limitCount} messages`);
      const limitSub = await counter(broker, 'limit/#');
      const limit = await barePublisher(broker, 'limit', devices, limitCount);
      await limitSub.close();

      const db = 'north';
      await dropDatabase(ctx.influx.url, db);
      const cfg = baseConfig({ dir: join(ctx.dir, 'north'), influxUrl: ctx.influx.url, database: db });
      cfg.north = [{ name: 'bench', system: 'bench', url: broker.url, format: 'json', topic: 'bench/north/{device}', maxInflight: INFLIGHT }];
      const file = writeConfig(ctx.dir, 'north', cfg);
      const sub = await counter(broker, 'bench/north/+');
      ctx.log(`north: gateway at ${rate} values/s (${msgRate} messages/s) for ${ms} ms`);
      const gw = spawnBenchScript(
        'ingest-gateway',
        [
          '--config',
          file,
          '--rate',
          String(rate),
          '--tags',
          String(TAGS),
          '--tick-ms',
          String(TICK_MS),
          '--duration-ms',
          String(ms),
          '--flush',
          '--report-ms',
          '500',
        ],
        nodeArgs(ctx, 'north'),
      );
      try {
        const start = await gw.waitEvent('START', 60_000);
        gw.sampler.mark('start');
        const offered = await gw.waitEvent('OFFERED', ms + 120_000);
        gw.sampler.mark('offered');
        const done = await gw.waitEvent('DONE', 1_800_000);
        gw.sampler.mark('done');
        const w = gw.sampler.window('start', 'done');
        const live = gw.sampler.window('start', 'offered');
        await gw.stop();
        const offeredMsgs = Number(offered.offered) / TAGS;
        // every message is acknowledged by now; the subscriber gets the last ones just after
        const t = Date.now();
        while (sub.distinct() < offeredMsgs && Date.now() - t < 30_000) await sleep(100);
        await sub.close();
        const ticks = gw.events.filter((e) => e.kind === 'TICK' && e.data.north);
        const pub = (e: (typeof ticks)[number]) => Number((e.data.north as { published: number }).published);
        const t0 = Number(start.at);
        const tOff = Number(offered.at);
        const inWindow = ticks.filter((e) => e.at >= t0 && e.at <= tOff);
        const liveRate = inWindow.length > 1 ? (pub(inWindow.at(-1)!) - pub(inWindow[0]!)) / ((inWindow.at(-1)!.at - inWindow[0]!.at) / 1000) : 0;
        const e2eRate = offeredMsgs / ((Number(done.at) - t0) / 1000);
        // after the source stopped: the backlog drained with the process otherwise idle
        const after = ticks.filter((e) => e.at >= tOff);
        const drainS = (Number(done.at) - tOff) / 1000;
        const drainRate = after.length > 0 && drainS > 0.5 ? (offeredMsgs - pub(after[0]!)) / ((Number(done.at) - after[0]!.at) / 1000) : null;
        const maxBacklog = Math.max(0, ...ticks.map((e) => Number((e.data.north as { backlog: number }).backlog)));
        const landed = await countValues(ctx.influx.url, db, 'equipment');
        await dropDatabase(ctx.influx.url, db);
        const lost = offeredMsgs - sub.distinct();
        return {
          name: 'north',
          title: this.title,
          windowS: round((Number(done.at) - t0) / 1000, 1),
          params: {
            offered: `${rate} values/s = ${msgRate} messages/s (${devices} devices × ${TAGS} float tags every ${TICK_MS} ms)`,
            qos: 1,
            maxInflight: INFLIGHT,
            offerMs: ms,
            influx: 'forwarder running (batch 5000, flush 1 s)',
            broker: 'Mosquitto 2.0.11, max_inflight_messages 100',
          },
          metrics: [
            metric('offered', msgRate, 'messages/s'),
            metric('bare publisher, the same messages (the limit)', limit.rate, 'messages/s'),
            metric('published by the gateway while the source ran', liveRate, 'messages/s', { limit: limit.rate, limitName: 'bare publisher' }),
            metric('published after the source stopped (the backlog draining)', drainRate, 'messages/s', { limit: limit.rate, limitName: 'bare publisher' }),
            metric('published, end to end (first offered → last acknowledged)', e2eRate, 'messages/s', { limit: limit.rate, limitName: 'bare publisher' }),
            metric('readings published, end to end', e2eRate * TAGS, 'readings/s'),
            metric('loss (offered − received distinct)', lost, 'messages', { target: '0', met: lost === 0 }),
            metric('duplicates received', sub.received() - sub.distinct(), 'messages'),
            metric('InfluxDB values landed', landed, 'values', { limit: Number(offered.offered), limitName: 'offered' }),
            metric('largest north backlog seen', maxBacklog, 'rows'),
            metric('gateway CPU while the source ran', live.cores, 'cores'),
            metric('gateway CPU, start → everything acknowledged', w.cores, 'cores'),
            metric('gateway peak RSS', w.peakRssMB, 'MB'),
          ],
          notes: [
            'the gateway process holds the synthetic source, the store, the InfluxDB forwarder and the north publisher',
            `the bare publisher published ${limitCount} messages; the limit subscriber received ${limitSub.distinct()} distinct`,
            'rates from the publisher counter in the gateway (BENCH_TICK every 500 ms); loss from a subscriber in the runner',
          ],
        };
      } finally {
        await gw.stop();
      }
    } finally {
      await broker.close();
    }
  },
};
