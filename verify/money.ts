/**
 * Money (RULES.md "Money"): pure, in integer fen with exact rational rates. Each track sums the
 * unrounded products of its lines, applies its cap and rounds once, half up. An invoice line is
 * claimed by one track of the recommended combination only; tracks that share lines are
 * alternatives (A + C, B, or B without cloud + C).
 */
import { add, cmp, formatFen, minR, mul, rat, roundHalfUp, toNumberSafe, ZERO, type Rational } from './decimal.js';
import type { PolicyValues } from './policy.js';
import type { Invoice, InvoiceCategory, Project } from './project.js';
import { parseFen } from './decimal.js';

export const EXCLUSION_CODES = [
  'DUPLICATE_NUMBER', // the same invoice number (and line) appears again: only the first counts
  'OUTSIDE_PERIOD', // invoice date outside project.period
  'SECOND_HAND', // second-hand equipment
  'OFFICE_EQUIPMENT', // office equipment
  'CLOUD_TO_C', // cloud fees are claimed under C-cloud, not A (nor B in the "without cloud" variant)
  'UNIT_UNDER_MIN', // B-pilot: equipment unit value (amount / quantity) under the minimum
  'CLOUD_NOT_FIRST_CONTRACT', // C-cloud: the project declares an earlier cloud contract
  'CLOUD_NOT_FIRST_YEAR', // C-cloud: after the first cloud year
  'CLOUD_UNDER_MIN', // C-cloud: first-year cloud spend under the minimum
] as const;
export type ExclusionCode = (typeof EXCLUSION_CODES)[number];

export type TrackId = 'A-full' | 'A-partial' | 'B-pilot' | 'C-cloud';
export type Classification = 'full' | 'partial' | 'none' | 'indeterminate';

export interface LineRef {
  /** index in project.invoices */
  index: number;
  number: string;
  line?: number;
  date: string;
  item: string;
  category: InvoiceCategory;
  quantity: number;
  /** the line's amount on the policy's VAT basis, fen */
  basisFen: number;
}

export interface ExcludedLine extends LineRef {
  code: ExclusionCode;
  detail?: string;
}

export interface PendingPart {
  category: InvoiceCategory;
  /** the base awaiting a rate, fen */
  baseFen: number;
  /** the policy parameter that is unset */
  parameter: string;
}

export interface TrackResult {
  track: TrackId;
  variant?: 'without-cloud';
  eligible: boolean;
  /** why the track is not eligible (codes), empty when eligible */
  reasons: string[];
  amountFen: number;
  /** sum of bases awaiting an unset policy rate (not money: the part the rate will apply to) */
  pendingFen: number;
  pending: PendingPart[];
  capped: boolean;
  /** counted bases per category, fen */
  basisFen: Record<InvoiceCategory, number>;
  /** B-pilot: the excess above the first investment, split pro rata (largest remainder), fen */
  excessSplitFen?: Record<InvoiceCategory, number>;
  /** the unrounded amount before cap, as exact text (元) */
  unrounded: string;
  counted: LineRef[];
  excluded: ExcludedLine[];
  flags: string[];
}

export interface ContractorCheck {
  index: number;
  number: string;
  item: string;
  listFen?: number;
  amountFen: number;
  discountFen?: number;
  requiredFen?: number;
  result: 'pass' | 'flag';
  detail: string;
}

export interface CombinationOption {
  id: 'A+C' | 'B' | 'B-without-cloud+C';
  tracks: string[];
  totalFen: number;
  pendingFen: number;
}

export interface SubsidyResult {
  vatBasis: 'excl' | 'incl';
  tracks: TrackResult[];
  options: CombinationOption[];
  recommended: CombinationOption['id'];
  totalFen: number;
  pendingFen: number;
  contractor: ContractorCheck[];
  /** lines passing the general exclusions (any track) */
  eligibleLines: number;
}

const CATS: InvoiceCategory[] = ['equipment', 'software', 'hardware', 'cloud'];
const zeroCats = (): Record<InvoiceCategory, number> => ({ equipment: 0, software: 0, hardware: 0, cloud: 0 });

function fenOf(text: string | undefined): bigint {
  const f = text === undefined ? undefined : parseFen(text);
  if (f === undefined) throw new Error(`internal: unvalidated amount ${String(text)}`);
  return f;
}

/** The line's amount on the VAT basis. The caller validated that vat is present when the basis is incl. */
export function basisOf(inv: Invoice, basis: 'excl' | 'incl'): bigint {
  return basis === 'incl' ? fenOf(inv.amount) + fenOf(inv.vat ?? '0.00') : fenOf(inv.amount);
}

function ref(inv: Invoice, index: number, basisFen: bigint): LineRef {
  const r: LineRef = { index, number: inv.number, date: inv.date, item: inv.item, category: inv.category, quantity: inv.quantity, basisFen: toNumberSafe(basisFen) };
  if (inv.line !== undefined) r.line = inv.line;
  return r;
}

interface Line {
  inv: Invoice;
  ref: LineRef;
  fen: bigint;
  /** general exclusion, if any */
  general?: ExclusionCode;
}

/** General exclusions, the same for every track, in file order (the first of a duplicate counts). */
export function generalLines(project: Project, basis: 'excl' | 'incl'): Line[] {
  const seen = new Set<string>();
  const { from, to } = project.project.period;
  return project.invoices.map((inv, index) => {
    const fen = basisOf(inv, basis);
    const line: Line = { inv, ref: ref(inv, index, fen), fen };
    const key = `${inv.number}#${inv.line ?? 1}`;
    if (seen.has(key)) line.general = 'DUPLICATE_NUMBER';
    else if (inv.date < from || inv.date > to) line.general = 'OUTSIDE_PERIOD';
    else if (inv.secondHand) line.general = 'SECOND_HAND';
    else if (inv.office) line.general = 'OFFICE_EQUIPMENT';
    seen.add(key);
    return line;
  });
}

const fenText = (r: Rational): string => {
  // exact decimal text of a rational amount in fen, as 元 (up to 6 decimals of 元)
  const scaled = roundHalfUp({ num: r.num * 10000n, den: r.den }); // 1/10000 fen
  const neg = scaled < 0n;
  const a = neg ? -scaled : scaled;
  const yuan = a / 1_000_000n;
  const frac = (a % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${yuan}${frac ? `.${frac}` : ''}`;
};

function excluded(l: Line, code: ExclusionCode, detail?: string): ExcludedLine {
  const e: ExcludedLine = { ...l.ref, code };
  if (detail) e.detail = detail;
  return e;
}

/** A-full / A-partial: software, hardware and equipment lines at their rates; cloud goes to C. */
export function trackA(track: 'A-full' | 'A-partial', lines: Line[], p: PolicyValues): TrackResult {
  const cfg = p.money.tracks[track];
  const out = emptyTrack(track);
  let sum = ZERO;
  for (const l of lines) {
    if (l.general) out.excluded.push(excluded(l, l.general));
    else if (l.inv.category === 'cloud') out.excluded.push(excluded(l, 'CLOUD_TO_C'));
    else {
      out.counted.push(l.ref);
      out.basisFen[l.inv.category] += Number(l.fen);
      sum = add(sum, mul(rat(l.fen), cfg.rates[l.inv.category]));
    }
  }
  out.unrounded = fenText(sum);
  out.amountFen = capAndRound(out, sum, cfg.cap);
  return out;
}

/** RULES "Money": apply the track's cap to the unrounded sum, then round once, half up. */
function capAndRound(out: TrackResult, sum: Rational, capFen: bigint): number {
  if (cmp(sum, rat(capFen)) > 0) {
    out.capped = true;
    return toNumberSafe(capFen);
  }
  return toNumberSafe(roundHalfUp(sum));
}

function emptyTrack(track: TrackId): TrackResult {
  return { track, eligible: false, reasons: [], amountFen: 0, pendingFen: 0, pending: [], capped: false, basisFen: zeroCats(), unrounded: '0', counted: [], excluded: [], flags: [] };
}

/**
 * Splits `total` fen across categories in proportion to `weights` (largest remainder): the parts are
 * whole fen and sum exactly to `total`. Ties go to the larger weight, then to the category order.
 */
export function splitLargestRemainder(total: bigint, weights: Record<InvoiceCategory, bigint>): Record<InvoiceCategory, bigint> {
  const sumW = CATS.reduce((s, c) => s + weights[c], 0n);
  const parts = { equipment: 0n, software: 0n, hardware: 0n, cloud: 0n };
  if (sumW === 0n || total === 0n) return parts;
  const rems: Array<{ c: InvoiceCategory; r: bigint; w: bigint; i: number }> = [];
  let given = 0n;
  CATS.forEach((c, i) => {
    const n = total * weights[c];
    parts[c] = n / sumW;
    given += parts[c];
    rems.push({ c, r: n % sumW, w: weights[c], i });
  });
  rems.sort((a, b) => (a.r !== b.r ? (b.r > a.r ? 1 : -1) : a.w !== b.w ? (b.w > a.w ? 1 : -1) : a.i - b.i));
  for (let k = 0; given < total; k++, given++) parts[rems[k % rems.length]!.c] += 1n;
  return parts;
}

/** B-pilot: 50% of the first investment (capped), the excess split pro rata at the excess rates. */
export function trackB(lines: Line[], p: PolicyValues, withoutCloud: boolean): TrackResult {
  const cfg = p.money.tracks['B-pilot'];
  const out = emptyTrack('B-pilot');
  if (withoutCloud) out.variant = 'without-cloud';
  const totals = { equipment: 0n, software: 0n, hardware: 0n, cloud: 0n };
  for (const l of lines) {
    if (l.general) out.excluded.push(excluded(l, l.general));
    else if (withoutCloud && l.inv.category === 'cloud') out.excluded.push(excluded(l, 'CLOUD_TO_C'));
    else if (l.inv.category === 'equipment' && l.fen < cfg.equipmentUnitMin * BigInt(l.inv.quantity)) {
      out.excluded.push(excluded(l, 'UNIT_UNDER_MIN', `unit ${formatFen(l.fen / BigInt(l.inv.quantity))} < ${formatFen(cfg.equipmentUnitMin)} 元`));
    } else {
      out.counted.push(l.ref);
      totals[l.inv.category] += l.fen;
    }
  }
  for (const c of CATS) out.basisFen[c] = toNumberSafe(totals[c]);
  const eligible = CATS.reduce((s, c) => s + totals[c], 0n);
  const first = eligible < cfg.firstInvestment ? eligible : cfg.firstInvestment;
  let sum = mul(rat(first), cfg.rate);
  if (cmp(sum, rat(cfg.cap)) > 0) {
    out.capped = true;
    sum = rat(cfg.cap);
  }
  const excess = eligible - first;
  if (excess > 0n) {
    const split = splitLargestRemainder(excess, totals);
    out.excessSplitFen = { equipment: toNumberSafe(split.equipment), software: toNumberSafe(split.software), hardware: toNumberSafe(split.hardware), cloud: toNumberSafe(split.cloud) };
    for (const c of CATS) {
      if (split[c] === 0n) continue;
      const r = cfg.excessRates[c];
      if (r === null) {
        out.pending.push({ category: c, baseFen: toNumberSafe(split[c]), parameter: `money.tracks.B-pilot.excessRates.${c}` });
        out.pendingFen += toNumberSafe(split[c]);
        out.flags.push(`EXCESS_RATE_UNSET:${c}`);
      } else {
        if (r.num === 0n) out.flags.push(`EXCESS_RATE_ZERO:${c}`);
        sum = add(sum, mul(rat(split[c]), r));
      }
    }
  }
  out.unrounded = fenText(sum);
  out.amountFen = toNumberSafe(roundHalfUp(sum));
  return out;
}

/** C-cloud: first-time, first-year cloud spend at or above the minimum, at the rate, capped. */
export function trackC(lines: Line[], project: Project, p: PolicyValues): TrackResult {
  const cfg = p.money.tracks['C-cloud'];
  const out = emptyTrack('C-cloud');
  const cloud = lines.filter((l) => l.inv.category === 'cloud');
  const ok: Line[] = [];
  for (const l of cloud) {
    if (l.general) out.excluded.push(excluded(l, l.general));
    else if (!project.project.firstCloudContract) out.excluded.push(excluded(l, 'CLOUD_NOT_FIRST_CONTRACT'));
    else ok.push(l);
  }
  const start = ok.map((l) => l.inv.date).sort()[0];
  const firstYear: Line[] = [];
  if (start) {
    const end = addDays(start, cfg.firstYearDays);
    for (const l of ok) {
      if (l.inv.date >= end) out.excluded.push(excluded(l, 'CLOUD_NOT_FIRST_YEAR', `first cloud year ${start} .. before ${end}`));
      else firstYear.push(l);
    }
  }
  const total = firstYear.reduce((s, l) => s + l.fen, 0n);
  if (firstYear.length > 0 && total < cfg.minFirstYear) {
    for (const l of firstYear) out.excluded.push(excluded(l, 'CLOUD_UNDER_MIN', `first-year total ${formatFen(total)} < ${formatFen(cfg.minFirstYear)} 元`));
  } else {
    for (const l of firstYear) out.counted.push(l.ref);
    out.basisFen.cloud = toNumberSafe(total);
    const sum = mul(rat(total), cfg.rate);
    out.unrounded = fenText(sum);
    out.amountFen = capAndRound(out, sum, cfg.cap);
  }
  out.excluded.sort((a, b) => a.index - b.index);
  return out;
}

function addDays(date: string, days: number): string {
  const t = Date.parse(`${date}T00:00:00Z`) + days * 86_400_000;
  return new Date(t).toISOString().slice(0, 10);
}

export function contractorChecks(project: Project, p: PolicyValues): ContractorCheck[] {
  const cfg = p.money.contractor;
  return project.invoices.flatMap((inv, index): ContractorCheck[] => {
    if (!inv.contractor) return [];
    const amount = fenOf(inv.amount);
    const base = { index, number: inv.number, item: inv.item, amountFen: toNumberSafe(amount) };
    if (inv.listPrice === undefined) return [{ ...base, result: 'flag' as const, detail: 'contractor line without listPrice: the discount cannot be checked' }];
    const list = fenOf(inv.listPrice);
    const discount = list - amount;
    const required = minR(mul(rat(list), cfg.discountRate), rat(cfg.discountCap));
    const ok = cmp(rat(discount), required) >= 0;
    const requiredFen = roundHalfUp(required);
    return [
      {
        ...base,
        listFen: toNumberSafe(list),
        discountFen: toNumberSafe(discount),
        requiredFen: toNumberSafe(requiredFen),
        result: ok ? ('pass' as const) : ('flag' as const),
        detail: `discount ${formatFen(discount)} 元 ${ok ? '>=' : '<'} required min(${formatFen(list)} × rate, ${formatFen(cfg.discountCap)}) = ${formatFen(requiredFen)} 元`,
      },
    ];
  });
}

/**
 * All tracks, each on its own lines, their eligibility given the classification, and the
 * recommended combination (largest total, no line claimed twice; pending amounts beside it).
 */
export function computeSubsidy(project: Project, p: PolicyValues, classification: Classification): SubsidyResult {
  const basis = p.money.vatBasis;
  const lines = generalLines(project, basis);
  const aFull = trackA('A-full', lines, p);
  const aPartial = trackA('A-partial', lines, p);
  const b = trackB(lines, p, false);
  const bNoCloud = trackB(lines, p, true);
  const c = trackC(lines, project, p);

  const claim = project.project.claim;
  const aTier: TrackId | undefined = classification === 'full' && claim === 'full' ? 'A-full' : classification === 'full' || classification === 'partial' ? 'A-partial' : undefined;
  for (const a of [aFull, aPartial]) {
    if (a.track === aTier) a.eligible = a.counted.length > 0;
    if (!a.eligible) a.reasons.push(aTier === undefined ? `CLASSIFICATION_${classification.toUpperCase()}` : a.track !== aTier ? `TIER_IS_${aTier}` : 'NO_LINES');
  }
  for (const t of [b, bNoCloud]) {
    const r: string[] = [];
    if (!project.project.pilot) r.push('NOT_PILOT');
    if (!project.project.expertAcceptance) r.push('NO_EXPERT_ACCEPTANCE');
    if (classification !== 'full' && classification !== 'partial') r.push(`CLASSIFICATION_${classification.toUpperCase()}`);
    if (t.counted.length === 0) r.push('NO_LINES');
    t.reasons = r;
    t.eligible = r.length === 0;
  }
  {
    const r: string[] = [];
    if (!project.project.firstCloudContract) r.push('NOT_FIRST_CLOUD_CONTRACT');
    if (c.counted.length === 0) r.push(c.excluded.some((e) => e.code === 'CLOUD_UNDER_MIN') ? 'UNDER_MIN' : 'NO_LINES');
    c.reasons = r;
    c.eligible = r.length === 0;
  }

  const val = (t: TrackResult | undefined) => (t && t.eligible ? t.amountFen : 0);
  const pend = (t: TrackResult | undefined) => (t && t.eligible ? t.pendingFen : 0);
  const a = aTier === 'A-full' ? aFull : aTier === 'A-partial' ? aPartial : undefined;
  const options: CombinationOption[] = [
    { id: 'A+C', tracks: [a?.track ?? 'A', 'C-cloud'], totalFen: val(a) + val(c), pendingFen: pend(a) + pend(c) },
    { id: 'B', tracks: ['B-pilot'], totalFen: val(b), pendingFen: pend(b) },
    { id: 'B-without-cloud+C', tracks: ['B-pilot (without cloud)', 'C-cloud'], totalFen: val(bNoCloud) + val(c), pendingFen: pend(bNoCloud) + pend(c) },
  ];
  let best = options[0]!;
  for (const o of options) if (o.totalFen > best.totalFen) best = o;

  return {
    vatBasis: basis,
    tracks: [aFull, aPartial, b, bNoCloud, c],
    options,
    recommended: best.id,
    totalFen: best.totalFen,
    pendingFen: best.pendingFen,
    contractor: contractorChecks(project, p),
    eligibleLines: lines.filter((l) => !l.general).length,
  };
}
