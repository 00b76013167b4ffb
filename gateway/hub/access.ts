/**
 * Who may see what on the hub, and the record of every access.
 *
 * Tokens (hub.yaml http.tokens) carry a role: `official` sees every project, `enterprise` only the
 * project ids listed for it; any other project is 403 (whether or not it exists, so a token cannot
 * probe for project ids). Tokens are compared in constant time (gateway/api/auth.ts matchToken);
 * failed authentications are rate limited per client address like the gateway API.
 *
 * The audit: every request to a non-public route, granted or refused, becomes one point of the
 * measurement `audit.measurement` (default hub_audit) in InfluxDB, written before the answer
 * leaves. If the point cannot be written, the answer is replaced by 503 GW_ERR_HUB_AUDIT: no
 * access without its record. Why InfluxDB and not a local file: several hubs behind a proxy write
 * one trail in the central database (nothing kept on a hub), and it is read with the same tools
 * and kept under the same retention and backup as the data it protects.
 *
 *   hub_audit,actor=bureau,hub=hub-1,project=YK-2026-0173,result=ok,role=official
 *     route="GET /api/projects/:id/report",status=200i,detail="from=… to=… format=pdf" <ts µs>
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type {} from '@fastify/rate-limit';
import { ApiCodes, bearer, httpText, matchToken, type TokenConfig } from '../api/auth.js';
import { auditResult } from '../api/audit.js';
import { escapeKey, escapeMeasurement, escapeString, escapeTagValue } from '../../ingest/line-protocol.js';
import type { InfluxWriter } from '../../ingest/influx-writer.js';
import type { HubRole, HubToken } from './schema.js';

export const HubCodes = {
  AUDIT: 'GW_ERR_HUB_AUDIT',
  PROJECT_FORBIDDEN: 'GW_ERR_HUB_PROJECT_FORBIDDEN',
  ROLE: 'GW_ERR_HUB_ROLE',
} as const;

export interface HubPrincipal {
  name: string;
  role: HubRole;
  /** project ids an enterprise token may see; undefined: all (official) */
  projects?: ReadonlySet<string>;
}

export function canSee(p: HubPrincipal, projectId: string): boolean {
  return p.projects === undefined || p.projects.has(projectId);
}

/** What a route needs: public (pages, health), any token, or the official role. */
export type HubAccess = 'public' | 'token' | 'official';

declare module 'fastify' {
  interface FastifyRequest {
    hubPrincipal?: HubPrincipal;
    /** refused by auth: the code (the audit's detail) */
    hubDenied?: string;
    /** what the audit record says about the request beyond its route (window, format, export) */
    hubAuditDetail?: string;
  }
  interface FastifyContextConfig {
    hubAccess?: HubAccess;
  }
}

function send(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .send({ statusCode: status, code, error: httpText(status), message });
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

export function hubAuthHook(tokens: readonly HubToken[], limiter: Limiter) {
  // matchToken wants the gateway's token shape; system and scopes are not used here
  const asGatewayTokens: TokenConfig[] = tokens.map((t) => ({ name: t.name, token: t.token, system: t.role, scopes: ['read'] }));
  const byName = new Map(tokens.map((t) => [t.name, t]));
  return async function authenticate(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const access = req.routeOptions.config?.hubAccess ?? 'public';
    if (access === 'public') return;
    const peek = await limiter(req, { increment: false });
    if (!peek.isAllowed && (peek.isExceeded || peek.remaining <= 0)) {
      reply.header('retry-after', Math.max(1, Math.ceil(peek.ttl / 1000)));
      req.hubDenied = ApiCodes.RATE_LIMITED;
      await send(reply, 429, ApiCodes.RATE_LIMITED, 'too many failed authentications from this address; try again later');
      return;
    }
    const presented = bearer(req.headers.authorization);
    const match = presented === undefined ? undefined : matchToken(asGatewayTokens, presented);
    if (!match) {
      await limiter(req);
      req.hubDenied = ApiCodes.UNAUTHORIZED;
      await send(reply, 401, ApiCodes.UNAUTHORIZED, presented === undefined ? 'a bearer token is required (Authorization: Bearer <token>)' : 'unknown token');
      return;
    }
    const t = byName.get(match.name)!;
    req.hubPrincipal = { name: t.name, role: t.role, ...(t.projects ? { projects: new Set(t.projects) } : {}) };
    if (access === 'official' && t.role !== 'official') {
      req.hubDenied = HubCodes.ROLE;
      await send(reply, 403, HubCodes.ROLE, `token "${t.name}" (role ${t.role}) may not use this route: it needs the official role`);
    }
  };
}

/** 403 for a project the token may not see (or that does not exist, for enterprise tokens). */
export function forbidProject(req: FastifyRequest, reply: FastifyReply, projectId: string): FastifyReply {
  req.hubDenied = HubCodes.PROJECT_FORBIDDEN;
  return send(reply, 403, HubCodes.PROJECT_FORBIDDEN, `token "${req.hubPrincipal?.name ?? ''}" may not see project ${projectId}`);
}

export interface HubAuditRecord {
  ts: number;
  hub: string;
  actor: string;
  role: string;
  route: string;
  project?: string;
  status: number;
  result: 'ok' | 'denied' | 'error';
  detail?: string;
}

/** One audit point in line protocol, µs precision (ts × 1000 + a counter, so two accesses in one ms stay two points). */
export function auditLine(measurement: string, r: HubAuditRecord, seq: number): string {
  const tags = [['actor', r.actor], ['hub', r.hub], ...(r.project ? [['project', r.project]] : []), ['result', r.result], ['role', r.role]]
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${escapeKey(k!)}=${escapeTagValue(v!)}`)
    .join(',');
  const fields = [`route=${escapeString(r.route)}`, `status=${r.status}i`, ...(r.detail ? [`detail=${escapeString(r.detail)}`] : [])].join(',');
  return `${escapeMeasurement(measurement)}${tags ? `,${tags}` : ''} ${fields} ${r.ts * 1000 + (seq % 1000)}`;
}

export interface AuditSink {
  write(r: HubAuditRecord): Promise<boolean>;
  readonly written: number;
  readonly failed: number;
}

export function influxAuditSink(writer: InfluxWriter, measurement: string, log: { error(o: object, msg: string): void }): AuditSink {
  let seq = 0;
  let written = 0;
  let failed = 0;
  let failing = false;
  return {
    get written() {
      return written;
    },
    get failed() {
      return failed;
    },
    async write(r) {
      const res = await writer.write(auditLine(measurement, r, seq++), { precision: 'u' });
      if (res.kind === 'ok') {
        written++;
        if (failing) log.error({ failed }, 'hub audit writes succeed again');
        failing = false;
        return true;
      }
      failed++;
      // one log line per episode, with the count so far
      if (!failing)
        log.error({ failed, reason: 'reason' in res ? res.reason : res.kind }, 'cannot write the hub audit to InfluxDB: answering 503 until it can');
      failing = true;
      return false;
    },
  };
}

/** onSend: writes the audit record; if that fails, the answer becomes 503 instead. */
export function hubAuditHook(sink: AuditSink, hub: string, now: () => number) {
  return async function onSend(req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const access = req.routeOptions.config?.hubAccess ?? 'public';
    if (access === 'public' && req.routeOptions.url !== undefined) return payload;
    const p = req.hubPrincipal;
    const params = (req.params ?? {}) as { id?: unknown };
    const rec: HubAuditRecord = {
      ts: now(),
      hub,
      actor: p?.name ?? '(no valid token)',
      role: p?.role ?? '',
      route: `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`,
      status: reply.statusCode,
      result: auditResult(reply.statusCode),
    };
    if (typeof params.id === 'string') rec.project = params.id;
    const detail = [req.hubDenied, req.hubAuditDetail].filter(Boolean).join('; ');
    if (detail) rec.detail = detail.slice(0, 512);
    if (await sink.write(rec)) return payload;
    reply.code(503).type('application/json; charset=utf-8');
    reply.removeHeader('content-disposition');
    return JSON.stringify({
      statusCode: 503,
      code: HubCodes.AUDIT,
      error: httpText(503),
      message: 'the access audit cannot be written to InfluxDB, so nothing is answered; try again later',
    });
  };
}
