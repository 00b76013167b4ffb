/** Table tests of the pure core: DataType → kind, StatusCode → quality, DataValue decoding, write values, chunking, names. */
import { describe, expect, it } from 'vitest';
import {
  BuiltIn,
  builtInOfNs0DataType,
  chunk,
  classifyConnectError,
  decodeDataValue,
  int64ToNumber,
  isValidNodeId,
  kindOfBuiltIn,
  qualityOf,
  tagNameOf,
  timestampOf,
  toWriteValue,
} from '../../adapters/opcua/convert.js';

const NOW = 1_800_000_000_000;

describe('opcua convert', () => {
  it.each([
    [BuiltIn.Boolean, 'boolean'],
    [BuiltIn.SByte, 'integer'],
    [BuiltIn.UInt64, 'integer'],
    [BuiltIn.DateTime, 'integer'],
    [BuiltIn.Float, 'float'],
    [BuiltIn.Double, 'float'],
    [BuiltIn.String, 'string'],
    [BuiltIn.LocalizedText, 'string'],
    [BuiltIn.ByteString, 'string'],
    [BuiltIn.ExtensionObject, undefined],
    [BuiltIn.NodeId, undefined],
    [BuiltIn.Variant, undefined],
  ])('built-in %i has kind %s', (id, kind) => expect(kindOfBuiltIn(id)).toBe(kind));

  it.each([
    [11, BuiltIn.Double],
    [26, BuiltIn.Double], // Number
    [27, BuiltIn.Int64], // Integer
    [29, BuiltIn.Int32], // Enumeration
    [24, undefined], // BaseDataType: values could change type
    [290, undefined], // Duration: resolved by walking the type tree
  ])('ns=0 DataType i=%i → built-in %s', (id, b) => expect(builtInOfNs0DataType(id)).toBe(b));

  it.each([
    [0x00000000, 'good'],
    [0x00a00000, 'good'], // GoodClamped-ish info bits stay good
    [0x40000000, 'uncertain'],
    [0x408f0000, 'uncertain'],
    [0x80000000, 'bad'],
    [0x80340000, 'bad'], // BadNodeIdUnknown
  ])('status 0x%s → %s', (sc, q) => expect(qualityOf(sc)).toBe(q));

  it.each([
    [{ sourceTimestamp: new Date(5), serverTimestamp: new Date(6) }, 5],
    [{ sourceTimestamp: null, serverTimestamp: new Date(6) }, 6],
    [{ sourceTimestamp: null, serverTimestamp: null }, NOW],
    [{ sourceTimestamp: new Date(0), serverTimestamp: null }, NOW], // OPC UA MinDateTime means "none"
  ])('timestamp of %j is %i', (dv, ts) => expect(timestampOf(dv, NOW)).toBe(ts));

  const dv = (variantType: number, value: unknown, statusCode = 0, statusName = 'Good') => ({
    statusCode,
    statusName,
    variantType,
    value,
    sourceTimestamp: new Date(7),
  });
  it.each([
    ['integer', dv(BuiltIn.Int64, [0xffffffff, 0xfffffffe]), { value: -2, quality: 'good' }],
    ['integer', dv(BuiltIn.UInt64, [1, 5]), { value: 4294967301, quality: 'good' }],
    ['integer', dv(BuiltIn.DateTime, new Date(Date.UTC(2026, 0, 1))), { value: Date.UTC(2026, 0, 1), quality: 'good' }],
    ['integer', dv(BuiltIn.Double, 1.5), { value: null, quality: 'bad', error: 'BadTypeMismatch' }],
    ['float', dv(BuiltIn.Float, 0.25), { value: 0.25, quality: 'good' }],
    ['float', dv(BuiltIn.Double, 2, 0x40920000, 'UncertainLastUsableValue'), { value: 2, quality: 'uncertain', error: 'UncertainLastUsableValue' }],
    ['float', dv(BuiltIn.Double, 2, 0x808b0000, 'BadSensorFailure'), { value: null, quality: 'bad', error: 'BadSensorFailure' }],
    ['float', dv(BuiltIn.Double, [1, 2]), { value: null, quality: 'bad', error: 'BadTypeMismatch' }],
    ['float', dv(BuiltIn.Double, NaN), { value: null, quality: 'bad', error: 'NOT_FINITE' }],
    ['float', dv(BuiltIn.Float, -Infinity), { value: null, quality: 'bad', error: 'NOT_FINITE' }],
    ['string', dv(BuiltIn.LocalizedText, { text: 'Auto', locale: 'en' }), { value: 'Auto', quality: 'good' }],
    ['string', dv(BuiltIn.ByteString, Buffer.from([1, 2, 3])), { value: 'AQID', quality: 'good' }],
    ['string', dv(BuiltIn.Null, null), { value: null, quality: 'bad', error: 'BadNoValue' }],
    ['boolean', dv(BuiltIn.Boolean, false), { value: false, quality: 'good' }],
    ['boolean', dv(BuiltIn.Int32, 1), { value: null, quality: 'bad', error: 'BadTypeMismatch' }],
  ] as const)('decodes a %s tag from %j', (kind, raw, expected) => {
    expect(decodeDataValue(kind, raw, NOW)).toEqual({ ts: 7, ...expected });
  });

  it.each([
    [BuiltIn.Int16, 7, { ok: true, value: 7 }],
    [BuiltIn.Byte, 256, { ok: false }],
    [BuiltIn.UInt32, -1, { ok: false }],
    [BuiltIn.Int32, 1.5, { ok: false }],
    [BuiltIn.Int64, -2, { ok: true, value: [0xffffffff, 0xfffffffe] }],
    [BuiltIn.UInt64, 4294967301, { ok: true, value: [1, 5] }],
    [BuiltIn.Boolean, 1, { ok: true, value: true }],
    [BuiltIn.Boolean, 'true', { ok: false }],
    [BuiltIn.Double, 'x', { ok: false }],
    [BuiltIn.String, 3, { ok: false }],
    [BuiltIn.LocalizedText, 'Auto', { ok: true, value: { text: 'Auto' } }],
    [BuiltIn.NodeId, 'i=1', { ok: false }],
  ] as const)('write to built-in %i of %j → %j', (b, v, expected) => {
    expect(toWriteValue(b, v)).toMatchObject(expected);
  });

  it('Int64 words round-trip through toWriteValue and int64ToNumber', () => {
    for (const n of [0, -1, 2 ** 40 + 3, -(2 ** 52) - 1, Number.MAX_SAFE_INTEGER]) {
      const w = toWriteValue(BuiltIn.Int64, n);
      expect(w.ok && int64ToNumber(w.value, true)).toBe(n);
    }
  });

  it.each([
    [0, 2500, [1000, 1000, 500]],
    [50, 120, [50, 50, 20]],
    [50, 0, []],
  ])('chunk(limit %i) of %i items → %j', (limit, n, sizes) => {
    expect(
      chunk(
        Array.from({ length: n }, (_, i) => i),
        limit,
      ).map((c) => c.length),
    ).toEqual(sizes);
  });

  it.each([
    ['ns=1;s=Lathe3.State', true],
    ['i=2258', true],
    ['ns=2;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63', true],
    ['ns=3;b=AQID', true],
    ['Lathe3.State', false],
    ['ns=x;s=A', false],
    ['ns=1;q=1', false],
  ])('NodeId %s valid: %s', (text, ok) => expect(isValidNodeId(text)).toBe(ok));

  it.each([
    [['Lathe3', 'SpindleSpeed'], 'lathe3_spindle_speed'],
    [['Machine 1', 'Temp (°C)'], 'machine_1_temp_c'],
    [['ABC'], 'abc'],
    [['∆'], 'tag'],
  ])('tag name of %j is %s', (path, name) => expect(tagNameOf(path)).toBe(name));

  it.each([
    ['ActivateSession failed: BadUserAccessDenied (0x801f0000)', 'auth'],
    ['BadIdentityTokenRejected', 'auth'],
    ['server Certificate verification failed with err BadCertificateUntrusted', 'untrusted'],
    ['connect ECONNREFUSED 127.0.0.1:4840', 'other'],
  ])('classifies "%s" as %s', (msg, kind) => expect(classifyConnectError(msg)).toBe(kind));
});
