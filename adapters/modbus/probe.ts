/**
 * `fgw probe modbus`: reads a block of registers once and prints them raw (hex) and decoded under
 * every type and byte order, so a user can see which order makes sense (the floats that come out
 * as 1.2e-38 or 4.5e+21 are in the wrong one).
 */
import { parseArgs } from 'node:util';
import { parseDuration } from '../../config/common.js';
import { errorText } from '../../config/errors.js';
import { decodeBit, decodeString, rawNumber } from './codec.js';
import { IO, ModbusIoError, checkResponse, readPdu } from './frames.js';
import { READ_FC } from './plan.js';
import { AREAS, type Area, BYTE_ORDERS, MAX_BITS_PER_REQUEST, MAX_REGISTERS_PER_REQUEST, type ModbusType, isBitArea } from './schema.js';
import { type Endpoint, Transport, describeEndpoint } from './transport.js';

export const PROBE_USAGE = `usage: fgw probe modbus (--host <host> [--port 502] [--framing tcp|rtu-over-tcp] | --serial <path> [--baud 9600] [--parity none|even|odd] [--data-bits 8] [--stop-bits 1])
                        [--unit 1] [--area holding|input|coil|discrete] [--address 0] [--count 8] [--timeout 1s] [--all]
  Reads once and prints the raw registers (hex) and their value under each type and byte order.
  --address is the 0-based protocol address (holding "40001" is --address 0).
  --all decodes at every address of the block, not only at the first.`;

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

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

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
export function decodeTable(bytes: Uint8Array, at: number, regs: number): string[] {
  const w = 16;
  const lines = [`  ${'type'.padEnd(9)}${BYTE_ORDERS.map((o) => o.padEnd(w)).join('')}`];
  for (const [type, size] of NUMERIC) {
    if (size > regs) continue;
    const cells = BYTE_ORDERS.map((o) => fmt(type, rawNumber(type, o, bytes, at)).padEnd(w));
    lines.push(`  ${type.padEnd(9)}${cells.join('')}`);
  }
  const strRegs = Math.min(regs, 16);
  lines.push(`  ${'string'.padEnd(9)}${printable(decodeString(bytes, at, strRegs, false, 'utf8'))} (ABCD/CDAB), ${printable(decodeString(bytes, at, strRegs, true, 'utf8'))} (BADC/DCBA)`);
  return lines;
}

function endpointFrom(v: Record<string, string | boolean | undefined>): Endpoint | string {
  if (v.serial && v.host) return 'give --host or --serial, not both';
  if (typeof v.serial === 'string') {
    const parity = (v.parity as string | undefined) ?? 'none';
    if (!['none', 'even', 'odd', 'mark', 'space'].includes(parity)) return `--parity: expected none, even, odd, mark or space, got "${parity}"`;
    const dataBits = Number(v['data-bits'] ?? 8);
    const stopBits = Number(v['stop-bits'] ?? 1);
    if (dataBits !== 7 && dataBits !== 8) return '--data-bits: expected 7 or 8';
    if (stopBits !== 1 && stopBits !== 2) return '--stop-bits: expected 1 or 2';
    return { kind: 'serial', path: v.serial, baudRate: Number(v.baud ?? 9600), parity: parity as 'none', dataBits, stopBits };
  }
  if (typeof v.host === 'string') {
    const framing = (v.framing as string | undefined) ?? 'tcp';
    if (framing !== 'tcp' && framing !== 'rtu-over-tcp') return `--framing: expected tcp or rtu-over-tcp, got "${framing}"`;
    const port = Number(v.port ?? 502);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return `--port: expected 1-65535, got "${v.port}"`;
    return { kind: 'tcp', host: v.host, port, framing: framing === 'tcp' ? 'tcp' : 'rtu' };
  }
  return 'give --host <host> (Modbus TCP) or --serial <path> (RTU)';
}

export async function runProbe(argv: string[], io: Io): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    const str = { type: 'string' } as const;
    values = parseArgs({
      args: argv,
      options: {
        host: str,
        port: str,
        framing: str,
        serial: str,
        baud: str,
        parity: str,
        'data-bits': str,
        'stop-bits': str,
        unit: str,
        area: str,
        address: str,
        count: str,
        timeout: str,
        all: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    io.err(`${errorText(e)}\n${PROBE_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(PROBE_USAGE);
    return 0;
  }
  const usage = (msg: string) => {
    io.err(`${msg}\n${PROBE_USAGE}`);
    return 2;
  };
  const endpoint = endpointFrom(values);
  if (typeof endpoint === 'string') return usage(endpoint);
  const area = ((values.area as string | undefined) ?? 'holding') as Area;
  if (!AREAS.includes(area)) return usage(`--area: expected one of ${AREAS.join(', ')}, got "${area}"`);
  const unit = Number(values.unit ?? 1);
  const address = Number(values.address ?? 0);
  const count = Number(values.count ?? 8);
  const max = isBitArea(area) ? MAX_BITS_PER_REQUEST : MAX_REGISTERS_PER_REQUEST;
  if (!Number.isInteger(unit) || unit < 0 || unit > 255) return usage(`--unit: expected 0-255, got "${values.unit}"`);
  if (!Number.isInteger(address) || address < 0 || address > 65535) return usage(`--address: expected a 0-based address 0-65535, got "${values.address}"`);
  if (!Number.isInteger(count) || count < 1 || count > max || address + count > 65536) return usage(`--count: expected 1-${max} within the address space, got "${values.count}"`);
  const timeout = values.timeout === undefined ? 1000 : parseDuration(String(values.timeout));
  if (timeout === undefined) return usage(`--timeout: expected a duration like "500ms" or "2s", got "${values.timeout}"`);

  const fc = READ_FC[area];
  io.out(`modbus probe ${describeEndpoint(endpoint)} unit ${unit}: FC${fc} ${area} ${address}-${address + count - 1}`);
  const t = new Transport(endpoint, Math.max(timeout, 1000));
  try {
    await t.open();
    const pdu = await t.transact(unit, readPdu(fc, address, count), timeout);
    const bad = checkResponse(pdu, fc, count);
    if (bad?.startsWith('MODBUS_EXC_')) {
      const n = pdu[1]!;
      io.err(`the device answered with exception ${n} (${EXC[n] ?? 'unknown'})${n === 2 ? ': the address range does not exist; is the address 1-based (40001 → 0)?' : ''}`);
      return 1;
    }
    if (bad) {
      io.err(`malformed answer: ${pdu.toString('hex')}`);
      return 1;
    }
    if (isBitArea(area)) {
      const bits: string[] = [];
      for (let i = 0; i < count; i++) bits.push(`  ${String(address + i).padStart(5)}  ${decodeBit(pdu, 2, i) ? 1 : 0}`);
      io.out(`raw bytes: ${pdu.subarray(2).toString('hex')}\n${bits.join('\n')}`);
      return 0;
    }
    const rows: string[] = ['  addr    hex    uint16   int16  bits 15..0'];
    for (let i = 0; i < count; i++) {
      const v = pdu.readUInt16BE(2 + 2 * i);
      rows.push(`  ${String(address + i).padStart(5)}  ${v.toString(16).padStart(4, '0')}  ${String(v).padStart(7)}  ${String(v > 32767 ? v - 65536 : v).padStart(6)}  ${v.toString(2).padStart(16, '0').replace(/(\d{4})(?=\d)/g, '$1 ')}`);
    }
    io.out(`raw registers:\n${rows.join('\n')}`);
    const offsets = values.all ? count : 1;
    for (let i = 0; i < offsets; i++) {
      io.out(`\ndecoded starting at address ${address + i}:\n${decodeTable(pdu, 2 + 2 * i, count - i).join('\n')}`);
    }
    return 0;
  } catch (e) {
    const code = e instanceof ModbusIoError ? e.code : 'IO_ERROR';
    io.err(`${code === IO.TIMEOUT ? 'no answer' : code === IO.NOT_CONNECTED ? 'cannot connect' : 'failed'}: ${errorText(e)}`);
    return 1;
  } finally {
    t.close();
  }
}
