/**
 * Northbound JSON publishing against a real Mosquitto: a Modbus TCP device (modbus-serial's
 * ServerTCP) and an unreachable one (bad readings with their error codes) → the gateway runtime →
 * store → the `north:` entry of the issue, as written, with the broker's address → a subscriber of
 * ours on the same broker. Every committed reading must arrive exactly as stored (value and type,
 * timestamp, error), also across a broker outage (stopped, data piles up in the store, restarted).
 */
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../gateway/config.js';
import { buildServer } from '../../gateway/api/server.js';
import { createMetrics } from '../../gateway/metrics.js';
import { GatewayRuntime } from '../../gateway/runtime.js';
import { openStore } from '../../ingest/store/index.js';
import type { StoredReading } from '../../ingest/types.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { serveRegisters, type TestModbusServer } from '../helpers/modbus-server.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface Received {
  topic: string;
  body: { ts: number; device: string; seq: number; tie?: number; values: Record<string, unknown>; errors: Record<string, string> };
}

function config(dir: string, brokerUrl: string, pressPort: number, deadPort: number): string {
  return `
gateway: { id: gw-n1, site: yk, statusInterval: 500ms, stopTimeout: 20s, logLevel: warn }
storage: { path: ${dir}/data }
devices:
  - id: press-01
    line: line-01
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${pressPort}, unitId: 1, timeout: 1s }
    interval: 50ms
    tags:
      - { name: state, role: state, area: holding, address: 0, type: uint16 }
      - { name: strokes, role: counter, area: holding, address: 1, type: uint32, byteOrder: ABCD }
      - { name: tonnage, role: parameter, area: holding, address: 3, type: float32, byteOrder: CDAB, unit: kN }
      - { name: oil_temp, role: parameter, area: holding, address: 5, type: int16, scale: 0.1 }
      - { name: lube_ok, role: quality, area: holding, address: 6, type: bool, bit: 3 }
  - id: dead-02
    line: line-02
    protocol: modbus
    connection: { host: 127.0.0.1, port: ${deadPort}, unitId: 1, timeout: 200ms }
    interval: 300ms
    tags:
      - { name: state, role: state, area: holding, address: 0, type: uint16 }
north:
  - name: platform
    system: platform
    url: ${brokerUrl}
    format: json
    topic: "factory/{site}/{line}/{device}"
`;
}

/** The stored data readings, read from the store file after the gateway stopped. */
async function storedData(dir: string): Promise<StoredReading[]> {
  const store = openStore({ path: `${dir}/data`, maxSizeBytes: 1024 ** 3, retentionMs: 14 * 86_400_000 });
  try {
    return store.query({ measurement: 'data', limit: 10_000_000 });
  } finally {
    await store.close();
  }
}

const key = (device: string, ts: number, tie: number) => `${device}|${ts}|${tie}`;

/** Compares every stored reading with the received message of its point: value and JS type by kind, or error. */
function compare(stored: readonly StoredReading[], received: readonly Received[]): { missing: string[]; wrong: string[]; duplicates: number; points: number } {
  const byPoint = new Map<string, Received['body']>();
  let duplicates = 0;
  for (const r of received) {
    const k = key(r.body.device, r.body.ts, r.body.tie ?? 0);
    if (byPoint.has(k)) {
      duplicates++;
      expect(r.body).toEqual(byPoint.get(k)); // a duplicate is the same message again
    } else byPoint.set(k, r.body);
  }
  const missing: string[] = [];
  const wrong: string[] = [];
  const jsType = { integer: 'number', float: 'number', boolean: 'boolean', string: 'string' } as const;
  for (const s of stored) {
    const m = byPoint.get(key(s.device, s.ts, s.tie ?? 0));
    if (!m) {
      missing.push(`${s.device}.${s.tag}@${s.ts}`);
      continue;
    }
    if (s.quality === 'bad') {
      if (m.errors[s.tag] !== s.error || s.tag in m.values)
        wrong.push(`${s.device}.${s.tag}@${s.ts}: error ${JSON.stringify(m.errors[s.tag])} vs stored ${s.error}`);
    } else {
      const v = m.values[s.tag];
      if (v !== s.value || typeof v !== jsType[s.kind] || (s.kind === 'integer' && !Number.isInteger(v)))
        wrong.push(`${s.device}.${s.tag}@${s.ts}: ${JSON.stringify(v)} vs stored ${JSON.stringify(s.value)} (${s.kind})`);
    }
  }
  return { missing, wrong, duplicates, points: byPoint.size };
}

describe('north: JSON to a real Mosquitto', () => {
  let broker: Mosquitto;
  let server: TestModbusServer;
  let sub: MqttClient;
  const received: Received[] = [];
  const status = new Map<string, Record<string, unknown>>();
  let heartbeat: Record<string, unknown> | undefined;
  const holding = [2, 0x0001, 0xe240, 0x0000, 0x444b, 0xff85, 0b1000];
  let pressPort = 0;
  let deadPort = 0;
  let ticker: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    broker = await startMosquitto({ persistence: true });
    pressPort = await freePort();
    deadPort = await freePort();
    server = await serveRegisters(pressPort, holding);
    // the registers change while the gateway polls: counter up, a float moving, the bit toggling
    ticker = setInterval(() => {
      holding[2] = (holding[2]! + 1) & 0xffff;
      holding[4] = holding[4] === 0x444b ? 0x4450 : 0x444b;
      holding[6] = holding[6] === 0b1000 ? 0 : 0b1000;
    }, 37);
    // our subscriber: a persistent session, so the broker queues what comes while it reconnects
    sub = mqtt.connect(broker.url, { clientId: 'north-json-test-sub', clean: false, reconnectPeriod: 100 });
    sub.on('message', (topic, payload) => {
      const body = JSON.parse(payload.toString());
      if (topic.endsWith('/status')) status.set(topic, body);
      else if (topic === 'fgw/gw-n1/heartbeat') heartbeat = body;
      else received.push({ topic, body });
    });
    await new Promise<void>((resolve, reject) =>
      sub.once('connect', () => sub.subscribe(['factory/#', 'fgw/#'], { qos: 1 }, (e) => (e ? reject(e) : resolve()))),
    );
  });

  afterAll(async () => {
    clearInterval(ticker);
    sub?.end(true);
    await server?.close();
    await broker?.close();
  });

  it('publishes every committed reading exactly as stored, across a broker outage; status and heartbeat retained', async () => {
    const tmp = tempDir('fgw-north-json-');
    const cfg = parseConfigText(config(tmp.path, broker.url, pressPort, deadPort));
    // the entry means: every device, every tag, QoS 1, JSON
    expect(cfg.north[0]).toMatchObject({
      name: 'platform',
      system: 'platform',
      format: 'json',
      qos: 1,
      topic: 'factory/{site}/{line}/{device}',
      allowWrites: false,
    });
    expect(cfg.north[0]!.devices).toBeUndefined();
    const rt = await GatewayRuntime.start({ config: cfg, log: pino({ level: 'silent' }) });
    try {
      await waitFor(
        'live messages from both devices',
        () => received.some((r) => r.topic === 'factory/yk/line-01/press-01') && received.some((r) => r.topic === 'factory/yk/line-02/dead-02'),
      );
      await waitFor('connected in status', () => rt.north()[0]?.connected);

      // the broker goes away: the gateway keeps collecting into the store
      await broker.stop();
      await waitFor('the target seen down', () => rt.north()[0]?.connected === false);
      const before = rt.north()[0]!.published;
      await waitFor('a backlog in the store', () => rt.north()[0]!.backlog > 400);
      // what an operator sees meanwhile: /metrics and /api/status
      const text = await createMetrics(rt).scrape();
      expect(text).toContain('fgw_north_connected{target="platform",format="json"} 0');
      expect(Number(/fgw_north_backlog\{target="platform",format="json"\} (\d+)/.exec(text)?.[1])).toBeGreaterThan(400);
      expect(Number(/fgw_north_lag_seconds\{target="platform",format="json"\} ([\d.]+)/.exec(text)?.[1])).toBeGreaterThan(0);
      const app = await buildServer(rt);
      const st = (await app.inject({ method: 'GET', url: '/api/status' })).json();
      await app.close();
      expect(st.north).toHaveLength(1);
      expect(st.north[0]).toMatchObject({ name: 'platform', system: 'platform', format: 'json', connected: false });
      expect(st.north[0].backlog).toBeGreaterThan(400);
      await broker.restart();
      await waitFor('replayed after the restart', () => rt.north()[0]!.published > before + 100, { timeoutMs: 60_000 });
      await rt.northFlushed();
      const after = await createMetrics(rt).scrape();
      expect(after).toContain('fgw_north_connected{target="platform",format="json"} 1');
      expect(Number(/fgw_north_published_total\{target="platform",format="json"\} (\d+)/.exec(after)?.[1])).toBeGreaterThan(before + 100);
    } finally {
      await rt.stop();
    }
    const stored = await storedData(tmp.path);
    expect(stored.some((r) => r.quality === 'bad' && r.device === 'dead-02')).toBe(true);
    expect(stored.some((r) => r.quality === 'good' && r.device === 'press-01')).toBe(true);
    const points = new Set(stored.map((s) => key(s.device, s.ts, s.tie ?? 0))).size;
    await waitFor('every stored point received', () => compare(stored, received).points >= points, { timeoutMs: 60_000 });
    const c = compare(stored, received);
    expect(c.missing).toEqual([]);
    expect(c.wrong).toEqual([]);
    expect(c.points).toBe(points);
    // the message form: one per poll with all the device's tags
    const m = received.find((r) => r.body.device === 'press-01')!.body;
    expect(Object.keys(m.values).sort()).toEqual(['lube_ok', 'oil_temp', 'state', 'strokes', 'tonnage']);
    expect(received.find((r) => r.body.device === 'dead-02')!.body.errors.state).toBe('NOT_CONNECTED');
    // retained status per device (type of every tag) and the heartbeat; the clean stop says offline
    const st = status.get('factory/yk/line-01/press-01/status')!;
    expect(st).toMatchObject({
      device: 'press-01',
      line: 'line-01',
      tags: { strokes: { type: 'integer', writable: false }, tonnage: { type: 'float', unit: 'kN' }, lube_ok: { type: 'boolean' } },
    });
    expect(status.get('factory/yk/line-02/dead-02/status')).toMatchObject({ device: 'dead-02', connected: false });
    await waitFor('offline heartbeat', () => heartbeat?.online === false);
    tmp.cleanup();
    console.log(`north json: ${stored.length} readings in ${points} messages, ${c.duplicates} duplicates`);
  }, 180_000);

  it('devices an MQTT entry captures from its topics are published too (no devices selection)', async () => {
    const tmp = tempDir('fgw-north-fleet-');
    const cfg = parseConfigText(`
gateway: { id: gw-n2, logLevel: warn }
storage: { path: ${tmp.path}/data }
devices:
  - id: polishers
    protocol: mqtt
    connection: { url: "${broker.url}", clientId: gw-n2-south }
    deviceTemplate: "{device}"
    tags:
      - { name: pieces, role: counter, topic: plant/+line/+device/telemetry, path: pieces, type: integer }
north:
  - { name: platform, system: platform, url: "${broker.url}", topic: "fleet/{device}" }
`);
    const got: Array<{ device: string; values: Record<string, unknown> }> = [];
    const fleet = await mqtt.connectAsync(broker.url, { clientId: 'north-fleet-sub' });
    fleet.on('message', (_t, p) => got.push(JSON.parse(p.toString())));
    await fleet.subscribeAsync('fleet/+', { qos: 1 });
    const rt = await GatewayRuntime.start({ config: cfg, log: pino({ level: 'silent' }) });
    try {
      await waitFor('the target connected', () => rt.north()[0]?.connected);
      await waitFor('the south device subscribed', () => rt.device('polishers')?.status.connected);
      await fleet.publishAsync('plant/line-02/polisher-07/telemetry', JSON.stringify({ pieces: 41 }), { qos: 1 });
      await waitFor('polisher-07 published north', () => got.some((m) => m.device === 'polisher-07' && m.values.pieces === 41));
    } finally {
      await rt.stop();
      await fleet.endAsync();
      tmp.cleanup();
    }
  }, 60_000);
});
