/**
 * The mqtt.js client options of one broker connection, shared by the subscriber (connection.ts)
 * and the northbound publisher (north/client.ts): URL, credentials, TLS material (a PEM file path
 * or PEM text), protocol version, keepalive and connect timeout. Reconnects are the caller's
 * (capped, jittered backoff on the injected clock), never mqtt.js's.
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import { ErrorCodes, GatewayError } from '../../config/errors.js';

export interface BrokerSettings {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  rejectUnauthorized: boolean;
  protocolVersion: 4 | 5;
  /** ms */
  keepalive: number;
  /** ms */
  connectTimeout: number;
}

export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

function pem(value: string | undefined, what: string): Buffer | undefined {
  if (value === undefined) return undefined;
  if (value.includes('-----BEGIN')) return Buffer.from(value);
  try {
    return readFileSync(value);
  } catch (e) {
    throw new GatewayError(ErrorCodes.CONFIG, `${what}: cannot read "${value}"`, { cause: e });
  }
}

/** Reads the CA, certificate and key once (at start); `where` prefixes an error ("connection"). */
export function readTls(c: Pick<BrokerSettings, 'ca' | 'cert' | 'key'>, where: string): TlsMaterial {
  const out: TlsMaterial = {};
  const ca = pem(c.ca, `${where}.ca`);
  const cert = pem(c.cert, `${where}.cert`);
  const key = pem(c.key, `${where}.key`);
  if (ca) out.ca = ca;
  if (cert) out.cert = cert;
  if (key) out.key = key;
  return out;
}

export function clientOptions(c: BrokerSettings, clientId: string, clean: boolean, tls: TlsMaterial): IClientOptions {
  const opts: IClientOptions = {
    clientId,
    protocolVersion: c.protocolVersion,
    keepalive: Math.max(1, Math.round(c.keepalive / 1000)),
    connectTimeout: c.connectTimeout,
    clean,
    reconnectPeriod: 0, // reconnects are the caller's: backoff on the injected clock
    resubscribe: false, // the caller subscribes on every connect
    rejectUnauthorized: c.rejectUnauthorized,
  };
  if (c.username !== undefined) opts.username = c.username;
  if (c.password !== undefined) opts.password = c.password;
  Object.assign(opts, tls);
  return opts;
}
