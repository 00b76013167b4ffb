/**
 * A real InfluxDB 1.6 (`influxd run -config /dev/null`) in a temporary directory, configured by
 * INFLUXDB_* environment variables. `stop()` / `start()` restart it on the same
 * data directory and the same port, so a forwarder pointed at `url` reconnects by itself.
 */
import { AUDIT_PRECISION, READINGS_PRECISION, formatAudits, formatReadings, type LineContext } from '../../ingest/line-protocol.js';
import type { Store } from '../../ingest/types.js';
import { startProcess, type Proc } from './proc.js';
import { tempDir } from './tmp.js';

export interface InfluxRow {
  [column: string]: unknown;
}

export interface TestInflux {
  url: string;
  port: number;
  /** graceful stop (SIGTERM), keeps the data */
  stop(): Promise<void>;
  /** starts again on the same data directory and port */
  start(): Promise<void>;
  /** SIGKILL, keeps the data (what the WAL had) */
  kill(): Promise<void>;
  /** InfluxQL; rows of every series as objects (tags of GROUP BY included), time in ms */
  query(influxql: string, db?: string): Promise<InfluxRow[]>;
  /** points of a measurement: rows of `SELECT * FROM m` (one per series and time) */
  countPoints(db: string, measurement: string): Promise<number>;
  /** stops and removes the data directory */
  cleanup(): Promise<void>;
  /**
   * (auth on) creates a non-admin user with the given privileges, e.g.
   * `createUser('gw-a', 'pw', [['WRITE', 'plants']])`: InfluxDB 1.x GRANT READ | WRITE | ALL ON <db>
   */
  createUser(name: string, password: string, grants: ReadonlyArray<readonly ['READ' | 'WRITE' | 'ALL', string]>): Promise<void>;
}

async function pingOk(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
    await r.arrayBuffer();
    return r.status === 204;
  } catch {
    return false;
  }
}

export interface StartInfluxOptions {
  /** turn authentication on and create this admin user; query() then authenticates as it */
  admin?: { username: string; password: string };
}

export async function startInflux(opts: StartInfluxOptions = {}): Promise<TestInflux> {
  const dir = tempDir('fgw-influx-');
  let proc: Proc | undefined;
  let port = 0;

  const launch = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const p = startProcess('influxd', ['run', '-config', '/dev/null'], {
        env: {
          ...process.env,
          INFLUXDB_META_DIR: `${dir.path}/meta`,
          INFLUXDB_DATA_DIR: `${dir.path}/data`,
          INFLUXDB_DATA_WAL_DIR: `${dir.path}/wal`,
          INFLUXDB_HTTP_BIND_ADDRESS: `127.0.0.1:${port}`,
          INFLUXDB_BIND_ADDRESS: '127.0.0.1:0',
          INFLUXDB_REPORTING_DISABLED: 'true',
          INFLUXDB_HTTP_LOG_ENABLED: 'false',
          INFLUXDB_MONITOR_STORE_ENABLED: 'false',
          INFLUXDB_DATA_QUERY_LOG_ENABLED: 'false',
          INFLUXDB_HTTP_AUTH_ENABLED: opts.admin ? 'true' : 'false',
        },
      });
      try {
        const m = await p.waitForOutput(/Listening on HTTP[^\n]*addr=127\.0\.0\.1:(\d+)/, 20_000);
        port = Number(m[1]);
        proc = p;
        break;
      } catch (e) {
        await p.kill('SIGKILL');
        // the same port may be briefly taken on a restart; try a few times
        if (attempt >= 20) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 200 && !(await pingOk(url)); i++) await new Promise((r) => setTimeout(r, 50));
  };

  await launch();
  const url = `http://127.0.0.1:${port}`;
  if (opts.admin) {
    // with auth on and no user yet, InfluxDB 1.x accepts exactly this one statement unauthenticated
    const q = `CREATE USER "${opts.admin.username}" WITH PASSWORD '${opts.admin.password}' WITH ALL PRIVILEGES`;
    const res = await fetch(`${url}/query?${new URLSearchParams({ q })}`, { method: 'POST' });
    if (!res.ok) throw new Error(`cannot create the admin user: ${res.status} ${await res.text()}`);
  }

  const query = async (influxql: string, db?: string): Promise<InfluxRow[]> => {
    const qs = new URLSearchParams({ q: influxql, epoch: 'ms' });
    if (db) qs.set('db', db);
    if (opts.admin) {
      qs.set('u', opts.admin.username);
      qs.set('p', opts.admin.password);
    }
    const res = await fetch(`${url}/query?${qs}`, { method: 'POST' });
    const body = (await res.json()) as {
      error?: string;
      results?: Array<{ error?: string; series?: Array<{ name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }> }>;
    };
    if (!res.ok || body.error) throw new Error(`InfluxDB query failed (${res.status}): ${body.error ?? JSON.stringify(body)}`);
    const out: InfluxRow[] = [];
    for (const r of body.results ?? []) {
      if (r.error) throw new Error(`InfluxDB query failed: ${r.error}`);
      for (const s of r.series ?? []) {
        for (const v of s.values) {
          const row: InfluxRow = { ...(s.tags ?? {}) };
          s.columns.forEach((c, i) => (row[c] = v[i]));
          out.push(row);
        }
      }
    }
    return out;
  };

  return {
    url,
    get port() {
      return port;
    },
    async stop() {
      await proc?.kill('SIGTERM');
      proc = undefined;
    },
    async start() {
      if (proc) return;
      await launch();
    },
    async kill() {
      await proc?.kill('SIGKILL');
      proc = undefined;
    },
    query,
    async countPoints(db, measurement) {
      const rows = await query(`SELECT * FROM "${measurement.replace(/"/g, '\\"')}"`, db);
      return rows.length;
    },
    async createUser(name, password, grants) {
      const id = `"${name.replace(/"/g, '\\"')}"`;
      await query(`CREATE USER ${id} WITH PASSWORD '${password.replace(/'/g, "\\'")}'`);
      for (const [priv, db] of grants) await query(`GRANT ${priv} ON "${db.replace(/"/g, '\\"')}" TO ${id}`);
    },
    async cleanup() {
      await proc?.kill('SIGKILL');
      proc = undefined;
      dir.cleanup();
    },
  };
}

/** Posts line protocol to `db`, 5,000 lines per request; throws unless InfluxDB answers 204. */
export async function postLines(url: string, db: string, lines: readonly string[], precision: string): Promise<void> {
  for (let i = 0; i < lines.length; i += 5000) {
    const res = await fetch(`${url}/write?db=${encodeURIComponent(db)}&precision=${precision}`, { method: 'POST', body: lines.slice(i, i + 5000).join('\n') });
    const body = await res.text();
    if (res.status !== 204) throw new Error(`InfluxDB write answered ${res.status}: ${body}`);
  }
}

/** Writes a store's readings and audits into `db` as the forwarder sends them: its formatter, its precisions. */
export async function writeStore(url: string, db: string, store: Store, ctx: LineContext): Promise<void> {
  await postLines(
    url,
    db,
    formatReadings(store.readForward('readings', 0, 1_000_000), ctx).map((l) => l.text),
    READINGS_PRECISION,
  );
  await postLines(
    url,
    db,
    formatAudits(store.readForward('audit', 0, 1_000_000), ctx).map((l) => l.text),
    AUDIT_PRECISION,
  );
}
