/**
 * Holds QoS 1 PUBACKs until their messages are committed, and lets them leave in arrival order
 * (MQTT 3.1.1 §4.6). mqtt.js's publish handler (node_modules/mqtt build/lib/handlers/publish.js)
 * calls `client.handleMessage(packet, cb)`, and `cb` synchronously calls
 * `client._sendPacket({ cmd: 'puback', messageId }, done)`. The hold replaces the client's
 * `_sendPacket`: a `puback` for a message it tracks is kept (and `done` is passed on, so mqtt.js
 * parses the next packet) until that message and every one before it are committed.
 *
 * That relies on mqtt.js internals, so the hold checks by behaviour that it works: on the client's
 * first QoS 1 message, the PUBACK must have reached the replaced `_sendPacket` by the time `cb`
 * returns. If it did not, mqtt.js sends PUBACKs some other way, which the hold cannot stop: the hold
 * then turns pipelining off for good (warned once), and the connection calls `cb` only after each
 * message's commit, one message at a time, which is mqtt.js's own path and needs no hold. The
 * message that revealed it may have been acknowledged before its commit. A client without
 * `_sendPacket` gets the same one-at-a-time path from the start.
 *
 * Acknowledgements are tied to a generation, bumped by reset() on every lost connection: a commit
 * that finishes after its connection died never acknowledges on the next one (the broker
 * redelivers those messages instead).
 */
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';

type Packet = { cmd: string; messageId?: number };
type SendPacket = (packet: Packet, cb?: (err?: Error) => void, cbStorePut?: unknown, noStore?: boolean) => void;

/** one QoS 1 message whose PUBACK waits for its commit (and its predecessors') */
export interface HeldAck {
  readonly messageId: number | undefined;
  readonly generation: number;
  committed: boolean;
  puback?: Packet;
}

/**
 * absent: the client has no `_sendPacket`; unverified: installed, no QoS 1 message seen yet;
 * verified: the first PUBACK went through the hold; bypassed: it did not.
 */
export type AckPath = 'absent' | 'unverified' | 'verified' | 'bypassed';

export class PubackHold {
  /** bumped by reset() on every close */
  generation = 0;
  private acks: HeldAck[] = [];
  private send: SendPacket | undefined;
  private path: AckPath = 'absent';
  /** inside the first QoS 1 message's callback: its outcome is not known yet */
  private probing = false;

  /**
   * @param next passes mqtt.js's "parse the next packet" callback on, now or once the connection's
   *   backpressure allows
   */
  constructor(
    private readonly log: Logger,
    private readonly next: (go: () => void) => void,
  ) {}

  get ackPath(): AckPath {
    return this.path;
  }

  /** Whether QoS 0 and 1 messages may be read ahead of their commit (their PUBACKs held here). */
  get pipelining(): boolean {
    return !this.probing && (this.path === 'unverified' || this.path === 'verified');
  }

  /** Replaces the client's `_sendPacket`, if it has one; otherwise pipelining stays off. */
  install(client: MqttClient): void {
    const internal = client as unknown as { _sendPacket?: SendPacket };
    if (typeof internal._sendPacket !== 'function') return;
    const original = internal._sendPacket.bind(client);
    this.send = original;
    this.path = 'unverified';
    internal._sendPacket = (packet, cb, cbStorePut, noStore) => {
      if (packet.cmd === 'puback') {
        const held = this.acks.find((h) => h.messageId === packet.messageId && h.puback === undefined && h.generation === this.generation);
        if (held) {
          held.puback = packet;
          this.release();
          this.next(cb ?? (() => {}));
          return;
        }
      }
      original(packet, cb, cbStorePut, noStore);
    };
  }

  /** Starts holding a QoS 1 message's PUBACK (call in arrival order, while pipelining). */
  track(messageId: number | undefined): HeldAck {
    const held: HeldAck = { messageId, generation: this.generation, committed: false };
    this.acks.push(held);
    return held;
  }

  /**
   * Calls mqtt.js's handleMessage callback for a tracked message; it sends the PUBACK, which the
   * hold keeps. On the first QoS 1 message, checks that the PUBACK did arrive here.
   */
  acknowledge(held: HeldAck, callback: () => void): void {
    if (this.path !== 'unverified') {
      callback();
      return;
    }
    this.probing = true;
    try {
      callback();
    } finally {
      this.probing = false;
    }
    // publish.js sends the PUBACK synchronously from the callback, so by now the hold has it
    if (held.generation !== this.generation) return; // the connection closed meanwhile: undecided, the next one tells
    if (held.puback !== undefined) {
      this.path = 'verified';
      return;
    }
    this.path = 'bypassed';
    this.log.warn(
      { messageId: held.messageId },
      'mqtt.js sent a PUBACK without passing through the hold (its acknowledgement path changed); from now on each message is acknowledged ' +
        'after its commit, one at a time (slower; this first message may have been acknowledged before its commit)',
    );
    this.release();
  }

  /** The message's readings are committed: its PUBACK may leave once its predecessors' have. */
  commit(held: HeldAck): void {
    held.committed = true;
    this.release();
  }

  /** A commit failed: nothing of that generation is acknowledged (the connection is dropped). */
  forget(generation: number): void {
    this.acks = this.acks.filter((h) => h.generation !== generation);
  }

  /** The connection is gone: its acknowledgements never go out; the broker redelivers. */
  reset(): void {
    this.generation++;
    this.acks = [];
  }

  /** Sends, in arrival order, the PUBACKs of the messages committed so far. */
  private release(): void {
    while (this.acks.length > 0) {
      const h = this.acks[0]!;
      if (h.generation !== this.generation) {
        this.acks.shift();
        continue;
      }
      if (!h.committed) return;
      if (h.puback === undefined) {
        // never coming through here (bypassed), or not yet sent by mqtt.js
        if (this.path !== 'bypassed') return;
        this.acks.shift();
        continue;
      }
      this.acks.shift();
      this.send?.(h.puback);
    }
  }
}
