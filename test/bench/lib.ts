/**
 * Benchmark plumbing: the gateway as a separate process sampled through /proc (CPU seconds, RSS),
 * InfluxDB counting, generated configs, machine description, result records.
 *
 * Benchmarks are not tests: nothing here asserts; every figure is reported with the limit it was
 * measured against in the same run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess, type Proc } from '../helpers/proc.js';

/** The repository root (the folder with package.json), from the sources or from dist-bench/. */
export const ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'gateway', 'bin', 'fgw.js'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('bench: cannot find the repository root');
})();

/** Compiled bench scripts (dist-bench/test/bench/*.js). */
export const BENCH_DIST = join(ROOT, 'dist-bench', 'test', 'bench');

const CLK_TCK = 100;

// ------------------------------------------------------------------------------------ results

export interface Metric {
  name: string;
  value: number | null;
  unit: string;
  /** what the value is measured against, measured in the same run (or a fixed target) */
  limit?: number | null;
  limitName?: string;
  /** value / limit */
  ratio?: number | null;
  /** the issue's target for this figure, in words ("≤ 1 core") */
  target?: string;
  met?: boolean | null;
}

export interface ScenarioResult {
  name: string;
  title: string;
  /** measured wall time of the scenario's main window, s */
  windowS: number;
  params: Record<string, unknown>;
  metrics: Metric[];
  notes: string[];
  /** RSS/CPU series or other raw detail */
  series?: Record<string, unknown>;
  error?: string;
}

export function metric(name: string, value: number | null, unit: string, extra: Partial<Metric> = {}): Metric {
  const m: Metric = { name, value: value === null || !Number.isFinite(value) ? null : round(value), unit, ...extra };
  if (m.limit !== undefined && m.limit !== null && value !== null && m.ratio === undefined) m.ratio = m.limit === 0 ? null : round(value / m.limit, 3);
  if (m.limit !== undefined && m.limit !== null) m.limit = round(m.limit);
  return m;
}

export function round(v: number, digits?: number): number {
  if (digits !== undefined) return Number(v.toFixed(digits));
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v);
  if (a >= 10) return Number(v.toFixed(1));
  if (a >= 1) return Number(v.toFixed(2));
  return Number(v.toFixed(4));
}

// ------------------------------------------------------------------------------------ machine

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  node: string;
  influxdb: string;
  mosquitto: string;
  os: string;
  /** git revision of the tree that was benchmarked (+dirty when it had uncommitted changes) */
  revision: string;
}

function firstLine(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')[0]!
      .trim();
  } catch (e) {
    const out = (e as { stdout?: string }).stdout ?? '';
    return out.split('\n')[0]?.trim() || 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  let os = 'linux';
  try {
    os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    /* not Linux? */
  }
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    influxdb: firstLine('influxd', ['version']),
    mosquitto: firstLine('mosquitto', ['-h']),
    os,
    revision: `${firstLine('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])}${firstLine('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']) ? '+dirty' : ''}`,
  };
}

export const loadAvg = (): number[] => loadavg().map((x) => round(x, 2));

// ------------------------------------------------------------------------------------ /proc

export interface ProcSample {
  /** ms since epoch */
  at: number;
  /** user + system CPU seconds of the process so far */
  cpuS: number;
  rssMB: number;
}

/** One /proc reading of a process (undefined when it is gone). */
export function readProc(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name may hold spaces: fields start after the last ')'
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(f[11]);
    const stime = Number(f[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { at: Date.now(), cpuS: (utime + stime) / CLK_TCK, rssMB: rss / 1024 };
  } catch {
    return undefined;
  }
}

/** Samples a process every `everyMs`; mark() takes a sample now and names it. */
export class ProcSampler {
  readonly samples: ProcSample[] = [];
  private readonly marks = new Map<string, ProcSample>();
  private timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    everyMs = 250,
  ) {
    this.timer = setInterval(() => this.take(), everyMs);
    this.take();
  }

  private take(): ProcSample | undefined {
    const s = readProc(this.pid);
    if (s) this.samples.push(s);
    return s;
  }

  mark(name: string): ProcSample | undefined {
    const s = this.take();
    if (s) this.marks.set(name, s);
    return s;
  }

  get(name: string): ProcSample | undefined {
    return this.marks.get(name);
  }

  /** CPU seconds, wall seconds, cores and peak/mean RSS between two marks. */
  window(from: string, to: string): { cpuS: number; wallS: number; cores: number; peakRssMB: number; meanRssMB: number } {
    const a = this.marks.get(from);
    const b = this.marks.get(to);
    if (!a || !b) throw new Error(`bench: no sample marks ${from}/${to}`);
    const inside = this.samples.filter((s) => s.at >= a.at && s.at <= b.at);
    const wallS = (b.at - a.at) / 1000;
    const cpuS = b.cpuS - a.cpuS;
    return {
      cpuS,
      wallS,
      cores: wallS > 0 ? cpuS / wallS : 0,
      peakRssMB: Math.max(...inside.map((s) => s.rssMB)),
      meanRssMB: inside.reduce((x, s) => x + s.rssMB, 0) / Math.max(1, inside.length),
    };
  }

  /** VmHWM (peak RSS of the process's life), MB */
  hwmMB(): number | undefined {
    try {
      return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'))?.[1]) / 1024;
    } catch {
      return undefined;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

// ------------------------------------------------------------------------------------ gateway

export interface GatewayProc {
  proc: Proc;
  pid: number;
  sampler: ProcSampler;
  /** parsed `BENCH_<KIND> {json}` lines printed by bench entry scripts */
  events: Array<{ kind: string; at: number; data: Record<string, unknown> }>;
  waitEvent(kind: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM and wait for the exit (the gateway flushes and closes its store) */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function wrap(proc: Proc): GatewayProc {
  const pid = proc.child.pid!;
  const sampler = new ProcSampler(pid);
  const events: GatewayProc['events'] = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  const onData = (b: Buffer) => {
    buf += b.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const m = /^BENCH_([A-Z_]+) (\{.*\})\s*$/.exec(line);
      if (m) {
        try {
          events.push({ kind: m[1]!, at: Date.now(), data: JSON.parse(m[2]!) as Record<string, unknown> });
        } catch {
          /* not JSON */
        }
        for (const w of waiters.splice(0)) w();
      }
    }
  };
  proc.child.stdout?.on('data', onData);
  void proc.exited.then(() => {
    for (const w of waiters.splice(0)) w();
  });
  return {
    proc,
    pid,
    sampler,
    events,
    waitEvent(kind, timeoutMs = 120_000) {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(
          () => reject(new Error(`bench: no BENCH_${kind} from the gateway within ${timeoutMs} ms; output:\n${proc.output().slice(-3000)}`)),
          timeoutMs,
        );
        const check = () => {
          const e = events.find((x) => x.kind === kind);
          if (e) {
            clearTimeout(deadline);
            resolve(e.data);
          } else if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
            clearTimeout(deadline);
            reject(
              new Error(
                `bench: the gateway exited (${proc.child.exitCode ?? proc.child.signalCode}) before BENCH_${kind}; output:\n${proc.output().slice(-3000)}`,
              ),
            );
          } else waiters.push(check);
        };
        check();
      });
    },
    async stop() {
      sampler.stop();
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGTERM');
      const killer = setTimeout(() => proc.child.kill('SIGKILL'), 60_000);
      const r = await proc.exited;
      clearTimeout(killer);
      return r;
    },
  };
}

/** `node gateway/bin/fgw.js run --config <file> --for <forMs> --no-api`, the shipped gateway. */
export function spawnFgw(configFile: string, forMs: number, extraNodeArgs: string[] = []): GatewayProc {
  return wrap(
    startProcess(
      process.execPath,
      [...extraNodeArgs, join(ROOT, 'gateway', 'bin', 'fgw.js'), 'run', '--config', configFile, '--for', `${Math.ceil(forMs / 1000)}s`, '--no-api'],
      { cwd: ROOT },
    ),
  );
}

/** A compiled bench entry script (dist-bench/test/bench/<name>.js) as a gateway process. */
export function spawnBenchScript(name: string, args: string[], extraNodeArgs: string[] = []): GatewayProc {
  return wrap(startProcess(process.execPath, [...extraNodeArgs, join(BENCH_DIST, `${name}.js`), ...args], { cwd: ROOT }));
}

/** Writes a gateway config (JSON is YAML) and returns its path. */
export function writeConfig(dir: string, name: string, cfg: unknown): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `${JSON.stringify(cfg, null, 2)}\n`);
  return file;
}

export function baseConfig(opts: {
  dir: string;
  influxUrl?: string;
  database?: string;
  influx?: Record<string, unknown>;
  devices?: unknown[];
  storage?: Record<string, unknown>;
}): Record<string, unknown> {
  const cfg: Record<string, unknown> = {
    gateway: { id: 'bench', site: 'bench-site', logLevel: 'warn', statusInterval: '10s', stopTimeout: '60s' },
    storage: { path: join(opts.dir, 'store'), maxSize: '20GB', retention: '14d', ...(opts.storage ?? {}) },
    devices: opts.devices ?? [],
  };
  if (opts.influxUrl) cfg.influx = { url: opts.influxUrl, database: opts.database ?? 'bench', batchSize: 5000, flushInterval: '1s', ...(opts.influx ?? {}) };
  // experiments: BENCH_CONFIG_OVERRIDE='{"storage":{"commitRows":2000}}' merges into each section
  const override = process.env.BENCH_CONFIG_OVERRIDE ? (JSON.parse(process.env.BENCH_CONFIG_OVERRIDE) as Record<string, Record<string, unknown>>) : {};
  for (const [k, v] of Object.entries(override)) if (cfg[k] && typeof cfg[k] === 'object') cfg[k] = { ...(cfg[k] as object), ...v };
  return cfg;
}

// ------------------------------------------------------------------------------------ influx

/** InfluxQL over HTTP; rows of every series as objects with the series tags. */
export async function influxQuery(url: string, q: string, db?: string): Promise<Array<Record<string, unknown>>> {
  const qs = new URLSearchParams({ q, epoch: 'ms' });
  if (db) qs.set('db', db);
  const res = await fetch(`${url}/query?${qs}`, { method: 'POST', signal: AbortSignal.timeout(120_000) });
  const body = (await res.json()) as {
    error?: string;
    results?: Array<{ error?: string; series?: Array<{ tags?: Record<string, string>; columns: string[]; values: unknown[][] }> }>;
  };
  if (!res.ok || body.error) throw new Error(`InfluxDB query failed (${res.status}): ${body.error ?? JSON.stringify(body).slice(0, 500)}`);
  const out: Array<Record<string, unknown>> = [];
  for (const r of body.results ?? []) {
    if (r.error) throw new Error(`InfluxDB query failed: ${r.error}`);
    for (const s of r.series ?? []) {
      for (const v of s.values) {
        const row: Record<string, unknown> = { ...(s.tags ?? {}) };
        s.columns.forEach((c, i) => (row[c] = v[i]));
        out.push(row);
      }
    }
  }
  return out;
}

/** Field values in a measurement: the sum of count(*) over every field (and series). */
export async function countValues(url: string, db: string, measurement: string, where = ''): Promise<number> {
  const rows = await influxQuery(url, `SELECT count(*) FROM "${measurement}"${where ? ` WHERE ${where}` : ''}`, db);
  let n = 0;
  for (const r of rows) for (const [k, v] of Object.entries(r)) if (k.startsWith('count_') && typeof v === 'number') n += v;
  return n;
}

/**
 * Waits until a measurement holds at least one value (the gateway is up and forwarding): a loaded
 * machine can take seconds to start a gateway, and a window measured before that counts nothing.
 */
export async function waitForValues(url: string, db: string, measurement: string, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await countValues(url, db, measurement)) > 0) return;
    } catch {
      /* database not created yet */
    }
    if (Date.now() > until) throw new Error(`no value reached ${db}.${measurement} within ${timeoutMs} ms: the gateway did not start forwarding`);
    await sleep(200);
  }
}

export async function dropDatabase(url: string, db: string): Promise<void> {
  try {
    await influxQuery(url, `DROP DATABASE "${db}"`);
  } catch {
    /* best effort */
  }
}

export async function createDatabase(url: string, db: string): Promise<void> {
  await influxQuery(url, `CREATE DATABASE "${db}"`);
}

// ------------------------------------------------------------------------------------ misc

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The Modbus simulator child (modbus-servers.ts) answers `{ op: 'reads', id }` over IPC with the
 * number of register reads it has served so far: the keep-up figure of the Modbus scenarios.
 */
export function simulatorReads(proc: Proc): () => Promise<number> {
  let id = 0;
  const pending = new Map<number, (reads: number) => void>();
  proc.child.on('message', (m: { id: number; reads: number }) => pending.get(m.id)?.(m.reads));
  return () =>
    new Promise((resolve) => {
      const k = ++id;
      pending.set(k, (r) => {
        pending.delete(k);
        resolve(r);
      });
      proc.child.send({ op: 'reads', id: k });
    });
}

/**
 * Writes generated line protocol to `db`: `batch` lines per request from `writers` concurrent
 * writers; a refused request (InfluxDB sheds load with 500 when its cache is full or the WAL lags)
 * is sent again after a growing pause. Returns the number of lines written.
 */
export async function writeLines(
  url: string,
  db: string,
  lines: () => Generator<string>,
  opts: { writers?: number; batch?: number; precision?: string } = {},
): Promise<number> {
  const batch = opts.batch ?? 5000;
  const it = lines();
  let total = 0;
  const next = (): string | undefined => {
    const b: string[] = [];
    for (let r = it.next(); !r.done; r = it.next()) {
      b.push(r.value);
      if (b.length === batch) break;
    }
    total += b.length;
    return b.length ? b.join('\n') : undefined;
  };
  await Promise.all(
    Array.from({ length: opts.writers ?? 2 }, async () => {
      for (let body = next(); body !== undefined; body = next()) {
        for (let attempt = 0; ; attempt++) {
          const r = await fetch(`${url}/write?db=${encodeURIComponent(db)}&precision=${opts.precision ?? 's'}`, { method: 'POST', body });
          const text = await r.text();
          if (r.status === 204) break;
          if (attempt >= 20) throw new Error(`bench: write to ${db} failed with HTTP ${r.status}: ${text.slice(0, 300)}`);
          await sleep(250 * (attempt + 1));
        }
      }
    }),
  );
  return total;
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
