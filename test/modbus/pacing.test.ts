/**
 * Pacing with an injected ManualClock (no sleeping, no timing): delayAfterConnect holds the first
 * request until the clock passes it, interRequestDelay spaces the requests of a poll, closeAfterPoll
 * opens one TCP connection per poll, and the poll schedule follows the clock exactly.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModbusAdapter } from '../../adapters/modbus/index.js';
import { ModbusSimulator } from '../../adapters/modbus/simulator.js';
import { freePort } from '../helpers/net.js';
import { waitFor } from '../helpers/wait.js';
import { MemorySink } from '../helpers/sink.js';
import { makeCtx, modbusDevice } from './support.js';
import { ManualClock } from '../helpers/manual-clock.js';

let sim: ModbusSimulator;
let port: number;
const adapters: ModbusAdapter[] = [];
let unit = 0;

beforeAll(async () => {
  sim = new ModbusSimulator([]);
  port = await freePort();
  await sim.startTcp(port);
});

afterEach(async () => {
  await Promise.all(adapters.splice(0).map((a) => a.stop()));
});

afterAll(async () => {
  await sim.stop();
});

/** a fresh unit id per test, so the simulator's per-unit counters start at zero */
function freshUnit(): number {
  unit++;
  sim.addUnit(unit);
  return unit;
}

function start(device: Record<string, unknown>, clock: ManualClock, sink = new MemorySink()): { a: ModbusAdapter; sink: MemorySink } {
  const ctx = { ...makeCtx(sink), clock };
  const a = new ModbusAdapter(modbusDevice(device), ctx);
  adapters.push(a);
  void a.start();
  return { a, sink };
}

const reads = (u: number) => sim.reads.get(u) ?? 0;
/** lets real I/O settle for a moment (used only before asserting that nothing more happened) */
const settle = () => new Promise((r) => setTimeout(r, 150));

describe('modbus pacing (manual clock)', () => {
  it('holds the first request for delayAfterConnect', async () => {
    const u = freshUnit();
    const clock = new ManualClock();
    const conns = sim.connections;
    start(
      {
        id: 'dac',
        interval: '10s',
        delayAfterConnect: '2s',
        connection: { host: '127.0.0.1', port, unitId: u },
        tags: [{ name: 'v', area: 'holding', address: 0 }],
      },
      clock,
    );
    await waitFor('the connection', () => sim.connections > conns);
    await settle();
    expect(reads(u)).toBe(0);
    await clock.advance(1999);
    await settle();
    expect(reads(u)).toBe(0);
    await clock.advance(1);
    await waitFor('the first request', () => reads(u) === 1);
  });

  it('spaces the requests of a poll by interRequestDelay', async () => {
    const u = freshUnit();
    const clock = new ManualClock();
    start(
      {
        id: 'ird',
        interval: '10s',
        maxGap: 0,
        interRequestDelay: '500ms',
        connection: { host: '127.0.0.1', port, unitId: u },
        tags: [
          { name: 'a', area: 'holding', address: 0 },
          { name: 'b', area: 'holding', address: 5 },
          { name: 'c', area: 'holding', address: 10 },
        ],
      },
      clock,
    );
    await waitFor('the first request', () => reads(u) === 1);
    await settle();
    expect(reads(u)).toBe(1);
    await clock.advance(500);
    await waitFor('the second request', () => reads(u) === 2);
    await settle();
    expect(reads(u)).toBe(2);
    await clock.advance(500);
    await waitFor('the third request', () => reads(u) === 3);
  });

  it('polls once per interval of the clock and opens one connection per poll with closeAfterPoll', async () => {
    const u = freshUnit();
    const clock = new ManualClock();
    const conns = sim.connections;
    const { a, sink } = start(
      {
        id: 'cap',
        interval: '1s',
        closeAfterPoll: true,
        connection: { host: '127.0.0.1', port, unitId: u },
        tags: [{ name: 'v', area: 'holding', address: 0 }],
      },
      clock,
    );
    await waitFor('poll 1', () => a.polls === 1);
    for (let p = 2; p <= 4; p++) {
      await clock.advance(1000);
      await waitFor(`poll ${p}`, () => a.polls === p);
    }
    await settle();
    expect(a.polls).toBe(4);
    expect(reads(u)).toBe(4);
    expect(sink.good('cap', 'v')).toBe(4);
    expect(sim.connections - conns).toBe(4);
  });
});
