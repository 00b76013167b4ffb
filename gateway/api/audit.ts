/**
 * The access audit. Every read by a configured token and every write attempt (whoever makes it,
 * whatever the outcome) becomes one AuditRecord in the store (the forwarder sends it to InfluxDB
 * measurement `gateway_audit`). The verifier counts these as evidence: data use (reads of the data
 * routes, verify/data-routes.ts, per week by registered consumer systems) and platform execution
 * (successful writes to devices per week by registered systems). The record's `route` is
 * `<METHOD> <route pattern>` (`GET /api/devices/:id/latest`), the form that list is written in;
 * dataRouteCheck() makes the API refuse to start when the list names a route it does not serve.
 *
 * Anonymous reads (loopback, no tokens configured) are not audited: they are not reads by a
 * registered consumer system and must not look like one.
 *
 * The record is written in onSend, when the outcome (status code) is known and before the response
 * leaves, so a client that got its answer finds its audit row already stored.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditRecord, AuditStore } from '../../ingest/types.js';
import { valueText } from '../audit-text.js';
import type { FastifyBaseLogger } from 'fastify';
import { COMMAND_ROUTE, DATA_ROUTES } from '../../verify/data-routes.js';

/** actor and system of writes and reads without a (valid) token */
export const ANONYMOUS = 'anonymous';

export function auditResult(status: number): AuditRecord['result'] {
  if (status < 400) return 'ok';
  if (status === 401 || status === 403 || status === 421 || status === 429) return 'denied';
  return 'error';
}

export { AUDIT_VALUE_MAX, valueText } from '../audit-text.js';

/** The audit record of a finished request, or undefined when the request is not audited. */
export function auditRecordOf(req: FastifyRequest, status: number, ts: number): AuditRecord | undefined {
  const action = req.routeOptions.config?.audit;
  if (!action) return undefined;
  const p = req.principal;
  if (action === 'read' && p?.kind !== 'token') return undefined;
  const params = (req.params ?? {}) as { id?: unknown; tag?: unknown };
  const rec: AuditRecord = {
    ts,
    actor: p?.kind === 'token' ? p.name : ANONYMOUS,
    system: p?.kind === 'token' ? p.system : ANONYMOUS,
    action,
    route: routeKey(req.method, req.routeOptions.url ?? req.url),
    result: auditResult(status),
  };
  if (typeof params.id === 'string') rec.device = params.id;
  if (typeof params.tag === 'string') rec.tag = params.tag;
  if (action === 'write') {
    const body = req.body as { value?: unknown } | undefined;
    const v = body && typeof body === 'object' ? valueText(body.value) : undefined;
    if (v !== undefined) rec.value = v;
  }
  const detail = req.auditDenied ?? req.auditDetail;
  if (rec.result !== 'ok' && detail) rec.detail = detail;
  return rec;
}

/** An audit record's route: `GET /api/devices/:id/latest`. */
export function routeKey(method: string, url: string): string {
  return `${method} ${url}`;
}

/**
 * Collects the routes as they are registered and, when the server is ready, checks that every data
 * route of verify/data-routes.ts is served and audited as a read, and the command route as a write,
 * so the list the verifier counts data use by cannot drift from the API. Register before the routes.
 */
export function dataRouteCheck(app: FastifyInstance): void {
  const audited = new Map<string, string>();
  app.addHook('onRoute', (r) => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method])
      audited.set(routeKey(m, r.url), (r.config as { audit?: string } | undefined)?.audit ?? 'none');
  });
  app.addHook('onReady', async () => {
    const wrong = [...DATA_ROUTES.map((r) => [r, 'read'] as const), [COMMAND_ROUTE, 'write'] as const].filter(([r, a]) => audited.get(r) !== a);
    if (wrong.length)
      throw new Error(
        `verify/data-routes.ts names routes the API does not serve as audited: ${wrong.map(([r, a]) => `${r} (${a}; the API has ${audited.get(r) ?? 'no such route'})`).join(', ')}`,
      );
  });
}

export function auditHook(store: () => Pick<AuditStore, 'appendAudit'>, clock: { now(): number }, log: FastifyBaseLogger) {
  return async function onSend(req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const rec = auditRecordOf(req, reply.statusCode, clock.now());
    if (rec) {
      try {
        store().appendAudit(rec);
      } catch (e) {
        // the store failing is reported by readiness; the request's outcome stands
        log.error({ route: rec.route, err: e instanceof Error ? e.message : String(e) }, 'cannot append audit record');
      }
    }
    return payload;
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** error code of a failed audited request (set by the error handler) */
    auditDetail?: string;
  }
}
