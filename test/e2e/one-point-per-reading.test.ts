/**
 * One point per reading, with real processes: Mosquitto queues 1,000 QoS 1 messages for the
 * gateway's persistent session while it is away and delivers them in a burst when it comes back
 * (many share a millisecond of receive time; the `stamped` tag takes one constant source timestamp
 * from every message, so all 1,000 share one ms). Then the gateway process is SIGKILLed with the
 * burst in its store and InfluxDB down, restarted, and finally made to replay everything (the
 * cursor rewound, as a SIGKILL between InfluxDB's 204 and the cursor commit leaves it). After each
 * step InfluxDB must hold exactly what the store holds: every reading its own point, no duplicate,
 * and the forwarder's `written` equal to what InfluxDB holds. `fgw query --source influx` and the
 * verifier's InfluxDB backend must read the same times and counts as the store.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_FILE, openStore } from '../../ingest/store/index.js';
import { influxFacts } from '../../verify/source-influx.js';
import { storeFacts } from '../../verify/source-store.js';
import { startInflux, type TestInflux } from '../helpers/influx.js';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/net.js';
import { startProcess, type Proc } from '../helpers/proc.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const root = new URL('../..', import.meta.url).pathname;
const fgw = join(root, 'gateway/bin/fgw.js');
const N = 1000;
const DEVICE = 'polisher-04';

describe('one point per reading: an MQTT burst in one millisecond → gateway process → InfluxDB', () => {
  let mosq: Mosquitto;
  let influx: TestInflux;
  let dir: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    [mosq, influx] = await Promise.all([startMosquitto(), startInflux()]);
    dir = tempDir('fgw-burst-');
  });
  afterAll(async () => {
    await mosq?.close();
    await influx?.cleanup();
    dir?.cleanup();
  });

  /** good readings per tag in the store (a second connection, limits off) */
  async function stored(): Promise<{ pieces: number[]; stamped: number[]; readings: Array<{ ts: number; value: unknown }> }> {
    const store = openStore({ path: join(dir.path, 'data'), maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 });
    try {
      const rows = store.query({ device: DEVICE, measurement: 'data', limit: 1_000_000 }).filter((r) => r.quality === 'good');
      const of = (tag: string) => rows.filter((r) => r.tag === tag).map((r) => r.value as number);
      return { pieces: of('pieces'), stamped: of('stamped'), readings: rows.filter((r) => r.tag === 'stamped').map((r) => ({ ts: r.ts, value: r.value })) };
    } finally {
      await store.close();
    }
  }
  const inInflux = async (field: string): Promise<number[]> =>
    (await influx.query(`SELECT "${field}" FROM "equipment" WHERE "device" = '${DEVICE}'`, 'factory')).map((r) => r[field] as number).filter((v) => v !== null);
  const sorted = (a: number[]) => [...a].sort((x, y) => x - y);

  it('1,000 QoS 1 messages in a burst land as 1,000 points per field; a SIGKILL and a full replay duplicate nothing', async () => {
    const apiPort = await freePort();
    const cfg = join(dir.path, 'gateway.yaml');
    writeFileSync(
      cfg,
      `
gateway: { id: burst-gw, statusInterval: 1h, stopTimeout: 20s, logLevel: warn }
storage: { path: ${dir.path}/data }
influx: { url: ${influx.url}, database: factory, batchSize: 5000, flushInterval: 200ms, maxBackoff: 1s }
http: { listen: 127.0.0.1:${apiPort} }
devices:
  - id: ${DEVICE}
    protocol: mqtt
    connection: { url: ${mosq.url}, clientId: burst-gw, qos: 1 }
    tags:
      - { name: pieces, topic: burst/telemetry, path: n, type: integer }
      - { name: stamped, topic: burst/telemetry, path: n, timestampPath: ts, type: integer }
`,
    );
    const api = async (): Promise<{ forwarder: { backlog: number; written: number; state: string } }> =>
      (await fetch(`http://127.0.0.1:${apiPort}/api/status`)).json() as never;
    const run = (...extra: string[]): Proc => startProcess(process.execPath, [fgw, 'run', '--config', cfg, ...extra]);
    const pub = await mqtt.connectAsync(mosq.url, { protocolVersion: 5 });
    const TS0 = Date.now();

    // 1. the persistent session exists (a marker went through), then the gateway goes away
    const gw1 = run();
    await waitFor('the API', async () => (await fetch(`http://127.0.0.1:${apiPort}/health/live`)).ok);
    await waitFor('the marker stored', async () => {
      await pub.publishAsync('burst/telemetry', JSON.stringify({ n: -1, ts: TS0 - 1000 }), { qos: 1 });
      return (await stored()).stamped.length > 0;
    });
    await gw1.kill('SIGTERM');
    expect((await gw1.exited).code, gw1.output()).toBe(0);
    const marker = await stored();

    // 2. the burst, queued by the broker; the gateway comes back with InfluxDB down, stores it, is SIGKILLed
    for (let i = 0; i < N; i++) await pub.publishAsync('burst/telemetry', JSON.stringify({ n: i, ts: TS0 }), { qos: 1 });
    await pub.endAsync();
    const before = (await inInflux('pieces')).length + (await inInflux('stamped')).length;
    await influx.stop();
    const gw2 = run();
    await waitFor('the burst in the store', async () => (await stored()).stamped.length >= marker.stamped.length + N, { timeoutMs: 30_000 });
    await gw2.kill('SIGKILL');

    // 3. InfluxDB back, the gateway restarted: the backlog goes, every reading its own point
    await influx.start();
    const gw3 = run();
    await waitFor(
      'the backlog forwarded',
      async () => {
        const s = await api();
        return s.forwarder.backlog === 0 && s.forwarder.state === 'ok' ? s : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const s3 = await stored();
    expect(s3.stamped.length).toBeGreaterThanOrEqual(N + 1); // a message the kill left unacknowledged comes again
    expect(sorted(await inInflux('stamped'))).toEqual(sorted(s3.stamped));
    expect(sorted(await inInflux('pieces'))).toEqual(sorted(s3.pieces));
    expect(new Set(s3.stamped)).toEqual(new Set([-1, ...Array.from({ length: N }, (_, i) => i)]));
    // the forwarder's count is what InfluxDB got from it
    const after = (await inInflux('pieces')).length + (await inInflux('stamped')).length;
    expect((await api()).forwarder.written).toBe(after - before);

    // `fgw query` reads the same times and values from either source; the verifier counts the same
    const query = (source: string) =>
      JSON.parse(
        execFileSync(process.execPath, [fgw, 'query', '--config', cfg, '--device', DEVICE, '--tag', 'stamped', '--source', source, '--json'], {
          encoding: 'utf8',
        }),
      ) as Array<{ ts: number; value: unknown }>;
    const fromStore = query('store').map((r) => [r.ts, r.value]);
    expect(fromStore).toEqual(s3.readings.map((r) => [r.ts, r.value]));
    expect(query('influx').map((r) => [r.ts, r.value])).toEqual(fromStore);
    const window = { device: DEVICE, from: TS0 - 60_000, to: Date.now() + 60_000, slotMs: 10_000, uncertainIsGood: false };
    const store = openStore({ path: join(dir.path, 'data'), maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 });
    const fromInflux = influxFacts({ url: influx.url, database: 'factory' });
    try {
      const slots = await storeFacts(store).slotCounts(window);
      expect(slots.reduce((n, s) => n + s.good, 0)).toBe(s3.stamped.length + s3.pieces.length);
      expect(await fromInflux.slotCounts(window)).toEqual(slots);
    } finally {
      await fromInflux.close();
      await store.close();
    }
    await gw3.kill('SIGTERM');
    expect((await gw3.exited).code, gw3.output()).toBe(0);

    // 4. a full replay: same timestamps, the same points overwritten, nothing duplicated
    const raw = new Database(join(dir.path, 'data', STORE_FILE));
    raw.prepare(`UPDATE meta SET value = 0 WHERE key = 'cursor:readings'`).run();
    raw.close();
    const gw4 = run('--for', '2s');
    expect((await gw4.exited).code, gw4.output()).toBe(0);
    expect(sorted(await inInflux('stamped'))).toEqual(sorted(s3.stamped));
    expect(sorted(await inInflux('pieces'))).toEqual(sorted(s3.pieces));
  });
});
