/**
 * Sparkplug B end to end: a test edge node built on the `sparkplug-payload` package (Eclipse
 * Tahu's codec) publishes births, alias-only data and deaths through a real Mosquitto; the
 * adapter writes to the real store. The edge node itself observes the rebirth requests (NCMD).
 */
import type { MqttClient } from 'mqtt';
import { get as sparkplug } from 'sparkplug-payload';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttAdapter } from '../../adapters/mqtt/adapter.js';
import type { Store } from '../../ingest/types.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { context, createAdapter, newStore, publisher, values } from './harness.js';

const sp = sparkplug('spBv1.0')!;
const G = 'Plant1';
const E = 'Edge1';
// source timestamps near now: the adapter refuses ones more than 30 days old or 1 day ahead
const T1 = Math.floor(Date.now() / 1000) * 1000 - 60_000;

let broker: Mosquitto;
let st: ReturnType<typeof newStore>;
let store: Store;
let edge: MqttClient;
const ncmd: Array<{ name: string; value: unknown }> = [];
let node: MqttAdapter;
let pump: MqttAdapter;

type Metric = Parameters<typeof sp.encodePayload>[0]['metrics'];
async function publish(type: string, metrics: NonNullable<Metric>, timestamp: number, device?: string) {
  const topic = `spBv1.0/${G}/${type}/${E}${device ? `/${device}` : ''}`;
  await edge.publishAsync(topic, Buffer.from(sp.encodePayload({ timestamp, seq: 0, metrics })), { qos: 0 });
}

beforeAll(async () => {
  broker = await startMosquitto();
  st = newStore();
  store = st.store;
  edge = await publisher(broker.url, { clientId: 'test-edge-node' });
  edge.on('message', (_t, payload) => {
    for (const m of sp.decodePayload(payload).metrics ?? []) ncmd.push({ name: m.name ?? '', value: m.value });
  });
  await edge.subscribeAsync(`spBv1.0/${G}/NCMD/${E}`, { qos: 0 });
  const connection = { url: broker.url, clientId: 'gw-sparkplug' };
  const shared = new Map<string, unknown>();
  node = createAdapter(
    {
      id: 'boiler-1',
      protocol: 'mqtt',
      format: 'sparkplugb',
      connection,
      sparkplug: { groupId: G, edgeNodeId: E, rebirthInterval: '0ms' },
      tags: [
        { name: 'temp', metric: 'Boiler/Temp' },
        { name: 'running', metric: 'Boiler/Running' },
        { name: 'count', metric: 'Boiler/Count' },
        { name: 'mode', metric: 'Boiler/Mode' },
        { name: 'offset', metric: 'Boiler/Offset' },
      ],
    },
    context(store, '', shared),
  );
  pump = createAdapter(
    {
      id: 'pump-1',
      protocol: 'mqtt',
      format: 'sparkplugb',
      connection,
      sparkplug: { groupId: G, edgeNodeId: E, deviceId: 'Pump1' },
      tags: [
        { name: 'speed', metric: 'Speed' },
        { name: 'setpoint', metric: 'Setpoint', type: 'float', writable: true },
      ],
    },
    context(store, '', shared),
  );
  await node.start();
  await pump.start();
  await waitFor('broker connection', () => (node as unknown as { conn?: { connected: boolean } }).conn?.connected ?? false);
});

afterAll(async () => {
  await node?.stop();
  await pump?.stop();
  await edge?.endAsync();
  await st?.close();
  await broker?.close();
});

describe('Sparkplug B', () => {
  it('data for an alias no birth defined is dead-lettered and a rebirth is requested (NCMD seen by the edge node)', async () => {
    await publish('NDATA', [{ alias: 1, type: 'Double', value: 1 }], T1 - 1000);
    await waitFor('rebirth request', () => ncmd.length === 1);
    expect(ncmd[0]).toEqual({ name: 'Node Control/Rebirth', value: true });
    expect(node.status().badByReason).toEqual({ UNKNOWN_ALIAS: 1 });
    expect(node.status().connected).toBe(false); // no birth yet: the node is not known alive
  });

  it('NBIRTH defines metrics and aliases and gives the first values with their kinds', async () => {
    await publish(
      'NBIRTH',
      [
        { name: 'bdSeq', type: 'UInt64', value: 0 },
        { name: 'Boiler/Temp', alias: 1, type: 'Double', value: 20.5 },
        { name: 'Boiler/Running', alias: 2, type: 'Boolean', value: true },
        { name: 'Boiler/Count', alias: 3, type: 'Int64', value: 100 },
        { name: 'Boiler/Mode', alias: 4, type: 'String', value: 'auto' },
        { name: 'Boiler/Offset', alias: 5, type: 'Int32', value: -7 },
        { name: 'Node Control/Rebirth', type: 'Boolean', value: false },
      ],
      T1,
    );
    await waitFor('birth values', () => values(store, 'boiler-1', 'offset').length === 1);
    expect(values(store, 'boiler-1', 'temp')).toEqual([{ ts: T1, value: 20.5, kind: 'float', quality: 'good' }]);
    expect(values(store, 'boiler-1', 'running')).toEqual([{ ts: T1, value: true, kind: 'boolean', quality: 'good' }]);
    expect(values(store, 'boiler-1', 'count')).toEqual([{ ts: T1, value: 100, kind: 'integer', quality: 'good' }]);
    expect(values(store, 'boiler-1', 'mode')).toEqual([{ ts: T1, value: 'auto', kind: 'string', quality: 'good' }]);
    expect(values(store, 'boiler-1', 'offset')).toEqual([{ ts: T1, value: -7, kind: 'integer', quality: 'good' }]);
    expect(node.status().connected).toBe(true);
  });

  it('NDATA by alias only resolves to the birth names; metric timestamps win over the payload timestamp', async () => {
    await publish(
      'NDATA',
      [
        { alias: 1, type: 'Double', value: 21.25 },
        { alias: 3, type: 'Int64', value: -2 },
        { alias: 4, type: 'String', value: 'manual', timestamp: T1 + 5000 },
      ],
      T1 + 1000,
    );
    await waitFor('data', () => values(store, 'boiler-1', 'mode').length === 2);
    expect(values(store, 'boiler-1', 'temp')[1]).toEqual({ ts: T1 + 1000, value: 21.25, kind: 'float', quality: 'good' });
    expect(values(store, 'boiler-1', 'count')[1]).toEqual({ ts: T1 + 1000, value: -2, kind: 'integer', quality: 'good' });
    expect(values(store, 'boiler-1', 'mode')[1]).toEqual({ ts: T1 + 5000, value: 'manual', kind: 'string', quality: 'good' });
  });

  it('DBIRTH/DDATA feed the device under the node (Float kept to float32 precision)', async () => {
    await publish(
      'DBIRTH',
      [
        { name: 'Speed', alias: 10, type: 'Float', value: 1.1 },
        { name: 'Setpoint', alias: 11, type: 'Float', value: 50 },
      ],
      T1 + 2000,
      'Pump1',
    );
    await publish('DDATA', [{ alias: 10, type: 'Float', value: 2.2 }], T1 + 3000, 'Pump1');
    await waitFor('pump values', () => values(store, 'pump-1', 'speed').length === 2);
    expect(values(store, 'pump-1', 'speed')).toEqual([
      { ts: T1 + 2000, value: 1.1, kind: 'float', quality: 'good' },
      { ts: T1 + 3000, value: 2.2, kind: 'float', quality: 'good' },
    ]);
    expect(pump.status().connected).toBe(true);
  });

  it('a write to a Sparkplug tag goes out as DCMD with the birth datatype', async () => {
    const got: Array<{ topic: string; name: string; type: string; value: unknown }> = [];
    const listener = (topic: string, payload: Buffer) => {
      if (topic.includes('/DCMD/'))
        for (const m of sp.decodePayload(payload).metrics ?? []) got.push({ topic, name: m.name ?? '', type: m.type, value: m.value });
    };
    edge.on('message', listener);
    await edge.subscribeAsync(`spBv1.0/${G}/DCMD/${E}/Pump1`, { qos: 0 });
    await pump.write!('setpoint', 55.5);
    await waitFor('DCMD', () => got.length === 1);
    expect(got[0]).toEqual({ topic: `spBv1.0/${G}/DCMD/${E}/Pump1`, name: 'Setpoint', type: 'Float', value: 55.5 });
    edge.off('message', listener);
  });

  it('an unknown alias after the birth requests a rebirth again and keeps the known metrics of the message', async () => {
    const before = ncmd.length;
    await publish(
      'NDATA',
      [
        { alias: 99, type: 'Double', value: 1 },
        { alias: 1, type: 'Double', value: 22 },
      ],
      T1 + 6000,
    );
    await waitFor('second rebirth request', () => ncmd.length === before + 1);
    await waitFor('known metric kept', () => values(store, 'boiler-1', 'temp').length === 3);
    expect(values(store, 'boiler-1', 'temp')[2]).toMatchObject({ ts: T1 + 6000, value: 22 });
    expect(node.status().badByReason.UNKNOWN_ALIAS).toBe(2);
  });

  it('an NDEATH of an older session (other bdSeq) is ignored; the matching NDEATH marks node and device tags bad', async () => {
    await publish('NDEATH', [{ name: 'bdSeq', type: 'UInt64', value: 7 }], T1 + 7000);
    await publish('NDEATH', [{ name: 'bdSeq', type: 'UInt64', value: 0 }], T1 + 8000);
    await waitFor('death readings', () => values(store, 'pump-1', 'speed').length === 3 && values(store, 'boiler-1', 'temp').length === 4);
    for (const tag of ['temp', 'running', 'count', 'mode', 'offset']) {
      const rows = values(store, 'boiler-1', tag);
      expect(rows.at(-1)).toMatchObject({ ts: T1 + 8000, value: null, quality: 'bad' });
      expect(rows.filter((r) => r.ts === T1 + 7000)).toEqual([]);
    }
    const deaths = store.query({ device: 'boiler-1', tag: 'temp' }).filter((r) => r.quality === 'bad');
    expect(deaths.map((r) => r.error)).toEqual(['NDEATH']);
    expect(values(store, 'pump-1', 'speed').at(-1)).toMatchObject({ ts: T1 + 8000, value: null, quality: 'bad' });
    expect(node.status().connected).toBe(false);
    expect(pump.status().connected).toBe(false);
  });

  it('a garbage payload on a Sparkplug topic is dead-lettered NOT_SPARKPLUG', async () => {
    await edge.publishAsync(`spBv1.0/${G}/NDATA/${E}`, Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]), { qos: 1 });
    await waitFor('dead letter', () => node.status().badByReason.NOT_SPARKPLUG === 1);
    const d = store.deadLetters({ source: 'mqtt' }).find((x) => x.reason === 'NOT_SPARKPLUG');
    expect(d).toMatchObject({ device: 'boiler-1', topic: `spBv1.0/${G}/NDATA/${E}` });
  });
});
