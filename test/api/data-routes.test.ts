/**
 * The one list of data routes (verify/data-routes.ts) against the API: every entry must be a route
 * the API serves and audits as a read (the command route as a write), or the server refuses to
 * start, so a renamed route cannot silently stop counting as data use.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { dataRouteCheck } from '../../gateway/api/audit.js';
import { COMMAND_ROUTE, DATA_ROUTES, isDataRoute } from '../../verify/data-routes.js';

function appWith(routes: Array<[method: 'GET' | 'POST', url: string, audit?: 'read' | 'write']>) {
  const app = Fastify();
  dataRouteCheck(app);
  for (const [method, url, audit] of routes) app.route({ method, url, config: audit ? { audit } : {}, handler: async () => ({}) });
  return app;
}

const all = (): Array<['GET' | 'POST', string, 'read' | 'write']> => [
  ...DATA_ROUTES.map((r) => ['GET', r.slice(4), 'read'] as ['GET', string, 'read']),
  ['POST', COMMAND_ROUTE.slice(5), 'write'],
];

describe('data routes', () => {
  it('are device lists, latest values, readings and history; never status, audit, dead letters, pilots, networking, health or metrics', () => {
    for (const r of ['GET /api/devices', 'GET /api/devices/:id', 'GET /api/devices/:id/latest', 'GET /api/latest', 'GET /api/devices/:id/tags/:tag/history'])
      expect(isDataRoute(r), r).toBe(true);
    for (const r of [
      'GET /api/status',
      'GET /api/audit',
      'GET /api/dead-letters',
      'GET /api/pilots',
      'GET /api/networking',
      'GET /health/live',
      'GET /health/ready',
      'GET /metrics',
      COMMAND_ROUTE,
    ])
      expect(isDataRoute(r), r).toBe(false);
  });

  it('an API serving every listed route, audited, starts', async () => {
    const app = appWith(all());
    await expect(app.ready()).resolves.toBeDefined();
    await app.close();
  });

  it.each([
    ['a data route missing', all().filter(([, u]) => u !== '/api/sparklines'), 'GET /api/sparklines'],
    [
      'a data route not audited',
      all().map(([m, u, a]) => [m, u, u === '/api/latest' ? undefined : a] as ['GET' | 'POST', string, 'read' | 'write' | undefined]),
      'GET /api/latest',
    ],
    [
      'the command route renamed',
      [...all().filter(([m]) => m === 'GET'), ['POST', '/api/devices/:id/write', 'write']] as Array<['GET' | 'POST', string, 'read' | 'write']>,
      COMMAND_ROUTE,
    ],
  ])('%s: the API refuses to start, naming it', async (_what, routes, named) => {
    const app = appWith(routes as Array<['GET' | 'POST', string, 'read' | 'write']>);
    await expect(app.ready()).rejects.toThrow(named);
  });
});
