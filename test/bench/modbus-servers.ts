/**
 * Benchmark Modbus devices in their own process: one ModbusSimulator (modbus-serial ServerTCP,
 * unit 1) per port, holding registers 0..`registers`-1 filled with values. Controlled over IPC:
 *   { op: 'set', index, address, value }  → sets a holding register of device `index`
 *   { op: 'reads' }                       → replies { reads } (requests served by all devices)
 * Prints `BENCH_READY {}` when every server listens.
 *
 *   node dist-bench/test/bench/modbus-servers.js --ports 5020,5021,... --registers 100
 */
import { parseArgs } from 'node:util';
import { ModbusSimulator } from '../../adapters/modbus/simulator.js';

const { values } = parseArgs({ options: { ports: { type: 'string' }, registers: { type: 'string', default: '100' } } });
const ports = (values.ports ?? '').split(',').filter(Boolean).map(Number);
const registers = Number(values.registers);
const sims: ModbusSimulator[] = [];
for (const [i, port] of ports.entries()) {
  const sim = new ModbusSimulator([1]);
  sim.setRegisters(1, 'holding', 0, Array.from({ length: registers }, (_, r) => (i * 131 + r * 17) & 0x7fff));
  await sim.startTcp(port);
  sims.push(sim);
}
process.on('message', (m: { op: string; index?: number; address?: number; value?: number; id?: number }) => {
  if (m.op === 'set') sims[m.index!]?.setRegisters(1, 'holding', m.address!, [m.value!]);
  else if (m.op === 'reads') {
    let reads = 0;
    for (const s of sims) reads += s.reads.get(1) ?? 0;
    process.send?.({ id: m.id, reads, at: Date.now() });
  }
});
process.on('SIGTERM', () => {
  void Promise.all(sims.map((s) => s.stop())).finally(() => process.exit(0));
});
process.stdout.write('BENCH_READY {}\n');
