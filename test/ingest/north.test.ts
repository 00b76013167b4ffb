/**
 * The northbound publisher's store side (ingest/north.ts) over a real store, with a scripted link
 * (a small test double named so: the real MQTT link is tested against Mosquitto in test/north/).
 * The link holds each publish until the test acknowledges or fails it, which is what a broker can
 * do on its own time and a test cannot make Mosquitto do on demand.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { NorthForwarder, type NorthLink, type NorthPoint } from '../../ingest/north.js';
import { openStore } from '../../ingest/store/index.js';
import type { Store } from '../../ingest/types.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { ManualClock } from '../helpers/manual-clock.js';

const T = Date.UTC(2026, 0, 1);

class ScriptedLink implements NorthLink {
  size = 100;
  autoAck = true;
  readonly sent: Array<{ point: NorthPoint; historical: boolean }> = [];
  readonly pending: Array<{ point: NorthPoint; ack: () => void; fail: (e: Error) => void }> = [];
  window(): number {
    return this.size;
  }
  publish(point: NorthPoint, historical: boolean): Promise<void> {
    this.sent.push({ point, historical });
    if (this.autoAck) return Promise.resolve();
    return new Promise((ack, fail) => this.pending.push({ point, ack: () => ack(), fail }));
  }
  ackAll(): void {
    for (const p of this.pending.splice(0)) p.ack();
  }
}

/** one poll of device `d`: tags a, b, c at ts */
const poll = (device: string, ts: number, v: number): Reading[] => [
  { device, tag: 'a', ts, kind: 'float', value: v, quality: 'good' },
  { device, tag: 'b', ts, kind: 'integer', value: v * 10, quality: 'good' },
  { device, tag: 'c', ts, kind: 'boolean', value: null, quality: 'bad', error: 'MODBUS_EXC_2' },
];

let dir: ReturnType<typeof tempDir>;
let store: Store;
let clock: ManualClock;
let fwd: NorthForwarder | undefined;

beforeEach(() => {
  dir = tempDir('fgw-north-');
  clock = new ManualClock(T);
  store = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0, clock });
});

afterEach(async () => {
  await fwd?.stop({ timeoutMs: 0 });
  fwd = undefined;
  await store.close();
  dir.cleanup();
});

/** moves the manual clock in steps, so the loop's sleeps registered along the way fire too */
async function tick(ms: number, step = 10): Promise<void> {
  for (let t = 0; t < ms; t += step) await clock.advance(step);
}

const make = (link: NorthLink, opts: { replayRate?: number; include?: (d: string, t: string) => boolean } = {}) => {
  fwd = new NorthForwarder({ store, name: 'platform', link, replayRate: opts.replayRate ?? 1000, clock, ...(opts.include ? { include: opts.include } : {}) });
  fwd.start();
  return fwd;
};

describe('NorthForwarder', () => {
  it('publishes one message per point with every reading as stored, status rows skipped; the cursor moves only past acknowledged messages', async () => {
    const link = new ScriptedLink();
    link.autoAck = false;
    const f = make(link);
    f.linkUp();
    await store.write(poll('press', T, 1));
    await store.writeStatus([{ device: '', tag: 'heartbeat', ts: T, kind: 'boolean', value: true, quality: 'good' }]);
    await store.write(poll('lathe', T + 5, 2));
    await waitFor('two messages sent', () => link.sent.length === 2);
    expect(link.sent.map((s) => [s.point.device, s.point.ts, s.point.tie, s.historical])).toEqual([
      ['press', T, 0, false],
      ['lathe', T + 5, 0, false],
    ]);
    expect(link.sent[0]!.point.readings).toEqual([
      { tag: 'a', kind: 'float', value: 1, quality: 'good' },
      { tag: 'b', kind: 'integer', value: 10, quality: 'good' },
      { tag: 'c', kind: 'boolean', value: null, quality: 'bad', error: 'MODBUS_EXC_2' },
    ]);
    const seqs = store.readForward('readings', 0, 100).map((r) => r.seq);
    expect(link.sent.map((s) => s.point.seq)).toEqual([seqs[0], seqs[4]]);
    // nothing acknowledged yet: the cursor has not moved
    await clock.advance(1000);
    expect(store.getCursor('north:platform')).toBe(0);
    expect(f.stats().backlog).toBe(7);
    // the second acknowledged before the first: still nothing (in order only)
    link.pending[1]!.ack();
    await clock.advance(1000);
    expect(store.getCursor('north:platform')).toBe(0);
    link.pending[0]!.ack();
    await waitFor('cursor at the end', async () => {
      await clock.advance(300);
      return store.getCursor('north:platform') === seqs.at(-1);
    });
    expect(f.stats()).toMatchObject({ backlog: 0, published: 2, publishedReadings: 6, lagMs: 0 });
  });

  it('a link that drops before acknowledging gets the unacknowledged messages again after it comes back', async () => {
    const link = new ScriptedLink();
    link.autoAck = false;
    const f = make(link);
    f.linkUp();
    for (let i = 0; i < 5; i++) await store.write(poll('press', T + i, i));
    await waitFor('five sent', () => link.sent.length === 5);
    link.pending[0]!.ack();
    link.pending[1]!.ack();
    await clock.advance(10);
    f.linkDown('connection lost');
    // the ones acknowledged after the drop belong to the dead connection
    link.ackAll();
    await store.write(poll('press', T + 5, 5));
    f.linkUp();
    await store.write(poll('press', T + 6, 6));
    await waitFor('the rest sent again, the one stored while down, and the new one', async () => {
      await tick(20);
      return link.sent.length === 10;
    });
    // after the reconnect: 6, committed once the link was up, is live (at once); 2, 3, 4 (sent,
    // not acknowledged) and 5 (stored while down) are the replay (historical), in order
    expect(link.sent.map((s) => [s.point.readings[0]!.value, s.historical])).toEqual([
      [0, false],
      [1, false],
      [2, false],
      [3, false],
      [4, false],
      [6, false],
      [2, true],
      [3, true],
      [4, true],
      [5, true],
    ]);
    link.ackAll();
    await waitFor('all acknowledged', async () => {
      await tick(300, 50);
      return f.stats().backlog === 0;
    });
    expect(f.stats()).toMatchObject({ resent: 3, published: 7 });
  });

  it('replays a backlog at the bounded rate while live points go at once, each with its own timestamp', async () => {
    const link = new ScriptedLink();
    const f = make(link, { replayRate: 20 });
    // 100 points stored while the link was down
    for (let i = 0; i < 100; i++) await store.write(poll('press', T + i, i));
    f.linkUp();
    await tick(1000);
    // one second at 20/s (plus the first tick's burst of at most rate/10 + 1)
    const replayed = () => link.sent.filter((s) => s.historical).length;
    expect(replayed()).toBeGreaterThanOrEqual(15);
    expect(replayed()).toBeLessThanOrEqual(23);
    // a live point committed now is sent before the replay is done
    await store.write(poll('lathe', T + 100_000, 7));
    await waitFor('the live point sent', () => link.sent.some((s) => s.point.device === 'lathe'));
    const live = link.sent.find((s) => s.point.device === 'lathe')!;
    expect(live).toMatchObject({ historical: false, point: { ts: T + 100_000 } });
    expect(f.stats().replaying).toBe(true);
    // the replay goes in order and ends; the cursor follows the live stream from then on
    for (let i = 0; i < 6 && replayed() < 100; i++) await tick(1000, 50);
    expect(link.sent.filter((s) => s.historical).map((s) => s.point.ts)).toEqual(Array.from({ length: 100 }, (_, i) => T + i));
    await clock.advance(300);
    expect(f.stats()).toMatchObject({ replaying: false, backlog: 0 });
    expect(store.getCursor('north:platform')).toBe(store.headSeq());
  });

  it('devices and tags the target does not publish are left out and still passed by the cursor; an excluded tag does not split a point', async () => {
    const link = new ScriptedLink();
    make(link, { include: (d, t) => d === 'press' && t !== 'b' }).linkUp();
    await store.write(poll('lathe', T, 1));
    await store.write(poll('press', T + 1, 2));
    await store.write(poll('lathe', T + 2, 3));
    await waitFor('press sent', () => link.sent.length === 1);
    expect(link.sent[0]!.point.readings.map((r) => r.tag)).toEqual(['a', 'c']);
    await waitFor('cursor at the end', async () => {
      await clock.advance(300);
      return store.getCursor('north:platform') === store.headSeq();
    });
    expect(link.sent).toHaveLength(1);
  });

  it('a restart resumes from the persisted cursor; what was sent and not acknowledged goes again', async () => {
    const link = new ScriptedLink();
    link.autoAck = false;
    const f = make(link);
    f.linkUp();
    for (let i = 0; i < 4; i++) await store.write(poll('press', T + i, i));
    await waitFor('four sent', () => link.sent.length === 4);
    link.pending[0]!.ack();
    link.pending[1]!.ack();
    await clock.advance(300);
    await f.stop({ timeoutMs: 0 });
    fwd = undefined;
    const again = new ScriptedLink();
    make(again).linkUp();
    await waitFor('the two unacknowledged', async () => {
      await clock.advance(100);
      return again.sent.length === 2;
    });
    expect(again.sent.map((s) => s.point.readings[0]!.value)).toEqual([2, 3]);
  });

  it('a point wider than one read (3,000 tags of one poll) stays one message', async () => {
    const link = new ScriptedLink();
    make(link).linkUp();
    const rows: Reading[] = [];
    for (let i = 0; i < 3000; i++) rows.push({ device: 'big', tag: `t${i}`, ts: T, kind: 'float', value: i, quality: 'good' });
    await store.write(rows);
    await store.write(poll('press', T + 1, 1));
    await waitFor('two messages', () => link.sent.length === 2);
    expect(link.sent.map((s) => s.point.readings.length)).toEqual([3000, 3]);
  });

  it('a refused publish with the link up holds the target and tries again later; nothing is skipped', async () => {
    const link = new ScriptedLink();
    link.autoAck = false;
    const f = make(link);
    f.linkUp();
    await store.write(poll('press', T, 1));
    await waitFor('sent', () => link.pending.length === 1);
    link.pending.shift()!.fail(new Error('PUBACK reason 135: not authorized'));
    await tick(10);
    expect(f.stats().lastError).toContain('not authorized');
    expect(link.sent).toHaveLength(1);
    await waitFor('sent again', async () => {
      await tick(1000, 250);
      return link.pending.length === 1;
    });
    expect(link.sent.map((s) => s.point.seq)).toEqual([link.sent[0]!.point.seq, link.sent[0]!.point.seq]);
  });
});
