/**
 * The gateway runtime: opens the store, starts the forwarder and one adapter per enabled device,
 * writes the heartbeat and per-device status, supervises reloads and stops cleanly. It is the
 * composition root for collection: the only place that knows adapters, ingest and config at once.
 */
import pino, { type Logger } from 'pino';
import { adapterModule } from '../adapters/registry.js';
import type { Adapter, AdapterContext, DeviceStatus, Reading, Value } from '../adapters/types.js';
import { checkWriteValue } from '../adapters/values.js';
import { systemClock, type Clock, type TimerHandle } from '../config/clock.js';
import { ErrorCodes, GatewayError, errorText } from '../config/errors.js';
import { REDACT, redactUrl } from '../config/redact.js';
import { loadConfig } from './config.js';
import type { DeviceConfig, GatewayConfig } from './schema.js';
import { Forwarder } from '../ingest/forwarder.js';
import { openStore } from '../ingest/store/index.js';
import type { Store } from '../ingest/types.js';
import { NorthTargets, type NorthView } from './north.js';
import type { DeviceView, ForwarderView, ReloadResult, Runtime } from './types.js';

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, base: undefined, redact: REDACT }, destination ?? pino.destination({ fd: 1, sync: true }));
}

export interface RuntimeOptions {
  config: GatewayConfig;
  configPath?: string;
  clock?: Clock;
  log?: Logger;
}

interface RunningDevice {
  config: DeviceConfig;
  /** the config as canonical JSON, to tell whether a reload changed it */
  key: string;
  adapter?: Adapter;
  /** status counters at the previous status point, to write deltas */
  lastGood: number;
  lastBad: number;
  error?: string;
}

const EMPTY_STATUS: DeviceStatus = { connected: false, good: 0, bad: 0 };

export class GatewayRuntime implements Runtime {
  config: GatewayConfig;
  readonly configPath?: string;
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  readonly startedAt: number;
  private fwd?: Forwarder;
  private northTargets?: NorthTargets;
  private readonly running = new Map<string, RunningDevice>();
  private readonly shared = new Map<string, Map<string, unknown>>();
  private statusTimer?: TimerHandle;
  private stopping = false;
  private reloading: Promise<ReloadResult> | undefined;

  private constructor(opts: RuntimeOptions, store: Store) {
    this.config = opts.config;
    this.configPath = opts.configPath;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.log ?? createLogger(opts.config.gateway.logLevel);
    this.store = store;
    this.startedAt = this.clock.now();
  }

  static async start(opts: RuntimeOptions): Promise<GatewayRuntime> {
    const clock = opts.clock ?? systemClock;
    const log = opts.log ?? createLogger(opts.config.gateway.logLevel);
    const { storage } = opts.config;
    const opening = clock.now();
    const store = openStore({
      path: storage.path,
      maxSizeBytes: storage.maxSize,
      retentionMs: storage.retention,
      commitIntervalMs: storage.commitInterval,
      commitRows: storage.commitRows,
      limitsIntervalMs: storage.limitsInterval,
      deadLetterShare: storage.deadLetterShare,
      auditShare: storage.auditShare,
      forwarding: opts.config.influx !== undefined,
      // a damaged file must not stop collection: moved aside, a fresh store, the alarm
      onDamage: 'move-aside',
      clock,
      log: log.child({ module: 'store' }),
    });
    // files moved aside at an earlier start (a file moved just now was logged as it was moved)
    try {
      const waiting = store.stats().damaged.filter((d) => !d.salvaged && d.at < opening);
      if (waiting.length > 0) {
        log.warn(
          { alarm: 'STORE_DAMAGED', files: waiting.map((d) => d.file) },
          'damaged store files moved aside are waiting: `fgw store salvage <file> --config <gateway.yaml>` recovers what can be read from them',
        );
      }
    } catch {
      /* damage deep in the file the start-up check did not reach: the store replaces it on its own */
    }
    const rt = new GatewayRuntime({ ...opts, clock, log }, store);
    if (opts.config.influx) {
      rt.fwd = new Forwarder({
        store,
        config: opts.config.influx,
        gateway: { id: opts.config.gateway.id, site: opts.config.gateway.site },
        deviceMeta: (id) => {
          const d = rt.running.get(id)?.config ?? rt.config.devices.find((x) => x.id === id);
          return { line: d?.line, process: d?.process };
        },
        clock,
        log: log.child({ module: 'forwarder' }),
      });
      rt.fwd.start();
    }
    // create every adapter first, then start them: devices sharing one connection (MQTT clientId,
    // a serial line) are all registered before the first message or answer can arrive
    for (const d of opts.config.devices) rt.createDevice(d);
    await Promise.all([...rt.running.values()].map((e) => rt.startAdapter(e)));
    if (opts.config.north.some((t) => t.enabled)) {
      rt.northTargets = new NorthTargets({
        config: opts.config,
        store,
        clock,
        log,
        startedAt: rt.startedAt,
        device: (id) => rt.device(id),
        writeTag: (d, t, v) => rt.writeTag(d, t, v),
      });
      rt.northTargets.start();
    }
    rt.scheduleStatus();
    log.info({ devices: rt.running.size, store: storage.path, influx: opts.config.influx ? redactUrl(opts.config.influx.url) : undefined }, 'gateway started');
    return rt;
  }

  private context(device: DeviceConfig): AdapterContext {
    let shared = this.shared.get(device.protocol);
    if (!shared) this.shared.set(device.protocol, (shared = new Map()));
    return {
      sink: this.store,
      log: this.log.child({ device: device.id, protocol: device.protocol }),
      clock: this.clock,
      dataDir: this.config.storage.path,
      gateway: { id: this.config.gateway.id, site: this.config.gateway.site },
      shared,
    };
  }

  private createDevice(config: DeviceConfig): RunningDevice {
    const entry: RunningDevice = { config, key: JSON.stringify(config), lastGood: 0, lastBad: 0 };
    this.running.set(config.id, entry);
    if (!config.enabled) return entry;
    const mod = adapterModule(config.protocol);
    if (!mod) {
      entry.error = `no adapter for protocol ${config.protocol}`;
      return entry;
    }
    try {
      entry.adapter = mod.create(config, this.context(config));
    } catch (e) {
      entry.error = errorText(e);
      this.log.error({ device: config.id, err: entry.error }, 'device cannot be created');
    }
    return entry;
  }

  private async startAdapter(entry: RunningDevice): Promise<void> {
    if (!entry.adapter) return;
    try {
      await entry.adapter.start();
    } catch (e) {
      // a device error affects only that device
      entry.error = errorText(e);
      entry.adapter = undefined;
      this.log.error({ device: entry.config.id, err: entry.error }, 'device failed to start');
    }
  }

  private async startDevice(config: DeviceConfig): Promise<void> {
    await this.startAdapter(this.createDevice(config));
  }

  private async stopDevice(id: string): Promise<void> {
    const entry = this.running.get(id);
    this.running.delete(id);
    if (!entry?.adapter) return;
    try {
      await entry.adapter.stop();
    } catch (e) {
      this.log.warn({ device: id, err: errorText(e) }, 'device did not stop cleanly');
    }
  }

  private scheduleStatus(): void {
    if (this.stopping) return;
    this.statusTimer = this.clock.setTimeout(() => {
      // writeStatus never rejects: a failed commit is logged there
      void this.writeStatus().finally(() => this.scheduleStatus());
    }, this.config.gateway.statusInterval);
  }

  /** One heartbeat point and one status point per device (measurement gateway_status). */
  async writeStatus(): Promise<void> {
    const ts = this.clock.now();
    const rows: Reading[] = [{ device: '', tag: 'heartbeat', ts, kind: 'boolean', value: true, quality: 'good' }];
    for (const [id, entry] of this.running) {
      if (!entry.config.enabled) continue;
      const s = this.statusOf(entry);
      rows.push({ device: id, tag: 'connected', ts, kind: 'boolean', value: s.connected, quality: 'good' });
      rows.push({ device: id, tag: 'good', ts, kind: 'integer', value: Math.max(0, s.good - entry.lastGood), quality: 'good' });
      rows.push({ device: id, tag: 'bad', ts, kind: 'integer', value: Math.max(0, s.bad - entry.lastBad), quality: 'good' });
      if (s.lastError) rows.push({ device: id, tag: 'lastError', ts, kind: 'string', value: s.lastError, quality: 'good' });
      entry.lastGood = s.good;
      entry.lastBad = s.bad;
    }
    try {
      await this.store.writeStatus(rows);
      if (this.statusFailing) this.log.info({ failed: this.statusFailing }, 'status points are stored again');
      this.statusFailing = 0;
    } catch (e) {
      // one line per episode (a full store raised its own alarm already), with the count at its end
      if (this.statusFailing++ === 0) this.log.error({ err: errorText(e) }, 'cannot write status to the store');
    }
  }

  /** status points not stored in a row (0 while they are) */
  private statusFailing = 0;

  private statusOf(entry: RunningDevice): DeviceStatus {
    if (!entry.adapter) return { ...EMPTY_STATUS, lastError: entry.error ?? (entry.config.enabled ? undefined : 'disabled') };
    try {
      return entry.adapter.status();
    } catch (e) {
      return { ...EMPTY_STATUS, lastError: errorText(e) };
    }
  }

  devices(): DeviceView[] {
    return [...this.running.values()].map((e) => ({ config: e.config, status: this.statusOf(e) }));
  }

  device(id: string): DeviceView | undefined {
    const e = this.running.get(id);
    return e ? { config: e.config, status: this.statusOf(e) } : undefined;
  }

  async writeTag(deviceId: string, tagName: string, value: Value): Promise<void> {
    const entry = this.running.get(deviceId);
    if (!entry) throw new GatewayError(ErrorCodes.DEVICE_UNKNOWN, `no device "${deviceId}"`);
    const tag = entry.config.tags.find((t) => t.name === tagName);
    if (!tag) throw new GatewayError(ErrorCodes.TAG_UNKNOWN, `device "${deviceId}" has no tag "${tagName}"`);
    if (!tag.writable) throw new GatewayError(ErrorCodes.WRITE_UNSUPPORTED, `tag "${deviceId}.${tagName}" is not writable (set writable: true in the config)`);
    if (!['number', 'boolean', 'string'].includes(typeof value)) throw new GatewayError(ErrorCodes.WRITE_TYPE, `expected a number, boolean or string`);
    // type and range, numeric text included (adapters/values.ts)
    value = checkWriteValue(tag, value, `${deviceId}.${tagName}`);
    const adapter = entry.adapter;
    if (!adapter) throw new GatewayError(ErrorCodes.NOT_CONNECTED, `device "${deviceId}" is not running${entry.error ? `: ${entry.error}` : ''}`);
    if (!adapter.write) throw new GatewayError(ErrorCodes.WRITE_UNSUPPORTED, `protocol ${entry.config.protocol} does not support writes`);
    await adapter.write(tagName, value);
    this.log.info({ device: deviceId, tag: tagName }, 'tag written');
  }

  forwarder(): ForwarderView | undefined {
    return this.fwd?.stats();
  }

  /** each northbound target's link and publisher (`north:`) */
  north(): NorthView[] {
    return this.northTargets?.views() ?? [];
  }

  /** resolves when everything stored so far has reached InfluxDB (immediately without InfluxDB) */
  async flushed(): Promise<void> {
    if (this.fwd) await this.fwd.flushed();
  }

  /** resolves when everything stored so far was acknowledged by every northbound target */
  async northFlushed(): Promise<void> {
    await this.northTargets?.flushed();
  }

  reload(next?: GatewayConfig): Promise<ReloadResult> {
    // one reload at a time; a second request waits for the first
    const run = async (): Promise<ReloadResult> => {
      const cfg = next ?? (this.configPath ? loadConfig(this.configPath).config : undefined);
      if (!cfg) throw new GatewayError(ErrorCodes.USAGE, 'no config file to reload from');
      if (
        JSON.stringify(cfg.storage) !== JSON.stringify(this.config.storage) ||
        JSON.stringify(cfg.influx) !== JSON.stringify(this.config.influx) ||
        JSON.stringify(cfg.gateway) !== JSON.stringify(this.config.gateway) ||
        JSON.stringify(cfg.north) !== JSON.stringify(this.config.north)
      ) {
        this.log.warn('reload: changes to gateway, storage, influx or north take effect at the next restart; devices are reloaded now');
      }
      const result: ReloadResult = { added: [], removed: [], restarted: [], unchanged: [] };
      const wanted = new Map(cfg.devices.map((d) => [d.id, d]));
      for (const id of [...this.running.keys()]) {
        if (!wanted.has(id)) {
          await this.stopDevice(id);
          result.removed.push(id);
        }
      }
      for (const [id, d] of wanted) {
        const cur = this.running.get(id);
        if (!cur) {
          await this.startDevice(d);
          result.added.push(id);
        } else if (cur.key !== JSON.stringify(d)) {
          await this.stopDevice(id);
          await this.startDevice(d);
          result.restarted.push(id);
        } else result.unchanged.push(id);
      }
      this.config = { ...cfg, storage: this.config.storage, influx: this.config.influx, gateway: this.config.gateway, north: this.config.north };
      // line and process tags of the changed devices: the forwarder recomputes its series prefixes
      if (result.added.length + result.restarted.length > 0) this.fwd?.deviceMetaChanged();
      this.log.info(result, 'config reloaded');
      return result;
    };
    const p = (this.reloading ?? Promise.resolve()).then(run, run);
    this.reloading = p.catch(() => ({ added: [], removed: [], restarted: [], unchanged: [] }));
    return p;
  }

  /**
   * Stops collecting, writes a last status point, forwards what can be forwarded within
   * gateway.stopTimeout, and closes the store. What is not forwarded stays in the store and goes
   * at the next start.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.clock.clearTimeout(this.statusTimer);
    await Promise.all([...this.running.keys()].map((id) => this.stopDevice(id)));
    await this.writeStatus();
    await Promise.all([this.fwd?.stop({ timeoutMs: this.config.gateway.stopTimeout }), this.northTargets?.stop(this.config.gateway.stopTimeout)]);
    await this.store.close();
    this.log.info('gateway stopped');
    this.log.flush?.();
  }
}
