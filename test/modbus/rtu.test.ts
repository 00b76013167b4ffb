/**
 * RTU on a serial line: the modbus-serial serial server on one end of a socat pty pair, the adapter
 * on the other. Two unit ids share the line (one line object); a dead unit on the line is demoted
 * so the live unit keeps at least half the poll rate of a device on a healthy serial line of its own
 * (a second socat pair and server, so both lines pay the same pty latency on a loaded machine).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModbusAdapter } from '../../adapters/modbus/index.js';
import { ModbusSimulator } from '../../adapters/modbus/simulator.js';
import { type PtyPair, ptyPair } from '../helpers/socat.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { MemorySink } from '../helpers/sink.js';
import { makeCtx, modbusDevice } from './support.js';

let dir: ReturnType<typeof tempDir>;
let pty: PtyPair;
let sim: ModbusSimulator;
let refPty: PtyPair;
let refSim: ModbusSimulator;
const adapters: ModbusAdapter[] = [];

const serial = () => ({ path: pty.b, baudRate: 19200, parity: 'even', dataBits: 8, stopBits: 1 });

function start(device: Record<string, unknown>, sink: MemorySink, shared: Map<string, unknown>): ModbusAdapter {
  const a = new ModbusAdapter(modbusDevice(device), makeCtx(sink, shared));
  adapters.push(a);
  void a.start();
  return a;
}

beforeAll(async () => {
  dir = tempDir('fgw-rtu-');
  pty = await ptyPair(dir.path);
  sim = new ModbusSimulator([1, 7]);
  // unit 7: the welder of config/gateway.yaml
  sim.setRegisters(7, 'holding', 100, [3, 0x86a0, 0x0001]); // state 3, welds 100000 in CDAB
  sim.setRegisters(7, 'holding', 110, [0x5052, 0x472d, 0x3030, 0x3432, 0, 0, 0, 0]); // "PRG-0042"
  sim.setRegisters(1, 'holding', 0, [42]);
  await sim.startSerial({ path: pty.a, baudRate: 19200, parity: 'even' });
  // the healthy reference line: same settings, its own pty pair and server
  refPty = await ptyPair(dir.path, 'ref');
  refSim = new ModbusSimulator([1]);
  refSim.setRegisters(1, 'holding', 0, [42]);
  await refSim.startSerial({ path: refPty.a, baudRate: 19200, parity: 'even' });
});

afterEach(async () => {
  await Promise.all(adapters.splice(0).map((a) => a.stop()));
});

afterAll(async () => {
  await sim.stop();
  await refSim?.stop();
  await pty.stop();
  await refPty?.stop();
  dir.cleanup();
});

describe('modbus RTU over a serial line (socat pty pair)', () => {
  it('reads two unit ids over one shared line', async () => {
    const sink = new MemorySink();
    const shared = new Map<string, unknown>();
    start(
      {
        id: 'welder-02',
        interval: '200ms',
        connection: { serial: serial(), unitId: 7, timeout: '500ms' },
        tags: [
          { name: 'state', role: 'state', area: 'holding', address: 100, type: 'uint16' },
          { name: 'welds', role: 'counter', area: 'holding', address: 101, type: 'uint32', byteOrder: 'CDAB' },
          { name: 'program', role: 'parameter', area: 'holding', address: 110, type: 'string', length: 8 },
        ],
      },
      sink,
      shared,
    );
    start(
      { id: 'other', interval: '200ms', connection: { serial: serial(), unitId: 1, timeout: '500ms' }, tags: [{ name: 'v', area: 'holding', address: 0 }] },
      sink,
      shared,
    );
    await waitFor('both units read three times', () => sink.good('welder-02', 'program') >= 3 && sink.good('other', 'v') >= 3);
    expect(sink.last('welder-02', 'state')).toMatchObject({ value: 3, kind: 'integer' });
    expect(sink.last('welder-02', 'welds')).toMatchObject({ value: 100000, kind: 'integer' });
    expect(sink.last('welder-02', 'program')).toMatchObject({ value: 'PRG-0042', kind: 'string' });
    expect(sink.last('other', 'v')!.value).toBe(42);
    expect([...shared.keys()]).toEqual([`modbus:serial:${pty.b}`]);
    expect(sink.readings.every((r) => r.quality === 'good')).toBe(true);
  });

  it('keeps the live unit polling at least half as often as a healthy line while a dead unit shares its line', async () => {
    const sink = new MemorySink();
    const shared = new Map<string, unknown>();
    const tags = [{ name: 'v', area: 'holding', address: 0 }];
    const live = start({ id: 'live', interval: '100ms', connection: { serial: serial(), unitId: 1, timeout: '1s' }, tags }, sink, shared);
    // unit 9 does not exist on the line: every request to it times out
    // each request to it holds the line for 500 ms: undemoted, it would take most of the line's time
    const dead = start(
      { id: 'dead', interval: '100ms', demotedMaxInterval: '5s', connection: { serial: serial(), unitId: 9, timeout: '500ms' }, tags },
      sink,
      shared,
    );
    start({ id: 'ref', interval: '100ms', connection: { serial: { ...serial(), path: refPty.b }, unitId: 1, timeout: '1s' }, tags }, sink, new Map());

    await waitFor('the dead unit demoted', () => dead.status().demoted === true);
    // let the demotion backoff grow past its first short steps, then count polls over one window
    await waitFor('six timed-out polls of the dead unit', () => sink.of('dead', 'v').length >= 6, { timeoutMs: 30_000 });
    const live0 = sink.good('live', 'v');
    const ref0 = sink.good('ref', 'v');
    await waitFor('30 more polls on the healthy line', () => sink.good('ref', 'v') - ref0 >= 30, { timeoutMs: 30_000 });
    const livePolls = sink.good('live', 'v') - live0;
    const refPolls = sink.good('ref', 'v') - ref0;
    expect(livePolls * 2).toBeGreaterThanOrEqual(refPolls);
    for (const r of sink.of('dead', 'v')) expect(r).toMatchObject({ quality: 'bad', error: 'TIMEOUT' });
    expect(live.status(), JSON.stringify(sink.of('live', 'v').filter((r) => r.quality === 'bad'))).toMatchObject({ connected: true, bad: 0 });
    expect(dead.status()).toMatchObject({ demoted: true, connected: false });
  });
});
