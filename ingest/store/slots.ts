/**
 * The verifier's aggregates: good/bad counts per slot, tags seen, heartbeat slots, the last good
 * reading. The points of a device in the window come through the (dev, ts) index, only those whose
 * shape has a wanted series; a point's qualities are read from its exceptions (point-codec.ts
 * exceptionsOf) without decoding its values, and a point without exceptions is all good.
 */
import type { SlotCount } from '../types.js';
import { exceptionsOf } from './point-codec.js';
import type { Shape } from './points.js';
import { goodBelow } from './rows.js';
import type { StoreState, Parts } from './state.js';

type Row = [ts: number, shape: number, vals: Uint8Array];

export class SlotsPart {
  constructor(
    private readonly s: StoreState,
    private readonly p: Parts,
  ) {}

  /**
   * The points of `dev` in [from, to) whose shape has one of `series`, in ts order (or reversed),
   * each with the qualities (0 good, 1 uncertain, 2 bad) of its wanted entries.
   */
  private *points(dev: number, series: ReadonlySet<number>, w: { from?: number; to: number; desc?: boolean }): Generator<{ ts: number; qualities: number[] }> {
    const shapes = this.s.shapes.having(series);
    if (shapes.length === 0) return;
    const wanted = new Map<number, { shape: Shape; entries: number[] }>();
    for (const id of shapes) {
      const shape = this.s.shapes.get(id)!;
      wanted.set(id, { shape, entries: shape.series.flatMap((sid, i) => (series.has(sid) ? [i] : [])) });
    }
    const sql = `SELECT ts, shape, vals FROM points WHERE dev = ? AND ts >= ? AND ts < ? AND shape IN (${shapes.join(',')}) ORDER BY ts ${w.desc ? 'DESC' : 'ASC'}`;
    const rows = this.s.db
      .prepare(sql)
      .raw()
      .iterate(dev, w.from ?? Number.MIN_SAFE_INTEGER, w.to) as IterableIterator<Row>;
    for (const [ts, shapeId, vals] of rows) {
      const { shape, entries } = wanted.get(shapeId)!;
      const exceptions = exceptionsOf(shape.numCount, shape.boolCount, vals);
      if (exceptions.length === 0) {
        yield { ts, qualities: entries.map(() => 0) };
        continue;
      }
      const q = new Map(exceptions.map((x) => [x.index, x.quality]));
      yield { ts, qualities: entries.map((i) => q.get(i) ?? 0) };
    }
  }

  /** the data series of a device (of these tags), and its devices-table id */
  private dataSeries(device: string, tags?: string[]): { dev: number; series: Set<number> } | undefined {
    this.p.commit.refresh();
    const dev = this.p.commit.devId('data', device);
    if (dev === undefined) return undefined;
    return { dev, series: this.p.history.seriesIds({ measurement: 'data', device, tags })! };
  }

  slotCounts(q: { device: string; from: number; to: number; slotMs: number; tags?: string[]; uncertainIsGood?: boolean }): SlotCount[] {
    return this.p.open.guard(() => {
      const d = this.dataSeries(q.device, q.tags);
      if (d === undefined) return [];
      const below = goodBelow(q.uncertainIsGood);
      const out: SlotCount[] = [];
      for (const p of this.points(d.dev, d.series, q)) {
        const slot = Math.trunc((p.ts - q.from) / q.slotMs);
        let last = out[out.length - 1];
        if (last === undefined || last.slot !== slot) out.push((last = { slot, good: 0, bad: 0 }));
        for (const quality of p.qualities) {
          if (quality < below) last.good++;
          if (quality === 2) last.bad++;
        }
      }
      return out;
    });
  }

  tagsSeen(q: { device: string; from: number; to: number; uncertainIsGood?: boolean }): string[] {
    return this.p.open.guard(() => {
      const d = this.dataSeries(q.device);
      if (d === undefined) return [];
      const below = goodBelow(q.uncertainIsGood);
      const tags = new Set<string>();
      // shape by shape, each series found good once is no longer looked for
      const left = new Set(d.series);
      for (const id of this.s.shapes.having(left)) {
        const shape = this.s.shapes.get(id)!;
        const wanted = shape.series.flatMap((sid, i) => (left.has(sid) ? [i] : []));
        if (wanted.length === 0) continue;
        const rows = this.s.db
          .prepare('SELECT vals FROM points WHERE dev = ? AND ts >= ? AND ts < ? AND shape = ?')
          .pluck()
          .iterate(d.dev, q.from, q.to, id) as IterableIterator<Uint8Array>;
        for (const vals of rows) {
          const quality = new Map(exceptionsOf(shape.numCount, shape.boolCount, vals).map((x) => [x.index, x.quality]));
          for (const i of wanted) {
            const sid = shape.series[i]!;
            if (left.has(sid) && (quality.get(i) ?? 0) < below) {
              left.delete(sid);
              tags.add(this.s.seriesById.get(sid)!.tag);
            }
          }
          if (!wanted.some((i) => left.has(shape.series[i]!))) break;
        }
      }
      return [...tags].sort();
    });
  }

  heartbeatSlots(q: { from: number; to: number; slotMs: number }): number[] {
    return this.p.open.guard(() => {
      this.p.commit.refresh();
      const dev = this.p.commit.devId('status', '');
      if (dev === undefined) return [];
      const series = this.p.history.seriesIds({ measurement: 'status', device: '', tag: 'heartbeat' })!;
      const slots: number[] = [];
      for (const p of this.points(dev, series, q)) {
        const slot = Math.trunc((p.ts - q.from) / q.slotMs);
        if (slots[slots.length - 1] !== slot) slots.push(slot);
      }
      return slots;
    });
  }

  lastGoodTs(q: { device: string; to: number; uncertainIsGood?: boolean }): number | undefined {
    return this.p.open.guard(() => {
      const d = this.dataSeries(q.device);
      if (d === undefined) return undefined;
      const below = goodBelow(q.uncertainIsGood);
      for (const p of this.points(d.dev, d.series, { to: q.to, desc: true })) if (p.qualities.some((quality) => quality < below)) return p.ts;
      return undefined;
    });
  }
}
