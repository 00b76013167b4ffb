import { describe, expect, it } from 'vitest';
import { influxIdent, influxString } from '../../ingest/influxql.js';

describe('InfluxQL quoting', () => {
  it.each([
    ['press-01', '"press-01"'],
    ['a"b', '"a\\"b"'],
    ['back\\slash', '"back\\\\slash"'],
    ['冲压机', '"冲压机"'],
  ])('identifier %s → %s', (name, want) => expect(influxIdent(name)).toBe(want));

  it.each([
    ['press-01', "'press-01'"],
    ["o'clock", "'o\\'clock'"],
    ["a\\' OR 1=1", "'a\\\\\\' OR 1=1'"],
  ])('string %s → %s', (value, want) => expect(influxString(value)).toBe(want));
});
