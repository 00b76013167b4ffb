/**
 * The verifier's aggregates: good/bad counts per slot, tags seen, heartbeat slots, the last good reading,
 * computed in SQL over the (dev, ts) index without touching the table rows.
 */
import type { SlotCount } from '../types.js';
import { goodBelow } from './rows.js';
import type { StoreState, Parts } from './state.js';

export class SlotsPart {
  constructor(
    private readonly s: StoreState,
    private readonly p: Parts,
  ) {}

  slotCounts(q: { device: string; from: number; to: number; slotMs: number; tags?: string[]; uncertainIsGood?: boolean }): SlotCount[] {
    return this.p.open.guard(() => {
      const dev = this.p.commit.devId('data', q.device);
      if (dev === undefined) return [];
      const sf = this.p.history.seriesFilter({ measurement: 'data', device: q.device, tags: q.tags })!;
      const rows = this.s.db
        .prepare(
          `SELECT (ts - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS slot, sum(quality < ?) AS good, sum(quality = 2) AS bad
           FROM readings WHERE dev = ? AND ts >= ? AND ts < ? AND series IN (${sf.sql}) GROUP BY slot ORDER BY slot`,
        )
        .all(q.from, q.slotMs, goodBelow(q.uncertainIsGood), dev, q.from, q.to, ...sf.params) as SlotCount[];
      return rows;
    });
  }

  tagsSeen(q: { device: string; from: number; to: number; uncertainIsGood?: boolean }): string[] {
    return this.p.open.guard(() => {
      const dev = this.p.commit.devId('data', q.device);
      if (dev === undefined) return [];
      const rows = this.s.db
        .prepare(
          `SELECT DISTINCT s.tag FROM series s WHERE s.id IN
           (SELECT DISTINCT series FROM readings WHERE dev = ? AND ts >= ? AND ts < ? AND quality < ?) ORDER BY s.tag`,
        )
        .pluck()
        .all(dev, q.from, q.to, goodBelow(q.uncertainIsGood)) as string[];
      return rows;
    });
  }

  heartbeatSlots(q: { from: number; to: number; slotMs: number }): number[] {
    return this.p.open.guard(() => {
      const dev = this.p.commit.devId('status', '');
      if (dev === undefined) return [];
      return this.s.db
        .prepare(
          `SELECT DISTINCT (ts - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS slot FROM readings
           WHERE dev = ? AND ts >= ? AND ts < ?
           AND series IN (SELECT id FROM series WHERE measurement = 'status' AND device = '' AND tag = 'heartbeat') ORDER BY slot`,
        )
        .pluck()
        .all(q.from, q.slotMs, dev, q.from, q.to) as number[];
    });
  }

  lastGoodTs(q: { device: string; to: number; uncertainIsGood?: boolean }): number | undefined {
    return this.p.open.guard(() => {
      const dev = this.p.commit.devId('data', q.device);
      if (dev === undefined) return undefined;
      const v = this.s.db
        .prepare('SELECT ts FROM readings WHERE dev = ? AND ts < ? AND quality < ? ORDER BY ts DESC LIMIT 1')
        .pluck()
        .get(dev, q.to, goodBelow(q.uncertainIsGood)) as number | undefined;
      return v ?? undefined;
    });
  }
}
