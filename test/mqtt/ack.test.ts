/**
 * At-least-once: the PUBACK goes out only after `sink.write()` resolved. A sink whose write is
 * held pending (a test double named as such: no real store can be made to hang on demand) keeps
 * the message unacknowledged; when that client goes away, a new session with the same clientId
 * receives the same message again from the real Mosquitto. The control case (write resolved →
 * PUBACK sent) shows the broker then does not redeliver, so the first case can fail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { MemorySink } from '../helpers/sink.js';
import { waitFor } from '../helpers/wait.js';
import { context, createAdapter, publisher } from './harness.js';

let broker: Mosquitto;
beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker?.close();
});

function device(clientId: string, protocolVersion: 4 | 5) {
  return {
    id: 'ack-dev',
    protocol: 'mqtt',
    connection: { url: broker.url, clientId, protocolVersion },
    tags: [{ name: 'n', topic: `ack/${clientId}`, path: 'n', type: 'integer' }],
  };
}

describe.each([5, 4] as const)('PUBACK after commit (MQTT protocolVersion %s)', (v) => {
  it('a message whose write never resolved is redelivered to the next session with the same clientId', async () => {
    const clientId = `gw-ack-held-v${v}`;
    const held = new MemorySink({ hold: true });
    const a = createAdapter(device(clientId, v), context(held));
    await a.start();
    await waitFor('first client connected', () => a.status().connected);

    const pub = await publisher(broker.url);
    await pub.publishAsync(`ack/${clientId}`, '{"n": 1}', { qos: 1 });
    await waitFor('write called and pending', () => held.batches.length === 1);
    await a.stop(); // the write is still pending: no PUBACK may have gone out
    expect(held.readings).toEqual([]);

    const next = new MemorySink();
    const b = createAdapter(device(clientId, v), context(next));
    await b.start();
    await waitFor('the same message again', () => next.readings.length === 1);
    expect(next.readings[0]).toMatchObject({ tag: 'n', value: 1, kind: 'integer', quality: 'good' });
    held.release(); // the first adapter's late commit must not acknowledge anything now
    await b.stop();
    await pub.endAsync();
  });

  it('messages behind an uncommitted one are read and committed, but acknowledged only in order: all are redelivered', async () => {
    const clientId = `gw-ack-order-v${v}`;
    const sink = new MemorySink({ hold: (readings) => readings.some((r) => r.value === 1) });
    const a = createAdapter(device(clientId, v), context(sink));
    await a.start();
    await waitFor('connected', () => a.status().connected);
    const pub = await publisher(broker.url);
    for (const n of [1, 2, 3]) await pub.publishAsync(`ack/${clientId}`, `{"n": ${n}}`, { qos: 1 });
    // pipelined: 2 and 3 reach the store while 1 still waits for its commit
    await waitFor('2 and 3 committed behind the pending 1', () => sink.readings.length === 2);
    expect(sink.readings.map((r) => r.value)).toEqual([2, 3]);
    await a.stop();

    const next = new MemorySink();
    const b = createAdapter(device(clientId, v), context(next));
    await b.start();
    await waitFor('all three again', () => next.readings.length === 3);
    expect(next.readings.map((r) => r.value)).toEqual([1, 2, 3]);
    sink.release();
    await b.stop();
    await pub.endAsync();
  });

  it('control: a committed message is acknowledged and not redelivered', async () => {
    const clientId = `gw-ack-ok-v${v}`;
    const first = new MemorySink();
    const a = createAdapter(device(clientId, v), context(first));
    await a.start();
    await waitFor('connected', () => a.status().connected);
    const pub = await publisher(broker.url);
    await pub.publishAsync(`ack/${clientId}`, '{"n": 2}', { qos: 1 });
    await waitFor('committed', () => first.readings.length === 1);
    await a.stop();

    const next = new MemorySink();
    const b = createAdapter(device(clientId, v), context(next));
    await b.start();
    await waitFor('connected again', () => b.status().connected);
    await pub.publishAsync(`ack/${clientId}`, '{"n": 3}', { qos: 1 });
    await waitFor('the marker', () => next.readings.some((r) => r.value === 3));
    expect(next.readings.map((r) => r.value)).toEqual([3]);
    await b.stop();
    await pub.endAsync();
  });
});

it('a failing store holds the acknowledgement and retries; the message is committed once it recovers', async () => {
  const sink = new MemorySink();
  sink.failNext = 3;
  const a = createAdapter(device('gw-ack-flaky', 5), context(sink));
  await a.start();
  await waitFor('connected', () => a.status().connected);
  const pub = await publisher(broker.url);
  await pub.publishAsync('ack/gw-ack-flaky', '{"n": 4}', { qos: 1 });
  await pub.publishAsync('ack/gw-ack-flaky', '{"n": 5}', { qos: 1 });
  await waitFor('both committed', () => sink.readings.length === 2);
  expect(sink.readings.map((r) => r.value)).toEqual([4, 5]);
  expect(sink.batches.length).toBe(5); // 3 failures, then one write per message
  expect(a.status()).toMatchObject({ good: 2, bad: 0 });
  await a.stop();
  await pub.endAsync();
});
