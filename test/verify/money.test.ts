/**
 * Money, table-driven: the worked examples of verify/README.md "The money" to the fen, the split,
 * the exclusions, caps, the break-even rate, devices on invoice lines and the contractor check.
 * Every expected value was computed by hand from those rules (comments show the sums).
 */
import { describe, expect, it } from 'vitest';
import { parseFen, parseRational, roundHalfUp } from '../../verify/decimal.js';
import {
  breakEvenRate,
  computeSubsidy,
  generalLines,
  moneyRules,
  sameDateNextYear,
  splitLargestRemainder,
  trackA,
  trackB,
  trackC,
} from '../../verify/money.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validateInput } from '../../verify/evaluate.js';
import { loadPolicy, parsePolicyText } from '../../verify/policy.js';
import { projectSchema, type Project } from '../../verify/project.js';

const policy = loadPolicy('yongkang-2019').values;

type Inv = {
  category: 'equipment' | 'software' | 'hardware' | 'cloud';
  amount: string;
  quantity?: number;
  date?: string;
  number?: string;
  secondHand?: boolean;
  office?: boolean;
  line?: number;
  devices?: string[];
  listPrice?: string;
  contractor?: boolean | string;
};

function project(invoices: Inv[], over: Partial<Project['project']> = {}): Project {
  return projectSchema.parse({
    project: {
      id: 'T',
      name: 't',
      enterprise: { name: 'e', uscc: 'u' },
      period: { from: '2026-01-01', to: '2026-12-31' },
      claim: 'partial',
      pilot: true,
      expertAcceptance: 'X-1',
      firstCloudContract: true,
      ...over,
    },
    processes: [{ id: 's', key: true }],
    equipment: [
      { id: 'm-01', process: 's', category: 'production' },
      { id: 'm-02', process: 's', category: 'production' },
    ],
    invoices: invoices.map((v, i) => ({ number: v.number ?? `N${i}`, date: v.date ?? '2026-05-01', item: `item ${i}`, quantity: v.quantity ?? 1, ...v })),
  });
}

describe('decimal', () => {
  it.each([
    ['760000.00', 76_000_000n],
    ['0.01', 1n],
    ['9999.99', 999_999n],
  ])('parseFen(%s) = %s', (t, f) => expect(parseFen(t)).toBe(f));
  it.each(['760000', '1,000.00', '-1.00', '1.5', '1.234', ' 1.00', '1e5'])('parseFen rejects %s', (t) => expect(parseFen(t)).toBeUndefined());
  it.each([
    [5n, 2n, 3n], // 2.5 → 3
    [249999n, 100000n, 2n], // 2.49999 → 2
    [7n, 2n, 4n], // 3.5 → 4
  ])('roundHalfUp(%s/%s) = %s', (num, den, r) => expect(roundHalfUp({ num, den })).toBe(r));
  it('parses rates exactly', () => expect(parseRational('0.30')).toEqual({ num: 3n, den: 10n }));
});

describe('worked examples (verify/README.md, The money)', () => {
  it('A-partial: 800,000 × 30% + 1,200,000 × 20% + 15,000,000 × 16% = 2,880,000.00', () => {
    const p = project([
      { category: 'software', amount: '800000.00' },
      { category: 'hardware', amount: '1200000.00' },
      { category: 'equipment', amount: '15000000.00' },
    ]);
    const t = trackA('A-partial', generalLines(p, 'excl'), policy);
    expect(t.amountFen).toBe(288_000_000);
    expect(t.capped).toBe(false);
  });
  it('A-full: 5,000,000 × 30% + 400,000,000 × 16% = 65,500,000 → capped at 50,000,000.00', () => {
    const p = project([
      { category: 'software', amount: '2000000.00' },
      { category: 'hardware', amount: '3000000.00' },
      { category: 'equipment', amount: '400000000.00' },
    ]);
    const t = trackA('A-full', generalLines(p, 'excl'), policy);
    expect(t.amountFen).toBe(5_000_000_000);
    expect(t.capped).toBe(true);
    expect(t.unrounded).toBe('65500000');
  });
  it('B-pilot: 3,065,714.28 plus equipment 714,285.72 pending', () => {
    const p = project([
      { category: 'equipment', amount: '5000000.00', quantity: 10 }, // 500,000 a unit
      { category: 'equipment', amount: '200000.00', quantity: 8 }, // 25,000 a unit: excluded
      { category: 'software', amount: '1000000.00' },
      { category: 'hardware', amount: '800000.00' },
      { category: 'cloud', amount: '200000.00' },
    ]);
    const t = trackB(generalLines(p, 'excl'), policy, false);
    expect(t.excluded.map((e) => [e.index, e.code])).toEqual([[1, 'UNIT_UNDER_MIN']]);
    expect(t.excessSplitFen).toEqual({ equipment: 71_428_572, software: 14_285_714, hardware: 11_428_571, cloud: 2_857_143 });
    expect(t.amountFen).toBe(306_571_428);
    expect(t.pendingFen).toBe(71_428_572);
    expect(t.pending).toEqual([{ category: 'equipment', baseFen: 71_428_572, parameter: 'money.tracks.B-pilot.excessRates.equipment' }]);
    expect(t.flags).toEqual(['EXCESS_RATE_UNSET:equipment', 'EXCESS_RATE_ZERO:cloud']);
  });
  it.each([
    ['36000.00', 1_800_000, []],
    ['9999.99', 0, ['UNDER_MIN']],
    ['10000.00', 500_000, []], // "以上" includes the number itself
    ['800000.00', 30_000_000, []],
  ])('C-cloud: first-year cloud %s → %s fen', (amount, fen, reasons) => {
    const s = computeSubsidy(project([{ category: 'cloud', amount }]), policy, 'none');
    const c = s.tracks.find((t) => t.track === 'C-cloud')!;
    expect(c.amountFen).toBe(fen);
    expect(c.reasons).toEqual(reasons);
  });
});

describe('largest remainder', () => {
  it.each([
    [100n, { equipment: 1n, software: 1n, hardware: 1n, cloud: 0n }, { equipment: 34n, software: 33n, hardware: 33n, cloud: 0n }],
    [2n, { equipment: 1n, software: 1n, hardware: 1n, cloud: 1n }, { equipment: 1n, software: 1n, hardware: 0n, cloud: 0n }],
    [7n, { equipment: 0n, software: 0n, hardware: 0n, cloud: 5n }, { equipment: 0n, software: 0n, hardware: 0n, cloud: 7n }],
  ])('split %s by %o', (total, w, parts) => expect(splitLargestRemainder(total, w)).toEqual(parts));
});

describe('exclusions and combinations', () => {
  it('excludes outside period, duplicate, second-hand, office; unit at exactly 30,000.00 qualifies', () => {
    const p = project([
      { category: 'equipment', amount: '60000.00', quantity: 2, number: 'A' }, // 30,000.00 a unit: counted in B
      { category: 'equipment', amount: '59999.98', quantity: 2, number: 'B' }, // 29,999.99: UNIT_UNDER_MIN in B only
      { category: 'equipment', amount: '1000.00', number: 'A' }, // duplicate number
      { category: 'hardware', amount: '1000.00', date: '2025-12-31' }, // outside period
      { category: 'equipment', amount: '1000.00', secondHand: true },
      { category: 'hardware', amount: '1000.00', office: true },
      { category: 'software', amount: '1000.00', number: 'A', line: 2 }, // same number, another line: counted
    ]);
    const s = computeSubsidy(p, policy, 'partial');
    const a = s.tracks.find((t) => t.track === 'A-partial')!;
    expect(a.excluded.map((e) => [e.index, e.code])).toEqual([
      [2, 'DUPLICATE_NUMBER'],
      [3, 'OUTSIDE_PERIOD'],
      [4, 'SECOND_HAND'],
      [5, 'OFFICE_EQUIPMENT'],
    ]);
    // A-partial: (60,000 + 59,999.98) × 16% + 1,000 × 30% = 19,199.9968 + 300 = 19,499.9968 → 19,500.00
    expect(a.amountFen).toBe(1_950_000);
    const b = s.tracks.find((t) => t.track === 'B-pilot' && !t.variant)!;
    expect(b.excluded.filter((e) => e.code === 'UNIT_UNDER_MIN').map((e) => e.index)).toEqual([1]);
    // B: (60,000 + 1,000) × 50% = 30,500.00
    expect(b.amountFen).toBe(3_050_000);
    expect(s.recommended).toBe('B');
    expect(s.totalFen).toBe(3_050_000);
  });
  it('cloud after the first year and without a first contract are excluded from C', () => {
    const lines = [
      { category: 'cloud' as const, amount: '20000.00', date: '2026-01-10' },
      { category: 'cloud' as const, amount: '20000.00', date: '2027-01-10' }, // 365 days later: second year
    ];
    const p = project(lines, { period: { from: '2026-01-01', to: '2027-12-31' } });
    const c = trackC(generalLines(p, 'excl'), p, policy);
    expect(c.excluded.map((e) => [e.index, e.code])).toEqual([[1, 'CLOUD_NOT_FIRST_YEAR']]);
    expect(c.amountFen).toBe(1_000_000);
    const p2 = project(lines, { firstCloudContract: false });
    expect(trackC(generalLines(p2, 'excl'), p2, policy).excluded.map((e) => e.code)).toEqual(['CLOUD_NOT_FIRST_CONTRACT', 'OUTSIDE_PERIOD']); // the 2027 line is outside the 2026 period
  });
  it('A + C beats B when A is larger; no line is claimed twice', () => {
    const p = project([
      { category: 'equipment', amount: '15000000.00', quantity: 10 },
      { category: 'cloud', amount: '36000.00' },
    ]);
    const s = computeSubsidy(p, policy, 'partial');
    // A-partial 15,000,000 × 16% = 2,400,000; C 18,000 → 2,418,000.00
    // B: 6,000,000 × 50% = 3,000,000 + excess (9,036,000 split, equipment pending, cloud 0) → 3,000,000.00
    // B without cloud: 3,000,000 + C 18,000 = 3,018,000.00 → recommended
    expect(s.options.map((o) => [o.id, o.totalFen])).toEqual([
      ['A+C', 241_800_000],
      ['B', 300_000_000],
      ['B-without-cloud+C', 301_800_000],
    ]);
    expect(s.recommended).toBe('B-without-cloud+C');
  });
  it.each([
    ['840000.00', '420000.00', 'pass'], // discount 420,000 = 50%
    ['840000.00', '420000.01', 'flag'], // 419,999.99 < 420,000
    ['2000000.00', '1500000.00', 'pass'], // 500,000 = the cap
    ['2000000.00', '1500000.01', 'flag'],
  ])('contractor list %s billed %s → %s', (listPrice, amount, result) => {
    const p = projectSchema.parse({
      ...project([]),
      invoices: [{ number: '1', date: '2026-05-01', category: 'software', item: 'x', quantity: 1, amount, listPrice, contractor: true }],
    });
    const s = computeSubsidy(p, policy, 'partial');
    expect(s.contractor[0]!.result).toBe(result);
  });
});

describe('caps, first cloud year, break-even rate', () => {
  it.each([
    // 187,500,000.00 x 16% = 30,000,000.00 exactly: the cap is reached, capped
    ['187500000.00', 3_000_000_000, true, '30000000'],
    // 187,499,999.99 x 16% = 29,999,999.9984: rounds to the cap's value, but the cap was not reached
    ['187499999.99', 3_000_000_000, false, '29999999.9984'],
  ])('A-partial on equipment %s → %s fen, capped %s', (amount, fen, capped, unrounded) => {
    const t = trackA('A-partial', generalLines(project([{ category: 'equipment', amount }]), 'excl'), policy);
    expect([t.amountFen, t.capped, t.unrounded]).toEqual([fen, capped, unrounded]);
  });
  it.each([
    ['2026-05-20', '2027-05-20'],
    ['2024-02-29', '2025-03-01'], // no 29 February in 2025: the year ends before 1 March
    ['2027-12-31', '2028-12-31'],
  ])('the first cloud year from %s ends before %s', (from, to) => expect(sameDateNextYear(from)).toBe(to));
  it('break-even: A + C recommended, B takes over above 1/70 of the pending equipment base', () => {
    // A-partial: 20,000,000 x 16% = 3,200,000.00. B: 6,000,000 x 50% = 3,000,000.00 + the excess
    // 14,000,000 all equipment, pending. No cloud: B without cloud is the same. B overtakes A + C at
    // r = (3,200,000 - 3,000,000) / 14,000,000 = 1/70 = 0.0142857...; B and B without cloud tie in
    // rate and slope, the first listed (B) is named; B is listed after A + C, so only above the rate.
    const s = computeSubsidy(project([{ category: 'equipment', amount: '20000000.00', quantity: 10 }]), policy, 'partial');
    expect(s.recommended).toBe('A+C');
    expect(s.breakEven).toEqual({
      parameter: 'money.tracks.B-pilot.excessRates.equipment',
      from: 'A+C',
      to: 'B',
      rate: { num: '1', den: '70' },
      rateText: '0.014286',
      inclusive: false,
    });
  });
  it('break-even: nothing takes over when the recommended combination has the largest pending base', () => {
    const curve = (id: 'A+C' | 'B' | 'B-without-cloud+C', at0: bigint, slope: bigint) => ({
      option: { id, tracks: [], totalFen: Number(at0), pendingFen: Number(slope) },
      at0: { num: at0, den: 1n },
      slope,
    });
    expect(breakEvenRate([curve('A+C', 100n, 0n), curve('B', 300n, 50n), curve('B-without-cloud+C', 200n, 40n)], 'B')).toMatchObject({
      from: 'B',
      to: null,
      rate: null,
    });
    // B-without-cloud+C 200 + 40r vs A+C 250: r = 50/40 = 5/4 (above 100%: reported as computed)
    expect(breakEvenRate([curve('A+C', 250n, 0n), curve('B', 100n, 0n), curve('B-without-cloud+C', 200n, 40n)], 'A+C')).toMatchObject({
      to: 'B-without-cloud+C',
      rate: { num: '5', den: '4' },
      rateText: '1.25',
      inclusive: false,
    });
  });
  it('no break-even when nothing is pending', () => {
    expect(computeSubsidy(project([{ category: 'software', amount: '100000.00' }]), policy, 'partial').breakEven).toBeUndefined();
  });
});

describe('devices on invoice lines', () => {
  const excl = parsePolicyText(
    readFileSync(fileURLToPath(new URL('../../config/policy/yongkang-2019.yaml', import.meta.url)), 'utf8').replace(
      'excludeUnnetworkedEquipment: false',
      'excludeUnnetworkedEquipment: true',
    ),
    'excl.yaml',
  );
  // m-01 networked, m-02 not; [0] equipment 100,000.00 for m-02, [1] equipment 200,000.00 for m-01
  const p = project([
    { category: 'equipment', amount: '100000.00', devices: ['m-02'] },
    { category: 'equipment', amount: '200000.00', devices: ['m-01'] },
  ]);
  const networked = new Set(['m-01']);
  it('by default the line is counted and flagged', () => {
    const s = computeSubsidy(p, policy, 'partial', { networked });
    // A-partial: (100,000 + 200,000) x 16% = 48,000.00
    expect(s.tracks.find((t) => t.track === 'A-partial')!.amountFen).toBe(4_800_000);
    expect(s.unnetworkedLines).toEqual([{ index: 0, number: 'N0', item: 'item 0', devices: ['m-02'], excluded: false }]);
    expect(s.devices.map((d) => [d.id, d.networked, d.lines.map((l) => l.index)])).toEqual([
      ['m-01', true, [1]],
      ['m-02', false, [0]],
    ]);
    expect(
      moneyRules(s, p)
        .filter((r) => r.rule.startsWith('money.deviceNotNetworked'))
        .map((r) => [r.rule, r.result]),
    ).toEqual([['money.deviceNotNetworked:N0', 'flag']]);
  });
  it('with money.excludeUnnetworkedEquipment the line is excluded instead, in every track', () => {
    const s = computeSubsidy(p, excl.values, 'partial', { networked });
    // A-partial: 200,000 x 16% = 32,000.00; B: 200,000 x 50% = 100,000.00
    expect(s.tracks.find((t) => t.track === 'A-partial')!.amountFen).toBe(3_200_000);
    expect(s.tracks.find((t) => t.track === 'B-pilot' && !t.variant)!.amountFen).toBe(10_000_000);
    for (const t of s.tracks.filter((x) => x.track !== 'C-cloud')) expect(t.excluded.map((e) => [e.index, e.code])).toEqual([[0, 'DEVICE_NOT_NETWORKED']]);
    expect(s.unnetworkedLines).toEqual([{ index: 0, number: 'N0', item: 'item 0', devices: ['m-02'], excluded: true }]);
    expect(moneyRules(s, p).some((r) => r.rule.startsWith('money.deviceNotNetworked'))).toBe(false);
  });
  it('without device results nothing is flagged or excluded', () => {
    const s = computeSubsidy(p, excl.values, 'partial');
    expect(s.unnetworkedLines).toEqual([]);
    expect(s.devices.every((d) => d.networked === null)).toBe(true);
  });
});

describe('contractor check', () => {
  it('a software line without listPrice leaves the contractor unchecked (flag)', () => {
    const p = project([
      { category: 'software', amount: '100000.00', listPrice: '200000.00', contractor: true },
      { category: 'software', amount: '50000.00', contractor: true },
    ]);
    const g = computeSubsidy(p, policy, 'partial').contractors;
    expect(g).toEqual([
      {
        contractor: null,
        lines: [0, 1],
        notChecked: [],
        missingListPrice: [1],
        listFen: null,
        amountFen: 15_000_000,
        discountFen: null,
        requiredFen: null,
        result: 'flag',
      },
    ]);
  });
});

describe('VAT basis from the policy file', () => {
  const incl = parsePolicyText(
    readFileSync(fileURLToPath(new URL('../../config/policy/yongkang-2019.yaml', import.meta.url)), 'utf8').replace('vatBasis: excl', 'vatBasis: incl'),
    'incl.yaml',
  );
  const p = projectSchema.parse({
    ...project([]),
    invoices: [{ number: 'V1', date: '2026-05-01', category: 'equipment', item: 'x', quantity: 1, amount: '28000.00', vat: '3640.00' }],
  });
  it('incl: the unit test and the rates use amount + VAT', () => {
    const s = computeSubsidy(p, incl.values, 'partial');
    const b = s.tracks.find((t) => t.track === 'B-pilot' && !t.variant)!;
    expect(b.counted.map((l) => l.basisFen)).toEqual([3_164_000]); // 31,640.00 ≥ 30,000.00
    expect(b.amountFen).toBe(1_582_000); // × 50% = 15,820.00
    expect(s.tracks.find((t) => t.track === 'A-partial')!.amountFen).toBe(506_240); // × 16% = 5,062.40
  });
  it('excl: the same line is a unit under 30,000.00 for B', () => {
    const b = computeSubsidy(p, policy, 'partial').tracks.find((t) => t.track === 'B-pilot' && !t.variant)!;
    expect(b.excluded.map((e) => e.code)).toEqual(['UNIT_UNDER_MIN']);
  });
  it('incl without a vat on a line is a coded input error naming the line', () => {
    const noVat = projectSchema.parse({ ...p, invoices: [{ ...p.invoices[0]!, vat: undefined }] });
    expect(() => validateInput({ project: noVat, projectFile: 'p.yaml', policy: incl, from: 0, to: 1 })).toThrow(
      expect.objectContaining({ code: 'GW_ERR_VERIFY_INPUT', details: ["p.yaml: invoices[0] (V1).vat: required when the policy's VAT basis is incl"] }),
    );
  });
});
