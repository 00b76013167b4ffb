/**
 * Shared pieces of the MQTT tests: a real embedded store as the sink, a context, a device config
 * parsed by the real schema, and publishers (mqtt.js, and mosquitto_pub: an implementation we did
 * not write).
 */
import { execFile } from 'node:child_process';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { promisify } from 'node:util';
import mqttModule from '../../adapters/mqtt/index.js';
import type { MqttAdapter } from '../../adapters/mqtt/adapter.js';
import { mqttDeviceSchema } from '../../adapters/mqtt/schema.js';
import type { AdapterContext, Sink } from '../../adapters/types.js';
import { systemClock } from '../../config/clock.js';
import { openStore } from '../../ingest/store/index.js';
import type { Store } from '../../ingest/types.js';
import { tempDir } from '../helpers/tmp.js';

const run = promisify(execFile);

export const silent = pino({ level: 'silent' });

export function newStore(): { store: Store; dir: string; close: () => Promise<void> } {
  const t = tempDir('fgw-mqtt-store-');
  const store = openStore({ path: t.path, maxSizeBytes: 1 << 30, retentionMs: 365 * 86_400_000, limitsIntervalMs: 0 });
  return {
    store,
    dir: t.path,
    close: async () => {
      await store.close();
      t.cleanup();
    },
  };
}

export function context(sink: Sink, dataDir = '', shared = new Map<string, unknown>()): AdapterContext {
  return { sink, log: silent, clock: systemClock, dataDir, gateway: { id: 'gw-test' }, shared };
}

/** Parses a device through the real schema and creates the adapter. */
export function createAdapter(device: unknown, ctx: AdapterContext): MqttAdapter {
  return mqttModule.create(mqttDeviceSchema.parse(device), ctx) as MqttAdapter;
}

export async function publisher(url: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 200, ...opts });
}

/** Publishes with the Mosquitto project's own client, QoS 1. */
export async function mosquittoPub(port: number, topic: string, message: string | null, extra: string[] = []): Promise<void> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', topic, ...extra];
  if (message === null) args.push('-n');
  else args.push('-m', message);
  await run('mosquitto_pub', args);
}

/** Every value of one series in the store, in time order. */
export function values(store: Store, device: string, tag: string): Array<{ ts: number; value: unknown; kind: string; quality: string }> {
  return store.query({ device, tag }).map((r) => ({ ts: r.ts, value: r.value, kind: r.kind, quality: r.quality }));
}
