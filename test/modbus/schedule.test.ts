/**
 * Polls on their tick, against real Modbus TCP servers (modbus-serial's ServerTCP, not our
 * simulator): a device that answers slowly has its ticks counted as skipped (in its status, as the
 * API and /metrics show them) while a healthy device beside it in the same process keeps every
 * tick; and a store that takes long to commit does not hold the next poll back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ModbusAdapter } from '../../adapters/modbus/index.js';
import { freePort } from '../helpers/net.js';
import { serveRegisters, type TestModbusServer } from '../helpers/modbus-server.js';
import { waitFor } from '../helpers/wait.js';
import { MemorySink } from '../helpers/sink.js';
import { makeCtx, modbusDevice } from './support.js';

const servers: TestModbusServer[] = [];
const adapters: ModbusAdapter[] = [];

afterEach(async () => {
  await Promise.all(adapters.splice(0).map((a) => a.stop()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function device(id: string, interval: string, answer: (addr: number) => number | Promise<number>, sink: MemorySink): Promise<ModbusAdapter> {
  const port = await freePort();
  servers.push(await serveRegisters(port, answer));
  const a = new ModbusAdapter(
    modbusDevice({ id, interval, connection: { host: '127.0.0.1', port, unitId: 1, timeout: '2s' }, tags: [{ name: 'v', area: 'holding', address: 0 }] }),
    makeCtx(sink),
  );
  adapters.push(a);
  await a.start();
  return a;
}

describe('modbus polls on their tick', () => {
  it('counts the ticks of a slowly answering device as skipped while a healthy device keeps every tick', async () => {
    const sink = new MemorySink();
    // the slow device answers each request after 700 ms: at a 200 ms interval, each poll spans the
    // ticks 200, 400 and 600 ms after its own, so 3 ticks are skipped per poll (the next starts at +800)
    const slow = await device('slow', '200ms', () => new Promise<number>((r) => setTimeout(() => r(7), 700)), sink);
    const fast = await device('fast', '200ms', () => 42, sink);
    await waitFor('three polls of the slow device', () => slow.polls >= 3, { timeoutMs: 20_000 });
    const st = slow.status();
    expect(st.pollsSkipped).toBe(slow.skippedTicks);
    // each completed poll of the slow device skipped its 3 ticks (more if the machine is slow)
    expect(slow.skippedTicks).toBeGreaterThanOrEqual(3 * 3);
    expect(sink.good('slow', 'v')).toBeGreaterThanOrEqual(3);
    // the healthy device lost no tick meanwhile: no skip, no late start
    expect(fast.status()).toMatchObject({ pollsSkipped: 0, pollsLate: 0 });
    expect(fast.polls).toBeGreaterThanOrEqual(10);
    expect(sink.of('fast', 'v').every((r) => r.value === 42 && r.quality === 'good')).toBe(true);
  });

  it('does not wait for the store to commit a poll before starting the next one', async () => {
    // each commit takes 450 ms, more than two intervals: were the poll to await it, every poll would skip two ticks
    const sink = new MemorySink({ commitMs: 450 });
    const a = await device('busy-store', '200ms', () => 5, sink);
    await waitFor('eight polls', () => a.polls >= 8, { timeoutMs: 20_000 });
    expect(a.status()).toMatchObject({ pollsSkipped: 0 });
    // the readings are committed 450 ms after their poll
    await waitFor('eight commits', () => sink.good('busy-store', 'v') >= 8);
  });
});
