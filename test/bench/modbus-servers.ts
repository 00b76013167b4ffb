/**
 * Benchmark Modbus devices in their own process: one ModbusSimulator (modbus-serial ServerTCP,
 * unit 1) per port, holding registers 0..`registers`-1 filled with values. Controlled over IPC:
 *   { op: 'set', index, address, value }  → sets a holding register of device `index`
 *   { op: 'reads' }                       → replies { reads } (requests served by all devices)
 * Prints `BENCH_READY {}` when every server listens.
 *
 *   node dist-bench/test/bench/modbus-servers.js --ports 5020,5021,... --registers 100
 *
 * `--hosts 127.0.0.1,127.0.0.2,... --units 1,2,...`: device i listens on hosts[i] (one port for
 * all when --ports gives one) and answers as unit units[i], as devices on a plant network do.
 */
import { parseArgs } from 'node:util';
import { ModbusSimulator } from '../../adapters/modbus/simulator.js';

const { values } = parseArgs({
  options: { ports: { type: 'string' }, hosts: { type: 'string' }, units: { type: 'string' }, registers: { type: 'string', default: '100' } },
});
const list = (v: string | undefined) => (v ?? '').split(',').filter(Boolean);
const hosts = list(values.hosts);
const units = list(values.units).map(Number);
const ports = list(values.ports).map(Number);
const count = Math.max(ports.length, hosts.length);
const registers = Number(values.registers);
const sims: ModbusSimulator[] = [];
for (let i = 0; i < count; i++) {
  const unit = units[i] ?? 1;
  const sim = new ModbusSimulator([unit]);
  sim.setRegisters(
    unit,
    'holding',
    0,
    Array.from({ length: registers }, (_, r) => (i * 131 + r * 17) & 0x7fff),
  );
  await sim.startTcp(ports.length === 1 ? ports[0]! : ports[i]!, hosts[i] ?? '127.0.0.1');
  sims.push(sim);
}
const unitOf = (index: number) => units[index] ?? 1;
process.on('message', (m: { op: string; index?: number; address?: number; value?: number; id?: number }) => {
  if (m.op === 'set') sims[m.index!]?.setRegisters(unitOf(m.index!), 'holding', m.address!, [m.value!]);
  else if (m.op === 'reads') {
    let reads = 0;
    for (const [i, s] of sims.entries()) reads += s.reads.get(unitOf(i)) ?? 0;
    process.send?.({ id: m.id, reads, at: Date.now() });
  }
});
process.on('SIGTERM', () => {
  void Promise.all(sims.map((s) => s.stop())).finally(() => process.exit(0));
});
process.stdout.write('BENCH_READY {}\n');
