/** `fgw probe modbus`: reads a block of registers once and prints it raw and under every type and byte order (adapters/modbus/probe.ts). */
import { parseArgs } from 'node:util';
import { probe, type Endpoint } from '../../adapters/modbus/probe.js';
import { AREAS, type Area, MAX_BITS_PER_REQUEST, MAX_REGISTERS_PER_REQUEST, isBitArea } from '../../adapters/modbus/schema.js';
import { durationOpt, usage, type Command } from './io.js';

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

export const command: Command = {
  async run(argv, io) {
    const [proto, ...rest] = argv;
    if (proto !== 'modbus') usage(proto === undefined ? 'name the protocol: fgw probe modbus ...' : `fgw probe knows modbus, not "${proto}"`);
    const str = { type: 'string' } as const;
    const { values } = parseArgs({
      args: rest,
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
      },
      strict: true,
      allowPositionals: false,
    });
    const endpoint = endpointFrom(values);
    if (typeof endpoint === 'string') usage(endpoint);
    const area = (values.area ?? 'holding') as Area;
    if (!AREAS.includes(area)) usage(`--area: expected one of ${AREAS.join(', ')}, got "${area}"`);
    const unit = Number(values.unit ?? 1);
    const address = Number(values.address ?? 0);
    const count = Number(values.count ?? 8);
    const max = isBitArea(area) ? MAX_BITS_PER_REQUEST : MAX_REGISTERS_PER_REQUEST;
    if (!Number.isInteger(unit) || unit < 0 || unit > 255) usage(`--unit: expected 0-255, got "${values.unit}"`);
    if (!Number.isInteger(address) || address < 0 || address > 65535) usage(`--address: expected a 0-based address 0-65535, got "${values.address}"`);
    if (!Number.isInteger(count) || count < 1 || count > max || address + count > 65536)
      usage(`--count: expected 1-${max} within the address space, got "${values.count}"`);
    const timeoutMs = durationOpt(values.timeout, 'timeout') ?? 1000;
    const failure = await probe({ endpoint, unit, area, address, count, timeoutMs, all: values.all === true }, (s) => io.out(s));
    if (failure === undefined) return 0;
    io.err(failure);
    return 1;
  },
};
