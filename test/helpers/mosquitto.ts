/**
 * A real Mosquitto broker for tests: `mosquitto -c <conf>` on a free loopback port (Mosquitto has
 * no port 0), with a temp dir for its config and, when asked, its persistence file.
 * - max_queued_messages is raised (the default 1000 silently drops QoS 1 messages for an offline
 *   persistent session).
 * - As root, Mosquitto drops to user "mosquitto" unless the config says `user root`; with a
 *   root-owned temp dir that would make persistence fail, so root runs stay root.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { freePort } from './net.js';
import { startProcess, type Proc } from './proc.js';
import { tempDir } from './tmp.js';
import { waitFor } from './wait.js';

export interface MosquittoOptions {
  /** keep sessions and queued messages on disk across restart() (default false) */
  persistence?: boolean;
  /** max_queued_messages (default 1,000,000) */
  maxQueued?: number;
  /** also listen for MQTT over WebSockets on a second free port */
  websockets?: boolean;
  /** allow clients without user name (default true) */
  allowAnonymous?: boolean;
  /** lines for the main listener (e.g. cafile/certfile/keyfile/require_certificate for TLS) */
  listenerLines?: string[];
  /** extra config lines */
  extra?: string[];
}

export interface Mosquitto {
  port: number;
  url: string;
  /** ws://127.0.0.1:PORT when websockets was asked for */
  wsUrl?: string;
  dir: string;
  /** what mosquitto printed so far (current run) */
  output(): string;
  /** SIGTERM: mosquitto saves persistence and exits */
  stop(): Promise<void>;
  /** starts again on the same port(s) (after stop() or kill()) */
  restart(): Promise<void>;
  /** SIGKILL: no chance to save */
  kill(): Promise<void>;
  /** stop and remove the temp dir */
  close(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const tmp = tempDir('fgw-mosq-');
  const port = await freePort();
  const wsPort = opts.websockets ? await freePort() : undefined;
  const conf = join(tmp.path, 'mosquitto.conf');
  const lines = [
    'per_listener_settings false',
    `allow_anonymous ${opts.allowAnonymous ?? true}`,
    `listener ${port} 127.0.0.1`,
    ...(opts.listenerLines ?? []),
    `max_queued_messages ${opts.maxQueued ?? 1_000_000}`,
    'max_inflight_messages 100',
    'log_dest stderr', // stdout is block-buffered when not a tty
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
  ];
  if (wsPort !== undefined) lines.push(`listener ${wsPort} 127.0.0.1`, 'protocol websockets');
  if (process.getuid?.() === 0) lines.push('user root');
  if (opts.persistence) lines.push('persistence true', `persistence_location ${tmp.path}/`, 'persistence_file mosquitto.db', 'autosave_interval 1');
  else lines.push('persistence false');
  lines.push(...(opts.extra ?? []));
  writeFileSync(conf, `${lines.join('\n')}\n`);

  let proc: Proc;
  const launch = async () => {
    proc = startProcess('mosquitto', ['-c', conf]);
    await waitFor(
      `mosquitto listening on ${port}`,
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`mosquitto exited: ${proc.output()}`);
        return (await portOpen(port)) && (wsPort === undefined || (await portOpen(wsPort)));
      },
      { timeoutMs: 10_000, everyMs: 20 },
    );
  };
  await launch();
  const m: Mosquitto = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dir: tmp.path,
    output: () => proc.output(),
    stop: () => proc.kill('SIGTERM'),
    kill: () => proc.kill('SIGKILL'),
    restart: async () => {
      await proc.kill('SIGTERM');
      await launch();
    },
    close: async () => {
      await proc.kill('SIGTERM');
      tmp.cleanup();
    },
  };
  if (wsPort !== undefined) m.wsUrl = `ws://127.0.0.1:${wsPort}`;
  return m;
}
