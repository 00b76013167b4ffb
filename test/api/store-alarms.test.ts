/**
 * The store's alarms everywhere they must show: a full store (the size limit dropping readings
 * InfluxDB has not got) and a damaged store file moved aside, in /health/ready, /api/status,
 * /metrics, /api/losses and on the dashboard (headless Chromium). Real stores: the full one is
 * filled past its maxSize with the forwarder's cursor at 0, the damaged one is a real store file
 * with garbage written over its header before the gateway opens it.
 */
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../gateway/api/server.js';
import { STORE_FILE } from '../../ingest/store/index.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { parseProm } from '../helpers/prom.js';
import { T0, TestRuntime } from './test-runtime.js';

const N = 60_000;

describe('store alarms', () => {
  let full: TestRuntime;
  let damaged: TestRuntime;
  let appFull: FastifyInstance;
  let appDamaged: FastifyInstance;
  beforeAll(async () => {
    // 60,000 readings into 2 MiB while InfluxDB has none of them: the size limit drops the oldest
    full = new TestRuntime({ store: { maxSizeBytes: 2 * 1024 * 1024, forwarding: true } });
    for (let i = 0; i < N; i += 1000) {
      await full.store.write(
        Array.from({ length: 1000 }, (_, k) => ({
          device: k % 2 ? 'press-01' : 'lathe-03',
          tag: 't',
          ts: T0 - N + i + k,
          kind: 'float' as const,
          value: i + k,
          quality: 'good' as const,
        })),
      );
    }
    appFull = await buildServer(full);
    damaged = new TestRuntime({
      store: {
        onDamage: 'move-aside',
        before: (dir) => writeFileSync(join(dir, STORE_FILE), Buffer.concat([Buffer.from('this is not a database header '), Buffer.alloc(8192, 7)])),
      },
    });
    appDamaged = await buildServer(damaged);
  });
  afterAll(async () => {
    await appFull?.close();
    await appDamaged?.close();
    await full?.close();
    await damaged?.close();
  });

  it('a full store: /health/ready 503, /api/status store.full and lost per device, /metrics, /api/losses', async () => {
    const kept = full.store.query({ measurement: 'data' }).length;
    const lost = N - kept;
    expect(lost).toBeGreaterThan(0);
    const ready = await appFull.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json().checks.store).toMatchObject({ ok: false, full: { reason: 'maxSize', dropped: lost } });
    const st = (await appFull.inject({ method: 'GET', url: '/api/status' })).json().store;
    expect(st.full).toMatchObject({ reason: 'maxSize', dropped: lost, refused: 0 });
    expect(st.lost).toBe(lost);
    // the oldest readings went, and they alternate lathe-03, press-01, … from the first: lathe-03 lost
    // the odd one out when the count is odd
    const pressLost = Math.floor(lost / 2);
    expect(st.losses).toEqual([
      { device: 'lathe-03', reason: 'maxSize', count: lost - pressLost },
      { device: 'press-01', reason: 'maxSize', count: pressLost },
    ]);
    expect(st.sizeBytes).toBeLessThanOrEqual(2 * 1024 * 1024);
    const m = parseProm((await appFull.inject({ method: 'GET', url: '/metrics' })).body);
    expect(m.get('fgw_store_full')).toBe(1);
    expect(m.get('fgw_store_lost_total{device="press-01",reason="maxSize"}')).toBe(pressLost);
    expect(m.get('fgw_store_dropped_unforwarded_total')).toBe(lost);
    expect(m.get('fgw_store_max_bytes')).toBe(2 * 1024 * 1024);
    const eps = (await appFull.inject({ method: 'GET', url: '/api/losses?device=press-01' })).json().losses;
    expect(eps).toHaveLength(1);
    expect(eps[0]).toMatchObject({ device: 'press-01', reason: 'maxSize', count: pressLost, from: T0 - N + 1, open: true });
  });

  it('a damaged store file: moved aside, the alarm in /api/status and /metrics; still ready (collection goes on)', async () => {
    const ready = await appDamaged.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks.store).toMatchObject({ ok: true, damaged: 1 });
    const st = (await appDamaged.inject({ method: 'GET', url: '/api/status' })).json().store;
    expect(st.damaged).toHaveLength(1);
    expect(st.damaged[0].file).toMatch(/^store\.db\.damaged-\d{8}T\d{6}Z$/);
    expect(st.damaged[0].error).toMatch(/not an SQLite header/);
    const m = parseProm((await appDamaged.inject({ method: 'GET', url: '/metrics' })).body);
    expect(m.get('fgw_store_damaged_files')).toBe(1);
    expect(m.get('fgw_store_full')).toBe(0);
    // the fresh store collects
    await damaged.store.write([{ device: 'press-01', tag: 'state', ts: T0, kind: 'integer', value: 1, quality: 'good' }]);
    expect(damaged.store.query({ device: 'press-01' })).toHaveLength(1);
  });

  it('the dashboard shows both alarms', async () => {
    const profile = tempDir('fgw-chromium-');
    const ctx = await chromium.launchPersistentContext(profile.path, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
    try {
      for (const [app, alarm] of [
        [appFull, 'store-full'],
        [appDamaged, 'store-damaged'],
      ] as const) {
        await app.listen({ host: '127.0.0.1', port: 0 });
        const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
        const page = await ctx.newPage();
        await page.goto(`${url}/?poll=300`);
        await waitFor(`the ${alarm} alarm on the page`, async () => (await page.locator(`#alarm-list li[data-alarm="${alarm}"]`).count()) === 1);
        const text = await page.textContent(`#alarm-list li[data-alarm="${alarm}"]`);
        expect(text).toMatch(alarm === 'store-full' ? /本地存储已满.*storage\.maxSize/ : /存储文件损坏.*store\.db\.damaged-.*fgw store salvage/);
        if (alarm === 'store-full') expect(await page.textContent('#card-lost')).toBe(String(N - full.store.query({ measurement: 'data' }).length));
        await page.close();
      }
    } finally {
      await ctx.close();
      profile.cleanup();
    }
  });
});
