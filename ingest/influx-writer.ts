/**
 * The writer CLASSIFIES (after Telegraf's influxdb_v2/http.go): one POST of line
 * protocol to `${url}/write?db=..&precision=..`, and the answer sorted into what the forwarder must
 * decide about. It never retries by itself.
 *
 * Why Node's fetch and not the `influx` package's writePoints: writePoints hides the HTTP status,
 * the Retry-After header and the body of a partial write (which the dead-letter table must keep), its
 * pool retries on its own (a hidden retry loop), and its per-point formatting is the bottleneck at
 * 300k values/s; our lines are formatted once by ingest/line-protocol.ts. The `influx` package is
 * used where it fits: CREATE DATABASE, ping and InfluxQL queries (`influxClient`), with its pool
 * retries turned off.
 */
import { InfluxDB } from 'influx';
import { gzipSync } from 'node:zlib';
import { systemClock, type Clock } from '../config/clock.js';
import { ErrorCodes, GatewayError, errorText } from '../config/errors.js';
import { redactUrl } from '../config/redact.js';
import type { InfluxConfig } from './schema.js';

export type WriteResult =
  | { kind: 'ok'; status: number }
  /** 400: some or all lines rejected (field type conflict, parse error); the others were written */
  | { kind: 'partial'; message: string }
  /** 413: the body is too large */
  | { kind: 'too-large'; message?: string }
  /** 401/403: credentials refused */
  | { kind: 'auth'; status: number; message?: string }
  /** 404 "database not found" */
  | { kind: 'db-missing'; message: string }
  /** 429, 5xx, network error, timeout, anything unexpected: try again later */
  | { kind: 'retry'; retryAfterMs?: number; reason: string; status?: number };

export type Precision = 'ns' | 'ms' | 'u' | 's' | 'n';

/** Retry-After as delay-seconds or an HTTP date, in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null | undefined, now: number): number | undefined {
  if (header === null || header === undefined) return undefined;
  const h = header.trim();
  if (h === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(h)) return Math.round(Number(h) * 1000);
  if (!/[a-z]/i.test(h)) return undefined; // an HTTP date has a day and month name
  const at = Date.parse(h);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** The error text of an InfluxDB answer body (`{"error":"..."}`), else the body itself, trimmed. */
export function influxMessage(body: string): string {
  try {
    const j = JSON.parse(body) as { error?: unknown; message?: unknown };
    if (typeof j.error === 'string') return j.error;
    if (typeof j.message === 'string') return j.message;
  } catch {
    /* not JSON */
  }
  return body.trim().slice(0, 2000);
}

/** The URL without credentials and trailing slashes, and the credentials it held. */
export function splitCredentials(url: string): { base: string; username: string; password: string } {
  const u = new URL(url);
  const username = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return { base: u.toString().replace(/\/+$/, ''), username, password };
}

/** Pure classification of an HTTP answer to a write. */
export function classify(status: number, body: string, retryAfter: string | null | undefined, now: number): WriteResult {
  if (status >= 200 && status < 300) return { kind: 'ok', status };
  const message = influxMessage(body);
  if (status === 400) return { kind: 'partial', message };
  if (status === 413) return { kind: 'too-large', message };
  if (status === 401 || status === 403) return { kind: 'auth', status, message };
  // 1.x: database not found; 2.x/3.x v1 API: bucket "x" not found (there CREATE DATABASE fails and the forwarder holds)
  if (status === 404 && /database not found|bucket\b.*\bnot found/i.test(message)) return { kind: 'db-missing', message };
  const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(retryAfter, now) : undefined;
  const reason = `HTTP ${status}${message ? `: ${message}` : ''}`;
  return retryAfterMs === undefined ? { kind: 'retry', reason, status } : { kind: 'retry', reason, status, retryAfterMs };
}

export interface InfluxWriterOptions {
  clock?: Clock;
}

export class InfluxWriter {
  private readonly base: string;
  private readonly clock: Clock;
  private readonly authHeader?: string;

  constructor(
    private readonly cfg: InfluxConfig,
    opts: InfluxWriterOptions = {},
  ) {
    const { base, username, password } = splitCredentials(cfg.url);
    this.base = base;
    this.clock = opts.clock ?? systemClock;
    // InfluxDB 1.x: basic auth with user and password; 2.x/3.x v1 API: password = token, and
    // "Token <token>" works without a user name. Empty strings mean no auth. Credentials written
    // into the URL (http://user:pw@host) count when the fields are empty (fetch refuses such URLs).
    const user = cfg.username !== '' ? cfg.username : username;
    const pass = cfg.password !== '' ? cfg.password : password;
    if (user !== '') this.authHeader = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    else if (pass !== '') this.authHeader = `Token ${pass}`;
  }

  /** POSTs the lines (joined with \n) once and classifies the answer. Never throws. */
  async write(lines: string, opts: { precision?: Precision; signal?: AbortSignal } = {}): Promise<WriteResult> {
    const url = `${this.base}/write?db=${encodeURIComponent(this.cfg.database)}&precision=${opts.precision ?? 'ms'}`;
    const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
    if (this.authHeader) headers.authorization = this.authHeader;
    let body: string | Uint8Array<ArrayBuffer> = lines;
    if (this.cfg.gzip) {
      body = new Uint8Array(gzipSync(lines));
      headers['content-encoding'] = 'gzip';
    }
    const timeout = AbortSignal.timeout(this.cfg.timeout);
    const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
    try {
      const res = await fetch(url, { method: 'POST', headers, body, signal });
      const text = await res.text();
      return classify(res.status, text, res.headers.get('retry-after'), this.clock.now());
    } catch (e) {
      if (timeout.aborted) return { kind: 'retry', reason: `timeout after ${this.cfg.timeout} ms` };
      if (opts.signal?.aborted) return { kind: 'retry', reason: 'aborted' };
      const cause = (e as { cause?: unknown }).cause;
      return { kind: 'retry', reason: `network: ${errorText(cause ?? e)}` };
    }
  }

  /** CREATE DATABASE (idempotent) through the `influx` client. Throws GatewayError(INFLUX_AUTH | INFLUX). */
  async createDatabase(): Promise<void> {
    try {
      await influxClient(this.cfg).createDatabase(this.cfg.database);
    } catch (e) {
      const text = errorText(e);
      const code = /\b(401|403)\b|authoriz|authenticat/i.test(text) ? ErrorCodes.INFLUX_AUTH : ErrorCodes.INFLUX;
      throw new GatewayError(code, `cannot create database "${this.cfg.database}": ${text}`, { cause: e });
    }
  }

  /** true when InfluxDB answers /ping within the timeout */
  async ping(): Promise<boolean> {
    try {
      const res = await fetch(`${this.base}/ping`, { signal: AbortSignal.timeout(this.cfg.timeout) });
      await res.arrayBuffer();
      return res.status >= 200 && res.status < 300;
    } catch {
      return false;
    }
  }
}

/**
 * The coded error of a failed InfluxQL query (`fgw query`, the verifier, the hub): GW_ERR_INFLUX_AUTH
 * when InfluxDB refused the credentials, GW_ERR_INFLUX otherwise (not reachable, a query error),
 * naming the server without its credentials and the database.
 */
export function influxQueryError(o: { url: string; database: string }, message: string, cause?: unknown): GatewayError {
  const auth = /\b(401|403)\b|authoriz|authenticat/i.test(message);
  return new GatewayError(
    auth ? ErrorCodes.INFLUX_AUTH : ErrorCodes.INFLUX,
    `InfluxDB query failed (${redactUrl(o.url)}, database ${o.database}): ${message}`,
    cause === undefined ? {} : { cause },
  );
}

/**
 * An `influx` package client for InfluxQL queries and administration (gateway/query.ts, verify/),
 * configured from the influx section. Its pool's own retries are off: callers decide.
 */
export function influxClient(cfg: Pick<InfluxConfig, 'url' | 'database' | 'username' | 'password' | 'timeout'>): InfluxDB {
  const creds = splitCredentials(cfg.url);
  const u = new URL(creds.base);
  const username = cfg.username !== '' ? cfg.username : creds.username;
  const password = cfg.password !== '' ? cfg.password : creds.password;
  const protocol = u.protocol === 'https:' ? 'https' : 'http';
  const path = u.pathname.replace(/\/+$/, '');
  return new InfluxDB({
    host: u.hostname,
    port: u.port ? Number(u.port) : protocol === 'https' ? 443 : 80,
    protocol,
    ...(path ? { path } : {}),
    database: cfg.database,
    ...(username !== '' || password !== '' ? { username, password } : {}),
    pool: { maxRetries: 0, requestTimeout: cfg.timeout },
  });
}
