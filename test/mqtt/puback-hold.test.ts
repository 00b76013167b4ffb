/**
 * The PUBACK hold checks by behaviour that mqtt.js's acknowledgements pass through it. A client is
 * handed in whose publish handler reaches mqtt.js's own `_sendPacket`, not the hold's replacement
 * (the method still exists, so only the behaviour can tell): the first QoS 1 message reveals it,
 * one warning is logged, and from then on each message is acknowledged only after its commit. A
 * commit held pending (a test double: no real store can be made to hang on demand) therefore keeps
 * its message and the one behind it unacknowledged, and the real Mosquitto redelivers both to the
 * next session with the same clientId (clean session off). The normal client logs no such warning
 * and still reads ahead of a pending commit.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MqttConnection, type MqttConnectionOptions, type Subscriber } from '../../adapters/mqtt/connection.js';
import { mqttDeviceSchema } from '../../adapters/mqtt/schema.js';
import { systemClock } from '../../config/clock.js';
import { captureLog } from '../helpers/log.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { publisher } from './harness.js';

/** Test double: records messages; a message `hold` picks commits only on release(). */
class RecordingSubscriber implements Subscriber {
  readonly qos = 1 as const;
  readonly filters: string[];
  readonly received: string[] = [];
  readonly committed: string[] = [];
  private releases: Array<() => void> = [];
  constructor(
    topic: string,
    private readonly hold: (payload: string) => boolean = () => false,
  ) {
    this.filters = [topic];
  }
  onMessage(_topic: string, payload: Buffer): Promise<boolean> {
    const text = payload.toString();
    this.received.push(text);
    if (!this.hold(text)) {
      this.committed.push(text);
      return Promise.resolve(true);
    }
    return new Promise((resolve) => this.releases.push(() => (this.committed.push(text), resolve(true))));
  }
  onConnection(): void {}
  unmatched(): void {}
  release(): void {
    for (const r of this.releases.splice(0)) r();
  }
}

/**
 * An mqtt.js client whose PUBACKs go around the hold: `_sendPacket` stays mqtt.js's own method
 * (writes to it are ignored), so the publish handler sends the PUBACK straight to the socket.
 */
function bypassingConnect(url: string, opts: IClientOptions): MqttClient {
  const client = mqtt.connect(url, opts);
  const internal = client as unknown as { _sendPacket: (...args: unknown[]) => void };
  const own = internal._sendPacket.bind(client);
  Object.defineProperty(client, '_sendPacket', { configurable: true, get: () => own, set: () => {} });
  return client;
}

const FALLBACK = /PUBACK without passing through the hold/;

let broker: Mosquitto;
beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker?.close();
});

function connection(clientId: string, v: 4 | 5, sub: Subscriber, options: MqttConnectionOptions = {}) {
  const cap = captureLog();
  const device = mqttDeviceSchema.parse({
    id: 'hold-dev',
    protocol: 'mqtt',
    connection: { url: broker.url, clientId, protocolVersion: v },
    tags: [{ name: 'n', topic: sub.filters[0], path: 'n', type: 'integer' }],
  });
  const conn = new MqttConnection(`test:${clientId}`, device.connection, clientId, cap.log, systemClock, options);
  conn.add(sub);
  conn.start();
  const warnings = () => cap.lines.filter((l) => l.level === 40 && FALLBACK.test(String(l.msg)));
  return { conn, warnings };
}

describe.each([5, 4] as const)('PUBACK hold (MQTT protocolVersion %s)', (v) => {
  it('a client that sends PUBACKs around the hold: warned once, then each message is acknowledged only after its commit', async () => {
    const clientId = `gw-hold-bypass-v${v}`;
    const topic = `hold/${clientId}`;
    const sub = new RecordingSubscriber(topic, (p) => p === 'p2');
    const a = connection(clientId, v, sub, { connect: bypassingConnect });
    await waitFor('connected', () => a.conn.connected);
    const pub = await publisher(broker.url);

    await pub.publishAsync(topic, 'p1', { qos: 1 });
    await waitFor('p1 committed', () => sub.committed.includes('p1'));
    expect(a.warnings()).toHaveLength(1);

    // p2's commit never comes; p3 waits behind it, since messages are now taken one at a time
    await pub.publishAsync(topic, 'p2', { qos: 1 });
    await pub.publishAsync(topic, 'p3', { qos: 1 });
    await waitFor('p2 handed over, its commit pending', () => sub.received.includes('p2'));
    await a.conn.close(0);
    expect(sub.committed).toEqual(['p1']);
    expect(a.warnings()).toHaveLength(1);

    const next = new RecordingSubscriber(topic);
    const b = connection(clientId, v, next);
    await waitFor('p2 and p3 redelivered', () => next.committed.length >= 2);
    sub.release(); // the first connection's late commit must not acknowledge anything now
    await pub.publishAsync(topic, 'marker', { qos: 1 });
    await waitFor('the marker', () => next.committed.includes('marker'));
    expect(next.committed).toEqual(['p2', 'p3', 'marker']);
    expect(b.warnings()).toEqual([]);
    await b.conn.close();
    await pub.endAsync();
  });

  it('the normal client: no fallback warning, and messages behind a pending commit are still read ahead', async () => {
    const clientId = `gw-hold-normal-v${v}`;
    const topic = `hold/${clientId}`;
    const sub = new RecordingSubscriber(topic, (p) => p === 'p1');
    const a = connection(clientId, v, sub);
    await waitFor('connected', () => a.conn.connected);
    const pub = await publisher(broker.url);
    for (const p of ['p1', 'p2', 'p3']) await pub.publishAsync(topic, p, { qos: 1 });
    await waitFor('p2 and p3 committed behind the pending p1', () => sub.committed.length === 2);
    expect(sub.committed).toEqual(['p2', 'p3']);
    sub.release();
    await waitFor('p1 committed', () => sub.committed.length === 3);
    expect(a.warnings()).toEqual([]);
    await a.conn.close();
    await pub.endAsync();
  });
});
