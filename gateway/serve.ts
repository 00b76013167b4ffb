/**
 * `fgw run`: the runtime plus the API server, signal handling (SIGINT/SIGTERM stop cleanly,
 * SIGHUP reloads the config) and `--for` (stop after a duration, flushing everything).
 */
import type { FastifyInstance } from 'fastify';
import { longTimeout } from '../config/clock.js';
import { errorText } from '../config/errors.js';
import { isLoopbackListen } from '../config/load.js';
import type { GatewayConfig } from './schema.js';
import type { Io } from './cli/io.js';
import { GatewayRuntime } from './runtime.js';

export interface RunningGateway {
  runtime: GatewayRuntime;
  server?: FastifyInstance;
  /** the URL the API listens on */
  url?: string;
  /** resolves with the exit code once stopped (by a signal, by `forMs`, or by stop()) */
  untilStopped(forMs?: number): Promise<number>;
  stop(): Promise<void>;
}

export function listenAddress(config: GatewayConfig): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(config.http.listen)!;
  let host = m[1]!.replace(/^\[|\]$/g, '');
  // with no tokens the API is read-only and only for this machine
  if (config.http.tokens.length === 0 && !isLoopbackListen(config.http.listen)) host = '127.0.0.1';
  return { host, port: Number(m[2]) };
}

export async function runGateway(opts: { config: GatewayConfig; configPath?: string; api?: boolean; io: Io; quiet?: boolean }): Promise<RunningGateway> {
  const runtime = await GatewayRuntime.start({ config: opts.config, configPath: opts.configPath });
  let server: FastifyInstance | undefined;
  let url: string | undefined;
  if (opts.api !== false) {
    try {
      const { buildServer } = await import('./api/server.js');
      const srv = await buildServer(runtime);
      server = srv;
      const { host, port } = listenAddress(opts.config);
      url = await srv.listen({ host, port });
      if (!opts.quiet) opts.io.err(`API and dashboard: ${url}/  (OpenAPI: ${url}/docs)`);
    } catch (e) {
      runtime.log.error({ err: errorText(e) }, 'API server not started; collection goes on');
      opts.io.err(`warning: API server not started: ${errorText(e)}`);
    }
  }

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      try {
        await server?.close();
      } catch {
        /* closing a server that failed to listen */
      }
      await runtime.stop();
    })();
    return stopped;
  };

  return {
    runtime,
    server,
    url,
    stop,
    untilStopped(forMs) {
      return new Promise<number>((resolve) => {
        const done = (code: number) => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          process.off('SIGHUP', onHup);
          if (timer) clearTimeout(timer.__timer);
          stop().then(
            () => resolve(code),
            (e) => {
              opts.io.err(`error while stopping: ${errorText(e)}`);
              resolve(1);
            },
          );
        };
        const onSignal = (sig: NodeJS.Signals) => {
          runtime.log.info({ signal: sig }, 'stopping');
          done(0);
        };
        const onHup = () => {
          runtime
            .reload()
            .catch((e) => runtime.log.error({ err: errorText(e), details: (e as { details?: unknown }).details }, 'reload failed; keeping the running config'));
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        process.on('SIGHUP', onHup);
        const timer = forMs === undefined ? undefined : longTimeout(() => done(0), forMs);
      });
    },
  };
}
