/**
 * `fgw hub --config hub.yaml` serves the hub; `fgw check --hub hub.yaml` validates hub.yaml and
 * every project folder it points to (exit 2 with one line per problem).
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { ErrorCodes, GatewayError, errorText } from '../../config/errors.js';
import { REDACT } from '../../config/redact.js';
import type { Io } from '../cli.js';
import { loadHubConfig, loadProjects, type HubProject, type LoadedHub } from './config.js';

function listenOf(listen: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(listen)!;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** What is wrong (errors) or suspicious (warnings) in a loaded hub config and its projects. */
export function checkHub(loaded: LoadedHub): { errors: string[]; warnings: string[]; summary: string; projects: HubProject[] } {
  const projects = loadProjects(loaded.projectsDir);
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const p of projects) {
    if (!p.ok) {
      errors.push(`${p.dir}: ${p.error}`);
      for (const d of p.details) errors.push(`  ${d}`);
    }
  }
  const ids = new Set(projects.map((p) => p.id).filter((x): x is string => x !== undefined));
  loaded.config.http.tokens.forEach((t, i) => {
    for (const id of t.projects ?? []) if (!ids.has(id)) warnings.push(`http.tokens[${i}].projects: no project "${id}" in ${loaded.projectsDir} (yet)`);
  });
  if (projects.length === 0) warnings.push(`projects: no project folder (a sub-folder with project.yaml) in ${loaded.projectsDir}`);
  const ok = projects.filter((p) => p.ok);
  const gateways = ok.reduce((n, p) => n + (p.ok ? p.gateways.length : 0), 0);
  const devices = ok.reduce((n, p) => n + (p.ok ? p.devices.length : 0), 0);
  const summary = `ok: ${loaded.path}: hub ${loaded.config.hub.id}, ${projects.length} project(s) in ${loaded.projectsDir} (${gateways} gateways, ${devices} devices), ${loaded.config.http.tokens.length} token(s); reading ${loaded.config.influx.url} db ${loaded.config.influx.database}`;
  return { errors, warnings, summary, projects };
}

export function cmdCheckHub(file: string, io: Io): number {
  const loaded = loadHubConfig(file);
  const { errors, warnings, summary } = checkHub(loaded);
  for (const w of warnings) io.err(`warning: ${w}`);
  if (errors.length > 0) throw new GatewayError(ErrorCodes.CONFIG, `${loaded.path}: ${errors.filter((e) => !e.startsWith('  ')).length} project folder(s) cannot be read`, { details: errors });
  io.out(summary);
  return 0;
}

export async function runHub(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, strict: true });
  if (!values.config) throw new GatewayError(ErrorCodes.USAGE, 'usage: fgw hub --config hub.yaml');
  const loaded = loadHubConfig(values.config);
  const { errors, warnings, projects } = checkHub(loaded);
  for (const w of warnings) io.err(`warning: ${w}`);
  // a broken project folder is shown on the page with its error; the others are served
  for (const e of errors) io.err(`warning: ${e}`);
  const log = pino({ level: loaded.config.hub.logLevel, base: { hub: loaded.config.hub.id }, redact: REDACT });
  const { buildHubServer } = await import('./server.js');
  const hub = await buildHubServer(loaded, { log, projects });
  const { host, port } = listenOf(loaded.config.http.listen);
  const url = await hub.app.listen({ host, port });
  io.err(`hub: ${url}/  (projects: ${loaded.projectsDir}; InfluxDB ${hub.influx.url} db ${hub.influx.database})`);
  return await new Promise<number>((resolve) => {
    const stop = (sig: NodeJS.Signals) => {
      log.info({ signal: sig }, 'stopping');
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      hub.app.close().then(
        () => resolve(0),
        (e) => {
          io.err(`error while stopping: ${errorText(e)}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
