/**
 * Bearer-token authentication and scopes. Tokens come from `http.tokens` of the runtime's current
 * config (a reload that changes them takes effect at the next request). With no tokens configured
 * the API is read-only and answers loopback clients only (the runtime binds loopback too).
 *
 * Tokens are compared in constant time: each presented token and each configured token are hashed
 * (SHA-256) and the digests compared with timingSafeEqual, over every configured token, so neither
 * the position of a match nor a length difference shows in the timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type {} from '@fastify/rate-limit';

export type Scope = 'read' | 'write';

/** What a route needs: `public` routes (health, metrics, dashboard files, docs) need nothing. */
export type Access = 'public' | Scope;

export type Principal = { kind: 'token'; name: string; system: string; scopes: readonly Scope[] } | { kind: 'anonymous' };

export interface TokenConfig {
  name: string;
  system: string;
  token: string;
  scopes: readonly Scope[];
}

/** API-level error codes (the runtime's GatewayError codes are mapped in errors.ts). */
export const ApiCodes = {
  UNAUTHORIZED: 'GW_ERR_API_UNAUTHORIZED',
  FORBIDDEN: 'GW_ERR_API_FORBIDDEN',
  READ_ONLY: 'GW_ERR_API_READ_ONLY',
  LOOPBACK_ONLY: 'GW_ERR_API_LOOPBACK_ONLY',
  RATE_LIMITED: 'GW_ERR_API_RATE_LIMITED',
  HOST: 'GW_ERR_API_HOST',
  VALIDATION: 'GW_ERR_API_VALIDATION',
  NOT_FOUND: 'GW_ERR_API_NOT_FOUND',
  INTERNAL: 'GW_ERR_API_INTERNAL',
} as const;

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

const digestCache = new WeakMap<readonly TokenConfig[], Buffer[]>();

/** The configured token matching `presented`, compared in constant time; undefined if none. */
export function matchToken(tokens: readonly TokenConfig[], presented: string): TokenConfig | undefined {
  let digests = digestCache.get(tokens);
  if (!digests) {
    digests = tokens.map((t) => digest(t.token));
    digestCache.set(tokens, digests);
  }
  const p = digest(presented);
  let found: TokenConfig | undefined;
  for (let i = 0; i < tokens.length; i++) {
    // no early exit: every token is compared
    if (timingSafeEqual(p, digests[i]!) && found === undefined) found = tokens[i];
  }
  return found;
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m?.[1];
}

export function isLoopbackIp(ip: string): boolean {
  return ip === '::1' || /^127\./.test(ip) || /^::ffff:127\./i.test(ip);
}

export interface AuthDecision {
  principal?: Principal;
  /** when set, the request is refused with this status and code */
  refuse?: { status: 401 | 403; code: string; message: string };
  /** the presented credentials were wrong or missing: counts towards the auth-failure limit */
  failure?: boolean;
}

/**
 * The pure decision: who is asking and whether they may use a route of `access`. With tokens
 * configured every non-public route needs a token with the scope; without tokens, loopback clients
 * read anonymously and nobody writes.
 */
export function decide(tokens: readonly TokenConfig[], access: Access, authorization: string | undefined, ip: string): AuthDecision {
  if (access === 'public') return {};
  if (tokens.length === 0) {
    if (!isLoopbackIp(ip))
      return { refuse: { status: 403, code: ApiCodes.LOOPBACK_ONLY, message: 'no tokens are configured: the API answers this machine only' } };
    const principal: Principal = { kind: 'anonymous' };
    if (access === 'write')
      return {
        principal,
        refuse: { status: 403, code: ApiCodes.READ_ONLY, message: 'no tokens are configured: the API is read-only (add http.tokens with the write scope)' },
      };
    return { principal };
  }
  const presented = bearer(authorization);
  if (presented === undefined) {
    return { failure: true, refuse: { status: 401, code: ApiCodes.UNAUTHORIZED, message: 'a bearer token is required (Authorization: Bearer <token>)' } };
  }
  const t = matchToken(tokens, presented);
  if (!t) return { failure: true, refuse: { status: 401, code: ApiCodes.UNAUTHORIZED, message: 'unknown token' } };
  const principal: Principal = { kind: 'token', name: t.name, system: t.system, scopes: t.scopes };
  if (!t.scopes.includes(access)) {
    return { principal, refuse: { status: 403, code: ApiCodes.FORBIDDEN, message: `token "${t.name}" lacks the ${access} scope` } };
  }
  return { principal };
}

export interface AuthFailureLimit {
  /** failed authentications allowed per client address within `windowMs` */
  max: number;
  windowMs: number;
  /**
   * failed authentications allowed from all addresses together within `windowMs` (guessing from
   * many addresses); past it, only addresses that authenticated successfully lately are served
   */
  globalMax?: number;
}

export const DEFAULT_AUTH_FAILURE_LIMIT: Required<AuthFailureLimit> = { max: 10, windowMs: 60_000, globalMax: 30 };

/** how long an address that presented a valid token stays exempt from the global limit */
export const TRUSTED_FOR_MS = 3_600_000;
const TRUSTED_MAX = 1024;

/**
 * Addresses that presented a valid token lately. While the global failure budget is spent (a guess
 * from many addresses), they are still served, so an attack cannot lock the MES out; every other
 * address gets 429 without its token being looked at, so the guessing gets no answer.
 */
export class TrustedAddresses {
  private readonly seen = new Map<string, number>();
  constructor(private readonly now: () => number) {}
  add(ip: string): void {
    this.seen.delete(ip);
    this.seen.set(ip, this.now());
    if (this.seen.size > TRUSTED_MAX) this.seen.delete(this.seen.keys().next().value!);
  }
  has(ip: string): boolean {
    const at = this.seen.get(ip);
    return at !== undefined && this.now() - at < TRUSTED_FOR_MS;
  }
}

// ---------------------------------------------------------------- Host header (DNS rebinding)

/** names that always mean this machine */
const LOOPBACK_NAMES = new Set(['localhost', 'localhost.localdomain', 'ip6-localhost', 'ip6-loopback']);

export interface HostPolicyInput {
  listen: string;
  hosts?: readonly string[];
  tokens: readonly unknown[];
}

/**
 * Whether a request's Host header names this gateway. A page on attacker.example whose name the
 * attacker re-points to 127.0.0.1 (DNS rebinding) reaches the API with `Host: attacker.example`:
 * the browser treats it as the attacker's own origin and lets the page read the answer. So the
 * Host must be an IP address (a rebinding needs a name), the name in `http.listen`, a name listed
 * in `http.hosts` (`.plant.local` allows every name under plant.local), or, when the API listens
 * on loopback or on every address, a loopback name (localhost, *.localhost). No Host header (an
 * HTTP/1.0 client) is allowed: no browser sends such a request.
 */
export function hostAllowed(policy: HostPolicyInput, hostHeader: string | undefined): boolean {
  if (hostHeader === undefined || hostHeader === '') return true;
  const name = hostName(hostHeader);
  if (name === undefined) return false;
  if (isIP(name) !== 0) return true;
  const listenHost = policy.listen
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '')
    .toLowerCase();
  if (name === listenHost) return true;
  for (const h of policy.hosts ?? []) {
    const allowed = h.toLowerCase().replace(/\.$/, '');
    if (name === allowed || (allowed.startsWith('.') && (name.endsWith(allowed) || name === allowed.slice(1)))) return true;
  }
  // the runtime binds loopback when no tokens are configured, whatever http.listen says
  const loopbackBound = policy.tokens.length === 0 || isLoopbackHost(listenHost) || listenHost === '0.0.0.0' || listenHost === '::';
  return loopbackBound && (LOOPBACK_NAMES.has(name) || name.endsWith('.localhost'));
}

function isLoopbackHost(h: string): boolean {
  return LOOPBACK_NAMES.has(h) || h === '::1' || /^127\./.test(h);
}

/** The host name of a Host header, lower case, without port or trailing dot; undefined when malformed. */
export function hostName(header: string): string | undefined {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0 || !/^(:\d{1,5})?$/.test(h.slice(end + 1))) return undefined;
    return h.slice(1, end);
  }
  const m = /^([a-z0-9._-]+?)\.?(?::\d{1,5})?$/.exec(h);
  return m?.[1];
}

/** onRequest hook: a Host that does not name this gateway gets 421 before anything else runs. */
export function hostHook(policy: () => HostPolicyInput) {
  return async function checkHost(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (hostAllowed(policy(), req.headers.host)) return;
    req.auditDenied = ApiCodes.HOST;
    await sendError(reply, 421, ApiCodes.HOST, 'this Host is not a name of the gateway (add it to http.hosts)');
  };
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

export function sendError(reply: FastifyReply, status: number, code: string, message: string, extra: Record<string, unknown> = {}): FastifyReply {
  return reply.code(status).send({ statusCode: status, code, error: httpText(status), message, ...extra });
}

export function httpText(status: number): string {
  const t: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    409: 'Conflict',
    413: 'Payload Too Large',
    421: 'Misdirected Request',
    415: 'Unsupported Media Type',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
  };
  return t[status] ?? 'Error';
}

/**
 * The auth hook (onRequest for reads, preValidation for writes): decides, counts failures per client
 * address and across all addresses through @fastify/rate-limit's limiters and, once a client has
 * used up its failures, refuses it (429) even with a good token, so guessing cannot go on at full
 * speed. Once all addresses together have used up the global budget, every address that did not
 * authenticate successfully lately is refused the same way (guessing from many addresses).
 */
export function authHook(
  getTokens: () => readonly TokenConfig[],
  limiters: { perAddress: Limiter; global: Limiter; trusted: TrustedAddresses },
  phase: 'onRequest' | 'preValidation',
) {
  const limiter = limiters.perAddress;
  return async function authenticate(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const access = (req.routeOptions.config as { access?: Access } | undefined)?.access ?? 'public';
    if (access === 'public') return;
    // writes are decided once the body is parsed (bounded by http.bodyLimit), so the audit of a
    // refused write still shows the value that was attempted; reads are decided at once
    if ((access === 'write') !== (phase === 'preValidation')) return;
    const tokens = getTokens();
    if (tokens.length > 0) {
      // the time left when a limit is used up, else undefined
      const spent = (p: Awaited<ReturnType<Limiter>>): number | undefined => (!p.isAllowed && (p.isExceeded || p.remaining <= 0) ? p.ttl : undefined);
      const own = spent(await limiter(req, { increment: false }));
      const all = own === undefined && !limiters.trusted.has(req.ip) ? spent(await limiters.global(req, { increment: false })) : undefined;
      const ttl = own ?? all;
      if (ttl !== undefined) {
        reply.header('retry-after', Math.max(1, Math.ceil(ttl / 1000)));
        req.auditDenied = 'rate limited';
        await sendError(
          reply,
          429,
          ApiCodes.RATE_LIMITED,
          own !== undefined
            ? 'too many failed authentications from this address; try again later'
            : 'too many failed authentications from many addresses; try again later',
        );
        return;
      }
    }
    const d = decide(tokens, access, req.headers.authorization, req.ip);
    if (d.principal) req.principal = d.principal;
    if (d.principal?.kind === 'token') limiters.trusted.add(req.ip);
    if (d.failure) {
      await limiter(req);
      await limiters.global(req);
    }
    if (d.refuse) {
      req.auditDenied = d.refuse.code;
      await sendError(reply, d.refuse.status, d.refuse.code, d.refuse.message);
    }
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** set when auth refused the request (the audit's detail) */
    auditDenied?: string;
  }
  interface FastifyContextConfig {
    access?: Access;
    /** audit this route as a read (token reads only) or a write (every attempt) */
    audit?: 'read' | 'write';
  }
}
