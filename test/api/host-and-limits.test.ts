/**
 * Two attacks on the API through fastify's inject(): DNS rebinding (a page on attacker.example whose
 * name now points at the gateway reads it with `Host: attacker.example`) and token guessing spread
 * over many addresses (each address stays under its own failure limit).
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../gateway/api/server.js';
import { hostAllowed, hostName } from '../../gateway/api/auth.js';
import { TOKENS, TestRuntime } from './test-runtime.js';

const runtimes: TestRuntime[] = [];
const servers: FastifyInstance[] = [];
async function setup(
  opts: ConstructorParameters<typeof TestRuntime>[0],
  http: { listen?: string; hosts?: string[] } = {},
  serverOpts: Parameters<typeof buildServer>[1] = {},
) {
  const rt = new TestRuntime(opts);
  rt.config = { ...rt.config, http: { ...rt.config.http, ...http } };
  const app = await buildServer(rt, serverOpts);
  runtimes.push(rt);
  servers.push(app);
  return { rt, app };
}
afterAll(async () => {
  for (const s of servers) await s.close();
  for (const r of runtimes) await r.close();
});
const bearer = (t: { token: string }) => ({ authorization: `Bearer ${t.token}` });

describe('DNS rebinding: the Host header must name this gateway', () => {
  it('loopback, no tokens: attacker.example gets 421 on every route; loopback names and IP addresses are served', async () => {
    const { app } = await setup({ tokens: [] });
    for (const url of ['/api/devices', '/api/status', '/metrics', '/', '/health/ready']) {
      const res = await app.inject({ method: 'GET', url, headers: { host: 'attacker.example' } });
      expect([url, res.statusCode]).toEqual([url, 421]);
      expect(res.json()).toMatchObject({ code: 'GW_ERR_API_HOST' });
    }
    for (const host of ['attacker.example:8080', 'localhost.attacker.example', '127.0.0.1.nip.io', 'bad host', '[::1']) {
      expect([host, (await app.inject({ method: 'GET', url: '/api/devices', headers: { host } })).statusCode]).toEqual([host, 421]);
    }
    for (const host of ['localhost:8080', 'LOCALHOST', 'localhost.', 'gw.localhost:8080', '127.0.0.1:8080', '[::1]:8080', '10.0.0.5:8080']) {
      expect([host, (await app.inject({ method: 'GET', url: '/api/devices', headers: { host } })).statusCode]).toEqual([host, 200]);
    }
  });

  it('a named listen address and http.hosts: those names are served, loopback names are not (not bound there), a refused write is audited', async () => {
    const { app, rt } = await setup({ tokens: [TOKENS.operator] }, { listen: 'gw01.plant.local:8080', hosts: ['.factory.example', 'scada-gw'] });
    const get = (host: string) => app.inject({ method: 'GET', url: '/api/devices', headers: { host, ...bearer(TOKENS.operator) } });
    for (const host of ['gw01.plant.local:8080', 'a.factory.example', 'factory.example', 'SCADA-GW:8080', '192.168.1.20'])
      expect([host, (await get(host)).statusCode]).toEqual([host, 200]);
    for (const host of ['localhost:8080', 'evil.example', 'factory.example.evil.example', 'scada-gw.evil'])
      expect([host, (await get(host)).statusCode]).toEqual([host, 421]);
    const w = await app.inject({
      method: 'POST',
      url: '/api/devices/press-01/tags/setpoint',
      headers: { host: 'evil.example', ...bearer(TOKENS.operator) },
      payload: { value: 5 },
    });
    expect(w.statusCode).toBe(421);
    expect(rt.stubs.get('press-01')!.writes).toEqual([]);
    expect(rt.store.audits({ action: 'write' })).toMatchObject([{ actor: 'anonymous', result: 'denied', detail: 'GW_ERR_API_HOST' }]);
  });

  it.each([
    ['example.com:8080', 'example.com'],
    ['Example.COM.', 'example.com'],
    ['[::1]:80', '::1'],
    ['127.0.0.1', '127.0.0.1'],
    ['a b', undefined],
    ['[::1]x', undefined],
  ])('hostName(%j) = %j', (header, name) => expect(hostName(header)).toBe(name));

  it('listening on every address (0.0.0.0, the Docker image): loopback names are accepted', () => {
    expect(hostAllowed({ listen: '0.0.0.0:8080', tokens: [1] }, 'localhost:8080')).toBe(true);
    expect(hostAllowed({ listen: '0.0.0.0:8080', tokens: [1] }, 'gateway:8080')).toBe(false);
    expect(hostAllowed({ listen: '0.0.0.0:8080', tokens: [1], hosts: ['gateway'] }, 'gateway:8080')).toBe(true);
  });
});

describe('failed authentications are limited across addresses too', () => {
  it('60 wrong tokens from 60 addresses: the first 30 get 401, the rest 429; an address that authenticated before is still served', async () => {
    const { app } = await setup({ tokens: [TOKENS.mes] });
    const from = (remoteAddress: string, headers: Record<string, string>) => app.inject({ method: 'GET', url: '/api/devices', headers, remoteAddress });
    // the MES reads before the attack
    expect((await from('127.0.0.200', bearer(TOKENS.mes))).statusCode).toBe(200);
    const codes: number[] = [];
    for (let i = 1; i <= 60; i++) codes.push((await from(`127.0.0.${i}`, { authorization: `Bearer guess-${i}-xxxxxxxxxx` })).statusCode);
    expect(codes).toEqual([...Array(30).fill(401), ...Array(30).fill(429)]);
    const refused = await from('127.0.0.61', { authorization: `Bearer guess-61-xxxxxxxxxx` });
    expect(refused.json()).toMatchObject({ code: 'GW_ERR_API_RATE_LIMITED' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // during the attack: the MES goes on; a new address is refused without its token being looked at
    expect((await from('127.0.0.200', bearer(TOKENS.mes))).statusCode).toBe(200);
    expect((await from('127.0.0.201', bearer(TOKENS.mes))).statusCode).toBe(429);
  });

  it('the global budget is an option of buildServer like the per-address one', async () => {
    const { app } = await setup({ tokens: [TOKENS.mes] }, {}, { authFailures: { max: 10, windowMs: 60_000, globalMax: 2 } });
    const codes: number[] = [];
    for (let i = 1; i <= 4; i++)
      codes.push(
        (await app.inject({ method: 'GET', url: '/api/status', headers: { authorization: 'Bearer nope-nope-nope' }, remoteAddress: `10.9.0.${i}` })).statusCode,
      );
    expect(codes).toEqual([401, 401, 429, 429]);
  });
});
