/**
 * Every API route through fastify's inject(): auth (401 / 403 / 429), validation (400 naming the
 * zod path), coded runtime errors mapped to statuses, secrets never in responses, and the audit
 * table holding exactly the expected rows after a sequence of calls. Real embedded store, stub
 * device views (test-runtime.ts).
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, GatewayError } from '../../config/errors.js';
import type { Reading } from '../../adapters/types.js';
import { buildServer } from '../../gateway/api/server.js';
import { tempDir } from '../helpers/tmp.js';
import { PLANTED_SECRETS, T0, TOKENS, TestRuntime, stubDevices, testConfig } from './test-runtime.js';

const auth = (t: { token: string }) => ({ authorization: `Bearer ${t.token}` });
const MIN = 60_000;

const runtimes: TestRuntime[] = [];
const servers: FastifyInstance[] = [];
async function setup(opts: ConstructorParameters<typeof TestRuntime>[0] = {}, serverOpts: Parameters<typeof buildServer>[1] = {}) {
  const rt = new TestRuntime(opts);
  const app = await buildServer(rt, serverOpts);
  runtimes.push(rt);
  servers.push(app);
  return { rt, app };
}
afterAll(async () => {
  for (const s of servers) await s.close();
  for (const r of runtimes) await r.close();
});

const ALL_TOKENS = [TOKENS.mes, TOKENS.operator, TOKENS.dashboard];

function r(
  device: string,
  tag: string,
  ts: number,
  value: number | string | boolean | null,
  quality: Reading['quality'] = 'good',
  kind: Reading['kind'] = 'float',
): Reading {
  return { device, tag, ts, kind, value, quality, ...(quality === 'bad' ? { error: 'TIMEOUT' } : {}) };
}

describe('with tokens configured', () => {
  let rt: TestRuntime;
  let app: FastifyInstance;
  beforeAll(async () => {
    ({ rt, app } = await setup({ tokens: ALL_TOKENS }, { authFailures: { max: 1000, windowMs: 60_000 } }));
    await rt.store.write([
      r('press-01', 'tonnage', T0 - 10 * MIN, 10.5),
      r('press-01', 'tonnage', T0 - 5 * MIN, 11.5),
      r('press-01', 'tonnage', T0 - 2 * MIN, null, 'bad'),
      r('press-01', 'tonnage', T0 - 1 * MIN, 12.5),
      r('press-01', 'state', T0 - 1 * MIN, 2, 'good', 'integer'),
      r('lathe-03', 'program', T0 - 3 * MIN, 'O1234', 'good', 'string'),
    ]);
  });

  it.each([
    ['no token', {}, 401, 'GW_ERR_API_UNAUTHORIZED'],
    ['an unknown token', { authorization: 'Bearer not-a-token-at-all' }, 401, 'GW_ERR_API_UNAUTHORIZED'],
    ['a malformed header', { authorization: `Basic ${TOKENS.mes.token}` }, 401, 'GW_ERR_API_UNAUTHORIZED'],
    ['a read token', auth(TOKENS.mes), 200, undefined],
  ])('GET /api/devices with %s → %i', async (_what, headers, status, code) => {
    const res = await app.inject({ method: 'GET', url: '/api/devices', headers });
    expect(res.statusCode).toBe(status);
    if (code) expect(res.json().code).toBe(code);
  });

  it.each([
    ['GET', '/api/devices'],
    ['GET', '/api/devices/press-01'],
    ['GET', '/api/devices/press-01/latest'],
    ['GET', '/api/latest'],
    ['GET', '/api/devices/press-01/tags/tonnage/history'],
    ['GET', '/api/networking'],
    ['GET', '/api/sparklines'],
    ['GET', '/api/status'],
    ['GET', '/api/dead-letters'],
    ['GET', '/api/losses'],
    ['GET', '/api/audit'],
    ['GET', '/api/pilots'],
    ['POST', '/api/devices/press-01/tags/setpoint'],
    ['POST', '/api/reload'],
  ] as const)('%s %s needs a token (401 without)', async (method, url) => {
    const res = await app.inject({ method, url, ...(method === 'POST' && url.includes('tags') ? { payload: { value: 1 } } : {}) });
    expect(res.statusCode).toBe(401);
  });

  it.each([
    ['/health/live', 200],
    ['/health/ready', 200],
    ['/metrics', 200],
    ['/', 200],
    ['/app.js', 200],
    ['/style.css', 200],
    ['/docs/json', 200],
  ])('public %s answers %i without a token', async (url, status) => {
    const res = await app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(status);
  });

  it('a read token may not write (403) nor list the audit (403)', async () => {
    const w = await app.inject({ method: 'POST', url: '/api/devices/press-01/tags/setpoint', headers: auth(TOKENS.mes), payload: { value: 5 } });
    expect(w.statusCode).toBe(403);
    expect(w.json().code).toBe('GW_ERR_API_FORBIDDEN');
    const a = await app.inject({ method: 'GET', url: '/api/audit', headers: auth(TOKENS.mes) });
    expect(a.statusCode).toBe(403);
    const reload = await app.inject({ method: 'POST', url: '/api/reload', headers: auth(TOKENS.dashboard) });
    expect(reload.statusCode).toBe(403);
    expect(rt.stubs.get('press-01')!.writes).toEqual([]);
  });

  it('GET /api/devices shows live status and tags, never connection settings', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/devices', headers: auth(TOKENS.mes) });
    const body = res.json();
    expect(body.now).toBe(T0);
    expect(body.devices.map((d: { id: string }) => d.id)).toEqual(['press-01', 'lathe-03', 'polisher-04']);
    const press = body.devices[0];
    expect(press).toEqual({
      id: 'press-01',
      name: '冲压机 1 号',
      line: 'line-01',
      process: 'stamping',
      protocol: 'modbus',
      interval: 1000,
      enabled: true,
      tags: [
        { name: 'state', role: 'state', writable: false },
        { name: 'strokes', role: 'counter', writable: false },
        { name: 'tonnage', role: 'parameter', unit: 'kN', writable: false },
        { name: 'setpoint', role: 'parameter', unit: 'kN', writable: true, min: 0, max: 100 },
      ],
      status: {
        connected: true,
        live: true,
        silent: false,
        silentForMs: 1000,
        staleAfterMs: 15 * MIN,
        lastReadingAt: T0 - 1000,
        good: 120,
        bad: 3,
        cycleMs: 42,
        demoted: false,
      },
    });
    const polisher = body.devices[2];
    expect(polisher.status).toMatchObject({ connected: false, live: false, silent: true, silentForMs: 20 * MIN, staleAfterMs: 15 * MIN });
    // the credentials in the error's URL are hidden
    expect(polisher.status.lastError).toBe('connect ECONNREFUSED mqtt://gw:***@127.0.0.1:1883');
    expect(press.connection).toBeUndefined();
  });

  it('no response of any GET route carries a secret from the config', async () => {
    const urls = [
      '/api/devices',
      '/api/devices/lathe-03',
      '/api/devices/polisher-04',
      '/api/status',
      '/api/latest',
      '/api/pilots',
      '/api/audit',
      '/api/dead-letters',
      '/health/ready',
      '/metrics',
      '/docs/json',
    ];
    const secrets = [...PLANTED_SECRETS, ...ALL_TOKENS.map((t) => t.token)];
    rt.fwd = {
      state: 'retrying',
      backlog: 3,
      lagMs: 1000,
      written: 0,
      deadLettered: 0,
      batches: 0,
      auditsWritten: 0,
      failures: 0,
      lastError: 'http://gw:influx-password-XYZ@127.0.0.1:8086 refused',
    };
    try {
      for (const url of urls) {
        const res = await app.inject({ method: 'GET', url, headers: auth(TOKENS.operator) });
        expect(res.statusCode, url).toBe(200);
        for (const s of secrets) expect(res.body, `${url} leaks ${s}`).not.toContain(s);
      }
    } finally {
      rt.fwd = undefined;
    }
  });

  it.each([
    ['/api/devices/nope', 404, ErrorCodes.DEVICE_UNKNOWN],
    ['/api/devices/nope/latest', 404, ErrorCodes.DEVICE_UNKNOWN],
    ['/api/devices/nope/tags/state/history', 404, ErrorCodes.DEVICE_UNKNOWN],
    ['/api/devices/press-01/tags/nope/history', 404, ErrorCodes.TAG_UNKNOWN],
    ['/api/nothing-here', 404, 'GW_ERR_API_NOT_FOUND'],
  ])('GET %s → %i %s', async (url, status, code) => {
    const res = await app.inject({ method: 'GET', url, headers: auth(TOKENS.mes) });
    expect(res.statusCode).toBe(status);
    expect(res.json().code).toBe(code);
  });

  it('GET /api/devices/:id/latest and /api/latest give the newest reading per tag', async () => {
    const one = (await app.inject({ method: 'GET', url: '/api/devices/press-01/latest', headers: auth(TOKENS.mes) })).json();
    const byTag = Object.fromEntries(one.readings.map((x: { tag: string }) => [x.tag, x]));
    expect(Object.keys(byTag).sort()).toEqual(['state', 'tonnage']);
    expect(byTag.tonnage).toMatchObject({ device: 'press-01', ts: T0 - MIN, value: 12.5, quality: 'good', kind: 'float' });
    expect(byTag.state).toMatchObject({ ts: T0 - MIN, value: 2, kind: 'integer' });
    const all = (await app.inject({ method: 'GET', url: '/api/latest', headers: auth(TOKENS.mes) })).json();
    expect(all.readings.map((x: { device: string; tag: string }) => `${x.device}.${x.tag}`).sort()).toEqual([
      'lathe-03.program',
      'press-01.state',
      'press-01.tonnage',
    ]);
    expect(all.readings.find((x: { tag: string }) => x.tag === 'program').value).toBe('O1234');
  });

  it('GET history over a range, with ISO and epoch-ms times, limit and order', async () => {
    const iso = (ms: number) => new Date(ms).toISOString();
    const url = `/api/devices/press-01/tags/tonnage/history?from=${encodeURIComponent(iso(T0 - 6 * MIN))}&to=${T0}`;
    const res = await app.inject({ method: 'GET', url, headers: auth(TOKENS.mes) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      device: 'press-01',
      tag: 'tonnage',
      from: T0 - 6 * MIN,
      to: T0,
      points: [
        { ts: T0 - 5 * MIN, value: 11.5, quality: 'good' },
        { ts: T0 - 2 * MIN, value: null, quality: 'bad', error: 'TIMEOUT' },
        { ts: T0 - MIN, value: 12.5, quality: 'good' },
      ],
      truncated: false,
    });
    // default range: the hour before now; newest first with a limit
    const newest = (
      await app.inject({ method: 'GET', url: '/api/devices/press-01/tags/tonnage/history?order=desc&limit=2', headers: auth(TOKENS.mes) })
    ).json();
    expect(newest.points.map((p: { ts: number }) => p.ts)).toEqual([T0 - MIN, T0 - 2 * MIN]);
    expect(newest.truncated).toBe(true);
    expect(newest.from).toBe(T0 - 60 * MIN);
    // relative times
    const rel = (await app.inject({ method: 'GET', url: '/api/devices/press-01/tags/tonnage/history?from=-3m', headers: auth(TOKENS.mes) })).json();
    expect(rel.points.map((p: { ts: number }) => p.ts)).toEqual([T0 - 2 * MIN, T0 - MIN]);
  });

  it('GET /api/sparklines gives the newest points of every tag in one request', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/sparklines?points=2', headers: auth(TOKENS.mes) });
    expect(res.statusCode).toBe(200);
    const series = res.json().series as Array<{ device: string; tag: string; points: unknown[] }>;
    // every tag of every enabled device, in config order
    expect(series.map((x) => `${x.device}.${x.tag}`)).toEqual([
      'press-01.state',
      'press-01.strokes',
      'press-01.tonnage',
      'press-01.setpoint',
      'lathe-03.state',
      'lathe-03.parts',
      'lathe-03.program',
      'polisher-04.state',
      'polisher-04.pieces',
    ]);
    const byKey = Object.fromEntries(series.map((x) => [`${x.device}.${x.tag}`, x.points]));
    expect(byKey['press-01.tonnage']).toEqual([
      [T0 - 2 * MIN, null],
      [T0 - MIN, 12.5],
    ]);
    expect(byKey['press-01.state']).toEqual([[T0 - MIN, 2]]);
    expect(byKey['lathe-03.program']).toEqual([[T0 - 3 * MIN, 'O1234']]);
    expect(byKey['press-01.strokes']).toEqual([]);
    const recent = (await app.inject({ method: 'GET', url: '/api/sparklines?from=-90s', headers: auth(TOKENS.mes) })).json().series;
    expect(recent.find((x: { tag: string }) => x.tag === 'tonnage').points).toEqual([[T0 - MIN, 12.5]]);
    expect((await app.inject({ method: 'GET', url: '/api/sparklines?points=0', headers: auth(TOKENS.mes) })).json().issues[0].path).toBe('querystring.points');
  });

  it.each([
    ['from=yesterday', 'querystring.from'],
    ['to=12:00', 'querystring.to'],
    ['limit=0', 'querystring.limit'],
    ['limit=abc', 'querystring.limit'],
    ['limit=10001', 'querystring.limit'],
    ['order=sideways', 'querystring.order'],
    [`from=${T0}&to=${T0 - MIN}`, 'querystring.from'],
    [`from=${T0 + MIN}`, 'querystring.from'],
    ['colour=red', 'querystring'],
  ])('history with %s → 400 naming %s', async (qs, path) => {
    const res = await app.inject({ method: 'GET', url: `/api/devices/press-01/tags/tonnage/history?${qs}`, headers: auth(TOKENS.mes) });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.code).toBe('GW_ERR_API_VALIDATION');
    expect(body.issues.map((i: { path: string }) => i.path)).toContain(path);
  });

  it('GET /api/status reports gateway, devices, store and forwarder', async () => {
    rt.fwd = { state: 'ok', backlog: 4, lagMs: 2500, lastWriteMs: 12, written: 1000, deadLettered: 2, batches: 7, auditsWritten: 5, failures: 3 };
    try {
      const res = await app.inject({ method: 'GET', url: '/api/status', headers: auth(TOKENS.mes) });
      const body = res.json();
      expect(body.gateway).toEqual({ id: 'line-01', site: 'yk-cup-plant', startedAt: T0 - 60 * MIN, now: T0, uptimeMs: 60 * MIN });
      expect(body.devices).toEqual({ total: 3, enabled: 3, connected: 2, live: 2, silent: ['polisher-04'] });
      expect(body.forwarder).toEqual({
        state: 'ok',
        backlog: 4,
        lagMs: 2500,
        lastWriteMs: 12,
        written: 1000,
        deadLettered: 2,
        batches: 7,
        auditsWritten: 5,
        failures: 3,
      });
      expect(body.store.readings).toBe(6);
      expect(body.store.sizeBytes).toBeGreaterThan(0);
      expect(body.store.dropped).toBe(0);
    } finally {
      rt.fwd = undefined;
    }
  });

  it.each([
    [undefined, 200, true],
    ['ok', 200, true],
    ['retrying', 200, true],
    ['auth-hold', 503, false],
    ['stopped', 503, false],
  ] as const)('GET /health/ready with forwarder %s → %i', async (state, status, ready) => {
    rt.fwd = state ? { state, backlog: 0, lagMs: 0, written: 0, deadLettered: 0, batches: 0, auditsWritten: 0, failures: 0 } : undefined;
    try {
      const res = await app.inject({ method: 'GET', url: '/health/ready' });
      expect(res.statusCode).toBe(status);
      expect(res.json().ready).toBe(ready);
      expect(res.json().checks.store.ok).toBe(true);
      expect(res.json().checks.forwarder.configured).toBe(state !== undefined);
    } finally {
      rt.fwd = undefined;
    }
  });

  it('GET /api/dead-letters lists them, payloads cut to 2 KiB', async () => {
    rt.store.deadLetter({
      ts: T0 - MIN,
      source: 'mqtt',
      device: 'polisher-04',
      topic: 'plant/x',
      reason: 'NOT_JSON',
      detail: 'Unexpected token',
      payload: 'x'.repeat(5000),
    });
    rt.store.deadLetter({ ts: T0 - 30_000, source: 'influx', reason: 'INFLUX_400', detail: 'field type conflict' });
    const body = (await app.inject({ method: 'GET', url: '/api/dead-letters', headers: auth(TOKENS.mes) })).json();
    const all = body.deadLetters;
    expect(all).toHaveLength(2);
    expect(body.counts).toEqual({ received: 2, kept: 2, dropped: 0 });
    const mqtt = all.find((d: { source: string }) => d.source === 'mqtt');
    expect(mqtt).toMatchObject({ reason: 'NOT_JSON', device: 'polisher-04', topic: 'plant/x', payloadTruncated: true });
    expect(mqtt.payload).toHaveLength(2048);
    const influx = (await app.inject({ method: 'GET', url: '/api/dead-letters?source=influx', headers: auth(TOKENS.mes) })).json().deadLetters;
    expect(influx.map((d: { reason: string }) => d.reason)).toEqual(['INFLUX_400']);
  });
});

describe('writes', () => {
  let rt: TestRuntime;
  let app: FastifyInstance;
  beforeAll(async () => {
    ({ rt, app } = await setup({ tokens: ALL_TOKENS, bodyLimit: 256 }));
  });
  afterEach(() => {
    for (const d of rt.stubs.values()) d.failWrite = undefined;
  });
  const write = (device: string, tag: string, payload: unknown, token = TOKENS.operator) =>
    app.inject({ method: 'POST', url: `/api/devices/${device}/tags/${tag}`, headers: auth(token), payload: payload as object });

  it('a write with the write scope reaches the device and answers 200', async () => {
    const res = await write('press-01', 'setpoint', { value: 42.5 });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true, device: 'press-01', tag: 'setpoint', value: 42.5, ts: T0 });
    const s = await write('lathe-03', 'program', { value: 'O7777' });
    expect(s.statusCode).toBe(200);
    expect(rt.stubs.get('press-01')!.writes).toEqual([{ tag: 'setpoint', value: 42.5 }]);
    expect(rt.stubs.get('lathe-03')!.writes).toEqual([{ tag: 'program', value: 'O7777' }]);
  });

  it.each([
    ['out of range', 'press-01', 'setpoint', { value: 101 }, 400, ErrorCodes.WRITE_RANGE],
    ['below range', 'press-01', 'setpoint', { value: -1 }, 400, ErrorCodes.WRITE_RANGE],
    ['wrong type', 'press-01', 'setpoint', { value: 'high' }, 400, ErrorCodes.WRITE_TYPE],
    ['not writable', 'press-01', 'state', { value: 1 }, 409, ErrorCodes.WRITE_UNSUPPORTED],
    ['unknown tag', 'press-01', 'nope', { value: 1 }, 404, ErrorCodes.TAG_UNKNOWN],
    ['unknown device', 'nope', 'setpoint', { value: 1 }, 404, ErrorCodes.DEVICE_UNKNOWN],
  ])('%s → %i %s', async (_what, device, tag, payload, status, code) => {
    const res = await write(device, tag, payload);
    expect(res.statusCode).toBe(status);
    expect(res.json().code).toBe(code);
  });

  it('a disconnected device → 503 NOT_CONNECTED; a device refusing → 502 WRITE_FAILED', async () => {
    const press = rt.stubs.get('press-01')!;
    press.status.connected = false;
    try {
      const res = await write('press-01', 'setpoint', { value: 1 });
      expect(res.statusCode).toBe(503);
      expect(res.json().code).toBe(ErrorCodes.NOT_CONNECTED);
    } finally {
      press.status.connected = true;
    }
    press.failWrite = new GatewayError(ErrorCodes.WRITE_FAILED, 'MODBUS_EXC_2: illegal data address');
    const res = await write('press-01', 'setpoint', { value: 1 });
    expect(res.statusCode).toBe(502);
    expect(res.json().code).toBe(ErrorCodes.WRITE_FAILED);
  });

  it.each([
    ['an object value', { value: { a: 1 } }, 'body.value'],
    ['no value', {}, 'body.value'],
    ['an extra key', { value: 1, force: true }, 'body'],
    ['a null value', { value: null }, 'body.value'],
  ])('a body with %s → 400 naming %s', async (_what, payload, path) => {
    const res = await write('press-01', 'setpoint', payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe('GW_ERR_API_VALIDATION');
    expect(res.json().issues.map((i: { path: string }) => i.path)).toContain(path);
  });

  it('a body over http.bodyLimit → 413', async () => {
    const res = await write('lathe-03', 'program', { value: 'x'.repeat(1000) });
    expect(res.statusCode).toBe(413);
  });

  it('POST /api/reload applies the next config; without a file → 409; a bad file → 400 with the problems', async () => {
    const extra = stubDevices()[0]!.config;
    rt.nextConfig = testConfig({ tokens: ALL_TOKENS, bodyLimit: 256, devices: [...rt.config.devices, { ...extra, id: 'press-09' }] });
    const ok = await app.inject({ method: 'POST', url: '/api/reload', headers: auth(TOKENS.operator) });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ added: ['press-09'], removed: [], restarted: [], unchanged: ['press-01', 'lathe-03', 'polisher-04'] });
    rt.nextConfig = undefined;
    const none = await app.inject({ method: 'POST', url: '/api/reload', headers: auth(TOKENS.operator) });
    expect(none.statusCode).toBe(409);
    expect(none.json().code).toBe(ErrorCodes.USAGE);
    rt.nextConfig = new GatewayError(ErrorCodes.CONFIG, 'gateway.yaml: 1 problem', { details: ['devices[0].interval: expected a duration like "500ms"'] });
    const bad = await app.inject({ method: 'POST', url: '/api/reload', headers: auth(TOKENS.operator) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: ErrorCodes.CONFIG, details: ['devices[0].interval: expected a duration like "500ms"'] });
    expect(rt.reloads).toBe(3);
  });
});

describe('the audit', () => {
  it('holds exactly the expected rows after a sequence of calls', async () => {
    const { rt, app } = await setup({ tokens: ALL_TOKENS });
    const call = (method: 'GET' | 'POST', url: string, headers: Record<string, string> = {}, payload?: object) =>
      app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
    expect((await call('GET', '/api/devices', auth(TOKENS.mes))).statusCode).toBe(200);
    expect((await call('GET', '/api/devices')).statusCode).toBe(401); // no token: not a read by a token, not audited
    expect((await call('GET', '/health/live', auth(TOKENS.mes))).statusCode).toBe(200); // public: not audited
    expect((await call('GET', '/metrics', auth(TOKENS.mes))).statusCode).toBe(200); // public: not audited
    expect((await call('POST', '/api/devices/press-01/tags/setpoint', auth(TOKENS.operator), { value: 50 })).statusCode).toBe(200);
    expect((await call('POST', '/api/devices/press-01/tags/setpoint', auth(TOKENS.mes), { value: 50 })).statusCode).toBe(403);
    expect((await call('POST', '/api/devices/press-01/tags/setpoint', auth(TOKENS.operator), { value: 500 })).statusCode).toBe(400);
    expect((await call('POST', '/api/devices/press-01/tags/setpoint', {}, { value: 7 })).statusCode).toBe(401);
    expect((await call('POST', '/api/devices/press-01/tags/setpoint', auth(TOKENS.operator), { value: { x: 1 } })).statusCode).toBe(400);
    expect((await call('GET', '/api/devices/press-01/tags/tonnage/history', auth(TOKENS.dashboard))).statusCode).toBe(200);
    expect((await call('GET', '/api/devices/ghost', auth(TOKENS.mes))).statusCode).toBe(404);
    expect((await call('GET', '/api/audit', auth(TOKENS.mes))).statusCode).toBe(403);

    const rows = rt.store
      .audits({})
      .sort((a, b) => a.seq - b.seq)
      .map(({ seq: _seq, ...rest }) => rest);
    const base = { ts: T0 };
    const W = 'POST /api/devices/:id/tags/:tag';
    expect(rows).toEqual([
      { ...base, actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/devices', result: 'ok' },
      { ...base, actor: 'operator', system: 'platform', action: 'write', route: W, device: 'press-01', tag: 'setpoint', value: '50', result: 'ok' },
      {
        ...base,
        actor: 'mes',
        system: 'MES',
        action: 'write',
        route: W,
        device: 'press-01',
        tag: 'setpoint',
        value: '50',
        result: 'denied',
        detail: 'GW_ERR_API_FORBIDDEN',
      },
      {
        ...base,
        actor: 'operator',
        system: 'platform',
        action: 'write',
        route: W,
        device: 'press-01',
        tag: 'setpoint',
        value: '500',
        result: 'error',
        detail: ErrorCodes.WRITE_RANGE,
      },
      {
        ...base,
        actor: 'anonymous',
        system: 'anonymous',
        action: 'write',
        route: W,
        device: 'press-01',
        tag: 'setpoint',
        value: '7',
        result: 'denied',
        detail: 'GW_ERR_API_UNAUTHORIZED',
      },
      {
        ...base,
        actor: 'operator',
        system: 'platform',
        action: 'write',
        route: W,
        device: 'press-01',
        tag: 'setpoint',
        value: '{"x":1}',
        result: 'error',
        detail: 'GW_ERR_API_VALIDATION',
      },
      {
        ...base,
        actor: 'dashboard',
        system: 'dashboard',
        action: 'read',
        route: 'GET /api/devices/:id/tags/:tag/history',
        device: 'press-01',
        tag: 'tonnage',
        result: 'ok',
      },
      {
        ...base,
        actor: 'mes',
        system: 'MES',
        action: 'read',
        route: 'GET /api/devices/:id',
        device: 'ghost',
        result: 'error',
        detail: ErrorCodes.DEVICE_UNKNOWN,
      },
      { ...base, actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/audit', result: 'denied', detail: 'GW_ERR_API_FORBIDDEN' },
    ]);

    // the audit list itself (write scope) returns the same rows
    const listed = (await call('GET', '/api/audit?action=write', auth(TOKENS.operator))).json().audits;
    expect(listed).toHaveLength(5);
  });

  it('without tokens: anonymous reads are not audited, writes are refused and audited', async () => {
    const { rt, app } = await setup({ tokens: [] });
    expect((await app.inject({ method: 'GET', url: '/api/devices' })).statusCode).toBe(200);
    const w = await app.inject({ method: 'POST', url: '/api/devices/press-01/tags/setpoint', payload: { value: 3 } });
    expect(w.statusCode).toBe(403);
    expect(w.json().code).toBe('GW_ERR_API_READ_ONLY');
    const rows = rt.store.audits({}).map(({ seq: _s, ...x }) => x);
    expect(rows).toEqual([
      {
        ts: T0,
        actor: 'anonymous',
        system: 'anonymous',
        action: 'write',
        route: 'POST /api/devices/:id/tags/:tag',
        device: 'press-01',
        tag: 'setpoint',
        value: '3',
        result: 'denied',
        detail: 'GW_ERR_API_READ_ONLY',
      },
    ]);
    expect(rt.stubs.get('press-01')!.writes).toEqual([]);
  });
});

describe('without tokens', () => {
  it('reads need no token on loopback; other addresses are refused; reload is refused', async () => {
    const { app } = await setup({ tokens: [] });
    const ok = await app.inject({ method: 'GET', url: '/api/status' });
    expect(ok.statusCode).toBe(200);
    const far = await app.inject({ method: 'GET', url: '/api/status', remoteAddress: '10.1.2.3' });
    expect(far.statusCode).toBe(403);
    expect(far.json().code).toBe('GW_ERR_API_LOOPBACK_ONLY');
    const audit = await app.inject({ method: 'GET', url: '/api/audit' });
    expect(audit.statusCode).toBe(403);
    const reload = await app.inject({ method: 'POST', url: '/api/reload' });
    expect(reload.statusCode).toBe(403);
    expect(reload.json().code).toBe('GW_ERR_API_READ_ONLY');
  });
});

describe('failed authentications are rate limited per address', () => {
  it('after max failures even a good token is refused (429) from that address, not from others', async () => {
    const { app } = await setup({ tokens: ALL_TOKENS }, { authFailures: { max: 3, windowMs: 60_000 } });
    const from = (remoteAddress: string, headers: Record<string, string>) => app.inject({ method: 'GET', url: '/api/devices', headers, remoteAddress });
    for (let i = 0; i < 3; i++) expect((await from('10.0.0.9', { authorization: `Bearer wrong-${i}-xxxxxxxx` })).statusCode).toBe(401);
    const blocked = await from('10.0.0.9', auth(TOKENS.mes));
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().code).toBe('GW_ERR_API_RATE_LIMITED');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await from('10.0.0.10', auth(TOKENS.mes))).statusCode).toBe(200);
    // successful requests do not count: many good requests from one address stay allowed
    for (let i = 0; i < 5; i++) expect((await from('10.0.0.11', auth(TOKENS.mes))).statusCode).toBe(200);
  });
});

describe('networking rate', () => {
  it('per slot, the share of enabled devices with a good reading', async () => {
    const { rt, app } = await setup({ tokens: [TOKENS.mes] });
    const from = T0 - 5 * MIN;
    const at = (slot: number, s = 10) => from + slot * MIN + s * 1000;
    await rt.store.write([
      ...[0, 1, 2, 3, 4].map((i) => r('press-01', 'tonnage', at(i), 10 + i)),
      r('press-01', 'tonnage', at(2, 40), 13),
      r('lathe-03', 'parts', at(0), 1, 'good', 'integer'),
      r('lathe-03', 'parts', at(2), 2, 'good', 'integer'),
      r('lathe-03', 'parts', at(3), null, 'bad', 'integer'),
      r('polisher-04', 'pieces', at(1), null, 'bad', 'integer'),
      r('polisher-04', 'pieces', from - MIN, 5, 'good', 'integer'), // before the range
    ]);
    const res = await app.inject({ method: 'GET', url: `/api/networking?from=${from}&to=${T0}&step=1m`, headers: auth(TOKENS.mes) });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.devices).toEqual(['press-01', 'lathe-03', 'polisher-04']);
    expect(body.liveNow).toBe(2);
    expect(body.points).toEqual([
      { ts: from, live: 2, total: 3, rate: 2 / 3 },
      { ts: from + MIN, live: 1, total: 3, rate: 1 / 3 },
      { ts: from + 2 * MIN, live: 2, total: 3, rate: 2 / 3 },
      { ts: from + 3 * MIN, live: 1, total: 3, rate: 1 / 3 },
      { ts: from + 4 * MIN, live: 1, total: 3, rate: 1 / 3 },
    ]);
    const sub = (
      await app.inject({ method: 'GET', url: `/api/networking?from=${from}&to=${T0}&step=60000&devices=lathe-03`, headers: auth(TOKENS.mes) })
    ).json();
    expect(sub.points.map((p: { live: number }) => p.live)).toEqual([1, 0, 1, 0, 0]);
    const tooMany = await app.inject({ method: 'GET', url: `/api/networking?from=${T0 - 30 * 86_400_000}&step=1m`, headers: auth(TOKENS.mes) });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().issues[0].path).toBe('querystring.step');
    const badStep = await app.inject({ method: 'GET', url: '/api/networking?step=soon', headers: auth(TOKENS.mes) });
    expect(badStep.statusCode).toBe(400);
    expect(badStep.json().issues[0].path).toBe('querystring.step');
  });
});

describe('pilots', () => {
  const withProject = async (fn: (dir: string) => Promise<void>) => {
    const dir = tempDir('fgw-pilots-');
    try {
      for (const f of ['project.yaml', 'erp-orders.csv', 'mes-orders.csv']) copyFileSync(join('config', f), join(dir.path, f));
      await fn(dir.path);
    } finally {
      dir.cleanup();
    }
  };

  it('lists each project of http.projects with its live networking rate; unreadable files are reported', async () => {
    await withProject(async (dir) => {
      writeFileSync(join(dir, 'broken.yaml'), 'project: [unclosed');
      const { app } = await setup({ tokens: [TOKENS.mes], projects: ['project.yaml', 'missing.yaml', 'broken.yaml'], configPath: join(dir, 'gateway.yaml') });
      const res = await app.inject({ method: 'GET', url: '/api/pilots', headers: auth(TOKENS.mes) });
      expect(res.statusCode).toBe(200);
      const [p, missing, broken] = res.json().pilots;
      // register: press-01, welder-02, lathe-03, polisher-04, saw-05 production; scale-06 exempt
      expect(p).toMatchObject({
        file: 'project.yaml',
        ok: true,
        id: 'YK-2026-0173',
        name: '保温杯生产线智能化改造',
        enterprise: '永康市示例杯业有限公司',
        claim: 'partial',
        pilot: true,
        inScope: ['press-01', 'welder-02', 'lathe-03', 'polisher-04', 'saw-05'],
        live: ['press-01', 'lathe-03'],
        missing: ['welder-02', 'saw-05'],
        networkingRate: 0.4,
      });
      // the period (2026-03-01..2026-10-31) is over at T0: the verifier looks at its last 30 days,
      // where this empty store has no gateway heartbeat at all: platform outage → indeterminate
      expect(p.classification).toBe('indeterminate');
      expect(p.evaluation).toMatchObject({ from: Date.parse('2026-10-01T16:00:00Z'), to: Date.parse('2026-10-31T16:00:00Z'), networked: 0, inScope: 5 });
      expect(p.evaluation.failed).toContain('platform.outage');
      expect(missing).toMatchObject({ file: 'missing.yaml', ok: false, networkingRate: null, classification: 'pending' });
      expect(missing.error).toMatch(/^GW_ERR_VERIFY_INPUT/);
      expect(broken).toMatchObject({ file: 'broken.yaml', ok: false });
    });
  });

  it("classifies with the verifier over the store; the dashboard's reads are not data use", async () => {
    await withProject(async (dir) => {
      const { rt, app } = await setup({ tokens: [TOKENS.mes, TOKENS.dashboard], projects: ['project.yaml'], configPath: join(dir, 'gateway.yaml') });
      const from = Date.parse('2026-10-01T16:00:00Z');
      const to = Date.parse('2026-10-31T16:00:00Z');
      // a heartbeat and a good state reading of press-01 and lathe-03 in every minute of the window
      const status: Reading[] = [];
      const data: Reading[] = [];
      for (let ts = from + 5000; ts < to; ts += MIN) {
        status.push({ device: '', tag: 'heartbeat', ts, kind: 'boolean', value: true, quality: 'good' });
        data.push(r('press-01', 'state', ts, 1, 'good', 'integer'), r('lathe-03', 'state', ts, 1, 'good', 'integer'));
      }
      data.push(r('press-01', 'strokes', from + MIN, 10, 'good', 'integer'), r('lathe-03', 'parts', from + MIN, 3, 'good', 'integer'));
      await rt.store.writeStatus(status);
      await rt.store.write(data);
      const day = (n: number) => from + n * 86_400_000 + 3_600_000;
      rt.store.appendAudit({ ts: day(3), actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/latest', result: 'ok' });
      for (const n of [1, 2, 3])
        rt.store.appendAudit({ ts: day(n), actor: 'dashboard', system: 'dashboard', action: 'read', route: 'GET /api/devices', result: 'ok' });
      const [p] = (await app.inject({ method: 'GET', url: '/api/pilots', headers: auth(TOKENS.mes) })).json().pilots;
      // RULES partial: a device networked at 0.90, a key step covered (stamping, machining), data
      // used by a registered consumer (MES), an eligible invoice; not full (3 in-scope devices silent)
      expect(p.classification).toBe('partial');
      expect(p.evaluation).toMatchObject({ networked: 2, inScope: 5, networkingRate: 0.4, readsInWindow: 1, readsBySystem: { MES: 1 }, unregisteredReads: 3 });
    });
  });
});

describe('security headers and documents', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    ({ app } = await setup({ tokens: [TOKENS.mes] }));
  });
  const check = (res: LightMyRequestResponse) => {
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  };

  it.each(['/', '/app.js', '/api/devices', '/health/live', '/nothing'])('%s carries CSP and nosniff', async (url) => {
    check(await app.inject({ method: 'GET', url, headers: auth(TOKENS.mes) }));
  });

  it('the dashboard CSP allows only self (no inline code, no CDN)', async () => {
    const csp = (await app.inject({ method: 'GET', url: '/' })).headers['content-security-policy'] as string;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toMatch(/https?:/);
  });

  it('serves the OpenAPI document at /docs with every route and its schemas', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api/audit',
      '/api/dead-letters',
      '/api/devices',
      '/api/devices/{id}',
      '/api/devices/{id}/latest',
      '/api/devices/{id}/tags/{tag}',
      '/api/devices/{id}/tags/{tag}/history',
      '/api/latest',
      '/api/losses',
      '/api/networking',
      '/api/pilots',
      '/api/reload',
      '/api/sparklines',
      '/api/status',
      '/health/live',
      '/health/ready',
    ]);
    const post = doc.paths['/api/devices/{id}/tags/{tag}'].post;
    expect(Object.keys(post.requestBody.content['application/json'].schema.properties)).toEqual(['value']);
    const ui = await app.inject({ method: 'GET', url: '/docs' });
    expect([200, 302]).toContain(ui.statusCode);
    const page = await app.inject({ method: 'GET', url: '/docs/' });
    expect(page.statusCode).toBe(200);
    const csp = page.headers['content-security-policy'] as string;
    // scripts from the gateway only, nothing from outside, no https upgrade on a plain-http network
    expect(csp).toMatch(/script-src 'self'(;| 'sha256-)/);
    expect(csp).not.toMatch(/https:|upgrade-insecure-requests|validator\.swagger\.io|script-src[^;]*unsafe-inline/);
  });
});
