/**
 * Pure decoding/encoding tables: every type in every byte order against register words written out
 * by hand (the big-endian bytes come from Python's struct.pack, an independent implementation).
 */
import { describe, expect, it } from 'vitest';
import { compileTag, decodeBit, decodeRegisters, encodeRegisters, fieldKind, hexRegisters, registersToBytes } from '../../adapters/modbus/codec.js';
import { shortestFloat32 } from '../../adapters/values.js';
import { tagSchema, type ModbusTagInput } from '../../adapters/modbus/schema.js';
import { isGatewayError } from '../../config/errors.js';

const tag = (t: Partial<ModbusTagInput>) => compileTag(tagSchema.parse({ name: 't', area: 'holding', address: 0, ...t }), 0);

// [type, byteOrder, registers on the wire, expected value]
const numeric: Array<[string, string, number[], number]> = [
  // float32 123.456 = 42 F6 E9 79
  ['float32', 'ABCD', [0x42f6, 0xe979], 123.456],
  ['float32', 'CDAB', [0xe979, 0x42f6], 123.456],
  ['float32', 'BADC', [0xf642, 0x79e9], 123.456],
  ['float32', 'DCBA', [0x79e9, 0xf642], 123.456],
  // float32 -1.5 = BF C0 00 00
  ['float32', 'ABCD', [0xbfc0, 0x0000], -1.5],
  ['float32', 'CDAB', [0x0000, 0xbfc0], -1.5],
  ['float32', 'BADC', [0xc0bf, 0x0000], -1.5],
  ['float32', 'DCBA', [0x0000, 0xc0bf], -1.5],
  // uint32 0x12345678
  ['uint32', 'ABCD', [0x1234, 0x5678], 305419896],
  ['uint32', 'CDAB', [0x5678, 0x1234], 305419896],
  ['uint32', 'BADC', [0x3412, 0x7856], 305419896],
  ['uint32', 'DCBA', [0x7856, 0x3412], 305419896],
  // int32 -123456789 = F8 A4 32 EB
  ['int32', 'ABCD', [0xf8a4, 0x32eb], -123456789],
  ['int32', 'CDAB', [0x32eb, 0xf8a4], -123456789],
  ['int32', 'BADC', [0xa4f8, 0xeb32], -123456789],
  ['int32', 'DCBA', [0xeb32, 0xa4f8], -123456789],
  // 16-bit: ABCD/CDAB = AB, BADC/DCBA = BA
  ['uint16', 'ABCD', [0x1234], 4660],
  ['uint16', 'CDAB', [0x1234], 4660],
  ['uint16', 'BADC', [0x3412], 4660],
  ['uint16', 'DCBA', [0x3412], 4660],
  ['int16', 'ABCD', [0xfffe], -2],
  ['int16', 'CDAB', [0xfffe], -2],
  ['int16', 'BADC', [0xfeff], -2],
  ['int16', 'DCBA', [0xfeff], -2],
  // int64 -1234567890123 = FF FF FE E0 8E 04 FB 35
  ['int64', 'ABCD', [0xffff, 0xfee0, 0x8e04, 0xfb35], -1234567890123],
  ['int64', 'CDAB', [0xfb35, 0x8e04, 0xfee0, 0xffff], -1234567890123],
  ['int64', 'BADC', [0xffff, 0xe0fe, 0x048e, 0x35fb], -1234567890123],
  ['int64', 'DCBA', [0x35fb, 0x048e, 0xe0fe, 0xffff], -1234567890123],
  // uint64 2^53-1 = 00 1F FF FF FF FF FF FF
  ['uint64', 'ABCD', [0x001f, 0xffff, 0xffff, 0xffff], 9007199254740991],
  ['uint64', 'CDAB', [0xffff, 0xffff, 0xffff, 0x001f], 9007199254740991],
  ['uint64', 'BADC', [0x1f00, 0xffff, 0xffff, 0xffff], 9007199254740991],
  ['uint64', 'DCBA', [0xffff, 0xffff, 0xffff, 0x1f00], 9007199254740991],
  // float64 123.456 = 40 5E DD 2F 1A 9F BE 77
  ['float64', 'ABCD', [0x405e, 0xdd2f, 0x1a9f, 0xbe77], 123.456],
  ['float64', 'CDAB', [0xbe77, 0x1a9f, 0xdd2f, 0x405e], 123.456],
  ['float64', 'BADC', [0x5e40, 0x2fdd, 0x9f1a, 0x77be], 123.456],
  ['float64', 'DCBA', [0x77be, 0x9f1a, 0x2fdd, 0x5e40], 123.456],
];

describe('modbus codec', () => {
  it.each(numeric)('decodes %s %s %j', (type, byteOrder, regs, expected) => {
    const t = tag({ type: type as never, byteOrder: byteOrder as never });
    // place the value after one unrelated register to prove the byte offset is honoured
    const bytes = registersToBytes([0xdead, ...regs]);
    expect(decodeRegisters(t, bytes, 2)).toBe(expected);
  });

  it.each(numeric)('encodes %s %s back to %j', (type, byteOrder, regs, value) => {
    const t = tag({ type: type as never, byteOrder: byteOrder as never });
    expect(encodeRegisters(t, value)).toEqual(regs);
  });

  it.each([
    // [bit, register, expected]
    [0, 0x0001, true],
    [0, 0xfffe, false],
    [3, 0x0008, true],
    [3, 0xfff7, false],
    [15, 0x8000, true],
    [15, 0x7fff, false],
  ])('decodes bit %i of %s as %s', (bit, reg, expected) => {
    const t = tag({ type: 'bool', bit });
    expect(decodeRegisters(t, registersToBytes([reg]), 0)).toBe(expected);
  });

  it.each([
    // packed coil bytes (LSB first), index, expected
    [[0b0000_0101], 0, true],
    [[0b0000_0101], 1, false],
    [[0b0000_0101], 2, true],
    [[0x00, 0b1000_0000], 15, true],
    [[0x00, 0b1000_0000], 14, false],
  ])('decodes coil bits %j index %i as %s', (bytes, i, expected) => {
    expect(decodeBit(Uint8Array.from(bytes), 0, i)).toBe(expected);
  });

  it.each([
    // "PRG-0042" in 4 registers, ABCD
    ['ABCD', 4, [0x5052, 0x472d, 0x3030, 0x3432], 'utf8', 'PRG-0042'],
    // trailing NULs trimmed: "abc" in 4 registers
    ['ABCD', 4, [0x6162, 0x6300, 0x0000, 0x0000], 'utf8', 'abc'],
    // byte-swapped devices (BADC, DCBA swap the two characters of each register)
    ['BADC', 2, [0x6261, 0x0063], 'utf8', 'abc'],
    ['DCBA', 2, [0x6261, 0x0063], 'ascii', 'abc'],
    // CDAB keeps the character order of each register (register order is always ascending)
    ['CDAB', 2, [0x6162, 0x6300], 'utf8', 'abc'],
    // UTF-8 multi-byte: 焊 = E7 84 8A
    ['ABCD', 2, [0xe784, 0x8a00], 'utf8', '焊'],
  ])('decodes string %s length %i %j (%s) as %s', (byteOrder, length, regs, encoding, expected) => {
    const t = tag({ type: 'string', length, byteOrder: byteOrder as never, encoding: encoding as never });
    expect(decodeRegisters(t, registersToBytes(regs), 0)).toBe(expected);
  });

  it.each([
    ['ABCD', 4, 'abc', [0x6162, 0x6300, 0x0000, 0x0000]],
    ['BADC', 2, 'abc', [0x6261, 0x0063]],
  ])('encodes string %s length %i %s', (byteOrder, length, value, regs) => {
    const t = tag({ type: 'string', length, byteOrder: byteOrder as never });
    expect(encodeRegisters(t, value)).toEqual(regs);
  });

  it.each([
    // type, scale, offset, registers, expected
    ['int16', 0.1, 0, [215], 21.5],
    ['int16', 0.1, 0, [0xff9c], -10], // -100 * 0.1
    ['uint16', 2, -40, [50], 60],
    ['uint32', 0.001, 0, [0x0001, 0x86a0], 100], // 100000 * 0.001
    ['float32', 10, 1, [0xbfc0, 0x0000], -14], // -1.5 * 10 + 1
  ])('applies scale/offset: %s ×%s +%s %j → %s', (type, scale, offset, regs, expected) => {
    const t = tag({ type: type as never, scale, offset });
    expect(decodeRegisters(t, registersToBytes(regs), 0)).toBeCloseTo(expected, 9);
  });

  it.each([
    ['int16', 0.1, 0, 21.5, [215]],
    ['uint16', 2, -40, 60, [50]],
  ])('inverts scale/offset on write: %s ×%s +%s of %s', (type, scale, offset, value, regs) => {
    const t = tag({ type: type as never, scale, offset });
    expect(encodeRegisters(t, value)).toEqual(regs);
  });

  it.each([
    // tag config, expected field kind: fixed by configuration, never by a value
    [{ type: 'uint16' }, 'integer'],
    [{ type: 'int64' }, 'integer'],
    [{ type: 'int16', scale: 0.1 }, 'float'],
    [{ type: 'int16', scale: 2 }, 'float'],
    [{ type: 'uint32', offset: 1 }, 'float'],
    [{ type: 'float32' }, 'float'],
    [{ type: 'float64' }, 'float'],
    [{ type: 'bool', bit: 2 }, 'boolean'],
    [{ type: 'uint16', bit: 2 }, 'boolean'],
    [{ area: 'coil' }, 'boolean'],
    [{ type: 'string', length: 4 }, 'string'],
  ])('field kind of %j is %s', (cfg, kind) => {
    expect(fieldKind(tagSchema.parse({ name: 't', area: 'holding', address: 0, ...cfg }))).toBe(kind);
  });

  it.each([
    [{ type: 'uint16' }, -1],
    [{ type: 'uint16' }, 65536],
    [{ type: 'int16' }, 1.5],
    [{ type: 'int16' }, 'x'],
    [{ type: 'float32' }, true],
    [{ type: 'string', length: 1 }, 'abc'],
    [{ type: 'int16', scale: 0.1 }, 4000], // 40000 raw does not fit int16
  ])('refuses to encode %j with %j (WRITE_TYPE)', (cfg, value) => {
    const t = tag(cfg as never);
    let err: unknown;
    try {
      encodeRegisters(t, value as never);
    } catch (e) {
      err = e;
    }
    expect(isGatewayError(err, 'GW_ERR_WRITE_TYPE')).toBe(true);
  });

  it('prints registers as hex', () => {
    expect(hexRegisters(registersToBytes([0x42f6, 0xe979, 0x0001]), 0, 3)).toBe('42f6 e979 0001');
  });
});

describe('float32 values read as the device meant them', () => {
  it.each([
    [812.3, 812.3],
    [0.1, 0.1],
    [123.456, 123.456],
    [-1.5, -1.5],
    [1e-7, 1e-7],
    [3.4e38, 3.4e38],
    [1 / 3, 0.33333334],
    [16777217, 16777216], // not representable in float32: the nearest float32
    [0, 0],
  ])('%d sent as float32 decodes to %d', (sent, want) => {
    const f = Math.fround(sent);
    expect(shortestFloat32(f)).toBe(want);
    expect(Math.fround(shortestFloat32(f))).toBe(f); // still exactly the float32 on the wire
  });
});
