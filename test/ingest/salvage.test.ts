/**
 * `fgw store salvage`: a damaged store file (garbage over ten middle pages of readings) moved
 * aside, its readable rows read into the live store. What InfluxDB had (the damaged file's cursor)
 * becomes local history, the rest backlog for the forwarder. Expected counts come from SQLite's
 * dbstat before the damage and from what the test wrote, not from the code under test.
 *
 * The file has ties: six consecutive readings share a ms, two of each of the three devices, so
 * reading v is at ms T + floor(v / 6) with tie 1 when v mod 6 >= 3, else 0. The salvage runs on its
 * own connection, as `fgw store salvage` beside a running gateway does.
 */
import Database from 'better-sqlite3';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../gateway/cli/index.js';
import { salvageInto } from '../../ingest/salvage.js';
import { STORE_FILE, openStore } from '../../ingest/store/index.js';
import type { Store } from '../../ingest/types.js';
import { tempDir } from '../helpers/tmp.js';

const N = 30_000;
const FORWARDED = 12_000;
const PAGE = 4096;

let dir: ReturnType<typeof tempDir>;
let live: Store;
let moved: string;
let lostOnDamage = 0;
let lostForwarded = 0;
const now = Date.now();
const T = now - 3_600_000;
const msOf = (v: number) => T + Math.floor(v / 6);
const tieOf = (v: number) => (v % 6 >= 3 ? 1 : 0);
/** a backlog ms (seq > FORWARDED, far from the damaged middle) where dev1 has readings 19,999 (tie 0) and 20,002 (tie 1) */
const X = msOf(20_000);
const storeOpts = (path: string) => ({ path, maxSizeBytes: 2 ** 30, retentionMs: 14 * 86_400_000, limitsIntervalMs: 0, forwarding: true });

beforeAll(async () => {
  dir = tempDir('fgw-salvage-');
  const storePath = join(dir.path, 'store');
  const s = openStore({ path: storePath, maxSizeBytes: 2 ** 30, retentionMs: 0, limitsIntervalMs: 0, forwarding: true });
  for (let i = 0; i < N; i += 1000)
    await s.write(
      Array.from({ length: 1000 }, (_, k) => ({
        device: `dev${(i + k) % 3}`,
        tag: 'count',
        ts: msOf(i + k),
        kind: 'integer' as const,
        value: i + k,
        quality: 'good' as const,
      })),
    );
  s.setCursor('readings', FORWARDED);
  s.appendAudit({ ts: T, actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/latest', result: 'ok' });
  s.setCursor('audit', 1);
  s.appendAudit({
    ts: T + 1,
    actor: 'operator',
    system: 'platform',
    action: 'write',
    route: 'POST /api/devices/:id/tags/:tag',
    device: 'dev0',
    tag: 'setpoint',
    value: '42',
    result: 'ok',
  });
  s.deadLetter({ ts: T, source: 'mqtt', reason: 'NOT_JSON', payload: '{' });
  await s.close();
  // ten leaf pages from the middle of the points, and what was on them (the devices alternate, so
  // each reading is a point of its own: a point's seq is its reading's)
  const file = join(storePath, STORE_FILE);
  const db = new Database(file, { readonly: true });
  const leaves = db.prepare("SELECT pageno FROM dbstat WHERE name = 'points' AND pagetype = 'leaf' ORDER BY pageno").pluck().all() as number[];
  const mid = Math.floor(leaves.length / 2);
  const hit = leaves.slice(mid - 5, mid + 5);
  db.close();
  const fd = openSync(file, 'r+');
  for (const p of hit) writeSync(fd, Buffer.alloc(PAGE, 0xa5), 0, PAGE, (p - 1) * PAGE);
  closeSync(fd);
  live = openStore({
    path: storePath,
    maxSizeBytes: 2 ** 30,
    retentionMs: 14 * 86_400_000,
    limitsIntervalMs: 0,
    forwarding: true,
    onDamage: 'move-aside',
    backgroundCheck: false,
  });
  // the bounded check may pass: the first read of readings finds the damage and replaces the file
  try {
    live.stats();
  } catch {
    /* the file is replaced on the next turn */
  }
  await new Promise((r) => setImmediate(r));
  moved = join(
    storePath,
    readdirSync(storePath).find((n) => n.startsWith(`${STORE_FILE}.damaged-`) && !n.endsWith('-wal') && !n.endsWith('-shm'))!,
  );
  // how many readings the damaged pages held, by SQLite itself: seq ranges of the moved file are
  // counted, and a range that fails (it holds a damaged page) is split down to single rows
  const dm = new Database(moved, { readonly: true });
  const readable = (lo: number, hi: number): number => {
    try {
      // a single row by equality: a range scan would also read the next row, maybe on a damaged page
      if (hi - lo === 1) return Number(dm.prepare('SELECT count(*) FROM points WHERE seq = ?').pluck().get(lo));
      return Number(dm.prepare('SELECT count(*) FROM points WHERE seq >= ? AND seq < ?').pluck().get(lo, hi));
    } catch {
      if (hi - lo === 1) return 0;
      const m = Math.floor((lo + hi) / 2);
      return readable(lo, m) + readable(m, hi);
    }
  };
  const fwd = readable(1, FORWARDED + 1);
  const rest = readable(FORWARDED + 1, N + 1);
  dm.close();
  lostForwarded = FORWARDED - fwd;
  lostOnDamage = N - fwd - rest;
  // the live store collects meanwhile; dev1's newest reading is in ms X, where the damaged file's
  // backlog has two readings of it
  await live.write([{ device: 'dev0', tag: 'count', ts: now, kind: 'integer', value: 1_000_000, quality: 'good' }]);
  await live.write([{ device: 'dev1', tag: 'count', ts: X, kind: 'integer', value: 2_000_000, quality: 'good' }]);
});
afterAll(async () => {
  await live?.close();
  dir?.cleanup();
});

describe('fgw store salvage', () => {
  it('imports every readable row with its tie, beside the running store; what InfluxDB had goes in as history, the rest as backlog', async () => {
    expect(lostOnDamage).toBeGreaterThan(0);
    // a second connection, as the command opens it while the gateway runs
    const tool = openStore(storeOpts(join(dir.path, 'store')));
    const r = salvageInto(moved, tool, { retentionMs: 14 * 86_400_000, now, storePath: join(dir.path, 'store') });
    await tool.close();
    // the gateway writes dev1 in ms X again, after the salvage's rows
    await live.write([{ device: 'dev1', tag: 'count', ts: X, kind: 'integer', value: 2_000_001, quality: 'good' }]);
    expect(r.readings.read).toBe(N - lostOnDamage);
    expect(r.readings.imported).toBe(N - lostOnDamage);
    expect(r.readings.history).toBe(FORWARDED - lostForwarded);
    expect(r.readings.backlog).toBe(N - FORWARDED - (lostOnDamage - lostForwarded));
    expect(r.expectedReadings).toBe(N);
    expect(r.cursor).toEqual({ readings: FORWARDED, audit: 1 });
    expect(r.recovery.damagedPages).toBeGreaterThanOrEqual(10);
    // the forwarder sees the live reading and the backlog, never the history
    const toForward = live.readForward('readings', live.getCursor('readings'), 1_000_000);
    expect(toForward).toHaveLength(3 + r.readings.backlog);
    expect(toForward.every((x) => (x.value as number) >= 1_000_000 || (x.value as number) >= FORWARDED)).toBe(true);
    // and the local history has them all, with their values, timestamps and ties
    const stored = live.query({ measurement: 'data' });
    expect(stored).toHaveLength(3 + N - lostOnDamage);
    const salvaged = stored.filter((x) => (x.value as number) < 1_000_000);
    expect(salvaged.filter((x) => x.ts !== msOf(x.value as number))).toEqual([]);
    // two readings of one device in one ms stay two points: each keeps the tie it had...
    expect(salvaged.filter((x) => ![19_999, 20_002].includes(x.value as number) && (x.tie ?? 0) !== tieOf(x.value as number))).toEqual([]);
    expect(salvaged.filter((x) => (x.tie ?? 0) === 1).length).toBeGreaterThan(10_000);
    // ...except in ms X, where the gateway had tie 0 first: the salvaged two take the next free
    // ties, and the gateway's next reading there continues after them (it re-reads the ties
    // another connection wrote)
    expect(live.query({ device: 'dev1', from: X, to: X + 1 }).map((x) => [x.value, x.tie ?? 0])).toEqual([
      [2_000_000, 0],
      [19_999, 1],
      [20_002, 2],
      [2_000_001, 3],
    ]);
    // audits: the one InfluxDB had is history, the other is forwarded
    expect(r.audits).toEqual({ read: 2, imported: 2 });
    expect(live.readForward('audit', live.getCursor('audit'), 10).map((a) => a.route)).toEqual(['POST /api/devices/:id/tags/:tag']);
    expect(
      live
        .audits({})
        .map((a) => a.route)
        .sort(),
    ).toEqual(['GET /api/latest', 'POST /api/devices/:id/tags/:tag']);
    expect(r.deadLetters).toEqual({ read: 1, imported: 1 });
    // the alarm: salvaged
    expect(live.stats().damaged[0]!.salvaged).toMatchObject({ readings: N - lostOnDamage, audits: 2, deadLetters: 1 });
  });

  it('the command says what it recovered and what not, refuses to import the same file twice, and --force imports only what is missing', async () => {
    const cfg = join(dir.path, 'gateway.yaml');
    writeFileSync(cfg, `gateway: { id: t }\nstorage: { path: ${join(dir.path, 'store')} }\ndevices: []\n`);
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    // the live store is open in this process too (as a running gateway would have it)
    expect(await main(['store', 'salvage', moved, '--config', cfg], io)).toBe(2);
    expect(err.join('\n')).toMatch(/salvaged into this store already.*--force/);
    out.length = 0;
    expect(await main(['store', 'salvage', join(dir.path, 'store', STORE_FILE), '--config', cfg], io)).toBe(2);
    expect(err.join('\n')).toMatch(/is the live store/);
    const before = live.query({ measurement: 'data' }).length;
    expect(await main(['store', 'salvage', moved, '--config', cfg, '--force', '--json'], io)).toBe(0);
    const r = JSON.parse(out.join('\n')) as {
      readings: { read: number; imported: number; already: number };
      audits: { imported: number };
      expectedReadings: number;
    };
    expect(r.readings).toMatchObject({ read: N - lostOnDamage, imported: 0, already: N - lostOnDamage });
    expect(r.audits.imported).toBe(0);
    expect(r.expectedReadings).toBe(N);
    // nothing doubled: no row, and so no reading sent again under a new tie
    expect(live.query({ measurement: 'data' })).toHaveLength(before);
  });

  it('a file from before the tie column: its readings sharing a ms get ties 0, 1, 2 (history keeps 0, as InfluxDB has it)', async () => {
    const d = tempDir('fgw-salvage-v2-');
    try {
      // layout 2 as fgw wrote it (no tie column): v 1, 2, 3 and w 4 in one ms, seq 1 forwarded
      const A = T + 5;
      mkdirSync(join(d.path, 'old'));
      const f = join(d.path, 'old', STORE_FILE);
      const db = new Database(f);
      db.exec(`
        CREATE TABLE series(id INTEGER PRIMARY KEY, measurement TEXT NOT NULL, device TEXT NOT NULL, tag TEXT NOT NULL, kind TEXT NOT NULL, dev INTEGER NOT NULL DEFAULT 0, UNIQUE(measurement, device, tag, kind));
        CREATE TABLE devices(id INTEGER PRIMARY KEY, measurement TEXT NOT NULL, device TEXT NOT NULL, UNIQUE(measurement, device));
        CREATE TABLE readings(seq INTEGER PRIMARY KEY, series INTEGER NOT NULL, ts INTEGER NOT NULL, value NUMERIC, text TEXT, quality INTEGER NOT NULL, error TEXT, dev INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX readings_dev_ts ON readings(dev, ts, series, quality);
        CREATE TABLE latest(series INTEGER PRIMARY KEY, seq INTEGER NOT NULL, ts INTEGER NOT NULL);
        CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
        INSERT INTO meta(key, value) VALUES ('cursor:readings', 1), ('cursor:audit', 0), ('dropped', 0), ('droppedUnforwarded', 0), ('count:readings', 4), ('seq:readings', 4);
        INSERT INTO devices(id, measurement, device) VALUES (1, 'data', 'press');
        INSERT INTO series(id, measurement, device, tag, kind, dev) VALUES (1, 'data', 'press', 'v', 'integer', 1), (2, 'data', 'press', 'w', 'integer', 1);
        INSERT INTO readings(seq, series, ts, value, quality, dev) VALUES (1, 1, ${A}, 1, 0, 1), (2, 1, ${A}, 2, 0, 1), (3, 1, ${A}, 3, 0, 1), (4, 2, ${A}, 4, 0, 1);
        INSERT INTO latest(series, seq, ts) VALUES (1, 3, ${A}), (2, 4, ${A});
        PRAGMA user_version = 2;`);
      db.close();
      const target = openStore(storeOpts(join(d.path, 'store')));
      const r = salvageInto(f, target, { retentionMs: 14 * 86_400_000, now, storePath: d.path });
      expect(r.readings).toMatchObject({ imported: 4, history: 1, backlog: 3 });
      // value 1 was forwarded (history, tie 0); 2 and 3 share its ms: ties 1 and 2, two more points
      expect(target.query({ measurement: 'data' }).map((x) => [x.tag, x.value, x.tie ?? 0, x.seq > 0])).toEqual([
        ['v', 1, 0, false],
        ['v', 2, 1, true],
        ['v', 3, 2, true],
        ['w', 4, 0, true],
      ]);
      await target.close();
    } finally {
      d.cleanup();
    }
  });

  it('a salvage killed after its first chunk, run again, imports the rest once: every reading once, no tie twice', async () => {
    const d = tempDir('fgw-salvage-resume-');
    try {
      const copy = join(d.path, 'store.db.damaged-20261127T000000Z');
      copyFileSync(moved, copy);
      for (const ext of ['-wal', '-shm']) if (existsSync(moved + ext)) copyFileSync(moved + ext, copy + ext);
      const target = openStore(storeOpts(join(d.path, 'store')));
      // MOCK (small, named): the real store behind the calls salvageInto makes, its second readings
      // import dying like a killed process (its transaction never happens)
      let imports = 0;
      const killed = {
        historyAnchor: () => target.historyAnchor(),
        salvageProgress: (f: string) => target.salvageProgress(f),
        recordSalvage: (...a: Parameters<Store['recordSalvage']>) => target.recordSalvage(...a),
        importRecovered: (b: Parameters<Store['importRecovered']>[0]) => {
          if ((b.readings?.length ?? 0) > 0 && ++imports === 2) throw new Error('killed');
          return target.importRecovered(b);
        },
      } as unknown as Store;
      expect(() => salvageInto(copy, killed, { retentionMs: 14 * 86_400_000, now, storePath: d.path })).toThrow('killed');
      const first = target.query({ measurement: 'data' }).length;
      expect(first).toBe(10_000);
      const again = salvageInto(copy, target, { retentionMs: 14 * 86_400_000, now, storePath: d.path });
      expect(again.readings.already).toBeGreaterThanOrEqual(10_000);
      expect(first + again.readings.imported).toBe(N - lostOnDamage);
      const rows = target.query({ measurement: 'data' });
      expect(rows).toHaveLength(N - lostOnDamage);
      expect(new Set(rows.map((x) => x.value)).size).toBe(N - lostOnDamage);
      expect(new Set(rows.map((x) => `${x.device} ${x.ts} ${x.tie ?? 0}`)).size).toBe(N - lostOnDamage);
      expect(target.audits({})).toHaveLength(2);
      await target.close();
    } finally {
      d.cleanup();
    }
  });
});
