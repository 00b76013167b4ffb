/**
 * Pure decoding and encoding of Modbus register contents. No I/O, no allocation on the decode path
 * beyond the returned value (strings excepted): values are read straight from the response bytes
 * through a permutation table computed once per tag.
 *
 * Byte orders name the order in which the bytes of a value, most significant first (A B C D ...),
 * appear on the wire (register 0 high byte, register 0 low byte, register 1 high byte, ...):
 *   ABCD  big endian                       registers [AB][CD]         64-bit [AB][CD][EF][GH]
 *   CDAB  word swap (little-endian words)  registers [CD][AB]         64-bit [GH][EF][CD][AB]
 *   BADC  byte swap inside each register   registers [BA][DC]         64-bit [BA][DC][FE][HG]
 *   DCBA  little endian                    registers [DC][BA]         64-bit [HG][FE][DC][BA]
 * For 16-bit values ABCD and CDAB mean [AB], BADC and DCBA mean [BA]. For strings, BADC and DCBA
 * swap the two characters of each register; the register order is always ascending.
 */
import { shortestFloat32 } from '../values.js';
import type { FieldKind, Value } from '../types.js';
import { ErrorCodes, GatewayError } from '../../config/errors.js';
import { type Area, type ByteOrder, type ModbusTag, type ModbusType, isBitArea, tagSize, tagType } from './schema.js';

export interface CompiledTag {
  readonly index: number;
  readonly name: string;
  readonly area: Area;
  readonly address: number;
  /** registers, or 1 for a coil/discrete */
  readonly size: number;
  readonly type: ModbusType;
  readonly kind: FieldKind;
  readonly byteOrder: ByteOrder;
  readonly bit: number | undefined;
  readonly scale: number;
  readonly offset: number;
  readonly encoding: 'ascii' | 'utf8';
  /** logical byte i (most significant first) is wire byte perm[i] */
  readonly perm: Uint8Array;
  readonly writeFunction: 5 | 6 | 15 | 16 | undefined;
}

const BYTES: Record<ModbusType, number> = { bool: 2, int16: 2, uint16: 2, int32: 4, uint32: 4, float32: 4, int64: 8, uint64: 8, float64: 8, string: 0 };

/** The field kind is fixed by configuration, never by a value. */
export function fieldKind(t: Pick<ModbusTag, 'type' | 'area' | 'bit' | 'scale' | 'offset'>): FieldKind {
  const type = tagType(t);
  if (type === 'bool' || t.bit !== undefined) return 'boolean';
  if (type === 'string') return 'string';
  if (type === 'float32' || type === 'float64') return 'float';
  return t.scale === 1 && t.offset === 0 ? 'integer' : 'float';
}

/** Wire index of logical byte i for an n-byte value in the given order. */
export function permutation(n: number, order: ByteOrder): Uint8Array {
  const p = new Uint8Array(n);
  const words = n >> 1;
  for (let i = 0; i < n; i++) {
    switch (order) {
      case 'ABCD':
        p[i] = i;
        break;
      case 'DCBA':
        p[i] = n - 1 - i;
        break;
      case 'BADC':
        p[i] = i ^ 1;
        break;
      case 'CDAB':
        p[i] = 2 * (words - 1 - (i >> 1)) + (i & 1);
        break;
    }
  }
  return p;
}

export function compileTag(t: ModbusTag, index: number): CompiledTag {
  const type = tagType(t);
  const n = BYTES[type];
  return Object.freeze({
    index,
    name: t.name,
    area: t.area,
    address: t.address,
    size: tagSize(t),
    type,
    kind: fieldKind(t),
    byteOrder: t.byteOrder,
    bit: t.bit,
    scale: t.scale,
    offset: t.offset,
    encoding: t.encoding,
    perm: permutation(n, t.byteOrder),
    writeFunction: t.writeFunction,
  });
}

const scratch = new DataView(new ArrayBuffer(8));

function load(bytes: Uint8Array, at: number, perm: Uint8Array): void {
  for (let i = 0; i < perm.length; i++) scratch.setUint8(i, bytes[at + perm[i]!]!);
}

/** The raw (unscaled) number of a numeric type at byte offset `at`. */
export function rawNumber(type: ModbusType, order: ByteOrder, bytes: Uint8Array, at: number, perm = permutation(BYTES[type], order)): number {
  load(bytes, at, perm);
  switch (type) {
    case 'int16':
      return scratch.getInt16(0);
    case 'uint16':
    case 'bool':
      return scratch.getUint16(0);
    case 'int32':
      return scratch.getInt32(0);
    case 'uint32':
      return scratch.getUint32(0);
    case 'float32':
      return shortestFloat32(scratch.getFloat32(0));
    case 'int64':
      return Number(scratch.getBigInt64(0));
    case 'uint64':
      return Number(scratch.getBigUint64(0));
    case 'float64':
      return scratch.getFloat64(0);
    case 'string':
      return NaN;
  }
}

/** Decodes a string of `registers` registers at byte offset `at`, trailing NULs trimmed. */
export function decodeString(bytes: Uint8Array, at: number, registers: number, swap: boolean, encoding: 'ascii' | 'utf8'): string {
  const n = registers * 2;
  const buf = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) buf[i] = bytes[at + (swap ? i ^ 1 : i)]!;
  let end = n;
  while (end > 0 && buf[end - 1] === 0) end--;
  return buf.toString(encoding === 'ascii' ? 'latin1' : 'utf8', 0, end);
}

/**
 * Decodes a register tag from response bytes (the register data, big-endian per register).
 * `at` is the byte offset of the tag's first register.
 */
export function decodeRegisters(t: CompiledTag, bytes: Uint8Array, at: number): Value {
  if (t.bit !== undefined) return ((((bytes[at]! << 8) | bytes[at + 1]!) >> t.bit) & 1) === 1;
  if (t.type === 'string') return decodeString(bytes, at, t.size, t.byteOrder === 'BADC' || t.byteOrder === 'DCBA', t.encoding);
  const raw = rawNumber(t.type, t.byteOrder, bytes, at, t.perm);
  return t.kind === 'integer' ? raw : raw * t.scale + t.offset;
}

/** Bit `i` of a FC1/FC2 response's packed bits (least significant bit first). */
export function decodeBit(bytes: Uint8Array, at: number, i: number): boolean {
  return ((bytes[at + (i >> 3)]! >> (i & 7)) & 1) === 1;
}

const RANGES: Partial<Record<ModbusType, [number, number]>> = {
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  int64: [-(2 ** 63), 2 ** 63 - 1],
  uint64: [0, 2 ** 64 - 1],
};

function wrongType(t: CompiledTag, msg: string): GatewayError {
  return new GatewayError(ErrorCodes.WRITE_TYPE, `tag ${t.name} (${t.type}${t.bit !== undefined ? ` bit ${t.bit}` : ''}): ${msg}`);
}

/** Checks a boolean write (coil or register bit). */
export function encodeBool(t: CompiledTag, value: Value): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  throw wrongType(t, `expected a boolean, got ${JSON.stringify(value)}`);
}

/** Encodes a value for a register tag (not a bit) into register words, inverting scale/offset. */
export function encodeRegisters(t: CompiledTag, value: Value): number[] {
  const n = t.size * 2;
  const wire = new Uint8Array(n);
  if (t.type === 'string') {
    if (typeof value !== 'string') throw wrongType(t, `expected a string, got ${JSON.stringify(value)}`);
    const b = Buffer.from(value, t.encoding === 'ascii' ? 'latin1' : 'utf8');
    if (b.length > n) throw wrongType(t, `"${value}" needs ${b.length} bytes, the tag holds ${n}`);
    const swap = t.byteOrder === 'BADC' || t.byteOrder === 'DCBA';
    for (let i = 0; i < b.length; i++) wire[swap ? i ^ 1 : i] = b[i]!;
  } else {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw wrongType(t, `expected a finite number, got ${JSON.stringify(value)}`);
    let raw = t.kind === 'integer' ? value : (value - t.offset) / t.scale;
    const range = RANGES[t.type];
    if (range) {
      if (t.kind === 'integer' && !Number.isInteger(raw)) throw wrongType(t, `expected an integer, got ${value}`);
      raw = Math.round(raw);
      if (raw < range[0] || raw > range[1])
        throw wrongType(t, `${value} is outside ${t.type} (${range[0]}..${range[1]})${t.kind === 'float' ? ' after scale/offset' : ''}`);
    }
    const dv = new DataView(new ArrayBuffer(8));
    switch (t.type) {
      case 'int16':
        dv.setInt16(0, raw);
        break;
      case 'uint16':
        dv.setUint16(0, raw);
        break;
      case 'int32':
        dv.setInt32(0, raw);
        break;
      case 'uint32':
        dv.setUint32(0, raw);
        break;
      case 'float32':
        // float64 numbers beyond float32 would go on the wire as ±Infinity
        if (!Number.isFinite(Math.fround(raw)))
          throw wrongType(
            t,
            `${value} is outside float32 (±3.4028235e38)${t.kind === 'float' && (t.scale !== 1 || t.offset !== 0) ? ' after scale/offset' : ''}`,
          );
        dv.setFloat32(0, raw);
        break;
      case 'int64':
        dv.setBigInt64(0, BigInt(raw));
        break;
      case 'uint64':
        dv.setBigUint64(0, BigInt(raw));
        break;
      case 'float64':
        dv.setFloat64(0, raw);
        break;
      default:
        throw wrongType(t, 'cannot be written as registers');
    }
    for (let i = 0; i < n; i++) wire[t.perm[i]!] = dv.getUint8(i);
  }
  const regs: number[] = [];
  for (let i = 0; i < n; i += 2) regs.push((wire[i]! << 8) | wire[i + 1]!);
  return regs;
}

/** "0x1234 0xABCD" style hex of `count` registers starting at byte `at`. */
export function hexRegisters(bytes: Uint8Array, at: number, count: number): string {
  let s = '';
  for (let i = 0; i < count; i++) {
    const v = (bytes[at + 2 * i]! << 8) | bytes[at + 2 * i + 1]!;
    s += (i ? ' ' : '') + v.toString(16).padStart(4, '0');
  }
  return s;
}

/** Bytes of registers given as 16-bit numbers (tests, simulator, probe). */
export function registersToBytes(regs: readonly number[]): Uint8Array {
  const b = new Uint8Array(regs.length * 2);
  regs.forEach((r, i) => {
    b[2 * i] = (r >> 8) & 0xff;
    b[2 * i + 1] = r & 0xff;
  });
  return b;
}

export { isBitArea };
