/**
 * Money (verify/README.md "The money"): pure, in integer fen with exact rational rates. Each track
 * sums the unrounded products of its lines, applies its cap and rounds once, half up. An invoice line
 * is claimed by one track of the recommended combination only; tracks that share lines are
 * alternatives (A + C, B, or B without cloud + C). Red-letter lines are netted into the line they
 * correct before anything else; amounts waiting for an unset rate are pending *bases*, never money.
 */
import type { RuleResult } from './classify.js';
import { add, cmp, formatFen, minR, mul, rat, rationalText, roundHalfUp, sub, toNumberSafe, ZERO, parseSignedFen, type Rational } from './decimal.js';
import { CATEGORY_NAMES, trackName } from './i18n.js';
import type { PolicyValues } from './policy.js';
import { correctionTargets, invoiceKey, type Invoice, type InvoiceCategory, type Project } from './project.js';

export const EXCLUSION_CODES = [
  'DUPLICATE_NUMBER', // the same invoice (code + number, or 全电 number) and line again: only the first counts
  'RED_LETTER', // a red-letter line: netted against the line it corrects, never claimed itself
  'REVERSED', // red-letter lines take the line's whole amount back
  'OUTSIDE_PERIOD', // invoice date outside project.period
  'SECOND_HAND', // second-hand equipment
  'OFFICE_EQUIPMENT', // office equipment
  'DEVICE_NOT_NETWORKED', // money.excludeUnnetworkedEquipment: an equipment line paying for a device that is not networked
  'CLOUD_TO_C', // cloud fees are claimed under C-cloud, not A (nor B in the "without cloud" variant)
  'UNIT_UNDER_MIN', // B-pilot: equipment unit value (amount / quantity) under the minimum
  'CLOUD_NOT_FIRST_CONTRACT', // C-cloud: the project declares an earlier cloud contract
  'CLOUD_NOT_FIRST_YEAR', // C-cloud: outside the first cloud year
  'CLOUD_UNDER_MIN', // C-cloud: first-year cloud spend under the minimum
] as const;
export type ExclusionCode = (typeof EXCLUSION_CODES)[number];

export type TrackId = 'A-full' | 'A-partial' | 'B-pilot' | 'C-cloud';
export type Classification = 'full' | 'partial' | 'none' | 'indeterminate';

/** The policy parameter of the 8号 equipment rate (the break-even rate is computed for it). */
export const EQUIPMENT_EXCESS_RATE = 'money.tracks.B-pilot.excessRates.equipment';

export interface LineRef {
  /** index in project.invoices */
  index: number;
  number: string;
  /** (schema 2) the invoice code (发票代码), when the line has one */
  invoiceCode?: string;
  line?: number;
  date: string;
  item: string;
  category: InvoiceCategory;
  /** units, net of units returned by red-letter lines */
  quantity: number;
  /** the line's amount on the policy's VAT basis, net of red-letter lines, fen (negative on a red-letter line) */
  basisFen: number;
  /** (schema 2) the amount before red-letter lines were netted in, when some were */
  grossFen?: number;
  /** (schema 2) indexes of the red-letter lines netted into this one */
  correctedBy?: number[];
  /** (schema 2) equipment of the register this line paid for */
  devices?: string[];
}

export interface ExcludedLine extends LineRef {
  code: ExclusionCode;
  detail?: string;
}

export interface PendingPart {
  category: InvoiceCategory;
  /** the base awaiting a rate, fen (not money: the amount the rate will apply to) */
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
  /** the cap is reached: the unrounded amount (B-pilot: of the first investment) is at or above it */
  capped: boolean;
  /** counted bases per category, fen */
  basisFen: Record<InvoiceCategory, number>;
  /** B-pilot: the excess above the first investment, split pro rata (largest remainder), fen */
  excessSplitFen?: Record<InvoiceCategory, number>;
  /** the unrounded amount as exact text (元): A and C before their cap, B after the cap of its first-investment part */
  unrounded: string;
  counted: LineRef[];
  excluded: ExcludedLine[];
  flags: string[];
}

/** One contractor line in the discount check; result and required discount are its contractor's. */
export interface ContractorCheck {
  index: number;
  number: string;
  item: string;
  /** (schema 2) the contractor's name, null for the general contractor (`contractor: true`) */
  contractor: string | null;
  listFen?: number;
  amountFen: number;
  discountFen?: number;
  requiredFen?: number;
  result: 'pass' | 'flag';
  detail: string;
}

/** (schema 2) The discount check of one contractor, summed over its software and service lines. */
export interface ContractorGroup {
  /** null: the general contractor (`contractor: true`) */
  contractor: string | null;
  /** checked lines (software or service, passing the general exclusions), indexes */
  lines: number[];
  /** the contractor's other lines (not software or service, or excluded), not checked */
  notChecked: number[];
  /** checked lines without listPrice: the check cannot be made */
  missingListPrice: number[];
  listFen: number | null;
  amountFen: number;
  discountFen: number | null;
  requiredFen: number | null;
  result: 'pass' | 'flag';
}

export interface CombinationOption {
  id: 'A+C' | 'B' | 'B-without-cloud+C';
  tracks: string[];
  totalFen: number;
  /** pending bases of the combination's eligible tracks, fen (not money) */
  pendingFen: number;
}

/**
 * (schema 2) The 8号 equipment rate at which the recommended combination would change: where the
 * unrounded totals of the recommended and another combination are equal, with the pending
 * equipment bases at that rate. Only while the rate is unset and some eligible track has a base.
 */
export interface BreakEven {
  parameter: string;
  /** the combination recommended while the rate is unset */
  from: CombinationOption['id'];
  /** the combination that takes over above the rate; null when none can at any rate */
  to: CombinationOption['id'] | null;
  /** the rate as an exact fraction (decimal strings), null when none */
  rate: { num: string; den: string } | null;
  /** the rate as a decimal, 6 places */
  rateText: string | null;
  /** true: at the rate itself `to` is recommended already (listed first, ties go to it); false: only above it */
  inclusive: boolean;
}

/** (schema 2) The C-cloud first year: [from, to) in local dates. */
export interface CloudYear {
  from: string;
  /** exclusive: the same calendar date a year later (29 February: 1 March) */
  to: string;
  basis: 'firstCloudDate' | 'firstCloudInvoice';
}

/** (schema 2) An equipment register entry named by invoice lines, with whether it is networked. */
export interface DeviceLines {
  id: string;
  /** networked at the partial tier; null when the caller gave no device results */
  networked: boolean | null;
  lines: Array<LineRef & { excluded?: ExclusionCode }>;
}

export interface SubsidyResult {
  vatBasis: 'excl' | 'incl';
  tracks: TrackResult[];
  options: CombinationOption[];
  recommended: CombinationOption['id'];
  totalFen: number;
  /** pending bases of the recommended combination, fen (not money) */
  pendingFen: number;
  contractor: ContractorCheck[];
  /** (schema 2) per contractor */
  contractors: ContractorGroup[];
  /** lines passing the general exclusions (any track) */
  eligibleLines: number;
  /** (schema 2) */
  breakEven?: BreakEven;
  /** (schema 2) absent when no cloud line and no firstCloudDate */
  cloudYear?: CloudYear;
  /** (schema 2) devices named by invoice lines */
  devices: DeviceLines[];
  /** (schema 2) equipment lines linked to a device that is not networked (flagged, or excluded by policy) */
  unnetworkedLines: Array<{ index: number; number: string; invoiceCode?: string; line?: number; item: string; devices: string[]; excluded: boolean }>;
  /** (schema 2) red-letter lines and the line each was netted into */
  corrections: Array<{ index: number; number: string; corrects: number; basisFen: number }>;
}

const CATS: InvoiceCategory[] = ['equipment', 'software', 'hardware', 'cloud'];
const zeroCats = (): Record<InvoiceCategory, number> => ({ equipment: 0, software: 0, hardware: 0, cloud: 0 });

function fenOf(text: string | undefined): bigint {
  const f = text === undefined ? undefined : parseSignedFen(text);
  if (f === undefined) throw new Error(`internal: unvalidated amount ${String(text)}`);
  return f;
}

/** The line's amount on the VAT basis. The caller validated that vat is present when the basis is incl. */
export function basisOf(inv: Invoice, basis: 'excl' | 'incl'): bigint {
  return basis === 'incl' ? fenOf(inv.amount) + fenOf(inv.vat ?? '0.00') : fenOf(inv.amount);
}

export interface Line {
  inv: Invoice;
  ref: LineRef;
  /** on the VAT basis, net of red-letter lines */
  fen: bigint;
  /** the amount before VAT, net of red-letter lines (the contractor check) */
  amountFen: bigint;
  /** net of returned units */
  quantity: number;
  /** general exclusion, if any */
  general?: ExclusionCode;
}

export interface LineOptions {
  /** ids of the register's equipment that is networked (partial tier); absent: not known, nothing flagged */
  networked?: ReadonlySet<string>;
}

/**
 * The invoice lines after the general exclusions, the same for every track, in file order (the
 * first of a duplicate counts). Red-letter lines are netted into the line they correct (validated
 * in project.ts) and excluded themselves.
 */
export function generalLines(project: Project, basis: 'excl' | 'incl', p?: PolicyValues, opts: LineOptions = {}): Line[] {
  const { from, to } = project.project.period;
  const seen = new Set<string>();
  const dup = project.invoices.map((inv) => {
    const key = invoiceKey(inv);
    const d = seen.has(key);
    seen.add(key);
    return d;
  });
  const lines: Line[] = project.invoices.map((inv, index) => {
    const fen = basisOf(inv, basis);
    const r: LineRef = {
      index,
      number: inv.number,
      date: inv.date,
      item: inv.item,
      category: inv.category,
      quantity: inv.quantity,
      basisFen: toNumberSafe(fen),
    };
    if (inv.code !== undefined) r.invoiceCode = inv.code;
    if (inv.line !== undefined) r.line = inv.line;
    if (inv.devices?.length) r.devices = [...inv.devices];
    return { inv, ref: r, fen, amountFen: fenOf(inv.amount), quantity: inv.quantity };
  });
  lines.forEach((l, i) => {
    if (dup[i] || l.inv.corrects === undefined) return;
    const j = correctionTargets(project.invoices, i)[0];
    const t = j === undefined ? undefined : lines[j];
    if (!t) return;
    t.ref.grossFen ??= t.ref.basisFen;
    (t.ref.correctedBy ??= []).push(i);
    t.fen += l.fen;
    t.amountFen += l.amountFen;
    t.quantity -= l.quantity;
    t.ref.basisFen = toNumberSafe(t.fen);
    t.ref.quantity = t.quantity;
  });
  const exclude = p?.money.excludeUnnetworkedEquipment === true && opts.networked !== undefined;
  lines.forEach((l, i) => {
    const inv = l.inv;
    if (dup[i]) l.general = 'DUPLICATE_NUMBER';
    else if (inv.corrects !== undefined) l.general = 'RED_LETTER';
    else if (l.fen <= 0n) l.general = 'REVERSED';
    else if (inv.date < from || inv.date > to) l.general = 'OUTSIDE_PERIOD';
    else if (inv.secondHand) l.general = 'SECOND_HAND';
    else if (inv.office) l.general = 'OFFICE_EQUIPMENT';
    else if (exclude && unnetworkedDevices(l, opts.networked!).length > 0) l.general = 'DEVICE_NOT_NETWORKED';
  });
  return lines;
}

/** The devices of an equipment line that are not networked (none for other categories). */
function unnetworkedDevices(l: Line, networked: ReadonlySet<string>): string[] {
  return l.inv.category === 'equipment' ? (l.inv.devices ?? []).filter((d) => !networked.has(d)) : [];
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

/** The unrounded amount of each track after its cap (the break-even rate is computed on these). */
const unroundedOf = new WeakMap<TrackResult, Rational>();

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
  out.amountFen = capAndRound(out, sum, cfg.cap);
  return out;
}

/** Apply the track's cap to the unrounded sum (reaching it exactly counts as capped), then round once, half up. */
function capAndRound(out: TrackResult, sum: Rational, capFen: bigint): number {
  const capped = cmp(sum, rat(capFen)) >= 0;
  const after = capped ? rat(capFen) : sum;
  out.capped = capped;
  out.unrounded = fenText(sum);
  unroundedOf.set(out, after);
  return toNumberSafe(roundHalfUp(after));
}

function emptyTrack(track: TrackId): TrackResult {
  return {
    track,
    eligible: false,
    reasons: [],
    amountFen: 0,
    pendingFen: 0,
    pending: [],
    capped: false,
    basisFen: zeroCats(),
    unrounded: '0',
    counted: [],
    excluded: [],
    flags: [],
  };
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

/** B-pilot: the rate on the first investment (capped), the excess split pro rata at the excess rates. */
export function trackB(lines: Line[], p: PolicyValues, withoutCloud: boolean): TrackResult {
  const cfg = p.money.tracks['B-pilot'];
  const out = emptyTrack('B-pilot');
  if (withoutCloud) out.variant = 'without-cloud';
  const totals = { equipment: 0n, software: 0n, hardware: 0n, cloud: 0n };
  for (const l of lines) {
    if (l.general) out.excluded.push(excluded(l, l.general));
    else if (withoutCloud && l.inv.category === 'cloud') out.excluded.push(excluded(l, 'CLOUD_TO_C'));
    else if (l.inv.category === 'equipment' && l.fen < cfg.equipmentUnitMin * BigInt(l.quantity)) {
      out.excluded.push(excluded(l, 'UNIT_UNDER_MIN', `unit ${formatFen(l.fen / BigInt(l.quantity))} < ${formatFen(cfg.equipmentUnitMin)} 元`));
    } else {
      out.counted.push(l.ref);
      totals[l.inv.category] += l.fen;
    }
  }
  for (const c of CATS) out.basisFen[c] = toNumberSafe(totals[c]);
  const eligible = CATS.reduce((s, c) => s + totals[c], 0n);
  const first = eligible < cfg.firstInvestment ? eligible : cfg.firstInvestment;
  let sum = mul(rat(first), cfg.rate);
  if (cmp(sum, rat(cfg.cap)) >= 0) {
    out.capped = true;
    sum = rat(cfg.cap);
  }
  const excess = eligible - first;
  if (excess > 0n) {
    const split = splitLargestRemainder(excess, totals);
    out.excessSplitFen = {
      equipment: toNumberSafe(split.equipment),
      software: toNumberSafe(split.software),
      hardware: toNumberSafe(split.hardware),
      cloud: toNumberSafe(split.cloud),
    };
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
  unroundedOf.set(out, sum);
  out.amountFen = toNumberSafe(roundHalfUp(sum));
  return out;
}

/** The same calendar date a year later; 29 February goes to 1 March. */
export function sameDateNextYear(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y + 1, m - 1, d)).toISOString().slice(0, 10);
}

/**
 * The first cloud year: from project.firstCloudDate, else from the first cloud invoice line (any
 * date, also before the project period; red-letter, duplicate and fully reversed lines left out).
 */
export function cloudYearOf(lines: readonly Line[], project: Project): CloudYear | undefined {
  const given = project.project.firstCloudDate;
  const first = lines
    .filter((l) => l.inv.category === 'cloud' && l.general !== 'DUPLICATE_NUMBER' && l.general !== 'RED_LETTER' && l.general !== 'REVERSED')
    .map((l) => l.inv.date)
    .sort()[0];
  const from = given ?? first;
  if (from === undefined) return undefined;
  return { from, to: sameDateNextYear(from), basis: given ? 'firstCloudDate' : 'firstCloudInvoice' };
}

/** C-cloud: first-time, first-year cloud spend at or above the minimum, at the rate, capped. */
export function trackC(lines: Line[], project: Project, p: PolicyValues): TrackResult {
  const cfg = p.money.tracks['C-cloud'];
  const out = emptyTrack('C-cloud');
  const year = cloudYearOf(lines, project);
  const firstYear: Line[] = [];
  for (const l of lines.filter((x) => x.inv.category === 'cloud')) {
    if (l.general) out.excluded.push(excluded(l, l.general));
    else if (!project.project.firstCloudContract) out.excluded.push(excluded(l, 'CLOUD_NOT_FIRST_CONTRACT'));
    else if (year && (l.inv.date < year.from || l.inv.date >= year.to))
      out.excluded.push(excluded(l, 'CLOUD_NOT_FIRST_YEAR', `first cloud year ${year.from} .. before ${year.to}`));
    else firstYear.push(l);
  }
  const total = firstYear.reduce((s, l) => s + l.fen, 0n);
  if (firstYear.length > 0 && total < cfg.minFirstYear) {
    for (const l of firstYear) out.excluded.push(excluded(l, 'CLOUD_UNDER_MIN', `first-year total ${formatFen(total)} < ${formatFen(cfg.minFirstYear)} 元`));
  } else {
    for (const l of firstYear) out.counted.push(l.ref);
    out.basisFen.cloud = toNumberSafe(total);
    out.amountFen = capAndRound(out, mul(rat(total), cfg.rate), cfg.cap);
  }
  out.excluded.sort((a, b) => a.index - b.index);
  return out;
}

/**
 * The contractor discount check, per contractor across the project: the discounts (list price −
 * invoiced amount before VAT, net of red-letter lines) of its software and service lines that pass
 * the general exclusions, summed, against min(rate × their list prices, cap).
 */
export function contractorChecks(lines: readonly Line[], p: PolicyValues): { groups: ContractorGroup[]; lines: ContractorCheck[] } {
  const cfg = p.money.contractor;
  const byName = new Map<string | null, Line[]>();
  for (const l of lines) {
    const c = l.inv.contractor;
    if (c === false || l.inv.corrects !== undefined) continue;
    const name = c === true ? null : c;
    byName.set(name, [...(byName.get(name) ?? []), l]);
  }
  const groups: ContractorGroup[] = [];
  const checks: ContractorCheck[] = [];
  for (const [contractor, all] of byName) {
    const checked = all.filter((l) => !l.general && (l.inv.category === 'software' || l.inv.service));
    const missing = checked.filter((l) => l.inv.listPrice === undefined);
    const list = checked.reduce((s, l) => s + (l.inv.listPrice === undefined ? 0n : fenOf(l.inv.listPrice)), 0n);
    const amount = checked.reduce((s, l) => s + l.amountFen, 0n);
    const complete = missing.length === 0 && checked.length > 0;
    const required = minR(mul(rat(list), cfg.discountRate), rat(cfg.discountCap));
    const discount = list - amount;
    const ok = complete && cmp(rat(discount), required) >= 0;
    const g: ContractorGroup = {
      contractor,
      lines: checked.map((l) => l.ref.index),
      notChecked: all.filter((l) => !checked.includes(l)).map((l) => l.ref.index),
      missingListPrice: missing.map((l) => l.ref.index),
      listFen: complete ? toNumberSafe(list) : null,
      amountFen: toNumberSafe(amount),
      discountFen: complete ? toNumberSafe(discount) : null,
      requiredFen: complete ? toNumberSafe(roundHalfUp(required)) : null,
      result: ok ? 'pass' : 'flag',
    };
    groups.push(g);
    for (const l of checked) {
      const c: ContractorCheck = {
        index: l.ref.index,
        number: l.inv.number,
        item: l.inv.item,
        contractor,
        amountFen: toNumberSafe(l.amountFen),
        result: g.result,
        detail: '',
      };
      if (l.inv.listPrice !== undefined) {
        const lf = fenOf(l.inv.listPrice);
        c.listFen = toNumberSafe(lf);
        c.discountFen = toNumberSafe(lf - l.amountFen);
        c.detail = `list ${formatFen(lf)} 元, invoiced ${formatFen(l.amountFen)} 元: discount ${formatFen(lf - l.amountFen)} 元 (the contractor's lines are checked together)`;
      } else c.detail = 'no listPrice: the discount cannot be checked';
      if (g.requiredFen !== null) c.requiredFen = g.requiredFen;
      checks.push(c);
    }
  }
  return { groups, lines: checks };
}

interface OptionCurve {
  option: CombinationOption;
  /** unrounded total at rate 0 (pending bases not added), fen */
  at0: Rational;
  /** equipment base pending the 8号 rate, fen */
  slope: bigint;
}

/**
 * The 8号 equipment rate r at which another combination's unrounded total reaches the recommended
 * one's: total(r) = total(0) + r × pending equipment base, for each combination. The smallest r ≥ 0
 * over the combinations that grow faster than the recommended one.
 */
export function breakEvenRate(curves: readonly OptionCurve[], recommended: CombinationOption['id']): BreakEven {
  const rec = curves.find((c) => c.option.id === recommended)!;
  const order = curves.map((c) => c.option.id);
  let best: { r: Rational; to: OptionCurve } | undefined;
  for (const c of curves) {
    if (c === rec || c.slope <= rec.slope) continue;
    // rec is the largest at rate 0 in whole fen; its unrounded total may still be a fraction of a fen below
    const diff = sub(rec.at0, c.at0);
    const rate: Rational = diff.num <= 0n ? ZERO : rat(diff.num, diff.den * (c.slope - rec.slope));
    // equal rates: the steeper combination is the larger one just above the rate, then the one listed first
    const better =
      !best ||
      cmp(rate, best.r) < 0 ||
      (cmp(rate, best.r) === 0 && (c.slope > best.to.slope || (c.slope === best.to.slope && order.indexOf(c.option.id) < order.indexOf(best.to.option.id))));
    if (better) best = { r: rate, to: c };
  }
  if (!best) return { parameter: EQUIPMENT_EXCESS_RATE, from: recommended, to: null, rate: null, rateText: null, inclusive: false };
  return {
    parameter: EQUIPMENT_EXCESS_RATE,
    from: recommended,
    to: best.to.option.id,
    rate: { num: best.r.num.toString(), den: best.r.den.toString() },
    rateText: rationalText(best.r, 6),
    inclusive: best.r.num > 0n && order.indexOf(best.to.option.id) < order.indexOf(recommended),
  };
}

/**
 * All tracks, each on its own lines, their eligibility given the classification, and the
 * recommended combination (largest total, no line claimed twice; pending bases beside it).
 */
export function computeSubsidy(project: Project, p: PolicyValues, classification: Classification, opts: LineOptions = {}): SubsidyResult {
  const basis = p.money.vatBasis;
  const lines = generalLines(project, basis, p, opts);
  const aFull = trackA('A-full', lines, p);
  const aPartial = trackA('A-partial', lines, p);
  const b = trackB(lines, p, false);
  const bNoCloud = trackB(lines, p, true);
  const c = trackC(lines, project, p);

  const claim = project.project.claim;
  const aTier: TrackId | undefined =
    classification === 'full' && claim === 'full' ? 'A-full' : classification === 'full' || classification === 'partial' ? 'A-partial' : undefined;
  for (const a of [aFull, aPartial]) {
    if (a.track === aTier) a.eligible = a.counted.length > 0;
    if (!a.eligible)
      a.reasons.push(aTier === undefined ? `CLASSIFICATION_${classification.toUpperCase()}` : a.track !== aTier ? `TIER_IS_${aTier}` : 'NO_LINES');
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
  const curve = (option: CombinationOption, tracks: Array<TrackResult | undefined>): OptionCurve => ({
    option,
    at0: tracks.reduce((s: Rational, t) => (t && t.eligible ? add(s, unroundedOf.get(t) ?? ZERO) : s), ZERO),
    slope: tracks.reduce((s, t) => s + BigInt(t && t.eligible ? (t.pending.find((x) => x.parameter === EQUIPMENT_EXCESS_RATE)?.baseFen ?? 0) : 0), 0n),
  });
  const curves = [
    curve({ id: 'A+C', tracks: [a?.track ?? 'A', 'C-cloud'], totalFen: val(a) + val(c), pendingFen: pend(a) + pend(c) }, [a, c]),
    curve({ id: 'B', tracks: ['B-pilot'], totalFen: val(b), pendingFen: pend(b) }, [b]),
    curve({ id: 'B-without-cloud+C', tracks: ['B-pilot (without cloud)', 'C-cloud'], totalFen: val(bNoCloud) + val(c), pendingFen: pend(bNoCloud) + pend(c) }, [
      bNoCloud,
      c,
    ]),
  ];
  const options = curves.map((x) => x.option);
  let best = options[0]!;
  for (const o of options) if (o.totalFen > best.totalFen) best = o;

  const contractor = contractorChecks(lines, p);
  const networked = opts.networked;
  const out: SubsidyResult = {
    vatBasis: basis,
    tracks: [aFull, aPartial, b, bNoCloud, c],
    options,
    recommended: best.id,
    totalFen: best.totalFen,
    pendingFen: best.pendingFen,
    contractor: contractor.lines,
    contractors: contractor.groups,
    eligibleLines: lines.filter((l) => !l.general).length,
    devices: deviceLines(project, lines, networked),
    unnetworkedLines: networked
      ? lines.flatMap((l) => {
          const off = l.general === undefined || l.general === 'DEVICE_NOT_NETWORKED' ? unnetworkedDevices(l, networked) : [];
          if (off.length === 0) return [];
          const u: SubsidyResult['unnetworkedLines'][number] = {
            index: l.ref.index,
            number: l.inv.number,
            item: l.inv.item,
            devices: off,
            excluded: l.general === 'DEVICE_NOT_NETWORKED',
          };
          if (l.inv.code !== undefined) u.invoiceCode = l.inv.code;
          if (l.inv.line !== undefined) u.line = l.inv.line;
          return [u];
        })
      : [],
    corrections: lines.flatMap((l) =>
      l.general === 'RED_LETTER'
        ? [{ index: l.ref.index, number: l.inv.number, corrects: correctionTargets(project.invoices, l.ref.index)[0]!, basisFen: l.ref.basisFen }]
        : [],
    ),
  };
  if (p.money.tracks['B-pilot'].excessRates.equipment === null && curves.some((x) => x.slope > 0n)) out.breakEven = breakEvenRate(curves, best.id);
  const year = cloudYearOf(lines, project);
  if (year) out.cloudYear = year;
  return out;
}

function deviceLines(project: Project, lines: readonly Line[], networked: ReadonlySet<string> | undefined): DeviceLines[] {
  return project.equipment.flatMap((e) => {
    const mine = lines.filter((l) => l.inv.devices?.includes(e.id));
    if (mine.length === 0) return [];
    return [
      { id: e.id, networked: networked ? networked.has(e.id) : null, lines: mine.map((l) => (l.general ? { ...l.ref, excluded: l.general } : { ...l.ref })) },
    ];
  });
}

const yuan = (fen: number | bigint) => `${formatFen(fen)} 元`;
/** How a line is named in rule ids and texts: code-number#line (the code and line when there are). */
export const lineName = (x: { number: string; invoiceCode?: string; line?: number }) =>
  `${x.invoiceCode !== undefined ? `${x.invoiceCode}-` : ''}${x.number}${x.line !== undefined ? `#${x.line}` : ''}`;

/** The money rules: contractor discounts, pending bases, zero excess rates, unnetworked equipment lines. */
export function moneyRules(s: SubsidyResult, project: Project): RuleResult[] {
  const out: RuleResult[] = [];
  for (const g of s.contractors) {
    const who = g.contractor === null ? 'the general contractor' : `contractor ${g.contractor}`;
    const whoZh = g.contractor === null ? '总承包商' : `承包商 ${g.contractor}`;
    const items = g.lines.map((i) => project.invoices[i]!.item);
    let evidence: string;
    let evidenceZh: string;
    if (g.lines.length === 0) {
      evidence = `${who} has no software or service line to check`;
      evidenceZh = `${whoZh}没有需核对的软件或服务发票行`;
    } else if (g.discountFen === null) {
      const miss = g.missingListPrice.map((i) => project.invoices[i]!.item);
      evidence = `${who}: no list price on ${miss.join(', ')}: the discount cannot be checked`;
      evidenceZh = `${whoZh}的发票行 ${miss.join('、')} 未填写原价（listPrice），无法核对减收`;
    } else {
      const ok = g.result === 'pass';
      evidence = `${who}, software and service lines ${items.join(', ')}: list ${yuan(g.listFen!)}, invoiced ${yuan(g.amountFen)}, discount ${yuan(g.discountFen)} ${ok ? '>=' : '<'} required ${yuan(g.requiredFen!)} (the smaller of the rate × list and the cap)`;
      evidenceZh = `${whoZh}的软件和服务发票行（${items.join('、')}）：原价合计 ${yuan(g.listFen!)}，开票合计 ${yuan(g.amountFen)}，减收 ${yuan(g.discountFen)}，${ok ? '不少于' : '少于'}应减收额 ${yuan(g.requiredFen!)}（原价 × 减收比例与减收上限中的较小者）`;
    }
    if (g.notChecked.length) {
      const other = g.notChecked.map((i) => project.invoices[i]!.item);
      evidence += `; not checked (not software or service, or excluded): ${other.join(', ')}`;
      evidenceZh += `；不核对的发票行（非软件或服务，或已剔除）：${other.join('、')}`;
    }
    out.push({
      rule: g.contractor === null ? 'contractor.discount' : `contractor.discount:${g.contractor}`,
      value: g.discountFen,
      threshold: g.requiredFen,
      result: g.result,
      evidence,
      evidenceZh,
    });
  }
  for (const t of s.tracks) {
    const id = `${t.track}${t.variant ? ` (${t.variant})` : ''}`;
    for (const p of t.pending) {
      const cat = CATEGORY_NAMES.zh[p.category];
      out.push({
        rule: `money.pendingRate:${id}:${p.category}`,
        value: p.baseFen,
        threshold: null,
        result: 'flag',
        evidence: `${trackName('en', t.track, t.variant)}: a base of ${yuan(p.baseFen)} of ${CATEGORY_NAMES.en[p.category]} above the first investment awaits the unset rate ${p.parameter}: a pending base, not money, not added to the total`,
        evidenceZh: `${trackName('zh', t.track, t.variant)}：超出首期投入的${cat}投入中有 ${yuan(p.baseFen)} 待定基数，须待${p.category === 'equipment' ? '永委发〔2018〕8号文件设备奖励比例' : `${cat}超出部分奖励比例`}确定后计算；待定基数不是补助金额，不计入合计`,
      });
    }
    for (const f of t.flags.filter((x) => x.startsWith('EXCESS_RATE_ZERO'))) {
      const cat = f.split(':')[1] as InvoiceCategory;
      const base = t.excessSplitFen?.[cat] ?? 0;
      out.push({
        rule: `money.excessRateZero:${id}:${cat}`,
        value: base,
        threshold: null,
        result: 'flag',
        evidence: `${trackName('en', t.track, t.variant)}: ${yuan(base)} of ${CATEGORY_NAMES.en[cat]} above the first investment earns nothing (excess rate 0)`,
        evidenceZh: `${trackName('zh', t.track, t.variant)}：超出首期投入的${CATEGORY_NAMES.zh[cat]}投入 ${yuan(base)} 按政策不予奖励（超出部分奖励比例为 0）`,
      });
    }
  }
  for (const u of s.unnetworkedLines.filter((x) => !x.excluded)) {
    out.push({
      rule: `money.deviceNotNetworked:${lineName(u)}`,
      value: u.devices.join(', '),
      threshold: null,
      result: 'flag',
      evidence: `equipment line ${lineName(u)} (${u.item}) paid for ${u.devices.join(', ')}, not networked: counted, flagged for the panel (money.excludeUnnetworkedEquipment is false)`,
      evidenceZh: `设备发票行 ${lineName(u)}（${u.item}）所购设备 ${u.devices.join('、')} 未联网：按政策参数仍计入，提请专家组核实`,
    });
  }
  return out;
}
