/**
 * `fgw`: the command line. One file per command in this folder, each exporting a `Command` (its
 * usage and its body, parsing its options with node:util parseArgs); a command is loaded only when
 * used, so `fgw check` does not pay for loading an OPC UA stack. Exit codes: io.ts.
 */
import { reportFailure, stdio, type Command, type Io } from './io.js';

interface Entry {
  /** the usage lines, shown by `fgw help` before the command is loaded */
  usage: string;
  load(): Promise<{ command: Command }>;
}

const COMMANDS: Record<string, Entry> = {
  run: { usage: 'fgw run --config <file> [--for <duration>] [--no-api]     collect, store, forward and serve the API', load: () => import('./run.js') },
  check: {
    usage:
      'fgw check --config <file>                       validate a config (exit 2 with one line per problem)\nfgw check --hub <hub.yaml>                      validate a hub config and its project folders',
    load: () => import('./check.js'),
  },
  hub: { usage: 'fgw hub --config <hub.yaml>                     serve the pilot-monitoring hub over a central InfluxDB', load: () => import('./hub.js') },
  query: {
    usage: 'fgw query --config <file> --device <id> [--tag <name>] [--from <t>] [--to <t>] [--limit N] [--json] [--source store|influx]',
    load: () => import('./query.js'),
  },
  demo: {
    usage: 'fgw demo [--for <duration>] [--dir <dir>] [--port N] [--seed N]   run the simulated thermos-cup line (npm start)',
    load: () => import('./demo.js'),
  },
  verify: {
    usage:
      'fgw verify --config <file> [--config <file> ...] --project <file> --from <t> --to <t> [--source store|influx] [--preliminary]\n           [--lang zh|en] [--policy <name|path>] --json <out> --html <out> [--pdf <out>]\nfgw verify --reproduce <result.json>            re-run a verification and compare its facts and inputs',
    load: () => import('./verify.js'),
  },
  probe: {
    usage:
      'fgw probe modbus (--host <host> [--port 502] [--framing tcp|rtu-over-tcp] | --serial <path> [--baud 9600] [--parity none|even|odd]\n           [--data-bits 8] [--stop-bits 1]) [--unit 1] [--area holding|input|coil|discrete] [--address 0] [--count 8] [--timeout 1s] [--all]\n                                                read once; print the registers raw (hex) and under each type and byte order\n                                                (--address is 0-based: holding "40001" is --address 0)',
    load: () => import('./probe.js'),
  },
  browse: {
    usage:
      'fgw browse opc.tcp://host:port [--security None|Sign|SignAndEncrypt] [--policy Basic256Sha256|Aes128_Sha256_RsaOaep|Aes256_Sha256_RsaPss]\n           [--user u --password p] [--depth N] [--root nodeId] [--pki dir | --config gateway.yaml] [--trust-unknown] [--include-server]\n                                                print the variables as ready-to-paste tag entries',
    load: () => import('./browse.js'),
  },
  pki: {
    usage: 'fgw pki trust <server-cert.der|pem> [--pki <dir> | --config <gateway.yaml>]\nfgw pki list [--pki <dir> | --config <gateway.yaml>]',
    load: () => import('./pki.js'),
  },
  store: {
    usage:
      'fgw store salvage <damaged store file> --config <file> [--json] [--force]\n                                                read what can be read from a damaged store (moved aside\n                                                as store.db.damaged-*) into the live store',
    load: () => import('./store.js'),
  },
};

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');

const HELP = `fgw — factory data-collection gateway

Usage:
${Object.values(COMMANDS)
  .map((c) => indent(c.usage))
  .join('\n')}

Times: ISO 8601 (2026-10-01T00:00:00+08:00), epoch ms, "now" or "-15m".
Exit codes: 0 done; 2 bad usage or invalid input (config, project, policy); 1 a runtime failure.
\`fgw <command> --help\` prints the usage of one command.
`;

/** The usage block of one command as `fgw <command> --help` and a usage error print it. */
function usageOf(name: string): string | undefined {
  const c = COMMANDS[name];
  return c ? `usage:\n${indent(c.usage)}` : undefined;
}

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    const one = cmd === 'help' && rest[0] !== undefined ? usageOf(rest[0]) : undefined;
    io.out(one ?? HELP);
    return cmd === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!entry) {
    io.err(`unknown command "${cmd}"\n\n${HELP}`);
    return 2;
  }
  const usage = usageOf(cmd)!;
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(usage);
    return 0;
  }
  try {
    const { command } = await entry.load();
    return await command.run(rest, io);
  } catch (e) {
    return reportFailure(e, io, usage);
  }
}
