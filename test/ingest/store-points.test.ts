/**
 * Layout 5 keeps one row per point (the readings of one write with one device and ts) while every
 * reading keeps its own seq: cursors may stop inside a point, and everything counted in readings
 * (backlog, drops, losses, the named cursors' drop counters) must count the readings on the right
 * side of the cursor, not whole points. The expected numbers are worked out by hand from the
 * writes below.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { MAX_SHAPES_PER_DEVICE } from '../../ingest/store/points.js';
import { STORE_FILE, openStore } from '../../ingest/store/index.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { tempDir } from '../helpers/tmp.js';

const DAY = 86_400_000;
const T = Date.UTC(2026, 5, 1);
/** one poll of `device`: tags t0..t9, values base + i */
const poll = (device: string, ts: number, base: number): Reading[] =>
  Array.from({ length: 10 }, (_, i) => ({ device, tag: `t${i}`, ts, kind: 'integer', value: base + i, quality: 'good' }));

let dir: ReturnType<typeof tempDir>;
afterEach(() => dir.cleanup());

describe('store layout 5: readings inside points', () => {
  it('a poll is one row; a cursor inside it sends, counts and drops exactly the readings after it', async () => {
    dir = tempDir('fgw-points-');
    const clock = new ManualClock(T);
    const s = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: DAY, clock, limitsIntervalMs: 0, forwarding: true });
    await s.write(poll('press', T, 100)); // seqs 1-10
    await s.write(poll('lathe', T, 200)); // seqs 11-20
    await s.write(poll('press', T + 2 * DAY, 300)); // seqs 21-30, inside retention later
    const raw = new Database(join(dir.path, STORE_FILE), { readonly: true });
    expect(raw.prepare('SELECT seq, n FROM points ORDER BY seq').raw().all()).toEqual([
      [1, 10],
      [11, 10],
      [21, 10],
    ]);
    raw.close();

    // the forwarder stopped after seq 4, inside the first poll; north:a after 17, inside the second
    s.setCursor('readings', 4);
    s.setCursor('north:a', 17);
    expect(s.readForward('readings', 4, 4).map((r) => [r.seq, r.tag, r.value])).toEqual([
      [5, 't4', 104],
      [6, 't5', 105],
      [7, 't6', 106],
      [8, 't7', 107],
    ]);
    // across a point's end: 9, 10 of the first poll, 11, 12 of the second
    expect(s.readForward('readings', 8, 4).map((r) => r.seq)).toEqual([9, 10, 11, 12]);
    expect(s.backlog('readings')).toBe(26);
    expect(s.backlog('north:a')).toBe(13);

    // three days on, retention (1 day) takes the first two polls: 20 readings, of which the
    // forwarder had not sent 6 + 10 = 16 (all lathe's, press's t4..t9), north:a 3 (lathe's t7..t9)
    await clock.advance(3 * DAY);
    expect(s.enforceLimits()).toBe(20);
    const st = s.stats();
    // kept: the third poll, and the two loss episodes as status points for InfluxDB (4 readings each)
    expect(st).toMatchObject({ readings: 18, dropped: 20, droppedUnforwarded: 16, backlog: 18 });
    expect(st.losses).toEqual([
      { device: 'lathe', reason: 'retention', count: 10 },
      { device: 'press', reason: 'retention', count: 6 },
    ]);
    expect(s.droppedUnforwarded('north:a')).toBe(3);
    expect(s.backlog('north:a')).toBe(18);
    expect(s.query({ measurement: 'data' }).map((r) => r.value)).toEqual([300, 301, 302, 303, 304, 305, 306, 307, 308, 309]);
    await s.close();
  });

  it('latest: each tag from the newest point of the shapes that have it, a late point (older ts) not', async () => {
    dir = tempDir('fgw-points-');
    const s = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 });
    await s.write(poll('press', T + 1000, 100)); // t0..t9 = 100..109 at T+1s
    await s.write(poll('press', T + 2000, 200).slice(0, 5)); // t0..t4 = 200..204 at T+2s (another shape)
    await s.write(poll('press', T + 500, 300)); // late: t0..t9 at T+0.5s, written last
    await s.writeStatus([{ device: 'press', tag: 'connected', ts: T + 3000, kind: 'boolean', value: true, quality: 'good' }]);
    expect(s.latest('press').map((r) => [r.tag, r.value, r.ts])).toEqual([
      ['t0', 200, T + 2000],
      ['t1', 201, T + 2000],
      ['t2', 202, T + 2000],
      ['t3', 203, T + 2000],
      ['t4', 204, T + 2000],
      ['t5', 105, T + 1000],
      ['t6', 106, T + 1000],
      ['t7', 107, T + 1000],
      ['t8', 108, T + 1000],
      ['t9', 109, T + 1000],
    ]);
    expect(s.latest().map((r) => r.tag)).toHaveLength(10); // status rows are not device data
    await s.close();
  });

  it(`a source whose writes carry a new set of tags each time: at most ${MAX_SHAPES_PER_DEVICE} shapes for the device, then a point per reading, every reading kept`, async () => {
    dir = tempDir('fgw-points-');
    const s = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 });
    // 400 writes of OPC UA-like data changes: write k carries the tags of the bits of the k-th mask with two or more set (12 tags)
    const masks = Array.from({ length: 4096 }, (_, m) => m)
      .filter((m) => m.toString(2).replace(/0/g, '').length >= 2)
      .slice(0, 400);
    const expected: Array<[string, number, number]> = [];
    for (const [k, mask] of masks.entries()) {
      const rows: Reading[] = [];
      for (let t = 0; t < 12; t++)
        if (mask & (1 << t)) rows.push({ device: 'ua', tag: `n${t}`, ts: T + k, kind: 'float', value: k + t / 100, quality: 'good' });
      for (const r of rows) expected.push([r.tag, r.ts, r.value as number]);
      await s.write(rows);
    }
    expect(s.query({ device: 'ua' }).map((r) => [r.tag, r.ts, r.value])).toEqual(expected);
    expect(s.slotCounts({ device: 'ua', from: T, to: T + 1000, slotMs: 1000 })).toEqual([{ slot: 0, good: expected.length, bad: 0 }]);
    await s.close();
    const raw = new Database(join(dir.path, STORE_FILE), { readonly: true });
    const shapes = raw.prepare('SELECT series FROM shapes').pluck().all() as string[];
    expect(shapes.filter((x) => x.includes(',')).length).toBe(MAX_SHAPES_PER_DEVICE);
    expect(shapes.filter((x) => !x.includes(',')).length).toBeLessThanOrEqual(12);
    expect(raw.prepare('SELECT sum(n) FROM points').pluck().get()).toBe(expected.length);
    raw.close();
  });

  it('the same tag twice at one ts in one write (an MQTT burst): two points, ties 0 and 1, in write order', async () => {
    dir = tempDir('fgw-points-');
    const s = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 });
    const r = (tag: string, value: number): Reading => ({ device: 'm', tag, ts: T, kind: 'float', value, quality: 'good' });
    await s.write([r('a', 1.5), r('b', 2.5), r('a', 3.5), r('b', 4.5)]);
    expect(s.query({ device: 'm' }).map((x) => [x.seq, x.tag, x.value, x.tie ?? 0])).toEqual([
      [1, 'a', 1.5, 0],
      [2, 'b', 2.5, 0],
      [3, 'a', 3.5, 1],
      [4, 'b', 4.5, 1],
    ]);
    expect(s.query({ device: 'm', order: 'desc', limit: 3 }).map((x) => x.seq)).toEqual([4, 3, 2]);
    await s.close();
    const raw = new Database(join(dir.path, STORE_FILE), { readonly: true });
    expect(raw.prepare('SELECT seq, n FROM points ORDER BY seq').raw().all()).toEqual([
      [1, 2],
      [3, 2],
    ]);
    raw.close();
  });

  it('a value that does not fit its tag kind is stored bad, BAD_VALUE; numbers and booleans convert as before', async () => {
    dir = tempDir('fgw-points-');
    const s = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 });
    await s.write([
      { device: 'x', tag: 'f', ts: T, kind: 'float', value: 'text' as unknown as number, quality: 'good' },
      { device: 'x', tag: 'b', ts: T, kind: 'boolean', value: 0, quality: 'good' },
      { device: 'x', tag: 's', ts: T, kind: 'string', value: 42, quality: 'good' },
      { device: 'x', tag: 'i', ts: T, kind: 'integer', value: true, quality: 'good' },
    ]);
    expect(s.query({ device: 'x' }).map((r) => [r.tag, r.value, r.quality, r.error])).toEqual([
      ['f', null, 'bad', 'BAD_VALUE'],
      ['b', false, 'good', undefined],
      ['s', '42', 'good', undefined],
      ['i', 1, 'good', undefined],
    ]);
    await s.close();
  });
});
