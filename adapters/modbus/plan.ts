/**
 * Pure request planning: tags grouped per area, sorted, contiguous or overlapping ranges merged,
 * gaps up to `maxGap` read across, each request capped at the per-request limit. Built once at
 * start and frozen; the poll loop only walks it.
 */
import type { CompiledTag } from './codec.js';
import { type Area, AREAS, isBitArea, MAX_BITS_PER_REQUEST, MAX_REGISTERS_PER_REQUEST } from './schema.js';

export const READ_FC: Record<Area, 1 | 2 | 3 | 4> = { coil: 1, discrete: 2, holding: 3, input: 4 };

export interface ReadRequest {
  readonly area: Area;
  readonly fc: 1 | 2 | 3 | 4;
  readonly start: number;
  /** registers, or bits for coil/discrete */
  readonly count: number;
  readonly tags: readonly CompiledTag[];
  /** per tag: its first register (or bit) relative to `start` */
  readonly offsets: readonly number[];
}

export interface PlanOptions {
  maxGap: number;
  maxRegistersPerRequest?: number;
  maxBitsPerRequest?: number;
}

export function planRequests(tags: readonly CompiledTag[], opts: PlanOptions): readonly ReadRequest[] {
  const maxRegs = Math.min(opts.maxRegistersPerRequest ?? MAX_REGISTERS_PER_REQUEST, MAX_REGISTERS_PER_REQUEST);
  const maxBits = Math.min(opts.maxBitsPerRequest ?? MAX_BITS_PER_REQUEST, MAX_BITS_PER_REQUEST);
  const out: ReadRequest[] = [];
  for (const area of AREAS) {
    const limit = isBitArea(area) ? maxBits : maxRegs;
    const inArea = tags.filter((t) => t.area === area).sort((a, b) => a.address - b.address || b.size - a.size || a.index - b.index);
    let start = -1;
    let end = -1; // exclusive
    let group: CompiledTag[] = [];
    const flush = () => {
      if (!group.length) return;
      out.push(
        Object.freeze({
          area,
          fc: READ_FC[area],
          start,
          count: end - start,
          tags: Object.freeze(group),
          offsets: Object.freeze(group.map((t) => t.address - start)),
        }),
      );
      group = [];
    };
    for (const t of inArea) {
      const tEnd = t.address + t.size;
      if (group.length && t.address <= end + opts.maxGap && Math.max(end, tEnd) - start <= limit) {
        group.push(t);
        end = Math.max(end, tEnd);
      } else {
        flush();
        group = [t];
        start = t.address;
        end = tEnd;
      }
    }
    flush();
  }
  return Object.freeze(out);
}

/** One line per request for the start-up log: "holding 0-5 (6 regs: state,strokes,...)". */
export function describePlan(plan: readonly ReadRequest[]): string[] {
  return plan.map(
    (r) =>
      `FC${r.fc} ${r.area} ${r.start}-${r.start + r.count - 1} (${r.count} ${isBitArea(r.area) ? 'bits' : 'regs'}: ${r.tags.map((t) => t.name).join(',')})`,
  );
}
