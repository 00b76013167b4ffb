/**
 * What the gateway runtime offers the API, the dashboard and the CLI. gateway/runtime.ts
 * implements it; the API is built on this interface only (buildServer(runtime)).
 */
import type { Logger } from 'pino';
import type { DeviceStatus, Value } from '../adapters/types.js';
import type { Clock } from '../config/clock.js';
import type { DeviceConfig, GatewayConfig } from './schema.js';
import type { ForwarderStats } from '../ingest/forwarder.js';
import type { Store } from '../ingest/types.js';
import type { NorthView } from './north.js';

export interface DeviceView {
  config: DeviceConfig;
  status: DeviceStatus;
}

/** The forwarder's state as the API shows it (ingest/forwarder.ts owns the shape). */
export type ForwarderView = ForwarderStats;

export interface ReloadResult {
  added: string[];
  removed: string[];
  restarted: string[];
  unchanged: string[];
}

export interface Runtime {
  readonly config: GatewayConfig;
  /** absolute path of the config file, when loaded from one (reload re-reads it) */
  readonly configPath?: string;
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  readonly startedAt: number;
  devices(): DeviceView[];
  device(id: string): DeviceView | undefined;
  /**
   * Writes a tag on a device: checks the tag exists and is writable, the value's JS type fits and
   * it lies within the tag's min/max, then asks the adapter. Throws GatewayError with
   * DEVICE_UNKNOWN | TAG_UNKNOWN | WRITE_UNSUPPORTED | WRITE_TYPE | WRITE_RANGE | WRITE_FAILED |
   * NOT_CONNECTED. Auditing is the caller's job (it knows who asked).
   */
  writeTag(deviceId: string, tag: string, value: Value): Promise<void>;
  /** Re-reads the config file (or takes `next`) and restarts only the devices whose config changed. */
  reload(next?: GatewayConfig): Promise<ReloadResult>;
  forwarder(): ForwarderView | undefined;
  /** each northbound target (`north:`): connection, backlog, lag, publish rate, commands */
  north?(): NorthView[];
}
