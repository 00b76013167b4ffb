/**
 * One contract for every adapter, run against each protocol's real server:
 * create does no I/O; start never rejects because a device is unreachable, and reports it; against
 * a live device readings arrive shaped as the contract says; after stop resolves nothing more is
 * written. A new protocol registered in adapters/registry.ts must add its fixture here.
 */
import pino from 'pino';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterModules } from '../../adapters/registry.js';
import { ModbusSimulator } from '../../adapters/modbus/simulator.js';
import { OpcuaSimulator } from '../../adapters/opcua/simulator.js';
import type { AdapterContext, Sink } from '../../adapters/types.js';
import { systemClock } from '../../config/clock.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { MemorySink } from '../helpers/sink.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface Fixture {
  /** a device config (raw, as in a YAML file) reaching a live server */
  live(): unknown;
  /** the same device pointed at a port where nothing listens */
  dead(): Promise<unknown>;
  /** makes the live device produce data (push protocols) */
  stimulate?(): Promise<void>;
}

const dir = tempDir('fgw-lifecycle-');
let modbusSim: ModbusSimulator;
let modbusPort = 0;
let opcuaSim: OpcuaSimulator;
let broker: Mosquitto;
let publisher: mqtt.MqttClient;

const FIXTURES: Record<string, Fixture> = {
  modbus: {
    live: () => ({
      id: 'mb-1',
      protocol: 'modbus',
      interval: '100ms',
      connection: { host: '127.0.0.1', port: modbusPort, unitId: 1, timeout: '300ms' },
      tags: [{ name: 'state', role: 'state', area: 'holding', address: 0, type: 'uint16' }],
    }),
    dead: async () => ({
      id: 'mb-1',
      protocol: 'modbus',
      interval: '100ms',
      connection: { host: '127.0.0.1', port: await freePort(), unitId: 1, timeout: '300ms' },
      tags: [{ name: 'state', role: 'state', area: 'holding', address: 0, type: 'uint16' }],
    }),
  },
  opcua: {
    live: () => ({
      id: 'ua-1',
      protocol: 'opcua',
      interval: '100ms',
      connection: { endpoint: opcuaSim.endpoint, securityMode: 'None', securityPolicy: 'None' },
      tags: [{ name: 'state', role: 'state', nodeId: 'ns=1;s=Lathe3.State' }],
    }),
    dead: async () => ({
      id: 'ua-1',
      protocol: 'opcua',
      interval: '100ms',
      connection: { endpoint: `opc.tcp://127.0.0.1:${await freePort()}`, securityMode: 'None', securityPolicy: 'None' },
      tags: [{ name: 'state', role: 'state', nodeId: 'ns=1;s=Lathe3.State' }],
    }),
  },
  mqtt: {
    live: () => ({
      id: 'mq-1',
      protocol: 'mqtt',
      interval: '1s',
      connection: { url: broker.url, clientId: 'lifecycle-mq-1', qos: 1 },
      tags: [{ name: 'state', role: 'state', topic: 'lc/mq-1/status', path: 'state', type: 'integer' }],
    }),
    dead: async () => ({
      id: 'mq-1',
      protocol: 'mqtt',
      interval: '1s',
      connection: { url: `mqtt://127.0.0.1:${await freePort()}`, clientId: 'lifecycle-mq-dead', qos: 1 },
      tags: [{ name: 'state', role: 'state', topic: 'lc/mq-1/status', path: 'state', type: 'integer' }],
    }),
    stimulate: async () => {
      await publisher.publishAsync('lc/mq-1/status', JSON.stringify({ state: 2 }), { qos: 1 });
    },
  },
};

function ctxFor(sink: Sink): AdapterContext {
  return { sink, log: pino({ level: 'silent' }), clock: systemClock, dataDir: dir.path, gateway: { id: 'lifecycle' }, shared: new Map() };
}

beforeAll(async () => {
  modbusSim = new ModbusSimulator([1]);
  modbusSim.set(1, 'holding', 0, 'uint16', 2);
  modbusPort = await freePort();
  await modbusSim.startTcp(modbusPort);
  opcuaSim = await OpcuaSimulator.start({ pkiDir: `${dir.path}/ua-sim` });
  opcuaSim.set('Lathe3.State', 2);
  broker = await startMosquitto();
  publisher = await mqtt.connectAsync(broker.url, { clientId: 'lifecycle-publisher' });
}, 60_000);

afterAll(async () => {
  await publisher?.endAsync();
  await broker?.close();
  await opcuaSim?.stop();
  await modbusSim?.stop();
  dir.cleanup();
});

it('every registered protocol has a fixture here', () => {
  expect(adapterModules.map((m) => m.protocol).sort()).toEqual(Object.keys(FIXTURES).sort());
});

describe.each(adapterModules.map((m) => [m.protocol, m] as const))('%s adapter lifecycle', (protocol, mod) => {
  const fx = () => FIXTURES[protocol]!;

  it('create does no I/O: disconnected, no counts, nothing written', () => {
    const sink = new MemorySink();
    const a = mod.create(mod.deviceSchema.parse(fx().live()), ctxFor(sink));
    expect(a.deviceId).toBe((fx().live() as { id: string }).id);
    expect(a.status()).toMatchObject({ connected: false, good: 0, bad: 0 });
    expect(sink.readings).toEqual([]);
  });

  it('start never rejects for an unreachable device; it reports the error and stops cleanly', async () => {
    const sink = new MemorySink();
    const a = mod.create(mod.deviceSchema.parse(await fx().dead()), ctxFor(sink));
    await expect(a.start()).resolves.toBeUndefined();
    await waitFor('the error reported in status', () => a.status().lastError);
    expect(a.status().connected).toBe(false);
    expect(sink.readings.every((r) => r.quality === 'bad' && r.value === null)).toBe(true);
    await expect(a.stop()).resolves.toBeUndefined();
  });

  it('delivers readings shaped as the contract says, and writes nothing after stop resolves', async () => {
    const sink = new MemorySink();
    const device = mod.deviceSchema.parse(fx().live()) as { id: string; tags: Array<{ name: string }> };
    const a = mod.create(device as never, ctxFor(sink));
    await a.start();
    await waitFor('a good reading', async () => {
      await fx().stimulate?.();
      return sink.readings.some((r) => r.quality === 'good');
    });
    await waitFor('connected', () => a.status().connected);
    const good = sink.readings.filter((r) => r.quality === 'good');
    for (const r of sink.readings) {
      expect(r.device).toBe(device.id);
      expect(device.tags.map((t) => t.name)).toContain(r.tag);
      expect(['float', 'integer', 'boolean', 'string']).toContain(r.kind);
      expect(Number.isFinite(r.ts)).toBe(true);
      expect(r.value === null).toBe(r.quality === 'bad');
    }
    expect(good[0]).toMatchObject({ tag: 'state', kind: 'integer', value: 2 });
    expect(a.status().good).toBeGreaterThanOrEqual(good.length);
    await a.stop();
    const after = sink.readings.length;
    await fx().stimulate?.();
    // nothing to await for an absence: give it several poll intervals
    await new Promise((r) => setTimeout(r, 500));
    expect(sink.readings.length).toBe(after);
  });
});
