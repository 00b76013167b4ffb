/**
 * The northbound targets of one gateway (`north:`): for each enabled entry, the protocol side
 * (adapters/mqtt/north/: MQTT, JSON or Sparkplug B) wired to the store side (ingest/north.ts: its
 * own cursor `north:<name>`, moved only past acknowledged messages), and its commands wired to the
 * one write path (the runtime's writeTag: tag, writable, type and range checks) with an audit record
 * per command under the target's `system`. A target with `allowWrites: false` gets its commands
 * refused and audited as denied (GW_ERR_COMMAND_DENIED).
 */
import type { Logger } from 'pino';
import { adapterModule } from '../adapters/registry.js';
import type { Value } from '../adapters/types.js';
import { MqttNorthTarget, type NorthDevice, type NorthTargetConfig, type NorthTargetStatus } from '../adapters/mqtt/north/index.js';
import type { Clock } from '../config/clock.js';
import { ErrorCodes, GatewayError, errorText } from '../config/errors.js';
import type { DeviceConfig, GatewayConfig } from './schema.js';
import { NorthForwarder, type NorthForwarderStats } from '../ingest/north.js';
import type { AuditRecord, AuditStore, ForwardStore, HistoryStore } from '../ingest/types.js';
import { valueText } from './audit-text.js';
import type { DeviceView } from './types.js';

/** What a target shows in /api/status and /metrics: its link and its publisher. */
export interface NorthView extends NorthTargetStatus, NorthForwarderStats {}

export interface NorthDeps {
  config: GatewayConfig;
  store: ForwardStore & Pick<HistoryStore, 'latest'> & Pick<AuditStore, 'appendAudit'>;
  clock: Clock;
  log: Logger;
  startedAt: number;
  device(id: string): DeviceView | undefined;
  writeTag(device: string, tag: string, value: Value): Promise<void>;
}

/** The devices (and tags) a target publishes, with the types the config fixes. */
export function northDevices(t: NorthTargetConfig, devices: readonly DeviceConfig[]): NorthDevice[] {
  const pick = t.devices?.map((s) => (typeof s === 'string' ? { id: s, tags: undefined } : { id: s.id, tags: s.tags }));
  const out: NorthDevice[] = [];
  for (const d of devices) {
    if (!d.enabled) continue;
    const sel = pick ? pick.find((p) => p.id === d.id) : { id: d.id, tags: undefined };
    if (!sel) continue;
    const types = adapterModule(d.protocol)?.tagTypes?.(d as never) ?? {};
    out.push({
      id: d.id,
      name: d.name,
      line: d.line,
      process: d.process,
      tags: d.tags
        .filter((tag) => !sel.tags || sel.tags.includes(tag.name))
        .map((tag) => ({ name: tag.name, unit: tag.unit, writable: tag.writable, type: types[tag.name] })),
    });
  }
  return out;
}

class NorthTarget {
  readonly link: MqttNorthTarget;
  readonly fwd: NorthForwarder;
  /** with a devices selection: the devices and tags this target publishes, and may write */
  private readonly selected: Map<string, Set<string>> | undefined;

  constructor(
    readonly cfg: NorthTargetConfig,
    private readonly deps: NorthDeps,
  ) {
    const log = deps.log.child({ module: 'north', target: cfg.name });
    const devices = northDevices(cfg, deps.config.devices);
    const published = new Map(devices.map((d) => [d.id, new Set(d.tags.map((t) => t.name))]));
    this.selected = cfg.devices === undefined ? undefined : published;
    this.link = new MqttNorthTarget(cfg, {
      gateway: { id: deps.config.gateway.id, site: deps.config.gateway.site },
      startedAt: deps.startedAt,
      devices,
      status: (id) => {
        const s = deps.device(id)?.status;
        return s ? { connected: s.connected, lastError: s.lastError, lastErrorAt: s.lastErrorAt } : { connected: false, lastError: 'not running' };
      },
      latest: (id) => deps.store.latest(id).filter((r) => r.measurement === 'data'),
      command: (c) => this.command(c),
      malformed: (c) => this.audit({ route: c.route, device: c.device, tag: c.tag, result: 'error', detail: `${ErrorCodes.COMMAND}: ${c.detail}` }),
      dataDir: deps.config.storage.path,
      clock: deps.clock,
      log,
    });
    this.fwd = new NorthForwarder({
      store: deps.store,
      name: cfg.name,
      link: { window: () => this.link.window(), publish: (p, historical) => this.link.publish(p, historical) },
      replayRate: cfg.replayRate,
      // json without a selection: everything, devices the config does not list included (a fleet's
      // ids captured from MQTT topics); Sparkplug births declare configured devices only
      include: cfg.devices === undefined && cfg.format === 'json' ? undefined : (device, tag) => published.get(device)?.has(tag) ?? false,
      clock: deps.clock,
      log,
    });
    this.link.onUp = () => this.fwd.linkUp();
    this.link.onDown = (e) => this.fwd.linkDown(e);
  }

  start(): void {
    this.fwd.start();
    this.link.start();
  }

  async stop(timeoutMs: number): Promise<void> {
    await this.fwd.stop({ timeoutMs });
    await this.link.stop();
  }

  view(): NorthView {
    return { ...this.fwd.stats(), ...this.link.status() };
  }

  private audit(r: {
    route: string;
    device?: string | undefined;
    tag?: string | undefined;
    value?: Value;
    result: AuditRecord['result'];
    detail?: string;
  }): void {
    const rec: AuditRecord = { ts: this.deps.clock.now(), actor: this.cfg.name, system: this.cfg.system, action: 'write', route: r.route, result: r.result };
    if (r.device !== undefined) rec.device = r.device;
    if (r.tag !== undefined) rec.tag = r.tag;
    const v = valueText(r.value);
    if (v !== undefined) rec.value = v;
    if (r.detail !== undefined && r.result !== 'ok') rec.detail = r.detail;
    try {
      this.deps.store.appendAudit(rec);
    } catch (e) {
      this.deps.log.error({ target: this.cfg.name, err: errorText(e) }, 'cannot append audit record');
    }
  }

  /** A command: refused when the target may not write, else the one write path; audited either way. */
  private async command(c: { device: string; tag: string; value: Value; route: string }): Promise<void> {
    if (!this.cfg.allowWrites) {
      const e = new GatewayError(ErrorCodes.COMMAND_DENIED, `north target "${this.cfg.name}" may not write (allowWrites: false)`);
      this.audit({ ...c, result: 'denied', detail: e.code });
      throw e;
    }
    if (this.selected && !this.selected.get(c.device)?.has(c.tag)) {
      const e = new GatewayError(
        ErrorCodes.COMMAND_DENIED,
        `north target "${this.cfg.name}" does not publish ${c.device}.${c.tag} (north[].devices), so it may not write it`,
      );
      this.audit({ ...c, result: 'denied', detail: e.code });
      throw e;
    }
    try {
      await this.deps.writeTag(c.device, c.tag, c.value);
      this.audit({ ...c, result: 'ok' });
    } catch (e) {
      this.audit({ ...c, result: 'error', detail: e instanceof GatewayError ? e.code : ErrorCodes.WRITE_FAILED });
      throw e;
    }
  }
}

/** Every enabled northbound target of a gateway. */
export class NorthTargets {
  private readonly targets: NorthTarget[];

  constructor(deps: NorthDeps) {
    this.targets = deps.config.north.filter((t) => t.enabled).map((t) => new NorthTarget(t, deps));
  }

  get size(): number {
    return this.targets.length;
  }

  start(): void {
    for (const t of this.targets) t.start();
  }

  views(): NorthView[] {
    return this.targets.map((t) => t.view());
  }

  /** resolves when everything stored before the call was acknowledged by every target */
  async flushed(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.fwd.flushed()));
  }

  async stop(timeoutMs: number): Promise<void> {
    await Promise.all(this.targets.map((t) => t.stop(timeoutMs)));
  }
}
