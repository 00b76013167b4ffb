/**
 * The store's room: a full disk (a real tmpfs that fills up), the reserve that keeps cursors and
 * counters writable, the shares of dead letters and audit records, and counts that agree.
 * Expected counts are what the test itself sent, refused and forwarded, never the store's figures.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { isGatewayError } from '../../config/errors.js';
import { STORE_FILE, openStore } from '../../ingest/store/index.js';
import type { Store } from '../../ingest/types.js';
import { captureLog } from '../helpers/log.js';
import { tempDir } from '../helpers/tmp.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';
import { ManualClock } from '../helpers/manual-clock.js';

const T = Date.UTC(2026, 10, 27, 8, 0, 0);
const MiB = 1024 * 1024;

const capture = captureLog;

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** 4 devices x 25 tags per poll, one write per device (as pollers do), unique values */
class Poller {
  ts = T;
  accepted = new Map<string, number>();
  refused = new Map<string, number>();
  n = 0;
  constructor(private readonly store: Store) {}
  async poll(): Promise<void> {
    const ts = (this.ts += 100);
    await Promise.all(
      ['press-01', 'press-02', 'lathe-03', 'saw-05'].map(async (device) => {
        const rows: Reading[] = Array.from({ length: 25 }, (_, i) => ({ device, tag: `r${i}`, ts, kind: 'float', value: this.n++ + 0.5, quality: 'good' }));
        try {
          await this.store.write(rows);
          this.accepted.set(device, (this.accepted.get(device) ?? 0) + rows.length);
        } catch (e) {
          expect(isGatewayError(e, 'GW_ERR_STORE_FULL')).toBe(true);
          this.refused.set(device, (this.refused.get(device) ?? 0) + rows.length);
        }
      }),
    );
  }
  total(m: Map<string, number>): number {
    return [...m.values()].reduce((a, b) => a + b, 0);
  }
}

describe('a full disk', () => {
  it('refuses commits and counts them per device, with one alarm line; the cursor can always be saved; collection resumes by itself when space returns or the forwarder frees some', async () => {
    const fs: Tmpfs = mountTmpfs(16);
    cleanups.push(() => fs.cleanup());
    const { log, lines } = capture();
    const clock = new ManualClock(T);
    const dir = join(fs.path, 'store');
    const s = openStore({ path: dir, maxSizeBytes: 2 * 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0, forwarding: true, log, clock });
    cleanups.push(() => s.close());
    s.getCursor('readings');
    const p = new Poller(s);
    await p.poll();
    // the reserve is a real file on the disk, made by the process that writes readings
    expect(existsSync(join(dir, `${STORE_FILE}-reserve`))).toBe(true);
    fs.fill(3 * MiB);

    // A: InfluxDB away, the disk fills: collect until refused, then 30 polls more
    while (p.total(p.refused) === 0) await p.poll();
    for (let i = 0; i < 30; i++) await p.poll();
    let st = s.stats();
    expect(st.full).toMatchObject({ reason: 'disk' });
    expect(st.full!.refused).toBe(p.total(p.refused));
    // every refused reading is counted for its device, and nothing committed was dropped
    expect(new Map(st.losses.map((l) => [l.device, l.count]))).toEqual(p.refused);
    expect(st.losses.every((l) => l.reason === 'store-full')).toBe(true);
    expect(st.droppedUnforwarded).toBe(0);
    expect(st.readings).toBe(p.total(p.accepted));
    // one alarm line however many commits were refused, and no line per commit
    expect(lines.filter((l) => l.alarm === 'STORE_FULL')).toHaveLength(1);
    expect(lines.filter((l) => /commit failed/.test(String(l.msg)))).toHaveLength(0);
    // the store never filled the disk itself: it stopped short, keeping its reserve
    expect(existsSync(join(dir, `${STORE_FILE}-reserve`))).toBe(true);
    // the forwarder's cursor (and any counter) can still be written while full
    const firstSeq = s.readForward('readings', 0, 1)[0]!.seq;
    expect(() => s.setCursor('readings', firstSeq)).not.toThrow();
    expect(s.getCursor('readings')).toBe(firstSeq);

    // B: space returns (the operator deletes a file): the next commit goes in, no restart
    const refusedA = new Map(p.refused);
    fs.unfill();
    const before = p.total(p.accepted);
    await p.poll();
    expect(p.total(p.accepted)).toBe(before + 100);
    st = s.stats();
    expect(st.full).toBeUndefined();
    expect(lines.filter((l) => /store has room again/.test(String(l.msg)))).toHaveLength(1);
    // the episode closed: one per device, with the count the test saw refused, and a
    // gateway_status point (lost, lostFrom, lostTo, lostReason) for InfluxDB
    const eps = s.losses();
    expect(new Map(eps.map((e) => [e.device, e.count]))).toEqual(refusedA);
    expect(eps.every((e) => !e.open && e.reason === 'store-full')).toBe(true);
    for (const e of eps) {
      const pt = s.query({ measurement: 'status', device: e.device }).filter((r) => r.tag.startsWith('lost'));
      expect(Object.fromEntries(pt.map((r) => [r.tag, r.value]))).toEqual({ lost: e.count, lostFrom: e.from, lostTo: e.to, lostReason: 'store-full' });
    }

    // C: the disk fills again (a second episode); D: InfluxDB is back and the forwarder moves its
    // cursor to the end: the next commit makes room by dropping what InfluxDB has
    fs.fill(0);
    const refusedBefore = p.total(p.refused);
    for (let i = 0; i < 5; i++) await p.poll();
    expect(p.total(p.refused)).toBe(refusedBefore + 500);
    expect(s.stats().full).toMatchObject({ reason: 'disk' });
    const last = s.readForward('readings', s.getCursor('readings'), 1_000_000).at(-1)!.seq;
    s.setCursor('readings', last);
    const acceptedBefore = p.total(p.accepted);
    await p.poll();
    expect(p.total(p.accepted)).toBe(acceptedBefore + 100);
    st = s.stats();
    expect(st.full).toBeUndefined();
    expect(st.dropped).toBeGreaterThan(0);
    expect(st.droppedUnforwarded).toBe(0);
    expect(st.lost).toBe(p.total(p.refused));
    expect(lines.filter((l) => l.alarm === 'STORE_FULL')).toHaveLength(2);
  });

  it('a refused write of a writer that retries (MQTT holding its PUBACK) is not counted as lost', async () => {
    const fs: Tmpfs = mountTmpfs(8);
    cleanups.push(() => fs.cleanup());
    const s = openStore({ path: join(fs.path, 'store'), maxSizeBytes: 2 * 1024 ** 3, retentionMs: 0, limitsIntervalMs: 0, forwarding: true });
    cleanups.push(() => s.close());
    fs.fill(0);
    const rows: Reading[] = [{ device: 'polisher-04', tag: 'state', ts: T, kind: 'integer', value: 1, quality: 'good' }];
    await expect(s.write(rows, { retried: true })).rejects.toMatchObject({ code: 'GW_ERR_STORE_FULL' });
    await expect(s.write(rows)).rejects.toMatchObject({ code: 'GW_ERR_STORE_FULL' });
    expect(s.stats().losses).toEqual([{ device: 'polisher-04', reason: 'store-full', count: 1 }]);
  });
});

describe('maxSize and the shares of junk', () => {
  const open = (maxSizeBytes: number, log?: pino.Logger) => {
    const dir = tempDir('fgw-room-');
    cleanups.push(() => dir.cleanup());
    const s = openStore({ path: dir.path, maxSizeBytes, retentionMs: 0, limitsIntervalMs: 0, forwarding: true, log, clock: new ManualClock(T) });
    cleanups.push(() => s.close());
    s.getCursor('readings');
    return s;
  };
  const buffer = async (s: Store, n: number) => {
    for (let i = 0; i < n; i += 1000) {
      await s.write(
        Array.from({ length: 1000 }, (_, k) => ({
          device: `dev${k % 5}`,
          tag: `t${k % 10}`,
          ts: T + i + k,
          kind: 'float' as const,
          value: i + k,
          quality: 'good' as const,
        })),
      );
    }
  };

  it('800 dead letters of 200 KB (InfluxDB away, 30,000 readings buffered in 30 MB) push out no reading; their own oldest go, counted', async () => {
    const s = open(30 * MiB);
    await buffer(s, 30_000);
    const junk = 'x'.repeat(200 * 1024);
    for (let i = 0; i < 800; i++)
      s.deadLetter({
        ts: T + i,
        source: 'mqtt',
        device: 'polisher-04',
        topic: 'plant/line-01/polisher-04/telemetry',
        reason: 'NOT_JSON',
        detail: 'Unexpected token x',
        payload: junk,
      });
    s.enforceLimits();
    const st = s.stats();
    expect(st.readings).toBe(30_000);
    expect(st.backlog).toBe(30_000);
    expect(st.dropped).toBe(0);
    // every dead letter counted once: received = kept + dropped, and the share held (5% of 30 MB,
    // payloads cut to 64 KiB: at most 23 of them)
    expect(st.deadLettersReceived).toBe(800);
    expect(st.deadLetters + st.deadLettersDropped).toBe(800);
    expect(st.deadLetters).toBeGreaterThan(0);
    expect(st.deadLetters).toBeLessThanOrEqual(Math.floor((30 * MiB * 0.05) / (64 * 1024)));
    // the newest are kept
    expect(s.deadLetters({ limit: 1 })[0]!.ts).toBe(T + 799);
    expect(st.sizeBytes).toBeLessThanOrEqual(30 * MiB);
  });

  it('30,000 refused API calls (audit rows) push out no buffered reading, and unforwarded refusals go before the audits that matter', async () => {
    const s = open(12 * MiB);
    await buffer(s, 20_000);
    // a consumer system's real reads, not yet in InfluxDB
    for (let i = 0; i < 50; i++) s.appendAudit({ ts: T + i, actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/latest', result: 'ok' });
    for (let i = 0; i < 30_000; i++)
      s.appendAudit({
        ts: T + 1000 + i,
        actor: 'anonymous',
        system: 'unknown',
        action: 'write',
        route: 'POST /api/devices/:id/tags/:tag',
        device: 'press-01',
        tag: 'setpoint',
        result: 'denied',
        detail: 'GW_ERR_API_AUTH',
      });
    const st = s.stats();
    expect(st.readings).toBe(20_000);
    expect(st.dropped).toBe(0);
    expect(st.auditDropped).toBeGreaterThan(0);
    expect(st.auditDroppedUnforwarded).toBe(st.auditDropped);
    const kept = s.audits({});
    expect(kept.length + st.auditDropped).toBe(30_050);
    // the 50 real reads survive the flood
    expect(kept.filter((a) => a.result === 'ok')).toHaveLength(50);
  });

  it('counts of dead letters agree after their share, retention and a restart: received = kept + dropped', async () => {
    const dir = tempDir('fgw-room-');
    cleanups.push(() => dir.cleanup());
    const clock = new ManualClock(T);
    const mk = () => openStore({ path: dir.path, maxSizeBytes: 4 * MiB, retentionMs: 86_400_000, limitsIntervalMs: 0, clock, deadLetterShare: 0.01 });
    let s = mk();
    for (let i = 0; i < 300; i++) s.deadLetter({ ts: T - 2 * 86_400_000 + i, source: 'mqtt', reason: 'NOT_JSON', payload: 'y'.repeat(1000) });
    for (let i = 0; i < 20; i++) s.deadLetter({ ts: T + i, source: 'modbus', reason: 'MALFORMED', payload: 'z'.repeat(100) });
    let st = s.stats();
    expect(st.deadLettersReceived).toBe(320);
    expect(st.deadLetters + st.deadLettersDropped).toBe(320);
    // the share (1% of 4 MiB = 41,943 bytes) holds at most 41 of the 1 KB ones
    expect(st.deadLetters).toBeLessThanOrEqual(41 + 20);
    s.enforceLimits(); // the two-day-old ones go by retention
    st = s.stats();
    expect(st.deadLetters).toBe(20);
    expect(st.deadLettersDropped).toBe(300);
    await s.close();
    s = mk();
    cleanups.push(() => s.close());
    expect(s.stats()).toMatchObject({ deadLettersReceived: 320, deadLetters: 20, deadLettersDropped: 300 });
  });
});
