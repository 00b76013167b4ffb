/**
 * Scenarios fed by the in-process synthetic source (ingest-gateway.ts): ingest (1), backlog drain
 * (5), scale curve (7) and soak. The gateway process is the real runtime (store + forwarder);
 * InfluxDB is the real influxd.
 */
import { influxSchema } from '../../../ingest/schema.js';
import { InfluxWriter } from '../../../ingest/influx-writer.js';
import { LineFormatter, READINGS_PRECISION } from '../../../ingest/line-protocol.js';
import type { StoredReading } from '../../../ingest/types.js';
import { nodeArgs, windowMs, type BenchContext, type Scenario } from '../context.js';
import {
  baseConfig,
  countValues,
  createDatabase,
  dropDatabase,
  influxQuery,
  metric,
  percentile,
  round,
  sleep,
  spawnBenchScript,
  writeConfig,
  type GatewayProc,
  type Metric,
} from '../lib.js';

const TAGS = 10;
const TICK_MS = 10;
const BATCH = 5000;

/**
 * The limit: the same line protocol (LineFormatter output for the same devices, tags and tick), in
 * the same batch size, written straight to InfluxDB by one writer, one request at a time (the next
 * batch is built while the current request is in flight). Returns field values per second.
 */
export async function influxDirectRate(
  url: string,
  db: string,
  devices: number,
  tags: number,
  ms: number,
): Promise<{ valuesPerS: number; linesPerS: number; requests: number; failures: number }> {
  await createDatabase(url, db);
  const writer = new InfluxWriter(influxSchema.parse({ url, database: db }));
  const fmt = new LineFormatter({ measurement: 'equipment', gateway: { id: 'bench', site: 'bench-site' }, deviceMeta: () => ({}) });
  const t0ts = Date.now() - 3_600_000;
  let tick = 0;
  let seq = 0;
  const build = (): { body: string; values: number; lines: number } => {
    const rows: StoredReading[] = [];
    // 5000 lines: whole ticks of all devices, like the forwarder's batches
    while (rows.length < BATCH * tags) {
      const ts = t0ts + tick * TICK_MS;
      for (let d = 0; d < devices && rows.length < BATCH * tags; d++) {
        for (let i = 0; i < tags; i++)
          rows.push({
            seq: ++seq,
            measurement: 'data',
            device: `dev-${d}`,
            tag: `f${i}`,
            kind: 'float',
            ts,
            value: (((tick + d) * 31 + i * 7) % 10_000) / 10,
            quality: 'good',
          });
      }
      tick++;
    }
    const lines = fmt.readings(rows);
    return { body: lines.map((l) => l.text).join('\n'), values: rows.length, lines: lines.length };
  };
  let next = build();
  let values = 0;
  let lines = 0;
  let requests = 0;
  let failures = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    const cur = next;
    const req = writer.write(cur.body, { precision: READINGS_PRECISION });
    next = build();
    const res = await req;
    requests++;
    if (res.kind === 'ok') {
      values += cur.values;
      lines += cur.lines;
    } else failures++;
  }
  const s = (performance.now() - start) / 1000;
  await dropDatabase(url, db);
  return { valuesPerS: values / s, linesPerS: lines / s, requests, failures };
}

interface IngestRun {
  offered: number;
  landed: number;
  offerS: number;
  /** first reading offered → InfluxDB acknowledged the last one */
  e2eS: number;
  tailMs: number;
  cpuS: number;
  cores: number;
  peakRssMB: number;
  meanRssMB: number;
  maxBacklog: number;
  rss: Array<[number, number]>;
  /** the gateway's own V8 heap in use (MB), from its reports: [s after the start, MB] */
  heap: Array<[number, number]>;
  /** with an outage: InfluxDB stopped / started again (s after the start), drained (s after it came back) */
  outage?: { downS: number; upS: number; backlogAtUp: number; drainedS: number | null };
}

/**
 * One gateway run at a fixed offered rate for `ms`, flushed, counted in InfluxDB. With `outage`,
 * InfluxDB is stopped `atMs` after the start for `forMs` while the source goes on.
 */
async function ingestRun(ctx: BenchContext, name: string, rate: number, ms: number, db: string, outage?: { atMs: number; forMs: number }): Promise<IngestRun> {
  const url = ctx.influx.url;
  await dropDatabase(url, db);
  const cfg = writeConfig(
    ctx.dir,
    name,
    baseConfig({ dir: `${ctx.dir}/${name}`, influxUrl: url, database: db, ...(outage ? { influx: { maxBackoff: '1s' } } : {}) }),
  );
  const gw = spawnBenchScript(
    'ingest-gateway',
    ['--config', cfg, '--rate', String(rate), '--tags', String(TAGS), '--tick-ms', String(TICK_MS), '--duration-ms', String(ms), '--flush'],
    nodeArgs(ctx, name),
  );
  try {
    const start = await gw.waitEvent('START', 60_000);
    gw.sampler.mark('start');
    let out: IngestRun['outage'];
    if (outage) {
      const t0 = Number(start.at);
      await sleep(Math.max(0, t0 + outage.atMs - Date.now()));
      ctx.log(`${name}: InfluxDB stopped for ${Math.round(outage.forMs / 1000)} s`);
      await ctx.influx.stop();
      const downS = (Date.now() - t0) / 1000;
      await sleep(Math.max(0, t0 + outage.atMs + outage.forMs - Date.now()));
      const before = gw.events.length;
      await ctx.influx.start();
      const up = Date.now();
      ctx.log(`${name}: InfluxDB back`);
      const atUp = Number(
        gw.events
          .slice(0, before)
          .filter((e) => e.kind === 'TICK')
          .at(-1)?.data.backlog ?? 0,
      );
      // drained: the backlog back to what live data alone keeps in flight (2.5 s of readings)
      let drainedS: number | null = null;
      while (drainedS === null && !gw.events.some((e) => e.kind === 'OFFERED')) {
        const tick = gw.events.slice(before).find((e) => e.kind === 'TICK' && e.at >= up && Number(e.data.backlog) <= rate * 2.5);
        if (tick) drainedS = (tick.at - up) / 1000;
        else await sleep(500);
      }
      out = { downS, upS: (up - t0) / 1000, backlogAtUp: atUp, drainedS };
    }
    const offeredEv = await gw.waitEvent('OFFERED', ms + 120_000);
    gw.sampler.mark('offered');
    const done = await gw.waitEvent('DONE', 1_800_000);
    gw.sampler.mark('done');
    const w = gw.sampler.window('start', 'done');
    await gw.stop();
    const landed = await countValues(url, db, 'equipment');
    const t0 = Number(start.at);
    const maxBacklog = Math.max(0, ...gw.events.filter((e) => e.kind === 'TICK').map((e) => Number(e.data.backlog)));
    const rssSeries = gw.sampler.samples
      .filter((s) => s.at >= gw.sampler.get('start')!.at)
      .map((s) => [round((s.at - t0) / 1000, 1), round(s.rssMB, 1)] as [number, number]);
    await dropDatabase(url, db);
    return {
      offered: Number(offeredEv.offered),
      landed,
      offerS: (Number(offeredEv.at) - t0) / 1000,
      e2eS: (Number(done.at) - t0) / 1000,
      tailMs: Number(done.flushedMs),
      cpuS: w.cpuS,
      cores: w.cores,
      peakRssMB: w.peakRssMB,
      meanRssMB: w.meanRssMB,
      maxBacklog,
      rss: rssSeries,
      heap: gw.events
        .filter((e) => e.kind === 'TICK' && typeof e.data.heapMB === 'number')
        .map((e) => [round((e.at - t0) / 1000, 1), round(Number(e.data.heapMB), 1)] as [number, number]),
      ...(out ? { outage: out } : {}),
    };
  } catch (e) {
    await gw.stop();
    throw e;
  }
}

export const ingest: Scenario = {
  name: 'ingest',
  title: 'Ingest: in-process source → embedded store → InfluxDB',
  default: true,
  async run(ctx) {
    const rate = ctx.quick ? 20_000 : 300_000;
    const ms = windowMs(ctx, 30_000, 1500);
    const devices = (rate * TICK_MS) / 1000 / TAGS;
    ctx.log(`ingest: limit (direct writes, ${TAGS}-field lines, ${BATCH}-line batches)`);
    const limit = await influxDirectRate(ctx.influx.url, 'limit_ingest', devices, TAGS, ctx.quick ? 1000 : 10_000);
    ctx.log(`ingest: limit ${Math.round(limit.valuesPerS)} values/s; gateway at ${rate}/s for ${ms} ms`);
    const r = await ingestRun(ctx, 'ingest', rate, ms, 'ingest');
    const landedRate = r.landed / r.e2eS;
    const metrics: Metric[] = [
      metric('offered', r.offered / r.offerS, 'values/s'),
      metric('landed in InfluxDB, end to end', landedRate, 'values/s', {
        limit: limit.valuesPerS,
        limitName: 'direct writes to InfluxDB',
        target: '≥ 300,000',
        met: landedRate >= 300_000,
      }),
      metric('loss (offered − landed)', r.offered - r.landed, 'values', { target: '0', met: r.offered === r.landed }),
      metric('gateway CPU', r.cores, 'cores', { limit: 1, limitName: 'one core', target: '≤ 1 core', met: r.cores <= 1 }),
      metric('gateway CPU per million readings', r.cpuS / (r.offered / 1e6), 'CPU s'),
      metric('gateway peak RSS', r.peakRssMB, 'MB'),
      metric('largest backlog seen', r.maxBacklog, 'readings'),
      metric('flush tail after the source stopped', r.tailMs, 'ms'),
    ];
    return {
      name: 'ingest',
      title: this.title,
      windowS: round(r.e2eS, 1),
      params: { rate, tagsPerPoint: TAGS, devices, tickMs: TICK_MS, batchSize: BATCH, flushInterval: '1s', offerMs: ms },
      metrics,
      notes: [
        `limit: ${Math.round(limit.linesPerS)} lines/s × ${TAGS} fields, ${limit.requests} requests, ${limit.failures} failed`,
        'landed rate = values counted in InfluxDB / (first reading offered → last one acknowledged)',
      ],
      series: { rssMB: r.rss },
    };
  },
};

export const scale: Scenario = {
  name: 'scale',
  title: 'Scale curve: cost at 1k, 10k, 100k readings/s',
  default: true,
  async run(ctx) {
    const ms = windowMs(ctx, 20_000, 1000);
    const metrics: Metric[] = [];
    const rows: Record<string, unknown>[] = [];
    let total = 0;
    for (const rate of [1_000, 10_000, 100_000]) {
      ctx.log(`scale: ${rate}/s for ${ms} ms`);
      const r = await ingestRun(ctx, `scale-${rate}`, rate, ms, `scale_${rate}`);
      total += r.e2eS;
      const k = `${rate / 1000}k/s`;
      metrics.push(
        metric(`${k}: landed`, r.landed / r.e2eS, 'values/s', { limit: r.offered / r.offerS, limitName: 'offered' }),
        metric(`${k}: loss`, r.offered - r.landed, 'values', { target: '0', met: r.offered === r.landed }),
        metric(`${k}: gateway CPU`, r.cores, 'cores'),
        metric(`${k}: CPU per million readings`, r.cpuS / (r.offered / 1e6), 'CPU s'),
        metric(`${k}: peak RSS`, r.peakRssMB, 'MB'),
      );
      rows.push({ rate, cores: round(r.cores, 3), cpuSPerMillion: round(r.cpuS / (r.offered / 1e6), 2), peakRssMB: round(r.peakRssMB, 1) });
    }
    return {
      name: 'scale',
      title: this.title,
      windowS: round(total, 1),
      params: { rates: [1_000, 10_000, 100_000], tagsPerPoint: TAGS, tickMs: TICK_MS, offerMs: ms },
      metrics,
      notes: [],
      series: { curve: rows },
    };
  },
};

export const soak: Scenario = {
  name: 'soak',
  title: "Soak: an hour at a plant's 10,000 readings/s, InfluxDB stopped for ten minutes in the middle",
  default: false,
  async run(ctx) {
    const ms = windowMs(ctx, 3_600_000, 3000);
    const rate = 10_000;
    // ten minutes in the middle of an hour; a shorter run (--duration, --quick) keeps the proportion
    const forMs = ms >= 1_800_000 ? 600_000 : Math.round(ms / 6);
    const atMs = Math.round((ms - forMs) / 2);
    ctx.log(`soak: ${rate}/s for ${ms} ms, InfluxDB down from ${atMs} ms for ${forMs} ms`);
    const r = await ingestRun(ctx, 'soak', rate, ms, 'soak', { atMs, forMs });
    // memory flat: mean RSS over the first sixth of the offer after warm-up against the last sixth
    // (ten minutes each in an hour). A window must span several of V8's collection cycles: RSS saws
    // between about 160 and 240 MB at this rate, so a one-minute window catches one phase of it
    // (the first soak compared single minutes and read +16.8 % from that noise). Warm-up is the first
    // twelfth (five minutes): the store and SQLite's page cache (cache_size 32 MB) fill in it.
    const span = r.offerS;
    const warm = span / 12;
    const sixth = span / 6;
    const meanOf = (xs: Array<[number, number]>, from: number, to: number) => {
      const v = xs.filter(([t]) => t >= from && t < to).map(([, x]) => x);
      return v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length;
    };
    const early = meanOf(r.rss, warm, warm + sixth) ?? 0;
    const late = meanOf(r.rss, span - sixth, span) ?? 0;
    const change = (late - early) / early;
    // RSS also holds SQLite's page cache and V8's garbage between collections; the JS heap in use
    // (same windows) says whether the gateway itself grows
    const heapEarly = meanOf(r.heap, warm, warm + sixth);
    const heapLate = meanOf(r.heap, span - sixth, span);
    const o = r.outage!;
    return {
      name: 'soak',
      title: this.title,
      windowS: round(r.e2eS, 1),
      params: { rate, tagsPerPoint: TAGS, offerMs: ms, outageAtMs: atMs, outageMs: forMs, warmUpS: round(warm, 1), compareWindowS: round(sixth, 1) },
      metrics: [
        metric('mean RSS, first sixth after warm-up', early, 'MB'),
        metric('mean RSS, last sixth', late, 'MB', { limit: early, limitName: 'first sixth after warm-up', target: '±10 %', met: Math.abs(change) <= 0.1 }),
        metric('RSS change', change * 100, '%', { target: '±10 %', met: Math.abs(change) <= 0.1 }),
        metric('JS heap in use, first sixth after warm-up', heapEarly, 'MB'),
        metric('JS heap in use, last sixth', heapLate, 'MB', {
          limit: heapEarly,
          limitName: 'first sixth after warm-up',
          target: '±10 %',
          met: heapLate === null || heapEarly === null ? null : Math.abs(heapLate - heapEarly) <= 0.1 * heapEarly,
        }),
        metric('gateway peak RSS', r.peakRssMB, 'MB'),
        metric('gateway CPU', r.cores, 'cores'),
        metric('backlog when InfluxDB came back', o.backlogAtUp, 'readings'),
        metric('largest backlog seen', r.maxBacklog, 'readings'),
        metric('backlog drained after InfluxDB came back', o.drainedS, 's'),
        metric('landed', r.landed / r.e2eS, 'values/s', { limit: r.offered / r.offerS, limitName: 'offered' }),
        metric('loss', r.offered - r.landed, 'values', { target: '0', met: r.offered === r.landed }),
      ],
      notes: [
        `first sixth after warm-up = [${round(warm, 1)} s, ${round(warm + sixth, 1)} s) after the start, last sixth = the final ${round(sixth, 1)} s of the offer`,
        `InfluxDB stopped at ${round(o.downS, 1)} s, back at ${round(o.upS, 1)} s; drained = the backlog down to 2.5 s of readings${o.drainedS === null ? ' (not before the source stopped)' : ''}`,
      ],
      series: { rssMB: r.rss.filter((_, i) => i % 8 === 0), heapMB: r.heap },
    };
  },
};

export const backlog: Scenario = {
  name: 'backlog',
  title: 'Backlog drain after an InfluxDB outage, live data flowing',
  default: true,
  async run(ctx) {
    const url = ctx.influx.url;
    const db = 'backlog';
    const liveRate = 20_000;
    const backlogRows = ctx.quick ? 50_000 : 1_000_000;
    const afterMs = windowMs(ctx, 10_000, 1000);
    await dropDatabase(url, db);
    await createDatabase(url, db);
    const cfg = writeConfig(ctx.dir, 'backlog', baseConfig({ dir: `${ctx.dir}/backlog`, influxUrl: url, database: db, influx: { maxBackoff: '1s' } }));
    ctx.log('backlog: InfluxDB down, filling the store');
    await ctx.influx.stop();
    const gw: GatewayProc = spawnBenchScript(
      'ingest-gateway',
      [
        '--config',
        cfg,
        '--rate',
        String(liveRate),
        '--tags',
        String(TAGS),
        '--tick-ms',
        String(TICK_MS),
        '--backlog',
        String(backlogRows),
        '--report-ms',
        '250',
      ],
      nodeArgs(ctx, 'backlog'),
    );
    const lag: Array<[number, number]> = [];
    let probing = true;
    try {
      const bl = await gw.waitEvent('BACKLOG', 300_000);
      await gw.waitEvent('START', 10_000);
      await sleep(ctx.quick ? 500 : 2000); // live data behind the backlog too, as in a real outage
      await ctx.influx.start();
      const up = Date.now();
      gw.sampler.mark('up');
      const probe = (async () => {
        while (probing) {
          try {
            const rows = await influxQuery(url, `SELECT last(f0) FROM equipment WHERE device = 'dev-0'`, db);
            const t = Number(rows[0]?.time);
            if (Number.isFinite(t)) lag.push([Date.now() - up, Date.now() - t]);
          } catch {
            /* not there yet */
          }
          await sleep(250);
        }
      })();
      const ticks = () => gw.events.filter((e) => e.kind === 'TICK');
      const atUp = ticks()
        .filter((e) => e.at <= up)
        .at(-1)?.data ?? { written: 0, backlog: 0 };
      // drained: the oldest unforwarded reading is younger than 2.5 s (steady state is ≤ flushInterval + a write)
      let drainedAt = 0;
      let writtenAtDrain = 0;
      const deadline = Date.now() + 600_000;
      while (Date.now() < deadline) {
        const t = ticks()
          .filter((e) => e.at > up + 300)
          .find((e) => Number(e.data.lagMs) < 2500 && e.data.state === 'ok');
        if (t) {
          drainedAt = t.at;
          writtenAtDrain = Number(t.data.written);
          break;
        }
        await sleep(100);
      }
      gw.sampler.mark('drained');
      await sleep(afterMs);
      probing = false;
      await probe;
      const drainS = (drainedAt - up) / 1000;
      const w = gw.sampler.window('up', 'drained');
      const stoppedEv = gw.waitEvent('STOPPED', 120_000);
      await gw.stop();
      const stopped = await stoppedEv;
      const offered = Number(stopped.offered) + Number(bl.rows);
      const landed = await countValues(url, db, 'equipment');
      const drainRate = (writtenAtDrain - Number(atUp.written)) / drainS;
      const held = Number(bl.storeReadings);
      const bytesPerReading = held > 0 ? Number(bl.storeLayoutBytes) / held : null;
      const diskBytesPerReading = held > 0 ? Number(bl.storeBytes) / held : null;
      const hoursPerGB = bytesPerReading ? 1e9 / bytesPerReading / 10_000 / 3600 : null;
      const during = lag.filter(([t]) => t <= drainedAt - up).map(([, l]) => l);
      const after = lag
        .filter(([t]) => t > drainedAt - up + 1000)
        .map(([, l]) => l)
        .sort((a, b) => a - b);
      await dropDatabase(url, db);
      return {
        name: 'backlog',
        title: this.title,
        windowS: round(drainS + afterMs / 1000, 1),
        params: { backlogRows, liveRate, tagsPerPoint: TAGS, batchSize: BATCH, maxBackoff: '1s' },
        metrics: [
          metric('backlog when InfluxDB came back', Number(atUp.backlog), 'readings'),
          metric('store bytes per reading: pages in use (the layout; 10 float tags per poll)', bytesPerReading, 'B', {
            target: '≤ 8',
            met: bytesPerReading !== null && bytesPerReading <= 8,
          }),
          metric('store bytes per reading: on disk at that moment (database + WAL not yet checkpointed)', diskBytesPerReading, 'B'),
          metric('hours of outage buffered per GB at 10,000 values/s (from the layout figure)', hoursPerGB, 'h', {
            target: '≥ 2.4 (24 h in 10 GB)',
            met: hoursPerGB !== null && hoursPerGB >= 2.4,
          }),
          metric('drain rate (backlog + live, acknowledged by InfluxDB)', drainRate, 'values/s', {
            limit: liveRate,
            limitName: 'live rate',
            target: '≥ 5× live',
            met: drainRate >= 5 * liveRate,
          }),
          metric('drain time', drainS, 's'),
          metric('gateway CPU while draining', w.cores, 'cores'),
          metric('gateway peak RSS while draining', w.peakRssMB, 'MB'),
          metric('live data lag, worst during the drain', during.length ? Math.max(...during) : null, 'ms'),
          metric('live data lag after the drain, p50', percentile(after, 50), 'ms'),
          metric('live data lag after the drain, max', after.length ? after[after.length - 1]! : null, 'ms', {
            target: 'bounded (≈ flushInterval + a write)',
            met: after.length > 0 && after[after.length - 1]! < 3000,
          }),
          metric('loss (offered − landed)', offered - landed, 'values', { target: '0', met: offered === landed }),
        ],
        notes: [
          `the backlog (${backlogRows} readings of 100 other devices) is committed while InfluxDB is stopped, then live data runs 2 s more before InfluxDB is restarted`,
          'store bytes per reading: after the backlog is committed, InfluxDB still down; the layout figure is (page_count − freelist_count) × page_size seen by a reader, what the file settles to once the WAL is checkpointed',
          'live data lag = now − newest point of a live device in InfluxDB, probed every 250 ms; the forwarder is FIFO, so live data waits behind the backlog until it drains',
        ],
        series: { lagMs: lag.filter((_, i) => i % 2 === 0) },
      };
    } catch (e) {
      probing = false;
      await gw.stop();
      await ctx.influx.start();
      throw e;
    }
  },
};
