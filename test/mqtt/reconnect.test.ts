/**
 * Reconnects follow the backoff on the injected clock: with a ManualClock no
 * attempt happens until the clock reaches the delay, whatever real time passes. The broker is a real
 * Mosquitto, stopped and restarted. min = max makes every delay exactly 1 s (the growth and jitter
 * of the delays are config/backoff.ts's own tests).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { context, createAdapter, mosquittoPub, newStore, values } from './harness.js';
import { ManualClock } from '../helpers/manual-clock.js';

let broker: Mosquitto;
let st: ReturnType<typeof newStore>;
beforeAll(async () => {
  broker = await startMosquitto();
  st = newStore();
});
afterAll(async () => {
  await st?.close();
  await broker?.close();
});

it('reconnect attempts wait for the backoff delay on the injected clock; the session resumes after', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const a = createAdapter(
    {
      id: 'rc-1',
      protocol: 'mqtt',
      connection: { url: broker.url, clientId: 'gw-rc-1', reconnect: { min: '1s', max: '1s' } },
      tags: [{ name: 'v', topic: 'rc/v', type: 'integer' }],
    },
    { ...context(st.store), clock },
  );
  await a.start();
  await waitFor('connected', () => a.status().connected);

  await broker.stop();
  await waitFor('outage seen, one attempt scheduled', () => !a.status().connected && a.status().reconnectAttempts === 1 && clock.pending() === 1);

  for (let attempt = 2; attempt <= 4; attempt++) {
    await clock.advance(999);
    expect(a.status().reconnectAttempts).toBe(attempt - 1); // not yet due
    await clock.advance(1);
    // the attempt fails against the stopped broker and schedules the next one
    await waitFor(`attempt ${attempt} made and failed`, () => a.status().reconnectAttempts === attempt && clock.pending() === 1);
  }

  await broker.restart();
  await clock.advance(1000);
  await waitFor('reconnected', () => a.status().connected);
  expect(a.status().reconnectAttempts).toBe(0);
  await mosquittoPub(broker.port, 'rc/v', '5');
  await waitFor('reading after reconnect', () => values(st.store, 'rc-1', 'v').length === 1);
  expect(values(st.store, 'rc-1', 'v')[0]).toMatchObject({ value: 5, ts: clock.now() });
  await a.stop();
});
