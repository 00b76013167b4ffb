/**
 * Modbus into the real embedded store (ingest/store/, SQLite): a known number of polls gives
 * exactly that many rows per tag, with the configured field kinds, and an exception's code kept on
 * the bad rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModbusAdapter } from '../../adapters/modbus/index.js';
import { ModbusSimulator } from '../../adapters/modbus/simulator.js';
import { openStore } from '../../ingest/store/index.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { makeCtx, modbusDevice } from './support.js';

let sim: ModbusSimulator;
let port: number;
let dir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  sim = new ModbusSimulator([1]);
  sim.setRegisters(1, 'holding', 0, [2, 0x0001, 0xe240, 0x0000, 0x444b]); // state 2, strokes 123456, tonnage 812 (CDAB)
  sim.setRegisters(1, 'input', 0, [453]); // oil 45.3 °C
  sim.fault({ unit: 1, area: 'holding', from: 200, to: 200, kind: 'exception', code: 2 });
  port = await freePort();
  await sim.startTcp(port);
  dir = tempDir('fgw-mbstore-');
});

afterAll(async () => {
  await sim.stop();
  dir.cleanup();
});

describe('modbus into the embedded store', () => {
  it('stores exactly one row per tag per poll, with kinds fixed by config and exception codes', async () => {
    const store = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 14 * 86_400_000, limitsIntervalMs: 0 });
    // a one-hour interval: the loop polls once at start; the test drives the other polls itself
    const a = new ModbusAdapter(
      modbusDevice({
        id: 'press-01',
        interval: '1h',
        connection: { host: '127.0.0.1', port, unitId: 1 },
        tags: [
          { name: 'state', area: 'holding', address: 0, type: 'uint16' },
          { name: 'strokes', area: 'holding', address: 1, type: 'uint32' },
          { name: 'tonnage', area: 'holding', address: 3, type: 'float32', byteOrder: 'CDAB' },
          { name: 'oil_temp', area: 'input', address: 0, type: 'int16', scale: 0.1 },
          { name: 'missing', area: 'holding', address: 200, type: 'uint16' },
        ],
      }),
      makeCtx(store),
    );
    await a.start();
    await waitFor('the first poll', () => a.polls === 1);
    for (let i = 0; i < 4; i++) await a.pollOnce();
    await a.stop();
    await store.close();

    const again = openStore({ path: dir.path, maxSizeBytes: 1024 ** 3, retentionMs: 14 * 86_400_000, limitsIntervalMs: 0 });
    try {
      const rows = again.query({ device: 'press-01' });
      const byTag = (t: string) => rows.filter((r) => r.tag === t);
      for (const t of ['state', 'strokes', 'tonnage', 'oil_temp', 'missing']) expect(byTag(t)).toHaveLength(5);
      expect(byTag('state').every((r) => r.value === 2 && r.kind === 'integer' && r.quality === 'good')).toBe(true);
      expect(byTag('strokes').every((r) => r.value === 123456 && r.kind === 'integer')).toBe(true);
      expect(byTag('tonnage').every((r) => r.value === 812 && r.kind === 'float')).toBe(true);
      expect(byTag('oil_temp').every((r) => Math.abs((r.value as number) - 45.3) < 1e-9 && r.kind === 'float')).toBe(true);
      expect(byTag('missing').every((r) => r.value === null && r.quality === 'bad' && r.error === 'MODBUS_EXC_2' && r.kind === 'integer')).toBe(true);
    } finally {
      await again.close();
    }
  });
});
