/**
 * `npm run bench [-- <scenario>...] [--quick] [--duration <s|1h|10m>] [--out <dir>] [--profile] [--pairs <n>] [--workloads a,b,c]`
 *
 * Runs each scenario against real servers on loopback (one influxd for the run; Mosquitto, Modbus
 * and OPC UA servers per scenario), measures each scenario's limit in the same run, and writes
 * `<out>/latest.json`, `<out>/latest.md` and dated copies. Default out: test/bench/results.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from '../../config/common.js';
import { startInflux } from '../helpers/influx.js';
import { tempDir } from '../helpers/tmp.js';
import type { BenchContext, Scenario } from './context.js';
import { ROOT, loadAvg, machineInfo, type ScenarioResult } from './lib.js';
import { toMarkdown } from './report.js';
import { backlog, ingest, scale, soak } from './scenarios/ingest.js';
import { latency, modbus } from './scenarios/modbus.js';
import { mqttScenario } from './scenarios/mqtt.js';
import { opcua } from './scenarios/opcua.js';
import { verifyScenario } from './scenarios/verify.js';
import { hubScenario } from './scenarios/hub.js';
import { northScenario } from './scenarios/north.js';
import { noderedScenario } from './scenarios/nodered.js';

export const SCENARIOS: Scenario[] = [
  ingest,
  mqttScenario,
  modbus,
  opcua,
  backlog,
  latency,
  scale,
  soak,
  verifyScenario,
  hubScenario,
  northScenario,
  noderedScenario,
];

export interface BenchReport {
  date: string;
  machine: ReturnType<typeof machineInfo>;
  loadAverage: { start: number[]; end: number[] };
  quick: boolean;
  command: string;
  scenarios: ScenarioResult[];
}

/** `--duration 90` (seconds) or with a unit: `--duration 1h`, `10m`, `30s` */
function benchDuration(text: string): number {
  const ms = /^\d+(\.\d+)?$/.test(text) ? Number(text) * 1000 : parseDuration(text);
  if (ms === undefined || !(ms > 0)) throw new Error(`--duration ${text}: expected seconds or a duration such as 1h, 10m, 30s`);
  return ms;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      out: { type: 'string' },
      profile: { type: 'boolean', default: false },
      pairs: { type: 'string' },
      workloads: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(
      `npm run bench -- [scenario...] [--quick] [--duration <s|1h|10m>] [--out <dir>] [--profile] [--pairs <n>] [--workloads a,b,c]\nscenarios: ${SCENARIOS.map((s) => `${s.name}${s.default ? '' : ' (not default)'}`).join(', ')}\n`,
    );
    return 0;
  }
  const unknown = positionals.filter((p) => !SCENARIOS.some((s) => s.name === p));
  if (unknown.length) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}\n`);
    return 2;
  }
  const chosen = positionals.length ? SCENARIOS.filter((s) => positionals.includes(s.name)) : SCENARIOS.filter((s) => s.default);
  const out = values.out ?? join(ROOT, 'test', 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const log = (m: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
  const report: BenchReport = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    loadAverage: { start: loadAvg(), end: [] },
    quick: values.quick ?? false,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    scenarios: [],
  };
  log(
    `machine: ${report.machine.cores} cores, ${report.machine.cpuModel}, Node ${report.machine.node}, ${report.machine.influxdb}; load ${report.loadAverage.start.join(' ')}`,
  );
  const influx = await startInflux();
  let failed = 0;
  try {
    for (const s of chosen) {
      const dir = tempDir(`fgw-bench-${s.name}-`);
      const ctx: BenchContext = { influx, dir: dir.path, quick: report.quick, log };
      if (values.duration !== undefined) ctx.durationMs = benchDuration(values.duration);
      if (values.profile) ctx.profileDir = join(out, 'profiles');
      if (values.pairs !== undefined) {
        const n = Number(values.pairs);
        if (!Number.isInteger(n) || n < 1) throw new Error(`--pairs ${values.pairs}: expected a whole number ≥ 1`);
        ctx.pairs = n;
      }
      if (values.workloads !== undefined) ctx.workloads = values.workloads;
      log(`== ${s.name}: ${s.title}`);
      const t0 = Date.now();
      try {
        const r = await s.run(ctx);
        report.scenarios.push(r);
      } catch (e) {
        failed++;
        log(`${s.name} failed: ${(e as Error).stack ?? e}`);
        report.scenarios.push({
          name: s.name,
          title: s.title,
          windowS: 0,
          params: {},
          metrics: [],
          notes: [],
          error: String((e as Error).message ?? e).slice(0, 2000),
        });
      } finally {
        dir.cleanup();
      }
      log(`== ${s.name} took ${Math.round((Date.now() - t0) / 1000)} s`);
    }
  } finally {
    await influx.cleanup();
  }
  report.loadAverage.end = loadAvg();
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const md = toMarkdown(report);
  const stamp = report.date.slice(0, 19).replace(/[:]/g, '-');
  const suffix = positionals.length ? `-${positionals.join('+')}` : '';
  writeFileSync(join(out, 'latest.json'), json);
  writeFileSync(join(out, 'latest.md'), md);
  writeFileSync(join(out, `bench-${stamp}${suffix}${report.quick ? '-quick' : ''}.json`), json);
  writeFileSync(join(out, `bench-${stamp}${suffix}${report.quick ? '-quick' : ''}.md`), md);
  process.stdout.write(md);
  log(`wrote ${join(out, 'latest.json')} and latest.md`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
