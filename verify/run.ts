/**
 * The one entry of the verifier: gateway configs + project + window + source → VerifyResult with
 * its signable header. `fgw verify` (gateway/cli/verify.ts), the dashboard's pilots view
 * (gateway/api/routes/pilots.ts) and the hub call it. No command-line code here: the configs come
 * loaded, project and policy as paths or loaded, the source as a description (the embedded stores
 * of the configs, an open store, or one InfluxDB holding every gateway, filtered by its `gateway`
 * tag).
 *
 * Several gateways: each device belongs to its config's gateway; device ids are unique across the
 * configs (a duplicate is an error naming both files) and so are gateway ids.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTimeArg } from '../config/time.js';
import { ErrorCodes, GatewayError } from '../config/errors.js';
import { redactArgs, redactUrl } from '../config/redact.js';
import type { Store } from '../ingest/types.js';
import { evaluate, registeredSystemsOf, validateInput, type ReportHeader, type VerifyResult } from './evaluate.js';
import { canonicalJson, gatherFacts, type DeviceSpec, type Facts, type GatewaySource } from './facts.js';
import { isoLocal, localDate } from './local-time.js';
import { shutdownRanges } from './measure.js';
import { matchOrders, type OrderMatch } from './orders.js';
import { DEFAULT_POLICY, loadPolicy, type Policy } from './policy.js';
import { loadProject, type LoadedProject } from './project.js';

/** The parts of the gateway config the verifier needs (gateway/schema.ts GatewayConfig has them). */
export interface GatewayConfigLike {
  gateway: { id: string; site?: string | undefined };
  storage: { path: string; maxSize?: number; retention?: number };
  influx?: { url: string; database: string; measurement?: string; username?: string; password?: string } | undefined;
  http?: { tokens?: ReadonlyArray<{ system: string }> };
  north?: ReadonlyArray<{ system: string }>;
  devices: ReadonlyArray<{
    id: string;
    name?: string | undefined;
    line?: string | undefined;
    process?: string | undefined;
    interval: number;
    enabled?: boolean;
    tags?: ReadonlyArray<{ name: string; role?: string }>;
  }>;
}

/** A gateway config already loaded (a hub, the running gateway), with where it came from. */
export interface GatewayInput {
  config: GatewayConfigLike;
  /** the file it was read from: hashed into the report and named in errors; without it the config's canonical JSON is hashed */
  path?: string;
  /** an open store to read with `source: store` instead of opening storage.path (the running gateway's own); not closed */
  store?: Store;
}

/**
 * Where the facts come from. `store`: each config's embedded store (storage.path). `influx`: one
 * InfluxDB database holding every gateway (filtered by the `gateway` tag); url/database/credentials
 * default to the configs' `influx` sections, which must then name the same URL and database.
 */
export type SourceSpec = { kind: 'store' } | { kind: 'influx'; url?: string; database?: string; username?: string; password?: string; measurement?: string };

export interface RunOptions {
  /** the gateway configs, loaded (the verifier holds no config loader: `fgw verify` loads the files it is given) */
  gateways: ReadonlyArray<GatewayInput>;
  /** the project file, or a loaded project */
  project: string | LoadedProject;
  /** a policy name or path (relative to `cwd`), or a loaded policy; default the project's own */
  policy?: string | Policy;
  /** window: epoch ms, or text as on the command line (times without a zone are in the policy's zone) */
  from: string | number;
  to: string | number;
  source: SourceSpec;
  preliminary?: boolean;
  /** the command's arguments after `fgw` (the report header; credentials are removed) */
  command?: readonly string[];
  /** default process.cwd() */
  cwd?: string;
  /** default Date.now(); the window may not end after it */
  now?: number;
  progress?: (done: number, total: number, what: string) => void;
  /** fill `result.report` (default true); the running gateway's pilots view does without (no git call, no digest) */
  header?: boolean;
  /** made by a hub over HTTP, not by a command: named in `report.source.hub` (`command` is then the equivalent fgw verify command) */
  hub?: { id: string; config: string };
}

/** The enabled devices of a config as the verifier sees them. */
export function deviceSpecs(cfg: GatewayConfigLike): DeviceSpec[] {
  return cfg.devices
    .filter((d) => d.enabled !== false)
    .map((d) => {
      const s: DeviceSpec = {
        id: d.id,
        interval: d.interval,
        tags: (d.tags ?? []).map((t) => ({ name: t.name, role: t.role ?? 'other' })),
        gateway: cfg.gateway.id,
      };
      if (d.name) s.name = d.name;
      if (d.line) s.line = d.line;
      if (d.process) s.process = d.process;
      return s;
    });
}

/** A command-line time (config/time.ts); times written without a zone are in the policy's zone (+08:00). */
export function parseWindowTime(text: string | number, offsetMs: number, field: string, now = Date.now()): number {
  if (typeof text === 'number') return text;
  const ms = parseTimeArg(text, now, offsetMs);
  if (ms === undefined)
    throw new GatewayError(ErrorCodes.VERIFY_INPUT, `${field}: "${text}" is not a time (use 2026-10-05, 2026-10-05T08:00:00+08:00, epoch ms, now or -15m)`, {
      details: [`${field}: not a time`],
    });
  return ms;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function inputError(message: string, details = [message]): GatewayError {
  return new GatewayError(ErrorCodes.VERIFY_INPUT, message, { details });
}

interface Gw {
  cfg: GatewayConfigLike;
  /** the file, or a label for an in-memory config */
  file: string;
  sha256: string;
  store?: Store;
}

function loadGateways(list: RunOptions['gateways']): Gw[] {
  if (list.length === 0) throw new GatewayError(ErrorCodes.USAGE, 'at least one gateway config is needed');
  const out: Gw[] = [];
  for (const g of list) {
    const file = g.path ? resolve(g.path) : `(config of gateway ${g.config.gateway.id})`;
    const hash = g.path && existsSync(g.path) ? sha256(readFileSync(g.path)) : sha256(canonicalJson(g.config));
    out.push({ cfg: g.config, file, sha256: hash, ...(g.store ? { store: g.store } : {}) });
  }
  const gwIds = new Map<string, string>();
  const devIds = new Map<string, string>();
  const problems: string[] = [];
  for (const g of out) {
    const other = gwIds.get(g.cfg.gateway.id);
    if (other !== undefined)
      problems.push(`gateway.id "${g.cfg.gateway.id}" is in both ${other} and ${g.file} (each gateway config once, each gateway its own id)`);
    else gwIds.set(g.cfg.gateway.id, g.file);
    g.cfg.devices.forEach((d, i) => {
      const where = `${g.file}: devices[${i}] (${d.id})`;
      const first = devIds.get(d.id);
      if (first !== undefined) problems.push(`device id "${d.id}" is in both ${first} and ${where}: device ids must be unique across the gateway configs`);
      else devIds.set(d.id, where);
    });
  }
  if (problems.length) throw inputError(problems[0]!, problems);
  return out;
}

function readEvidence(loaded: LoadedProject, p: string, field: string): Buffer {
  try {
    return readFileSync(p);
  } catch (e) {
    throw new GatewayError(ErrorCodes.VERIFY_INPUT, `${loaded.path}: evidence.${field}: cannot read ${p}: ${(e as Error).message}`, {
      cause: e,
      details: [`${loaded.path}: evidence.${field}: cannot read ${p}`],
    });
  }
}

/** The InfluxDB each gateway is read from: the explicit source, else its config's influx section. */
function influxOf(gws: Gw[], s: Extract<SourceSpec, { kind: 'influx' }>) {
  const conns = gws.map((g) => {
    const c = g.cfg.influx;
    const url = s.url ?? c?.url;
    const database = s.database ?? c?.database;
    if (!url || !database) throw new GatewayError(ErrorCodes.USAGE, `--source influx: ${g.file} has no influx section (url and database)`);
    const username = s.url ? s.username : (c?.username ?? s.username);
    const password = s.url ? s.password : (c?.password ?? s.password);
    const measurement = s.measurement ?? c?.measurement;
    return { url, database, ...(username ? { username } : {}), ...(password ? { password } : {}), ...(measurement ? { measurement } : {}) };
  });
  const a = conns[0]!;
  conns.forEach((c, i) => {
    if (redactUrl(c.url) !== redactUrl(a.url) || c.database !== a.database) {
      throw inputError(
        `--source influx: ${gws[0]!.file} reads ${redactUrl(a.url)} database ${a.database} but ${gws[i]!.file} reads ${redactUrl(c.url)} database ${c.database}: one database must hold every gateway`,
      );
    }
  });
  return conns;
}

async function openSources(gws: Gw[], source: SourceSpec): Promise<{ sources: GatewaySource[]; header: ReportHeader['source'] }> {
  const sources: GatewaySource[] = [];
  const ids = gws.map((g) => g.cfg.gateway.id);
  try {
    if (source.kind === 'influx') {
      const { influxFacts } = await import('./source-influx.js');
      const conns = influxOf(gws, source);
      gws.forEach((g, i) =>
        sources.push({ gateway: g.cfg.gateway.id, src: influxFacts({ ...conns[i]!, gateway: g.cfg.gateway.id }), devices: deviceSpecs(g.cfg) }),
      );
      return { sources, header: { kind: 'influx', influx: { url: redactUrl(conns[0]!.url), database: conns[0]!.database }, gateways: ids } };
    }
    const { storeFacts } = await import('./source-store.js');
    const stores: string[] = [];
    for (const g of gws) {
      const file = join(g.cfg.storage.path, 'store.db');
      stores.push(file);
      if (g.store) {
        sources.push({ gateway: g.cfg.gateway.id, src: storeFacts(g.store), devices: deviceSpecs(g.cfg) });
        continue;
      }
      if (!existsSync(file)) throw new GatewayError(ErrorCodes.STORE, `no embedded store at ${file} (storage.path of ${g.file})`);
      const { openStore } = await import('../ingest/store/index.js');
      // read-only use: no retention timer, limits never enforced from here
      const store = openStore({
        path: g.cfg.storage.path,
        maxSizeBytes: g.cfg.storage.maxSize ?? Number.MAX_SAFE_INTEGER,
        retentionMs: Number.MAX_SAFE_INTEGER,
        limitsIntervalMs: 0,
      });
      sources.push({ gateway: g.cfg.gateway.id, src: storeFacts(store, { close: true }), devices: deviceSpecs(g.cfg) });
    }
    return { sources, header: { kind: 'store', stores, gateways: ids } };
  } catch (e) {
    await Promise.all(sources.map((s) => s.src.close()));
    throw e;
  }
}

let fgwInfo: ReportHeader['fgw'] | undefined;

/**
 * fgw's version (package.json) and, when known, its git revision: FGW_REVISION when set (a packaged
 * build sets it), else `git rev-parse HEAD` of the checkout fgw runs from (with `-dirty` when
 * tracked files differ from it); absent otherwise. Looked up once per process.
 */
export function fgwVersion(): ReportHeader['fgw'] {
  if (fgwInfo) return fgwInfo;
  let dir = dirname(fileURLToPath(import.meta.url));
  let root: string | undefined;
  let version = '0.0.0';
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (!existsSync(p)) continue;
    const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'factory-gateway') {
      root = dir;
      version = pkg.version ?? version;
      break;
    }
  }
  let revision = process.env.FGW_REVISION || undefined;
  if (!revision && root) {
    try {
      const git = (args: string[]) =>
        execFileSync('git', ['-C', root!, ...args], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      // only this checkout's own repository, not one fgw happens to be installed inside
      if (resolve(git(['rev-parse', '--show-toplevel'])) === resolve(root)) {
        const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
        revision = `${git(['rev-parse', 'HEAD'])}${dirty ? '-dirty' : ''}`;
      }
    } catch {
      /* no git, or not a checkout: the revision is unknown */
    }
  }
  fgwInfo = { version, ...(revision ? { revision } : {}) };
  return fgwInfo;
}

/** SHA-256 of the canonical JSON of the facts. */
export function factsDigest(facts: Facts): string {
  return sha256(canonicalJson(facts));
}

/** The report number: project id, the window's local dates and 12 hex digits of the inputs' and facts' digest. */
export function reportNumber(projectId: string, from: number, to: number, offsetMs: number, inputs: ReportHeader['inputs'], facts: string): string {
  const d = (ms: number) => localDate(ms, offsetMs).replaceAll('-', '');
  const digest = sha256([`${from}-${to}`, ...inputs.map((i) => `${i.role}:${i.sha256}`).sort(), facts].join('\n'));
  return `${projectId}-${d(from)}-${d(to)}-${digest.slice(0, 12)}`;
}

/** Runs the verification: loads what is given as paths, gathers the facts, evaluates, fills the header. */
export async function runVerification(o: RunOptions): Promise<VerifyResult> {
  const cwd = o.cwd ?? process.cwd();
  const gws = loadGateways(o.gateways);
  const loaded = typeof o.project === 'string' ? loadProject(resolve(cwd, o.project)) : o.project;
  const policy =
    o.policy === undefined
      ? loadPolicy(loaded.project.policy ?? DEFAULT_POLICY, dirname(loaded.path))
      : typeof o.policy === 'string'
        ? loadPolicy(o.policy, cwd)
        : o.policy;
  const now = o.now ?? Date.now();
  const from = parseWindowTime(o.from, policy.offsetMs, '--from', now);
  const to = parseWindowTime(o.to, policy.offsetMs, '--to', now);
  validateInput({ project: loaded.project, projectFile: loaded.path, policy, from, to });
  if (to > now) {
    // slots after now would count as missing: refuse rather than judge the future
    throw new GatewayError(
      ErrorCodes.VERIFY_INPUT,
      `--to ${isoLocal(to, policy.offsetMs)} is in the future (now ${isoLocal(now, policy.offsetMs)}); use --to now or an earlier time`,
      { details: ['window.to: in the future'] },
    );
  }

  const inputs: ReportHeader['inputs'] = gws.map((g) => ({ role: 'gateway-config' as const, path: g.file, sha256: g.sha256 }));
  inputs.push({ role: 'project', path: loaded.path, sha256: sha256(readFileSync(loaded.path)) });
  inputs.push({ role: 'policy', path: policy.path, sha256: policy.sha256 });
  let orders: OrderMatch | undefined;
  if (loaded.erpOrdersPath && loaded.mesOrdersPath) {
    const erp = readEvidence(loaded, loaded.erpOrdersPath, 'erpOrders');
    const mes = readEvidence(loaded, loaded.mesOrdersPath, 'mesOrders');
    inputs.push(
      { role: 'erp-orders', path: loaded.erpOrdersPath, sha256: sha256(erp) },
      { role: 'mes-orders', path: loaded.mesOrdersPath, sha256: sha256(mes) },
    );
    orders = matchOrders(erp.toString('utf8'), loaded.project.evidence.erpOrders!, mes.toString('utf8'), loaded.project.evidence.mesOrders!, {
      from,
      to,
      offsetMs: policy.offsetMs,
    });
  }

  const { sources, header } = await openSources(gws, o.source);
  let facts: Facts;
  try {
    facts = await gatherFacts(sources, {
      from,
      to,
      policy,
      shutdowns: shutdownRanges(loaded.project, policy),
      ...(o.progress ? { progress: o.progress } : {}),
    });
  } finally {
    await Promise.all(sources.map((s) => s.src.close()));
  }
  const systems = [...new Set(gws.flatMap((g) => registeredSystemsOf(g.cfg)))];
  const result = evaluate({
    project: loaded.project,
    projectFile: loaded.path,
    policy,
    devices: gws.flatMap((g) => deviceSpecs(g.cfg)),
    registeredSystems: systems,
    facts,
    ...(orders ? { orders } : {}),
    preliminary: o.preliminary === true,
    source: o.source.kind,
    gateways: gws.map((g) => ({ id: g.cfg.gateway.id, ...(g.cfg.gateway.site ? { site: g.cfg.gateway.site } : {}), config: g.file })),
  });
  if (o.header === false) return result;
  const digest = factsDigest(facts);
  result.report = {
    number: reportNumber(loaded.project.project.id, from, to, policy.offsetMs, inputs, digest),
    generatedAt: isoLocal(now, policy.offsetMs),
    fgw: fgwVersion(),
    command: redactArgs(o.command ?? []),
    source: o.hub ? { ...header, hub: { ...o.hub } } : header,
    inputs,
    factsDigest: digest,
    cwd,
  };
  return result;
}
