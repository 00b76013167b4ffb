/**
 * `fgw`: the command line. Each command parses its own options (node:util parseArgs) and
 * commands owned by a module (probe, browse, pki, verify, store) are loaded only when used, so `fgw
 * check` does not pay for loading an OPC UA stack.
 */
import { parseArgs } from 'node:util';
import { parseDuration } from '../config/common.js';
import { ErrorCodes, GatewayError, errorText, isGatewayError } from '../config/errors.js';
import { loadConfig } from '../config/load.js';
import { collectGarbage } from './memory.js';
import { parseTimeArg } from '../config/time.js';

export interface Io {
  out(s: string): void;
  err(s: string): void;
}

const stdio: Io = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
  err: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`),
};

const HELP = `fgw — factory data-collection gateway

Usage:
  fgw run --config <file> [--for <duration>]      collect, store, forward and serve the API
  fgw check --config <file>                       validate a config (exit 2 with one line per problem)
  fgw check --hub <hub.yaml>                      validate a hub config and its project folders
  fgw hub --config <hub.yaml>                     serve the pilot-monitoring hub over a central InfluxDB
  fgw query --config <file> --device <id> [--tag <name>] [--from <t>] [--to <t>] [--limit N] [--json] [--source store|influx]
  fgw demo [--for <duration>] [--dir <dir>]       run the simulated thermos-cup line (npm start)
  fgw verify --config <file> [--config <file> ...] --project <file> --from <t> --to <t> [--source store|influx] [--preliminary] [--lang zh|en] --json <out> --html <out> [--pdf <out>]
  fgw verify --reproduce <result.json>             re-run a verification and compare its facts and inputs
  fgw probe modbus --host <h> [--port 502] --unit <id> --area holding --address 0 --count 8
  fgw browse opc.tcp://host:port [--security None|Sign|SignAndEncrypt] [--depth N]
  fgw pki trust <server-cert.der> --config <file> | fgw pki list --config <file>
  fgw store salvage <damaged store file> --config <file> [--json] [--force]
                                                  read what can be read from a damaged store (moved aside
                                                  as store.db.damaged-*) into the live store

Times: ISO 8601 (2026-10-01T00:00:00+08:00), epoch ms, "now" or "-15m".
`;

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run':
        return await cmdRun(rest, io);
      case 'check':
        return await cmdCheck(rest, io);
      case 'query':
        return await cmdQuery(rest, io);
      case 'demo':
        return await (await import('./demo.js')).runDemo(rest, io);
      case 'verify':
        return await (await import('../verify/cli.js')).runVerify(rest, io);
      case 'hub':
        return await (await import('./hub/cli.js')).runHub(rest, io);
      case 'probe': {
        const [proto, ...args] = rest;
        if (proto !== 'modbus') throw new GatewayError(ErrorCodes.USAGE, 'usage: fgw probe modbus --host <h> --unit <id> --area holding --address 0 --count 8');
        return await (await import('../adapters/modbus/probe.js')).runProbe(args, io);
      }
      case 'browse':
        return await (await import('../adapters/opcua/browse.js')).runBrowse(rest, io);
      case 'pki':
        return await (await import('../adapters/opcua/pki.js')).runPki(rest, io);
      case 'store':
        return await (await import('../ingest/salvage.js')).runStoreCommand(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(HELP);
        return cmd === undefined ? 2 : 0;
      default:
        io.err(`unknown command "${cmd}"\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    if (isGatewayError(e)) {
      io.err(`${e.code}: ${e.message}`);
      for (const d of e.details) io.err(`  ${d}`);
      return 2;
    }
    io.err(`error: ${errorText(e)}`);
    return 1;
  }
}

function usage(message: string): never {
  throw new GatewayError(ErrorCodes.USAGE, message);
}

function durationOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined) usage(`--${name}: expected a duration like "30s" or "5m", got "${v}"`);
  return ms;
}

function timeOpt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const t = parseTimeArg(v);
  if (t === undefined) usage(`--${name}: expected ISO 8601, epoch ms, "now" or "-15m", got "${v}"`);
  return t;
}

async function cmdCheck(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, hub: { type: 'string' } }, strict: true });
  if (values.hub) return (await import('./hub/cli.js')).cmdCheckHub(values.hub, io);
  if (!values.config) usage('fgw check --config <file> | fgw check --hub <hub.yaml>');
  const { config, path, warnings } = loadConfig(values.config);
  for (const w of warnings) io.err(`warning: ${w}`);
  const byProto = new Map<string, number>();
  for (const d of config.devices) byProto.set(d.protocol, (byProto.get(d.protocol) ?? 0) + 1);
  const tags = config.devices.reduce((n, d) => n + d.tags.length, 0);
  io.out(`ok: ${path}: gateway ${config.gateway.id}, ${config.devices.length} devices (${[...byProto].map(([p, n]) => `${n} ${p}`).join(', ') || 'none'}), ${tags} tags; store ${config.storage.path}${config.influx ? `; forwarding to ${config.influx.url} db ${config.influx.database}` : '; no InfluxDB (embedded store only)'}${config.north.length ? `; north: ${config.north.map((t) => `${t.name} (${t.format}${t.enabled ? '' : ', disabled'})`).join(', ')}` : ''}`);
  return 0;
}

async function cmdRun(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, for: { type: 'string' }, 'no-api': { type: 'boolean' } },
    strict: true,
  });
  if (!values.config) usage('fgw run --config <file> [--for <duration>]');
  const forMs = durationOpt(values.for, 'for');
  const loaded = loadConfig(values.config);
  for (const w of loaded.warnings) io.err(`warning: ${w}`);
  const { runGateway } = await import('./serve.js');
  const gw = await runGateway({ config: loaded.config, configPath: loaded.path, api: !values['no-api'], io });
  // the config parser's garbage, once the devices are started (gateway/memory.ts)
  collectGarbage();
  return await gw.untilStopped(forMs);
}

async function cmdQuery(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      device: { type: 'string', short: 'd' },
      tag: { type: 'string', short: 't' },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      source: { type: 'string' },
    },
    strict: true,
  });
  if (!values.config || !values.device) usage('fgw query --config <file> --device <id> [--tag <name>] [--from <t>] [--to <t>] [--json]');
  const source = values.source ?? 'store';
  if (source !== 'store' && source !== 'influx') usage(`--source: expected store or influx, got "${source}"`);
  const limit = values.limit === undefined ? 10_000 : Number(values.limit);
  if (!Number.isInteger(limit) || limit <= 0) usage(`--limit: expected a positive integer, got "${values.limit}"`);
  const { config } = loadConfig(values.config);
  const q = { device: values.device, tag: values.tag, from: timeOpt(values.from, 'from'), to: timeOpt(values.to, 'to'), limit };
  const { queryReadings } = await import('./query.js');
  const rows = await queryReadings(config, source, q);
  if (values.json) io.out(JSON.stringify(rows, null, 2));
  else {
    for (const r of rows) io.out(`${new Date(r.ts).toISOString()}  ${r.device}  ${r.tag}  ${r.value === null ? '(no value)' : String(r.value)}  ${r.quality}${r.error ? `  ${r.error}` : ''}`);
    io.err(`${rows.length} readings`);
  }
  return 0;
}
