/**
 * Benchmarks are not tests: this only checks that every scenario runs (--quick: a second or two of
 * load each, against the same real servers) and that the runner writes a well-formed JSON result and
 * Markdown table. No figure is judged here; speed belongs to `npm run bench`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const root = new URL('../..', import.meta.url).pathname;
const ALL = ['ingest', 'mqtt', 'modbus', 'opcua', 'backlog', 'latency', 'scale', 'soak', 'verify', 'hub'];

interface Report {
  date: string;
  machine: { cores: number; cpuModel: string; node: string; influxdb: string };
  loadAverage: { start: number[]; end: number[] };
  quick: boolean;
  scenarios: Array<{
    name: string;
    title: string;
    windowS: number;
    params: Record<string, unknown>;
    error?: string;
    metrics: Array<{ name: string; value: number | null; unit: string; limit?: number | null; ratio?: number | null; met?: boolean | null }>;
  }>;
}

describe('npm run bench --quick', () => {
  const out = tempDir('fgw-bench-test-');
  let report: Report;
  let markdown: string;
  let status: number | null;
  let stderr: string;

  beforeAll(() => {
    try {
      execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'test/bench/tsconfig.json'], { cwd: root, stdio: 'pipe' });
    } catch (e) {
      // tsc emits even with type errors elsewhere; the type check proper is `npm run typecheck`
      if (!existsSync(join(root, 'dist-bench/test/bench/run.js'))) throw e;
    }
    const r = spawnSync(process.execPath, [join(root, 'dist-bench/test/bench/run.js'), ...ALL, '--quick', '--out', out.path], {
      cwd: root,
      encoding: 'utf8',
      timeout: 170_000,
    });
    status = r.status;
    stderr = r.stderr;
    report = JSON.parse(readFileSync(join(out.path, 'latest.json'), 'utf8')) as Report;
    markdown = readFileSync(join(out.path, 'latest.md'), 'utf8');
  }, 180_000);

  afterAll(() => out.cleanup());

  it('exits 0 with every scenario run, none failed', () => {
    expect(status, stderr.slice(-3000)).toBe(0);
    expect(report.scenarios.map((s) => s.name)).toEqual(ALL);
    for (const s of report.scenarios) expect(s.error, `${s.name}: ${s.error}`).toBeUndefined();
  });

  it('describes the machine and the load it ran under', () => {
    expect(Number.isNaN(Date.parse(report.date))).toBe(false);
    expect(report.quick).toBe(true);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.node).toBe(process.version);
    expect(report.machine.influxdb).toMatch(/InfluxDB v1\./);
    expect(report.loadAverage.start).toHaveLength(3);
    expect(report.loadAverage.end).toHaveLength(3);
  });

  it.each(ALL)('%s: well-formed metrics, measured figures, no loss', (name) => {
    const s = report.scenarios.find((x) => x.name === name)!;
    expect(s.title.length).toBeGreaterThan(0);
    expect(s.windowS).toBeGreaterThan(0);
    expect(s.metrics.length).toBeGreaterThan(0);
    for (const m of s.metrics) {
      expect(typeof m.name).toBe('string');
      expect(typeof m.unit).toBe('string');
      expect(m.value === null || Number.isFinite(m.value)).toBe(true);
      // the ratio is taken before value and limit are rounded for display: agree within that rounding (≤ 1 % each)
      if (m.limit !== undefined && m.limit !== null && m.value !== null && m.limit !== 0)
        expect(Math.abs((m.ratio ?? NaN) - m.value / m.limit)).toBeLessThanOrEqual(0.02 * Math.abs(m.value / m.limit) + 0.001);
    }
    // every scenario reports the gateway's CPU and RSS, each measured (not null)
    expect(s.metrics.some((m) => /CPU/.test(m.name) && m.value !== null)).toBe(true);
    expect(s.metrics.some((m) => /RSS/.test(m.name) && m.value !== null)).toBe(true);
    // whatever it measured, nothing offered was lost
    for (const m of s.metrics.filter((x) => /loss/.test(x.name))) expect(m.value, `${name}: ${m.name}`).toBe(0);
  });

  it('writes a Markdown table with a row per figure', () => {
    expect(markdown).toContain('| scenario | figure | value | limit (measured in the same run) | ratio | target | met |');
    const rows = markdown.split('\n').filter((l) => /^\| [a-z]+ \| /.test(l) && !l.startsWith('| scenario'));
    expect(rows.length).toBe(report.scenarios.reduce((n, s) => n + s.metrics.length, 0));
    expect(markdown).toContain(report.machine.cpuModel);
  });
});
