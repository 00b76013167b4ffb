/**
 * Interoperability with implementations we did not write:
 * - the adapter against pymodbus 3.0 (Debian python3-pymodbus): Modbus TCP with two unit ids on one
 *   connection (reads of all four areas, writes read back), RTU framing over TCP, and RTU on a socat
 *   pty pair with two unit ids;
 * - mbpoll (a C client on libmodbus) reading our simulator over TCP and over RTU on a pty pair.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModbusAdapter } from '../../adapters/modbus/index.js';
import { ModbusSimulator } from '../../adapters/modbus/simulator.js';
import { freePort } from '../helpers/net.js';
import type { Proc } from '../helpers/proc.js';
import { startPymodbus, type PymodbusUnitData } from '../helpers/pymodbus.js';
import { type PtyPair, ptyPair } from '../helpers/socat.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { MemorySink } from '../helpers/sink.js';
import { makeCtx, modbusDevice } from './support.js';

const run = promisify(execFile);

let dir: ReturnType<typeof tempDir>;
const procs: Proc[] = [];
const ptys: PtyPair[] = [];
const adapters: ModbusAdapter[] = [];

function start(device: Record<string, unknown>, sink: MemorySink, shared: Map<string, unknown>): ModbusAdapter {
  const a = new ModbusAdapter(modbusDevice(device), makeCtx(sink, shared));
  adapters.push(a);
  void a.start();
  return a;
}

// registers written out by hand (float32 123.456 = 42F6 E979)
const unit1: PymodbusUnitData = {
  holding: [0x42f6, 0xe979, 0xe979, 0x42f6, 1234, 0x0010],
  input: [0xfff6],
  coil: [1, 0, 1],
  discrete: [0, 1],
};
const unit2: PymodbusUnitData = { holding: [99] };

const unit1Tags = [
  { name: 'f_abcd', area: 'holding', address: 0, type: 'float32', byteOrder: 'ABCD' },
  { name: 'f_cdab', area: 'holding', address: 2, type: 'float32', byteOrder: 'CDAB' },
  { name: 'count', area: 'holding', address: 4, type: 'uint16', writable: true },
  { name: 'bit4', area: 'holding', address: 5, type: 'bool', bit: 4 },
  { name: 'temp', area: 'input', address: 0, type: 'int16', scale: 0.5 },
  { name: 'c0', area: 'coil', address: 0 },
  { name: 'c1', area: 'coil', address: 1, writable: true },
  { name: 'c2', area: 'coil', address: 2 },
  { name: 'd1', area: 'discrete', address: 1 },
  { name: 'sp', area: 'holding', address: 10, type: 'float32', byteOrder: 'CDAB', writable: true },
];

function expectUnit1(sink: MemorySink, id: string): void {
  const v = (t: string) => sink.last(id, t)?.value;
  expect(v('f_abcd') as number).toBeCloseTo(123.456, 4);
  expect(v('f_cdab') as number).toBeCloseTo(123.456, 4);
  expect(v('count')).toBe(1234);
  expect(v('bit4')).toBe(true);
  expect(v('temp')).toBe(-5);
  expect([v('c0'), v('c1'), v('c2'), v('d1')]).toEqual([true, false, true, true]);
}

beforeAll(() => {
  dir = tempDir('fgw-interop-');
});

afterEach(async () => {
  await Promise.all(adapters.splice(0).map((a) => a.stop()));
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  await Promise.all(ptys.splice(0).map((p) => p.stop()));
});

afterAll(() => {
  dir.cleanup();
});

describe('modbus adapter against pymodbus', () => {
  it('reads all four areas of two unit ids over one Modbus TCP connection, and writes', async () => {
    const port = await freePort();
    procs.push(await startPymodbus({ tcp: port }, { 1: unit1, 2: unit2 }));
    const sink = new MemorySink();
    const shared = new Map<string, unknown>();
    const a = start({ id: 'py1', connection: { host: '127.0.0.1', port, unitId: 1 }, tags: unit1Tags }, sink, shared);
    start({ id: 'py2', connection: { host: '127.0.0.1', port, unitId: 2 }, tags: [{ name: 'v', area: 'holding', address: 0 }] }, sink, shared);
    await waitFor('both units read', () => sink.last('py1', 'd1')?.quality === 'good' && sink.last('py2', 'v')?.quality === 'good');
    expectUnit1(sink, 'py1');
    expect(sink.last('py2', 'v')!.value).toBe(99);
    expect(shared.size).toBe(1);

    await a.write('count', 4321); // FC6
    await a.write('sp', -1.5); // FC16, CDAB
    await a.write('c1', true); // FC5
    await waitFor(
      'written values read back',
      () => sink.last('py1', 'count')?.value === 4321 && sink.last('py1', 'sp')?.value === -1.5 && sink.last('py1', 'c1')?.value === true,
    );
  });

  it('reads with RTU framing over TCP (a serial server)', async () => {
    const port = await freePort();
    procs.push(await startPymodbus({ tcp: port, rtuFraming: true }, { 1: unit1 }));
    const sink = new MemorySink();
    start({ id: 'rtutcp', connection: { host: '127.0.0.1', port, framing: 'rtu-over-tcp', unitId: 1 }, tags: unit1Tags }, sink, new Map());
    await waitFor('all tags read', () => unit1Tags.every((t) => sink.last('rtutcp', t.name)?.quality === 'good'));
    expectUnit1(sink, 'rtutcp');
  });

  it('reads two unit ids with RTU on a serial line (pty pair)', async () => {
    const pty = await ptyPair(dir.path, 'py');
    ptys.push(pty);
    // parity none: pyserial cannot set parity on a pty (EINVAL), node's serialport can
    procs.push(await startPymodbus({ serial: pty.a, baud: 19200, parity: 'N' }, { 1: unit1, 2: unit2 }));
    const sink = new MemorySink();
    const shared = new Map<string, unknown>();
    const serial = { path: pty.b, baudRate: 19200, parity: 'none' };
    start({ id: 'rtu1', interval: '200ms', connection: { serial, unitId: 1 }, tags: unit1Tags }, sink, shared);
    start({ id: 'rtu2', interval: '200ms', connection: { serial, unitId: 2 }, tags: [{ name: 'v', area: 'holding', address: 0 }] }, sink, shared);
    await waitFor('both units read', () => unit1Tags.every((t) => sink.last('rtu1', t.name)?.quality === 'good') && sink.last('rtu2', 'v')?.quality === 'good');
    expectUnit1(sink, 'rtu1');
    expect(sink.last('rtu2', 'v')!.value).toBe(99);
  });
});

describe('mbpoll reading the simulator', () => {
  let sim: ModbusSimulator;
  let port: number;
  let pty: PtyPair;

  beforeAll(async () => {
    sim = new ModbusSimulator([1, 2]);
    sim.setRegisters(1, 'holding', 0, [1234, 0xfff6, 0x42f6, 0xe979]);
    sim.setRegisters(2, 'holding', 10, [7, 8]);
    port = await freePort();
    await sim.startTcp(port);
    pty = await ptyPair(dir.path, 'mb');
    await sim.startSerial({ path: pty.a, baudRate: 19200, parity: 'even' });
  });

  afterAll(async () => {
    await sim.stop();
    await pty.stop();
  });

  /** the "[ref]: value" lines of mbpoll's output */
  const values = (out: string) => [...out.matchAll(/^\[(\d+)\]:\s+(\S+)/gm)].map((m) => [Number(m[1]), m[2]]);

  it('over TCP: 16-bit registers and a big-endian float', async () => {
    const a = await run('mbpoll', ['-m', 'tcp', '-p', String(port), '-a', '1', '-0', '-r', '0', '-c', '2', '-t', '4', '-1', '127.0.0.1'], { timeout: 10_000 });
    expect(values(a.stdout)).toEqual([
      [0, '1234'],
      [1, '65526'],
    ]); // mbpoll shows registers unsigned
    const f = await run('mbpoll', ['-m', 'tcp', '-p', String(port), '-a', '1', '-0', '-r', '2', '-c', '1', '-t', '4:float', '-B', '-1', '127.0.0.1'], {
      timeout: 10_000,
    });
    expect(values(f.stdout)).toEqual([[2, '123.456']]);
  });

  it('over RTU on the pty pair, unit 2', async () => {
    const r = await run('mbpoll', ['-m', 'rtu', '-b', '19200', '-P', 'even', '-a', '2', '-0', '-r', '10', '-c', '2', '-t', '4', '-1', pty.b], {
      timeout: 10_000,
    });
    expect(values(r.stdout)).toEqual([
      [10, '7'],
      [11, '8'],
    ]);
  });
});
