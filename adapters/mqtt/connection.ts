/**
 * The I/O shell around one mqtt.js client: connect (mqtt, mqtts, ws), persistent session,
 * reconnect with capped jittered backoff, subscriptions, and the at-least-once hand-off:
 * `client.handleMessage` is mqtt.js's hook whose callback sends the PUBACK (node_modules/mqtt
 * build/lib/handlers/publish.js: `client.handleMessage(packet, () => _sendPacket(puback, done))`,
 * where `done` lets mqtt.js parse the next packet). Called as is, that makes one store commit per
 * message. So QoS 0 and 1 messages are pipelined: the callback is called at once, the PUBACK it
 * sends is held back (puback-hold.ts) until the message's readings are committed, and PUBACKs
 * leave in the order the messages arrived (MQTT 3.1.1 §4.6), so a commit failure acknowledges
 * nothing from that message on. At most MAX_UNCOMMITTED messages are read ahead of their commit
 * (backpressure on the socket beyond that). QoS 2 stays one message at a time. Should a future
 * mqtt.js lack `_sendPacket`, or send the first PUBACK around the hold, every message falls back
 * to ack-after-commit, one at a time.
 *
 * Devices with the same broker url and clientId share one connection (ctx.shared), since two
 * clients with one clientId would take each other's session over.
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { Backoff } from '../../config/backoff.js';
import { systemClock, type Clock, type TimerHandle } from '../../config/clock.js';
import { ErrorCodes, GatewayError, errorText } from '../../config/errors.js';
import { redactUrl } from '../../config/redact.js';
import { clientOptions, readTls, type TlsMaterial } from './options.js';
import { PubackHold, type HeldAck } from './puback-hold.js';
import type { MqttConnectionConfig } from './schema.js';

export interface Subscriber {
  /** subscription filters and their QoS */
  readonly filters: ReadonlyArray<string>;
  readonly qos: 0 | 1 | 2;
  /**
   * Handles one message; resolves when whatever it produced is committed (readings written,
   * dead letters kept). Rejecting means "not committed": the message is not acknowledged.
   */
  onMessage(topic: string, payload: Buffer, receivedAt: number): Promise<boolean>;
  onConnection(connected: boolean, error?: string): void;
  /** keeps a message no subscriber matched (a stale subscription of the persistent session) */
  unmatched(topic: string, payload: Buffer, receivedAt: number): void;
}

/** Compares two devices' connection settings, QoS aside (it is per subscription). */
export function sameConnection(a: MqttConnectionConfig, b: MqttConnectionConfig): boolean {
  const strip = (c: MqttConnectionConfig) => JSON.stringify({ ...c, qos: 0 });
  return strip(a) === strip(b);
}

/** messages read ahead of their commit on one connection before mqtt.js is made to wait */
const MAX_UNCOMMITTED = 1000;

export interface MqttConnectionOptions {
  /** creates the mqtt.js client (default `mqtt.connect`) */
  connect?: (url: string, opts: IClientOptions) => MqttClient;
}

export class MqttConnection {
  private client: MqttClient | undefined;
  private readonly subs = new Set<Subscriber>();
  private readonly backoff: Backoff;
  private inflight = new Set<Promise<unknown>>();
  /** QoS 1 PUBACKs held until commit; its generation is bumped on every close */
  private readonly hold: PubackHold;
  /** mqtt.js "parse the next packet" callbacks held while MAX_UNCOMMITTED messages await commit */
  private heldNext: Array<() => void> = [];
  private uncommitted = 0;
  private wasConnected = false;
  private outageErrors = 0;
  private closing = false;
  private reconnectTimer: TimerHandle | undefined;
  lastError: string | undefined;
  /** messages no subscriber wanted (acknowledged and dropped) */
  unmatched = 0;

  constructor(
    readonly key: string,
    readonly cfg: MqttConnectionConfig,
    readonly clientId: string,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
    private readonly options: MqttConnectionOptions = {},
  ) {
    this.hold = new PubackHold(log, (go) => this.next(go));
    this.backoff = new Backoff({ baseMs: cfg.reconnect.min, capMs: cfg.reconnect.max, minMs: Math.min(cfg.reconnect.min, cfg.reconnect.max) });
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** reconnect attempts since the connection was last up */
  get failures(): number {
    return this.backoff.failures;
  }

  get subscriberCount(): number {
    return this.subs.size;
  }

  add(sub: Subscriber): void {
    this.subs.add(sub);
    if (this.client?.connected) this.subscribe([sub]);
  }

  /** Removes a subscriber; unsubscribes the filters no one else uses. Returns how many remain. */
  remove(sub: Subscriber): number {
    if (!this.subs.delete(sub)) return this.subs.size;
    const still = new Set([...this.subs].flatMap((s) => s.filters));
    const gone = sub.filters.filter((f) => !still.has(f));
    if (gone.length && this.client?.connected && this.subs.size > 0) this.client.unsubscribe(gone, () => {});
    return this.subs.size;
  }

  /**
   * Opens the connection (idempotent). Never rejects because the broker is unreachable. The
   * connect itself waits for the next macrotask, so devices created and started in one loop share
   * the connection before a resumed session delivers its backlog.
   */
  start(): void {
    if (this.client || this.starting) return;
    this.starting = true;
    this.readConfigFiles();
    setImmediate(() => {
      this.starting = false;
      if (!this.closing && !this.client) this.open();
    });
  }

  private tls: TlsMaterial = {};
  private starting = false;

  private readConfigFiles(): void {
    this.tls = readTls(this.cfg, 'connection');
  }

  private open(): void {
    const c = this.cfg;
    const opts = clientOptions(c, this.clientId, c.cleanStart, this.tls);
    if (c.protocolVersion === 5) opts.properties = { sessionExpiryInterval: Math.min(0xffffffff, Math.round(c.sessionExpiry / 1000)) };

    const client = (this.options.connect ?? mqtt.connect)(c.url, opts);
    this.client = client;
    // PUBACK only after commit (see the file comment)
    const hold = this.hold;
    hold.install(client);
    client.handleMessage = (packet: IPublishPacket, callback: (error?: Error) => void) => {
      const gen = hold.generation;
      const pipelined = hold.pipelining && packet.qos < 2;
      const held: HeldAck | undefined = pipelined && packet.qos === 1 ? hold.track(packet.messageId) : undefined;
      this.uncommitted++;
      const p = this.dispatch(packet).then(
        () => {
          if (held) hold.commit(held);
          else if (!pipelined && gen === hold.generation) callback();
        },
        (e: unknown) => {
          // not committed: no PUBACK for it nor for anything after it; drop the connection so the
          // broker redelivers them on the next session
          this.log.error({ err: errorText(e), topic: packet.topic }, 'mqtt message not committed; reconnecting for redelivery');
          if (held) hold.forget(gen);
          if (gen === hold.generation && !this.closing) client.stream?.destroy();
        },
      );
      this.inflight.add(p);
      void p.finally(() => {
        this.inflight.delete(p);
        this.uncommitted--;
        while (this.heldNext.length > 0 && this.uncommitted < MAX_UNCOMMITTED) this.heldNext.shift()!();
      });
      if (!pipelined) return;
      // QoS 1: sends the PUBACK, which the hold keeps; QoS 0: parses the next packet
      if (held) hold.acknowledge(held, () => callback());
      else this.next(() => callback());
    };
    // every lost connection and failed attempt (refused, TLS, CONNACK error) ends in 'close'
    client.on('close', () => {
      // acknowledgements for the dead connection never go out; the broker redelivers those messages
      this.hold.reset();
      for (const next of this.heldNext.splice(0)) next();
      if (!this.closing) this.scheduleReconnect(client);
      if (this.wasConnected && !this.closing) {
        this.log.warn({ url: redactUrl(c.url), clientId: this.clientId }, 'mqtt connection lost; reconnecting with backoff');
        for (const s of this.subs) s.onConnection(false, this.lastError ?? 'DISCONNECTED');
      }
      this.wasConnected = false;
    });
    client.on('connect', (connack) => {
      if (this.outageErrors > 0 || this.backoff.failures > 0)
        this.log.info({ attempts: this.backoff.failures, sessionPresent: connack.sessionPresent }, 'mqtt connected');
      else this.log.debug({ sessionPresent: connack.sessionPresent }, 'mqtt connected');
      this.backoff.reset();
      this.outageErrors = 0;
      this.wasConnected = true;
      this.lastError = undefined;
      this.subscribe([...this.subs]);
      for (const s of this.subs) s.onConnection(true);
    });
    client.on('error', (e) => {
      this.lastError = errorText(e);
      if (this.outageErrors++ === 0) this.log.warn({ err: this.lastError, url: redactUrl(c.url) }, 'mqtt connection error');
      for (const s of this.subs) s.onConnection(client.connected, this.lastError);
    });
  }

  /**
   * The next attempt after the capped, jittered backoff (config/backoff.ts) on the injected clock.
   * The stores are handed over so QoS 1 publishes in flight (writes) are resent, not forgotten.
   */
  private scheduleReconnect(client: MqttClient): void {
    if (this.reconnectTimer) return;
    const delay = this.backoff.next();
    this.reconnectTimer = this.clock.setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closing || this.client !== client || client.connected) return;
      client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
    }, delay);
  }

  /** Lets mqtt.js parse the next packet now, or once fewer than MAX_UNCOMMITTED await commit. */
  private next(go: () => void): void {
    if (this.uncommitted < MAX_UNCOMMITTED) go();
    else this.heldNext.push(go);
  }

  private subscribe(subs: Subscriber[]): void {
    const client = this.client;
    if (!client) return;
    const want = new Map<string, 0 | 1 | 2>();
    for (const s of subs) for (const f of s.filters) want.set(f, Math.max(want.get(f) ?? 0, s.qos) as 0 | 1 | 2);
    if (want.size === 0) return;
    // rh 1 (MQTT 5): retained messages only for a new subscription, not again on every resumed session
    const map: Record<string, { qos: 0 | 1 | 2; rh?: number }> = {};
    for (const [f, qos] of want) map[f] = this.cfg.protocolVersion === 5 ? { qos, rh: 1 } : { qos };
    client.subscribe(map, (err, granted) => {
      if (err) {
        this.lastError = errorText(err);
        this.log.error({ err: this.lastError }, 'mqtt subscribe failed');
        return;
      }
      for (const g of granted ?? []) if (g.qos === 128 || (g.qos ?? 0) > 2) this.log.error({ topic: g.topic }, 'mqtt subscription refused by the broker');
    });
  }

  private async dispatch(packet: IPublishPacket): Promise<void> {
    const topic = packet.topic;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const now = this.clock.now();
    const results = await Promise.all([...this.subs].map((s) => s.onMessage(topic, payload, now)));
    if (!results.some(Boolean)) {
      this.unmatched++;
      [...this.subs][0]?.unmatched(topic, payload, now);
    }
  }

  async publish(topic: string, payload: string | Buffer, qos: 0 | 1 | 2): Promise<void> {
    const client = this.client;
    if (!client?.connected) throw new GatewayError(ErrorCodes.NOT_CONNECTED, `not connected to ${redactUrl(this.cfg.url)}`);
    try {
      await client.publishAsync(topic, Buffer.isBuffer(payload) ? payload : Buffer.from(payload), { qos });
    } catch (e) {
      throw new GatewayError(ErrorCodes.WRITE_FAILED, `publish to ${topic} failed: ${errorText(e)}`, { cause: e });
    }
  }

  /**
   * Closes the connection. In-flight commits get `graceMs` to finish (their PUBACK goes out);
   * after that the socket is dropped and the broker redelivers anything unacknowledged.
   */
  async close(graceMs = 1000): Promise<void> {
    this.closing = true;
    const client = this.client;
    if (!client) return;
    if (this.inflight.size > 0) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => (t = setTimeout(r, graceMs)))]);
      clearTimeout(t);
    }
    this.hold.reset(); // nothing that finishes later may acknowledge
    this.clock.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    await new Promise<void>((resolve) => client.end(this.inflight.size > 0, {}, () => resolve()));
    this.client = undefined;
  }
}
