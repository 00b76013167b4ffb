/**
 * `fgw verify`: the thin shell around run.ts. Parses the options (node:util parseArgs), runs the
 * verification and writes the JSON result, the HTML report and, when Chromium is installed, the
 * PDF; or, with --reproduce, re-runs the command a JSON result records and compares its digests.
 *
 *   fgw verify --config gateway.yaml [--config b.yaml ...] --project project.yaml --from <t> --to <t>
 *              [--source store|influx] [--preliminary] [--lang zh|en] [--policy <name|path>]
 *              --json out.json --html out.html [--pdf out.pdf]
 *   fgw verify --reproduce result.json
 *
 * Exit codes: 0 report written (whatever the verdict) or reproduced; 2 bad usage or input (coded
 * error printed); 1 anything else (a backend failed, the PDF could not be printed: JSON and HTML are
 * written first; or --reproduce found a difference).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ErrorCodes, GatewayError, isGatewayError, errorText } from '../config/errors.js';
import type { ReportHeader, VerifyResult } from './evaluate.js';
import type { Lang } from './i18n.js';
import { renderHtml } from './report-html.js';
import { runVerification, type RunOptions } from './run.js';

export { parseWindowTime } from './run.js';

export interface VerifyIo {
  out(s: string): void;
  err(s: string): void;
}

export interface VerifyArgs {
  /** one gateway config file per gateway */
  configs: string[];
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
  'usage: fgw verify --config gateway.yaml [--config b.yaml ...] --project project.yaml --from <time> --to <time> [--source store|influx] [--preliminary] [--lang zh|en] [--policy <name|path>] --json out.json --html out.html [--pdf out.pdf]\n       fgw verify --reproduce result.json';

const OPTIONS = {
  config: { type: 'string', multiple: true },
  project: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  source: { type: 'string' },
  preliminary: { type: 'boolean' },
  lang: { type: 'string' },
  policy: { type: 'string' },
  json: { type: 'string' },
  html: { type: 'string' },
  pdf: { type: 'string' },
  reproduce: { type: 'string' },
  help: { type: 'boolean' },
} as const;

function usage(message: string): never {
  throw new GatewayError(ErrorCodes.USAGE, `${message}\n${USAGE}`);
}

/** `--from -30m`: a relative time starts with "-", which parseArgs would take for an option */
function joinRelativeTimes(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if ((a === '--from' || a === '--to') && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

function parse(argv: readonly string[]) {
  try {
    return parseArgs({ args: joinRelativeTimes(argv), options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (e) {
    // ERR_PARSE_ARGS_UNKNOWN_OPTION, ..._INVALID_OPTION_VALUE, ..._UNEXPECTED_POSITIONAL
    return usage((e as Error).message);
  }
}

export function parseVerifyArgs(argv: readonly string[]): VerifyArgs {
  const a = parse(argv);
  if (a.help) throw new GatewayError(ErrorCodes.USAGE, USAGE);
  if (a.reproduce !== undefined) usage('--reproduce takes no other option');
  if (!a.config?.length) usage('--config is required');
  for (const k of ['project', 'from', 'to'] as const) if (!a[k]) usage(`--${k} is required`);
  if (!a.json && !a.html && !a.pdf) usage('give at least one of --json, --html, --pdf');
  const source = a.source ?? 'store';
  if (source !== 'store' && source !== 'influx') throw new GatewayError(ErrorCodes.USAGE, `--source must be store or influx, got "${source}"`);
  const lang = a.lang ?? 'zh';
  if (lang !== 'zh' && lang !== 'en') throw new GatewayError(ErrorCodes.USAGE, `--lang must be zh or en, got "${lang}"`);
  const out: VerifyArgs = { configs: a.config, project: a.project!, from: a.from!, to: a.to!, source, preliminary: a.preliminary === true, lang };
  for (const k of ['policy', 'json', 'html', 'pdf'] as const) if (a[k] !== undefined) out[k] = a[k];
  return out;
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

function runOptions(args: VerifyArgs, argv: readonly string[], io?: VerifyIo & { tty?: boolean }): RunOptions {
  const progress = io?.tty ? (done: number, total: number, what: string) => io.err(`\r\x1b[Kverify: ${done}/${total} ${what}${done === total ? '\n' : ''}`) : undefined;
  return {
    gateways: args.configs,
    project: args.project,
    ...(args.policy ? { policy: args.policy } : {}),
    from: args.from,
    to: args.to,
    source: { kind: args.source },
    preliminary: args.preliminary,
    command: ['verify', ...argv],
    ...(progress ? { progress } : {}),
  };
}

/** The verification itself, without writing anything (tests call it). */
export async function verify(args: VerifyArgs, argv: readonly string[] = [], io?: VerifyIo & { tty?: boolean }): Promise<VerifyResult> {
  return runVerification(runOptions(args, argv, io));
}

/**
 * `--reproduce result.json`: runs the command the result records (its `report.command`, in its
 * `report.cwd`) again over the recorded window (`window.fromMs`/`toMs`, so `--to now` means the same
 * instant), writing nothing, and compares the facts digest and every input hash. 0: both match;
 * 1: something differs (each difference printed).
 */
export async function reproduce(file: string, io: VerifyIo): Promise<number> {
  let recorded: Partial<VerifyResult>;
  try {
    recorded = JSON.parse(readFileSync(file, 'utf8')) as Partial<VerifyResult>;
  } catch (e) {
    throw new GatewayError(ErrorCodes.VERIFY_INPUT, `--reproduce: cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  const h = recorded.report;
  if (recorded.kind !== 'fgw-verify-result' || !h?.command?.length || !h.factsDigest || !recorded.window) {
    throw new GatewayError(ErrorCodes.VERIFY_INPUT, `--reproduce: ${file} is not an fgw verify result with a report header (schema 2)`);
  }
  const [cmd, ...argv] = h.command;
  if (cmd !== 'verify') throw new GatewayError(ErrorCodes.VERIFY_INPUT, `--reproduce: ${file} records the command "${h.command.join(' ')}", not fgw verify`);
  const args = parseVerifyArgs(argv);
  const again = await runVerification({
    ...runOptions(args, argv),
    from: recorded.window.fromMs,
    to: recorded.window.toMs,
    cwd: h.cwd,
  });
  const now = again.report!;
  const diffs = compareHeaders(h, now);
  if (diffs.length === 0) {
    io.out(`reproduced: report ${h.number}: facts digest ${h.factsDigest} and ${h.inputs.length} input hashes match\n`);
    return 0;
  }
  io.out(`NOT reproduced: report ${h.number} (now ${now.number}):\n${diffs.map((d) => `  ${d}\n`).join('')}`);
  return 1;
}

/** What differs between a recorded header and a re-run: facts digest, input hashes, inputs added or missing. */
export function compareHeaders(was: ReportHeader, now: ReportHeader): string[] {
  const out: string[] = [];
  if (was.factsDigest !== now.factsDigest) out.push(`facts digest: recorded ${was.factsDigest}, now ${now.factsDigest} (the data in the window changed)`);
  const key = (i: ReportHeader['inputs'][number]) => `${i.role} ${i.path}`;
  const nowBy = new Map(now.inputs.map((i) => [key(i), i]));
  const wasBy = new Map(was.inputs.map((i) => [key(i), i]));
  for (const i of was.inputs) {
    const n = nowBy.get(key(i));
    if (!n) out.push(`input ${key(i)}: recorded, not used now`);
    else if (n.sha256 !== i.sha256) out.push(`input ${key(i)}: sha256 recorded ${i.sha256}, now ${n.sha256}`);
  }
  for (const i of now.inputs) if (!wasBy.has(key(i))) out.push(`input ${key(i)}: used now, not recorded`);
  return out;
}

export async function runVerify(argv: string[], io: VerifyIo): Promise<number> {
  try {
    const a = parse(argv);
    if (a.reproduce !== undefined) {
      if (argv.filter((x) => x.startsWith('--')).length > 1) usage('--reproduce takes no other option');
      return await reproduce(a.reproduce, io);
    }
    const args = parseVerifyArgs(argv);
    const result = await verify(args, argv, { ...io, tty: process.stderr.isTTY === true });
    if (args.json) write(args.json, `${JSON.stringify(result, null, 2)}\n`);
    const html = args.html || args.pdf ? renderHtml(result, args.lang) : '';
    if (args.html) write(args.html, html);
    const { formatFen } = await import('./decimal.js');
    io.out(
      `${result.classification}${result.preliminary ? ' (preliminary)' : ''}: networking rate ${result.networkingRate.value === null ? 'n/a' : `${(result.networkingRate.value * 100).toFixed(2)}%`}, subsidy ${formatFen(result.subsidy.totalFen)} 元 (${result.subsidy.recommended})${result.subsidy.pendingFen ? ` + ${formatFen(result.subsidy.pendingFen)} 元 pending` : ''}; report ${result.report?.number}\n`,
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
