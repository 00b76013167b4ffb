/**
 * A damaged store file must not stop collection: with onDamage 'move-aside' (the gateway) a file
 * that is truncated, has a bad header or garbage over its pages is renamed aside (never deleted)
 * and a fresh store takes its place; found at open by the bounded check, or after it by the full
 * check in a worker thread, or by a statement failing. Tools (onDamage 'refuse') say what to do.
 * A store that is merely newer than this fgw is still refused.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { STORE_FILE, STORE_SCHEMA_VERSION, openStore, type OpenStoreOptions } from '../../ingest/store/index.js';
import type { Store } from '../../ingest/types.js';
import { captureLog } from '../helpers/log.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const T = Date.UTC(2026, 10, 27, 0, 0, 0);
const PAGE = 4096;

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const capture = captureLog;

/** a closed store of `n` readings in a fresh directory; returns the directory and the page count */
async function storeWith(n: number): Promise<{ dir: string; pages: number }> {
  const d = tempDir('fgw-damage-');
  cleanups.push(() => d.cleanup());
  const s = openStore({ path: d.path, maxSizeBytes: 2 ** 30, retentionMs: 0, limitsIntervalMs: 0, forwarding: true });
  for (let i = 0; i < n; i += 1000)
    await s.write(
      Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({
        device: `d${k % 3}`,
        tag: 'v',
        ts: T + i + k,
        kind: 'integer' as const,
        value: i + k,
        quality: 'good' as const,
      })),
    );
  s.setCursor('readings', 1234);
  await s.close();
  const db = new Database(join(d.path, STORE_FILE), { readonly: true });
  const pages = Number(db.pragma('page_count', { simple: true }));
  db.close();
  return { dir: d.path, pages };
}

function garbage(file: string, pageNos: number[]): void {
  const fd = openSync(file, 'r+');
  for (const p of pageNos) writeSync(fd, Buffer.alloc(PAGE, 0xa5), 0, PAGE, (p - 1) * PAGE);
  closeSync(fd);
}

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const movedFiles = (dir: string) => readdirSync(dir).filter((n) => /^store\.db\.damaged-\d{8}T\d{6}Z$/.test(n));

function open(dir: string, o: Partial<OpenStoreOptions> = {}): Store {
  const s = openStore({
    path: dir,
    maxSizeBytes: 2 ** 30,
    retentionMs: 0,
    limitsIntervalMs: 0,
    forwarding: true,
    onDamage: 'move-aside',
    backgroundCheck: false,
    ...o,
  });
  cleanups.push(() => s.close());
  return s;
}

const damages: Array<[string, (file: string, pages: number) => void, RegExp]> = [
  ['a bad header', (f) => garbage(f, [1]), /not an SQLite header/],
  ['truncated to half', (f, pages) => truncateSync(f, Math.floor(pages / 2) * PAGE), /truncated/],
  ['garbage over page 2', (f) => garbage(f, [2]), /malformed|quick_check|corrupt/i],
];

describe('a damaged store file at open', () => {
  it.each(damages)('%s: moved aside with a timestamp (bytes kept), a fresh store collects, one alarm line', async (_what, damage, why) => {
    const { dir, pages } = await storeWith(20_000);
    const file = join(dir, STORE_FILE);
    damage(file, pages);
    const before = sha(file);
    const { log, lines } = capture();
    const s = open(dir, { log });
    const moved = movedFiles(dir);
    expect(moved).toHaveLength(1);
    expect(sha(join(dir, moved[0]!))).toBe(before);
    const st = s.stats();
    expect(st.damaged).toHaveLength(1);
    expect(st.damaged[0]).toMatchObject({ file: join(dir, moved[0]!), error: expect.stringMatching(why) });
    expect(st.readings).toBe(0);
    await s.write([{ device: 'd0', tag: 'v', ts: T, kind: 'integer', value: 1, quality: 'good' }]);
    expect(s.query({ device: 'd0' }).map((r) => r.value)).toEqual([1]);
    expect(lines.filter((l) => l.alarm === 'STORE_DAMAGED')).toHaveLength(1);
  });

  it('a tool (onDamage refuse) is told what to do, and the file is left alone', async () => {
    const { dir } = await storeWith(2000);
    garbage(join(dir, STORE_FILE), [1]);
    expect(() => openStore({ path: dir, maxSizeBytes: 2 ** 30, retentionMs: 0, limitsIntervalMs: 0 })).toThrow(
      expect.objectContaining({ code: 'GW_ERR_STORE', message: expect.stringMatching(/damaged.*fgw store salvage/) }),
    );
    expect(movedFiles(dir)).toEqual([]);
    expect(existsSync(join(dir, STORE_FILE))).toBe(true);
  });

  it('a store written by a newer fgw is still refused, not moved aside', async () => {
    const { dir } = await storeWith(10);
    const db = new Database(join(dir, STORE_FILE));
    db.pragma(`user_version = ${STORE_SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => open(dir)).toThrow(
      expect.objectContaining({ code: 'GW_ERR_STORE', message: expect.stringMatching(new RegExp(`schema version ${STORE_SCHEMA_VERSION + 1}.*newer fgw`)) }),
    );
    expect(movedFiles(dir)).toEqual([]);
  });
});

describe('damage found after open', () => {
  it('garbage over middle pages passes the bounded check; the full check in the background finds it, and the store is replaced in place: seq and cursor go on', async () => {
    const { dir } = await storeWith(40_000);
    // ten leaf pages from the middle of the points table (SQLite's dbstat says which)
    const db = new Database(join(dir, STORE_FILE), { readonly: true });
    const leaves = db.prepare("SELECT pageno FROM dbstat WHERE name = 'points' AND pagetype = 'leaf' ORDER BY pageno").pluck().all() as number[];
    db.close();
    const mid = Math.floor(leaves.length / 2);
    garbage(join(dir, STORE_FILE), leaves.slice(mid - 5, mid + 5));
    const { log, lines } = capture();
    const s = open(dir, { log, backgroundCheck: true });
    // it opened: the bounded check did not see the middle of the file
    expect(movedFiles(dir)).toEqual([]);
    // (the files, not the store, are watched: a read of a damaged page would replace it too)
    await waitFor('the background check to move the file aside', () => movedFiles(dir).length === 1);
    expect(s.stats().damaged[0]!.error).toMatch(/quick_check/);
    expect(lines.filter((l) => l.alarm === 'STORE_DAMAGED')).toHaveLength(1);
    // the forwarder's cursor and the sequence carried over into the fresh file
    expect(s.getCursor('readings')).toBe(1234);
    await s.write([{ device: 'd0', tag: 'v', ts: T + 60_000, kind: 'integer', value: -2, quality: 'good' }]);
    const fresh = s.readForward('readings', 0, 10);
    expect(fresh.map((r) => r.value)).toEqual([-2]);
    expect(fresh[0]!.seq).toBe(40_001);
  });

  it('a commit that meets a damaged page: the file is replaced and the commit goes into the fresh one', async () => {
    const { dir, pages } = await storeWith(30_000);
    const s = open(dir);
    await s.write([{ device: 'd0', tag: 'v', ts: T + 40_000, kind: 'integer', value: 7, quality: 'good' }]);
    // checkpoint into the main file, then garbage over its last pages (where the next insert goes)
    // from outside; another connection's write makes ours drop its page cache
    const other = new Database(join(dir, STORE_FILE));
    other.pragma('wal_checkpoint(TRUNCATE)');
    garbage(
      join(dir, STORE_FILE),
      Array.from({ length: 40 }, (_, k) => pages - 39 + k),
    );
    other.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES ('poke', 1)").run();
    other.close();
    await s.write([{ device: 'd0', tag: 'v', ts: T + 41_000, kind: 'integer', value: 8, quality: 'good' }]);
    expect(s.stats().damaged).toHaveLength(1);
    expect(s.query({ device: 'd0' }).map((r) => r.value)).toEqual([8]);
  });

  it.each([
    ['a commit meets the damage', false],
    ['a read meets the damage', true],
  ] as const)("%s, then readings in the same ms as the damaged file's last ones: the fresh file continues their ties", async (_how, byRead) => {
    const { dir, pages } = await storeWith(30_000);
    const X = T + 40_000;
    const at = (value: number) => ({ device: 'd0', tag: 'v', ts: X, kind: 'integer' as const, value, quality: 'good' as const });
    const s = open(dir);
    // two readings of d0.v in ms X: ties 0 and 1 in the file that is about to be damaged (and, forwarded, in InfluxDB)
    await s.write([at(1)]);
    await s.write([at(2)]);
    expect(s.query({ device: 'd0', from: X }).map((r) => r.tie ?? 0)).toEqual([0, 1]);
    const other = new Database(join(dir, STORE_FILE));
    other.pragma('wal_checkpoint(TRUNCATE)');
    if (byRead) {
      // ten leaf pages from the middle of points, which a scan of the table meets
      const leaves = other.prepare("SELECT pageno FROM dbstat WHERE name = 'points' AND pagetype = 'leaf' ORDER BY pageno").pluck().all() as number[];
      garbage(join(dir, STORE_FILE), leaves.slice(leaves.length / 2 - 5, leaves.length / 2 + 5));
    } else {
      garbage(
        join(dir, STORE_FILE),
        Array.from({ length: 40 }, (_, k) => pages - 39 + k),
      );
    }
    // another connection's write makes ours drop its page cache
    other.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES ('poke', 1)").run();
    other.close();
    if (byRead) {
      expect(() => s.query({})).toThrow(/malformed|corrupt/i);
      await waitFor('the read to have the file moved aside', () => movedFiles(dir).length === 1);
    }
    await s.write([at(3)]);
    await s.write([at(4)]);
    expect(s.stats().damaged).toHaveLength(1);
    // 2 and 3, not 0 and 1 again (which would overwrite the damaged file's two points in InfluxDB)
    expect(s.query({ device: 'd0', from: X }).map((r) => [r.value, r.tie ?? 0])).toEqual([
      [3, 2],
      [4, 3],
    ]);
  });
});
