import { describe, expect, it } from 'vitest';
import { parseTimeArg } from '../../config/time.js';

const NOW = Date.UTC(2026, 10, 27, 8, 0, 0);
const CST = 8 * 3_600_000; // +08:00

describe('times on the command line and in query strings', () => {
  it.each([
    ['now', NOW],
    ['-15m', NOW - 900_000],
    ['-1d', NOW - 86_400_000],
    ['1791129600000', 1791129600000],
    ['2026-10-05T08:00:00+08:00', Date.UTC(2026, 9, 5, 0, 0, 0)],
    ['2026-10-05T08:00:00.250Z', Date.UTC(2026, 9, 5, 8, 0, 0, 250)],
    ['2026-10-04T20:30:00-03:30', Date.UTC(2026, 9, 5, 0, 0, 0)],
    ['2026-10-05', Date.UTC(2026, 9, 4, 16, 0, 0)], // midnight at +08:00
    ['2026-10-05T08:00', Date.UTC(2026, 9, 5, 0, 0, 0)],
  ])('%s', (text, want) => expect(parseTimeArg(text, NOW, CST)).toBe(want));

  it.each(['yesterday', '-10 minutes', '2026-02-30', '2026-10-05T25:00', '2026-10-05Z', '12345', ''])('refuses %j', (text) => {
    expect(parseTimeArg(text, NOW, CST)).toBeUndefined();
  });

  it('without an offset, a time without a zone is the machine local time (as Date would read it)', () => {
    expect(parseTimeArg('2026-10-05T08:00:00', NOW)).toBe(new Date(2026, 9, 5, 8, 0, 0).getTime());
  });
});
