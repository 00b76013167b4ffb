/**
 * SIGKILL of the real gateway process (`gateway/bin/fgw.js run`) at 20 random moments while it
 * collects and forwards: two Modbus TCP devices (modbus-serial's ServerTCP, registers the test keeps
 * changing so every poll reads new values) and an MQTT device fed a steady QoS 1 stream through a
 * real Mosquitto, whose source timestamps are cut to 100 ms so many readings of a tag share a
 * millisecond (the tie-break at work across crashes and replays), all forwarded to a real influxd.
 * After the kills a last clean run drains everything. Then the store and InfluxDB must hold
 * exactly the same readings, tag by tag: the same (time, value) pairs, as many of each, so nothing
 * was lost and nothing duplicated; and the store passes SQLite's integrity check.
 * The kill moments come from a seeded PRNG (FGW_FUZZ_SEED to vary).
 */
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seeded } from '../../gateway/demo/plant.js';
import { STORE_FILE, openStore } from '../../ingest/store/index.js';
import { startInflux, type TestInflux } from '../helpers/influx.js';
import { serveRegisters, type TestModbusServer } from '../helpers/modbus-server.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { startProcess } from '../helpers/proc.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const fgw = join(new URL('../..', import.meta.url).pathname, 'gateway/bin/fgw.js');
const SEED = Number(process.env.FGW_FUZZ_SEED ?? 20261203);
const KILLS = 20;

let influx: TestInflux;
let mosq: Mosquitto;
let press: TestModbusServer;
let saw: TestModbusServer;
const pressRegs = [1, 0, 0];
const sawRegs = [2, 0];
const dir = tempDir('fgw-sigkill-');
let pressPort = 0;
let sawPort = 0;

beforeAll(async () => {
  [influx, mosq] = await Promise.all([startInflux(), startMosquitto({ persistence: false })]);
  pressPort = await freePort();
  sawPort = await freePort();
  press = await serveRegisters(pressPort, pressRegs);
  saw = await serveRegisters(sawPort, sawRegs);
});
afterAll(async () => {
  await press?.close();
  await saw?.close();
  await mosq?.close();
  await influx?.cleanup();
  dir.cleanup();
});

describe('SIGKILL at 20 random moments while collecting and forwarding', () => {
  it('the store and InfluxDB end with exactly the same readings, no loss, no duplicate; the store is intact', async () => {
    const apiPort = await freePort();
    const cfg = join(dir.path, 'gateway.yaml');
    writeFileSync(
      cfg,
      `
gateway: { id: chaos-gw, statusInterval: 500ms, stopTimeout: 30s, logLevel: warn }
storage: { path: ${dir.path}/data }
influx: { url: ${influx.url}, database: factory, batchSize: 500, flushInterval: 100ms, maxBackoff: 500ms }
http: { listen: 127.0.0.1:${apiPort} }
devices:
  - id: press-01
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${pressPort}, unitId: 1, timeout: 500ms }
    interval: 50ms
    tags:
      - { name: state, area: holding, address: 0 }
      - { name: count, area: holding, address: 1, type: uint32 }
  - id: saw-05
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${sawPort}, unitId: 1, timeout: 500ms }
    interval: 80ms
    tags:
      - { name: cuts, area: holding, address: 1 }
  - id: polisher-04
    protocol: mqtt
    connection: { url: ${mosq.url}, clientId: chaos-gw, qos: 1 }
    tags:
      - { name: pieces, topic: chaos/telemetry, path: n, type: integer }
      - { name: stamped, topic: chaos/telemetry, path: n, timestampPath: ts, type: integer }
`,
    );
    // the machines change: every poll and every message carries a new value
    let tick = 0;
    const machines = setInterval(() => {
      tick++;
      pressRegs[1] = (tick >>> 16) & 0xffff;
      pressRegs[2] = tick & 0xffff;
      sawRegs[1] = tick & 0xffff;
    }, 5);
    const pub = await mqtt.connectAsync(mosq.url, { protocolVersion: 5, clientId: 'chaos-machine' });
    let n = 0;
    const stream = setInterval(() => {
      for (let i = 0; i < 2; i++)
        void pub.publishAsync('chaos/telemetry', JSON.stringify({ n: n++, ts: Math.floor(Date.now() / 100) * 100 }), { qos: 1 }).catch(() => {});
    }, 20);

    const rand = seeded(SEED); // the demo plant's mulberry32
    const kills: number[] = [];
    try {
      for (let k = 0; k < KILLS; k++) {
        const gw = startProcess(process.execPath, [fgw, 'run', '--config', cfg]);
        await waitFor('the gateway up', async () => (await fetch(`http://127.0.0.1:${apiPort}/health/live`).catch(() => undefined))?.ok, {
          timeoutMs: 30_000,
          everyMs: 20,
        });
        const after = Math.floor(50 + rand() * 750);
        kills.push(after);
        await new Promise((r) => setTimeout(r, after)); // the random moment of the kill
        await gw.kill('SIGKILL');
      }
    } finally {
      clearInterval(machines);
      clearInterval(stream);
      await pub.endAsync();
    }
    // a last clean run: picks up what the broker kept for the session, drains the backlog, stops
    const last = startProcess(process.execPath, [fgw, 'run', '--config', cfg, '--for', '3s']);
    expect((await last.exited).code, last.output()).toBe(0);

    const store = openStore({ path: join(dir.path, 'data'), maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 });
    const key = (ts: number, v: unknown) => `${ts}|${JSON.stringify(v)}`;
    const sortedKeys = (a: string[]) => [...a].sort();
    let total = 0;
    try {
      expect(store.stats().backlog).toBe(0);
      for (const [device, tags] of [
        ['press-01', ['state', 'count']],
        ['saw-05', ['cuts']],
        ['polisher-04', ['pieces', 'stamped']],
      ] as const) {
        for (const tag of tags) {
          const stored = store.query({ device, tag, measurement: 'data', limit: 10_000_000 }).filter((r) => r.quality === 'good');
          const inInflux = (await influx.query(`SELECT "${tag}" FROM "equipment" WHERE "device" = '${device}'`, 'factory')).filter(
            (r) => r[tag] !== null && r[tag] !== undefined,
          );
          expect(stored.length, `${device}.${tag}`).toBeGreaterThan(20);
          expect(sortedKeys(inInflux.map((r) => key(Number(r.time), r[tag]))), `${device}.${tag}: InfluxDB = store`).toEqual(
            sortedKeys(stored.map((r) => key(r.ts, r.value))),
          );
          total += stored.length;
        }
      }
      // many readings shared a millisecond: the case that used to collapse
      const stamped = store.query({ device: 'polisher-04', tag: 'stamped', limit: 10_000_000 });
      expect(stamped.filter((r) => (r.tie ?? 0) > 0).length).toBeGreaterThan(100);
      // heartbeats too
      const beats = store.query({ device: '', tag: 'heartbeat', measurement: 'status', limit: 1_000_000 }).length;
      const [hb] = await influx.query(`SELECT count("heartbeat") FROM "gateway_status"`, 'factory');
      expect(Number(hb?.count)).toBe(beats);
    } finally {
      await store.close();
    }
    const raw = new Database(join(dir.path, 'data', STORE_FILE), { readonly: true });
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    raw.close();
    expect(kills).toHaveLength(KILLS);
    expect(total).toBeGreaterThan(1000);
  }, 240_000);
});
