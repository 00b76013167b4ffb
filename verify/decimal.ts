/**
 * Exact numbers for money and thresholds: amounts are integer fen (bigint), rates and ratios are
 * rationals parsed from decimal text ("0.30" → 30/100). Nothing here goes through a float.
 */

export interface Rational {
  readonly num: bigint;
  readonly den: bigint;
}

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;
const MONEY = /^(\d+)\.(\d{2})$/;

/** "0.30" → 30/100; a JS number is taken through its shortest decimal text (0.3 → "0.3"). */
export function parseRational(v: string | number): Rational | undefined {
  const text = typeof v === 'number' ? (Number.isFinite(v) && v >= 0 ? numberText(v) : '') : v.trim();
  const m = DECIMAL.exec(text);
  if (!m) return undefined;
  const frac = m[2] ?? '';
  return reduce({ num: BigInt(m[1]! + frac), den: 10n ** BigInt(frac.length) });
}

function numberText(v: number): string {
  const s = String(v);
  return /e/i.test(s) ? '' : s;
}

/** "760000.00" → 76000000n fen. Exactly two decimals, no sign, no thousands separators. */
export function parseFen(text: string): bigint | undefined {
  const m = MONEY.exec(text);
  if (!m) return undefined;
  return BigInt(m[1]!) * 100n + BigInt(m[2]!);
}

/** As parseFen, with an optional leading minus (red-letter invoice lines): "-1200.00" → -120000n. */
export function parseSignedFen(text: string): bigint | undefined {
  const neg = text.startsWith('-');
  const f = parseFen(neg ? text.slice(1) : text);
  return f === undefined ? undefined : neg ? -f : f;
}

export function formatFen(fen: bigint | number, sep = ','): string {
  const f = BigInt(fen);
  const neg = f < 0n;
  const a = neg ? -f : f;
  const yuan = (a / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, sep);
  return `${neg ? '-' : ''}${yuan}.${(a % 100n).toString().padStart(2, '0')}`;
}

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b) [a, b] = [b, a % b];
  return a || 1n;
}

export function reduce(r: Rational): Rational {
  const g = gcd(r.num, r.den);
  return { num: r.num / g, den: r.den / g };
}

export const ZERO: Rational = { num: 0n, den: 1n };
export const rat = (num: bigint, den = 1n): Rational => reduce({ num, den });
export const add = (a: Rational, b: Rational): Rational => reduce({ num: a.num * b.den + b.num * a.den, den: a.den * b.den });
export const sub = (a: Rational, b: Rational): Rational => reduce({ num: a.num * b.den - b.num * a.den, den: a.den * b.den });
export const mul = (a: Rational, b: Rational): Rational => reduce({ num: a.num * b.num, den: a.den * b.den });
export const cmp = (a: Rational, b: Rational): number => {
  const l = a.num * b.den;
  const r = b.num * a.den;
  return l < r ? -1 : l > r ? 1 : 0;
};
export const minR = (a: Rational, b: Rational): Rational => (cmp(a, b) <= 0 ? a : b);
export const maxR = (a: Rational, b: Rational): Rational => (cmp(a, b) >= 0 ? a : b);

/** Half-up rounding of a non-negative rational to an integer (fen). */
export function roundHalfUp(r: Rational): bigint {
  if (r.num < 0n) return -roundHalfUp({ num: -r.num, den: r.den });
  return (2n * r.num + r.den) / (2n * r.den);
}

/** count/total >= threshold, exactly. */
export function ratioAtLeast(count: number, total: number, threshold: Rational): boolean {
  return BigInt(count) * threshold.den >= threshold.num * BigInt(total);
}

/** count/total > threshold, exactly. */
export function ratioAbove(count: number, total: number, threshold: Rational): boolean {
  return BigInt(count) * threshold.den > threshold.num * BigInt(total);
}

/** A rational as decimal text for reports ("0.95"); up to `digits` decimals, exact when it terminates. */
export function rationalText(r: Rational, digits = 6): string {
  const scale = 10n ** BigInt(digits);
  const scaled = roundHalfUp({ num: r.num * scale, den: r.den });
  const int = scaled / scale;
  let frac = (scaled % scale).toString().padStart(digits, '0').replace(/0+$/, '');
  return frac ? `${int}.${frac}` : `${int}`;
}

export function toNumberSafe(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`amount ${v} fen is beyond exact JSON numbers`);
  return Number(v);
}

/** A rate shown with four decimals (decisions compare counts exactly, never this rounded value). */
export const rate4 = (n: number, d: number): number | null => (d > 0 ? Math.round((n / d) * 10_000) / 10_000 : null);
