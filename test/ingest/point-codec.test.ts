import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FieldKind } from '../../adapters/types.js';
import { decodePoint, encodePoint, exceptionsOf, kindCounts, type PointEntry } from '../../ingest/store/point-codec.js';

const kindArb = fc.constantFrom<FieldKind>('float', 'integer', 'boolean', 'string');
const valueOf = (k: FieldKind): fc.Arbitrary<PointEntry['value']> =>
  k === 'boolean'
    ? fc.boolean()
    : k === 'string'
      ? fc.oneof(fc.constant(''), fc.string({ unit: 'binary' }), fc.string())
      : k === 'integer'
        ? fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.constantFrom(0, -0, 2 ** 52, -(2 ** 52), 2 ** 53 - 1, -(2 ** 53 - 1)))
        : fc.oneof(
            fc.double(),
            fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 0, 0.1 + 0.2, Number.MIN_VALUE, Number.MAX_VALUE, -0.05, 2 ** 52 / 10 + 0.5),
            // readings with one or two decimals (stored as scaled integers)
            fc.integer({ min: -1e9, max: 1e9 }).map((m) => m / 10),
            fc.integer({ min: -1e9, max: 1e9 }).map((m) => m / 100),
          );
const entryOf = (k: FieldKind): fc.Arbitrary<PointEntry> =>
  fc.record(
    {
      value: fc.option(valueOf(k), { nil: null, freq: 5 }),
      quality: fc.constantFrom('good', 'good', 'good', 'uncertain', 'bad'),
      error: fc.oneof(fc.constant(''), fc.string()),
      tie: fc.oneof(fc.constant(1), fc.nat(), fc.maxSafeNat()),
    },
    { requiredKeys: ['value', 'quality'] },
  );
const pointArb = fc.array(kindArb, { maxLength: 40 }).chain((kinds) => fc.tuple(fc.constant(kinds), fc.tuple(...kinds.map(entryOf))));

/** what decode gives back: tie 0 is the absent tie */
const normal = (e: PointEntry): PointEntry => {
  const { tie, ...rest } = e;
  return tie ? { ...rest, tie } : rest;
};

describe('point codec (store layout 5)', () => {
  it('decode(encode(x)) is x for every kind, null values, qualities, errors and ties', () => {
    fc.assert(
      fc.property(pointArb, ([kinds, entries]) => {
        const back = decodePoint(kinds, encodePoint(kinds, entries));
        expect(back).toEqual(entries.map(normal));
        // toEqual treats -0 and 0 alike only through Object.is: check the numbers exactly
        back.forEach((b, i) => {
          const v = entries[i]!.value;
          if (typeof v === 'number') expect(Object.is(b.value, v)).toBe(true);
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('exceptionsOf reads the qualities and ties of the entries that are not plain good, and only those', () => {
    fc.assert(
      fc.property(pointArb, ([kinds, entries]) => {
        const { numCount, boolCount } = kindCounts(kinds);
        const code = { good: 0, uncertain: 1, bad: 2 } as const;
        const expected = entries.flatMap((e, index) =>
          e.value === null || e.quality !== 'good' || e.error !== undefined || (e.tie ?? 0) !== 0 ? [{ index, quality: code[e.quality], tie: e.tie ?? 0 }] : [],
        );
        expect(exceptionsOf(numCount, boolCount, encodePoint(kinds, entries))).toEqual(expected);
      }),
      { numRuns: 2000 },
    );
    // by hand: two bad entries with an error each (the second one's index follows the first's text)
    const blob = encodePoint(
      ['integer', 'integer'],
      [
        { value: null, quality: 'bad', error: 'TIMEOUT' },
        { value: null, quality: 'uncertain', error: 'X', tie: 3 },
      ],
    );
    expect(exceptionsOf(2, 0, blob)).toEqual([
      { index: 0, quality: 2, tie: 0 },
      { index: 1, quality: 1, tie: 3 },
    ]);
  });

  it('written out by hand: a poll of an integer 20, floats 0.5, 0.1 + 0.2 and 23.45, two booleans and a string', () => {
    const kinds: FieldKind[] = ['integer', 'float', 'float', 'float', 'boolean', 'boolean', 'string'];
    const blob = encodePoint(kinds, [
      { value: 20, quality: 'good' },
      { value: 0.5, quality: 'good' },
      { value: 0.1 + 0.2, quality: 'good' },
      { value: 23.45, quality: 'good' },
      { value: true, quality: 'good' },
      { value: false, quality: 'good' },
      { value: 'ok', quality: 'good' },
    ]);
    // flags 0; numeric modes, 2 bits each: 20 integer (1), 0.5 = 5 / 10 (2), 0.30000000000000004 float64 (0),
    // 23.45 = 2345 / 100 (3): 0b11_00_10_01 = 0xc9; boolean bitmap true, false = 0b01;
    // 20 zigzag 40; 5 zigzag 10; 0x3fd3333333333334 little-endian; 2345 zigzag 4690 = varint d2 24;
    // 'ok' = length 2, o, k
    expect([...blob]).toEqual([0, 0xc9, 1, 40, 10, 0x34, 0x33, 0x33, 0x33, 0x33, 0x33, 0xd3, 0x3f, 0xd2, 0x24, 2, 0x6f, 0x6b]);
  });

  it('written out by hand: a bad reading without a value, with an error, and a tie', () => {
    const blob = encodePoint(['float'], [{ value: null, quality: 'bad', error: 'E', tie: 2 }]);
    // flags 1; numeric bitmap 0; one exception: index 0, byte bad(2) | null(4) | error(8) | tie(16) = 30, 'E', tie 2
    expect([...blob]).toEqual([1, 0, 1, 0, 30, 1, 0x45, 2]);
  });

  it('refuses a blob that ends early or has bytes left over, and a value of the wrong type', () => {
    const blob = encodePoint(['float'], [{ value: 1.5, quality: 'good' }]);
    expect(() => decodePoint(['float'], blob.subarray(0, blob.length - 1))).toThrow(/ends early/);
    expect(() => decodePoint(['float'], Uint8Array.from([...blob, 0]))).toThrow(/left over/);
    expect(() => encodePoint(['integer'], [{ value: 'x', quality: 'good' }])).toThrow(/tag 0 is integer/);
  });
});
