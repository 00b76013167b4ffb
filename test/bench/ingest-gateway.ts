/**
 * Benchmark-only gateway entry: the real GatewayRuntime (store, forwarder, status) started from a
 * generated config, fed by an in-process synthetic source instead of adapters. The source behaves
 * like pollers: every `tickMs` each synthetic device hands one poll's readings (`tags` float tags,
 * one timestamp) to the store with write(), without awaiting it.
 *
 *   node dist-bench/test/bench/ingest-gateway.js --config f.yaml --rate 300000 --tags 10
 *        [--tick-ms 10] [--duration-ms 30000] [--backlog 1000000] [--report-ms 1000] [--flush]
 *
 * Prints (stdout, one JSON object per line):
 *   BENCH_BACKLOG {"rows":N,"ms":T,"storeBytes":B,"storeLayoutBytes":L,"storeReadings":R}  after the --backlog readings were committed: the store's bytes on disk (database + WAL), its pages in use, and the readings it holds
 *   BENCH_START   {"at":ms,"devices":D}  when the live source starts
 *   BENCH_TICK    {...}                  every report-ms: offered, forwarder written/backlog/state, the first northbound target's published/backlog
 *   BENCH_OFFERED {"offered":N,"at":ms}  when the source stopped after duration-ms
 *   BENCH_DONE    {"at":ms,"flushedMs":T} with --flush: once InfluxDB (and every northbound target) acknowledged everything
 * and stops cleanly (or on SIGTERM at any time).
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Reading } from '../../adapters/types.js';
import { loadConfig } from '../../gateway/config.js';
import { GatewayRuntime } from '../../gateway/runtime.js';
import { STORE_FILE, storeBytesInUse } from '../../ingest/store/index.js';

const { values: a } = parseArgs({
  options: {
    config: { type: 'string' },
    rate: { type: 'string', default: '10000' },
    tags: { type: 'string', default: '10' },
    'tick-ms': { type: 'string', default: '10' },
    'duration-ms': { type: 'string', default: '0' },
    backlog: { type: 'string', default: '0' },
    'report-ms': { type: 'string', default: '1000' },
    flush: { type: 'boolean', default: false },
  },
});
if (!a.config) throw new Error('--config is required');
const rate = Number(a.rate);
const tagsPerDevice = Number(a.tags);
const tickMs = Number(a['tick-ms']);
const durationMs = Number(a['duration-ms']);
const backlog = Number(a.backlog);
const reportMs = Number(a['report-ms']);
const devices = Math.max(1, Math.round((rate * tickMs) / 1000 / tagsPerDevice));

const emit = (kind: string, data: Record<string, unknown>) => process.stdout.write(`BENCH_${kind} ${JSON.stringify(data)}\n`);

const { config } = loadConfig(a.config);
const rt = await GatewayRuntime.start({ config });

const tagNames = Array.from({ length: tagsPerDevice }, (_, i) => `f${i}`);
let offered = 0;
let stopping = false;
let genTimer: NodeJS.Timeout | undefined;
let reportTimer: NodeJS.Timeout | undefined;

function poll(device: string, ts: number, seed: number): Reading[] {
  const out: Reading[] = new Array(tagsPerDevice);
  for (let i = 0; i < tagsPerDevice; i++)
    out[i] = { device, tag: tagNames[i]!, ts, kind: 'float', value: ((seed * 31 + i * 7) % 10_000) / 10, quality: 'good' };
  return out;
}

/** The backlog: `n` readings of other devices, 1 ms apart into the past, committed as fast as the store takes them. */
async function fillBacklog(n: number): Promise<void> {
  const t0 = performance.now();
  const start = Date.now() - Math.ceil(n / tagsPerDevice / 100) - 60_000;
  const blDevices = 100;
  let written = 0;
  let k = 0;
  while (written < n) {
    const chunk: Reading[] = [];
    while (chunk.length < 20_000 && written + chunk.length < n) {
      const dev = k % blDevices;
      const ts = start + Math.floor(k / blDevices);
      for (const r of poll(`backlog-${dev}`, ts, k)) if (written + chunk.length < n) chunk.push(r);
      k++;
    }
    written += chunk.length;
    await rt.store.write(chunk);
  }
  // what the store takes for them: the files on disk now (database + WAL, not the fixed reserve
  // file), and the layout's own figure, the pages in use as a reader sees them (WAL included,
  // free pages not), which is what the database file settles to once the WAL is checkpointed
  const file = join(config.storage.path, STORE_FILE);
  const onDisk = [file, `${file}-wal`].reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0);
  const layout = storeBytesInUse(config.storage.path);
  emit('BACKLOG', {
    rows: written,
    ms: Math.round(performance.now() - t0),
    storeBytes: onDisk,
    storeLayoutBytes: layout,
    storeReadings: rt.store.stats().readings,
  });
}

function startSource(): void {
  const names = Array.from({ length: devices }, (_, d) => `dev-${d}`);
  const t0 = Date.now();
  let tick = 0;
  emit('START', { at: t0, devices, tagsPerDevice, tickMs, rate: (devices * tagsPerDevice * 1000) / tickMs });
  const step = () => {
    if (stopping) return;
    const now = Date.now();
    const due = durationMs > 0 ? Math.min(Math.floor((now - t0) / tickMs), Math.floor(durationMs / tickMs)) : Math.floor((now - t0) / tickMs);
    // catch up on ticks a late timer missed: the offered rate stays exact
    while (tick < due) {
      const ts = t0 + tick * tickMs;
      for (let d = 0; d < devices; d++) {
        void rt.store.write(poll(names[d]!, ts, tick + d)).catch(() => {});
        offered += tagsPerDevice;
      }
      tick++;
    }
    if (durationMs > 0 && tick >= durationMs / tickMs) {
      emit('OFFERED', { offered, at: Date.now() });
      void finish();
      return;
    }
    genTimer = setTimeout(step, Math.max(1, t0 + (tick + 1) * tickMs - Date.now()));
  };
  step();
}

function report(): void {
  const f = rt.forwarder();
  const n = rt.north()[0];
  const mem = process.memoryUsage();
  emit('TICK', {
    at: Date.now(),
    heapMB: mem.heapUsed / 1048576,
    externalMB: (mem.external + mem.arrayBuffers) / 1048576,
    offered,
    written: f?.written ?? 0,
    backlog: f?.backlog ?? 0,
    state: f?.state,
    deadLettered: f?.deadLettered ?? 0,
    lagMs: f?.lagMs ?? 0,
    lastWriteMs: f?.lastWriteMs,
    ...(n ? { north: { published: n.published, readings: n.publishedReadings, backlog: n.backlog, lagMs: n.lagMs, connected: n.connected } } : {}),
  });
  reportTimer = setTimeout(report, reportMs);
}

async function finish(): Promise<void> {
  if (a.flush) {
    const t = Date.now();
    await Promise.all([rt.flushed(), rt.northFlushed()]);
    const f = rt.forwarder();
    emit('DONE', { at: Date.now(), flushedMs: Date.now() - t, offered, written: f?.written ?? 0 });
  }
  await shutdown();
}

let shutting: Promise<void> | undefined;
function shutdown(): Promise<void> {
  shutting ??= (async () => {
    stopping = true;
    clearTimeout(genTimer);
    clearTimeout(reportTimer);
    await rt.stop();
    const f = rt.forwarder();
    emit('STOPPED', { at: Date.now(), offered, written: f?.written ?? 0 });
    process.exit(0);
  })();
  return shutting;
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());

report();
if (backlog > 0) await fillBacklog(backlog);
startSource();
