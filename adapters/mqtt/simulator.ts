/**
 * An MQTT publisher simulator for tests and the demo plant: on a timer it publishes JSON telemetry
 * for a device, shaped like the canonical polisher-04 config (config/gateway.yaml):
 *   <prefix>/status     {"state": "running"}
 *   <prefix>/telemetry  {"ts": <epoch ms>, "counters": {"pieces": N}, "motor": {"current": 4.2}, ...}
 * Any other shape: pass `messages`. Publish errors are counted, never thrown out of the timer.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { systemClock, type Clock, type TimerHandle } from '../../config/clock.js';

export interface SimMessage {
  topic: string;
  /** serialized with JSON.stringify unless already a string or Buffer */
  payload: unknown;
  retain?: boolean;
}

export interface MqttSimulatorOptions {
  url: string;
  clientId?: string;
  username?: string;
  password?: string;
  /** time between two publications (ms) */
  intervalMs: number;
  qos?: 0 | 1;
  /** MQTT 5 (default) or 4 (3.1.1, e.g. for an in-process aedes broker) */
  protocolVersion?: 4 | 5;
  /** what to publish on each tick */
  messages: (now: number) => SimMessage[];
  clock?: Clock;
}

/** The machine values a telemetry tick reports. */
export interface MachineReading {
  state: string | number;
  pieces: number;
  /** further parameters, published under `motor` (e.g. { current: 4.2 }) */
  motor?: Record<string, number>;
  extra?: Record<string, unknown>;
}

/** Messages shaped like the canonical polisher config: `<prefix>/status` and `<prefix>/telemetry`. */
export function telemetryMessages(prefix: string, read: (now: number) => MachineReading): (now: number) => SimMessage[] {
  return (now) => {
    const r = read(now);
    return [
      { topic: `${prefix}/status`, payload: { state: r.state } },
      { topic: `${prefix}/telemetry`, payload: { ts: now, counters: { pieces: r.pieces }, motor: r.motor ?? {}, ...r.extra } },
    ];
  };
}

export class MqttSimulator {
  private client: MqttClient | undefined;
  private timer: TimerHandle | undefined;
  private readonly clock: Clock;
  private running = false;
  published = 0;
  errors = 0;

  constructor(private readonly opts: MqttSimulatorOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  async start(): Promise<void> {
    const o: mqtt.IClientOptions = { protocolVersion: this.opts.protocolVersion ?? 5, reconnectPeriod: 1000 };
    if (this.opts.clientId) o.clientId = this.opts.clientId;
    if (this.opts.username) o.username = this.opts.username;
    if (this.opts.password) o.password = this.opts.password;
    this.client = mqtt.connect(this.opts.url, o);
    this.client.on('error', () => this.errors++);
    this.running = true;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = this.clock.setTimeout(() => {
      void this.tick().finally(() => this.schedule(this.opts.intervalMs));
    }, ms);
  }

  /** Publishes one round now (also called by the timer). */
  async tick(): Promise<void> {
    const c = this.client;
    if (!c?.connected) return;
    const now = this.clock.now();
    await Promise.all(
      this.opts.messages(now).map(async (m) => {
        const body = typeof m.payload === 'string' || Buffer.isBuffer(m.payload) ? m.payload : JSON.stringify(m.payload);
        try {
          await c.publishAsync(m.topic, body, { qos: this.opts.qos ?? 1, retain: m.retain ?? false });
          this.published++;
        } catch {
          this.errors++;
        }
      }),
    );
  }

  async stop(): Promise<void> {
    this.running = false;
    this.clock.clearTimeout(this.timer);
    await this.client?.endAsync();
    this.client = undefined;
  }
}
