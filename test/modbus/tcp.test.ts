/**
 * End to end over Modbus TCP against the modbus-serial TCP server (the simulator), into an
 * in-memory sink: decoded values and kinds, several unit ids on one shared line, exception answers
 * as per-tag quality, writes with each function code, recovery after the device restarts, and the
 * debug log showing raw hex beside decoded values.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModbusAdapter } from '../../adapters/modbus/index.js';
import { ModbusSimulator } from '../../adapters/modbus/simulator.js';
import { isGatewayError } from '../../config/errors.js';
import { freePort } from '../helpers/net.js';
import { waitFor } from '../helpers/wait.js';
import { MemorySink } from '../helpers/sink.js';
import { captureLog, type LogCapture } from '../helpers/log.js';
import { makeCtx, modbusDevice } from './support.js';

let sim: ModbusSimulator;
let port: number;
const adapters: ModbusAdapter[] = [];

function start(device: Record<string, unknown>, sink: MemorySink, shared = new Map<string, unknown>(), ctxLog?: LogCapture): ModbusAdapter {
  const a = new ModbusAdapter(modbusDevice(device), makeCtx(sink, shared, ctxLog?.log));
  adapters.push(a);
  void a.start();
  return a;
}

const pressTags = [
  { name: 'state', role: 'state', area: 'holding', address: 0, type: 'uint16' },
  { name: 'strokes', role: 'counter', area: 'holding', address: 1, type: 'uint32', byteOrder: 'ABCD' },
  { name: 'tonnage', role: 'parameter', area: 'holding', address: 3, type: 'float32', byteOrder: 'CDAB', unit: 'kN' },
  { name: 'oil_temp', role: 'parameter', area: 'input', address: 0, type: 'int16', scale: 0.1, unit: '°C' },
  { name: 'door_open', role: 'alarm', area: 'discrete', address: 0, type: 'bool' },
  { name: 'lube_ok', role: 'quality', area: 'holding', address: 5, type: 'bool', bit: 3 },
];

beforeAll(async () => {
  port = await freePort();
  sim = new ModbusSimulator([1, 2]);
  // unit 1: the press of config/gateway.yaml, registers written out by hand
  sim.setRegisters(1, 'holding', 0, [2, 0x0001, 0xe240, 0x0000, 0x444b, 0x0008]); // state 2, strokes 123456, tonnage 812.0 (CDAB), lube bit 3
  sim.setRegisters(1, 'input', 0, [0xfe3d]); // -451 → -45.1 °C
  sim.setBits(1, 'discrete', 0, [true]);
  // unit 2: a different machine behind the same TCP gateway
  sim.setRegisters(2, 'holding', 0, [7]);
  await sim.startTcp(port);
});

afterEach(async () => {
  await Promise.all(adapters.splice(0).map((a) => a.stop()));
  sim.clearFaults();
});

afterAll(async () => {
  await sim.stop();
});

describe('modbus over TCP (modbus-serial server)', () => {
  it('reads the config/gateway.yaml press tags with their values and kinds', async () => {
    const sink = new MemorySink();
    const a = start({ id: 'press-01', connection: { host: '127.0.0.1', port, unitId: 1, timeout: '1s' }, tags: pressTags }, sink);
    await waitFor('all six tags read', () =>
      ['state', 'strokes', 'tonnage', 'oil_temp', 'door_open', 'lube_ok'].every((t) => sink.last('press-01', t)?.quality === 'good'),
    );
    const v = (t: string) => sink.last('press-01', t)!;
    expect(v('state')).toMatchObject({ value: 2, kind: 'integer', quality: 'good' });
    expect(v('strokes')).toMatchObject({ value: 123456, kind: 'integer' });
    expect(v('tonnage')).toMatchObject({ value: 812, kind: 'float' });
    expect(v('oil_temp').kind).toBe('float');
    expect(v('oil_temp').value as number).toBeCloseTo(-45.1, 9);
    expect(v('door_open')).toMatchObject({ value: true, kind: 'boolean' });
    expect(v('lube_ok')).toMatchObject({ value: true, kind: 'boolean' });
    // three areas → three requests (holding 0-5 merged, input 0, discrete 0)
    expect(a.plan.map((r) => [r.fc, r.start, r.count])).toEqual([
      [2, 0, 1],
      [3, 0, 6],
      [4, 0, 1],
    ]);
    expect(a.status()).toMatchObject({ connected: true, bad: 0 });
    // one timestamp per poll, so downstream a poll is one point (one InfluxDB row)
    for (const b of sink.batches) expect(new Set(b.map((r) => r.ts)).size).toBe(1);
  });

  it('shares one line between two unit ids on one host:port, ref-counted', async () => {
    const sink = new MemorySink();
    const shared = new Map<string, unknown>();
    const conn = (unitId: number) => ({ host: '127.0.0.1', port, unitId, timeout: '1s' });
    const a1 = start({ id: 'u1', connection: conn(1), tags: [{ name: 'state', area: 'holding', address: 0 }] }, sink, shared);
    const a2 = start({ id: 'u2', connection: conn(2), tags: [{ name: 'state', area: 'holding', address: 0 }] }, sink, shared);
    await waitFor('both units read', () => sink.good('u1', 'state') >= 3 && sink.good('u2', 'state') >= 3);
    expect(sink.last('u1', 'state')!.value).toBe(2);
    expect(sink.last('u2', 'state')!.value).toBe(7);
    expect([...shared.keys()]).toEqual([`modbus:tcp:127.0.0.1:${port}`]);
    await a1.stop();
    expect(shared.size).toBe(1); // u2 still holds it
    await a2.stop();
    expect(shared.size).toBe(0);
  });

  it('gives the tags of a request answered with an exception bad quality with its code; the rest goes on', async () => {
    const sink = new MemorySink();
    sim.fault({ unit: 1, area: 'holding', from: 50, to: 59, kind: 'exception', code: 2 });
    start(
      {
        id: 'exc',
        maxGap: 0,
        connection: { host: '127.0.0.1', port, unitId: 1 },
        tags: [
          { name: 'state', area: 'holding', address: 0 },
          { name: 'missing', area: 'holding', address: 50, type: 'float32' },
          { name: 'temp', area: 'input', address: 0, type: 'int16' },
        ],
      },
      sink,
    );
    await waitFor('three polls', () => sink.of('exc', 'temp').length >= 3);
    for (const r of sink.of('exc', 'missing')) expect(r).toMatchObject({ quality: 'bad', value: null, error: 'MODBUS_EXC_2', kind: 'float' });
    for (const r of sink.of('exc', 'state')) expect(r).toMatchObject({ quality: 'good', value: 2 });
    for (const r of sink.of('exc', 'temp')) expect(r).toMatchObject({ quality: 'good', value: -451 });
  });

  it('a float register holding NaN or +Inf (0x7FC0 0x0000, 0x7F80 0x0000) is a bad reading NOT_FINITE, never a good value', async () => {
    const sink = new MemorySink();
    sim.setRegisters(2, 'holding', 60, [0x7fc0, 0x0000, 0x7f80, 0x0000, 0x4148, 0x0000]); // NaN, +Inf, 12.5
    start(
      {
        id: 'nan',
        connection: { host: '127.0.0.1', port, unitId: 2 },
        tags: [
          { name: 'nan', area: 'holding', address: 60, type: 'float32' },
          { name: 'inf', area: 'holding', address: 62, type: 'float32' },
          { name: 'ok', area: 'holding', address: 64, type: 'float32' },
        ],
      },
      sink,
    );
    await waitFor('two polls', () => sink.of('nan', 'ok').length >= 2);
    for (const tag of ['nan', 'inf']) for (const r of sink.of('nan', tag)) expect(r).toMatchObject({ quality: 'bad', value: null, error: 'NOT_FINITE' });
    for (const r of sink.of('nan', 'ok')) expect(r).toMatchObject({ quality: 'good', value: 12.5 });
  });

  it('writes with FC5, FC15, FC6, FC16 and a register bit (read-modify-write), inverting scale', async () => {
    const sink = new MemorySink();
    const a = start(
      {
        id: 'w',
        interval: '1s',
        connection: { host: '127.0.0.1', port, unitId: 2 },
        tags: [
          { name: 'speed', area: 'holding', address: 10, type: 'uint16', writable: true },
          { name: 'setpoint', area: 'holding', address: 11, type: 'float32', byteOrder: 'CDAB', writable: true },
          { name: 'limit', area: 'holding', address: 13, type: 'int16', scale: 0.1, writable: true, writeFunction: 16 },
          { name: 'flag', area: 'holding', address: 14, type: 'bool', bit: 4, writable: true },
          { name: 'run', area: 'coil', address: 3, writable: true },
          { name: 'jog', area: 'coil', address: 4, writable: true, writeFunction: 15 },
          { name: 'temp', area: 'input', address: 0 },
        ],
      },
      sink,
    );
    sim.setRegisters(2, 'holding', 14, [0x0101]);
    await a.write('speed', 1500);
    await a.write('setpoint', -1.5);
    await a.write('limit', 12.3);
    await a.write('flag', true);
    await a.write('run', true);
    await a.write('jog', true);
    expect(sim.getRegisters(2, 'holding', 10, 5)).toEqual([1500, 0x0000, 0xbfc0, 123, 0x0111]);
    expect(sim.getBit(2, 'coil', 3)).toBe(true);
    expect(sim.getBit(2, 'coil', 4)).toBe(true);
    await a.write('flag', false);
    expect(sim.getRegisters(2, 'holding', 14, 1)).toEqual([0x0101]);

    const codeOf = async (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        (e: unknown) => (isGatewayError(e) ? e.code : String(e)),
      );
    expect(await codeOf(a.write('speed', 70000))).toBe('GW_ERR_WRITE_TYPE');
    expect(await codeOf(a.write('run', 'yes'))).toBe('GW_ERR_WRITE_TYPE');
    expect(await codeOf(a.write('temp', 1))).toBe('GW_ERR_WRITE_UNSUPPORTED');
    expect(await codeOf(a.write('nope', 1))).toBe('GW_ERR_TAG_UNKNOWN');
    sim.fault({ unit: 2, area: 'holding', from: 10, to: 10, kind: 'exception', code: 3 });
    expect(await codeOf(a.write('speed', 1))).toBe('GW_ERR_WRITE_FAILED');
  });

  it('recovers by itself when the device restarts mid-run, without restarting the adapter', async () => {
    const rport = await freePort();
    const dev = new ModbusSimulator([1]);
    dev.setRegisters(1, 'holding', 0, [11]);
    await dev.startTcp(rport);
    const sink = new MemorySink();
    const a = start(
      { id: 'restart', connection: { host: '127.0.0.1', port: rport, unitId: 1, timeout: '300ms' }, tags: [{ name: 'v', area: 'holding', address: 0 }] },
      sink,
    );
    await waitFor('first value', () => sink.last('restart', 'v')?.value === 11);

    await dev.stop(); // the device goes away (its sockets are destroyed)
    await waitFor('a bad reading for the outage', () => sink.of('restart', 'v').some((r) => r.quality === 'bad'));
    await waitFor('status shows the device down', () => a.status().connected === false);
    const badDuringOutage = sink.of('restart', 'v').filter((r) => r.quality === 'bad');
    expect(['CONNECTION_CLOSED', 'NOT_CONNECTED']).toContain(badDuringOutage[0]!.error);

    const back = new ModbusSimulator([1]);
    back.setRegisters(1, 'holding', 0, [22]);
    await back.startTcp(rport);
    try {
      await waitFor('the value after the restart', () => sink.last('restart', 'v')?.value === 22, { timeoutMs: 30_000 });
      expect(a.status().connected).toBe(true);
      // one batch marks the outage, not one per poll while it lasted
      expect(sink.of('restart', 'v').filter((r) => r.quality === 'bad' && r.error === 'NOT_CONNECTED').length).toBeLessThanOrEqual(1);
      // status counts what was written, no more
      expect(a.status().bad).toBe(sink.of('restart', 'v').filter((r) => r.quality === 'bad').length);
    } finally {
      await a.stop();
      await back.stop();
    }
  });

  it('demotes a device that goes silent and restores its interval when it answers again', async () => {
    const sink = new MemorySink();
    const a = start(
      {
        id: 'quiet',
        interval: '100ms',
        demoteAfter: 2,
        demotedMaxInterval: '400ms',
        connection: { host: '127.0.0.1', port, unitId: 2, timeout: '150ms' },
        tags: [{ name: 'v', area: 'holding', address: 0 }],
      },
      sink,
    );
    await waitFor('a good reading', () => sink.last('quiet', 'v')?.value === 7);
    const removeFault = sim.fault({ unit: 2, kind: 'silent' });
    await waitFor('demoted', () => a.status().demoted === true);
    expect(sink.last('quiet', 'v')).toMatchObject({ quality: 'bad', error: 'TIMEOUT' });
    removeFault();
    await waitFor('good again and no longer demoted', () => sink.last('quiet', 'v')?.quality === 'good' && a.status().demoted === false);
    expect(a.status().connected).toBe(true);
  });

  it('logs the plan once and shows raw hex beside decoded values at debug level', async () => {
    const sink = new MemorySink();
    const cap = captureLog();
    sim.setRegisters(1, 'holding', 30, [0xe979, 0x42f6]);
    start(
      {
        id: 'dbg',
        connection: { host: '127.0.0.1', port, unitId: 1 },
        tags: [{ name: 'f', area: 'holding', address: 30, type: 'float32', byteOrder: 'CDAB' }],
      },
      sink,
      new Map(),
      cap,
    );
    await waitFor('three polls', () => sink.good('dbg', 'f') >= 3);
    expect(cap.lines.filter((l) => String(l.msg).startsWith('modbus read plan')).length).toBe(1);
    const read = cap.lines.find((l) => l.msg === 'modbus read');
    expect(read).toMatchObject({ fc: 3, start: 30, count: 2, raw: 'e979 42f6' });
    expect((read!.values as Record<string, number>).f).toBeCloseTo(123.456, 4);
  });

  it('never overlaps polls: a cycle longer than the interval skips ticks', async () => {
    const sink = new MemorySink();
    // 3 requests, each after a 60 ms pause: a cycle takes > 150 ms, the interval is 50 ms
    const a = start(
      {
        id: 'slow',
        interval: '50ms',
        maxGap: 0,
        interRequestDelay: '60ms',
        connection: { host: '127.0.0.1', port, unitId: 1 },
        tags: [
          { name: 'a', area: 'holding', address: 0 },
          { name: 'b', area: 'holding', address: 2 },
          { name: 'c', area: 'holding', address: 4 },
        ],
      },
      sink,
    );
    await waitFor('four polls', () => sink.batches.length >= 4);
    expect(a.skippedTicks).toBeGreaterThan(0);
    // each batch is one whole cycle, in plan order: cycles did not interleave
    for (const b of sink.batches) expect(b.map((r) => r.tag)).toEqual(['a', 'b', 'c']);
  });
});
