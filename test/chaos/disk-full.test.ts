/**
 * Chaos: the disk fills up. The gateway process (`fgw run`, the built artifact) collects from four
 * real Modbus TCP servers into a store on a 32 MB tmpfs, with InfluxDB stopped; a filler file
 * takes the disk. Each server counts the polls it serves and puts the poll number in register 0,
 * so every reading's identity is known and the loss is counted, not guessed.
 *
 * Proves: the alarm (/health/ready 503, /api/status store.full, /metrics fgw_store_full) with one log
 * line, not one per commit; readings not stored are counted per device, exactly the polls served
 * but not stored; collection resumes by itself when space returns; the counts survive a restart;
 * a restart on a disk that is full to the last byte still opens the store, and once InfluxDB is back
 * the forwarder saves its cursor, frees space and collection resumes (the store never freezes);
 * every committed reading reaches InfluxDB.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openStore } from '../../ingest/store/index.js';
import { startInflux, type TestInflux } from '../helpers/influx.js';
import { serveRegisters, type TestModbusServer } from '../helpers/modbus-server.js';
import { freePort } from '../helpers/net.js';
import { startProcess, type Proc } from '../helpers/proc.js';
import { parseProm } from '../helpers/prom.js';
import { tempDir } from '../helpers/tmp.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { waitFor } from '../helpers/wait.js';

const root = new URL('../..', import.meta.url).pathname;
const fgw = join(root, 'gateway/bin/fgw.js');
const DEVICES = ['press-01', 'press-02', 'lathe-03', 'saw-05'];
const TAGS = 100;
const MiB = 1024 * 1024;

let fs: Tmpfs;
let cfgDir: ReturnType<typeof tempDir>;
let influx: TestInflux;
const servers: TestModbusServer[] = [];
const served = new Map<string, number>();
let cfg: string;
let api = 0;
let gw: Proc | undefined;

beforeAll(async () => {
  fs = mountTmpfs(32);
  influx = await startInflux();
  await influx.stop();
  const ports: number[] = [];
  for (const d of DEVICES) {
    const port = await freePort();
    ports.push(port);
    served.set(d, 0);
    // register 0: the number of this poll (1, 2, ...); the others: a function of it
    let poll = 0;
    servers.push(
      await serveRegisters(port, (addr) => {
        if (addr === 0) {
          served.set(d, (poll = served.get(d)! + 1));
          return poll;
        }
        return (poll * 7 + addr) & 0xffff;
      }),
    );
  }
  api = await freePort();
  cfgDir = tempDir('fgw-chaos-disk-');
  cfg = join(cfgDir.path, 'gateway.yaml');
  // r0 the poll number; the others scaled, so they are floats of 8 bytes in the store (enough data
  // for the store to fill the disk's last megabytes within half a minute)
  const tags = Array.from({ length: TAGS }, (_, i) => `{ name: r${i}, area: holding, address: ${i}, type: uint16${i > 0 ? ', scale: 0.001' : ''} }`).join(', ');
  writeFileSync(
    cfg,
    `
gateway: { id: chaos-disk, statusInterval: 1s, stopTimeout: 2s, logLevel: info }
storage: { path: ${fs.path}/store, limitsInterval: 2s }
influx: { url: ${influx.url}, database: factory, flushInterval: 200ms, maxBackoff: 1s }
http: { listen: 127.0.0.1:${api} }
devices:
${DEVICES.map((d, i) => `  - { id: ${d}, protocol: modbus, connection: { host: 127.0.0.1, port: ${ports[i]}, unitId: 1, timeout: 2s }, interval: 50ms, tags: [${tags}] }`).join('\n')}
`,
  );
});

afterAll(async () => {
  await gw?.kill('SIGKILL');
  for (const s of servers) await s.close();
  await influx?.cleanup();
  fs?.cleanup();
  cfgDir?.cleanup();
});

const get = async (path: string) => {
  const r = await fetch(`http://127.0.0.1:${api}${path}`);
  return { status: r.status, body: r.headers.get('content-type')?.includes('json') ? ((await r.json()) as Record<string, any>) : await r.text() };
};
const status = async () => (await get('/api/status')).body as { store: Record<string, any>; forwarder: Record<string, any> };
const logLines = (p: Proc) =>
  p
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'));

/** per device, from the store file: the poll numbers stored (register 0, good) and the bad polls */
async function storedPolls(): Promise<Map<string, { good: Set<number>; bad: number }>> {
  const store = openStore({ path: `${fs.path}/store`, maxSizeBytes: 2 ** 31, retentionMs: 0, limitsIntervalMs: 0 });
  try {
    const out = new Map<string, { good: Set<number>; bad: number }>();
    for (const d of DEVICES) {
      const rows = store.query({ device: d, tag: 'r0', measurement: 'data' });
      out.set(d, {
        good: new Set(rows.filter((r) => r.quality === 'good').map((r) => r.value as number)),
        bad: rows.filter((r) => r.quality === 'bad').length,
      });
    }
    return out;
  } finally {
    await store.close();
  }
}

it('a full disk: alarm, per-device loss counted exactly, no log flood, resumes by itself; after a restart on a full disk InfluxDB gets every committed reading', async () => {
  gw = startProcess(process.execPath, [fgw, 'run', '--config', cfg]);
  await waitFor('readings stored', async () => ((await status()).store.readings as number) > 5 * TAGS * DEVICES.length);

  // the disk fills: 2 MB left for the store (a poll of 100 registers is one point of about 800
  // bytes, 64 KB/s from the four devices). Enough that what the store holds when the disk is full,
  // once forwarded and freed, gives the reserve back twice over after the restart below
  const logBefore = logLines(gw).length;
  fs.fill(2 * MiB);
  await waitFor('the store-full alarm', async () => (await status()).store.full?.reason === 'disk', { timeoutMs: 60_000 });
  await waitFor('readings refused for a while', async () => ((await status()).store.full?.refused as number) >= 100 * TAGS);
  const ready = await get('/health/ready');
  expect(ready.status).toBe(503);
  expect((ready.body as Record<string, any>).checks.store.full.reason).toBe('disk');
  const m = parseProm((await get('/metrics')).body as string);
  expect(m.get('fgw_store_full')).toBe(1);
  expect(m.get('fgw_store_lost_total{device="press-01",reason="store-full"}')).toBeGreaterThan(0);
  // one alarm line for the whole episode, not one per refused commit; besides it, one line per
  // device (its adapter) and one for the status points, each once per episode
  const fullLog = logLines(gw).slice(logBefore);
  expect(fullLog.filter((l) => l.includes('"alarm":"STORE_FULL"'))).toHaveLength(1);
  expect(fullLog.filter((l) => /commit failed/.test(l))).toHaveLength(0);
  expect(fullLog.length, fullLog.join('\n')).toBeLessThanOrEqual(1 + DEVICES.length + 1 + 2);

  // space returns: collection resumes by itself
  fs.unfill();
  await waitFor('the alarm to end', async () => (await status()).store.full === undefined, { timeoutMs: 30_000 });
  const after = (await status()).store.readings as number;
  await waitFor('readings stored again', async () => ((await status()).store.readings as number) > after + 10 * TAGS);
  const lostRun1 = (await status()).store.losses as Array<{ device: string; reason: string; count: number }>;
  await gw.kill('SIGTERM');
  expect(logLines(gw).filter((l) => /store has room again/.test(l))).toHaveLength(1);
  expect(logLines(gw).filter((l) => l.includes('"alarm":"STORE_FULL"'))).toHaveLength(1);
  expect(logLines(gw).length).toBeLessThan(40);

  // counted, not guessed: per device, the polls the server served but the store does not hold
  const run1 = await storedPolls();
  for (const d of DEVICES) {
    const { good, bad } = run1.get(d)!;
    const last = Math.max(...good);
    let missing = 0;
    for (let v = 1; v <= last; v++) if (!good.has(v)) missing++;
    const lostPolls = (lostRun1.find((l) => l.device === d && l.reason === 'store-full')?.count ?? 0) / TAGS;
    expect(lostPolls, d).toBeGreaterThan(0);
    // a bad poll (a timeout) may have been served without being stored as good: at most that many more
    expect(lostPolls, d).toBeLessThanOrEqual(missing);
    expect(lostPolls, d).toBeGreaterThanOrEqual(missing - bad);
    expect(served.get(d)!).toBeGreaterThanOrEqual(last);
  }

  // the disk is full to the last byte when the gateway starts again, and InfluxDB is back
  fs.fill(0);
  await influx.start();
  gw = startProcess(process.execPath, [fgw, 'run', '--config', cfg]);
  // the store opens (the reserve gives way), the forwarder sends, saves its cursor, the store frees
  // what was sent and collection goes on: nothing stays frozen
  await waitFor(
    'the forwarder to catch up',
    async () => {
      const s = await status();
      return s.forwarder.state === 'ok' && s.forwarder.backlog === 0 && s.store.full === undefined;
    },
    { timeoutMs: 60_000 },
  );
  const st = await status();
  // the counts of the first run survived the restart
  for (const l of lostRun1)
    expect(st.store.losses.find((x: { device: string; reason: string }) => x.device === l.device && x.reason === l.reason).count).toBeGreaterThanOrEqual(
      l.count,
    );
  const readingsNow = st.store.readings as number;
  await waitFor(
    'collection after the restart',
    async () => ((await status()).store.readings as number) > readingsNow + 10 * TAGS || ((await status()).forwarder.written as number) > 0,
  );
  await waitFor('forwarded up to now', async () => (await status()).forwarder.backlog === 0);
  await gw.kill('SIGTERM');
  fs.unfill();

  // every committed reading is in InfluxDB: all of the first run's and whatever the store still holds
  const run2 = await storedPolls();
  for (const d of DEVICES) {
    const rows = await influx.query(`SELECT "r0" FROM "equipment" WHERE "device" = '${d}'`, 'factory');
    const inInflux = new Set(rows.map((r) => r.r0 as number));
    const missingRun1 = [...run1.get(d)!.good].filter((v) => !inInflux.has(v));
    const missingNow = [...run2.get(d)!.good].filter((v) => !inInflux.has(v));
    expect(missingRun1, d).toEqual([]);
    expect(missingNow, d).toEqual([]);
  }
  // and the loss episodes went to InfluxDB as gateway_status points
  const pts = await influx.query(
    `SELECT "lost", "lostFrom", "lostTo", "lostReason" FROM "gateway_status" WHERE "lostReason" = 'store-full' GROUP BY "device"`,
    'factory',
  );
  const lostInInflux = new Map<string, number>();
  for (const p of pts) lostInInflux.set(p.device as string, (lostInInflux.get(p.device as string) ?? 0) + (p.lost as number));
  for (const l of lostRun1.filter((x) => x.reason === 'store-full')) expect(lostInInflux.get(l.device) ?? 0).toBeGreaterThanOrEqual(l.count);
}, 180_000);
