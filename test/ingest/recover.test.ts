/**
 * ingest/recover.ts against real store files that real SQLite wrote, damaged the ways a power cut
 * or a bad SD card damages them. What should be recoverable is counted with SQLite's own dbstat
 * (cells per leaf page of `readings`) before the damage, never with the reader under test.
 *
 * The file has ties (layout 3+): 24 readings share each ms, two of each of the 12 series, so
 * reading k has tie 1 when k mod 24 >= 12, else 0.
 */
import Database from 'better-sqlite3';
import { closeSync, copyFileSync, openSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../adapters/types.js';
import { Recovery } from '../../ingest/recover.js';
import { STORE_FILE, openStore } from '../../ingest/store/index.js';
import { tempDir } from '../helpers/tmp.js';

const T = Date.UTC(2026, 10, 27, 0, 0, 0);
const N = 48_401;
const PAGE = 4096;

let dir: ReturnType<typeof tempDir>;
let file: string;
/** pageno → readings on that leaf page, and the total page count */
let leaves: Map<number, number>;
let pages: number;
/** readings with tie 1, by SQLite */
let tiesOfOne: number;

/** value of reading i: its identity in the comparisons below */
const value = (i: number) => i + 0.25;
/** the tie the store gives reading i (the second reading of its series in its ms gets 1) */
const tieOf = (i: number) => (i % 24 >= 12 ? 1 : 0);

beforeAll(async () => {
  dir = tempDir('fgw-recover-');
  const s = openStore({ path: join(dir.path, 'live'), maxSizeBytes: 2 ** 30, retentionMs: 0, limitsIntervalMs: 0, forwarding: true });
  for (let i = 0; i < N; i += 1000) {
    const rows: Reading[] = [];
    for (let k = i; k < Math.min(N, i + 1000); k++)
      rows.push({ device: `dev${k % 4}`, tag: `t${k % 6}`, ts: T + Math.floor(k / 24) * 10, kind: 'float', value: value(k), quality: 'good' });
    await s.write(rows);
  }
  s.setCursor('readings', 20_000);
  s.appendAudit({ ts: T, actor: 'mes', system: 'MES', action: 'read', route: 'GET /api/latest', result: 'ok' });
  s.deadLetter({ ts: T, source: 'mqtt', reason: 'NOT_JSON', detail: 'Unexpected token', payload: 'p'.repeat(60_000) });
  await s.close();
  file = join(dir.path, 'live', STORE_FILE);
  const db = new Database(file, { readonly: true });
  leaves = new Map(
    (db.prepare("SELECT pageno, ncell FROM dbstat WHERE name = 'readings' AND pagetype = 'leaf'").all() as Array<{ pageno: number; ncell: number }>).map(
      (r) => [r.pageno, r.ncell],
    ),
  );
  pages = Number(db.pragma('page_count', { simple: true }));
  tiesOfOne = Number(db.prepare('SELECT count(*) FROM readings WHERE tie = 1').pluck().get());
  db.close();
});
afterAll(() => dir.cleanup());

function copy(name: string): string {
  const f = join(dir.path, name);
  copyFileSync(file, f);
  return f;
}

function garbage(f: string, pageNos: number[], byte = 0xa5): void {
  const fd = openSync(f, 'r+');
  for (const p of pageNos) writeSync(fd, Buffer.alloc(PAGE, byte), 0, PAGE, (p - 1) * PAGE);
  closeSync(fd);
}

/** the readings' values read back, sorted, and the report */
function recover(f: string) {
  const r = new Recovery(f);
  try {
    const rows = [...r.rows('readings')];
    const values = rows.map((x) => x.values[3] as number).sort((a, b) => a - b);
    // rows whose tie (the 9th value) is not the one the store gave them
    const wrongTies = rows.filter((x) => x.values[8] !== tieOf((x.values[3] as number) - 0.25)).length;
    const series = [...r.rows('series')].length;
    const seriesIndex = [...r.rows('sqlite_autoindex_series_1')].length;
    const meta = new Map([...r.rows('meta')].map((x) => [x.values[0], x.values[1]]));
    const dl = [...r.rows('dead_letters')];
    const audits = [...r.rows('audit')];
    return { values, wrongTies, series, seriesIndex, meta, dl, audits, report: r.report };
  } finally {
    r.close();
  }
}

const all = () => Array.from({ length: N }, (_, i) => value(i));
const lostOn = (pageNos: number[]) => pageNos.reduce((a, p) => a + (leaves.get(p) ?? 0), 0);

describe('recovering a store file without SQLite', () => {
  it('a sound file: every row of every table, overflow pages included', () => {
    const r = recover(file);
    expect(r.values).toEqual(all());
    expect(r.wrongTies).toBe(0);
    // 2,016 full blocks of 24 with 12 ties of 1 each, and 5 in the last 17 readings (k mod 24 = 12..16)
    expect(tiesOfOne).toBe(2016 * 12 + 5);
    expect(r.series).toBe(12);
    expect(r.meta.get('cursor:readings')).toBe(20_000);
    expect(r.meta.get('count:readings')).toBe(N);
    expect(r.dl).toHaveLength(1);
    expect((r.dl[0]!.values[7] as string).length).toBe(60_000);
    expect(r.audits.map((a) => a.values[5])).toEqual(['GET /api/latest']);
    expect(r.report).toMatchObject({ headerOk: true, schemaOk: true, damagedPages: 0, badCells: 0 });
  });

  it('garbage over 10 middle pages: every reading not on them', () => {
    const f = copy('middle');
    const hit = Array.from({ length: 10 }, (_, k) => Math.floor(pages / 2) + 3 * k);
    garbage(f, hit);
    const r = recover(f);
    const lost = lostOn(hit);
    expect(lost).toBeGreaterThan(0);
    expect(r.values).toHaveLength(N - lost);
    // exactly the originals, nothing invented
    const original = new Set(all());
    expect(r.values.every((v) => original.has(v))).toBe(true);
    expect(r.wrongTies).toBe(0);
    expect(r.report.damagedPages).toBeGreaterThanOrEqual(hit.filter((p) => leaves.has(p)).length);
  });

  it('garbage over page 2 (the series table): readings still named, through the series index', () => {
    const f = copy('page2');
    garbage(f, [2]);
    const r = recover(f);
    expect(leaves.has(2)).toBe(false);
    expect(r.values).toEqual(all());
    expect(r.series).toBe(0);
    expect(r.seriesIndex).toBe(12);
  });

  it('a bad header: the page size is guessed and everything is read', () => {
    const f = copy('header');
    const fd = openSync(f, 'r+');
    writeSync(fd, Buffer.alloc(100, 0x11), 0, 100, 0);
    closeSync(fd);
    const r = recover(f);
    expect(r.report.headerOk).toBe(false);
    expect(r.report.pageSize).toBe(PAGE);
    expect(r.values).toEqual(all());
  });

  it('truncated to half: every reading on the pages that are left', () => {
    const f = copy('truncated');
    const keep = Math.floor(pages / 2);
    truncateSync(f, keep * PAGE);
    const r = recover(f);
    const left = [...leaves].filter(([p]) => p <= keep).reduce((a, [, n]) => a + n, 0);
    expect(r.values).toHaveLength(left);
    expect(r.report.damagedPages).toBeGreaterThan(0);
  });

  it('the schema page lost too (garbage over page 1 and 2): tables are recognised by the shape of their rows', () => {
    const f = copy('schema');
    garbage(f, [1, 2]);
    const r = recover(f);
    expect(r.report.schemaOk).toBe(false);
    expect(r.values).toEqual(all());
    expect(r.wrongTies).toBe(0);
    expect(r.seriesIndex).toBe(12);
    // meta too: the forwarder's cursor survives, so salvage knows what InfluxDB had
    expect(r.meta.get('cursor:readings')).toBe(20_000);
  });

  it('a layout-2 file (no tie column) with its schema page lost: its 8-value rows are still recognised as readings', async () => {
    const d = tempDir('fgw-recover-v2-');
    try {
      const s = openStore({ path: d.path, maxSizeBytes: 2 ** 30, retentionMs: 0, limitsIntervalMs: 0 });
      await s.write(
        Array.from({ length: 3000 }, (_, i) => ({ device: 'd', tag: 't', ts: T + i, kind: 'integer' as const, value: i, quality: 'good' as const })),
      );
      await s.close();
      const f = join(d.path, STORE_FILE);
      const db = new Database(f);
      db.exec('ALTER TABLE readings DROP COLUMN tie; PRAGMA user_version = 2;');
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
      garbage(f, [1]);
      const r = new Recovery(f);
      const rows = [...r.rows('readings')];
      expect(r.report.schemaOk).toBe(false);
      r.close();
      expect(rows.map((x) => x.values[3]).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 3000 }, (_, i) => i));
      expect(new Set(rows.map((x) => x.values.length))).toEqual(new Set([8]));
    } finally {
      d.cleanup();
    }
  });

  it('what a crash left in the WAL is read too (committed frames only)', async () => {
    const d = tempDir('fgw-recover-wal-');
    try {
      const s = openStore({ path: d.path, maxSizeBytes: 2 ** 30, retentionMs: 0, limitsIntervalMs: 0 });
      await s.write(
        Array.from({ length: 3000 }, (_, i) => ({ device: 'd', tag: 't', ts: T + i, kind: 'integer' as const, value: i, quality: 'good' as const })),
      );
      // copied while open: the rows are in the WAL, not yet in the main file
      copyFileSync(join(d.path, STORE_FILE), join(d.path, 'copy.db'));
      copyFileSync(join(d.path, `${STORE_FILE}-wal`), join(d.path, 'copy.db-wal'));
      await s.close();
      const r = new Recovery(join(d.path, 'copy.db'));
      const n = [...r.rows('readings')].length;
      expect(r.report.walFrames).toBeGreaterThan(0);
      r.close();
      expect(n).toBe(3000);
    } finally {
      d.cleanup();
    }
  });
});
