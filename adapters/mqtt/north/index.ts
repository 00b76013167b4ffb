/**
 * One northbound MQTT target: the protocol side of the publisher (the store side is
 * ingest/north.ts; gateway/north.ts wires the two and the commands to the audited write path).
 *
 * - json: each point goes to its device's `topic` (template) as one message; a retained status
 *   message per device on `statusTopic` whenever its link state or last error changes (and at every
 *   connect); a retained heartbeat every `heartbeatInterval` on `heartbeatTopic`, which is also the
 *   will (`"online": false`); write requests on `writeRequestTopic`, answered on
 *   `writeResponseTopic`.
 * - sparkplugb: on every connect NBIRTH (bdSeq as in this connection's NDEATH will, persisted in
 *   `<storage.path>/north/<name>.json` so it keeps growing across restarts), then a DBIRTH per
 *   device, a DDEATH for each device that is not connected; DDATA per point; DDEATH / DBIRTH when a
 *   device's link goes down / up; NCMD Node Control/Rebirth publishes the births again; DCMD writes.
 *
 * The publisher is told `up` only once the births (or status messages) are out, so data never
 * precedes them; a point whose tags are not in the device's birth (a type learnt later) gets a
 * DBIRTH first, in the same order on the wire.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { systemClock, type Clock, type TimerHandle } from '../../../config/clock.js';
import { ErrorCodes, GatewayError, errorText } from '../../../config/errors.js';
import { redactUrl } from '../../../config/redact.js';
import type { FieldKind, Quality, TagType, Value } from '../../types.js';
import { compileTemplate } from '../mapping.js';
import { NorthClient, type WillMessage } from './client.js';
import { dataMessage, heartbeatMessage, offlineMessage, parseWriteRequest, statusMessage, writeResponse, type Point } from './json.js';
import { jsonTopics, type NorthTargetConfig } from './schema.js';
import { EdgeNode, type BirthValue } from './sparkplug.js';

export { northSchema, northTargetSchema, type NorthTargetConfig } from './schema.js';
export type { Point } from './json.js';

/** The audit routes of northbound commands (the HTTP one is `POST /api/devices/:id/tags/:tag`). */
export const NORTH_COMMAND_ROUTES = { json: 'MQTT write request', sparkplug: 'MQTT DCMD' } as const;

/** how often device link states are compared (status messages, DDEATH / DBIRTH) */
const STATUS_CHECK_MS = 1000;

export interface NorthDevice {
  id: string;
  name?: string | undefined;
  line?: string | undefined;
  process?: string | undefined;
  /** the published tags, in config order */
  tags: ReadonlyArray<{ name: string; unit?: string | undefined; writable: boolean; type?: TagType | undefined }>;
}

/** What the gateway gives a target. */
export interface NorthHost {
  gateway: { id: string; site?: string | undefined };
  startedAt: number;
  devices: readonly NorthDevice[];
  status(device: string): { connected: boolean; lastError?: string | undefined; lastErrorAt?: number | undefined };
  /** newest stored reading of each tag of a device (births, status types) */
  latest(device: string): ReadonlyArray<{ tag: string; kind: FieldKind; value: Value | null; ts: number; quality: Quality }>;
  /**
   * Executes a command through the gateway's write path and audits it (refused when the target
   * may not write); throws a GatewayError with the refusal's code.
   */
  command(c: { device: string; tag: string; value: Value; route: string }): Promise<void>;
  /** audits a command that does not parse or names nothing */
  malformed(c: { route: string; device?: string | undefined; tag?: string | undefined; detail: string }): void;
  /** `<storage.path>`: the Sparkplug bdSeq is kept under north/ */
  dataDir: string;
  clock?: Clock;
  log: Logger;
}

export interface NorthTargetStatus {
  name: string;
  system: string;
  format: 'json' | 'sparkplugb';
  url: string;
  connected: boolean;
  lastError?: string;
  reconnectAttempts: number;
  connects: number;
  commands: { ok: number; denied: number; error: number };
  rebirths: number;
}

export class MqttNorthTarget {
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly client: NorthClient;
  private readonly node: EdgeNode | undefined;
  private readonly topics: ReturnType<typeof jsonTopics> | undefined;
  private readonly topicOf = new Map<string, { data: string; status: string }>();
  private readonly heartbeatTopic: string | undefined;
  private readonly requestTopic: string | undefined;
  private readonly responseTopic: string | undefined;
  private readonly stateFile: string;
  private bdSeq = 0;
  private statusTimer: TimerHandle | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  /** last published link state per device */
  private readonly published = new Map<string, string>();
  /** births in progress: data waits for them */
  private births: Promise<void> = Promise.resolve();
  private readonly commands = { ok: 0, denied: 0, error: 0 };
  private rebirths = 0;
  private ready = false;
  onUp: () => void = () => {};
  onDown: (error?: string) => void = () => {};

  constructor(
    readonly cfg: NorthTargetConfig,
    private readonly host: NorthHost,
  ) {
    this.clock = host.clock ?? systemClock;
    this.log = host.log;
    this.stateFile = `${host.dataDir}/north/${cfg.name}.json`;
    const gw = host.gateway;
    const vars = { gateway: gw.id, site: gw.site ?? '' };
    let subs: string[];
    if (cfg.format === 'sparkplugb') {
      this.node = new EdgeNode(
        cfg.sparkplug!.groupId,
        cfg.sparkplug!.edgeNodeId ?? gw.id,
        host.devices.map((d) => ({ id: d.id, tags: d.tags })),
      );
      subs = this.node.commandFilters();
    } else {
      this.topics = jsonTopics(cfg);
      const data = compileTemplate(this.topics.topic);
      const status = compileTemplate(this.topics.statusTopic);
      for (const d of host.devices) {
        const v = { ...vars, device: d.id, line: d.line ?? '', process: d.process ?? '' };
        this.topicOf.set(d.id, { data: data.render(v), status: status.render(v) });
      }
      this.heartbeatTopic = compileTemplate(this.topics.heartbeatTopic).render(vars);
      this.requestTopic = compileTemplate(this.topics.writeRequestTopic).render(vars);
      this.responseTopic = compileTemplate(this.topics.writeResponseTopic).render(vars);
      subs = [this.requestTopic];
    }
    const clientId = cfg.clientId ?? `fgw-${gw.id}-${cfg.name}`;
    this.client = new NorthClient(
      cfg,
      clientId,
      subs,
      { will: () => this.will(), up: () => this.connected(), down: (e) => this.disconnected(e), message: (t, p) => this.message(t, p) },
      this.log,
      this.clock,
    );
  }

  start(): void {
    this.bdSeq = this.readBdSeq();
    this.client.start();
    this.armStatus();
  }

  async stop(): Promise<void> {
    this.clock.clearTimeout(this.statusTimer);
    this.clock.clearTimeout(this.heartbeatTimer);
    this.statusTimer = this.heartbeatTimer = undefined;
    const last: WillMessage = this.node
      ? { ...this.node.ndeath(this.clock.now(), this.bdSeq), qos: 1, retain: false }
      : { topic: this.heartbeatTopic!, payload: Buffer.from(offlineMessage(this.host.gateway.id, this.host.gateway.site)), qos: 1, retain: true };
    this.ready = false;
    await this.client.stop(last);
  }

  status(): NorthTargetStatus {
    const s: NorthTargetStatus = {
      name: this.cfg.name,
      system: this.cfg.system,
      format: this.cfg.format,
      url: redactUrl(this.cfg.url),
      connected: this.ready && this.client.connected,
      reconnectAttempts: this.client.failures,
      connects: this.client.connects,
      commands: { ...this.commands },
      rebirths: this.rebirths,
    };
    if (this.client.lastError !== undefined) s.lastError = this.client.lastError;
    return s;
  }

  // ---------------------------------------------------------------- the publisher's link

  window(): number {
    return this.client.window();
  }

  async publish(p: Point, historical: boolean): Promise<void> {
    if (!this.ready) throw new GatewayError(ErrorCodes.NOT_CONNECTED, `northbound target ${this.cfg.name} is not connected`);
    const qos = this.cfg.qos;
    if (!this.node) return this.client.publish(this.topicOf.get(p.device)?.data ?? this.fallbackTopic(p.device), dataMessage(p), { qos });
    const sends: Array<Promise<void>> = [];
    // a point with a tag the birth did not declare (its type learnt since): a DBIRTH goes first
    if (!this.node.fitsBirth(p)) {
      sends.push(this.publishBirth(p.device, p));
      this.published.set(p.device, 'up');
    }
    const m = this.node.ddata(p, historical);
    sends.push(this.client.publish(m.topic, m.payload, { qos }));
    await Promise.all(sends);
  }

  // ---------------------------------------------------------------- connection

  private will(): WillMessage {
    if (this.node) {
      // every connection a new bdSeq (0..255), kept before connecting so a restart goes on from it
      this.bdSeq = (this.bdSeq + 1) % 256;
      this.writeBdSeq();
      return { ...this.node.ndeath(this.clock.now(), this.bdSeq), qos: 1, retain: false };
    }
    return { topic: this.heartbeatTopic!, payload: Buffer.from(offlineMessage(this.host.gateway.id, this.host.gateway.site)), qos: 1, retain: true };
  }

  private connected(): void {
    this.published.clear();
    const births = this.node ? this.allBirths() : this.jsonHello();
    this.births = births;
    births.then(
      () => {
        if (!this.client.connected) return;
        this.ready = true;
        this.onUp();
      },
      (e: unknown) => this.log.warn({ err: errorText(e) }, 'northbound: births or status not acknowledged; reconnecting'),
    );
  }

  private disconnected(error: string | undefined): void {
    this.ready = false;
    this.onDown(error);
  }

  /** NBIRTH, a DBIRTH per device, and a DDEATH for those whose link is down. */
  private async allBirths(): Promise<void> {
    const node = this.node!;
    const now = this.clock.now();
    const sends: Array<Promise<void>> = [];
    const nb = node.nbirth(now, this.bdSeq);
    sends.push(this.client.publish(nb.topic, nb.payload, { qos: 1 }));
    for (const d of this.host.devices) {
      sends.push(this.publishBirth(d.id));
      const up = this.host.status(d.id).connected;
      this.published.set(d.id, up ? 'up' : 'down');
      if (!up) {
        const dd = node.ddeath(d.id, now);
        sends.push(this.client.publish(dd.topic, dd.payload, { qos: 1 }));
      }
    }
    await Promise.all(sends);
  }

  private publishBirth(device: string, with_?: Point): Promise<void> {
    const values: BirthValue[] = this.host
      .latest(device)
      .filter((r) => r.quality !== 'bad')
      .map((r) => ({ tag: r.tag, kind: r.kind, value: r.value, ts: r.ts }));
    // the point's own kinds count: it is what the birth must declare
    if (with_) for (const r of with_.readings) if (!values.some((v) => v.tag === r.tag)) values.push({ tag: r.tag, kind: r.kind, value: null, ts: with_.ts });
    const m = this.node!.dbirth(device, this.clock.now(), values);
    return this.client.publish(m.topic, m.payload, { qos: 1 });
  }

  /** json: the retained status of every device and the first heartbeat. */
  private async jsonHello(): Promise<void> {
    const sends = this.host.devices.map((d) => this.publishStatus(d.id));
    sends.push(this.publishHeartbeat());
    await Promise.all(sends);
  }

  private publishStatus(device: string): Promise<void> {
    const d = this.host.devices.find((x) => x.id === device)!;
    const st = this.host.status(device);
    this.published.set(device, this.statusKey(st));
    const kinds = new Map(this.host.latest(device).map((r) => [r.tag, r.kind]));
    const tags: Record<string, { type: FieldKind | null; unit?: string; writable: boolean }> = {};
    for (const t of d.tags)
      tags[t.name] = { type: t.type?.kind ?? kinds.get(t.name) ?? null, ...(t.unit !== undefined ? { unit: t.unit } : {}), writable: t.writable };
    const body = statusMessage(this.clock.now(), {
      device,
      name: d.name,
      line: d.line,
      process: d.process,
      connected: st.connected,
      lastError: st.lastError,
      lastErrorAt: st.lastErrorAt,
      tags,
    });
    return this.client.publish(this.topicOf.get(device)!.status, body, { qos: 1, retain: true });
  }

  private publishHeartbeat(): Promise<void> {
    const devices = this.host.devices;
    const body = heartbeatMessage(this.clock.now(), {
      gateway: this.host.gateway.id,
      site: this.host.gateway.site,
      devices: devices.length,
      connected: devices.filter((d) => this.host.status(d.id).connected).length,
      startedAt: this.host.startedAt,
    });
    return this.client.publish(this.heartbeatTopic!, body, { qos: 1, retain: true });
  }

  private statusKey(st: { connected: boolean; lastError?: string | undefined }): string {
    return JSON.stringify([st.connected, st.lastError ?? null]);
  }

  private fallbackTopic(device: string): string {
    // a device the config did not list (a fleet's device ids from topic captures): same template
    const d = { gateway: this.host.gateway.id, site: this.host.gateway.site ?? '', device, line: '', process: '' };
    return compileTemplate(this.topics!.topic).render(d);
  }

  /** Every STATUS_CHECK_MS: device link changes (json status, Sparkplug DDEATH / DBIRTH); the json heartbeat on its own timer. */
  private armStatus(): void {
    const tick = () => {
      this.statusTimer = this.clock.setTimeout(() => {
        this.checkDevices();
        tick();
      }, STATUS_CHECK_MS);
    };
    tick();
    if (!this.node) {
      const beat = () => {
        this.heartbeatTimer = this.clock.setTimeout(() => {
          if (this.ready) this.publishHeartbeat().catch(() => undefined);
          beat();
        }, this.cfg.heartbeatInterval);
      };
      beat();
    }
  }

  private checkDevices(): void {
    if (!this.ready) return;
    for (const d of this.host.devices) {
      const st = this.host.status(d.id);
      if (this.node) {
        const now = st.connected ? 'up' : 'down';
        if (this.published.get(d.id) === now) continue;
        this.published.set(d.id, now);
        // data of the device already sent a DBIRTH after its DDEATH: born again, nothing to add
        if (now === 'up' && this.node.isBorn(d.id)) continue;
        if (now === 'up') this.publishBirth(d.id).catch(() => undefined);
        else {
          const m = this.node.ddeath(d.id, this.clock.now());
          this.client.publish(m.topic, m.payload, { qos: 1 }).catch(() => undefined);
        }
      } else if (this.published.get(d.id) !== this.statusKey(st)) this.publishStatus(d.id).catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- commands

  private message(topic: string, payload: Buffer): void {
    if (this.node) {
      const route = NORTH_COMMAND_ROUTES.sparkplug;
      for (const c of this.node.command(topic, payload)) {
        if (c.kind === 'rebirth') {
          this.rebirths++;
          this.log.info('northbound: rebirth requested (NCMD Node Control/Rebirth)');
          this.births = this.allBirths().catch((e: unknown) => this.log.warn({ err: errorText(e) }, 'northbound: rebirth not acknowledged'));
        } else if (c.kind === 'bad') {
          this.commands.error++;
          this.host.malformed({ route, device: c.device, tag: c.tag, detail: c.error });
        } else void this.execute(route, c.device, c.tag, c.value);
      }
      return;
    }
    if (topic !== this.requestTopic) return;
    const route = NORTH_COMMAND_ROUTES.json;
    const req = parseWriteRequest(payload);
    if (!req.ok) {
      this.commands.error++;
      this.host.malformed({ route, device: req.device, tag: req.tag, detail: req.error });
      this.respond(req.uuid, { code: ErrorCodes.COMMAND, message: req.error });
      return;
    }
    void this.execute(route, req.device, req.tag, req.value).then((outcome) => this.respond(req.uuid, outcome));
  }

  private async execute(route: string, device: string, tag: string, value: Value): Promise<{ code?: string; message?: string }> {
    try {
      await this.host.command({ device, tag, value, route });
      this.commands.ok++;
      return {};
    } catch (e) {
      const code = e instanceof GatewayError ? e.code : ErrorCodes.WRITE_FAILED;
      if (code === ErrorCodes.COMMAND_DENIED) this.commands.denied++;
      else this.commands.error++;
      return { code, message: e instanceof Error ? e.message : String(e) };
    }
  }

  private respond(uuid: string | undefined, outcome: { code?: string; message?: string }): void {
    this.client
      .publish(this.responseTopic!, writeResponse(uuid, outcome), { qos: 1 })
      .catch((e: unknown) => this.log.warn({ err: errorText(e) }, 'northbound: write response not sent'));
  }

  // ---------------------------------------------------------------- bdSeq

  private readBdSeq(): number {
    try {
      const v = (JSON.parse(readFileSync(this.stateFile, 'utf8')) as { bdSeq?: unknown }).bdSeq;
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 256 ? v : 0;
    } catch {
      return 0;
    }
  }

  private writeBdSeq(): void {
    try {
      mkdirSync(dirname(this.stateFile), { recursive: true });
      const tmp = `${this.stateFile}.tmp`;
      writeFileSync(tmp, JSON.stringify({ bdSeq: this.bdSeq }));
      renameSync(tmp, this.stateFile);
    } catch (e) {
      this.log.warn({ err: errorText(e) }, 'northbound: cannot keep the Sparkplug bdSeq; it restarts at 0 after a restart');
    }
  }
}
