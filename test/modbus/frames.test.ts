/**
 * Pure framing: CRC against the textbook frame, MBAP/RTU extraction with garbage, short and
 * split input, and response validation.
 */
import { describe, expect, it } from 'vitest';
import { checkResponse, crc16, extractRtu, extractTcp, readPdu, rtuFrame, tcpFrame } from '../../adapters/modbus/frames.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('modbus framing', () => {
  it('builds the textbook RTU request 01 03 0000 000A C5CD', () => {
    expect(rtuFrame(1, readPdu(3, 0, 10)).toString('hex')).toBe('01030000000ac5cd');
    expect(crc16(hex('01 03 00 00 00 0a'))).toBe(0xcdc5);
  });

  it('builds an MBAP request', () => {
    expect(tcpFrame(0x0102, 7, readPdu(4, 100, 2)).toString('hex')).toBe('010200000006070400640002');
  });

  it.each<[string, string, number, number, unknown]>([
    ['a whole answer', '01 03 02 12 34 b5 33', 1, 3, { kind: 'frame', pduStart: 1, pduEnd: 5, consumed: 7 }],
    ['a partial answer', '01 03 02 12', 1, 3, { kind: 'need' }],
    ['an exception answer', '01 83 02 c0 f1', 1, 3, { kind: 'frame', pduStart: 1, pduEnd: 3, consumed: 5 }],
    ['another unit first', '02 03 02 12 34', 1, 3, { kind: 'skip', consumed: 1 }],
    ['a wrong function', '01 04 02 12 34', 1, 3, { kind: 'skip', consumed: 1 }],
    ['a bad CRC', '01 03 02 12 34 00 00', 1, 3, { kind: 'skip', consumed: 1 }],
    ['a write echo', '01 06 00 01 00 03 98 0b', 1, 6, { kind: 'frame', pduStart: 1, pduEnd: 6, consumed: 8 }],
  ])('RTU extraction of %s', (_name, bytes, unit, fc, expected) => {
    const b = hex(bytes);
    expect(extractRtu(b, b.length, unit, fc)).toMatchObject(expected as object);
  });

  it('finds an RTU answer behind line noise, one byte at a time', () => {
    const good = hex('01 03 02 12 34 b5 33');
    const b = Buffer.concat([hex('ff 00 01 7e'), good]);
    let at = 0;
    let x = extractRtu(b.subarray(at), b.length - at, 1, 3);
    while (x.kind === 'skip') {
      at += x.consumed;
      x = extractRtu(b.subarray(at), b.length - at, 1, 3);
    }
    expect(at).toBe(4);
    expect(x).toMatchObject({ kind: 'frame', consumed: 7 });
  });

  it.each<[string, string, unknown]>([
    ['a whole answer', '00 05 00 00 00 05 01 03 02 12 34', { kind: 'frame', tid: 5, unit: 1, pduStart: 7, pduEnd: 11, consumed: 11 }],
    ['a short header', '00 05 00 00 00', { kind: 'need' }],
    ['a partial body', '00 05 00 00 00 05 01 03', { kind: 'need' }],
    ['a wrong protocol id', '00 05 00 01 00 05 01 03 02 12 34', { kind: 'skip', consumed: 11 }],
    ['a zero length', '00 05 00 00 00 00 01', { kind: 'skip', consumed: 7 }],
    ['an absurd length', '00 05 00 00 ff ff 01 03', { kind: 'skip', consumed: 8 }],
  ])('MBAP extraction of %s', (_name, bytes, expected) => {
    const b = hex(bytes);
    expect(extractTcp(b, b.length)).toMatchObject(expected as object);
  });

  it.each<[string, string, number, number, string | null]>([
    ['FC3 with 2 registers', '03 04 00 01 00 02', 3, 2, null],
    ['FC3 byte count short', '03 02 00 01', 3, 2, 'MALFORMED'],
    ['FC3 body shorter than its byte count', '03 04 00 01', 3, 2, 'MALFORMED'],
    ['FC1 with 9 bits', '01 02 ff 01', 1, 9, null],
    ['FC1 with a wrong byte count', '01 01 ff', 1, 9, 'MALFORMED'],
    ['an exception 2', '83 02', 3, 2, 'MODBUS_EXC_2'],
    ['an exception 6 (busy)', '84 06', 4, 1, 'MODBUS_EXC_6'],
    ['another function', '04 02 00 01', 3, 1, 'MALFORMED'],
    ['one byte', '03', 3, 1, 'MALFORMED'],
    ['FC6 echo', '06 00 01 00 03', 6, 1, null],
    ['FC16 short echo', '10 00 01', 16, 1, 'MALFORMED'],
  ])('response check: %s', (_name, pdu, fc, count, expected) => {
    expect(checkResponse(hex(pdu), fc, count)).toBe(expected);
  });
});
