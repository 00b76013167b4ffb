/**
 * A store written by an older fgw opens with this one and answers every query as that fgw did.
 * The fixture (fixtures/store-v4/store.db) and the answers it gave (fixtures/store-v4.answers.json)
 * were both made by the schema-4 code with fixtures/make-store-v4.mjs (its header says how): the
 * expected values come from the previous code, never from the code under test.
 */
import Database from 'better-sqlite3';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../helpers/manual-clock.js';
import { STORE_FILE, STORE_SCHEMA_VERSION, openStore } from '../../ingest/store/index.js';
import type { Store } from '../../ingest/types.js';
import { captureLog } from '../helpers/log.js';
import { tempDir } from '../helpers/tmp.js';

const DAY = 86_400_000;
const T = Date.UTC(2026, 0, 1);
const F = T - 30 * DAY;
const TO = T + 30 * DAY;
const fixtures = join(import.meta.dirname, 'fixtures');
const answers = JSON.parse(readFileSync(join(fixtures, 'store-v4.answers.json'), 'utf8')) as Record<string, unknown>;

/** the same queries, in the same order, as make-store-v4.mjs */
function ask(s: Store): Record<string, unknown> {
  return {
    headSeq: s.headSeq(),
    cursors: { readings: s.getCursor('readings'), audit: s.getCursor('audit'), 'north:plant': s.getCursor('north:plant') },
    backlog: { readings: s.backlog('readings'), 'north:plant': s.backlog('north:plant') },
    droppedUnforwarded: { readings: s.droppedUnforwarded('readings'), 'north:plant': s.droppedUnforwarded('north:plant') },
    queryAll: s.query({ measurement: 'data', limit: 1000 }),
    queryStatus: s.query({ measurement: 'status', limit: 1000 }),
    queryDeviceDesc: s.query({ device: 'press-01', order: 'desc', limit: 7 }),
    queryTagRange: s.query({ device: 'press-01', tag: 'temp', from: T + 1000, to: T + 4000 }),
    latest: s.latest(),
    latestDevice: s.latest('lathe-03'),
    slotCounts: s.slotCounts({ device: 'press-01', from: T, to: T + 10_000, slotMs: 2000 }),
    slotCountsTags: s.slotCounts({ device: 'lathe-03', from: T, to: T + 10_000, slotMs: 3000, tags: ['load'], uncertainIsGood: false }),
    tagsSeen: s.tagsSeen({ device: 'press-01', from: F, to: TO }),
    tagsSeenStrict: s.tagsSeen({ device: 'lathe-03', from: T + 5000, to: TO, uncertainIsGood: false }),
    heartbeatSlots: s.heartbeatSlots({ from: T, to: T + 10_000, slotMs: 2500 }),
    lastGoodTs: s.lastGoodTs({ device: 'press-01', to: TO }),
    lastGoodTsStrict: s.lastGoodTs({ device: 'lathe-03', to: TO, uncertainIsGood: false }),
    readForward: s.readForward('readings', 0, 1000),
    readForwardFromCursor: s.readForward('readings', 20, 5),
    readForwardAudit: s.readForward('audit', 0, 100),
    audits: s.audits({}),
    deadLetters: s.deadLetters(),
    losses: s.losses(),
    stats: (({ sizeBytes: _size, ...rest }) => rest)(s.stats()),
  };
}

describe('a schema-4 store (one row per reading) written by the previous code', () => {
  const dirs: Array<ReturnType<typeof tempDir>> = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.cleanup();
  });
  const copy = (): string => {
    const dir = tempDir('fgw-upgrade-');
    dirs.push(dir);
    copyFileSync(join(fixtures, 'store-v4', STORE_FILE), join(dir.path, STORE_FILE));
    return dir.path;
  };
  const open = (path: string, log = captureLog().log): Store =>
    openStore({ path, maxSizeBytes: 1024 ** 3, retentionMs: 30 * DAY, clock: new ManualClock(T + 10 * DAY), log, limitsIntervalMs: 0, forwarding: true });

  it('the fixture is what it says: schema 4, 60 readings, 3 audits, 2 dead letters', () => {
    const db = new Database(join(fixtures, 'store-v4', STORE_FILE), { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(4);
    expect(db.prepare('SELECT count(*) FROM readings').pluck().get()).toBe(60);
    expect(db.prepare('SELECT count(*) FROM audit').pluck().get()).toBe(3);
    expect(db.prepare('SELECT count(*) FROM dead_letters').pluck().get()).toBe(2);
    db.close();
  });

  it('opens, is at the current schema version, and answers every query as the schema-4 code did; again after a reopen', async () => {
    const path = copy();
    const s = open(path);
    expect(ask(s)).toEqual(answers);
    await s.close();
    const raw = new Database(join(path, STORE_FILE));
    expect(raw.pragma('user_version', { simple: true })).toBe(STORE_SCHEMA_VERSION);
    raw.close();
    const again = open(path);
    expect(ask(again)).toEqual(answers);
    await again.close();
  });

  it('says before that it upgrades, and after how long it took; the readings are points now, every one kept', async () => {
    const path = copy();
    const { log, lines } = captureLog();
    const s = open(path, log);
    await s.close();
    const before = lines.find((l) => /upgrading the store layout in place/.test(String(l.msg)));
    expect(before).toMatchObject({ from: 4, to: STORE_SCHEMA_VERSION });
    const after = lines.find((l) => l.msg === 'store layout upgraded');
    expect(after?.ms).toEqual(expect.any(Number));
    expect(lines.indexOf(before!)).toBeLessThan(lines.indexOf(after!));
    const raw = new Database(join(path, STORE_FILE), { readonly: true });
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE name = 'readings'").pluck().all()).toEqual([]);
    // the 60 readings, fewer rows: a poll's readings (one device, one ts) share one
    expect(raw.prepare('SELECT sum(n) FROM points').pluck().get()).toBe(60);
    expect(Number(raw.prepare('SELECT count(*) FROM points').pluck().get())).toBeLessThan(40);
    raw.close();
  });

  it('goes on after the upgrade: new readings follow the old seqs, ties continue, the cursor drains the backlog', async () => {
    const path = copy();
    const s = open(path);
    // the MQTT burst had ties 0, 1, 2 at T + 7000: the next reading of that series and ms is tie 3
    await s.write([
      { device: 'mqtt-07', tag: 'level', ts: T + 7000, kind: 'float', value: 2.25, quality: 'good' },
      { device: 'press-01', tag: 'temp', ts: T + 6000, kind: 'float', value: 21.5, quality: 'good' },
    ]);
    expect(s.headSeq()).toBe(64);
    const fwd = s.readForward('readings', 62, 10);
    expect(fwd.map((r) => [r.seq, r.device, r.tag, r.value, r.tie ?? 0])).toEqual([
      [63, 'mqtt-07', 'level', 2.25, 3],
      [64, 'press-01', 'temp', 21.5, 0],
    ]);
    // seqs 21..64 after the cursor, less 57 and 58 (old-02, dropped by retention)
    expect(s.backlog('readings')).toBe(42);
    s.setCursor('readings', 64);
    expect(s.backlog('readings')).toBe(0);
    expect(s.latest('press-01').find((r) => r.tag === 'temp')).toMatchObject({ seq: 64, ts: T + 6000, value: 21.5 });
    await s.close();
  });
});
