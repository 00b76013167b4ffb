/**
 * The Store contract suite (after MQTT.js abstract_store.ts): every
 * implementation of ingest/types.ts Store runs it. Expected values are written out here, never
 * taken from the store under test. One block per role (sinkContract, historyContract, ...), each
 * typed by that role plus the way rows get in (Fed), so a block can only call what its role
 * promises; the last block takes the whole Store (limits and restarts move what every role sees).
 * storeContract runs them all.
 */
import type pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import type { AuditStore, ForwardStore, HistoryStore, SalvageStore, SinkStore, Store, VerifyStore } from '../../ingest/types.js';
import { captureLog } from '../helpers/log.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { ManualClock } from '../helpers/manual-clock.js';

export interface StoreFactoryOptions {
  path: string;
  maxSizeBytes: number;
  retentionMs: number;
  clock: ManualClock;
  log: pino.Logger;
  limitsIntervalMs?: number;
}

const T = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

const capture = captureLog;

const rd = (
  device: string,
  tag: string,
  ts: number,
  value: Reading['value'],
  kind: Reading['kind'] = 'float',
  quality: Reading['quality'] = 'good',
  error?: string,
): Reading => ({
  device,
  tag,
  ts,
  kind,
  value,
  quality,
  ...(error ? { error } : {}),
});

/** How every role's block puts rows in and ends: the sink, the status rows, the audit trail, close. */
type Fed = SinkStore & Pick<Store, 'writeStatus' | 'close'> & Pick<AuditStore, 'appendAudit'>;
type Open<S> = (o: StoreFactoryOptions) => S;

/** A temp dir, a manual clock and a log capture per test, and the stores it opened closed after it. */
function harness<S extends Pick<Store, 'close'>>(open: Open<S>) {
  const t = {
    dir: undefined as unknown as ReturnType<typeof tempDir>,
    clock: undefined as unknown as ManualClock,
    logs: undefined as unknown as ReturnType<typeof capture>,
    opened: [] as S[],
    make(o: Partial<StoreFactoryOptions> = {}): S {
      const s = open({ path: t.dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 30 * DAY, clock: t.clock, log: t.logs.log, limitsIntervalMs: 0, ...o });
      t.opened.push(s);
      return s;
    },
  };
  beforeEach(() => {
    t.dir = tempDir('fgw-store-');
    t.clock = new ManualClock(T + 10 * DAY);
    t.logs = capture();
    t.opened = [];
  });
  afterEach(async () => {
    for (const s of t.opened) await s.close().catch(() => undefined);
    t.dir.cleanup();
  });
  return t;
}

/** The sink role (SinkStore): what a writer is promised. Reads only to look at what was written. */
export function sinkContract(open: Open<Fed & Pick<HistoryStore, 'query' | 'deadLetters' | 'stats'>>): void {
  describe('sink role: write, deadLetter', () => {
    const t = harness(open);

    it('write resolves after COMMIT: a second connection to the same file sees the rows', async () => {
      const a = t.make();
      await a.write([rd('d', 't', T, 1), rd('d', 't', T + 1, 2)]);
      const b = t.make();
      expect(b.query({ device: 'd' }).map((r) => r.value)).toEqual([1, 2]);
    });

    it('dead letters: newest first, filtered by source, payload cut at 64 KiB, never throws', async () => {
      const s = t.make();
      s.deadLetter({ ts: T, source: 'mqtt', topic: 'plant/a', reason: 'NOT_JSON', detail: 'Unexpected token', payload: 'x'.repeat(70_000) });
      s.deadLetter({ ts: T + 1, source: 'influx', device: 'press-01', reason: 'INFLUX_400', detail: 'field type conflict', payload: 'equipment a=1i 1' });
      const all = s.deadLetters();
      expect(all.map((d) => d.reason)).toEqual(['INFLUX_400', 'NOT_JSON']);
      expect(all[1]!.payload).toHaveLength(65_536);
      expect(s.deadLetters({ source: 'influx' })).toEqual([
        {
          id: expect.any(Number),
          ts: T + 1,
          source: 'influx',
          device: 'press-01',
          reason: 'INFLUX_400',
          detail: 'field type conflict',
          payload: 'equipment a=1i 1',
        },
      ]);
      expect(s.deadLetters({ limit: 1 })).toHaveLength(1);
      expect(s.stats().deadLetters).toBe(2);
      await s.close();
      expect(() => s.deadLetter({ ts: T, source: 'mqtt', reason: 'X' })).not.toThrow();
      expect(() => s.appendAudit({ ts: T, actor: 'a', system: 's', action: 'read', route: 'r', result: 'ok' })).not.toThrow();
    });

    it('a malformed reading is dead-lettered or marked bad; the other readings of the same commit are stored', async () => {
      const s = t.make();
      const bad = { device: 'd', tag: 'x', ts: Number.NaN, kind: 'float', value: 1, quality: 'good' } as Reading;
      const odd = { device: 'd', tag: 'y', ts: T + 1, kind: 'float', value: { not: 'a value' }, quality: 'good' } as unknown as Reading;
      await Promise.all([s.write([rd('d', 'ok', T, 1), bad, odd]), s.write([rd('e', 'ok', T, 2)])]);
      expect(s.query({}).map((r) => [r.device, r.tag, r.value, r.quality, r.error ?? null])).toEqual([
        ['d', 'ok', 1, 'good', null],
        ['e', 'ok', 2, 'good', null],
        ['d', 'y', null, 'bad', 'BAD_VALUE'],
      ]);
      expect(s.deadLetters().map((d) => [d.source, d.reason, d.device])).toEqual([['store', 'BAD_READING', 'd']]);
    });

    it('write after close rejects with GW_ERR_STORE; close is idempotent and commits what was queued', async () => {
      const s = t.make();
      const p = s.write([rd('d', 'a', T, 1)]);
      await s.close();
      await p;
      await expect(s.write([rd('d', 'a', T, 2)])).rejects.toMatchObject({ code: 'GW_ERR_STORE' });
      await s.close();
      const again = t.make();
      expect(again.query({}).map((r) => r.value)).toEqual([1]);
    });
  });
}

/** The history role (HistoryStore): readings given back as written, by query and latest, and the figures.
 * getCursor only to start forwarding (the backlog figure counts from then). */
export function historyContract(open: Open<Fed & HistoryStore & Pick<ForwardStore, 'getCursor'>>): void {
  describe('history role: query, latest, stats', () => {
    const t = harness(open);

    it('stores every kind and quality and gives them back as written', async () => {
      const s = t.make();
      const input: Reading[] = [
        rd('press-01', 'tonnage', T, 801.25),
        rd('press-01', 'strokes', T, 123456789, 'integer'),
        rd('press-01', 'door_open', T, true, 'boolean'),
        rd('press-01', 'lube_ok', T, false, 'boolean'),
        rd('press-01', 'program', T, '冲压 "P1", a=b', 'string'),
        rd('press-01', 'zero_str', T, '007', 'string'),
        rd('press-01', 'oil_temp', T, null, 'float', 'bad', 'MODBUS_EXC_2'),
        rd('press-01', 'speed', T, 12, 'float', 'uncertain'),
      ];
      await s.write(input);
      // no forwarder has read a cursor yet: nothing is "waiting for InfluxDB"
      expect(s.stats().backlog).toBe(0);
      expect(s.getCursor('readings')).toBe(0);
      const got = s.query({ device: 'press-01' }).map(({ seq: _s, measurement: _m, ...r }) => r);
      expect(got).toEqual(input);
      expect(s.query({ device: 'press-01', tag: 'door_open' })[0]!.value).toBe(true);
      expect(s.stats()).toMatchObject({ readings: 8, backlog: 8, dropped: 0, deadLetters: 0, oldestTs: T, newestTs: T });
    });

    it('query filters by device, tag, measurement, [from, to), order and limit', async () => {
      const s = t.make();
      await s.write([rd('a', 'x', T, 1), rd('a', 'y', T + 1000, 2), rd('b', 'x', T + 2000, 3), rd('a', 'x', T + 3000, 4)]);
      await s.writeStatus([rd('', 'heartbeat', T + 1500, true, 'boolean'), rd('a', 'connected', T + 1500, true, 'boolean')]);
      const v = (rs: { value: unknown }[]) => rs.map((r) => r.value);
      expect(v(s.query({ device: 'a', measurement: 'data' }))).toEqual([1, 2, 4]);
      expect(v(s.query({ device: 'a', tag: 'x' }))).toEqual([1, 4]);
      expect(v(s.query({ from: T + 1000, to: T + 3000, measurement: 'data' }))).toEqual([2, 3]);
      expect(v(s.query({ device: 'a', measurement: 'data', order: 'desc', limit: 2 }))).toEqual([4, 2]);
      expect(s.query({ measurement: 'status' }).map((r) => [r.device, r.tag])).toEqual([
        ['', 'heartbeat'],
        ['a', 'connected'],
      ]);
      expect(s.query({ device: 'a' })).toHaveLength(4);
    });

    it('latest gives the newest reading of each (device, tag), data only', async () => {
      const s = t.make();
      await s.write([rd('a', 'x', T + 5, 1), rd('a', 'x', T + 9, 2), rd('a', 'y', T + 1, 3), rd('b', 'x', T, 4), rd('a', 'x', T + 7, 5)]);
      await s.writeStatus([rd('a', 'connected', T + 100, true, 'boolean')]);
      expect(s.latest().map((r) => [r.device, r.tag, r.value])).toEqual([
        ['a', 'x', 2],
        ['a', 'y', 3],
        ['b', 'x', 4],
      ]);
      expect(s.latest('b').map((r) => r.value)).toEqual([4]);
    });
  });
}

/** The verifier's role (VerifyStore): the aggregates over a device's readings (losses: in the limits block). */
export function verifyContract(open: Open<Fed & VerifyStore>): void {
  describe('verifier role: slotCounts, tagsSeen, heartbeatSlots, lastGoodTs', () => {
    const t = harness(open);

    it('slotCounts counts good (incl. uncertain) and bad per slot, for the data of one device', async () => {
      const s = t.make();
      const from = T;
      await s.write([
        rd('m', 'state', from + 0, 1),
        rd('m', 'count', from + 59_999, 1, 'float', 'uncertain'),
        rd('m', 'state', from + 60_000, null, 'float', 'bad'),
        rd('m', 'state', from + 180_001, 1),
        rd('m', 'count', from + 180_002, 1),
        rd('m', 'state', from - 1, 1), // before the window
        rd('m', 'state', from + 240_000, 1), // at `to`: excluded
        rd('other', 'state', from + 1, 1),
      ]);
      await s.writeStatus([rd('m', 'connected', from + 5, true, 'boolean')]);
      expect(s.slotCounts({ device: 'm', from, to: from + 240_000, slotMs: 60_000 })).toEqual([
        { slot: 0, good: 2, bad: 0 },
        { slot: 1, good: 0, bad: 1 },
        { slot: 3, good: 2, bad: 0 },
      ]);
      expect(s.slotCounts({ device: 'm', from, to: from + 240_000, slotMs: 60_000, tags: ['count'] })).toEqual([
        { slot: 0, good: 1, bad: 0 },
        { slot: 3, good: 1, bad: 0 },
      ]);
      expect(s.slotCounts({ device: 'm', from, to: from + 240_000, slotMs: 60_000, tags: [] })).toEqual([]);
    });

    it('tagsSeen lists tags with at least one good reading in [from, to)', async () => {
      const s = t.make();
      await s.write([
        rd('m', 'a', T, 1),
        rd('m', 'b', T + 10, null, 'float', 'bad'),
        rd('m', 'c', T + 100, 1),
        rd('m', 'd', T + 5, 'x', 'string', 'uncertain'),
        rd('n', 'e', T, 1),
      ]);
      expect(s.tagsSeen({ device: 'm', from: T, to: T + 100 })).toEqual(['a', 'd']);
      expect(s.tagsSeen({ device: 'm', from: T, to: T + 101 })).toEqual(['a', 'c', 'd']);
    });

    it('heartbeatSlots lists slots holding a gateway heartbeat, ascending', async () => {
      const s = t.make();
      await s.writeStatus([
        rd('', 'heartbeat', T + 1000, true, 'boolean'),
        rd('', 'heartbeat', T + 2000, true, 'boolean'),
        rd('', 'heartbeat', T + 300_000, true, 'boolean'),
        rd('', 'heartbeat', T + 120_500, true, 'boolean'),
        rd('press', 'heartbeat', T + 60_500, true, 'boolean'), // not the gateway's
        rd('', 'heartbeat', T + 600_000, true, 'boolean'), // at `to`
      ]);
      await s.write([rd('', 'heartbeat', T + 180_000, true, 'boolean')]); // data, not status
      expect(s.heartbeatSlots({ from: T, to: T + 600_000, slotMs: 60_000 })).toEqual([0, 2, 5]);
    });

    it('lastGoodTs is the newest good reading of a device before `to`', async () => {
      const s = t.make();
      await s.write([
        rd('m', 'a', T + 10, 1),
        rd('m', 'b', T + 20, 1, 'float', 'uncertain'),
        rd('m', 'a', T + 30, null, 'float', 'bad'),
        rd('m', 'a', T + 40, 1),
      ]);
      expect(s.lastGoodTs({ device: 'm', to: T + 40 })).toBe(T + 20);
      expect(s.lastGoodTs({ device: 'm', to: T + 41 })).toBe(T + 40);
      expect(s.lastGoodTs({ device: 'm', to: T + 10 })).toBeUndefined();
      expect(s.lastGoodTs({ device: 'nobody', to: T + 100 })).toBeUndefined();
    });
  });
}

/** The audit role (AuditStore): records kept and filtered. */
export function auditContract(open: Open<Fed & AuditStore>): void {
  describe('audit role: appendAudit, audits', () => {
    const t = harness(open);

    it('audits are kept and filtered by time, action and device', () => {
      const s = t.make();
      s.appendAudit({ ts: T, actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/devices', result: 'ok' });
      s.appendAudit({
        ts: T + 10,
        actor: 'operator',
        system: 'platform',
        action: 'write',
        route: 'POST /api/devices/:id/tags/:tag',
        device: 'press-01',
        tag: 'sp',
        value: '12',
        result: 'denied',
        detail: 'range',
      });
      s.appendAudit({ ts: T + 20, actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/devices/:id', device: 'press-01', result: 'ok' });
      expect(s.audits({}).map((a) => a.ts)).toEqual([T, T + 10, T + 20]);
      expect(s.audits({ action: 'write' })).toEqual([
        {
          seq: expect.any(Number),
          ts: T + 10,
          actor: 'operator',
          system: 'platform',
          action: 'write',
          route: 'POST /api/devices/:id/tags/:tag',
          device: 'press-01',
          tag: 'sp',
          value: '12',
          result: 'denied',
          detail: 'range',
        },
      ]);
      expect(s.audits({ device: 'press-01', from: T + 15 }).map((a) => a.ts)).toEqual([T + 20]);
      expect(s.audits({ to: T + 10, limit: 5 }).map((a) => a.ts)).toEqual([T]);
    });
  });
}

/** The forward role (ForwardStore): the streams in seq order after their cursors (stats().backlog: the forwarder's figure). */
export function forwardContract(open: Open<Fed & ForwardStore & Pick<HistoryStore, 'stats'>>): void {
  describe('forward role: readForward, cursors', () => {
    const t = harness(open);

    it('concurrent writes are group-committed and all resolve; seq grows in write order', async () => {
      const s = t.make();
      await Promise.all(Array.from({ length: 50 }, (_, i) => s.write([rd('d', 't', T + i, i)])));
      const rows = s.readForward('readings', 0, 100);
      expect(rows.map((r) => r.value)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(rows.every((r, i) => i === 0 || r.seq > rows[i - 1]!.seq)).toBe(true);
    });

    it('readForward returns rows after the cursor, bad ones included; cursors are per stream; backlog follows the cursor', async () => {
      const s = t.make();
      await s.write([rd('d', 'a', T, 1), rd('d', 'b', T, null, 'float', 'bad'), rd('d', 'c', T, 3), rd('d', 'a', T + 1, 4)]);
      s.appendAudit({ ts: T, actor: 'mes', system: 'MES', action: 'read', route: 'r', result: 'ok' });
      s.appendAudit({ ts: T + 1, actor: 'mes', system: 'MES', action: 'read', route: 'r2', result: 'ok' });
      expect(s.getCursor('readings')).toBe(0);
      const first = s.readForward('readings', 0, 2);
      expect(first.map((r) => [r.tag, r.quality])).toEqual([
        ['a', 'good'],
        ['b', 'bad'],
      ]);
      s.setCursor('readings', first[1]!.seq);
      expect(s.stats().backlog).toBe(2);
      expect(s.readForward('readings', s.getCursor('readings'), 10).map((r) => r.value)).toEqual([3, 4]);
      expect(s.getCursor('audit')).toBe(0);
      const audits = s.readForward('audit', 0, 10);
      expect(audits.map((a) => a.route)).toEqual(['r', 'r2']);
      s.setCursor('audit', audits[0]!.seq);
      expect(s.readForward('audit', s.getCursor('audit'), 10).map((a) => a.route)).toEqual(['r2']);
      s.setCursor('readings', s.readForward('readings', 0, 10).at(-1)!.seq);
      expect(s.stats().backlog).toBe(0);
    });
  });
}

/** Every role together: the limits (retention, maxSize), the loss ledger and restarts, which move what every role sees. */
export function limitsContract(open: Open<Store>): void {
  describe('the roles together: limits, losses, restarts', () => {
    const t = harness(open);

    it('named readings cursors (a northbound target): own position, backlog, head, and drops counted per cursor by retention and by size', async () => {
      const now = t.clock.now();
      let s = t.make({ retentionMs: 2 * DAY });
      expect(s.headSeq()).toBe(0);
      // 12 readings: 6 three days old, then 6 of today
      const rows: Reading[] = [];
      for (let i = 0; i < 6; i++) rows.push(rd('d', 't', now - 3 * DAY + i, i));
      for (let i = 0; i < 6; i++) rows.push(rd('d', 't', now + i, 10 + i));
      await s.write(rows);
      const seqs = s.readForward('readings', 0, 100).map((r) => r.seq);
      expect(s.headSeq()).toBe(seqs.at(-1));
      // the InfluxDB forwarder has sent 5 rows (1 of the old ones unsent), target "north:a" 2 (4 unsent), "north:b" everything
      s.setCursor('readings', seqs[4]!);
      s.setCursor('north:a', seqs[1]!);
      s.setCursor('north:b', seqs[11]!);
      expect(s.getCursor('north:a')).toBe(seqs[1]);
      expect(s.backlog('north:a')).toBe(10);
      expect(s.backlog('north:b')).toBe(0);
      expect(s.backlog('readings')).toBe(7);
      expect(s.stats().backlog).toBe(7); // the InfluxDB forwarder's, unchanged by the others
      expect(s.enforceLimits()).toBe(6);
      expect(s.droppedUnforwarded('readings')).toBe(1);
      expect(s.droppedUnforwarded('north:a')).toBe(4);
      expect(s.droppedUnforwarded('north:b')).toBe(0);
      expect(s.stats()).toMatchObject({ dropped: 6, droppedUnforwarded: 1 });
      // 6 data rows left after its cursor, and the loss ledger's status rows about the drop
      const after = s.readForward('readings', seqs[1]!, 1000);
      expect(after.filter((r) => r.measurement === 'data')).toHaveLength(6);
      expect(s.backlog('north:a')).toBe(after.length);
      await s.close();
      // counters and cursors survive a restart; a size limit counts per cursor too
      s = t.make({ retentionMs: 0, maxSizeBytes: 2 * 1024 * 1024 });
      expect(s.getCursor('north:a')).toBe(seqs[1]);
      expect(s.droppedUnforwarded('north:a')).toBe(4);
      let sent = 0;
      const batch = () => {
        const out: Reading[] = [];
        for (let i = 0; i < 1000; i++, sent++) out.push(rd(`dev${sent % 5}`, `tag${sent % 7}`, now + 10 + sent, sent * 0.5));
        return out;
      };
      while (sent < 10_000) await s.write(batch());
      // "north:b" has published everything so far, "north:a" still nothing of it
      const bCursor = s.headSeq();
      s.setCursor('north:b', bCursor);
      const upToB = s.readForward('readings', Number.MIN_SAFE_INTEGER, 1_000_000).length;
      const before = { a: s.droppedUnforwarded('north:a'), b: s.droppedUnforwarded('north:b'), all: s.stats().dropped };
      while (sent < 60_000) await s.write(batch());
      const dropped = s.stats().dropped - before.all;
      expect(dropped).toBeGreaterThan(upToB);
      expect(s.readForward('readings', Number.MIN_SAFE_INTEGER, 1)[0]!.seq).toBeGreaterThan(bCursor);
      // "north:a" had published none of them (every dropped row counts), "north:b" the first upToB
      expect(s.droppedUnforwarded('north:a') - before.a).toBe(dropped);
      expect(s.droppedUnforwarded('north:b') - before.b).toBe(dropped - upToB);
      expect(s.droppedUnforwarded('north:never-set')).toBe(0);
    });

    it('survives close and reopen: rows, cursors, counters; seq keeps growing even after every row was dropped', async () => {
      let s = t.make({ retentionMs: DAY });
      await s.write([rd('d', 'a', T, 1), rd('d', 'a', T + 1, 2)]);
      s.appendAudit({ ts: T, actor: 'mes', system: 'MES', action: 'read', route: 'r', result: 'ok' });
      const last = s.readForward('readings', 0, 10).at(-1)!.seq;
      s.setCursor('readings', last);
      s.setCursor('audit', 1);
      await s.close();
      s = t.make({ retentionMs: DAY });
      // clock at T + 10 days: both readings are past retention
      expect(s.enforceLimits()).toBe(2);
      expect(s.stats()).toMatchObject({ readings: 0, dropped: 2, droppedUnforwarded: 0 });
      expect(s.getCursor('readings')).toBe(last);
      expect(s.getCursor('audit')).toBe(1);
      await s.write([rd('d', 'a', t.clock.now(), 3)]);
      const fresh = s.readForward('readings', s.getCursor('readings'), 10);
      expect(fresh.map((r) => r.value)).toEqual([3]);
      expect(fresh[0]!.seq).toBeGreaterThan(last);
      await s.close();
      s = t.make({ retentionMs: DAY });
      expect(s.query({}).map((r) => r.value)).toEqual([3]);
      expect(s.getCursor('readings')).toBe(last);
      expect(s.stats()).toMatchObject({ readings: 1, backlog: 1, dropped: 2 });
    });

    it('retention drops readings older than retentionMs on the timer, counts them (unforwarded too) and logs once per drop event', async () => {
      const now = t.clock.now();
      const s = t.make({ retentionMs: 3.5 * DAY, limitsIntervalMs: 6 * 3_600_000 });
      // 30 readings: 10 per day for three days back, oldest first
      const rows: Reading[] = [];
      for (let d = 3; d >= 1; d--) for (let i = 0; i < 10; i++) rows.push(rd(`dev${i % 3}`, 't', now - d * DAY + i * 1000, i));
      await s.write(rows);
      s.appendAudit({ ts: now - 3 * DAY, actor: 'mes', system: 'MES', action: 'read', route: 'old', result: 'ok' });
      s.appendAudit({ ts: now, actor: 'mes', system: 'MES', action: 'read', route: 'new', result: 'ok' });
      // the forwarder has sent the first 4 rows only
      s.setCursor('readings', s.readForward('readings', 0, 4).at(-1)!.seq);
      expect(s.enforceLimits()).toBe(0); // nothing is older than 3.5 days yet
      expect(s.stats().dropped).toBe(0);
      const before = t.logs.lines.length;
      // timer runs at +6 h (cutoff now-3d-12h: nothing), +12 h (cutoff now-3d: the oldest is not
      // *older*), +18 h (cutoff now-3d+6h: the ten 3-day-old readings)
      await t.clock.advance(18 * 3_600_000);
      // the timer's pass runs in steps (one chunk per turn of the event loop)
      await waitFor('the timer pass', () => s.stats().dropped === 10);
      const st = s.stats();
      expect(st.dropped).toBe(10);
      expect(st.droppedUnforwarded).toBe(6);
      // the 20 left, and one gateway_status loss point (lost, lostFrom, lostTo, lostReason) for each
      // of the three devices whose unforwarded readings went: 20 + 3 x 4
      expect(st.readings).toBe(32);
      // rows 5..10 of the 3-day-old ones (i = 4..9) were unforwarded: dev1 i=4,7; dev2 i=5,8; dev0 i=6,9
      const base = now - 3 * DAY;
      expect(s.losses().map((e) => [e.device, e.reason, e.count, e.from - base, e.to - base, e.open])).toEqual([
        ['dev1', 'retention', 2, 4000, 7000, false],
        ['dev2', 'retention', 2, 5000, 8000, false],
        ['dev0', 'retention', 2, 6000, 9000, false],
      ]);
      expect(st.losses).toEqual([
        { device: 'dev0', reason: 'retention', count: 2 },
        { device: 'dev1', reason: 'retention', count: 2 },
        { device: 'dev2', reason: 'retention', count: 2 },
      ]);
      expect(st.lost).toBe(6);
      // the point carries the episode and the time it closed (the +18 h timer pass)
      expect(s.query({ measurement: 'status', device: 'dev1' }).map((r) => [r.tag, r.value, r.ts - now])).toEqual([
        ['lost', 2, 18 * 3_600_000],
        ['lostFrom', base + 4000, 18 * 3_600_000],
        ['lostTo', base + 7000, 18 * 3_600_000],
        ['lostReason', 'retention', 18 * 3_600_000],
      ]);
      const dropLogs = t.logs.lines.slice(before).filter((l) => l.dropped !== undefined);
      expect(dropLogs).toHaveLength(1);
      expect(dropLogs[0]).toMatchObject({ dropped: 10, unforwarded: 6, level: 40 });
      expect(s.audits({}).map((a) => a.route)).toEqual(['new']);
      // nothing more to drop at +24 h (the 2-day-old ones are within 3.5 days): no further log line
      await t.clock.advance(6 * 3_600_000);
      expect(s.enforceLimits()).toBe(0);
      expect(s.stats().dropped).toBe(10);
      expect(t.logs.lines.slice(before).filter((l) => l.dropped !== undefined)).toHaveLength(1);
    });

    it('retention also drops old readings that arrived late, behind newer ones', async () => {
      const now = t.clock.now();
      const s = t.make({ retentionMs: DAY });
      const rows: Reading[] = [];
      for (let i = 0; i < 120_000; i++) rows.push(rd(`d${i % 7}`, 't', now - 2 * DAY + i, i)); // old, in order
      for (let i = 0; i < 10; i++) rows.push(rd('d1', 't', now - 1000 + i, i)); // recent
      rows.push(rd('late', 't', now - 3 * DAY, -1)); // old, written after recent ones
      rows.push(rd('d2', 't', now - 5, 5)); // recent
      await s.write(rows);
      expect(s.enforceLimits()).toBe(120_001);
      expect(
        s
          .query({})
          .map((r) => r.device)
          .sort(),
      ).toEqual([...Array(10).fill('d1'), 'd2'].sort());
      expect(s.stats()).toMatchObject({ readings: 11, dropped: 120_001 });
    });

    it('without a forwarder, dropped readings are not called unforwarded', async () => {
      const s = t.make({ retentionMs: DAY });
      await s.write([rd('d', 't', t.clock.now() - 2 * DAY, 1), rd('d', 't', t.clock.now(), 2)]);
      expect(s.enforceLimits()).toBe(1);
      expect(s.stats()).toMatchObject({ dropped: 1, droppedUnforwarded: 0, readings: 1 });
    });

    it('maxSize: commits make room by dropping the oldest readings, forwarded ones first, then unforwarded ones, counted per device', async () => {
      const maxSizeBytes = 2 * 1024 * 1024;
      const s = t.make({ maxSizeBytes });
      s.setCursor('readings', 0);
      const N = 60_000;
      let sent = 0;
      const batch = () => {
        const rows: Reading[] = [];
        for (let i = 0; i < 1000; i++, sent++) rows.push(rd(`dev${sent % 5}`, `tag${sent % 7}`, T + sent, sent * 0.5));
        return rows;
      };
      while (sent < 10_000) await s.write(batch());
      // InfluxDB has the first 5,000
      s.setCursor('readings', s.readForward('readings', 0, 5000).at(-1)!.seq);
      while (sent < N) await s.write(batch());
      const st = s.stats();
      const left = s.query({ measurement: 'data', order: 'asc' });
      const dropped = N - left.length;
      expect(dropped).toBeGreaterThan(10_000);
      expect(st.dropped).toBe(dropped);
      expect(st.readings).toBe(left.length);
      // forwarded ones went first: 5,000 of the drops were in InfluxDB, the rest were not
      expect(st.droppedUnforwarded).toBe(dropped - 5000);
      // the oldest went first: what is left is exactly the newest readings
      expect(left[0]!.value).toBe(dropped * 0.5);
      expect(left.at(-1)!.value).toBe((N - 1) * 0.5);
      // each device's unforwarded losses, from 5,000 up to the oldest kept
      expect(st.losses.reduce((a, l) => a + l.count, 0)).toBe(dropped - 5000);
      for (const l of st.losses) expect(l.reason).toBe('maxSize');
      expect(st.lost).toBe(dropped - 5000);
      const ep = s.losses().find((e) => e.device === 'dev0')!;
      expect(ep).toMatchObject({ reason: 'maxSize', from: T + 5000, open: true });
      expect(ep.to).toBeLessThan(T + dropped);
      expect(st.full).toMatchObject({ reason: 'maxSize', dropped: dropped - 5000 });
      // nothing more to drop: the store fits
      expect(s.enforceLimits()).toBe(0);
      expect(s.stats().dropped).toBe(dropped);
      // only one alarm line, however many commits dropped
      expect(t.logs.lines.filter((l) => l.alarm === 'STORE_FULL')).toHaveLength(1);
    });
  });
}

/** The salvage role (SalvageStore): rows read from a damaged file go in by the damaged file's cursor, noted by file name. */
export function salvageContract(open: Open<Fed & SalvageStore & Pick<ForwardStore, 'readForward'> & Pick<HistoryStore, 'query'>>): void {
  describe('salvage role: historyAnchor, importRecovered, salvageProgress, recordSalvage, salvaged', () => {
    const t = harness(open);

    it('imports what the damaged file had forwarded as history below every seq and the rest as backlog; progress and the note go by file name', async () => {
      const s = t.make();
      const file = '/somewhere/store.db.damaged-1';
      await s.write([rd('d', 't', T + 10, 10)]);
      expect(s.historyAnchor()).toEqual({ readings: 0, audit: 0 });
      expect(s.salvageProgress(file)).toEqual({ readings: 0, other: 0 });
      expect(s.salvaged(file)).toBeUndefined();
      const row = { measurement: 'data', device: 'd', tag: 't', kind: 'float', text: null, quality: 0, error: null, tie: 0 } as const;
      // the damaged file had forwarded up to its seq 2: those two are history, its seq 3 is backlog
      const r = s.importRecovered({
        anchor: s.historyAnchor(),
        cursor: { readings: 2 },
        readings: [
          { ...row, ts: T + 1, value: 1, oldSeq: 1 },
          { ...row, ts: T + 2, value: 2, oldSeq: 2 },
          { ...row, ts: T + 3, value: 3, oldSeq: 3 },
        ],
        progress: { file, done: { readings: 3 } },
      });
      expect(r).toEqual({ readings: 3, history: 2, audits: 0, deadLetters: 0, losses: 0, full: false });
      // history at anchor - 1 - (cursor - oldSeq), in its old order; the backlog row after the live one
      expect(s.readForward('readings', Number.MIN_SAFE_INTEGER, 10).map((x) => [x.seq, x.value])).toEqual([
        [-2, 1],
        [-1, 2],
        [1, 10],
        [2, 3],
      ]);
      expect(s.readForward('readings', 0, 10).map((x) => x.value)).toEqual([10, 3]);
      expect(s.query({ device: 'd' }).map((x) => x.value)).toEqual([1, 2, 3, 10]);
      expect(s.historyAnchor()).toEqual({ readings: -2, audit: 0 });
      expect(s.salvageProgress('/elsewhere/store.db.damaged-1')).toEqual({ readings: 3, other: 0 });
      s.recordSalvage(file, { readings: 3, audits: 0, deadLetters: 0 });
      expect(s.salvaged('/elsewhere/store.db.damaged-1')).toEqual({ at: t.clock.now(), readings: 3, audits: 0, deadLetters: 0 });
      expect(s.salvaged('/somewhere/store.db.damaged-2')).toBeUndefined();
    });
  });
}

/** The whole suite: every role's block against one implementation. */
export function storeContract(name: string, open: Open<Store>): void {
  describe(`Store contract: ${name}`, () => {
    sinkContract(open);
    historyContract(open);
    verifyContract(open);
    auditContract(open);
    forwardContract(open);
    salvageContract(open);
    limitsContract(open);
  });
}
