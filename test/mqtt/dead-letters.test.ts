/**
 * Counts that agree: a mixed set of good and malformed payloads for a JSON device and a Sparkplug
 * edge node goes through a real Mosquitto into the adapters and the real store. Afterwards the
 * dead-letter table holds exactly one entry per malformed payload sent, with its reason, none for
 * the good ones and none for the gateway's own rebirth command (which comes back on the node's
 * subscription), and the adapters' bad-by-reason counters say the same.
 */
import { get as sparkplug } from 'sparkplug-payload';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttAdapter } from '../../adapters/mqtt/adapter.js';
import type { Store } from '../../ingest/types.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { context, createAdapter, newStore, publisher, values } from './harness.js';

const sp = sparkplug('spBv1.0')!;
let broker: Mosquitto;
let st: ReturnType<typeof newStore>;
let store: Store;
let json: MqttAdapter;
let node: MqttAdapter;

beforeAll(async () => {
  broker = await startMosquitto();
  st = newStore();
  store = st.store;
  const connection = { url: broker.url, clientId: 'gw-dead-letters' };
  const shared = new Map<string, unknown>();
  json = createAdapter(
    {
      id: 'press-json',
      protocol: 'mqtt',
      connection,
      maxPayloadSize: '1KB',
      tags: [
        { name: 'count', topic: 'dl/press', path: 'count', type: 'integer' },
        { name: 'temp', topic: 'dl/press', path: 'temp', type: 'float', timestampPath: 'ts' },
      ],
    },
    context(store, '', shared),
  );
  node = createAdapter(
    {
      id: 'boiler-sp',
      protocol: 'mqtt',
      format: 'sparkplugb',
      connection,
      maxPayloadSize: '1KB',
      sparkplug: { groupId: 'G', edgeNodeId: 'E', rebirthInterval: '0ms' },
      tags: [{ name: 'temp', metric: 'Temp' }],
    },
    context(store, '', shared),
  );
  await json.start();
  await node.start();
  await waitFor('subscribed', () => (json as unknown as { conn?: { connected: boolean } }).conn?.connected ?? false);
}, 60_000);

afterAll(async () => {
  await json?.stop();
  await node?.stop();
  await st?.close();
  await broker?.close();
});

describe('every malformed payload is exactly one dead letter', () => {
  it('a mixed set through Mosquitto: dead letters = malformed payloads sent, by reason', async () => {
    const now = Date.now();
    const spData = (metrics: Parameters<typeof sp.encodePayload>[0]['metrics'], timestamp = now) =>
      Buffer.from(sp.encodePayload({ timestamp, seq: 0, metrics }));
    // [topic, payload, reason or null for a good message]
    const kinds: Array<[string, Buffer | string, string | null]> = [
      ['dl/press', JSON.stringify({ count: 1, temp: 20.5, ts: now }), null],
      ['dl/press', '{"count": 1,', 'NOT_JSON'],
      ['dl/press', '', 'EMPTY'],
      ['dl/press', JSON.stringify({ count: 1, pad: 'x'.repeat(2000) }), 'OVERSIZE'],
      ['dl/press', JSON.stringify({ other: 1 }), 'PATH_MISSING'], // both tags missing: still one
      ['dl/press', JSON.stringify({ count: 'many', temp: true, ts: now }), 'WRONG_TYPE'], // both wrong: one
      ['dl/press', JSON.stringify({ count: '1e999', temp: '1e999', ts: now }), 'WRONG_TYPE'],
      ['dl/press', JSON.stringify({ count: 2, temp: 1, ts: 1.5 }), 'BAD_TIMESTAMP'], // count still lands
      ['dl/press', JSON.stringify({ count: 3, temp: 1, ts: 99_999_999_999_999 }), 'BAD_TIMESTAMP'],
      ['spBv1.0/G/NDATA/E', spData([{ alias: 9, type: 'Double', value: 1 }]), 'UNKNOWN_ALIAS'], // before any birth: a rebirth NCMD goes out
      [
        'spBv1.0/G/NBIRTH/E',
        spData([
          { name: 'bdSeq', type: 'UInt64', value: 0 },
          { name: 'Temp', alias: 1, type: 'Double', value: 20 },
        ]),
        null,
      ],
      ['spBv1.0/G/NDATA/E', spData([{ alias: 1, type: 'Double', value: 21 }]), null],
      ['spBv1.0/G/NDATA/E', Buffer.alloc(0), 'EMPTY'],
      ['spBv1.0/G/NDATA/E', spData([{ alias: 1, type: 'String', value: 'x'.repeat(2000) }]), 'OVERSIZE'],
      ['spBv1.0/G/NDATA/E', Buffer.from('not protobuf at all \u00ff\u00fe'), 'NOT_SPARKPLUG'],
      ['spBv1.0/G/NDATA/E', spData([{ alias: 1, type: 'Double', value: 22 }], 1), 'BAD_TIMESTAMP'],
    ];
    const pub = await publisher(broker.url, { clientId: 'dl-publisher' });
    const sent = new Map<string, number>();
    const ROUNDS = 25;
    for (let round = 0; round < ROUNDS; round++) {
      for (const [topic, payload, reason] of kinds) {
        await pub.publishAsync(topic, payload, { qos: 1 });
        if (reason) sent.set(reason, (sent.get(reason) ?? 0) + 1);
      }
    }
    // a last good message on each topic: once it is stored, everything before it was handled
    await pub.publishAsync('dl/press', JSON.stringify({ count: -1, temp: 0, ts: now }), { qos: 1 });
    await pub.publishAsync('spBv1.0/G/NDATA/E', spData([{ alias: 1, type: 'Double', value: -1 }]), { qos: 1 });
    await waitFor(
      'the last messages stored',
      () => values(store, 'press-json', 'count').some((r) => r.value === -1) && values(store, 'boiler-sp', 'temp').some((r) => r.value === -1),
    );
    await pub.endAsync();

    const malformed = [...sent.values()].reduce((a, b) => a + b, 0);
    const dead = store.deadLetters({ source: 'mqtt', limit: 100_000 });
    const byReason = (list: Array<{ reason: string }>) =>
      Object.fromEntries([...new Set(list.map((d) => d.reason))].sort().map((r) => [r, list.filter((d) => d.reason === r).length]));
    expect(malformed).toBe(ROUNDS * 13);
    expect(dead).toHaveLength(malformed);
    expect(byReason(dead)).toEqual(Object.fromEntries([...sent.entries()].sort()));
    // the rebirth requests were sent and came back on the subscription without a dead letter
    expect(node.status().rebirthRequests).toBeGreaterThan(0);
    expect(dead.some((d) => d.reason === 'NO_DEVICE')).toBe(false);
    // the adapters count the same
    const counted = { ...json.status().badByReason };
    for (const [r, n] of Object.entries(node.status().badByReason)) counted[r] = (counted[r] ?? 0) + n;
    expect(Object.fromEntries(Object.entries(counted).sort())).toEqual(Object.fromEntries([...sent.entries()].sort()));
    // no ±Infinity or absurd time was stored as a good reading
    for (const r of store.query({ limit: 1_000_000 })) {
      if (r.quality !== 'good') continue;
      if (typeof r.value === 'number') expect(Number.isFinite(r.value)).toBe(true);
      expect(Math.abs(r.ts - now)).toBeLessThan(86_400_000);
    }
  });
});
