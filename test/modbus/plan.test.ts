/**
 * Pure request planning: merges, gaps, per-request limits, areas kept apart.
 */
import { describe, expect, it } from 'vitest';
import { compileTag } from '../../adapters/modbus/codec.js';
import { planRequests } from '../../adapters/modbus/plan.js';
import { tagSchema } from '../../adapters/modbus/schema.js';

type T = { area?: string; address: number; type?: string; length?: number; bit?: number };
const tags = (list: T[]) => list.map((t, i) => compileTag(tagSchema.parse({ name: `t${i}`, area: 'holding', ...t }), i));
/** requests as [fc, start, count, tag names] */
const shape = (list: T[], opts: { maxGap: number; maxRegistersPerRequest?: number; maxBitsPerRequest?: number }) =>
  planRequests(tags(list), opts).map((r) => [r.fc, r.start, r.count, r.tags.map((t) => t.name).join(',')]);

describe('modbus request planning', () => {
  it.each<[string, T[], { maxGap: number; maxRegistersPerRequest?: number; maxBitsPerRequest?: number }, unknown[]]>([
    ['one tag', [{ address: 5 }], { maxGap: 0 }, [[3, 5, 1, 't0']]],
    ['contiguous registers merge', [{ address: 0 }, { address: 1, type: 'uint32' }, { address: 3, type: 'float32' }], { maxGap: 0 }, [[3, 0, 5, 't0,t1,t2']]],
    ['unsorted config is sorted', [{ address: 3, type: 'float32' }, { address: 0 }, { address: 1, type: 'uint32' }], { maxGap: 0 }, [[3, 0, 5, 't1,t2,t0']]],
    ['gap within maxGap is read across', [{ address: 0 }, { address: 5 }], { maxGap: 4 }, [[3, 0, 6, 't0,t1']]],
    [
      'gap beyond maxGap splits',
      [{ address: 0 }, { address: 6 }],
      { maxGap: 4 },
      [
        [3, 0, 1, 't0'],
        [3, 6, 1, 't1'],
      ],
    ],
    [
      'maxGap 0 merges only adjacent',
      [{ address: 0 }, { address: 2 }],
      { maxGap: 0 },
      [
        [3, 0, 1, 't0'],
        [3, 2, 1, 't1'],
      ],
    ],
    [
      'bits of one register share it',
      [{ address: 5, type: 'bool', bit: 3 }, { address: 5, type: 'bool', bit: 4 }, { address: 5 }],
      { maxGap: 0 },
      [[3, 5, 1, 't0,t1,t2']],
    ],
    ['overlapping tags merge', [{ address: 0, type: 'uint32' }, { address: 1 }], { maxGap: 0 }, [[3, 0, 2, 't0,t1']]],
    [
      '125-register limit',
      [{ address: 0 }, { address: 124 }, { address: 125 }],
      { maxGap: 200 },
      [
        [3, 0, 125, 't0,t1'],
        [3, 125, 1, 't2'],
      ],
    ],
    [
      'device limit',
      [{ address: 0 }, { address: 1 }, { address: 2 }, { address: 3 }],
      { maxGap: 0, maxRegistersPerRequest: 2 },
      [
        [3, 0, 2, 't0,t1'],
        [3, 2, 2, 't2,t3'],
      ],
    ],
    [
      'a tag never straddles two requests',
      [{ address: 0 }, { address: 1, type: 'float64' }],
      { maxGap: 0, maxRegistersPerRequest: 4 },
      [
        [3, 0, 1, 't0'],
        [3, 1, 4, 't1'],
      ],
    ],
    ['string length counts', [{ address: 110, type: 'string', length: 8 }, { address: 118 }], { maxGap: 0 }, [[3, 110, 9, 't0,t1']]],
    [
      'areas are planned apart, in FC order',
      [
        { area: 'input', address: 0 },
        { area: 'holding', address: 0 },
        { area: 'discrete', address: 0 },
        { area: 'coil', address: 0 },
      ],
      { maxGap: 10 },
      [
        [1, 0, 1, 't3'],
        [2, 0, 1, 't2'],
        [3, 0, 1, 't1'],
        [4, 0, 1, 't0'],
      ],
    ],
    [
      '2000-bit limit for coils',
      [
        { area: 'coil', address: 0 },
        { area: 'coil', address: 1999 },
        { area: 'coil', address: 2000 },
      ],
      { maxGap: 3000 },
      [
        [1, 0, 2000, 't0,t1'],
        [1, 2000, 1, 't2'],
      ],
    ],
    [
      'device bit limit',
      [
        { area: 'discrete', address: 0 },
        { area: 'discrete', address: 8 },
      ],
      { maxGap: 100, maxBitsPerRequest: 8 },
      [
        [2, 0, 1, 't0'],
        [2, 8, 1, 't1'],
      ],
    ],
  ])('%s', (_name, list, opts, expected) => {
    expect(shape(list, opts)).toEqual(expected);
  });

  it('records each tag offset within its request and freezes the plan', () => {
    const plan = planRequests(tags([{ address: 10 }, { address: 13, type: 'float32' }, { address: 12 }]), { maxGap: 5 });
    expect(plan).toHaveLength(1);
    expect(plan[0]!.offsets).toEqual([0, 2, 3]);
    expect(Object.isFrozen(plan)).toBe(true);
    expect(Object.isFrozen(plan[0])).toBe(true);
  });
});
