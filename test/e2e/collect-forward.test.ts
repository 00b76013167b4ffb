/**
 * The foundation's whole path, with real processes: Modbus TCP servers (modbus-serial's ServerTCP,
 * a server we do not write) → the gateway process (`fgw run`) → embedded store → forwarder → a real
 * influxd. Then the faults: InfluxDB stopped mid-run, and the gateway SIGKILLed mid-run.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../ingest/store/index.js';
import { startInflux, type TestInflux as InfluxHandle } from '../helpers/influx.js';
import { serveRegisters, type TestModbusServer } from '../helpers/modbus-server.js';
import { freePort } from '../helpers/net.js';
import { startProcess } from '../helpers/proc.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const root = new URL('../..', import.meta.url).pathname;
const fgw = join(root, 'gateway/bin/fgw.js');

/** Registers served by the two machines, and what the gateway must decode from them. */
const PRESS_HOLDING = [2, 0x0001, 0xe240 /* uint32 123456 ABCD */, 0x0000, 0x444b /* float32 812.0 CDAB → words [0x0000, 0x444b] */, 0b1000];
const PRESS_INPUT = [0xff85 /* int16 -123 → ×0.1 = -12.3 */];
const PRESS_EXPECTED = { state: 2, strokes: 123456, tonnage: 812, oil_temp: -12.3, lube_ok: true };
const SAW_HOLDING = [1, 0x0000, 0x0007];
const SAW_EXPECTED = { state: 1, cuts: 7 };

function gatewayYaml(dir: string, influxUrl: string, pressPort: number, sawPort: number, apiPort: number): string {
  return `
gateway: { id: e2e-gw, site: test-site, statusInterval: 1s, stopTimeout: 20s, logLevel: warn }
storage: { path: ${dir}/data, maxSize: 1GB, retention: 14d }
influx: { url: ${influxUrl}, database: factory, batchSize: 500, flushInterval: 200ms, maxBackoff: 1s }
http: { listen: 127.0.0.1:${apiPort} }
devices:
  - id: press-01
    line: line-01
    process: stamping
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${pressPort}, unitId: 1, timeout: 1s }
    interval: 100ms
    tags:
      - { name: state, role: state, area: holding, address: 0, type: uint16 }
      - { name: strokes, role: counter, area: holding, address: 1, type: uint32, byteOrder: ABCD }
      - { name: tonnage, role: parameter, area: holding, address: 3, type: float32, byteOrder: CDAB, unit: kN }
      - { name: oil_temp, role: parameter, area: input, address: 0, type: int16, scale: 0.1 }
      - { name: lube_ok, role: quality, area: holding, address: 5, type: bool, bit: 3 }
  - id: saw-05
    line: line-01
    process: cutting
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${sawPort}, unitId: 1, timeout: 1s }
    interval: 150ms
    tags:
      - { name: state, role: state, area: holding, address: 0, type: uint16 }
      - { name: cuts, role: counter, area: holding, address: 1, type: uint32 }
`;
}

/** Good readings of one tag in the store, counted independently of the forwarder. */
async function storeCount(dir: string, device: string, tag: string): Promise<number> {
  const store = openStore({ path: `${dir}/data`, maxSizeBytes: 1024 ** 3, retentionMs: 14 * 86_400_000 });
  try {
    return store.query({ device, tag, measurement: 'data', limit: 10_000_000 }).filter((r) => r.quality === 'good').length;
  } finally {
    await store.close();
  }
}

async function influxCount(influx: InfluxHandle, device: string, field: string): Promise<number> {
  const rows = await influx.query(`SELECT count("${field}") FROM "equipment" WHERE "device" = '${device}'`, 'factory');
  return Number((rows[0] as Record<string, unknown> | undefined)?.count ?? 0);
}

describe('Modbus TCP → gateway process → store → InfluxDB', () => {
  let influx: InfluxHandle;
  let servers: TestModbusServer[] = [];
  let pressPort = 0;
  let sawPort = 0;
  beforeAll(async () => {
    influx = await startInflux();
    pressPort = await freePort();
    sawPort = await freePort();
    servers = [await serveRegisters(pressPort, PRESS_HOLDING, PRESS_INPUT), await serveRegisters(sawPort, SAW_HOLDING)];
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await influx?.stop();
  });

  it('`fgw run --for` collects, stores and forwards: InfluxDB holds exactly the values served, at the stored timestamps', async () => {
    const dir = tempDir();
    const cfg = join(dir.path, 'gateway.yaml');
    writeFileSync(cfg, gatewayYaml(dir.path, influx.url, pressPort, sawPort, await freePort()));
    const gw = startProcess(process.execPath, [fgw, 'run', '--config', cfg, '--for', '3s']);
    const { code } = await gw.exited;
    expect(code, gw.output()).toBe(0);

    const store = openStore({ path: `${dir.path}/data`, maxSizeBytes: 1024 ** 3, retentionMs: 14 * 86_400_000 });
    const all = store.query({ device: 'press-01', measurement: 'data', limit: 1_000_000 });
    const heartbeats = store.query({ device: '', measurement: 'status', limit: 1000 });
    await store.close();
    // a machine loaded by other work can make a poll miss its 1 s timeout: that poll is a bad
    // reading with the code TIMEOUT (and no point in InfluxDB), never a wrong value
    const stored = all.filter((r) => r.quality === 'good');
    expect(all.filter((r) => r.quality !== 'good').map((r) => r.error)).toEqual(all.filter((r) => r.quality !== 'good').map(() => 'TIMEOUT'));
    expect(stored.length).toBeGreaterThan(20);
    for (const r of stored) expect(r.value).toBe(PRESS_EXPECTED[r.tag as keyof typeof PRESS_EXPECTED]);
    expect(heartbeats.filter((h) => h.tag === 'heartbeat').length).toBeGreaterThanOrEqual(2);

    const rows = (await influx.query(`SELECT * FROM "equipment" WHERE "device" = 'press-01'`, 'factory')) as Array<Record<string, any>>;
    const storedTimes = [...new Set(stored.map((r) => r.ts))].sort((a, b) => a - b);
    expect(rows.map((r) => Number(r.time))).toEqual(storedTimes);
    const goodTagsAt = new Map<number, string[]>();
    for (const r of stored) goodTagsAt.set(r.ts, [...(goodTagsAt.get(r.ts) ?? []), r.tag]);
    for (const r of rows) {
      // every field a poll read well, with the value served (all five unless a request timed out)
      const tags = goodTagsAt.get(Number(r.time)) ?? [];
      expect(Object.fromEntries(tags.map((t) => [t, r[t]]))).toEqual(
        Object.fromEntries(tags.map((t) => [t, PRESS_EXPECTED[t as keyof typeof PRESS_EXPECTED]])),
      );
      expect(
        Object.keys(PRESS_EXPECTED)
          .filter((t) => !tags.includes(t))
          .map((t) => r[t] ?? null),
      ).toEqual(
        Object.keys(PRESS_EXPECTED)
          .filter((t) => !tags.includes(t))
          .map(() => null),
      );
      expect({ gateway: r.gateway, site: r.site, line: r.line, process: r.process }).toEqual({
        gateway: 'e2e-gw',
        site: 'test-site',
        line: 'line-01',
        process: 'stamping',
      });
    }
    const saw = (await influx.query(`SELECT * FROM "equipment" WHERE "device" = 'saw-05'`, 'factory')) as Array<Record<string, any>>;
    expect(saw.length).toBeGreaterThan(10);
    for (const r of saw) expect({ state: r.state, cuts: r.cuts }).toEqual(SAW_EXPECTED);

    // field types fixed by the configured tag types
    const types = (await influx.query(`SHOW FIELD KEYS FROM "equipment"`, 'factory')) as Array<{ fieldKey: string; fieldType: string }>;
    expect(Object.fromEntries(types.map((t) => [t.fieldKey, t.fieldType]))).toEqual({
      cuts: 'integer',
      lube_ok: 'boolean',
      oil_temp: 'float',
      state: 'integer',
      strokes: 'integer',
      tonnage: 'float',
    });
    // `fgw query` reads the same readings back from either source
    const query = (source: string) =>
      JSON.parse(
        execFileSync(process.execPath, [fgw, 'query', '--config', cfg, '--device', 'press-01', '--tag', 'tonnage', '--source', source, '--json'], {
          encoding: 'utf8',
        }),
      ) as Array<{ ts: number; value: unknown }>;
    const fromStore = query('store').map((r) => [r.ts, r.value]);
    expect(fromStore.length).toBe(stored.filter((r) => r.tag === 'tonnage').length);
    expect(query('influx').map((r) => [r.ts, r.value])).toEqual(fromStore);
    expect(fromStore.every(([, v]) => v === 812)).toBe(true);
    // heartbeat and device status reach InfluxDB too
    const hb = (await influx.query(`SELECT count("heartbeat") FROM "gateway_status" WHERE "gateway" = 'e2e-gw'`, 'factory')) as Array<{ count: number }>;
    expect(hb[0]!.count).toBe(heartbeats.filter((h) => h.tag === 'heartbeat').length);
    dir.cleanup();
  });

  it('InfluxDB stopped mid-run: after it is back, it holds exactly as many points as readings taken', async () => {
    const dir = tempDir();
    const cfg = join(dir.path, 'gateway.yaml');
    writeFileSync(cfg, gatewayYaml(dir.path, influx.url, pressPort, sawPort, await freePort()));
    await influx.query('DROP DATABASE "factory"', 'factory');
    const gw = startProcess(process.execPath, [fgw, 'run', '--config', cfg]);
    await waitFor('first points in InfluxDB', async () => (await influxCount(influx, 'press-01', 'state')) > 5);
    await influx.stop();
    const atStop = await storeCount(dir.path, 'press-01', 'state');
    await waitFor('readings collected while InfluxDB is down', async () => (await storeCount(dir.path, 'press-01', 'state')) > atStop + 20);
    await influx.start();
    await waitFor('the backlog drained', async () => (await influxCount(influx, 'press-01', 'state')) > atStop + 20, { timeoutMs: 30_000 });
    await gw.kill('SIGTERM');
    expect((await gw.exited).code).toBe(0);
    for (const [device, field] of [
      ['press-01', 'state'],
      ['saw-05', 'cuts'],
    ] as const) {
      expect(await influxCount(influx, device, field)).toBe(await storeCount(dir.path, device, field));
    }
    dir.cleanup();
  });

  it('gateway SIGKILLed mid-run: every reading committed before the kill reaches InfluxDB after a restart', async () => {
    const dir = tempDir();
    const cfg = join(dir.path, 'gateway.yaml');
    writeFileSync(cfg, gatewayYaml(dir.path, influx.url, pressPort, sawPort, await freePort()));
    await influx.query('DROP DATABASE "factory"', 'factory');
    await influx.stop(); // readings pile up in the store only
    const gw = startProcess(process.execPath, [fgw, 'run', '--config', cfg]);
    await waitFor('readings in the store', async () => (await storeCount(dir.path, 'press-01', 'state')) > 20);
    await gw.kill('SIGKILL');
    const committed = await storeCount(dir.path, 'press-01', 'state');
    await influx.start();
    const again = startProcess(process.execPath, [fgw, 'run', '--config', cfg, '--for', '2s']);
    expect((await again.exited).code, again.output()).toBe(0);
    const total = await storeCount(dir.path, 'press-01', 'state');
    expect(total).toBeGreaterThan(committed);
    expect(await influxCount(influx, 'press-01', 'state')).toBe(total);
    expect(await influxCount(influx, 'saw-05', 'cuts')).toBe(await storeCount(dir.path, 'saw-05', 'cuts'));
    dir.cleanup();
  });
});
