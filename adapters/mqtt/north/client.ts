/**
 * The I/O shell of one northbound target: a clean MQTT session with a last will, capped jittered
 * reconnect backoff on the injected clock, subscriptions for commands, and publishes that resolve
 * on the broker's acknowledgement. A fresh mqtt.js client is made for every connection, so a
 * publish in flight when the connection drops is rejected (and sent again by the publisher from the
 * store) instead of being resent by mqtt.js on the next session with a sequence number the new
 * session no longer matches. The session is clean because a command queued at the broker while
 * the gateway was away must not be executed hours late.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { Backoff } from '../../../config/backoff.js';
import { systemClock, type Clock, type TimerHandle } from '../../../config/clock.js';
import { ErrorCodes, GatewayError, errorText } from '../../../config/errors.js';
import { redactUrl } from '../../../config/redact.js';
import { clientOptions, readTls, type TlsMaterial } from '../options.js';
import type { NorthTargetConfig } from './schema.js';

export interface WillMessage {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
}

export interface NorthClientHooks {
  /** the last will of the next connection (Sparkplug: NDEATH with the next bdSeq) */
  will(): WillMessage;
  /** connected (after the subscriptions were granted): publish births / status, then data */
  up(): void;
  down(error: string | undefined): void;
  message(topic: string, payload: Buffer): void;
}

export class NorthClient {
  private client: MqttClient | undefined;
  private readonly backoff: Backoff;
  private tls: TlsMaterial = {};
  private timer: TimerHandle | undefined;
  private closing = false;
  private isUp = false;
  private outageLogged = false;
  /** the broker's Receive Maximum (MQTT 5 CONNACK), else 65535 */
  private receiveMaximum = 65535;
  lastError: string | undefined;
  connects = 0;

  constructor(
    private readonly cfg: NorthTargetConfig,
    readonly clientId: string,
    private readonly subscriptions: readonly string[],
    private readonly hooks: NorthClientHooks,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    this.backoff = new Backoff({ baseMs: cfg.reconnect.min, capMs: cfg.reconnect.max, minMs: Math.min(cfg.reconnect.min, cfg.reconnect.max) });
  }

  get connected(): boolean {
    return this.isUp && (this.client?.connected ?? false);
  }

  /** reconnect attempts since the last successful connect */
  get failures(): number {
    return this.backoff.failures;
  }

  /** messages that may await acknowledgement at once */
  window(): number {
    return Math.max(1, Math.min(this.cfg.maxInflight, this.receiveMaximum));
  }

  start(): void {
    this.closing = false;
    this.tls = readTls(this.cfg, `north.${this.cfg.name}`);
    this.open();
  }

  private open(): void {
    if (this.closing) return;
    const will = this.hooks.will();
    const opts: IClientOptions = clientOptions(this.cfg, this.clientId, true, this.tls);
    opts.will = { topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain };
    const client = mqtt.connect(this.cfg.url, opts);
    this.client = client;
    client.on('connect', (connack) => {
      if (this.client !== client) return;
      this.receiveMaximum = connack.properties?.receiveMaximum ?? 65535;
      const subs = this.subscriptions;
      const ready = () => {
        if (this.client !== client || !client.connected) return;
        this.connects++;
        this.backoff.reset();
        this.lastError = undefined;
        if (this.outageLogged) this.log.info({ url: redactUrl(this.cfg.url) }, 'northbound target connected again');
        this.outageLogged = false;
        this.isUp = true;
        this.hooks.up();
      };
      if (subs.length === 0) return ready();
      client.subscribe(
        subs.map((t) => t),
        { qos: 1 },
        (err, granted) => {
          if (err) {
            this.fail(`subscribe failed: ${errorText(err)}`);
            client.stream?.destroy();
            return;
          }
          for (const g of granted ?? [])
            if (g.qos === 128 || (g.qos ?? 0) > 2) this.log.error({ topic: g.topic }, 'northbound: the broker refused the command subscription');
          ready();
        },
      );
    });
    client.on('message', (topic, payload) => {
      if (this.client === client) this.hooks.message(topic, payload);
    });
    client.on('error', (e) => {
      if (this.client === client) this.fail(errorText(e));
    });
    // every lost connection and failed attempt ends in 'close'
    client.on('close', () => {
      if (this.client !== client) return;
      this.client = undefined;
      const wasUp = this.isUp;
      this.isUp = false;
      // publishes in flight are rejected now; the publisher sends them again from the store
      client.end(true);
      if (wasUp) this.hooks.down(this.lastError ?? 'DISCONNECTED');
      if (this.closing) return;
      if (!this.outageLogged) {
        this.outageLogged = true;
        this.log.warn({ url: redactUrl(this.cfg.url), err: this.lastError }, 'northbound target unreachable: retrying with backoff, data stays in the store');
      }
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined;
        this.open();
      }, this.backoff.next());
    });
  }

  private fail(error: string): void {
    this.lastError = error;
  }

  /** Publishes; resolves on the broker's acknowledgement (QoS 1: PUBACK; 2: PUBCOMP; 0: written). */
  publish(topic: string, payload: Buffer | string, opts: { qos: 0 | 1 | 2; retain?: boolean }): Promise<void> {
    const client = this.client;
    if (!client || !this.isUp) return Promise.reject(new GatewayError(ErrorCodes.NOT_CONNECTED, `not connected to ${redactUrl(this.cfg.url)}`));
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, { qos: opts.qos, retain: opts.retain ?? false }, (err, packet) => {
        if (err) return reject(new GatewayError(ErrorCodes.NOT_CONNECTED, `publish to ${topic} not acknowledged: ${errorText(err)}`, { cause: err }));
        // MQTT 5: a PUBACK with a reason code of 0x80 or above is a refusal
        const rc = (packet as { reasonCode?: number } | undefined)?.reasonCode;
        if (rc !== undefined && rc >= 0x80)
          return reject(new GatewayError(ErrorCodes.WRITE_FAILED, `the broker refused the publish to ${topic} (reason code ${rc})`));
        resolve();
      });
    });
  }

  /**
   * Closes: `last` (the offline heartbeat, NDEATH) is published first while connected, then a
   * clean DISCONNECT (the broker then drops the will: `last` says it instead).
   */
  async stop(last?: WillMessage, timeoutMs = 2000): Promise<void> {
    this.closing = true;
    this.clock.clearTimeout(this.timer);
    const client = this.client;
    if (!client) return;
    if (last && this.connected) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([
        this.publish(last.topic, last.payload, { qos: last.qos, retain: last.retain }).catch(() => undefined),
        new Promise((r) => (t = setTimeout(r, timeoutMs))),
      ]);
      clearTimeout(t);
    }
    this.isUp = false;
    this.client = undefined;
    await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  }
}
