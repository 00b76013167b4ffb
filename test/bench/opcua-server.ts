/**
 * Benchmark OPC UA server in its own process: an OpcuaSimulator (node-opcua) with `devices` ×
 * `items` Double variables "Dev<d>.T<i>". Controlled over IPC:
 *   { op: 'start', intervalMs } → every intervalMs sets every variable to the tick number, with the
 *                                tick's time as source timestamp
 *   { op: 'stop' }             → stops and replies { ticks, changes, firstTs, lastTs }
 * Prints `BENCH_READY {"endpoint": ...}` when listening.
 */
import { parseArgs } from 'node:util';
import { OpcuaSimulator, type SimVariable } from '../../adapters/opcua/simulator.js';

const { values } = parseArgs({ options: { devices: { type: 'string', default: '10' }, items: { type: 'string', default: '1000' } } });
const devices = Number(values.devices);
const items = Number(values.items);
const ids: string[] = [];
for (let d = 0; d < devices; d++) for (let i = 0; i < items; i++) ids.push(`Dev${d}.T${i}`);
const variables: SimVariable[] = ids.map((id) => ({ id, dataType: 'Double', value: 0, writable: false }));
const sim = await OpcuaSimulator.start({ machine: null, variables, securityModes: ['None'], securityPolicies: ['None'] });

let timer: NodeJS.Timeout | undefined;
let ticks = 0;
let changes = 0;
let firstTs = 0;
let lastTs = 0;
process.on('message', (m: { op: string; intervalMs?: number }) => {
  if (m.op === 'start') {
    const interval = m.intervalMs ?? 1000;
    const t0 = Date.now();
    const tick = () => {
      ticks++;
      const ts = t0 + ticks * interval;
      if (!firstTs) firstTs = ts;
      lastTs = ts;
      for (const id of ids) sim.set(id, ticks, { sourceTimestamp: ts });
      changes += ids.length;
      timer = setTimeout(tick, Math.max(0, t0 + (ticks + 1) * interval - Date.now()));
    };
    timer = setTimeout(tick, Math.max(0, t0 + interval - Date.now()));
  } else if (m.op === 'stop') {
    clearTimeout(timer);
    process.send?.({ ticks, changes, firstTs, lastTs });
  }
});
process.on('SIGTERM', () => {
  void sim.stop().finally(() => process.exit(0));
});
process.stdout.write(`BENCH_READY ${JSON.stringify({ endpoint: sim.endpoint })}\n`);
