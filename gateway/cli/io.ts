/**
 * What every command shares: the `Io` it writes to, usage errors, option parsers for durations and
 * times, and the one exit-code policy of `fgw`:
 *
 *   0  done (a verification wrote its report, whatever the verdict)
 *   2  bad usage or invalid input: unknown option, missing argument, a config, project or policy
 *      file that does not validate (the coded error and one line per problem are printed)
 *   1  a runtime failure: a device, InfluxDB or the store failed, a reproduction differed
 */
import { parseDuration } from '../../config/common.js';
import { ErrorCodes, GatewayError, errorText, isGatewayError, type ErrorCode } from '../../config/errors.js';
import { parseTimeArg } from '../../config/time.js';

export interface Io {
  out(s: string): void;
  err(s: string): void;
}

export const stdio: Io = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
  err: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`),
};

/** One command of `fgw` (its usage lines are in index.ts, shown before it is loaded): the arguments after its name → the exit code. */
export interface Command {
  run(argv: string[], io: Io): Promise<number>;
}

/** The error codes that mean "the input is wrong" (exit 2); every other failure exits 1. */
const INPUT_CODES: ReadonlySet<ErrorCode> = new Set([
  ErrorCodes.USAGE,
  ErrorCodes.CONFIG,
  ErrorCodes.CONFIG_ENV,
  ErrorCodes.CONFIG_READ,
  ErrorCodes.VERIFY_INPUT,
  ErrorCodes.POLICY,
]);

/** node:util parseArgs's own errors (unknown option, missing value, unexpected positional) are usage errors. */
function isParseArgsError(e: unknown): e is Error {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

function exitCodeOf(e: unknown): 1 | 2 {
  if (isParseArgsError(e)) return 2;
  return isGatewayError(e) && INPUT_CODES.has(e.code) ? 2 : 1;
}

/** Prints a failure the one way every command does, with the command's usage after a usage error; returns the exit code. */
export function reportFailure(e: unknown, io: Io, usage?: string): number {
  if (isParseArgsError(e)) {
    io.err(`${ErrorCodes.USAGE}: ${e.message}`);
    if (usage) io.err(usage);
    return 2;
  }
  if (isGatewayError(e)) {
    io.err(`${e.code}: ${e.message}`);
    for (const d of e.details) if (!e.message.includes(d)) io.err(`  ${d}`);
    if (e.code === ErrorCodes.USAGE && usage && !e.message.includes(usage)) io.err(usage);
    return exitCodeOf(e);
  }
  io.err(`error: ${errorText(e)}`);
  return 1;
}

export function usage(message: string): never {
  throw new GatewayError(ErrorCodes.USAGE, message);
}

export function durationOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined) usage(`--${name}: expected a duration like "30s" or "5m", got "${v}"`);
  return ms;
}

export function timeOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const t = parseTimeArg(v);
  if (t === undefined) usage(`--${name}: expected ISO 8601, epoch ms, "now" or "-15m", got "${v}"`);
  return t;
}

/** `--from -30m`: a relative time starts with "-", which parseArgs would take for an option. */
export function joinRelativeTimes(argv: readonly string[], options: readonly string[] = ['--from', '--to']): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (options.includes(a) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
