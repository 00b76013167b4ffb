/**
 * `fgw verify`: the thin shell around the pure core. Loads the gateway config, the project file
 * and its policy, asks one fact backend (the embedded store or InfluxDB), evaluates, and writes the
 * JSON result, the HTML report and, when Chromium is installed, the PDF.
 *
 *   fgw verify --config gateway.yaml --project project.yaml --from <t> --to <t>
 *              [--source store|influx] [--preliminary] [--lang zh|en] [--policy <name|path>]
 *              --json out.json --html out.html [--pdf out.pdf]
 *
 * Exit codes: 0 report written (whatever the verdict); 2 bad usage or input (coded error printed);
 * 1 anything else (a backend failed, or the PDF could not be printed: JSON and HTML are written first).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseTimeArg } from '../config/time.js';
import { ErrorCodes, GatewayError, isGatewayError, errorText } from '../config/errors.js';
import { evaluate, registeredSystemsOf, validateInput, type VerifyResult } from './evaluate.js';
import { gatherFacts, type DeviceSpec, type FactQuery } from './facts.js';
import type { Lang } from './i18n.js';
import { matchOrders, type OrderMatch } from './orders.js';
import { DEFAULT_POLICY, loadPolicy } from './policy.js';
import { loadProject } from './project.js';
import { renderHtml } from './report-html.js';

export interface VerifyIo {
  out(s: string): void;
  err(s: string): void;
}

/** The parts of the gateway config the verifier needs (config/schema.ts GatewayConfig has them). */
export interface GatewayConfigLike {
  gateway: { id: string; site?: string | undefined };
  storage: { path: string; maxSize?: number; retention?: number };
  influx?: { url: string; database: string; measurement?: string; username?: string; password?: string } | undefined;
  http?: { tokens?: ReadonlyArray<{ system: string }> };
  north?: ReadonlyArray<{ system: string }>;
  devices: ReadonlyArray<{ id: string; name?: string | undefined; line?: string | undefined; process?: string | undefined; interval: number; enabled?: boolean; tags?: ReadonlyArray<{ name: string; role?: string }> }>;
}

export interface VerifyArgs {
  config: string;
  project: string;
  from: string;
  to: string;
  source: 'store' | 'influx';
  preliminary: boolean;
  lang: Lang;
  policy?: string;
  json?: string;
  html?: string;
  pdf?: string;
}

const USAGE =
  'usage: fgw verify --config gateway.yaml --project project.yaml --from <time> --to <time> [--source store|influx] [--preliminary] [--lang zh|en] [--policy <name|path>] --json out.json --html out.html [--pdf out.pdf]';

export function parseVerifyArgs(argv: readonly string[]): VerifyArgs {
  const a: Partial<VerifyArgs> & { source?: string; lang?: string } = { preliminary: false };
  const valued = new Set(['config', 'project', 'from', 'to', 'source', 'lang', 'policy', 'json', 'html', 'pdf']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new GatewayError(ErrorCodes.USAGE, `unexpected argument "${arg}"\n${USAGE}`);
    const key = m[1]!;
    if (key === 'preliminary') {
      a.preliminary = true;
      continue;
    }
    if (key === 'help') throw new GatewayError(ErrorCodes.USAGE, USAGE);
    if (!valued.has(key)) throw new GatewayError(ErrorCodes.USAGE, `unknown option --${key}\n${USAGE}`);
    const v = m[2] ?? argv[++i];
    if (v === undefined || v.startsWith('--')) throw new GatewayError(ErrorCodes.USAGE, `--${key} needs a value\n${USAGE}`);
    (a as Record<string, unknown>)[key] = v;
  }
  for (const k of ['config', 'project', 'from', 'to'] as const) if (!a[k]) throw new GatewayError(ErrorCodes.USAGE, `--${k} is required\n${USAGE}`);
  if (!a.json && !a.html && !a.pdf) throw new GatewayError(ErrorCodes.USAGE, `give at least one of --json, --html, --pdf\n${USAGE}`);
  const source = a.source ?? 'store';
  if (source !== 'store' && source !== 'influx') throw new GatewayError(ErrorCodes.USAGE, `--source must be store or influx, got "${source}"`);
  const lang = a.lang ?? 'zh';
  if (lang !== 'zh' && lang !== 'en') throw new GatewayError(ErrorCodes.USAGE, `--lang must be zh or en, got "${lang}"`);
  return { ...(a as VerifyArgs), source, lang };
}

/** A command-line time (config/time.ts); times written without a zone are in the policy's zone (+08:00). */
export function parseWindowTime(text: string, offsetMs: number, field: string): number {
  const ms = parseTimeArg(text, Date.now(), offsetMs);
  if (ms === undefined) throw new GatewayError(ErrorCodes.VERIFY_INPUT, `${field}: "${text}" is not a time (use 2026-10-05, 2026-10-05T08:00:00+08:00, epoch ms, now or -15m)`, { details: [`${field}: not a time`] });
  return ms;
}

export function deviceSpecs(cfg: GatewayConfigLike): DeviceSpec[] {
  return cfg.devices
    .filter((d) => d.enabled !== false)
    .map((d) => {
      const s: DeviceSpec = { id: d.id, interval: d.interval, tags: (d.tags ?? []).map((t) => ({ name: t.name, role: t.role ?? 'other' })) };
      if (d.name) s.name = d.name;
      if (d.line) s.line = d.line;
      if (d.process) s.process = d.process;
      return s;
    });
}

async function openSource(cfg: GatewayConfigLike, source: 'store' | 'influx'): Promise<FactQuery> {
  if (source === 'influx') {
    if (!cfg.influx) throw new GatewayError(ErrorCodes.USAGE, '--source influx: the gateway config has no influx section');
    const { influxFacts } = await import('./source-influx.js');
    const i = cfg.influx;
    return influxFacts({ url: i.url, database: i.database, gateway: cfg.gateway.id, ...(i.measurement ? { measurement: i.measurement } : {}), ...(i.username ? { username: i.username } : {}), ...(i.password ? { password: i.password } : {}) });
  }
  const file = join(cfg.storage.path, 'store.db');
  if (!existsSync(file)) throw new GatewayError(ErrorCodes.STORE, `no embedded store at ${file} (storage.path of the gateway config)`);
  const { openStore } = await import('../ingest/store.js');
  const { storeFacts } = await import('./source-store.js');
  // read-only use: no retention timer, limits never enforced from here
  const store = openStore({ path: cfg.storage.path, maxSizeBytes: cfg.storage.maxSize ?? Number.MAX_SAFE_INTEGER, retentionMs: Number.MAX_SAFE_INTEGER, limitsIntervalMs: 0 });
  return storeFacts(store, { close: true });
}

/** Prints the report to PDF with headless Chromium (playwright-core), or explains why it cannot. */
export async function printPdf(html: string, out: string, executablePath = process.env.FGW_CHROMIUM ?? '/usr/bin/chromium'): Promise<void> {
  if (!existsSync(executablePath)) {
    throw new GatewayError(ErrorCodes.USAGE, `--pdf needs Chromium, not found at ${executablePath}: install it (Debian: apt-get install chromium) or set FGW_CHROMIUM to its path; the JSON and HTML reports were written`);
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    await page.setContent(html, { waitUntil: 'load' });
    await page.pdf({ path: out, format: 'A4', printBackground: true, margin: { top: '14mm', bottom: '14mm', left: '12mm', right: '12mm' } });
  } finally {
    await browser.close();
  }
}

function write(path: string, text: string | Buffer): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeFileSync(path, text);
}

/** The verification itself, without argument parsing or printing (tests and the dashboard call it). */
export async function verify(args: VerifyArgs, cfg: GatewayConfigLike, io?: VerifyIo & { tty?: boolean }): Promise<VerifyResult> {
  const loaded = loadProject(args.project);
  const policy = loadPolicy(args.policy ?? loaded.project.policy ?? DEFAULT_POLICY, args.policy ? process.cwd() : dirname(loaded.path));
  const from = parseWindowTime(args.from, policy.offsetMs, '--from');
  const to = parseWindowTime(args.to, policy.offsetMs, '--to');
  validateInput({ project: loaded.project, projectFile: loaded.path, policy, from, to });
  const now = Date.now();
  if (to > now) {
    // slots after now would count as missing: refuse rather than judge the future
    throw new GatewayError(ErrorCodes.VERIFY_INPUT, `--to ${new Date(to).toISOString()} is in the future (now ${new Date(now).toISOString()}); use --to now or an earlier time`, { details: ['window.to: in the future'] });
  }

  let orders: OrderMatch | undefined;
  if (loaded.erpOrdersPath && loaded.mesOrdersPath) {
    const read = (p: string, field: string) => {
      try {
        return readFileSync(p, 'utf8');
      } catch (e) {
        throw new GatewayError(ErrorCodes.VERIFY_INPUT, `${loaded.path}: evidence.${field}: cannot read ${p}: ${(e as Error).message}`, { cause: e, details: [`${loaded.path}: evidence.${field}: cannot read ${p}`] });
      }
    };
    orders = matchOrders(read(loaded.erpOrdersPath, 'erpOrders'), loaded.project.evidence.erpOrders!, read(loaded.mesOrdersPath, 'mesOrders'), loaded.project.evidence.mesOrders!, { from, to, offsetMs: policy.offsetMs });
  }

  const devices = deviceSpecs(cfg);
  const src = await openSource(cfg, args.source);
  let facts;
  try {
    const progress = io?.tty
      ? (done: number, total: number, what: string) => io.err(`\r\x1b[Kverify: ${done}/${total} ${what}${done === total ? '\n' : ''}`)
      : undefined;
    facts = await gatherFacts(src, devices, { from, to, slotMinMs: policy.values.measure.slotMin, offsetMs: policy.offsetMs, ...(progress ? { progress } : {}) });
  } finally {
    await src.close();
  }
  return evaluate({
    project: loaded.project,
    projectFile: loaded.path,
    policy,
    devices,
    registeredSystems: registeredSystemsOf(cfg),
    facts,
    ...(orders ? { orders } : {}),
    preliminary: args.preliminary,
    source: args.source,
    gateway: { id: cfg.gateway.id, ...(cfg.gateway.site ? { site: cfg.gateway.site } : {}) },
  });
}

export async function runVerify(argv: string[], io: VerifyIo): Promise<number> {
  let args: VerifyArgs;
  try {
    args = parseVerifyArgs(argv);
    const { loadConfig } = await import('../config/load.js');
    const loadedCfg = loadConfig(args.config) as unknown as { config: GatewayConfigLike } | GatewayConfigLike;
    const cfg = 'config' in loadedCfg ? loadedCfg.config : loadedCfg;
    const result = await verify(args, cfg, { ...io, tty: process.stderr.isTTY === true });
    if (args.json) write(args.json, `${JSON.stringify(result, null, 2)}\n`);
    const html = args.html || args.pdf ? renderHtml(result, args.lang) : '';
    if (args.html) write(args.html, html);
    const { formatFen } = await import('./decimal.js');
    io.out(
      `${result.classification}${result.preliminary ? ' (preliminary)' : ''}: networking rate ${result.networkingRate.value === null ? 'n/a' : `${(result.networkingRate.value * 100).toFixed(2)}%`}, subsidy ${formatFen(result.subsidy.totalFen)} 元 (${result.subsidy.recommended})${result.subsidy.pendingFen ? ` + ${formatFen(result.subsidy.pendingFen)} 元 pending` : ''}\n`,
    );
    if (args.pdf) {
      mkdirSync(dirname(resolve(args.pdf)), { recursive: true });
      await printPdf(html, args.pdf);
    }
    return 0;
  } catch (e) {
    if (isGatewayError(e)) {
      io.err(`${e.code}: ${e.message}\n${e.details.filter((d) => !e.message.includes(d)).map((d) => `  ${d}\n`).join('')}`);
      return e.code === ErrorCodes.USAGE || e.code === ErrorCodes.VERIFY_INPUT || e.code === ErrorCodes.POLICY || e.code.startsWith('GW_ERR_CONFIG') ? 2 : 1;
    }
    io.err(`verify failed: ${errorText(e)}\n`);
    return 1;
  }
}
