/**
 * `fgw verify`: the thin shell around verify/run.ts. Parses the options, loads the gateway configs
 * it is given, runs the verification and writes the JSON result, the HTML report and, when Chromium
 * is installed, the PDF; or, with --reproduce, re-runs the command a JSON result records and
 * compares its digests.
 *
 * Exit codes (io.ts): 0 report written (whatever the verdict) or reproduced; 2 bad usage or input
 * (a config, project or policy that does not validate; Chromium missing for --pdf: the JSON and
 * HTML are written first); 1 anything else (a backend failed, or --reproduce found a difference).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ErrorCodes, GatewayError } from '../../config/errors.js';
import type { ReportHeader, VerifyResult } from '../../verify/evaluate.js';
import type { Lang } from '../../verify/i18n.js';
import { printPdf } from '../../verify/pdf.js';
import { renderHtml } from '../../verify/report-html.js';
import { runVerification, type RunOptions } from '../../verify/run.js';
import { loadConfig } from '../config.js';
import { joinRelativeTimes, usage, type Command, type Io } from './io.js';

interface VerifyArgs {
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
} as const;

function parse(argv: readonly string[]) {
  return parseArgs({ args: joinRelativeTimes(argv), options: OPTIONS, strict: true, allowPositionals: false }).values;
}

function parseVerifyArgs(argv: readonly string[]): VerifyArgs {
  const a = parse(argv);
  if (a.reproduce !== undefined) usage('--reproduce takes no other option');
  if (!a.config?.length) usage('--config is required');
  for (const k of ['project', 'from', 'to'] as const) if (!a[k]) usage(`--${k} is required`);
  if (!a.json && !a.html && !a.pdf) usage('give at least one of --json, --html, --pdf');
  const source = a.source ?? 'store';
  if (source !== 'store' && source !== 'influx') usage(`--source must be store or influx, got "${source}"`);
  const lang = a.lang ?? 'zh';
  if (lang !== 'zh' && lang !== 'en') usage(`--lang must be zh or en, got "${lang}"`);
  const out: VerifyArgs = { configs: a.config, project: a.project!, from: a.from!, to: a.to!, source, preliminary: a.preliminary === true, lang };
  for (const k of ['policy', 'json', 'html', 'pdf'] as const) if (a[k] !== undefined) out[k] = a[k];
  return out;
}

function write(path: string, text: string | Buffer): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeFileSync(path, text);
}

function runOptions(args: VerifyArgs, argv: readonly string[], io?: Io & { tty?: boolean }, cwd?: string): RunOptions {
  const progress = io?.tty
    ? (done: number, total: number, what: string) => io.err(`\r\x1b[Kverify: ${done}/${total} ${what}${done === total ? '\n' : ''}`)
    : undefined;
  return {
    gateways: args.configs.map((file) => {
      const loaded = loadConfig(resolve(cwd ?? process.cwd(), file));
      return { config: loaded.config, path: loaded.path };
    }),
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

/**
 * `--reproduce result.json`: runs the command the result records (its `report.command`, in its
 * `report.cwd`) again over the recorded window (`window.fromMs`/`toMs`, so `--to now` means the same
 * instant), writing nothing, and compares the facts digest and every input hash. 0: both match;
 * 1: something differs (each difference printed).
 */
async function reproduce(file: string, io: Io): Promise<number> {
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
    ...runOptions(args, argv, undefined, h.cwd),
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
function compareHeaders(was: ReportHeader, now: ReportHeader): string[] {
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

async function runVerify(argv: string[], io: Io): Promise<number> {
  const a = parse(argv);
  if (a.reproduce !== undefined) {
    if (argv.filter((x) => x.startsWith('--')).length > 1) usage('--reproduce takes no other option');
    return await reproduce(a.reproduce, io);
  }
  const args = parseVerifyArgs(argv);
  const result = await runVerification(runOptions(args, argv, { ...io, tty: process.stderr.isTTY === true }));
  if (args.json) write(args.json, `${JSON.stringify(result, null, 2)}\n`);
  const html = args.html || args.pdf ? renderHtml(result, args.lang) : '';
  if (args.html) write(args.html, html);
  const { formatFen } = await import('../../verify/decimal.js');
  io.out(
    `${result.classification}${result.preliminary ? ' (preliminary)' : ''}: networking rate ${result.networkingRate.value === null ? 'n/a' : `${(result.networkingRate.value * 100).toFixed(2)}%`}, subsidy ${formatFen(result.subsidy.totalFen)} 元 (${result.subsidy.recommended})${result.subsidy.pendingFen ? ` + ${formatFen(result.subsidy.pendingFen)} 元 pending` : ''}; report ${result.report?.number}\n`,
  );
  if (args.pdf) {
    mkdirSync(dirname(resolve(args.pdf)), { recursive: true });
    await printPdf(html, args.pdf);
  }
  return 0;
}

export const command: Command = { run: runVerify };
