/** What every scenario gets from the runner. */
import type { TestInflux } from '../helpers/influx.js';
import type { ScenarioResult } from './lib.js';

export interface BenchContext {
  influx: TestInflux;
  /** a scratch directory for this scenario (configs, stores) */
  dir: string;
  /** short runs for the test suite (a couple of seconds per scenario) */
  quick: boolean;
  /** overrides each scenario's main window, ms */
  durationMs?: number;
  /** run gateway processes under `node --cpu-prof`, profiles written here */
  profileDir?: string;
  /** --pairs: alternating pairs of legs (the nodered scenario) */
  pairs?: number;
  /** --workloads: a comma list of workload letters (the nodered scenario) */
  workloads?: string;
  log(msg: string): void;
}

export interface Scenario {
  name: string;
  title: string;
  /** part of the default set (`npm run bench` without names) */
  default: boolean;
  run(ctx: BenchContext): Promise<ScenarioResult>;
}

/** The main window of a scenario: --duration, else quick or full. */
export function windowMs(ctx: BenchContext, fullMs: number, quickMs = 2000): number {
  return ctx.durationMs ?? (ctx.quick ? quickMs : fullMs);
}

/** node flags for a gateway process (CPU profile when asked). */
export function nodeArgs(ctx: BenchContext, name: string): string[] {
  return ctx.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
}
