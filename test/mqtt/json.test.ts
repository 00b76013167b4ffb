/**
 * JSON and raw payloads end to end: a real Mosquitto, publishers we did not write (mosquitto_pub)
 * and mqtt.js, the adapter, and the real embedded store. Values, kinds and timestamps are known in
 * advance. Then bad payloads (each dead-lettered with its reason, none stopping the adapter),
 * writes, fleet captures, MQTT 3.1.1, WebSockets and a broker restart mid-run.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { MqttAdapter } from '../../adapters/mqtt/adapter.js';
import { MqttSimulator, telemetryMessages } from '../../adapters/mqtt/simulator.js';
import { isGatewayError } from '../../config/errors.js';
import type { Store } from '../../ingest/types.js';
import { captureLog } from '../helpers/log.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { context, createAdapter, mosquittoPub, newStore, publisher, values } from './harness.js';

let broker: Mosquitto;
let st: ReturnType<typeof newStore>;
let store: Store;
const adapters: MqttAdapter[] = [];
/** a source timestamp (epoch s) near now: the adapter refuses ones more than 30 days old */
const TS_S = Math.floor(Date.now() / 1000) - 60;

beforeAll(async () => {
  broker = await startMosquitto({ persistence: true, websockets: true });
  st = newStore();
  store = st.store;
});

afterAll(async () => {
  for (const a of adapters) await a.stop();
  await st?.close();
  await broker?.close();
});

/** The canonical polisher-04 device from config/gateway.yaml, pointed at the test broker. */
function canonicalPolisher(url: string, clientId: string): Record<string, unknown> {
  // ${ENV} placeholders elsewhere in the file are not this test's concern (the config loader's tests cover them)
  const text = readFileSync(new URL('../../config/gateway.yaml', import.meta.url), 'utf8').replace(/\$\{[^}]*\}/g, 'x');
  const doc = parse(text) as { devices: Array<Record<string, unknown>> };
  const d = doc.devices.find((x) => x.protocol === 'mqtt')!;
  return { ...d, connection: { ...(d.connection as object), url, clientId } };
}

async function started(device: unknown, dataDir = ''): Promise<MqttAdapter> {
  const a = createAdapter(device, context(store, dataDir));
  adapters.push(a);
  await a.start();
  await waitFor('adapter connected', () => a.status().connected);
  return a;
}

describe('JSON payloads (canonical polisher-04 config)', () => {
  let a: MqttAdapter;
  beforeAll(async () => {
    a = await started(canonicalPolisher(broker.url, 'gw-json-1'));
  });

  it('telemetry from mosquitto_pub lands with its source timestamp (epoch s) and kinds', async () => {
    await mosquittoPub(broker.port, 'plant/line-01/polisher-04/telemetry', JSON.stringify({ ts: TS_S, counters: { pieces: 12 }, motor: { current: 4.25 } }));
    await mosquittoPub(
      broker.port,
      'plant/line-01/polisher-04/telemetry',
      JSON.stringify({ ts: TS_S * 1000 + 1500, counters: { pieces: 13 }, motor: { current: 4.5 } }),
    );
    await mosquittoPub(
      broker.port,
      'plant/line-01/polisher-04/telemetry',
      JSON.stringify({ ts: new Date(TS_S * 1000 + 2000).toISOString().replace('.000Z', 'Z'), counters: { pieces: 14 }, motor: { current: 4 } }),
    );
    await waitFor('3 pieces readings', () => values(store, 'polisher-04', 'pieces').length === 3);
    expect(values(store, 'polisher-04', 'pieces')).toEqual([
      { ts: TS_S * 1000, value: 12, kind: 'float', quality: 'good' },
      { ts: TS_S * 1000 + 1500, value: 13, kind: 'float', quality: 'good' },
      { ts: TS_S * 1000 + 2000, value: 14, kind: 'float', quality: 'good' },
    ]);
    expect(values(store, 'polisher-04', 'motor_current').map((r) => [r.ts, r.value])).toEqual([
      [TS_S * 1000, 4.25],
      [TS_S * 1000 + 1500, 4.5],
      [TS_S * 1000 + 2000, 4],
    ]);
  });

  it('a status without timestampPath gets the receive time; the untyped state is fixed as string by its first value', async () => {
    const before = Date.now();
    await mosquittoPub(broker.port, 'plant/line-01/polisher-04/status', '{"state":"running"}');
    await mosquittoPub(broker.port, 'plant/line-01/polisher-04/status', '{"state":2}');
    await waitFor('2 state readings', () => values(store, 'polisher-04', 'state').length === 2);
    const rows = values(store, 'polisher-04', 'state');
    expect(rows.map((r) => [r.value, r.kind])).toEqual([
      ['running', 'string'],
      ['2', 'string'],
    ]);
    for (const r of rows) expect(r.ts).toBeGreaterThanOrEqual(before);
    expect(a.status()).toMatchObject({ connected: true, bad: 0 });
    expect(a.status().good).toBe(8);
  });

  it('the type an untyped tag learnt survives a restart (kept in the data dir)', async () => {
    const dir = tempDir('fgw-mqtt-kinds-');
    const device = {
      id: 'learn-1',
      protocol: 'mqtt',
      connection: { url: broker.url, clientId: 'gw-learn-1' },
      tags: [{ name: 'state', topic: 'learn/state', path: 'state' }],
    };
    const first = await started(device, dir.path);
    await mosquittoPub(broker.port, 'learn/state', '{"state": "running"}');
    await waitFor('first value', () => values(store, 'learn-1', 'state').length === 1);
    await first.stop();
    const second = await started(device, dir.path);
    await mosquittoPub(broker.port, 'learn/state', '{"state": 3}');
    await waitFor('second value', () => values(store, 'learn-1', 'state').length === 2);
    expect(values(store, 'learn-1', 'state').map((r) => [r.value, r.kind])).toEqual([
      ['running', 'string'],
      ['3', 'string'],
    ]);
    await second.stop();
    dir.cleanup();
  });

  it('a retained message is stored once, not again when the persistent session resumes (MQTT 5 retain handling)', async () => {
    await mosquittoPub(broker.port, 'retained/state', '{"state": "idle"}', ['-r']);
    const device = {
      id: 'retained-1',
      protocol: 'mqtt',
      connection: { url: broker.url, clientId: 'gw-retained-1' },
      tags: [{ name: 'state', topic: 'retained/state', path: 'state', type: 'string' }],
    };
    const first = await started(device);
    await waitFor('retained value', () => values(store, 'retained-1', 'state').length === 1);
    await first.stop();
    const second = await started(device);
    await mosquittoPub(broker.port, 'retained/state', '{"state": "running"}');
    await waitFor('the live value', () => values(store, 'retained-1', 'state').some((r) => r.value === 'running'));
    expect(values(store, 'retained-1', 'state').map((r) => r.value)).toEqual(['idle', 'running']);
    await second.stop();
    await mosquittoPub(broker.port, 'retained/state', null, ['-r']); // clear it
  });

  it('a write without writeTopic is refused with GW_ERR_WRITE_UNSUPPORTED', async () => {
    const e = await a.write!('state', 'idle').catch((x: unknown) => x);
    expect(isGatewayError(e, 'GW_ERR_WRITE_UNSUPPORTED')).toBe(true);
  });
});

describe('the publisher simulator (demo plant)', () => {
  it('publishes telemetry the canonical polisher config reads: values and source timestamps', async () => {
    const a = await started({
      ...canonicalPolisher(broker.url, 'gw-sim-1'),
      id: 'polisher-sim',
      tags: [
        { name: 'state', role: 'state', topic: 'plant/line-09/polisher-sim/status', path: 'state' },
        { name: 'pieces', role: 'counter', topic: 'plant/line-09/polisher-sim/telemetry', path: 'counters.pieces', timestampPath: 'ts', type: 'integer' },
        { name: 'motor_current', role: 'parameter', topic: 'plant/line-09/polisher-sim/telemetry', path: 'motor.current', timestampPath: 'ts' },
      ],
    });
    let pieces = 0;
    const stamps: number[] = [];
    const sim = new MqttSimulator({
      url: broker.url,
      intervalMs: 20,
      messages: telemetryMessages('plant/line-09/polisher-sim', (now) => {
        stamps.push(now);
        pieces += 2;
        return { state: 'running', pieces, motor: { current: 4.5 } };
      }),
    });
    await sim.start();
    await waitFor('5 telemetry rounds stored', () => values(store, 'polisher-sim', 'pieces').length >= 5);
    await sim.stop();
    await waitFor('the last round stored', () => values(store, 'polisher-sim', 'pieces').length === stamps.length);
    const rows = values(store, 'polisher-sim', 'pieces');
    expect(rows.map((r) => r.value)).toEqual(stamps.map((_, i) => 2 * (i + 1)));
    expect(rows.map((r) => r.ts)).toEqual(stamps);
    expect(values(store, 'polisher-sim', 'motor_current').every((r) => r.value === 4.5 && r.kind === 'float')).toBe(true);
    expect(values(store, 'polisher-sim', 'state').every((r) => r.value === 'running')).toBe(true);
    expect(a.status().bad).toBe(0);
  });
});

describe('malformed payloads', () => {
  const topic = 'bad/line/m1/telemetry';
  const device = {
    id: 'bad-m1',
    protocol: 'mqtt',
    connection: { url: broker?.url ?? '', clientId: 'gw-bad-1' },
    maxPayloadSize: '1KB',
    tags: [
      { name: 'count', topic, path: 'count', type: 'integer' },
      { name: 'temp', topic, path: 'sensors[1].temp', type: 'float' },
    ],
  };
  let a: MqttAdapter;
  beforeAll(async () => {
    a = await started({ ...device, connection: { url: broker.url, clientId: 'gw-bad-1' } });
  });

  const cases: Array<[string, string | null, string[]]> = [
    ['not JSON', '{"count": 1,', ['NOT_JSON']],
    ['plain text', 'hello', ['NOT_JSON']],
    ['empty', null, ['EMPTY']],
    ['missing paths (one dead letter per message)', '{"other": 1}', ['PATH_MISSING']],
    ['array too short', '{"count": 1, "sensors": [{"temp": 1}]}', ['PATH_MISSING']],
    ['wrong type (one dead letter per message)', '{"count": "many", "sensors": [{}, {"temp": true}]}', ['WRONG_TYPE']],
    ['fraction for an integer', '{"count": 1.5, "sensors": [{}, {"temp": 1}]}', ['WRONG_TYPE']],
    ['oversize', JSON.stringify({ count: 1, pad: 'x'.repeat(2000) }), ['OVERSIZE']],
  ];

  it('each bad input is counted and dead-lettered with its reason; the good message after them arrives', async () => {
    for (const [, payload] of cases) await mosquittoPub(broker.port, topic, payload);
    await mosquittoPub(broker.port, topic, JSON.stringify({ count: 42, sensors: [{ temp: 0 }, { temp: 21.5 }] }));
    await waitFor('the good message', () => values(store, 'bad-m1', 'count').some((r) => r.value === 42));

    const expected = cases.flatMap(([, , reasons]) => reasons);
    const dead = store
      .deadLetters({ source: 'mqtt' })
      .filter((d) => d.device === 'bad-m1')
      .reverse();
    expect(dead.map((d) => d.reason)).toEqual(expected);
    expect(dead.every((d) => d.topic === topic)).toBe(true);
    expect(dead[0]!.payload).toBe('{"count": 1,');
    const s = a.status();
    expect(s.bad).toBe(expected.length);
    expect(s.badByReason).toEqual({ NOT_JSON: 2, EMPTY: 1, PATH_MISSING: 2, WRONG_TYPE: 2, OVERSIZE: 1 });
    expect(s.connected).toBe(true);
    // the integer and float readings that were good in the partly-bad messages, and the good one
    expect(values(store, 'bad-m1', 'count').map((r) => r.value)).toEqual([1, 42]);
    expect(values(store, 'bad-m1', 'temp').map((r) => [r.value, r.kind])).toEqual([
      [1, 'float'],
      [21.5, 'float'],
    ]);
  });
});

describe('raw payloads, fleets, writes', () => {
  it('raw numbers, booleans and strings, typed and untyped, published by mqtt.js', async () => {
    const a = await started({
      id: 'raw-1',
      protocol: 'mqtt',
      format: 'raw',
      connection: { url: broker.url, clientId: 'gw-raw-1' },
      tags: [
        { name: 'speed', topic: 'raw/speed' },
        { name: 'running', topic: 'raw/running', type: 'boolean' },
        { name: 'program', topic: 'raw/program', type: 'string' },
        { name: 'parts', topic: 'raw/parts', type: 'integer' },
      ],
    });
    const pub = await publisher(broker.url);
    await pub.publishAsync('raw/speed', '1500.5', { qos: 1 });
    await pub.publishAsync('raw/running', '1', { qos: 1 });
    await pub.publishAsync('raw/program', '0042', { qos: 1 });
    await pub.publishAsync('raw/parts', '17', { qos: 1 });
    await pub.publishAsync('raw/parts', 'seventeen', { qos: 1 });
    await pub.endAsync();
    await waitFor('4 readings', () => a.status().good === 4 && a.status().bad === 1);
    expect(values(store, 'raw-1', 'speed')).toMatchObject([{ value: 1500.5, kind: 'float' }]);
    expect(values(store, 'raw-1', 'running')).toMatchObject([{ value: true, kind: 'boolean' }]);
    expect(values(store, 'raw-1', 'program')).toMatchObject([{ value: '0042', kind: 'string' }]);
    expect(values(store, 'raw-1', 'parts')).toMatchObject([{ value: 17, kind: 'integer' }]);
    expect(a.status().badByReason).toEqual({ WRONG_TYPE: 1 });
  });

  it('a fleet of identical devices: device and field names captured from the topic', async () => {
    const a = await started({
      id: 'polisher-fleet',
      protocol: 'mqtt',
      connection: { url: broker.url, clientId: 'gw-fleet-1' },
      deviceTemplate: '{device}',
      tags: [
        { name: 'pieces', topic: 'fleet/+line/+device/telemetry', path: 'pieces', type: 'integer' },
        { name: 'temp', topic: 'fleet/+line/+device/temp/+probe', path: 'v', type: 'float', nameTemplate: 'temp_{probe}' },
      ],
    });
    await mosquittoPub(broker.port, 'fleet/line-01/pol-1/telemetry', '{"pieces": 5}');
    await mosquittoPub(broker.port, 'fleet/line-02/pol-2/telemetry', '{"pieces": 9}');
    await mosquittoPub(broker.port, 'fleet/line-02/pol-2/temp/a', '{"v": 30.5}');
    await waitFor('3 readings', () => a.status().good === 3);
    expect(values(store, 'pol-1', 'pieces').map((r) => r.value)).toEqual([5]);
    expect(values(store, 'pol-2', 'pieces').map((r) => r.value)).toEqual([9]);
    expect(values(store, 'pol-2', 'temp_a').map((r) => r.value)).toEqual([30.5]);
  });

  it('write publishes the converted value to the writeTopic at QoS 1; a value of the wrong type is refused', async () => {
    const a = await started({
      id: 'writer-1',
      protocol: 'mqtt',
      connection: { url: broker.url, clientId: 'gw-writer-1' },
      tags: [{ name: 'setpoint', topic: 'w/setpoint', path: 'v', type: 'integer', writable: true, writeTopic: 'w/setpoint/set' }],
    });
    const sub = await publisher(broker.url);
    const got: Array<[string, number]> = [];
    sub.on('message', (_t, p, packet) => got.push([p.toString(), packet.qos]));
    await sub.subscribeAsync('w/setpoint/set', { qos: 1 });
    await a.write!('setpoint', 120);
    await a.write!('setpoint', '121');
    const e = await a.write!('setpoint', 1.5).catch((x: unknown) => x);
    expect(isGatewayError(e, 'GW_ERR_WRITE_TYPE')).toBe(true);
    await waitFor('2 writes seen', () => got.length === 2);
    expect(got).toEqual([
      ['120', 1],
      ['121', 1],
    ]);
    await sub.endAsync();
  });
});

describe('protocols', () => {
  it('MQTT 3.1.1 (protocolVersion 4) works the same', async () => {
    const a = await started({
      id: 'v311',
      protocol: 'mqtt',
      connection: { url: broker.url, clientId: 'gw-v311', protocolVersion: 4 },
      tags: [{ name: 'v', topic: 'v311/v', path: 'v' }],
    });
    await mosquittoPub(broker.port, 'v311/v', '{"v": 7.5}', ['-V', 'mqttv311']);
    await waitFor('reading', () => values(store, 'v311', 'v').length === 1);
    expect(values(store, 'v311', 'v')[0]).toMatchObject({ value: 7.5, kind: 'float' });
    expect(a.status().connected).toBe(true);
  });

  it('ws:// (MQTT over WebSockets)', async () => {
    await started({
      id: 'ws-1',
      protocol: 'mqtt',
      connection: { url: broker.wsUrl, clientId: 'gw-ws-1' },
      tags: [{ name: 'v', topic: 'ws/v', path: 'v', type: 'integer' }],
    });
    await mosquittoPub(broker.port, 'ws/v', '{"v": 3}');
    await waitFor('reading', () => values(store, 'ws-1', 'v').length === 1);
    expect(values(store, 'ws-1', 'v')[0]).toMatchObject({ value: 3, kind: 'integer' });
  });

  it('two devices with the same url and clientId share one connection', async () => {
    const shared = new Map<string, unknown>();
    const conn = { url: broker.url, clientId: 'gw-shared-1' };
    const a1 = createAdapter(
      { id: 'sh-1', protocol: 'mqtt', connection: conn, tags: [{ name: 'v', topic: 'sh/1', type: 'integer' }] },
      context(store, '', shared),
    );
    const a2 = createAdapter(
      { id: 'sh-2', protocol: 'mqtt', connection: conn, tags: [{ name: 'v', topic: 'sh/2', type: 'integer' }] },
      context(store, '', shared),
    );
    adapters.push(a1, a2);
    await a1.start();
    await a2.start();
    expect(shared.size).toBe(1);
    await waitFor('both connected', () => a1.status().connected && a2.status().connected);
    await mosquittoPub(broker.port, 'sh/1', '1');
    await mosquittoPub(broker.port, 'sh/2', '2');
    await waitFor('both readings', () => values(store, 'sh-1', 'v').length === 1 && values(store, 'sh-2', 'v').length === 1);
    expect(values(store, 'sh-2', 'v')[0]!.value).toBe(2);
    const e = (() => {
      try {
        createAdapter(
          { id: 'sh-3', protocol: 'mqtt', connection: { ...conn, keepalive: '5s' }, tags: [{ name: 'v', topic: 'sh/3' }] },
          context(store, '', shared),
        );
      } catch (x) {
        return x;
      }
    })();
    expect(isGatewayError(e, 'GW_ERR_CONFIG')).toBe(true);
  });
});

describe('broker restart mid-run', () => {
  it('the adapter reconnects and everything published after the restart arrives; one log line per outage, no secrets', async () => {
    const { log, lines, text } = captureLog({ level: 'info' });
    const a = createAdapter(
      {
        id: 'restart-1',
        protocol: 'mqtt',
        connection: {
          url: broker.url.replace('//', '//gateway:url-secret@'),
          clientId: 'gw-restart-1',
          username: 'gateway',
          password: 'hunter2-secret',
          reconnect: { min: '50ms', max: '200ms' },
        },
        tags: [{ name: 'n', topic: 'restart/n', path: 'n', type: 'integer' }],
      },
      { ...context(store), log },
    );
    adapters.push(a);
    await a.start();
    await waitFor('connected', () => a.status().connected);
    const pub = await publisher(broker.url);
    for (let i = 0; i < 50; i++) await pub.publishAsync('restart/n', JSON.stringify({ n: i }), { qos: 1 });
    await waitFor('50 before', () => values(store, 'restart-1', 'n').length === 50);

    await broker.stop();
    await waitFor('adapter sees the outage', () => !a.status().connected);
    await waitFor('several reconnect attempts', () => a.status().reconnectAttempts >= 4);
    await broker.restart();
    await waitFor('adapter reconnected', () => a.status().connected, { timeoutMs: 15_000 });
    await waitFor('publisher reconnected', () => pub.connected);
    for (let i = 50; i < 150; i++) await pub.publishAsync('restart/n', JSON.stringify({ n: i }), { qos: 1 });
    await pub.endAsync();
    await waitFor('150 in all', () => values(store, 'restart-1', 'n').length >= 150);
    const got = values(store, 'restart-1', 'n').map((r) => r.value as number);
    expect(new Set(got.filter((n) => n >= 50)).size).toBe(100);
    expect(new Set(got).size).toBe(150);
    expect(a.status().reconnectAttempts).toBe(0);
    const warn = lines.filter((l) => (l.level as number) >= 40);
    expect(warn.map((l) => l.msg)).toEqual(['mqtt connection lost; reconnecting with backoff', 'mqtt connection error']);
    expect(text()).not.toMatch(/hunter2-secret|url-secret/);
  });
});
