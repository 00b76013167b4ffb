/**
 * The forwarder against a REAL influxd 1.6 (one per file): what is read back equals what was written
 * (values, field types, ms timestamps, tags, escaping), readings sharing a ms stay separate points, an outage loses nothing and duplicates
 * nothing, and a real field type conflict goes to the dead-letter table with InfluxDB's message
 * while the other lines land.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { Forwarder } from '../../ingest/forwarder.js';
import { InfluxWriter, influxClient } from '../../ingest/influx-writer.js';
import { influxSchema } from '../../ingest/schema.js';
import { openStore } from '../../ingest/store/index.js';
import type { Store } from '../../ingest/types.js';
import { startInflux, type TestInflux } from '../helpers/influx.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const T = Date.UTC(2026, 0, 5, 8, 0, 0);
const DEVICE_META: Record<string, { line?: string; process?: string }> = {
  'press-01': { line: 'line-01', process: 'stamping' },
  'lathe-03': { line: '一号线, A', process: 'machining' },
};

let influx: TestInflux;
beforeAll(async () => {
  influx = await startInflux();
});
afterAll(async () => {
  await influx?.cleanup();
});

describe('Forwarder → real InfluxDB 1.6', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: Store;
  let fwd: Forwarder | undefined;
  let dbCount = 0;
  const setup = (extra: Record<string, unknown> = {}) => {
    dir = tempDir('fgw-fwd-');
    store = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 });
    const database = `t${++dbCount}_${Date.now()}`;
    const config = influxSchema.parse({ url: influx.url, database, flushInterval: '50ms', maxBackoff: '500ms', ...extra });
    fwd = new Forwarder({ store, config, gateway: { id: 'line-01', site: '永康 cup plant' }, deviceMeta: (d) => DEVICE_META[d] ?? {} });
    return { database, fwd };
  };
  afterEach(async () => {
    await fwd?.stop({ timeoutMs: 300 });
    fwd = undefined;
    await store.close();
    dir.cleanup();
  });

  it('creates the database and writes values, field types, tags and ms timestamps that read back as written', async () => {
    const { database, fwd } = setup();
    const tricky = 'say "hi", a=b \\ back\\slash\nnew line 冲压 1 号';
    await store.write([
      { device: 'press-01', tag: 'state', ts: T, kind: 'integer', value: 2, quality: 'good' },
      { device: 'press-01', tag: 'tonnage', ts: T, kind: 'float', value: 801.25, quality: 'good' },
      { device: 'press-01', tag: 'door_open', ts: T, kind: 'boolean', value: false, quality: 'good' },
      { device: 'press-01', tag: 'oil_temp', ts: T, kind: 'float', value: null, quality: 'bad', error: 'MODBUS_EXC_2' },
      { device: 'press-01', tag: 'program', ts: T, kind: 'string', value: tricky, quality: 'good' },
      { device: 'press-01', tag: 'tonnage', ts: T + 1, kind: 'float', value: 20, quality: 'uncertain' },
      { device: 'lathe-03', tag: 'spindle_speed', ts: T + 2, kind: 'float', value: -0.5, quality: 'good' },
    ]);
    await store.writeStatus([
      { device: '', tag: 'heartbeat', ts: T + 3, kind: 'boolean', value: true, quality: 'good' },
      { device: 'press-01', tag: 'connected', ts: T + 3, kind: 'boolean', value: true, quality: 'good' },
      { device: 'press-01', tag: 'good', ts: T + 3, kind: 'integer', value: 10, quality: 'good' },
      { device: 'press-01', tag: 'bad', ts: T + 3, kind: 'integer', value: 1, quality: 'good' },
      { device: 'press-01', tag: 'lastError', ts: T + 3, kind: 'string', value: 'MODBUS_EXC_2', quality: 'good' },
    ]);
    store.appendAudit({ ts: T + 4, actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/devices/:id/history', device: 'press-01', result: 'ok' });
    store.appendAudit({
      ts: T + 4,
      actor: 'mes',
      system: 'MES',
      action: 'read',
      route: 'GET /api/devices/:id/history',
      device: 'press-01',
      result: 'ok',
      detail: 'second in the same ms',
    });
    fwd.start();
    await fwd.flushed();

    const site = '永康 cup plant';
    expect(await influx.query('SELECT * FROM equipment GROUP BY * ORDER BY time', database)).toEqual([
      {
        device: 'lathe-03',
        gateway: 'line-01',
        line: '一号线, A',
        process: 'machining',
        site,
        uncertain: '',
        time: T + 2,
        door_open: null,
        program: null,
        spindle_speed: -0.5,
        state: null,
        tonnage: null,
      },
      {
        device: 'press-01',
        gateway: 'line-01',
        line: 'line-01',
        process: 'stamping',
        site,
        uncertain: '',
        time: T,
        door_open: false,
        program: tricky,
        spindle_speed: null,
        state: 2,
        tonnage: 801.25,
      },
      // a reading of uncertain quality is written, tagged as such (the verifier leaves it out by default)
      {
        device: 'press-01',
        gateway: 'line-01',
        line: 'line-01',
        process: 'stamping',
        site,
        uncertain: 'true',
        time: T + 1,
        door_open: null,
        program: null,
        spindle_speed: null,
        state: null,
        tonnage: 20,
      },
    ]);
    const types = Object.fromEntries((await influx.query('SHOW FIELD KEYS FROM equipment', database)).map((r) => [r.fieldKey, r.fieldType]));
    expect(types).toEqual({ door_open: 'boolean', program: 'string', spindle_speed: 'float', state: 'integer', tonnage: 'float' });
    expect(await influx.query('SELECT * FROM gateway_status GROUP BY * ORDER BY time', database)).toEqual([
      { device: '', gateway: 'line-01', site, time: T + 3, bad: null, connected: null, good: null, heartbeat: true, lastError: null },
      { device: 'press-01', gateway: 'line-01', site, time: T + 3, bad: 1, connected: true, good: 10, heartbeat: null, lastError: 'MODBUS_EXC_2' },
    ]);
    const audits = await influx.query('SELECT * FROM gateway_audit GROUP BY * ORDER BY time', database);
    expect(audits).toHaveLength(2);
    expect(audits.map((a) => [a.time, a.system, a.device, a.actor, a.route, a.detail ?? null])).toEqual([
      [T + 4, 'MES', 'press-01', 'mes', 'GET /api/devices/:id/history', null],
      [T + 4, 'MES', 'press-01', 'mes', 'GET /api/devices/:id/history', 'second in the same ms'],
    ]);
    const st = fwd.stats();
    expect(st).toMatchObject({ state: 'ok', backlog: 0, lagMs: 0, written: 11, auditsWritten: 2, deadLettered: 0 });
  });

  it('idle: a reading reaches InfluxDB as soon as it is committed, well before flushInterval (10 s)', async () => {
    const { database, fwd } = setup({ flushInterval: '10s' });
    fwd.start();
    const t0 = Date.now();
    await store.write([{ device: 'press-01', tag: 'state', ts: T, kind: 'integer', value: 3, quality: 'good' }]);
    // awaited, not timed: the point is there, and it came before the flush interval could have sent it
    await waitFor('the point in InfluxDB', async () => (await influx.query('SELECT state FROM equipment', database)).length === 1, { timeoutMs: 30_000 });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await influx.query('SELECT state FROM equipment', database)).toMatchObject([{ time: T, state: 3 }]);
  });

  it('under a burst, what is committed while a write is in flight goes in the next write: batches grow by themselves', async () => {
    // a proxy in front of influxd that holds each write 200 ms (a busy InfluxDB) and counts them
    const writes: number[] = [];
    const target = new URL(influx.url);
    const proxy = createServer((req, res) => {
      const body: Buffer[] = [];
      req.on('data', (c: Buffer) => body.push(c));
      req.on('end', () => {
        const data = Buffer.concat(body);
        const isWrite = req.url?.startsWith('/write') === true;
        const forward = () => {
          const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
            if (isWrite && (r.statusCode ?? 0) < 300) writes.push(data.toString('utf8').split('\n').filter(Boolean).length);
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
          });
          up.on('error', () => res.destroy());
          up.end(data);
        };
        if (isWrite) setTimeout(forward, 200);
        else forward();
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const { database, fwd } = setup({ url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, flushInterval: '10s', gzip: false });
      fwd.start();
      // 40 commits of one reading each, one after the other, as fast as the store takes them
      for (let i = 0; i < 40; i++) await store.write([{ device: 'd', tag: 'v', ts: T + i, kind: 'integer', value: i, quality: 'good' }]);
      await fwd.flushed();
      expect(await influx.countPoints(database, 'equipment')).toBe(40);
      expect(writes.reduce((a, b) => a + b, 0)).toBe(40);
      // one write per commit would be 40 writes of 1 line; while one write is held, commits pile up
      expect(writes.length).toBeLessThan(40);
      expect(Math.max(...writes)).toBeGreaterThan(1);
    } finally {
      await new Promise<void>((r) => {
        proxy.closeAllConnections();
        proxy.close(() => r());
      });
    }
  });

  it('an outage (influxd killed mid-run) loses nothing and duplicates nothing', async () => {
    const { database, fwd } = setup({ batchSize: 500 });
    fwd.start();
    const N = 3 * 3000;
    let written = 0;
    // readings keep coming in a steady stream, whatever happens to InfluxDB
    const produce = async (count: number) => {
      for (let i = 0; i < count; i += 100) {
        const rows: Reading[] = [];
        for (let j = 0; j < 100; j++, written++)
          rows.push({ device: `dev${written % 3}`, tag: 'v', ts: T + written, kind: 'float', value: written, quality: 'good' });
        await store.write(rows);
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    await produce(N / 3);
    await waitFor('some points in InfluxDB', async () => (await influx.query('SELECT count(v) FROM equipment', database))[0]?.count);
    await influx.kill();
    await produce(N / 3);
    await waitFor('the forwarder to notice the outage', () => fwd.stats().state === 'retrying');
    expect(fwd.stats().backlog).toBeGreaterThan(0);
    await influx.start();
    await produce(N / 3);
    await fwd.flushed();
    expect(written).toBe(N);
    const [count] = await influx.query('SELECT count(v), sum(v) FROM equipment', database);
    expect(count).toMatchObject({ count: N, sum: (N * (N - 1)) / 2 });
    expect(await influx.countPoints(database, 'equipment')).toBe(N);
    expect(fwd.stats()).toMatchObject({ backlog: 0, deadLettered: 0, state: 'ok' });
  });

  it('repeated source timestamps (an OPC UA server stamping changes with one time): each reading is its own point, written = what InfluxDB holds', async () => {
    const { database, fwd } = setup({ batchSize: 7 });
    // 20 notifications of `speed` and 20 of `temp`, five per source timestamp, in separate commits;
    // batches of 7 lines split the ms groups across requests
    for (let i = 0; i < 20; i++) {
      await store.write([
        { device: 'lathe-03', tag: 'speed', ts: T + Math.floor(i / 5), kind: 'float', value: i, quality: 'good' },
        { device: 'lathe-03', tag: 'temp', ts: T + Math.floor(i / 5), kind: 'float', value: 100 + i, quality: 'good' },
      ]);
    }
    fwd.start();
    await fwd.flushed();
    const rows = await influx.query('SELECT speed, temp FROM equipment', database);
    // 4 ms × 5 points each, two fields per point (the readings of one notification merged)
    expect(rows.map((r) => [r.time, r.speed, r.temp])).toEqual(Array.from({ length: 20 }, (_, i) => [T + Math.floor(i / 5), i, 100 + i]));
    expect(fwd.stats()).toMatchObject({ backlog: 0, written: 40, deadLettered: 0 });
    // a replay of everything (the cursor rewound, as after a crash before it was saved) changes nothing
    store.setCursor('readings', 0);
    await fwd.stop();
    const again = new Forwarder({
      store,
      config: influxSchema.parse({ url: influx.url, database, flushInterval: '50ms' }),
      gateway: { id: 'line-01', site: '永康 cup plant' },
      deviceMeta: (d) => DEVICE_META[d] ?? {},
    });
    again.start();
    await again.flushed();
    await again.stop();
    expect(again.stats().written).toBe(40);
    expect(await influx.countPoints(database, 'equipment')).toBe(20);
  });

  it('a field type conflict goes to the dead-letter table with InfluxDB message; the other lines land', async () => {
    const { database, fwd } = setup();
    fwd.start();
    await store.write([{ device: 'c1', tag: 'x', ts: T, kind: 'float', value: 1.5, quality: 'good' }]);
    await fwd.flushed();
    // the tag's type changed in the config: same field, now integer → InfluxDB refuses that line
    await store.write([
      { device: 'c2', tag: 'y', ts: T + 1, kind: 'float', value: 1, quality: 'good' },
      { device: 'c1', tag: 'x', ts: T + 2, kind: 'integer', value: 7, quality: 'good' },
      { device: 'c2', tag: 'y', ts: T + 3, kind: 'float', value: 2, quality: 'good' },
      { device: 'c3', tag: 'y', ts: T + 4, kind: 'float', value: 3, quality: 'good' },
    ]);
    await fwd.flushed();
    const dl = store.deadLetters({ source: 'influx' });
    expect(dl).toHaveLength(1);
    expect(dl[0]).toMatchObject({
      source: 'influx',
      reason: 'INFLUX_400',
      device: 'c1',
      payload: `equipment,device=c1,gateway=line-01,site=永康\\ cup\\ plant x=7i ${T + 2}000000`,
    });
    expect(dl[0]!.detail).toMatch(/field type conflict/);
    expect((await influx.query('SELECT y FROM equipment WHERE y > 0 ORDER BY time', database)).map((r) => [r.time, r.y])).toEqual([
      [T + 1, 1],
      [T + 3, 2],
      [T + 4, 3],
    ]);
    expect(fwd.stats()).toMatchObject({ deadLettered: 1, backlog: 0 });
    expect(store.stats().deadLetters).toBe(1);
  });

  it('without createDatabase a missing database holds the data and says why', async () => {
    const { fwd } = setup({ createDatabase: false, holdRetryInterval: '100ms' });
    await store.write([{ device: 'd', tag: 'x', ts: T, kind: 'float', value: 1, quality: 'good' }]);
    fwd.start();
    await waitFor('the forwarder to report the missing database', () => fwd.stats().lastError?.includes('database not found'));
    expect(fwd.stats()).toMatchObject({ state: 'retrying', backlog: 1, written: 0 });
  });

  it('gzip bodies are accepted by influxd, and influxClient() queries what was written', async () => {
    const database = `gz_${Date.now()}`;
    const cfg = influxSchema.parse({ url: influx.url, database, gzip: true });
    const w = new InfluxWriter(cfg);
    expect(await w.write('m v=1i 1000')).toEqual({ kind: 'db-missing', message: `database not found: "${database}"` });
    await w.createDatabase();
    const lines = Array.from({ length: 300 }, (_, i) => `m,device=d${i % 3} v=${i}i ${T + i}`).join('\n');
    expect(await w.write(lines)).toEqual({ kind: 'ok', status: 204 });
    const rows = await influxClient(cfg).query<{ count: number }>('SELECT count(v) AS count FROM m');
    expect(rows.map((r) => r.count)).toEqual([300]);
  });
});

describe('Forwarder → real InfluxDB 1.6 with authentication', () => {
  it('wrong credentials hold (401 from influxd); once the user exists, it resumes and nothing is lost', async () => {
    const secured = await startInflux({ admin: { username: 'admin', password: 'admin-pw' } });
    const dir = tempDir('fgw-fwd-auth-');
    const store = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 });
    const config = influxSchema.parse({
      url: secured.url,
      database: 'plant',
      username: 'gw',
      password: 's3cret pw',
      flushInterval: '50ms',
      holdRetryInterval: '200ms',
    });
    const fwd = new Forwarder({ store, config, gateway: { id: 'line-01' }, deviceMeta: () => ({}) });
    try {
      await secured.query('CREATE DATABASE plant');
      await store.write(
        Array.from({ length: 20 }, (_, i) => ({ device: 'd', tag: 'v', ts: T + i, kind: 'float' as const, value: i, quality: 'good' as const })),
      );
      fwd.start();
      await waitFor('the auth hold', () => fwd.stats().state === 'auth-hold');
      expect(fwd.stats()).toMatchObject({ backlog: 20, written: 0 });
      expect(fwd.stats().lastError).toMatch(/HTTP 401/);
      await store.write(
        Array.from({ length: 5 }, (_, i) => ({ device: 'd', tag: 'v', ts: T + 20 + i, kind: 'float' as const, value: 20 + i, quality: 'good' as const })),
      );
      await secured.query(`CREATE USER "gw" WITH PASSWORD 's3cret pw'`);
      await secured.query('GRANT WRITE ON "plant" TO "gw"');
      await fwd.flushed();
      expect(await secured.query('SELECT count(v), sum(v) FROM equipment', 'plant')).toMatchObject([{ count: 25, sum: (25 * 24) / 2 }]);
      expect(fwd.stats()).toMatchObject({ state: 'ok', backlog: 0, written: 25 });
    } finally {
      await fwd.stop({ timeoutMs: 300 });
      await store.close();
      dir.cleanup();
      await secured.cleanup();
    }
  });
});
