/**
 * One configured MQTT device: maps messages of its shared connection into readings (pure core in
 * mapping.ts / sparkplug.ts), commits them, keeps bad payloads as dead letters, counts.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Backoff } from '../../config/backoff.js';
import { ErrorCodes, GatewayError, errorText } from '../../config/errors.js';
import { redactUrl } from '../../config/redact.js';
import type { Adapter, AdapterContext, DeviceStatus, FieldKind, Reading, Value } from '../types.js';
import { MqttConnection, sameConnection, type Subscriber } from './connection.js';
import { buildPlan, convertValue, decodeMessage, inferKind, payloadText, type DeadItem, type DevicePlan, type KindMemory } from './mapping.js';
import type { MqttDevice, MqttTag } from './schema.js';
import { SparkplugState, encodeSparkplug, kindOfSparkplugType, rebirthPayload } from './sparkplug.js';

export interface MqttDeviceStatus extends DeviceStatus {
  /** dead-lettered messages by reason (NOT_JSON, PATH_MISSING, WRONG_TYPE, OVERSIZE, ...) */
  badByReason: Record<string, number>;
  /** messages this device handled (matched one of its topics) */
  messages: number;
  /** rebirth requests sent (sparkplugb) */
  rebirthRequests: number;
  /** reconnect attempts since the broker connection was last up (0 while connected) */
  reconnectAttempts: number;
}

/** Kinds of untyped tags, fixed by their first value and kept in the data dir across restarts. */
export class FileKindMemory implements KindMemory {
  private map = new Map<string, FieldKind>();
  private warned = false;
  constructor(
    private readonly file: string | undefined,
    private readonly onError: (e: unknown) => void,
  ) {
    if (!file) return;
    try {
      const obj = JSON.parse(readFileSync(file, 'utf8')) as Record<string, FieldKind>;
      for (const [k, v] of Object.entries(obj)) if (['float', 'integer', 'boolean', 'string'].includes(v)) this.map.set(k, v);
    } catch {
      // first start: nothing learnt yet
    }
  }
  get(field: string): FieldKind | undefined {
    return this.map.get(field);
  }
  set(field: string, kind: FieldKind): void {
    this.map.set(field, kind);
    if (!this.file) return;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, JSON.stringify(Object.fromEntries(this.map), null, 1));
      renameSync(tmp, this.file);
    } catch (e) {
      if (!this.warned) this.onError(e);
      this.warned = true;
    }
  }
}

/** the PUBACK waits and the write is tried again: a refusal by a full store is not a loss */
const RETRIED = { retried: true };

const SPARKPLUG_TYPE_OF_KIND: Record<FieldKind, string> = { float: 'Double', integer: 'Int64', boolean: 'Boolean', string: 'String' };

export class MqttAdapter implements Adapter, Subscriber {
  readonly deviceId: string;
  readonly filters: string[];
  readonly qos: 0 | 1 | 2;
  private readonly plan: DevicePlan | undefined;
  private readonly sp: SparkplugState | undefined;
  private readonly kinds: FileKindMemory;
  private readonly tags: Map<string, MqttTag>;
  private readonly key: string;
  private readonly clientId: string;
  private conn: MqttConnection | undefined;
  private stopping = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private st: MqttDeviceStatus = { connected: false, good: 0, bad: 0, badByReason: {}, messages: 0, rebirthRequests: 0, reconnectAttempts: 0 };
  private storeFailing = false;
  /** the end of the queue of commits retrying in order while the store fails */
  private retryTail: Promise<void> = Promise.resolve();

  constructor(
    readonly device: MqttDevice,
    private readonly ctx: AdapterContext,
  ) {
    this.deviceId = device.id;
    this.qos = device.connection.qos;
    this.tags = new Map(device.tags.map((t) => [t.name, t]));
    this.kinds = new FileKindMemory(ctx.dataDir ? join(ctx.dataDir, 'mqtt', `${device.id}.kinds.json`) : undefined, (e) =>
      ctx.log.warn({ err: errorText(e) }, 'cannot persist learnt tag types; keeping them in memory'),
    );
    if (device.format === 'sparkplugb') {
      this.sp = new SparkplugState({ ...device.sparkplug!, maxPayloadSize: device.maxPayloadSize }, device.id, device.tags, this.kinds);
      this.filters = [this.sp.filter];
    } else {
      const input: Parameters<typeof buildPlan>[0] = { id: device.id, format: device.format, maxPayloadSize: device.maxPayloadSize, tags: device.tags };
      if (device.deviceTemplate !== undefined) input.deviceTemplate = device.deviceTemplate;
      this.plan = buildPlan(input);
      this.filters = this.plan.filters;
    }
    this.clientId = device.connection.clientId ?? `fgw-${device.id}`;
    this.key = `mqtt:${device.connection.url}|${this.clientId}`;
    this.attach();
  }

  /** Registers with the (shared) connection at creation, so a resumed session's backlog finds every device. */
  private attach(): MqttConnection {
    if (this.conn) return this.conn;
    let conn = this.ctx.shared.get(this.key) as MqttConnection | undefined;
    if (conn && !sameConnection(conn.cfg, this.device.connection))
      throw new GatewayError(
        ErrorCodes.CONFIG,
        `devices sharing MQTT clientId "${this.clientId}" on ${redactUrl(this.device.connection.url)} must have the same connection settings (${this.deviceId})`,
      );
    if (!conn) {
      conn = new MqttConnection(this.key, this.device.connection, this.clientId, this.ctx.log.child({ clientId: this.clientId }), this.ctx.clock);
      this.ctx.shared.set(this.key, conn);
    }
    conn.add(this);
    this.conn = conn;
    return conn;
  }

  async start(): Promise<void> {
    this.stopping = false;
    this.attach().start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const conn = this.conn;
    if (!conn) return;
    this.conn = undefined;
    if (conn.remove(this) === 0) {
      if (this.ctx.shared.get(this.key) === conn) this.ctx.shared.delete(this.key);
      await conn.close();
    } else if (this.inflight.size > 0) {
      // wall-clock grace for commits in flight (their PUBACK goes out); later ones are redelivered
      let t: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => (t = setTimeout(r, 1000)))]);
      clearTimeout(t);
    }
    this.st.connected = false;
  }

  status(): MqttDeviceStatus {
    const connected = (this.conn?.connected ?? false) && (this.sp ? this.sp.online : true);
    const lastError = this.st.lastError ?? this.conn?.lastError;
    const s: MqttDeviceStatus = { ...this.st, connected, badByReason: { ...this.st.badByReason }, reconnectAttempts: this.conn?.failures ?? 0 };
    if (lastError !== undefined) s.lastError = lastError;
    return s;
  }

  onConnection(connected: boolean, error?: string): void {
    if (!connected && error) {
      this.st.lastError = error;
      this.st.lastErrorAt = this.ctx.clock.now();
    } else if (connected) delete this.st.lastError;
  }

  unmatched(topic: string, payload: Buffer, receivedAt: number): void {
    try {
      this.ctx.sink.deadLetter({
        ts: receivedAt,
        source: 'mqtt',
        topic,
        reason: 'NO_DEVICE',
        detail: 'no configured tag matches this topic (a subscription left in the persistent session?)',
        payload: payloadText(payload),
      });
    } catch (e) {
      this.ctx.log.error({ err: errorText(e) }, 'dead letter not kept');
    }
  }

  onMessage(topic: string, payload: Buffer, receivedAt: number): Promise<boolean> {
    const p = this.handle(topic, payload, receivedAt);
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => {});
    return p;
  }

  private async handle(topic: string, payload: Buffer, receivedAt: number): Promise<boolean> {
    let readings: Reading[];
    let dead: DeadItem[];
    try {
      if (this.sp) {
        const r = this.sp.handle(topic, payload, receivedAt);
        if (!r.matched) return false;
        if (r.ignored) return true;
        ({ readings, dead } = r);
        if (r.rebirth) this.requestRebirth(receivedAt);
      } else {
        const r = decodeMessage(this.plan!, topic, payload, receivedAt, this.kinds);
        if (r.matched === 0) return false;
        ({ readings, dead } = r);
      }
    } catch (e) {
      // a decoding bug must not turn one message into an endless redelivery loop: keep it, acknowledge it
      readings = [];
      dead = [{ device: this.deviceId, topic, reason: 'INTERNAL', detail: errorText(e), payload: payloadText(payload) }];
    }
    this.st.messages++;
    for (const d of dead) {
      try {
        this.ctx.sink.deadLetter({ ts: receivedAt, source: 'mqtt', device: d.device, topic: d.topic, reason: d.reason, detail: d.detail, payload: d.payload });
      } catch (e) {
        this.ctx.log.error({ err: errorText(e) }, 'dead letter not kept');
      }
      this.st.bad++;
      this.st.badByReason[d.reason] = (this.st.badByReason[d.reason] ?? 0) + 1;
      this.st.lastError = `${d.reason}: ${d.detail}`;
      this.st.lastErrorAt = receivedAt;
    }
    if (readings.length > 0) {
      await this.commit(readings);
      for (const r of readings) {
        if (r.quality === 'bad') this.st.bad++;
        else {
          this.st.good++;
          this.st.lastReadingAt = receivedAt;
        }
      }
    }
    return true;
  }

  /**
   * Writes to the store, retrying with backoff while the store fails (the PUBACK waits meanwhile).
   * Messages are pipelined (several await their commit at once), so retries queue up and go one
   * after another in arrival order: a store that recovers gets the messages in the order they came.
   */
  private async commit(readings: Reading[]): Promise<void> {
    if (!this.storeFailing) {
      try {
        await this.ctx.sink.write(readings, RETRIED);
        return;
      } catch (e) {
        this.noteStoreFailure(e);
      }
    }
    const before = this.retryTail;
    let done!: () => void;
    this.retryTail = new Promise<void>((resolve) => (done = resolve));
    try {
      await before;
      const backoff = new Backoff({ baseMs: 100, capMs: 5000 });
      for (;;) {
        if (this.stopping) throw new Error('stopping while the store fails');
        try {
          await this.ctx.sink.write(readings, RETRIED);
          if (this.storeFailing) this.ctx.log.info('store accepts readings again');
          this.storeFailing = false;
          return;
        } catch (e) {
          this.noteStoreFailure(e);
          await this.ctx.clock.sleep(backoff.next());
        }
      }
    } finally {
      done();
    }
  }

  private noteStoreFailure(e: unknown): void {
    if (!this.storeFailing) this.ctx.log.error({ err: errorText(e) }, 'store write failed; holding the MQTT acknowledgement and retrying');
    this.storeFailing = true;
    this.st.lastError = `STORE: ${errorText(e)}`;
    this.st.lastErrorAt = this.ctx.clock.now();
  }

  private requestRebirth(now: number): void {
    const sp = this.sp!;
    this.st.rebirthRequests++;
    this.ctx.log.info({ topic: sp.ncmdTopic }, 'unknown Sparkplug alias or no birth: requesting rebirth');
    this.conn
      ?.publish(sp.ncmdTopic, Buffer.from(rebirthPayload(now)), 0)
      .catch((e: unknown) => this.ctx.log.warn({ err: errorText(e) }, 'rebirth request not sent'));
  }

  async write(tagName: string, value: Value): Promise<void> {
    const tag = this.tags.get(tagName);
    if (!tag) throw new GatewayError(ErrorCodes.TAG_UNKNOWN, `${this.deviceId} has no tag "${tagName}"`);
    const conn = this.conn;
    if (this.sp) {
      const metric = this.sp.metricOf(tagName)!;
      const kind = tag.type ?? this.kinds.get(tagName) ?? kindOfSparkplugType(metric.type) ?? inferKind(value);
      const conv = kind ? convertValue(value, kind) : { ok: false as const };
      if (!kind || !conv.ok) throw new GatewayError(ErrorCodes.WRITE_TYPE, `${JSON.stringify(value)} does not fit ${tagName} (${kind ?? 'unknown type'})`);
      const spType = metric.type ?? SPARKPLUG_TYPE_OF_KIND[kind];
      const body = encodeSparkplug({ timestamp: this.ctx.clock.now(), metrics: [{ name: metric.name, type: spType, value: conv.value }] });
      if (!conn) throw new GatewayError(ErrorCodes.NOT_CONNECTED, `${this.deviceId} is stopped`);
      await conn.publish(this.sp.cmdTopic, Buffer.from(body), 0);
      return;
    }
    if (!tag.writeTopic) throw new GatewayError(ErrorCodes.WRITE_UNSUPPORTED, `${this.deviceId}.${tagName} has no writeTopic`);
    const kind = tag.type ?? this.kinds.get(tagName);
    let out: Value = value;
    if (kind) {
      const conv = convertValue(value, kind);
      if (!conv.ok) throw new GatewayError(ErrorCodes.WRITE_TYPE, `${JSON.stringify(value)} does not fit ${tagName} (${kind})`);
      out = conv.value;
    }
    if (!conn) throw new GatewayError(ErrorCodes.NOT_CONNECTED, `${this.deviceId} is stopped`);
    await conn.publish(tag.writeTopic, this.device.format === 'raw' ? String(out) : JSON.stringify(out), 1);
  }
}
