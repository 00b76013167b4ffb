/**
 * The value encoding of store layout 5 (one row per point: the readings of one write() that
 * share measurement, device and ts). Pure: no SQLite, no clock. A point's tags and kinds are its
 * shape (stored once per tag set, referred to by id), so a row holds only the values, in the
 * shape's order:
 *
 *   flags: 1 byte. bit 0: an exceptions section follows the bitmaps.
 *   numeric modes: 2 bits per float/integer entry (LSB first, four to a byte): 1 = zigzag varint of
 *     v (a safe integer, |v| < 2^52, not -0), 2 = zigzag varint of v × 10 and 3 = of v × 100, when
 *     that is an integer m and m / 10 (m / 100) gives v back exactly (a reading with one or two
 *     decimals, as most sensors report: 23.4 takes 2 bytes), 0 = float64 little-endian: 20.0
 *     takes 1 byte, 0.1 + 0.2 takes 8.
 *   boolean bitmap: 1 bit per boolean entry.
 *   exceptions (only if flag bit 0): varint count, then per entry that is not plain good with a
 *     value: varint index, 1 byte (bits 0-1 quality 0 good / 1 uncertain / 2 bad; bit 2 value is
 *     null; bit 3 an error follows; bit 4 a tie follows), the error (varint length + UTF-8) and
 *     the tie (varint). They come before the values because a null value takes no bytes.
 *   values: per entry in shape order: numbers as above, strings as varint byte length + UTF-8;
 *     booleans live in their bitmap only. An entry whose value is null writes nothing here.
 *
 * Bitmaps are omitted when the shape has no entry of their kind. A poll of 100 good numbers that
 * are small integers costs about 1-2 bytes a value, floats 8.
 */
import type { FieldKind, Quality, Value } from '../../adapters/types.js';
import { QUALITY_CODE, QUALITY_NAME } from './rows.js';

export interface PointEntry {
  value: Value | null;
  quality: Quality;
  error?: string;
  /** rank among the readings of its series stored at the same ms (absent = 0) */
  tie?: number;
}

const INT_LIMIT = 2 ** 52;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

const isNumeric = (k: FieldKind): boolean => k === 'float' || k === 'integer';
const asVarint = (v: number): boolean => Number.isInteger(v) && Math.abs(v) < INT_LIMIT && !Object.is(v, -0);
const SCALES = [0, 1, 10, 100] as const;
/** the numeric mode of a value (see the header) */
function modeOf(v: unknown): number {
  if (typeof v !== 'number') return 0;
  if (asVarint(v)) return 1;
  for (const mode of [2, 3]) {
    const m = Math.round(v * SCALES[mode]!);
    if (asVarint(m) && m / SCALES[mode]! === v) return mode;
  }
  return 0;
}

class Writer {
  private buf = new Uint8Array(64);
  private view = new DataView(this.buf.buffer);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b;
  }
  /** an unsigned integer below 2^53 */
  varint(v: number): void {
    while (v >= 128) {
      this.byte((v % 128) + 128);
      v = Math.floor(v / 128);
    }
    this.byte(v);
  }
  float64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.len, v, true);
    this.len += 8;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  text(s: string): void {
    const b = utf8.encode(s);
    this.varint(b.length);
    this.bytes(b);
  }
  /** 2-bit codes, four to a byte, LSB first */
  codes(codes: number[]): void {
    for (let i = 0; i < codes.length; i += 4) {
      let b = 0;
      for (let j = 0; j < 4 && i + j < codes.length; j++) b |= codes[i + j]! << (2 * j);
      this.byte(b);
    }
  }
  bitmap(bits: boolean[]): void {
    for (let i = 0; i < bits.length; i += 8) {
      let b = 0;
      for (let j = 0; j < 8 && i + j < bits.length; j++) if (bits[i + j]) b |= 1 << j;
      this.byte(b);
    }
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

class Reader {
  pos = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  byte(): number {
    if (this.pos >= this.buf.length) throw new Error('point value blob ends early');
    return this.buf[this.pos++]!;
  }
  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = this.byte();
      v += (b & 127) * mul;
      if (b < 128) return v;
      mul *= 128;
      if (mul > 2 ** 56) throw new Error('point value blob: varint too long');
    }
  }
  float64(): number {
    if (this.pos + 8 > this.buf.length) throw new Error('point value blob ends early');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  text(): string {
    const n = this.varint();
    if (this.pos + n > this.buf.length) throw new Error('point value blob ends early');
    const s = fromUtf8.decode(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
  codes(n: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i += 4) {
      const b = this.byte();
      for (let j = 0; j < 4 && i + j < n; j++) out.push((b >> (2 * j)) & 3);
    }
    return out;
  }
  bitmap(n: number): boolean[] {
    const bits: boolean[] = [];
    for (let i = 0; i < n; i += 8) {
      const b = this.byte();
      for (let j = 0; j < 8 && i + j < n; j++) bits.push((b & (1 << j)) !== 0);
    }
    return bits;
  }
}

const zigzag = (v: number): number => (v >= 0 ? v * 2 : -v * 2 - 1);
const unzigzag = (z: number): number => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

/** The values of one point, in the order of its shape's kinds. */
export function encodePoint(kinds: readonly FieldKind[], entries: readonly PointEntry[]): Uint8Array {
  if (kinds.length !== entries.length) throw new Error(`a point of ${kinds.length} tags got ${entries.length} entries`);
  const w = new Writer();
  const exceptions: number[] = [];
  const numMode: number[] = [];
  const bools: boolean[] = [];
  for (let i = 0; i < kinds.length; i++) {
    const e = entries[i]!;
    const k = kinds[i]!;
    if (e.value === null || e.quality !== 'good' || e.error !== undefined || (e.tie ?? 0) !== 0) exceptions.push(i);
    if (isNumeric(k)) numMode.push(modeOf(e.value));
    else if (k === 'boolean') bools.push(e.value === true);
  }
  w.byte(exceptions.length ? 1 : 0);
  if (numMode.length) w.codes(numMode);
  if (bools.length) w.bitmap(bools);
  if (exceptions.length) {
    w.varint(exceptions.length);
    for (const i of exceptions) {
      const e = entries[i]!;
      const tie = e.tie ?? 0;
      w.varint(i);
      w.byte(QUALITY_CODE[e.quality] | (e.value === null ? 4 : 0) | (e.error !== undefined ? 8 : 0) | (tie !== 0 ? 16 : 0));
      if (e.error !== undefined) w.text(e.error);
      if (tie !== 0) w.varint(tie);
    }
  }
  let n = 0;
  for (let i = 0; i < kinds.length; i++) {
    const e = entries[i]!;
    const k = kinds[i]!;
    if (isNumeric(k)) {
      const mode = numMode[n++]!;
      if (e.value === null) continue;
      if (typeof e.value !== 'number') throw new Error(`tag ${i} is ${k}, its value is ${typeof e.value}`);
      if (mode === 0) w.float64(e.value);
      else w.varint(zigzag(Math.round(e.value * SCALES[mode]!)));
    } else if (k === 'string') {
      if (e.value === null) continue;
      if (typeof e.value !== 'string') throw new Error(`tag ${i} is string, its value is ${typeof e.value}`);
      w.text(e.value);
    } else if (e.value !== null && typeof e.value !== 'boolean') throw new Error(`tag ${i} is boolean, its value is ${typeof e.value}`);
  }
  return w.done();
}

/** The inverse of encodePoint for the same kinds. */
export function decodePoint(kinds: readonly FieldKind[], blob: Uint8Array): PointEntry[] {
  const r = new Reader(blob);
  const flags = r.byte();
  const numCount = kinds.filter(isNumeric).length;
  const boolCount = kinds.filter((k) => k === 'boolean').length;
  const numMode = numCount ? r.codes(numCount) : [];
  const bools = boolCount ? r.bitmap(boolCount) : [];
  const nulls = new Set<number>();
  const out: PointEntry[] = kinds.map(() => ({ value: null, quality: 'good' }));
  if (flags & 1) {
    const count = r.varint();
    for (let x = 0; x < count; x++) {
      const i = r.varint();
      if (i >= kinds.length) throw new Error(`point value blob: entry ${i} of a point of ${kinds.length}`);
      const f = r.byte();
      const quality = QUALITY_NAME[f & 3];
      if (!quality) throw new Error(`point value blob: quality code ${f & 3}`);
      if (f & 4) nulls.add(i);
      const error = f & 8 ? r.text() : undefined;
      const tie = f & 16 ? r.varint() : 0;
      out[i] = { value: null, quality, ...(error !== undefined ? { error } : {}), ...(tie ? { tie } : {}) };
    }
  }
  let n = 0;
  let b = 0;
  for (let i = 0; i < kinds.length; i++) {
    const k = kinds[i]!;
    if (isNumeric(k)) {
      const mode = numMode[n++]!;
      if (nulls.has(i)) continue;
      out[i]!.value = mode === 0 ? r.float64() : mode === 1 ? unzigzag(r.varint()) : unzigzag(r.varint()) / SCALES[mode]!;
    } else if (k === 'string') {
      if (nulls.has(i)) continue;
      out[i]!.value = r.text();
    } else {
      const v = bools[b++]!;
      if (!nulls.has(i)) out[i]!.value = v;
    }
  }
  if (r.pos !== blob.length) throw new Error(`point value blob: ${blob.length - r.pos} bytes left over`);
  return out;
}

/** The entries of a point that are not plain good: index, quality code (0 good, 1 uncertain, 2 bad), tie (0 absent). */
export type PointException = { index: number; quality: number; tie: number };

/**
 * The exceptions of a point without decoding its values (the verifier's counts and the tie lookups
 * need only these): [] for a point whose entries are all good with a value and tie 0. `numCount`
 * and `boolCount` are its shape's float/integer and boolean entries.
 */
export function exceptionsOf(numCount: number, boolCount: number, blob: Uint8Array): PointException[] {
  const r = new Reader(blob);
  if ((r.byte() & 1) === 0) return [];
  r.pos += Math.ceil(numCount / 4) + Math.ceil(boolCount / 8);
  const count = r.varint();
  const out: PointException[] = [];
  for (let x = 0; x < count; x++) {
    const index = r.varint();
    const f = r.byte();
    if (f & 8) {
      const length = r.varint();
      r.pos += length;
    }
    const tie = f & 16 ? r.varint() : 0;
    out.push({ index, quality: f & 3, tie });
  }
  return out;
}

/** how many float/integer and boolean entries a shape of these kinds has (exceptionsOf's arguments) */
export function kindCounts(kinds: readonly FieldKind[]): { numCount: number; boolCount: number } {
  let numCount = 0;
  let boolCount = 0;
  for (const k of kinds) {
    if (isNumeric(k)) numCount++;
    else if (k === 'boolean') boolCount++;
  }
  return { numCount, boolCount };
}
