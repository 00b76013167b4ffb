/**
 * `fgw probe modbus` against the simulator (TCP and RTU on a pty pair): raw hex and the value under
 * each type and byte order; exception answers and bad usage give their exit codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../gateway/cli/index.js';
import { ModbusSimulator } from '../../adapters/modbus/simulator.js';
import { freePort } from '../helpers/net.js';
import { type PtyPair, ptyPair } from '../helpers/socat.js';
import { tempDir } from '../helpers/tmp.js';

let sim: ModbusSimulator;
let port: number;
let dir: ReturnType<typeof tempDir>;
let pty: PtyPair;

async function probe(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['probe', 'modbus', ...args], { out: (s) => (out += s + '\n'), err: (s) => (err += s + '\n') });
  return { code, out, err };
}

/** the cells of the decode table row for a type (first table only) */
function row(out: string, type: string): string[] {
  const line = out.split('\n').find((l) => l.trimStart().startsWith(type + ' '));
  return line ? line.trim().split(/\s+/).slice(1) : [];
}

beforeAll(async () => {
  sim = new ModbusSimulator([1, 3]);
  sim.setRegisters(1, 'holding', 0, [0xe979, 0x42f6, 0x6162, 0x0000]); // float32 123.456 in CDAB, then "ab"
  sim.setRegisters(3, 'input', 5, [0x42f6, 0xe979]);
  sim.setBits(1, 'coil', 0, [true, false, true]);
  sim.fault({ unit: 1, area: 'holding', from: 1000, kind: 'exception', code: 2 });
  port = await freePort();
  await sim.startTcp(port);
  dir = tempDir('fgw-probe-');
  pty = await ptyPair(dir.path);
  await sim.startSerial({ path: pty.a, baudRate: 19200, parity: 'even' });
});

afterAll(async () => {
  await sim.stop();
  await pty.stop();
  dir.cleanup();
});

describe('fgw probe modbus', () => {
  it('prints raw registers and the value in each byte order (TCP)', async () => {
    const r = await probe(['--host', '127.0.0.1', '--port', String(port), '--unit', '1', '--area', 'holding', '--address', '0', '--count', '4']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('FC3 holding 0-3');
    expect(r.out).toMatch(/^\s+0\s+e979\s+59769\s+-5767/m);
    expect(r.out).toMatch(/^\s+1\s+42f6\s+17142\s+17142/m);
    // ABCD, CDAB, BADC, DCBA
    const f = row(r.out, 'float32');
    expect(f[1]).toBe('123.456');
    expect(f.map(Number).filter((v) => v === 123.456)).toHaveLength(1);
    expect(row(r.out, 'uint32')).toEqual(['3917038326', '1123477881', '2045376066', '4131551721']); // E97942F6, 42F6E979, 79E9F642, F64279E9
  });

  it('prints the decode table at every address with --all', async () => {
    const r = await probe(['--host', '127.0.0.1', '--port', String(port), '--address', '0', '--count', '4', '--all']);
    expect(r.code).toBe(0);
    for (const a of [0, 1, 2, 3]) expect(r.out).toContain(`decoded starting at address ${a}:`);
    expect(r.out).toContain('"ab" (ABCD/CDAB)');
  });

  it('reads input registers over RTU on a serial line', async () => {
    const r = await probe(['--serial', pty.b, '--baud', '19200', '--parity', 'even', '--unit', '3', '--area', 'input', '--address', '5', '--count', '2']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('FC4 input 5-6');
    expect(row(r.out, 'float32')[0]).toBe('123.456');
  });

  it('prints coils as bits', async () => {
    const r = await probe(['--host', '127.0.0.1', '--port', String(port), '--area', 'coil', '--count', '3']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\s+0\s+1$/m);
    expect(r.out).toMatch(/^\s+1\s+0$/m);
    expect(r.out).toMatch(/^\s+2\s+1$/m);
  });

  it('explains an exception 2 and hints at 1-based addresses (exit 1)', async () => {
    const r = await probe(['--host', '127.0.0.1', '--port', String(port), '--address', '1000', '--count', '2']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('exception 2 (illegal data address)');
    expect(r.err).toContain('40001');
  });

  it('reports a silent unit (exit 1)', async () => {
    const r = await probe(['--host', '127.0.0.1', '--port', String(port), '--unit', '9', '--timeout', '200ms']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('no answer');
  });

  it.each([
    [[], '--host'],
    [['--host', 'h', '--serial', '/dev/x'], 'not both'],
    [['--host', 'h', '--area', 'holdings'], '--area'],
    [['--host', 'h', '--count', '126'], '--count'],
    [['--host', 'h', '--unit', '300'], '--unit'],
    [['--host', 'h', '--timeout', 'soon'], '--timeout'],
    [['--host', 'h', '--bogus'], 'bogus'],
  ])('refuses bad usage %j (exit 2)', async (args, mention) => {
    const r = await probe(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(mention);
  });
});
