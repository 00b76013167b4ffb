/**
 * A small Runtime for the API tests: a REAL embedded store (ingest/store/ openStore on a temp
 * directory) and STUB device views (StubDevice: a config plus a status object the test mutates, no
 * adapter, no protocol). writeTag here is a stand-in named as such: it repeats the checks
 * GatewayRuntime.writeTag makes (device, tag, writable, type, range, connected) so the API's
 * mapping of each coded error to an HTTP status can be tested; the write round trip against the
 * real simulators runs with the real runtime (the lead's end-to-end tests).
 */
import pino from 'pino';
import type { DeviceStatus, FieldKind, Value } from '../../adapters/types.js';
import { checkWriteValue } from '../../adapters/values.js';
import { ErrorCodes, GatewayError } from '../../config/errors.js';
import type { DeviceConfig, GatewayConfig } from '../../gateway/schema.js';
import { openStore } from '../../ingest/store/index.js';
import type { Store } from '../../ingest/types.js';
import type { NorthView } from '../../gateway/north.js';
import type { DeviceView, ForwarderView, ReloadResult, Runtime } from '../../gateway/types.js';
import { tempDir } from '../helpers/tmp.js';
import { ManualClock } from '../helpers/manual-clock.js';

/** 2026-11-26T08:00:00Z: the tests' fixed "now" */
export const T0 = Date.UTC(2026, 10, 26, 8, 0, 0);

export interface StubDevice {
  config: DeviceConfig;
  status: DeviceStatus;
  /** the wire kind of each tag (what the adapter would convert to) */
  kinds: Record<string, FieldKind>;
  /** writes that reached the stub "adapter" */
  writes: Array<{ tag: string; value: Value }>;
  /** when set, the stub adapter fails writes with this error */
  failWrite?: GatewayError;
}

export const TOKENS = {
  mes: { name: 'mes', system: 'MES', token: 'mes-token-0123456789', scopes: ['read'] as ('read' | 'write')[] },
  operator: { name: 'operator', system: 'platform', token: 'operator-token-0123456789', scopes: ['read', 'write'] as ('read' | 'write')[] },
  dashboard: { name: 'dashboard', system: 'dashboard', token: 'dashboard-token-0123456789', scopes: ['read'] as ('read' | 'write')[] },
};

/** Secrets planted in device connection configs: no response may ever contain them. */
export const PLANTED_SECRETS = ['lathe-password-XYZ', 'mqtt-password-XYZ', 'influx-password-XYZ'];

export function stubDevices(): StubDevice[] {
  return [
    {
      config: {
        id: 'press-01',
        name: '冲压机 1 号',
        line: 'line-01',
        process: 'stamping',
        protocol: 'modbus',
        interval: 1000,
        enabled: true,
        connection: { host: '127.0.0.1', port: 5020, unitId: 1 },
        tags: [
          { name: 'state', role: 'state', writable: false },
          { name: 'strokes', role: 'counter', writable: false },
          { name: 'tonnage', role: 'parameter', unit: 'kN', writable: false },
          { name: 'setpoint', role: 'parameter', unit: 'kN', writable: true, min: 0, max: 100 },
        ],
      },
      kinds: { state: 'integer', strokes: 'integer', tonnage: 'float', setpoint: 'float' },
      status: { connected: true, lastReadingAt: T0 - 1000, good: 120, bad: 3, cycleMs: 42 },
      writes: [],
    },
    {
      config: {
        id: 'lathe-03',
        name: '数控车床 3 号',
        line: 'line-01',
        process: 'machining',
        protocol: 'opcua',
        interval: 500,
        enabled: true,
        connection: { endpoint: 'opc.tcp://127.0.0.1:4840', auth: { type: 'username', username: 'gateway', password: 'lathe-password-XYZ' } },
        tags: [
          { name: 'state', role: 'state', writable: false },
          { name: 'parts', role: 'counter', writable: false },
          { name: 'program', role: 'parameter', writable: true },
        ],
      },
      kinds: { state: 'integer', parts: 'integer', program: 'string' },
      status: { connected: true, lastReadingAt: T0 - 500, good: 400, bad: 0 },
      writes: [],
    },
    {
      config: {
        id: 'polisher-04',
        name: '抛光机 4 号',
        line: 'line-01',
        process: 'polishing',
        protocol: 'mqtt',
        interval: 5000,
        enabled: true,
        connection: { url: 'mqtt://gw:mqtt-password-XYZ@127.0.0.1:1883', password: 'mqtt-password-XYZ' },
        tags: [
          { name: 'state', role: 'state', writable: false },
          { name: 'pieces', role: 'counter', writable: false },
        ],
      },
      kinds: { state: 'integer', pieces: 'integer' },
      // silent for 20 minutes: the alarm (stale after max(5 × 5 s, 15 min))
      status: {
        connected: false,
        lastReadingAt: T0 - 20 * 60_000,
        lastError: 'connect ECONNREFUSED mqtt://gw:mqtt-password-XYZ@127.0.0.1:1883',
        lastErrorAt: T0 - 60_000,
        good: 50,
        bad: 7,
      },
      writes: [],
    },
  ];
}

export function testConfig(opts: {
  tokens?: Array<(typeof TOKENS)[keyof typeof TOKENS]>;
  projects?: string[];
  bodyLimit?: number;
  devices: DeviceConfig[];
}): GatewayConfig {
  // built literally: the parsed shape the API reads (gateway, http, devices); storage and influx
  // are the runtime's business
  const cfg = {
    gateway: { id: 'line-01', site: 'yk-cup-plant', statusInterval: 10_000, stopTimeout: 10_000, logLevel: 'silent' },
    storage: { path: '/nonexistent', maxSize: 2 ** 31, retention: 14 * 86_400_000 },
    influx: { url: 'http://127.0.0.1:8086', database: 'factory', username: 'gw', password: 'influx-password-XYZ' },
    http: { listen: '127.0.0.1:8080', tokens: opts.tokens ?? [], projects: opts.projects ?? [], bodyLimit: opts.bodyLimit ?? 65536 },
    devices: opts.devices,
  };
  return cfg as unknown as GatewayConfig;
}

export class TestRuntime implements Runtime {
  config: GatewayConfig;
  configPath?: string;
  readonly store: Store;
  readonly clock: ManualClock;
  readonly log = pino({ level: 'silent' });
  readonly startedAt: number;
  readonly stubs = new Map<string, StubDevice>();
  fwd?: ForwarderView;
  /** what reload() will switch to (a config, or an error to throw) */
  nextConfig?: GatewayConfig | Error;
  reloads = 0;
  private readonly dir: { path: string; cleanup: () => void };

  constructor(
    opts: {
      tokens?: Array<(typeof TOKENS)[keyof typeof TOKENS]>;
      projects?: string[];
      bodyLimit?: number;
      configPath?: string;
      devices?: StubDevice[];
      /** the real store's options, and a hook that prepares its directory before it opens */
      store?: { maxSizeBytes?: number; forwarding?: boolean; onDamage?: 'move-aside' | 'refuse'; before?: (dir: string) => void };
    } = {},
  ) {
    const devices = opts.devices ?? stubDevices();
    for (const d of devices) this.stubs.set(d.config.id, d);
    this.config = testConfig({ ...opts, devices: devices.map((d) => d.config) });
    this.configPath = opts.configPath;
    this.clock = new ManualClock(T0);
    this.startedAt = T0 - 3_600_000;
    this.dir = tempDir('fgw-api-');
    opts.store?.before?.(this.dir.path);
    this.store = openStore({
      path: this.dir.path,
      maxSizeBytes: opts.store?.maxSizeBytes ?? 2 ** 30,
      retentionMs: 30 * 86_400_000,
      clock: this.clock,
      limitsIntervalMs: 0,
      forwarding: opts.store?.forwarding,
      onDamage: opts.store?.onDamage,
      backgroundCheck: false,
    });
  }

  devices(): DeviceView[] {
    return [...this.stubs.values()].map((d) => ({ config: d.config, status: { ...d.status } }));
  }

  device(id: string): DeviceView | undefined {
    const d = this.stubs.get(id);
    return d ? { config: d.config, status: { ...d.status } } : undefined;
  }

  /** Stand-in for GatewayRuntime.writeTag (same checks, same codes), over a stub adapter. */
  async writeTag(deviceId: string, tagName: string, value: Value): Promise<void> {
    const d = this.stubs.get(deviceId);
    if (!d) throw new GatewayError(ErrorCodes.DEVICE_UNKNOWN, `no device "${deviceId}"`);
    const tag = d.config.tags.find((t) => t.name === tagName);
    if (!tag) throw new GatewayError(ErrorCodes.TAG_UNKNOWN, `device "${deviceId}" has no tag "${tagName}"`);
    if (!tag.writable) throw new GatewayError(ErrorCodes.WRITE_UNSUPPORTED, `tag "${deviceId}.${tagName}" is not writable`);
    // the runtime's own type and range check (numeric text included)
    value = checkWriteValue(tag, value, `${deviceId}.${tagName}`);
    const kind = d.kinds[tagName];
    const fits = kind === 'string' ? typeof value === 'string' : kind === 'boolean' ? typeof value === 'boolean' : typeof value === 'number';
    if (!fits) throw new GatewayError(ErrorCodes.WRITE_TYPE, `expected a ${kind} for ${deviceId}.${tagName}`);
    if (!d.status.connected) throw new GatewayError(ErrorCodes.NOT_CONNECTED, `device "${deviceId}" is not connected`);
    if (d.failWrite) throw d.failWrite;
    d.writes.push({ tag: tagName, value });
  }

  async reload(): Promise<ReloadResult> {
    this.reloads += 1;
    const next = this.nextConfig;
    if (next instanceof Error) throw next;
    if (!next) throw new GatewayError(ErrorCodes.USAGE, 'no config file to reload from');
    const before = new Set(this.stubs.keys());
    const after = new Set(next.devices.map((d) => d.id));
    this.config = next;
    return {
      added: [...after].filter((id) => !before.has(id)),
      removed: [...before].filter((id) => !after.has(id)),
      restarted: [],
      unchanged: [...after].filter((id) => before.has(id)),
    };
  }

  forwarder(): ForwarderView | undefined {
    return this.fwd;
  }

  /** the northbound targets shown (none unless a test sets them) */
  northViews: NorthView[] = [];

  north(): NorthView[] {
    return this.northViews;
  }

  async close(): Promise<void> {
    await this.store.close();
    this.dir.cleanup();
  }
}
