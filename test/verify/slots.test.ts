/**
 * The slot grid (verify/slots.ts), by hand: a slot is excluded when it overlaps a planned shutdown,
 * or (outside shutdowns) overlaps a slot of slotMin without the gateway's heartbeat; staleness is
 * judged at the end of the last slot not excluded.
 */
import { describe, expect, it } from 'vitest';
import { lastJudgedEnd, slotGrid, type Ranges } from '../../verify/slots.js';

const F = 1_000_000;
const M = 60_000;
const grid = (o: { slotMs: number; to: number; shutdowns?: Array<[number, number]>; heartbeat: Ranges }) =>
  slotGrid({ from: F, to: F + o.to, slotMs: o.slotMs, slotMinMs: M, shutdowns: (o.shutdowns ?? []).map(([a, b]) => [F + a, F + b]), heartbeat: o.heartbeat });

describe('slotGrid', () => {
  it('a shutdown that starts inside a slot excludes that slot (overlap, not the slot start)', () => {
    // 5 slots of 60 s; shutdown from 150 s to 185 s overlaps slots 2 ([120, 180)) and 3 ([180, 240))
    const g = grid({ slotMs: M, to: 5 * M, shutdowns: [[150_000, 185_000]], heartbeat: [[0, 5]] });
    expect([...g.shutdown]).toEqual([0, 0, 1, 1, 0]);
    expect([...g.outage]).toEqual([0, 0, 0, 0, 0]);
  });

  it('a shutdown ending exactly at a slot start leaves that slot (ends are exclusive)', () => {
    const g = grid({ slotMs: M, to: 3 * M, shutdowns: [[0, 60_000]], heartbeat: [[0, 3]] });
    expect([...g.shutdown]).toEqual([1, 0, 0]);
  });

  it("a device slot of 150 s overlapping a slotMin slot without heartbeat is the gateway's outage", () => {
    // slotMin slots 0..9 (60 s), heartbeat missing in slot 4 ([240, 300) s); device slots of 150 s:
    // 0 [0,150) 1 [150,300) 2 [300,450) 3 [450,600): slot 1 overlaps slotMin 2..4 -> outage
    const g = grid({
      slotMs: 150_000,
      to: 10 * M,
      heartbeat: [
        [0, 4],
        [5, 10],
      ],
    });
    expect(g.n).toBe(4);
    expect([...g.outage]).toEqual([0, 1, 0, 0]);
  });

  it('staleness is judged at the end of the last slot not excluded', () => {
    // 6 slots; the last two shut down, the one before them without heartbeat: slot 2 ends at 180 s
    const g = grid({
      slotMs: M,
      to: 6 * M,
      shutdowns: [[240_000, 400_000]],
      heartbeat: [
        [0, 3],
        [4, 6],
      ],
    });
    expect([...g.shutdown]).toEqual([0, 0, 0, 0, 1, 1]);
    expect([...g.outage]).toEqual([0, 0, 0, 1, 0, 0]);
    expect(lastJudgedEnd(g)).toBe(F + 180_000);
    expect(lastJudgedEnd(grid({ slotMs: M, to: 2 * M, shutdowns: [[0, 120_000]], heartbeat: [] }))).toBeUndefined();
  });
});
