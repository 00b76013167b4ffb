/**
 * What `fgw probe modbus` (gateway/cli/probe.ts) does: reads a block of registers once and prints them raw (hex) and decoded under
 * every type and byte order, so a user can see which order makes sense (the floats that come out
 * as 1.2e-38 or 4.5e+21 are in the wrong one).
 */
import { errorText } from '../../config/errors.js';
import { decodeBit, decodeString, rawNumber } from './codec.js';
import { IO, ModbusIoError, checkResponse, readPdu } from './frames.js';
import { READ_FC } from './plan.js';
import { type Area, BYTE_ORDERS, type ModbusType, isBitArea } from './schema.js';
import { type Endpoint, Transport, describeEndpoint } from './transport.js';

export type { Endpoint } from './transport.js';

const EXC: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

const NUMERIC: Array<[ModbusType, number]> = [
  ['int16', 1],
  ['uint16', 1],
  ['int32', 2],
  ['uint32', 2],
  ['float32', 2],
  ['int64', 4],
  ['uint64', 4],
  ['float64', 4],
];

function fmt(type: ModbusType, v: number): string {
  if (type === 'float32') return Number.isFinite(v) ? String(Number(v.toPrecision(7))) : String(v);
  if (type === 'float64') return Number.isFinite(v) ? String(Number(v.toPrecision(15))) : String(v);
  return String(v);
}

const printable = (s: string) => JSON.stringify(s).replace(/\\u0000/g, '\\0');

/** The decode table at byte offset `at` with `regs` registers available from there. */
function decodeTable(bytes: Uint8Array, at: number, regs: number): string[] {
  const w = 16;
  const lines = [`  ${'type'.padEnd(9)}${BYTE_ORDERS.map((o) => o.padEnd(w)).join('')}`];
  for (const [type, size] of NUMERIC) {
    if (size > regs) continue;
    const cells = BYTE_ORDERS.map((o) => fmt(type, rawNumber(type, o, bytes, at)).padEnd(w));
    lines.push(`  ${type.padEnd(9)}${cells.join('')}`);
  }
  const strRegs = Math.min(regs, 16);
  lines.push(
    `  ${'string'.padEnd(9)}${printable(decodeString(bytes, at, strRegs, false, 'utf8'))} (ABCD/CDAB), ${printable(decodeString(bytes, at, strRegs, true, 'utf8'))} (BADC/DCBA)`,
  );
  return lines;
}

export interface ProbeOptions {
  endpoint: Endpoint;
  unit: number;
  area: Area;
  /** 0-based protocol address */
  address: number;
  count: number;
  timeoutMs: number;
  /** decode at every address of the block, not only at the first */
  all?: boolean;
}

/**
 * Reads once and writes what it read to `out`: the raw registers (hex, uint16, int16, bits) and the
 * decode tables, or the bits of a bit area. Resolves with the failure's text when the device
 * answered with an exception, answered garbage, or did not answer; undefined when it read.
 */
export async function probe(o: ProbeOptions, out: (s: string) => void): Promise<string | undefined> {
  const { endpoint, unit, area, address, count, timeoutMs: timeout } = o;
  const fc = READ_FC[area];
  out(`modbus probe ${describeEndpoint(endpoint)} unit ${unit}: FC${fc} ${area} ${address}-${address + count - 1}`);
  const t = new Transport(endpoint, Math.max(timeout, 1000));
  try {
    await t.open();
    const pdu = await t.transact(unit, readPdu(fc, address, count), timeout);
    const bad = checkResponse(pdu, fc, count);
    if (bad?.startsWith('MODBUS_EXC_')) {
      const n = pdu[1]!;
      return `the device answered with exception ${n} (${EXC[n] ?? 'unknown'})${n === 2 ? ': the address range does not exist; is the address 1-based (40001 → 0)?' : ''}`;
    }
    if (bad) return `malformed answer: ${pdu.toString('hex')}`;
    if (isBitArea(area)) {
      const bits: string[] = [];
      for (let i = 0; i < count; i++) bits.push(`  ${String(address + i).padStart(5)}  ${decodeBit(pdu, 2, i) ? 1 : 0}`);
      out(`raw bytes: ${pdu.subarray(2).toString('hex')}\n${bits.join('\n')}`);
      return undefined;
    }
    const rows: string[] = ['  addr    hex    uint16   int16  bits 15..0'];
    for (let i = 0; i < count; i++) {
      const v = pdu.readUInt16BE(2 + 2 * i);
      rows.push(
        `  ${String(address + i).padStart(5)}  ${v.toString(16).padStart(4, '0')}  ${String(v).padStart(7)}  ${String(v > 32767 ? v - 65536 : v).padStart(6)}  ${v
          .toString(2)
          .padStart(16, '0')
          .replace(/(\d{4})(?=\d)/g, '$1 ')}`,
      );
    }
    out(`raw registers:\n${rows.join('\n')}`);
    const offsets = o.all ? count : 1;
    for (let i = 0; i < offsets; i++) {
      out(`\ndecoded starting at address ${address + i}:\n${decodeTable(pdu, 2 + 2 * i, count - i).join('\n')}`);
    }
    return undefined;
  } catch (e) {
    const code = e instanceof ModbusIoError ? e.code : 'IO_ERROR';
    return `${code === IO.TIMEOUT ? 'no answer' : code === IO.NOT_CONNECTED ? 'cannot connect' : 'failed'}: ${errorText(e)}`;
  } finally {
    t.close();
  }
}
