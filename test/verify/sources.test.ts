/**
 * One contract suite for both fact backends: the same readings, heartbeats and audits go into a
 * real embedded store (openStore) and, through the store's forward stream and the product's
 * line-protocol formatter, into a real influxd; gatherFacts() must return the same facts from each,
 * equal to the facts known in advance from how the data was generated (routes of the audits kept,
 * readings of uncertain quality counted only when the policy says so).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { openStore } from '../../ingest/store/index.js';
import type { Store } from '../../ingest/types.js';
import { gatherFacts, type DeviceSpec, type FactQuery, type Facts } from '../../verify/facts.js';
import { loadPolicy, parsePolicyText } from '../../verify/policy.js';
import { influxFacts } from '../../verify/source-influx.js';
import { storeFacts } from '../../verify/source-store.js';
import { postLines, startInflux, writeStore, type TestInflux } from '../helpers/influx.js';
import { tempDir } from '../helpers/tmp.js';

const H = 3_600_000;
const M = 60_000;
const FROM = Date.parse('2026-10-05T00:00:00+08:00');
const TO = FROM + 3 * 24 * H; // 3 days: 4,320 slots of 60 s
const GATEWAY = { id: 'gw-contract', site: 'yk' };

const devices: DeviceSpec[] = [
  {
    id: 'd1',
    interval: 1000,
    process: 'p',
    tags: [
      { name: 'state', role: 'state' },
      { name: 'parts', role: 'counter' },
    ],
  },
  {
    id: 'd2',
    interval: 120_000,
    process: 'p',
    tags: [
      { name: 'state', role: 'state' },
      { name: 'temp', role: 'parameter' },
    ],
  },
  { id: 'd3', interval: 1000, tags: [{ name: 'state', role: 'state' }] }, // never reports
  {
    id: 'd4',
    interval: 1000,
    tags: [
      { name: 'state', role: 'state' },
      { name: 'parts', role: 'counter' },
    ],
  },
];
const policy = loadPolicy('yongkang-2019'); // slotMin 60 s, +08:00, uncertain readings not good
const policyUncertainGood = parsePolicyText(
  readFileSync(policy.path, 'utf8').replace('uncertainCountsAsGood: false', 'uncertainCountsAsGood: true'),
  'uncertain-good.yaml',
);

/**
 * d1: state + parts every 60 s (at +15 s in each slot), except minutes 60..89 (gap) and 100..109
 *     (bad quality only). d2: temp only, every 120 s, the last at TO - 30 min - 120 s + 0.
 * d4: state + parts at +15 s of minutes 0..9 of good quality, of minutes 10..19 uncertain, then nothing.
 * heartbeat every 30 s except minutes 120..129. Readings just outside the window must not count.
 */
function generate(): { data: Reading[]; status: Reading[] } {
  const data: Reading[] = [];
  for (let m = 0; m < 4320; m++) {
    const ts = FROM + m * M + 15_000;
    if (m >= 60 && m < 90) continue;
    const bad = m >= 100 && m < 110;
    for (const tag of ['state', 'parts']) {
      data.push(
        bad
          ? { device: 'd1', tag, ts, kind: 'integer', value: null, quality: 'bad', error: 'TIMEOUT' }
          : { device: 'd1', tag, ts, kind: 'integer', value: m, quality: 'good' },
      );
    }
  }
  data.push({ device: 'd1', tag: 'state', ts: FROM - 1, kind: 'integer', value: 1, quality: 'good' }); // before the window
  data.push({ device: 'd1', tag: 'state', ts: TO, kind: 'integer', value: 1, quality: 'good' }); // at its end (exclusive)
  for (let t = FROM; t < TO - 30 * M - 120_000 + 1; t += 120_000) data.push({ device: 'd2', tag: 'temp', ts: t, kind: 'float', value: 20.5, quality: 'good' });
  for (let m = 0; m < 20; m++)
    for (const tag of ['state', 'parts'])
      data.push({ device: 'd4', tag, ts: FROM + m * M + 15_000, kind: 'integer', value: m, quality: m < 10 ? 'good' : 'uncertain' });
  const status: Reading[] = [];
  for (let t = FROM; t < TO; t += 30_000) {
    if (t >= FROM + 120 * M && t < FROM + 130 * M) continue;
    status.push({ device: '', tag: 'heartbeat', ts: t, kind: 'boolean', value: true, quality: 'good' });
  }
  return { data, status };
}

// local days: 2026-10-05 (+08:00) is epoch day 20731
const DAY0 = 20731;
const audits = [
  { ts: FROM + 10 * H, actor: 'mes', system: 'MES', action: 'read' as const, route: 'GET /api/latest', result: 'ok' as const },
  {
    ts: FROM + 10 * H,
    actor: 'mes',
    system: 'MES',
    action: 'read' as const,
    route: 'GET /api/devices/:id/tags/:tag/history',
    device: 'd1',
    result: 'ok' as const,
  },
  { ts: FROM + 11 * H, actor: 'mes', system: 'MES', action: 'read' as const, route: 'GET /api/status', result: 'ok' as const },
  { ts: FROM + 24 * H - 1000, actor: 'mes', system: 'MES', action: 'read' as const, route: 'GET /api/devices', result: 'ok' as const }, // 23:59:59 local, day 0
  { ts: FROM + 24 * H + 1000, actor: 'mes', system: 'MES', action: 'read' as const, route: 'GET /api/devices', result: 'ok' as const }, // 00:00:01 local, day 1
  {
    ts: FROM + 30 * H,
    actor: 'operator',
    system: 'platform',
    action: 'write' as const,
    route: 'POST /api/devices/:id/tags/:tag',
    device: 'd1',
    tag: 'state',
    value: '2',
    result: 'ok' as const,
  },
  {
    ts: FROM + 31 * H,
    actor: 'operator',
    system: 'platform',
    action: 'write' as const,
    route: 'POST /api/devices/:id/tags/:tag',
    device: 'd1',
    tag: 'state',
    value: '3',
    result: 'ok' as const,
  },
  {
    ts: FROM + 32 * H,
    actor: 'operator',
    system: 'platform',
    action: 'write' as const,
    route: 'POST /api/devices/:id/tags/:tag',
    device: 'd1',
    tag: 'state',
    value: '9',
    result: 'error' as const,
    detail: 'GW_ERR_WRITE_RANGE',
  },
  { ts: FROM + 50 * H, actor: 'erp', system: 'ERP', action: 'read' as const, route: 'GET /api/devices', result: 'denied' as const },
  { ts: TO + 1000, actor: 'mes', system: 'MES', action: 'read' as const, route: 'GET /api/devices', result: 'ok' as const }, // after the window
];

/** The facts, known in advance from generate() and the audit list above. */
const expected: Facts = {
  from: FROM,
  to: TO,
  // per gateway, at slotMin (60 s) only
  heartbeats: [
    {
      gateway: GATEWAY.id,
      slotMs: 60_000,
      slots: [
        [0, 120],
        [130, 4320],
      ],
    },
  ],
  // the last slot of every device is judged (no shutdown, heartbeat at the end): lastGoodBefore = TO
  devices: [
    {
      id: 'd1',
      gateway: GATEWAY.id,
      slotMs: 60_000,
      goodSlots: [
        [0, 60],
        [90, 100],
        [110, 4320],
      ],
      tagsSeen: ['parts', 'state'],
      lastGoodTs: FROM + 4319 * M + 15_000,
      lastGoodBefore: TO,
    },
    // 2,160 slots of 120 s; readings at slot starts up to TO - 32 min (slot 2144)
    { id: 'd2', gateway: GATEWAY.id, slotMs: 120_000, goodSlots: [[0, 2145]], tagsSeen: ['temp'], lastGoodTs: TO - 32 * M, lastGoodBefore: TO },
    { id: 'd3', gateway: GATEWAY.id, slotMs: 60_000, goodSlots: [], tagsSeen: [], lastGoodBefore: TO },
    // only the good readings of minutes 0..9 count: the uncertain ones of 10..19 do not
    {
      id: 'd4',
      gateway: GATEWAY.id,
      slotMs: 60_000,
      goodSlots: [[0, 10]],
      tagsSeen: ['parts', 'state'],
      lastGoodTs: FROM + 9 * M + 15_000,
      lastGoodBefore: TO,
    },
  ],
  // per day, action, system, device and route; sorted (gatherFacts sorts them)
  audits: [
    { day: DAY0, gateway: GATEWAY.id, action: 'read', system: 'MES', device: '', route: 'GET /api/devices', count: 1 },
    { day: DAY0, gateway: GATEWAY.id, action: 'read', system: 'MES', device: '', route: 'GET /api/latest', count: 1 },
    { day: DAY0, gateway: GATEWAY.id, action: 'read', system: 'MES', device: '', route: 'GET /api/status', count: 1 },
    { day: DAY0, gateway: GATEWAY.id, action: 'read', system: 'MES', device: 'd1', route: 'GET /api/devices/:id/tags/:tag/history', count: 1 },
    { day: DAY0 + 1, gateway: GATEWAY.id, action: 'read', system: 'MES', device: '', route: 'GET /api/devices', count: 1 },
    { day: DAY0 + 1, gateway: GATEWAY.id, action: 'write', system: 'platform', device: 'd1', route: 'POST /api/devices/:id/tags/:tag', count: 2 },
  ],
  // every audited write in the window, whatever its result, newest first
  commands: [
    { ts: FROM + 32 * H, actor: 'operator', system: 'platform', device: 'd1', tag: 'state', value: '9', result: 'error', gateway: GATEWAY.id },
    { ts: FROM + 31 * H, actor: 'operator', system: 'platform', device: 'd1', tag: 'state', value: '3', result: 'ok', gateway: GATEWAY.id },
    { ts: FROM + 30 * H, actor: 'operator', system: 'platform', device: 'd1', tag: 'state', value: '2', result: 'ok', gateway: GATEWAY.id },
  ],
  // the window lies in one calendar week (Mon 2026-10-05 .. Thu 10-08): its successful writes, newest first
  weeklyCommands: [
    { ts: FROM + 31 * H, actor: 'operator', system: 'platform', device: 'd1', tag: 'state', value: '3', result: 'ok', gateway: GATEWAY.id },
    { ts: FROM + 30 * H, actor: 'operator', system: 'platform', device: 'd1', tag: 'state', value: '2', result: 'ok', gateway: GATEWAY.id },
  ],
};

let influx: TestInflux;
let store: Store;
const dir = tempDir('fgw-verify-src-');
const backends: Record<string, () => FactQuery> = {};

beforeAll(async () => {
  influx = await startInflux();
  store = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 3650 * 24 * H, limitsIntervalMs: 0 });
  const { data, status } = generate();
  await store.write(data);
  await store.writeStatus(status);
  for (const a of audits) store.appendAudit(a);
  // into InfluxDB the way the forwarder sends it: the store's forward streams, the product's formatter
  await influx.query('CREATE DATABASE factory');
  const ctx = { measurement: 'equipment', gateway: GATEWAY, deviceMeta: () => ({ line: 'line-01', process: 'p' }) };
  await writeStore(influx.url, 'factory', store, ctx);
  // another gateway's points in the same database must not be counted
  await postLines(
    influx.url,
    'factory',
    [
      `equipment,device=d3,gateway=other state=1i ${FROM + 5 * M}`,
      `gateway_status,gateway=other heartbeat=true ${FROM + 125 * M}`,
      `gateway_audit,gateway=other,system=MES action="read",route="GET /api/latest",result="ok" ${FROM + 5 * M}`,
      `gateway_audit,device=d1,gateway=other,system=platform action="write",route="POST /api/devices/:id/tags/:tag",tag="state",value="7",result="ok" ${FROM + 40 * H}`,
    ],
    'ms',
  );
  backends.store = () => storeFacts(store);
  backends.influx = () => influxFacts({ url: influx.url, database: 'factory', gateway: GATEWAY.id });
});

afterAll(async () => {
  await store?.close();
  await influx?.cleanup();
  dir.cleanup();
});

describe.each(['store', 'influx'])('fact backend: %s', (name) => {
  it('gathers the facts known in advance', async () => {
    const src = backends[name]!();
    const facts = await gatherFacts([{ gateway: GATEWAY.id, src, devices }], { from: FROM, to: TO, policy, shutdowns: [] });
    expect(facts).toEqual(expected);
  });

  it('counts readings of uncertain quality as good only when asked (policy measure.uncertainCountsAsGood)', async () => {
    const src = backends[name]!();
    const q = { device: 'd4', from: FROM, to: TO };
    for (const uncertainIsGood of [false, true]) {
      const last = uncertainIsGood ? 19 : 9;
      expect((await src.slotCounts({ ...q, slotMs: 60_000, uncertainIsGood })).filter((c) => c.good > 0).map((c) => c.slot)).toEqual(
        Array.from({ length: last + 1 }, (_, i) => i),
      );
      expect(await src.lastGoodTs({ device: 'd4', to: TO, uncertainIsGood })).toBe(FROM + last * M + 15_000);
      // an uncertain-only window holds no good tag unless uncertain counts
      expect(await src.tagsSeen({ device: 'd4', from: FROM + 10 * M, to: FROM + 20 * M, uncertainIsGood })).toEqual(uncertainIsGood ? ['parts', 'state'] : []);
    }
    const facts = await gatherFacts([{ gateway: GATEWAY.id, src, devices: devices.filter((d) => d.id === 'd4') }], {
      from: FROM,
      to: TO,
      policy: policyUncertainGood,
      shutdowns: [],
    });
    expect(facts.devices[0]).toMatchObject({ goodSlots: [[0, 20]], lastGoodTs: FROM + 19 * M + 15_000 });
  });

  it('judges staleness before the end of the last slot not excluded: the last good reading before a shutdown at the end', async () => {
    const src = backends[name]!();
    // a shutdown over the last 40 minutes: d1's last judged slot ends at TO - 40 min
    const facts = await gatherFacts([{ gateway: GATEWAY.id, src, devices: devices.filter((d) => d.id === 'd1') }], {
      from: FROM,
      to: TO,
      policy,
      shutdowns: [[TO - 40 * M, TO + 1]],
    });
    expect(facts.devices[0]).toMatchObject({ lastGoodBefore: TO - 40 * M, lastGoodTs: TO - 41 * M + 15_000 });
  });

  it('command samples are limited to the newest', async () => {
    const src = backends[name]!();
    expect((await src.commandSamples({ from: FROM, to: TO, limit: 2 })).map((c) => c.value)).toEqual(['9', '3']);
  });

  it('slot counts align to the window start, not to the epoch', async () => {
    const src = backends[name]!();
    // a window starting 15 s into a minute: each reading (at +15 s) opens its slot
    const counts = await src.slotCounts({ device: 'd1', from: FROM + 15_000, to: FROM + 15_000 + 5 * M, slotMs: 60_000, uncertainIsGood: false });
    expect(counts.map((c) => c.slot)).toEqual([0, 1, 2, 3, 4]);
    expect(counts.every((c) => c.good === 2)).toBe(true);
  });
});

describe('influx backend errors', () => {
  it('a missing database is a coded error, not an empty result', async () => {
    const src = influxFacts({ url: influx.url, database: 'nope' });
    await expect(src.tagsSeen({ device: 'd1', from: FROM, to: TO, uncertainIsGood: false })).rejects.toMatchObject({ code: 'GW_ERR_INFLUX' });
  });
});
