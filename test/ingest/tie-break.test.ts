/**
 * One point per reading: the per-series tie-break the store assigns to readings that share a
 * millisecond (ingest/tie-break.ts), kept across reopen, upgrades and out-of-order arrivals. The
 * InfluxDB side (the same readings landing as separate points, a replay not duplicating) is in
 * test/ingest/one-point-per-reading.test.ts.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { encodePoint } from '../../ingest/store/point-codec.js';
import { STORE_FILE, openStore } from '../../ingest/store/index.js';
import { TIE_LIMIT, TIE_OVERFLOW, TieBreaker } from '../../ingest/tie-break.js';
import { tempDir } from '../helpers/tmp.js';

const T = 1_767_225_600_000;
const reading = (tag: string, value: number, ts = T, device = 'press-01'): Reading => ({ device, tag, ts, kind: 'integer', value, quality: 'good' });

describe('store: the tie of readings sharing a millisecond', () => {
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.cleanup();
  });
  const open = () => {
    const dir = tempDir('fgw-tie-');
    dirs.push(dir);
    return { dir: dir.path, store: openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 }) };
  };

  it('1,000 readings of one series in one ms get ties 0..999; the other series of the same poll stay at tie 0', async () => {
    const { store } = open();
    // one commit of 500, then 500 more one by one (separate group commits)
    await store.write(Array.from({ length: 500 }, (_, i) => reading('count', i)));
    for (let i = 500; i < 1000; i++) await store.write([reading('count', i)]);
    await store.write([reading('state', 1), reading('temp', 2), reading('state', 3, T, 'saw-05')]);
    const rows = store.readForward('readings', 0, 10_000);
    expect(rows.filter((r) => r.tag === 'count').map((r) => r.tie ?? 0)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(rows.filter((r) => r.tag !== 'count').map((r) => [r.device, r.tag, r.tie ?? 0])).toEqual([
      ['press-01', 'state', 0],
      ['press-01', 'temp', 0],
      ['saw-05', 'state', 0],
    ]);
    // the stored ms timestamp is untouched
    expect(new Set(rows.map((r) => r.ts))).toEqual(new Set([T]));
    await store.close();
  });

  it('out of order: a reading at an older ms continues that ms, a newer ms starts at 0', async () => {
    const { store } = open();
    for (const ts of [T + 5, T + 6, T + 5, T + 6, T + 7, T + 5]) await store.write([reading('v', ts - T, ts)]);
    expect(store.readForward('readings', 0, 100).map((r) => [r.ts - T, r.tie ?? 0])).toEqual([
      [5, 0],
      [6, 0],
      [5, 1],
      [6, 1],
      [7, 0],
      [5, 2],
    ]);
    await store.close();
  });

  it('survives a reopen: the next reading in the same ms continues after the stored ties (the cache starts empty)', async () => {
    const { dir, store } = open();
    await store.write([reading('v', 1), reading('v', 2)]);
    await store.close();
    const again = openStore({ path: dir, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 });
    await again.write([reading('v', 3)]);
    await again.write([reading('v', 4, T - 10)]); // older than the newest, first seen in this process
    expect(again.readForward('readings', 0, 100).map((r) => [r.value, r.tie ?? 0])).toEqual([
      [1, 0],
      [2, 1],
      [3, 2],
      [4, 0],
    ]);
    await again.close();
  });

  it('another connection writing the same series in the same ms (a second process on store.db): no tie repeats', async () => {
    const { dir, store: a } = open();
    const b = openStore({ path: dir, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 });
    await a.write([reading('v', 1)]); // a caches v at T with tie 0
    await b.write([reading('v', 2)]);
    await b.write([reading('v', 3)]);
    await a.write([reading('v', 4)]); // a must see b's ties 1 and 2 (PRAGMA data_version changed)
    await b.write([reading('v', 5)]);
    expect(a.readForward('readings', 0, 100).map((r) => [r.value, r.tie ?? 0])).toEqual([
      [1, 0],
      [2, 1],
      [3, 2],
      [4, 3],
      [5, 4],
    ]);
    await b.close();
    await a.close();
  });

  it(`a series with ${TIE_LIMIT} readings in one ms (a stuck source clock): the next one is stored bad ${TIE_OVERFLOW}, not as a colliding point`, async () => {
    const { dir, store } = open();
    await store.write([reading('v', 1)]);
    await store.close();
    const raw = new Database(join(dir, STORE_FILE));
    // the one point's one entry, re-encoded with the last tie a ms can have
    raw.prepare('UPDATE points SET vals = ?').run(encodePoint(['integer'], [{ value: 1, quality: 'good', tie: TIE_LIMIT - 1 }]));
    raw.close();
    const again = openStore({ path: dir, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 });
    await again.write([reading('v', 2)]);
    expect(again.readForward('readings', 0, 10).map((r) => [r.value, r.quality, r.error, r.tie])).toEqual([
      [1, 'good', undefined, TIE_LIMIT - 1],
      [2, 'bad', TIE_OVERFLOW, TIE_LIMIT],
    ]);
    await again.close();
  });
  // (a schema-2 store's upgrade, ranking its unforwarded readings: test/ingest/store.test.ts, layouts 2 and 3)
});

describe('TieBreaker (pure, with a lookup that counts its queries)', () => {
  it('asks the store only for the first reading of a series and for out-of-order ones', () => {
    const stored = new Map<string, number>([['1:100', 4]]);
    let asked = 0;
    const tb = new TieBreaker({
      newestTs: (s) => (s === 1 ? 100 : undefined),
      maxTie: (_dev, s, ts) => (asked++, stored.get(`${s}:${ts}`)),
    });
    expect([tb.next(1, 1, 100), tb.next(1, 1, 100), tb.next(1, 1, 101), tb.next(1, 1, 101)]).toEqual([5, 6, 0, 1]);
    expect(asked).toBe(1);
    expect(tb.next(1, 1, 50)).toBe(0); // out of order: one more query
    expect(asked).toBe(2);
    expect([tb.next(2, 1, 7), tb.next(2, 1, 7)]).toEqual([0, 1]); // a series first seen here
    expect(asked).toBe(3);
    tb.created(3); // a series the store just created has no rows: no query at all
    expect([tb.next(3, 1, 7), tb.next(3, 1, 7)]).toEqual([0, 1]);
    expect(asked).toBe(3);
  });
});
