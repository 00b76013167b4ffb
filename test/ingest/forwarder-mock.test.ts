/**
 * The forwarder's decisions for answers a real influxd cannot be made to give on demand, against
 * a MOCK InfluxDB (test/helpers/mock-influx.ts): 413 → split, 400 → bisect to the rejected lines,
 * 429 + Retry-After → no request before it, 401 → hold with one alarm, then resume, and a bounded
 * stop that keeps what it could not send. Time is a ManualClock where waiting matters.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import type { Clock } from '../../config/clock.js';
import { Forwarder } from '../../ingest/forwarder.js';
import { influxSchema } from '../../ingest/schema.js';
import { openStore } from '../../ingest/store/index.js';
import type { Store } from '../../ingest/types.js';
import { captureLog } from '../helpers/log.js';
import { startMockInflux, type MockInflux } from '../helpers/mock-influx.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { ManualClock } from '../helpers/manual-clock.js';

const T = Date.UTC(2026, 0, 5);
const line = (device: string, field: string, ts: number) => `equipment,device=${device},gateway=gw ${field} ${ts}000000`; // ns: ts ms, tie 0

describe('Forwarder decisions (mock InfluxDB)', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(opts: { clock?: Clock; config?: Record<string, unknown>; mock?: MockInflux; dir?: ReturnType<typeof tempDir> } = {}) {
    const mock = opts.mock ?? (await startMockInflux());
    if (!opts.mock) cleanups.push(() => mock.close());
    const dir = opts.dir ?? tempDir('fgw-fwdm-');
    if (!opts.dir) cleanups.push(() => dir.cleanup());
    const store: Store = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0 });
    const logs = captureLog({ level: 'info' });
    const config = influxSchema.parse({ url: mock.url, database: 'factory', flushInterval: '100ms', ...opts.config });
    const fwd = new Forwarder({ store, config, gateway: { id: 'gw' }, deviceMeta: () => ({}), clock: opts.clock, log: logs.log, random: () => 0 });
    cleanups.push(async () => {
      const stopping = fwd.stop({ timeoutMs: 200 });
      if (opts.clock instanceof ManualClock) await opts.clock.advance(200);
      await stopping;
      await store.close();
    });
    return { mock, store, fwd, logs, dir };
  }

  const readings = (n: number, device = 'd', field = 'v'): Reading[] =>
    Array.from({ length: n }, (_, i) => ({ device, tag: field, ts: T + i, kind: 'integer', value: i, quality: 'good' }));

  it('413 splits the batch in halves until it fits; a single line still too large is dead-lettered (INFLUX_413)', async () => {
    const { mock, store, fwd } = await setup();
    mock.respond((req) =>
      req.lines.length > 3 || req.lines.some((l) => l.includes('HUGE')) ? { status: 413, body: '{"error":"Request Entity Too Large"}' } : { status: 204 },
    );
    await store.write(readings(10));
    await store.write([{ device: 'd', tag: 'blob', ts: T + 100, kind: 'string', value: 'HUGE', quality: 'good' }]);
    fwd.start();
    await fwd.flushed();
    expect(mock.accepted()).toEqual(Array.from({ length: 10 }, (_, i) => line('d', `v=${i}i`, T + i)));
    // the first request carried the whole batch; it was split, never resent whole
    expect(mock.requests[0]!.lines).toHaveLength(11);
    expect(mock.requests.slice(1).every((r) => r.lines.length < 11)).toBe(true);
    expect(store.deadLetters().map((d) => [d.reason, d.payload])).toEqual([['INFLUX_413', line('d', 'blob="HUGE"', T + 100)]]);
    expect(fwd.stats()).toMatchObject({ backlog: 0, deadLettered: 1, written: 10 });
  });

  it('400 partial write: bisects down to the rejected lines, dead-letters them with the message, writes every other line once', async () => {
    const { mock, store, fwd } = await setup();
    const message = 'partial write: field type conflict: input field "bad" on measurement "equipment" is type integer, already exists as type float dropped=1';
    mock.respond((req) => (req.lines.some((l) => l.includes(' bad=')) ? { status: 400, body: JSON.stringify({ error: message }) } : { status: 204 }));
    const rows = readings(16);
    rows[3] = { ...rows[3]!, tag: 'bad' };
    rows[11] = { ...rows[11]!, tag: 'bad' };
    await store.write(rows);
    fwd.start();
    await fwd.flushed();
    const good = rows.filter((r) => r.tag === 'v').map((r) => line('d', `v=${r.value}i`, r.ts));
    expect(mock.accepted()).toEqual(good);
    const dl = store.deadLetters().reverse();
    expect(dl.map((d) => ({ source: d.source, reason: d.reason, detail: d.detail, payload: d.payload, device: d.device }))).toEqual([
      { source: 'influx', reason: 'INFLUX_400', detail: message, payload: line('d', 'bad=3i', T + 3), device: 'd' },
      { source: 'influx', reason: 'INFLUX_400', detail: message, payload: line('d', 'bad=11i', T + 11), device: 'd' },
    ]);
    expect(fwd.stats()).toMatchObject({ backlog: 0, deadLettered: 2, written: 14 });
  });

  it('429 with Retry-After: no request before it, then the batch goes through', async () => {
    const clock = new ManualClock(T);
    const { mock, store, fwd } = await setup({ clock });
    mock.respond((_r, i) => (i === 0 ? { status: 429, headers: { 'retry-after': '3' }, body: '{"error":"too many requests"}' } : { status: 204 }));
    await store.write(readings(5));
    fwd.start();
    const done = fwd.flushed();
    await waitFor('the first request', () => mock.requests.length === 1);
    await waitFor('the forwarder to back off', () => fwd.stats().state === 'retrying');
    await clock.advance(2999); // the backoff alone (250 ms with this random source) would have retried by now
    expect(mock.requests).toHaveLength(1);
    await clock.advance(1);
    await done;
    expect(mock.requests).toHaveLength(2);
    expect(mock.accepted()).toHaveLength(5);
    expect(fwd.stats()).toMatchObject({ state: 'ok', backlog: 0, failures: 1 });
  });

  it('5xx and network errors back off (capped, jittered) and log once per outage', async () => {
    const clock = new ManualClock(T);
    const { mock, store, fwd, logs } = await setup({ clock });
    mock.respond((_r, i) => (i < 3 ? { status: 500, body: '{"error":"engine: error syncing wal"}' } : { status: 204 }));
    await store.write(readings(5));
    fwd.start();
    const done = fwd.flushed();
    for (let n = 1; n <= 3; n++) {
      await waitFor(`failure ${n}`, () => fwd.stats().failures === n);
      expect(mock.requests).toHaveLength(n);
      await clock.advance(250); // minimum delay with random() = 0
    }
    await done;
    expect(mock.accepted()).toHaveLength(5);
    expect(logs.lines.filter((l) => l.msg === 'InfluxDB unavailable: retrying with backoff, data stays in the store')).toHaveLength(1);
    expect(logs.lines.filter((l) => l.msg === 'InfluxDB writes resumed')).toHaveLength(1);
    expect(fwd.stats().lastError).toBe('HTTP 500: engine: error syncing wal');
  });

  it('401 holds with one alarm, retries slowly, and resumes without losing anything', async () => {
    const clock = new ManualClock(T);
    const { mock, store, fwd, logs } = await setup({ clock, config: { username: 'gw', password: 'wrong' } });
    mock.respond(() => ({ status: 401, body: '{"error":"authorization failed"}' }));
    await store.write(readings(5));
    fwd.start();
    const done = fwd.flushed();
    await waitFor('the hold', () => fwd.stats().state === 'auth-hold');
    expect(mock.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from('gw:wrong').toString('base64')}`);
    await clock.advance(29_999);
    expect(mock.requests).toHaveLength(1);
    await clock.advance(1);
    await waitFor('the second attempt', () => fwd.stats().failures === 2);
    expect(mock.requests).toHaveLength(2);
    await store.write(readings(3, 'e'));
    mock.respond(() => ({ status: 204 }));
    await clock.advance(30_000);
    await done;
    const alarms = logs.lines.filter((l) => l.alarm === 'INFLUX_AUTH');
    expect(alarms).toHaveLength(1);
    expect(logs.text()).not.toContain('wrong');
    expect(mock.accepted().length).toBe(8);
    expect(fwd.stats()).toMatchObject({ state: 'ok', backlog: 0, written: 8 });
  });

  it('stop() is bounded while InfluxDB fails; what was not sent stays and goes after the next start', async () => {
    const mock = await startMockInflux(() => ({ status: 503, body: 'down' }));
    cleanups.push(() => mock.close());
    const dir = tempDir('fgw-fwdm-');
    cleanups.push(() => dir.cleanup());
    const first = await setup({ mock, dir });
    await first.store.write(readings(7));
    first.fwd.start();
    const waiting = first.fwd.flushed();
    await waitFor('a failed attempt', () => first.fwd.stats().failures >= 1);
    await first.fwd.stop({ timeoutMs: 200 });
    await expect(waiting).rejects.toMatchObject({ code: 'GW_ERR_INFLUX' });
    expect(first.fwd.stats()).toMatchObject({ state: 'stopped', backlog: 7, written: 0 });
    await first.store.close();

    mock.respond(() => ({ status: 204 }));
    const second = await setup({ mock, dir });
    second.fwd.start();
    await second.fwd.flushed();
    // as points (series + time): a request the first forwarder aborted at its deadline may still
    // reach the mock after it started answering 204, exactly as InfluxDB may have written it
    expect([...new Set(mock.accepted())]).toEqual(Array.from({ length: 7 }, (_, i) => line('d', `v=${i}i`, T + i)));
    expect(second.fwd.stats()).toMatchObject({ written: 7, backlog: 0 });
  });

  it('sends as soon as something is committed, never waiting for flushInterval; what accrues during a write goes in the next, up to batchSize', async () => {
    // the test clock never moves: flushInterval (1 h) cannot be what triggers any of these sends
    const clock = new ManualClock(T);
    const { mock, store, fwd } = await setup({ clock, config: { batchSize: 4, flushInterval: '1h' } });
    mock.respond((_r, i) => (i === 0 ? { status: 204, delayMs: 500 } : { status: 204 }));
    fwd.start();
    await store.write(readings(3));
    await waitFor('the first commit sent on its own', () => mock.requests.length === 1);
    expect(mock.requests[0]!.lines).toHaveLength(3);
    // three commits of two readings while the first write is in flight: 6 lines, then 4 + 2
    await store.write(readings(2, 'a'));
    await store.write(readings(2, 'b'));
    await store.write(readings(2, 'c'));
    expect(mock.requests).toHaveLength(1);
    await waitFor('what accrued meanwhile', () => mock.requests.length === 3);
    expect(mock.requests.map((r) => r.lines.length)).toEqual([3, 4, 2]);
    // the mock counts a line accepted when it answers; the forwarder counts it once it has read the answer
    await waitFor('all acknowledged', () => fwd.stats().written === 9);
    expect(mock.accepted()).toHaveLength(9);
    expect(fwd.stats()).toMatchObject({ written: 9, batches: 3 });
    expect(clock.now()).toBe(T);
  });

  it('reads a large backlog in chunks without splitting a point: every 70-field point is one whole line', async () => {
    const { mock, store, fwd } = await setup();
    const rows: Reading[] = [];
    for (let p = 0; p < 300; p++)
      for (let f = 0; f < 70; f++) rows.push({ device: 'press', tag: `r${f}`, ts: T + p, kind: 'integer', value: p * 1000 + f, quality: 'good' });
    await store.write(rows); // 21,000 rows: the 10,000-row read chunks end inside a point
    fwd.start();
    await fwd.flushed();
    const lines = mock.accepted();
    expect(lines).toHaveLength(300);
    for (const [p, l] of lines.entries()) {
      const fields = l.split(' ')[1]!.split(',');
      expect(fields, l.slice(0, 80)).toHaveLength(70);
      expect(fields[0]).toBe(`r0=${p * 1000}i`);
      expect(l.endsWith(` ${T + p}000000`)).toBe(true);
    }
    expect(fwd.stats().written).toBe(21_000);
    expect(fwd.stats().backlog).toBe(0);
  });

  it('stop() during a request in flight still sends what was committed meanwhile', async () => {
    const { mock, store, fwd } = await setup({ config: { flushInterval: '20ms' } });
    mock.respond((_r, i) => (i === 0 ? { status: 204, delayMs: 300 } : { status: 204 }));
    await store.write(readings(3));
    fwd.start();
    await waitFor('the first request in flight', () => mock.requests.length === 1);
    await store.write(readings(2, 'late'));
    await fwd.stop({ timeoutMs: 10_000 });
    expect(mock.accepted()).toEqual([
      ...Array.from({ length: 3 }, (_, i) => line('d', `v=${i}i`, T + i)),
      line('late', 'v=0i', T),
      line('late', 'v=1i', T + 1),
    ]);
    expect(fwd.stats()).toMatchObject({ state: 'stopped', backlog: 0 });
  });
});
