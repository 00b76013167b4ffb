/**
 * The loss ledger: every reading the store could not keep until InfluxDB had it, per device, in
 * episodes (device, reason, from, to, count). Kept in the store's own file (table `losses`), so a
 * loss is visible after a restart, and read by the verifier (Store.losses(), or the
 * `gateway_status` points the store writes when an episode closes: see ingest/README.md).
 *
 * Reasons
 * - `store-full`: refused at commit, the store had no room (full disk, or maxSize with nothing it
 *   may drop). Collection goes on; these readings never reached the store.
 * - `store-error`: refused at commit, the commit failed otherwise (I/O error, lock).
 * - `maxSize`: committed, then dropped by the size limit before InfluxDB had it (oldest first).
 * - `retention`: committed, then dropped by retention before InfluxDB had it.
 *
 * An episode stays open while its cause lasts (the store full, commits failing, the size limit
 * dropping unforwarded readings) and grows in place (from = min, to = max of the readings' own
 * timestamps, count += n), so a long outage is one row per device, not one per commit.
 */
import type Database from 'better-sqlite3';
import { whereOf } from './store/rows.js';

export type LossReason = 'store-full' | 'store-error' | 'maxSize' | 'retention';

export interface LossEpisode {
  id: number;
  device: string;
  reason: LossReason;
  /** timestamp (ms) of the first reading lost in this episode */
  from: number;
  /** timestamp (ms) of the last reading lost in this episode */
  to: number;
  count: number;
  /** true while the episode's cause lasts */
  open: boolean;
}

export interface LossTotal {
  device: string;
  reason: LossReason;
  count: number;
}

export const LOSSES_TABLE = `
CREATE TABLE IF NOT EXISTS losses(
  id INTEGER PRIMARY KEY, device TEXT NOT NULL, reason TEXT NOT NULL,
  from_ts INTEGER NOT NULL, to_ts INTEGER NOT NULL, count INTEGER NOT NULL, open INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS losses_to ON losses(to_ts);`;

/** Per device: [count, min ts, max ts] of the readings lost in one event. */
export type LossBatch = Map<string, [count: number, from: number, to: number]>;

/** Adds `count` readings of `device` with timestamps in [from, to] to the batch. */
export function addToBatch(batch: LossBatch, device: string, from: number, to = from, count = 1): void {
  const e = batch.get(device);
  if (e === undefined) batch.set(device, [count, from, to]);
  else {
    e[0] += count;
    if (from < e[1]) e[1] = from;
    if (to > e[2]) e[2] = to;
  }
}

type Row = { id: number; device: string; reason: LossReason; from_ts: number; to_ts: number; count: number; open: number };

const toEpisode = (r: Row): LossEpisode => ({ id: r.id, device: r.device, reason: r.reason, from: r.from_ts, to: r.to_ts, count: r.count, open: r.open === 1 });

export class LossLedger {
  private readonly st;

  constructor(db: Database.Database) {
    this.st = {
      findOpen: db.prepare('SELECT id FROM losses WHERE device = ? AND reason = ? AND open = 1 ORDER BY id DESC LIMIT 1').pluck(),
      insert: db.prepare('INSERT INTO losses(device, reason, from_ts, to_ts, count, open) VALUES (?, ?, ?, ?, ?, 1)'),
      extend: db.prepare('UPDATE losses SET from_ts = min(from_ts, ?), to_ts = max(to_ts, ?), count = count + ? WHERE id = ?'),
      openRows: db.prepare('SELECT * FROM losses WHERE open = 1 AND (? IS NULL OR reason = ?) ORDER BY id'),
      close: db.prepare('UPDATE losses SET open = 0 WHERE id = ?'),
      totals: db.prepare('SELECT device, reason, sum(count) AS count FROM losses GROUP BY device, reason ORDER BY device, reason'),
      anyOpen: db.prepare('SELECT count(*) FROM losses WHERE open = 1').pluck(),
    };
  }

  /** Adds one event's losses to the open episode of each (device, reason), opening it if needed. */
  add(reason: LossReason, batch: LossBatch): void {
    for (const [device, [count, from, to]] of batch) {
      if (count <= 0) continue;
      const id = this.st.findOpen.get(device, reason) as number | undefined;
      if (id === undefined) this.st.insert.run(device, reason, from, to, count);
      else this.st.extend.run(from, to, count, id);
    }
  }

  /** Closes the open episodes (of one reason, or all) and returns them as they were closed. */
  close(reason?: LossReason): LossEpisode[] {
    const rows = (this.st.openRows.all(reason ?? null, reason ?? null) as Row[]).map(toEpisode);
    for (const e of rows) {
      this.st.close.run(e.id);
      e.open = false;
    }
    return rows;
  }

  openCount(): number {
    return Number(this.st.anyOpen.get());
  }

  totals(): LossTotal[] {
    return this.st.totals.all() as LossTotal[];
  }
}

/** Episodes that overlap [from, to) (by the lost readings' timestamps), oldest first. */
export function queryLosses(db: Database.Database, q: { from?: number; to?: number; device?: string } = {}): LossEpisode[] {
  const { sql: where, params } = whereOf([
    ['to_ts >= ?', q.from],
    ['from_ts < ?', q.to],
    ['device = ?', q.device],
  ]);
  const sql = `SELECT * FROM losses${where} ORDER BY from_ts, id`;
  return (db.prepare(sql).all(...params) as Row[]).map(toEpisode);
}
