/**
 * `fgw store salvage`: a damaged store file (garbage over ten middle pages of readings) moved
 * aside, its readable rows read into the live store. What InfluxDB had (the damaged file's cursor)
 * becomes local history, the rest backlog for the forwarder. Expected counts come from SQLite's
 * dbstat before the damage and from what the test wrote, not from the code under test.
 */
import Database from 'better-sqlite3';
import { closeSync, openSync, readdirSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../gateway/cli.js';
import { salvageInto } from '../../ingest/salvage.js';
import { STORE_FILE, openStore } from '../../ingest/store.js';
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

beforeAll(async () => {
  dir = tempDir('fgw-salvage-');
  const storePath = join(dir.path, 'store');
  const s = openStore({ path: storePath, maxSizeBytes: 2 ** 30, retentionMs: 0, limitsIntervalMs: 0, forwarding: true });
  for (let i = 0; i < N; i += 1000) await s.write(Array.from({ length: 1000 }, (_, k) => ({ device: `dev${(i + k) % 3}`, tag: 'count', ts: T + i + k, kind: 'integer' as const, value: i + k, quality: 'good' as const })));
  s.setCursor('readings', FORWARDED);
  s.appendAudit({ ts: T, actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/latest', result: 'ok' });
  s.setCursor('audit', 1);
  s.appendAudit({ ts: T + 1, actor: 'operator', system: 'platform', action: 'write', route: 'POST /api/devices/:id/tags/:tag', device: 'dev0', tag: 'setpoint', value: '42', result: 'ok' });
  s.deadLetter({ ts: T, source: 'mqtt', reason: 'NOT_JSON', payload: '{' });
  await s.close();
  // ten leaf pages from the middle of readings, and what was on them
  const file = join(storePath, STORE_FILE);
  const db = new Database(file, { readonly: true });
  const leaves = db.prepare("SELECT pageno FROM dbstat WHERE name = 'readings' AND pagetype = 'leaf' ORDER BY pageno").pluck().all() as number[];
  const mid = Math.floor(leaves.length / 2);
  const hit = leaves.slice(mid - 5, mid + 5);
  db.close();
  const fd = openSync(file, 'r+');
  for (const p of hit) writeSync(fd, Buffer.alloc(PAGE, 0xa5), 0, PAGE, (p - 1) * PAGE);
  closeSync(fd);
  live = openStore({ path: storePath, maxSizeBytes: 2 ** 30, retentionMs: 14 * 86_400_000, limitsIntervalMs: 0, forwarding: true, onDamage: 'move-aside', backgroundCheck: false });
  // the bounded check may pass: the first read of readings finds the damage and replaces the file
  try {
    live.stats();
  } catch {
    /* the file is replaced on the next turn */
  }
  await new Promise((r) => setImmediate(r));
  moved = join(storePath, readdirSync(storePath).find((n) => n.startsWith(`${STORE_FILE}.damaged-`) && !n.endsWith('-wal') && !n.endsWith('-shm'))!);
  // how many readings the damaged pages held, by SQLite itself: seq ranges of the moved file are
  // counted, and a range that fails (it holds a damaged page) is split down to single rows
  const dm = new Database(moved, { readonly: true });
  const readable = (lo: number, hi: number): number => {
    try {
      // a single row by equality: a range scan would also read the next row, maybe on a damaged page
      if (hi - lo === 1) return Number(dm.prepare('SELECT count(*) FROM readings WHERE seq = ?').pluck().get(lo));
      return Number(dm.prepare('SELECT count(*) FROM readings WHERE seq >= ? AND seq < ?').pluck().get(lo, hi));
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
  // the live store collects meanwhile
  await live.write([{ device: 'dev0', tag: 'count', ts: now, kind: 'integer', value: 1_000_000, quality: 'good' }]);
});
afterAll(async () => {
  await live?.close();
  dir?.cleanup();
});

describe('fgw store salvage', () => {
  it('imports every readable row; what InfluxDB had goes in as history, the rest as backlog', () => {
    expect(lostOnDamage).toBeGreaterThan(0);
    const r = salvageInto(moved, live, { retentionMs: 14 * 86_400_000, now, storePath: join(dir.path, 'store') });
    expect(r.readings.read).toBe(N - lostOnDamage);
    expect(r.readings.imported).toBe(N - lostOnDamage);
    expect(r.readings.history).toBe(FORWARDED - lostForwarded);
    expect(r.readings.backlog).toBe(N - FORWARDED - (lostOnDamage - lostForwarded));
    expect(r.expectedReadings).toBe(N);
    expect(r.cursor).toEqual({ readings: FORWARDED, audit: 1 });
    expect(r.recovery.damagedPages).toBeGreaterThanOrEqual(10);
    // the forwarder sees the live reading and the backlog, never the history
    const toForward = live.readForward('readings', live.getCursor('readings'), 1_000_000);
    expect(toForward).toHaveLength(1 + r.readings.backlog);
    expect(toForward.every((x) => x.value === 1_000_000 || (x.value as number) >= FORWARDED)).toBe(true);
    // and the local history has them all, with their values and timestamps
    const stored = live.query({ measurement: 'data' });
    expect(stored).toHaveLength(1 + N - lostOnDamage);
    expect(stored.filter((x) => x.value !== 1_000_000).every((x) => x.ts === T + (x.value as number))).toBe(true);
    // audits: the one InfluxDB had is history, the other is forwarded
    expect(r.audits).toEqual({ read: 2, imported: 2 });
    expect(live.readForward('audit', live.getCursor('audit'), 10).map((a) => a.route)).toEqual(['POST /api/devices/:id/tags/:tag']);
    expect(live.audits({}).map((a) => a.route).sort()).toEqual(['GET /api/latest', 'POST /api/devices/:id/tags/:tag']);
    expect(r.deadLetters).toEqual({ read: 1, imported: 1 });
    // the alarm: salvaged
    expect(live.stats().damaged[0]!.salvaged).toMatchObject({ readings: N - lostOnDamage, audits: 2, deadLetters: 1 });
  });

  it('the command says what it recovered and what not, and refuses to import the same file twice', async () => {
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
    expect(await main(['store', 'salvage', moved, '--config', cfg, '--force', '--json'], io)).toBe(0);
    const r = JSON.parse(out.join('\n')) as { readings: { read: number }; expectedReadings: number };
    expect(r.readings.read).toBe(N - lostOnDamage);
    expect(r.expectedReadings).toBe(N);
  });
});
