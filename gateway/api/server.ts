/**
 * The gateway's HTTP API and dashboard: buildServer() returns a fastify
 * instance without listening; the runtime/CLI decides where it listens (loopback only without
 * tokens). Routes are encapsulated plugins with zod schemas; the OpenAPI document is at /docs.
 *
 * Cross-cutting, on the root instance so every plugin inherits it:
 * - onRequest (reads) / preValidation (writes, so a refused write's value is audited): bearer-token
 *   auth and scopes (auth.ts), with a limit on failed authentications per client address
 *   (@fastify/rate-limit);
 * - onSend: the access audit (audit.ts) and security headers (CSP self only, nosniff, no framing);
 * - one error handler (errors.ts): validation errors name the zod path; coded runtime errors map
 *   to HTTP statuses; no internals leak.
 * Requests are not logged one by one (counters, not log lines); the Authorization header never is.
 */
import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createJsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { DEFAULT_POLICY, loadPolicy } from '../../verify/policy.js';
import { CONTENT_TYPES, DASHBOARD_FILES, dashboardDir } from '../dashboard/index.js';
import { createMetrics } from '../metrics.js';
import type { Runtime } from '../types.js';
import { auditHook, dataRouteCheck } from './audit.js';
import { authHook, DEFAULT_AUTH_FAILURE_LIMIT, hostHook, TrustedAddresses, type AuthFailureLimit, type TokenConfig } from './auth.js';
import type { ApiContext } from './context.js';
import { errorHandler, notFoundHandler } from './errors.js';
import type { StalePolicy } from './live.js';
import { commandRoutes } from './routes/commands.js';
import { deviceRoutes } from './routes/devices.js';
import { pilotRoutes } from './routes/pilots.js';
import { statusRoutes } from './routes/status.js';

export interface BuildServerOptions {
  /** failed authentications allowed per client address and window (default 10 per minute), and from all addresses together (default 30) */
  authFailures?: AuthFailureLimit;
  /** silence threshold; default: measure.staleIntervals / staleMin of the shipped policy */
  stale?: StalePolicy;
  /** how long /api/pilots keeps the verifier's evaluation of a project (default 5 min) */
  pilotCacheMs?: number;
  /** serve the dashboard at / (default true) */
  dashboard?: boolean;
  /** serve the OpenAPI document and UI at /docs (default true) */
  docs?: boolean;
}

/** Content-Security-Policy of the API and the dashboard: same origin only, no inline code, no framing. */
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

export function stalePolicyFromPolicy(ref: string = DEFAULT_POLICY): StalePolicy {
  const m = loadPolicy(ref).values.measure;
  return { intervalFactor: m.staleIntervals, minMs: m.staleMin };
}

/**
 * The CSP of the OpenAPI UI: swagger-ui's own (scripts from self, plus hashes if it ever inlines any) without
 * `upgrade-insecure-requests` (the gateway speaks plain http on a factory network) and without
 * `https:` sources (offline: nothing from outside); swagger-ui sets inline styles at run time, so
 * its pages (only those) allow inline style. Scripts stay self + hashes.
 */
export function docsCsp(header: string): string {
  return header
    .split(';')
    .map((d) => d.trim())
    .filter((d) => d && d !== 'upgrade-insecure-requests')
    .map((d) => {
      const [name] = d.split(/\s+/);
      if (name === 'style-src') return "style-src 'self' 'unsafe-inline'";
      if (name === 'frame-ancestors') return "frame-ancestors 'none'";
      return d
        .split(/\s+/)
        .filter((tok) => tok !== 'https:' && tok !== 'validator.swagger.io')
        .join(' ');
    })
    .join('; ');
}

function securityHeaders(_req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', CSP);
  reply.header('x-content-type-options', 'nosniff');
  reply.header('x-frame-options', 'DENY');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('cross-origin-opener-policy', 'same-origin');
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  return Promise.resolve(payload);
}

export async function buildServer(runtime: Runtime, opts: BuildServerOptions = {}): Promise<FastifyInstance> {
  const ctx: ApiContext = { runtime, stale: opts.stale ?? stalePolicyFromPolicy() };
  const app = Fastify({
    loggerInstance: runtime.log.child({ module: 'api' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: runtime.config.http.bodyLimit,
    trustProxy: false,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  await app.register(fastifyRateLimit, { global: false });
  const limit = { ...DEFAULT_AUTH_FAILURE_LIMIT, ...opts.authFailures };
  const limiters = {
    perAddress: app.createRateLimit({ max: limit.max, timeWindow: limit.windowMs, keyGenerator: (req) => req.ip }),
    global: app.createRateLimit({ max: limit.globalMax, timeWindow: limit.windowMs, keyGenerator: () => 'all addresses' }),
    trusted: new TrustedAddresses(() => runtime.clock.now()),
  };
  const tokens = (): readonly TokenConfig[] => runtime.config.http.tokens;
  // DNS rebinding: a Host that is not a name of this gateway is refused before anything else
  app.addHook(
    'onRequest',
    hostHook(() => runtime.config.http),
  );
  app.addHook('onRequest', authHook(tokens, limiters, 'onRequest'));
  app.addHook('preValidation', authHook(tokens, limiters, 'preValidation'));
  app.addHook(
    'onSend',
    auditHook(() => runtime.store, runtime.clock, app.log),
  );
  dataRouteCheck(app);
  app.addHook('onSend', securityHeaders);

  if (opts.docs !== false) {
    await app.register(fastifySwagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'factory-gateway API',
          description: 'Devices, data, status and audited commands of one gateway. Bearer tokens from http.tokens (scopes read, write).',
          version: '0.1.0',
        },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
      transform: createJsonSchemaTransform({
        skipList: ['/docs', '/docs/', '/docs/json', '/docs/yaml', '/docs/static/*', '/docs/*', '/metrics', ...Object.keys(DASHBOARD_FILES), '/dashboard.json'],
      }),
    });
    await app.register(fastifySwaggerUi, {
      routePrefix: '/docs',
      staticCSP: true,
      transformStaticCSP: docsCsp,
      uiConfig: { validatorUrl: null },
    });
  }

  await app.register(statusRoutes, { ctx });
  await app.register(deviceRoutes, { ctx });
  await app.register(commandRoutes, { ctx });
  await app.register(pilotRoutes, { ctx, pilotCacheMs: opts.pilotCacheMs });

  const metrics = createMetrics(runtime);
  await app.register(async (scope) => {
    scope.get('/metrics', { config: { access: 'public' }, schema: { hide: true } }, async (_req, reply) => {
      const text = await metrics.scrape();
      return reply.type(metrics.contentType).send(text);
    });
  });

  if (opts.dashboard !== false) {
    const dir = dashboardDir();
    const files = new Map<string, { body: Buffer; type: string }>();
    for (const [url, name] of Object.entries(DASHBOARD_FILES)) {
      files.set(url, { body: readFileSync(join(dir, name)), type: CONTENT_TYPES[extname(name).slice(1)] ?? 'application/octet-stream' });
    }
    await app.register(async (scope) => {
      // what the page needs before its first API call: whether to ask for a token (so the normal
      // flow never provokes a 401)
      scope.get('/dashboard.json', { config: { access: 'public' }, schema: { hide: true } }, async () => ({ tokenRequired: tokens().length > 0 }));
      for (const [url, f] of files) {
        scope.get(url, { config: { access: 'public' }, schema: { hide: true } }, async (_req, reply) =>
          reply.header('cache-control', 'no-cache').type(f.type).send(f.body),
        );
      }
    });
  }

  return app;
}
