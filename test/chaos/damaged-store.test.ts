/**
 * Chaos: the store file is damaged while the gateway is down (a power cut, a bad SD card): garbage
 * over page 2, over ten middle pages, a bad header, the file truncated to half. Then the gateway
 * process starts on it with a real Modbus server and a real InfluxDB.
 *
 * Proves: the gateway starts anyway, moves the file aside (never deletes it), collects into a fresh
 * store and raises the alarm (log, /api/status, /metrics); `fgw store salvage` (a second process,
 * beside the running gateway) reads back exactly the readings on the pages that survived (counted
 * with SQLite's own dbstat before the damage) and the forwarder sends them to InfluxDB like any
 * backlog; the alarm then says salvaged.
 */
import Database from 'better-sqlite3';
import { closeSync, openSync, readdirSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { STORE_FILE, openStore } from '../../ingest/store/index.js';
import { startInflux, type TestInflux } from '../helpers/influx.js';
import { serveRegisters, type TestModbusServer } from '../helpers/modbus-server.js';
import { freePort } from '../helpers/net.js';
import { startProcess, type Proc } from '../helpers/proc.js';
import { parseProm } from '../helpers/prom.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const root = new URL('../..', import.meta.url).pathname;
const fgw = join(root, 'gateway/bin/fgw.js');
const N = 30_000;
const PAGE = 4096;

let influx: TestInflux;
let modbus: TestModbusServer;
let modbusPort = 0;
const dirs: Array<ReturnType<typeof tempDir>> = [];
const procs: Proc[] = [];

beforeAll(async () => {
  influx = await startInflux();
  modbusPort = await freePort();
  modbus = await serveRegisters(modbusPort, [1, 2, 3, 4]);
});
afterAll(async () => {
  for (const p of procs) await p.kill('SIGKILL');
  await modbus?.close();
  await influx?.cleanup();
  for (const d of dirs) d.cleanup();
});

/** a store as a gateway left it after InfluxDB was away: N readings, none forwarded (the devices alternate: a point each) */
async function storeLeftBehind(path: string): Promise<{ leaves: Map<number, number>; pages: number }> {
  const s = openStore({ path, maxSizeBytes: 2 ** 30, retentionMs: 0, limitsIntervalMs: 0, forwarding: true });
  const t0 = Date.now() - 3_600_000;
  for (let i = 0; i < N; i += 1000) {
    const rows: Reading[] = [];
    for (let k = i; k < i + 1000; k++)
      rows.push({ device: k % 2 ? 'press-01' : 'saw-05', tag: 'seq', ts: t0 + k * 10, kind: 'integer', value: k, quality: 'good' });
    await s.write(rows);
  }
  await s.close();
  const db = new Database(join(path, STORE_FILE), { readonly: true });
  const leaves = new Map(
    (db.prepare("SELECT pageno, ncell FROM dbstat WHERE name = 'points' AND pagetype = 'leaf'").all() as Array<{ pageno: number; ncell: number }>).map((r) => [
      r.pageno,
      r.ncell,
    ]),
  );
  const pages = Number(db.pragma('page_count', { simple: true }));
  db.close();
  return { leaves, pages };
}

function garbage(file: string, pageNos: number[]): void {
  const fd = openSync(file, 'r+');
  for (const p of pageNos) writeSync(fd, Buffer.alloc(PAGE, 0xa5), 0, PAGE, (p - 1) * PAGE);
  closeSync(fd);
}

/** each damage, and how many readings stay readable (from SQLite's dbstat, before the damage) */
const damages: Array<[string, (file: string, leaves: Map<number, number>, pages: number) => number]> = [
  ['garbage over page 2', (f) => (garbage(f, [2]), N)],
  [
    'garbage over ten middle pages',
    (f, leaves) => {
      const sorted = [...leaves.keys()].sort((a, b) => a - b);
      const hit = sorted.slice(Math.floor(sorted.length / 2) - 5, Math.floor(sorted.length / 2) + 5);
      garbage(f, hit);
      return N - hit.reduce((a, p) => a + leaves.get(p)!, 0);
    },
  ],
  [
    'a bad header',
    (f) => {
      const fd = openSync(f, 'r+');
      writeSync(fd, Buffer.alloc(100, 0x11), 0, 100, 0);
      closeSync(fd);
      return N;
    },
  ],
  [
    'truncated to half',
    (f, leaves, pages) => {
      const keep = Math.floor(pages / 2);
      truncateSync(f, keep * PAGE);
      return [...leaves].filter(([p]) => p <= keep).reduce((a, [, n]) => a + n, 0);
    },
  ],
];

it.each(damages)(
  '%s: the gateway starts, moves the file aside, collects, raises the alarm; salvage recovers the readable rows and they reach InfluxDB',
  async (what, damage) => {
    const dir = tempDir('fgw-chaos-damage-');
    dirs.push(dir);
    const store = join(dir.path, 'store');
    const { leaves, pages } = await storeLeftBehind(store);
    const readable = damage(join(store, STORE_FILE), leaves, pages);
    const db = `damaged_${damages.findIndex((d) => d[0] === what)}`;
    const api = await freePort();
    const cfg = join(dir.path, 'gateway.yaml');
    writeFileSync(
      cfg,
      `
gateway: { id: chaos-damage, statusInterval: 1s, stopTimeout: 2s, logLevel: info }
storage: { path: ${store} }
influx: { url: ${influx.url}, database: ${db}, flushInterval: 200ms, maxBackoff: 1s }
http: { listen: 127.0.0.1:${api} }
devices:
  - { id: press-01, protocol: modbus, connection: { host: 127.0.0.1, port: ${modbusPort}, unitId: 1 }, interval: 100ms, tags: [{ name: state, area: holding, address: 0, type: uint16 }] }
`,
    );
    const gw = startProcess(process.execPath, [fgw, 'run', '--config', cfg]);
    procs.push(gw);
    const status = async () =>
      (await (await fetch(`http://127.0.0.1:${api}/api/status`)).json()) as { store: Record<string, any>; forwarder: Record<string, any> };
    // started, moved aside (at once, or by the background check for damage deep in the file)
    await waitFor('the store-damaged alarm', async () => (await status()).store.damaged.length === 1).catch((e) => {
      throw new Error(`${(e as Error).message}\n${gw.output().slice(-3000)}`);
    });
    const moved = readdirSync(store).filter((n) => /^store\.db\.damaged-\d{8}T\d{6}Z$/.test(n));
    expect(moved).toHaveLength(1);
    expect((await status()).store.damaged[0].file).toBe(moved[0]);
    await gw.waitForOutput(/"alarm":"STORE_DAMAGED"/);
    const m = parseProm(await (await fetch(`http://127.0.0.1:${api}/metrics`)).text());
    expect(m.get('fgw_store_damaged_files')).toBe(1);
    // collecting into the fresh store, and forwarding
    await waitFor('readings in the fresh store', async () => ((await status()).forwarder.written as number) > 5);

    // salvage beside the running gateway
    const salvage = startProcess(process.execPath, [fgw, 'store', 'salvage', join(store, moved[0]!), '--config', cfg, '--json']);
    const { code } = await salvage.exited;
    expect(code, salvage.output()).toBe(0);
    const r = JSON.parse(salvage.output()) as { readings: { read: number; imported: number; backlog: number; unknownSeries: number } };
    expect(r.readings.read).toBe(readable);
    expect(r.readings.unknownSeries).toBe(0);
    expect(r.readings.imported).toBe(readable);
    // nothing had been forwarded from the damaged file: all of it is backlog, and goes to InfluxDB
    expect(r.readings.backlog).toBe(readable);
    await waitFor('the salvaged backlog in InfluxDB', async () => {
      const rows = await influx.query(`SELECT count("seq") FROM "equipment" GROUP BY "device"`, db);
      return rows.reduce((a, x) => a + Number(x.count), 0) === readable;
    });
    const st = await status();
    expect(st.store.damaged[0].salvaged).toMatchObject({ readings: readable });
    expect(parseProm(await (await fetch(`http://127.0.0.1:${api}/metrics`)).text()).get('fgw_store_damaged_files')).toBe(0);
    // the gateway went on collecting throughout, into the same series
    const before = st.forwarder.written as number;
    await waitFor('collection goes on after the salvage', async () => ((await status()).forwarder.written as number) > before);
    await gw.kill('SIGTERM');
  },
  90_000,
);
