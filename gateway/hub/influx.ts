/**
 * The hub's InfluxDB reader: InfluxQL through ingest's influxClient (same URL and credential
 * handling as `fgw query` and the verifier), POSTed (statements can be long), several statements
 * per request where that saves round trips, at most `concurrency` requests at once. It counts the
 * queries and the time InfluxDB took, for /metrics and the benchmark.
 */
import { redactUrl } from '../../config/redact.js';
import { influxClient, influxQueryError } from '../../ingest/influx-writer.js';

export interface RawSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export interface HubInfluxOptions {
  url: string;
  database: string;
  username: string;
  password: string;
  timeout: number;
  concurrency: number;
}

export interface QueryStats {
  /** HTTP requests sent */
  requests: number;
  /** InfluxQL statements run */
  statements: number;
  /** summed wall time of the requests, ms */
  ms: number;
  failures: number;
}

export interface HubInflux {
  readonly url: string;
  readonly database: string;
  /** runs the statements (one request), the series of each statement in order */
  run(statements: readonly string[]): Promise<RawSeries[][]>;
  /** one statement */
  query(statement: string): Promise<RawSeries[]>;
  /** runs `f` (a query through another client, e.g. the verifier's) within the same concurrency limit, counted in stats */
  limited<T>(statements: number, f: () => Promise<T>): Promise<T>;
  readonly stats: QueryStats;
}

/** statements per request: InfluxDB runs them one after the other, so this only saves round trips */
const STATEMENTS_PER_REQUEST = 50;

export function hubInflux(o: HubInfluxOptions): HubInflux {
  const client = influxClient({ url: o.url, database: o.database, username: o.username, password: o.password, timeout: o.timeout });
  const stats: QueryStats = { requests: 0, statements: 0, ms: 0, failures: 0 };
  let active = 0;
  const waiting: Array<() => void> = [];
  const acquire = async () => {
    if (active >= o.concurrency) await new Promise<void>((r) => waiting.push(r));
    active++;
  };
  const release = () => {
    active--;
    waiting.shift()?.();
  };
  const fail = (msg: string, cause?: unknown): never => {
    stats.failures++;
    throw influxQueryError(o, msg, cause);
  };

  async function request(statements: readonly string[]): Promise<RawSeries[][]> {
    await acquire();
    const t0 = performance.now();
    let body: { results?: Array<{ statement_id?: number; error?: string; series?: RawSeries[] }> };
    try {
      stats.requests++;
      stats.statements += statements.length;
      body = (await client.queryRaw(statements.join(';\n'), { database: o.database, precision: 'ms', method: 'POST' } as never)) as typeof body;
    } catch (e) {
      return fail((e as Error).message ?? String(e), e);
    } finally {
      stats.ms += performance.now() - t0;
      release();
    }
    const out: RawSeries[][] = statements.map(() => []);
    for (const [i, r] of (body.results ?? []).entries()) {
      if (r.error) fail(r.error);
      out[r.statement_id ?? i] = r.series ?? [];
    }
    return out;
  }

  return {
    url: redactUrl(o.url),
    database: o.database,
    stats,
    async run(statements) {
      const chunks: Array<Promise<RawSeries[][]>> = [];
      for (let i = 0; i < statements.length; i += STATEMENTS_PER_REQUEST) chunks.push(request(statements.slice(i, i + STATEMENTS_PER_REQUEST)));
      return (await Promise.all(chunks)).flat();
    },
    async query(statement) {
      return (await request([statement]))[0]!;
    },
    async limited(statements, f) {
      await acquire();
      const t0 = performance.now();
      stats.requests += statements;
      stats.statements += statements;
      try {
        return await f();
      } catch (e) {
        stats.failures++;
        throw e;
      } finally {
        stats.ms += performance.now() - t0;
        release();
      }
    },
  };
}

/** The numeric cells of a row after the time column. */
export function numbers(row: readonly unknown[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < row.length; i++) {
    const v = row[i];
    if (typeof v === 'number') out.push(v);
  }
  return out;
}
