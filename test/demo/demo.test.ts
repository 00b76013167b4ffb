/**
 * The demo plant, run as a user runs it (`fgw demo`, here bounded with --for), then judged by the
 * verifier as the banner suggests: every simulated device delivered, the consumer systems left
 * their audit trail, and the intermittent saw is the one device flagged.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openStore } from '../../ingest/store/index.js';
import { startProcess } from '../helpers/proc.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const root = new URL('../..', import.meta.url).pathname;
const fgw = join(root, 'gateway/bin/fgw.js');
const DEVICES = ['saw-05', 'press-01', 'lathe-03', 'welder-02', 'polisher-04'];

it('runs the simulated line, stores every device, and a preliminary verification flags the dropping device', { timeout: 180_000 }, async () => {
  const dir = tempDir('fgw-demo-');
  const demo = startProcess(process.execPath, [fgw, 'demo', '--for', '80s', '--dir', dir.path, '--port', '0']);
  await demo.waitForOutput(/dashboard {2}http:\/\/127\.0\.0\.1:\d+\//, 60_000);
  // the window to judge starts once every device has delivered (an OPC UA session with
  // SignAndEncrypt takes a few seconds to come up on a busy machine)
  const firstGood = async (d: string) => {
    const s = openStore({ path: join(dir.path, 'store'), maxSizeBytes: 1024 ** 3, retentionMs: 7 * 86_400_000 });
    try {
      return s.query({ device: d, measurement: 'data', limit: 1000 }).find((r) => r.quality === 'good')?.ts;
    } finally {
      await s.close();
    }
  };
  const up = await waitFor(
    'every device delivering',
    async () => {
      const ts = await Promise.all(DEVICES.map(firstGood));
      return ts.every((t) => t !== undefined) ? Math.max(...(ts as number[])) : undefined;
    },
    { timeoutMs: 60_000, everyMs: 500 },
  );
  const startedAt = up + 1000;
  const { code } = await demo.exited;
  expect(code, demo.output()).toBe(0);
  const endedAt = Date.now();

  const store = openStore({ path: join(dir.path, 'store'), maxSizeBytes: 1024 ** 3, retentionMs: 7 * 86_400_000 });
  try {
    for (const d of DEVICES) {
      const good = store.query({ device: d, measurement: 'data', limit: 100_000 }).filter((r) => r.quality === 'good');
      expect(good.length, d).toBeGreaterThan(5);
      expect(new Set(good.map((r) => r.tag)).has('state'), d).toBe(true);
    }
    // the saw's silence shows as bad readings (timeouts) in the store
    expect(store.query({ device: 'saw-05', measurement: 'data', limit: 100_000 }).some((r) => r.quality === 'bad' && r.error === 'TIMEOUT')).toBe(true);
    const audits = store.audits({});
    expect(audits.some((a) => a.system === 'MES' && a.action === 'read' && a.result === 'ok')).toBe(true);
    expect(audits.some((a) => a.system === 'platform' && a.action === 'write' && a.device === 'press-01' && a.result === 'ok')).toBe(true);
  } finally {
    await store.close();
  }

  // judge the part of the run after the devices came up, as the banner's command does
  const out = join(dir.path, 'report.json');
  expect(endedAt - 2_000 - startedAt).toBeGreaterThan(30_000);
  execFileSync(
    process.execPath,
    [
      fgw,
      'verify',
      '--config',
      join(dir.path, 'gateway.yaml'),
      '--project',
      join(dir.path, 'project.yaml'),
      '--from',
      String(startedAt),
      '--to',
      String(endedAt - 2_000),
      '--preliminary',
      '--json',
      out,
    ],
    { stdio: 'pipe' },
  );
  const result = JSON.parse(readFileSync(out, 'utf8'));
  expect(result.preliminary).toBe(true);
  const byId = Object.fromEntries(result.devices.map((d: { id: string }) => [d.id, d]));
  expect(byId['saw-05'].networked).toBe(false);
  expect(byId['saw-05'].reportingRate.value).toBeLessThan(0.9);
  for (const d of DEVICES.filter((x) => x !== 'saw-05')) expect(byId[d].networked, d).toBe(true);
  expect(result.classification).toBe('partial');
  dir.cleanup();
});
