/** `fgw hub --config hub.yaml`: serves the pilot-monitoring hub until SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { errorText } from '../../config/errors.js';
import { REDACT } from '../../config/redact.js';
import { checkHub } from '../hub/check.js';
import { loadHubConfig } from '../hub/config.js';
import { usage, type Command } from './io.js';

function listenOf(listen: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(listen)!;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export const command: Command = {
  async run(argv, io) {
    const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, strict: true });
    if (!values.config) usage('--config is required');
    const loaded = loadHubConfig(values.config);
    const { errors, warnings, projects } = checkHub(loaded);
    for (const w of warnings) io.err(`warning: ${w}`);
    // a broken project folder is shown on the page with its error; the others are served
    for (const e of errors) io.err(`warning: ${e}`);
    const log = pino({ level: loaded.config.hub.logLevel, base: { hub: loaded.config.hub.id }, redact: REDACT });
    const { buildHubServer } = await import('../hub/server.js');
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
  },
};
