/**
 * Readings the gateway itself lost are a gap of its own making: a real store on a small tmpfs that
 * fills up refuses 30 minutes of a device's polls (its loss ledger counts them), the disk is freed,
 * collection resumes; the store's rows and loss point go to a real influxd the way the forwarder
 * sends them. Both fact backends must report the episode the test itself saw refused (first and
 * last refused reading, how many), and the verifier must exclude those slots instead of holding
 * them against the device.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { isGatewayError } from '../../config/errors.js';
import { openStore } from '../../ingest/store/index.js';
import type { Store } from '../../ingest/types.js';
import { gatherFacts, type DeviceSpec, type FactQuery } from '../../verify/facts.js';
import { measureDevice, weeksOf } from '../../verify/measure.js';
import { loadPolicy } from '../../verify/policy.js';
import { influxFacts } from '../../verify/source-influx.js';
import { storeFacts } from '../../verify/source-store.js';
import { startInflux, writeStore, type TestInflux } from '../helpers/influx.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

const M = 60_000;
const FROM = Date.parse('2026-10-05T08:00:00+08:00');
const TO = FROM + 180 * M; // 180 slots of 60 s
const GATEWAY = { id: 'gw-loss', site: 'yk' };
const TAGS = ['state', 'parts'];
const device: DeviceSpec = {
  id: 'press-01',
  interval: 60_000,
  process: 'p',
  tags: [
    { name: 'state', role: 'state' },
    { name: 'parts', role: 'counter' },
  ],
};
const policy = loadPolicy('yongkang-2019');

let fs: Tmpfs;
let store: Store;
let influx: TestInflux;
/** what the test saw refused: reading timestamps */
const refused: number[] = [];
const backends: Record<string, () => FactQuery> = {};

beforeAll(async () => {
  fs = mountTmpfs(16);
  influx = await startInflux();
  store = openStore({ path: `${fs.path}/store`, maxSizeBytes: 2 * 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0, forwarding: true });
  // the gateway's heartbeat throughout, written first (what a full disk does to the heartbeat is
  // the store's own test): the only exclusion here is the loss
  await store.writeStatus(
    Array.from({ length: 360 }, (_, i) => ({
      device: '',
      tag: 'heartbeat',
      ts: FROM + i * 30_000,
      kind: 'boolean' as const,
      value: true,
      quality: 'good' as const,
    })),
  );
  const poll = async (m: number) => {
    const ts = FROM + m * M + 15_000;
    const rows: Reading[] = TAGS.map((tag) => ({ device: device.id, tag, ts, kind: 'integer', value: m, quality: 'good' }));
    try {
      await store.write(rows);
    } catch (e) {
      expect(isGatewayError(e, 'GW_ERR_STORE_FULL')).toBe(true);
      refused.push(...rows.map(() => ts));
    }
  };
  for (let m = 0; m < 60; m++) await poll(m);
  fs.fill(0); // the disk is full: minutes 60..89 are refused
  for (let m = 60; m < 90; m++) await poll(m);
  fs.unfill(); // space returns: the next commit goes in and closes the episode
  for (let m = 90; m < 180; m++) await poll(m);
  await influx.query('CREATE DATABASE factory');
  await writeStore(influx.url, 'factory', store, { measurement: 'equipment', gateway: GATEWAY, deviceMeta: () => ({ line: 'line-01', process: 'p' }) });
  backends.store = () => storeFacts(store);
  backends.influx = () => influxFacts({ url: influx.url, database: 'factory', gateway: GATEWAY.id });
});

afterAll(async () => {
  await store?.close();
  await influx?.cleanup();
  fs?.cleanup();
});

describe.each(['store', 'influx'])('a full disk, seen by the verifier through the %s backend', (name) => {
  it('the loss episode is in the facts, and its slots are excluded, not held against the device', async () => {
    expect(refused).toHaveLength(30 * TAGS.length);
    const facts = await gatherFacts([{ gateway: GATEWAY.id, src: backends[name]!(), devices: [device] }], { from: FROM, to: TO, policy, shutdowns: [] });
    const f = facts.devices[0]!;
    expect(f.goodSlots).toEqual([
      [0, 60],
      [90, 180],
    ]);
    expect(f.losses).toEqual([{ reason: 'store-full', from: refused[0], to: refused.at(-1), count: refused.length }]);
    const m = measureDevice(f, device, facts, { shutdowns: [] }, policy, weeksOf(FROM, TO, policy));
    // 180 slots, 30 lost by the gateway: 150 expected, all good, no gap
    expect(m).toMatchObject({ lostSlots: 30, outageSlots: 0, expectedSlots: 150, goodSlots: 150, gapCount: 0, networkedFull: true });
  });
});
