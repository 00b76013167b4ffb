/**
 * The hub's HTTP server: buildHubServer() returns a fastify instance without listening (the CLI
 * decides where). Pages (overview, project page) are static files that call the API with the
 * bearer token the user gives once. Routes:
 *
 *   GET /api/projects                       the projects the token may see, one row each
 *   GET /api/projects/:id                   the project page's figures (devices, daily, weekly)
 *   GET /api/projects/:id/report?from&to[&format=json|html|pdf][&lang=zh|en][&preliminary=true]
 *   GET /api/alarms                         open alarms of the projects the token may see
 *   GET /api/export?format=csv|xlsx[&ids=a,b][&lang=zh|en]   the overview table as a file
 *   GET /metrics                            Prometheus (official role)
 *   GET /health/live                        public
 *
 * Every non-public request is audited (access.ts) before its answer leaves.
 */
import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import fastifyRateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Counter, Gauge, Registry } from 'prom-client';
import { z } from 'zod';
import { influxSchema } from '../../ingest/schema.js';
import { InfluxWriter } from '../../ingest/influx-writer.js';
import { parseWindowTime } from '../../verify/run.js';
import type { Lang } from '../../verify/i18n.js';
import { DEFAULT_AUTH_FAILURE_LIMIT, type AuthFailureLimit } from '../api/auth.js';
import { errorHandler, notFoundHandler, badRequest } from '../api/errors.js';
import { CSP } from '../api/server.js';
import { CONTENT_TYPES, dashboardDir } from '../dashboard/index.js';
import { canSee, forbidProject, hubAuditHook, hubAuthHook, influxAuditSink, type AuditSink, type HubPrincipal } from './access.js';
import { FigureCache } from './cache.js';
import { loadProjects, type HubProject, type HubProjectOk, type LoadedHub } from './config.js';
import { exportCsv, exportXlsx, overviewRow, type OverviewRow } from './export.js';
import { projectDetail, projectFigures, type Alarm, type FiguresContext } from './figures.js';
import { hubInflux, type HubInflux } from './influx.js';
import { HUB_FILES, hubStaticDir } from './static.js';
import { reportHtml, reportPdf, reviewReport } from './report.js';

export interface HubServerOptions {
  log: Logger;
  now?: () => number;
  authFailures?: AuthFailureLimit;
  /** an audit sink instead of InfluxDB (tests of the audit's failure path use a real InfluxDB instead) */
  audit?: AuditSink;
  /** the project folders as already read (fgw hub reads them at start to report problems) */
  projects?: HubProject[];
}

export interface Hub {
  app: FastifyInstance;
  influx: HubInflux;
  cache: FigureCache;
  audit: AuditSink;
}

const langParam = z.enum(['zh', 'en']).default('zh');

export async function buildHubServer(loaded: LoadedHub, opts: HubServerOptions): Promise<Hub> {
  const config = loaded.config;
  const now = opts.now ?? Date.now;
  const log = opts.log;
  const app = Fastify({
    loggerInstance: log.child({ module: 'hub' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.http.trustProxy,
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  const influx = hubInflux({ ...config.influx });
  const cache = new FigureCache(now);
  const ctx: FiguresContext = { influx, config, cache, now };
  const auditCfg = influxSchema.parse({
    url: config.influx.url,
    database: config.audit.database ?? config.influx.database,
    username: config.influx.username,
    password: config.influx.password,
    timeout: 10_000,
  });
  const audit = opts.audit ?? influxAuditSink(new InfluxWriter(auditCfg), config.audit.measurement, log);

  await app.register(fastifyRateLimit, { global: false });
  const limit = opts.authFailures ?? DEFAULT_AUTH_FAILURE_LIMIT;
  const limiter = app.createRateLimit({ max: limit.max, timeWindow: limit.windowMs, keyGenerator: (req) => req.ip });
  app.addHook('onRequest', hubAuthHook(config.http.tokens, limiter));
  app.addHook('onSend', hubAuditHook(audit, config.hub.id, now));
  app.addHook('onSend', async (_req, reply, payload) => {
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    reply.header('referrer-policy', 'no-referrer');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  const sweep = setInterval(() => cache.sweep(Math.max(config.cache.history, config.cache.ttl) * 3), 60_000);
  sweep.unref();
  app.addHook('onClose', async () => clearInterval(sweep));

  const catalog = async (): Promise<HubProject[]> => (await cache.get('catalog', config.cache.figures, async () => loadProjects(loaded.projectsDir))).value;
  if (opts.projects) await cache.get('catalog', config.cache.figures, async () => opts.projects!);
  const visible = async (p: HubPrincipal): Promise<HubProject[]> =>
    (await catalog()).filter((x) => (x.id !== undefined ? canSee(p, x.id) : p.role === 'official'));
  const findProject = async (p: HubPrincipal, id: string): Promise<HubProject | undefined> =>
    canSee(p, id) ? (await catalog()).find((x) => x.id === id) : undefined;
  // a few projects at a time: each holds its InfluxDB answers while the verifier evaluates it
  const rows = async (principal: HubPrincipal): Promise<OverviewRow[]> => {
    const list = await visible(principal);
    const out: OverviewRow[] = new Array(list.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(list.length, config.influx.concurrency * 2) }, async () => {
        for (let i = next++; i < list.length; i = next++) {
          const p = list[i]!;
          out[i] = p.ok ? overviewRow(p, await projectFigures(ctx, p).catch((e: Error) => e)) : overviewRow(p, undefined);
        }
      }),
    );
    return out;
  };
  const alarmsOf = (r: readonly OverviewRow[]): Alarm[] => r.flatMap((x) => x.alarms);

  // ---- pages
  const dir = hubStaticDir();
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const [url, name] of Object.entries(HUB_FILES))
    files.set(url, { body: readFileSync(join(dir, name)), type: CONTENT_TYPES[extname(name).slice(1)] ?? 'application/octet-stream' });
  files.set('/style.css', { body: readFileSync(join(dashboardDir(), 'style.css')), type: CONTENT_TYPES.css! });
  for (const [url, f] of files)
    app.get(url, { config: { hubAccess: 'public' } }, async (_req, reply) => reply.header('cache-control', 'no-cache').type(f.type).send(f.body));
  app.get('/health/live', { config: { hubAccess: 'public' } }, async () => ({ status: 'ok' }));
  app.get('/hub.json', { config: { hubAccess: 'public' } }, async () => ({ hub: config.hub.id }));

  // ---- API
  app.get('/api/projects', { config: { hubAccess: 'token' } }, async (req) => {
    const r = await rows(req.hubPrincipal!);
    return { at: now(), projects: r };
  });

  app.get<{ Params: { id: string } }>('/api/projects/:id', { config: { hubAccess: 'token' } }, async (req, reply) => {
    const p = await findProject(req.hubPrincipal!, req.params.id);
    if (!p)
      return req.hubPrincipal!.role === 'official'
        ? reply.code(404).send({ statusCode: 404, code: 'GW_ERR_HUB_PROJECT_UNKNOWN', error: 'Not Found', message: `no project ${req.params.id}` })
        : forbidProject(req, reply, req.params.id);
    if (!p.ok) return { id: p.id, folder: p.folder, ok: false, error: p.error, details: p.details };
    return { ok: true, folder: p.folder, ...(await projectDetail(ctx, p)) };
  });

  const reportQuery = z.strictObject({
    from: z.string().min(1),
    to: z.string().min(1),
    format: z.enum(['json', 'html', 'pdf']).default('json'),
    lang: langParam,
    preliminary: z.enum(['true', 'false', '1', '0']).default('false'),
  });
  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>(
    '/api/projects/:id/report',
    { config: { hubAccess: 'token' } },
    async (req, reply) => {
      const p = await findProject(req.hubPrincipal!, req.params.id);
      if (!p)
        return req.hubPrincipal!.role === 'official'
          ? reply.code(404).send({ statusCode: 404, code: 'GW_ERR_HUB_PROJECT_UNKNOWN', error: 'Not Found', message: `no project ${req.params.id}` })
          : forbidProject(req, reply, req.params.id);
      const q = parseQuery(reportQuery, req.query);
      req.hubAuditDetail = `from=${q.from} to=${q.to} format=${q.format}${q.preliminary === 'true' || q.preliminary === '1' ? ' preliminary' : ''}`;
      if (!p.ok) throw badRequest('params.id', `project ${p.id} cannot be read: ${p.error}`);
      // times are checked here so a bad one is a 400 naming the field
      parseWindowTime(q.from, p.policy.offsetMs, 'querystring.from');
      parseWindowTime(q.to, p.policy.offsetMs, 'querystring.to');
      const result = await reviewReport(loaded, p, { from: q.from, to: q.to, preliminary: q.preliminary === 'true' || q.preliminary === '1' });
      const name = `${p.id}-${q.from}-${q.to}`.replace(/[^A-Za-z0-9._-]+/g, '_');
      if (q.format === 'json') return reply.type('application/json; charset=utf-8').send(`${JSON.stringify(result, null, 2)}\n`);
      if (q.format === 'html')
        return reply
          .type('text/html; charset=utf-8')
          .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
          .send(reportHtml(result, q.lang as Lang));
      const pdf = await reportPdf(result, q.lang as Lang);
      return reply.type('application/pdf').header('content-disposition', `attachment; filename="${name}.pdf"`).send(pdf);
    },
  );

  app.get('/api/alarms', { config: { hubAccess: 'token' } }, async (req) => {
    const r = await rows(req.hubPrincipal!);
    return { at: now(), alarms: alarmsOf(r) };
  });

  const exportQuery = z.strictObject({ format: z.enum(['csv', 'xlsx']), ids: z.string().max(100_000).optional(), lang: langParam });
  app.get<{ Querystring: Record<string, string> }>('/api/export', { config: { hubAccess: 'token' } }, async (req, reply) => {
    const q = parseQuery(exportQuery, req.query);
    let r = await rows(req.hubPrincipal!);
    if (q.ids) {
      // the page's order and filter: the ids it shows, in its order (only visible ones)
      const order = q.ids.split(',').filter(Boolean);
      const byId = new Map(r.map((x) => [x.id ?? x.folder, x]));
      r = order.map((id) => byId.get(id)).filter((x): x is OverviewRow => x !== undefined);
    }
    req.hubAuditDetail = `export ${q.format} of ${r.length} project(s)`;
    const stamp = new Date(now()).toISOString().slice(0, 16).replace(/[:T]/g, '-');
    if (q.format === 'csv')
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="fgw-hub-${stamp}.csv"`)
        .send(exportCsv(r, q.lang as Lang));
    return reply
      .type('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')
      .header('content-disposition', `attachment; filename="fgw-hub-${stamp}.xlsx"`)
      .send(await exportXlsx(r, q.lang as Lang));
  });

  // ---- metrics
  const registry = new Registry();
  const registers = [registry];
  let scrapeRows: OverviewRow[] = [];
  new Gauge({
    name: 'fgw_hub_alarms',
    help: 'Open alarms per kind and project',
    labelNames: ['kind', 'project'],
    registers,
    collect() {
      this.reset();
      const counts = new Map<string, { kind: string; project: string; n: number }>();
      for (const a of alarmsOf(scrapeRows)) {
        const k = `${a.kind}\u0000${a.project}`;
        const c = counts.get(k) ?? { kind: a.kind, project: a.project, n: 0 };
        c.n++;
        counts.set(k, c);
      }
      for (const c of counts.values()) this.set({ kind: c.kind, project: c.project }, c.n);
    },
  });
  new Gauge({
    name: 'fgw_hub_projects',
    help: 'Projects in the projects folder, by state (ok, error: the folder cannot be read)',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      this.set({ state: 'ok' }, scrapeRows.filter((r) => r.ok).length);
      this.set({ state: 'error' }, scrapeRows.filter((r) => !r.ok).length);
    },
  });
  new Gauge({
    name: 'fgw_hub_networking_rate',
    help: "Networking rate of each project (the verifier's, partial tier) over the window: now (live devices), 7d, 30d",
    labelNames: ['project', 'window'],
    registers,
    collect() {
      this.reset();
      for (const r of scrapeRows) {
        if (!r.id) continue;
        for (const [w, v] of [
          ['now', r.networkingRates.now],
          ['7d', r.networkingRates.d7],
          ['30d', r.networkingRates.d30],
        ] as const)
          if (v !== null) this.set({ project: r.id, window: w }, v);
      }
    },
  });
  const scalar = (name: string, help: string, kind: 'counter' | 'gauge', read: () => number) => {
    if (kind === 'counter')
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    else
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
  };
  scalar('fgw_hub_influx_requests_total', 'Query requests sent to InfluxDB', 'counter', () => influx.stats.requests);
  scalar('fgw_hub_influx_statements_total', 'InfluxQL statements run', 'counter', () => influx.stats.statements);
  scalar('fgw_hub_influx_query_seconds_total', 'Time spent waiting for InfluxDB query answers', 'counter', () => influx.stats.ms / 1000);
  scalar('fgw_hub_influx_query_failures_total', 'Failed query requests', 'counter', () => influx.stats.failures);
  scalar('fgw_hub_audit_written_total', 'Hub audit records written', 'counter', () => audit.written);
  scalar('fgw_hub_audit_failed_total', 'Hub audit records that could not be written (those requests were answered 503)', 'counter', () => audit.failed);
  scalar('fgw_hub_cache_hits_total', 'Figure cache hits', 'counter', () => cache.hits);
  scalar('fgw_hub_cache_misses_total', 'Figure cache misses (computed or refreshed)', 'counter', () => cache.misses);
  app.get('/metrics', { config: { hubAccess: 'official' } }, async (req, reply) => {
    scrapeRows = await rows(req.hubPrincipal!);
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  return { app, influx, cache, audit };
}

function parseQuery<S extends z.ZodType>(schema: S, q: unknown): z.output<S> {
  const r = schema.safeParse(q ?? {});
  if (r.success) return r.data;
  const iss = r.error.issues[0]!;
  const path = `querystring${iss.path.length ? `.${iss.path.join('.')}` : ''}`;
  if (iss.code === 'unrecognized_keys') throw badRequest(`querystring.${iss.keys[0]}`, 'unknown parameter');
  throw badRequest(path, iss.message);
}

export type { HubProjectOk };
