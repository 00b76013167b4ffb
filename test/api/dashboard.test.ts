/**
 * The dashboard in headless Chromium (Debian /usr/bin/chromium driven by playwright-core), against
 * the API listening on a real loopback socket: the page loads without console errors, shows the
 * devices, the alarm for the silent one, switches language, and a device whose link drops turns
 * offline on the page. With tokens, the page asks for a read token once and its reads are audited
 * under system "dashboard". A screenshot is kept under test-results/ (gitignored).
 */
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../gateway/api/server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { TOKENS, TestRuntime } from './test-runtime.js';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const RESULTS = join(process.cwd(), 'test-results');

async function launch(): Promise<{ ctx: BrowserContext; cleanup: () => Promise<void> }> {
  const profile = tempDir('fgw-chromium-');
  const ctx = await chromium.launchPersistentContext(profile.path, { executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
  return {
    ctx,
    cleanup: async () => {
      await ctx.close();
      profile.cleanup();
    },
  };
}

async function serve(rt: TestRuntime): Promise<{ app: FastifyInstance; url: string }> {
  const app = await buildServer(rt);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  return { app, url: `http://127.0.0.1:${port}` };
}

function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  // a reload cancels the page's own requests in flight (net::ERR_ABORTED): that is no failure, and
  // under load a poll is nearly always in flight when the test reloads
  page.on('requestfailed', (r) => {
    if (r.failure()?.errorText !== 'net::ERR_ABORTED') errors.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
  });
  return errors;
}

/** waitFor, with what the page logged in the error when it times out */
async function waitOn<T>(errors: string[], what: string, check: () => Promise<T>): Promise<NonNullable<T>> {
  try {
    return await waitFor(what, check);
  } catch (e) {
    throw new Error(`${(e as Error).message}; the page logged: ${errors.join(' | ') || 'nothing'}`);
  }
}

const rowStatus = (page: Page, id: string) => page.getAttribute(`tr[data-device="${id}"]`, 'data-status');

describe('dashboard without tokens (loopback, anonymous)', () => {
  let rt: TestRuntime;
  let app: FastifyInstance;
  let url: string;
  let browser: Awaited<ReturnType<typeof launch>>;
  beforeAll(async () => {
    rt = new TestRuntime({ tokens: [] });
    await rt.store.write(
      Array.from({ length: 30 }, (_, i) => ({
        device: 'press-01',
        tag: 'tonnage',
        ts: rt.clock.now() - (30 - i) * 60_000,
        kind: 'float' as const,
        value: 100 + 10 * Math.sin(i / 3),
        quality: 'good' as const,
      })),
    );
    ({ app, url } = await serve(rt));
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.cleanup();
    await app?.close();
    await rt?.close();
  });

  it('loads without console errors, shows devices and the alarm, and turns a dropped device offline', async () => {
    const page = await browser.ctx.newPage();
    const errors = watchConsole(page);
    // a northbound target: its link, backlog, lag and publish rate in its own table
    rt.northViews = [
      {
        name: 'platform',
        system: 'platform',
        format: 'json',
        url: 'mqtt://platform.example:1883',
        connected: false,
        reconnectAttempts: 3,
        connects: 1,
        backlog: 1234,
        lagMs: 90_000,
        published: 10,
        publishedReadings: 50,
        publishRate: 2.5,
        replaying: false,
        resent: 0,
        droppedUnpublished: 0,
        commands: { ok: 4, denied: 1, error: 0 },
        rebirths: 0,
        lastError: 'ECONNREFUSED',
      },
    ];
    await page.goto(`${url}/?poll=300`);
    await waitOn(errors, 'three device rows', async () => (await page.locator('#devices tbody tr').count()) === 3);
    await waitOn(errors, 'the north row', async () => (await page.locator('#north tbody tr[data-target="platform"]').count()) === 1);
    expect(await page.isVisible('#north-section')).toBe(true);
    expect(await page.textContent('tr[data-target="platform"] .badge')).toBe('未连接');
    expect(await page.textContent('tr[data-target="platform"] .backlog')).toBe('1234');
    expect(await page.textContent('tr[data-target="platform"] .rate')).toBe('2.5 条/秒');
    expect(await rowStatus(page, 'press-01')).toBe('online');
    expect(await rowStatus(page, 'lathe-03')).toBe('online');
    expect(await rowStatus(page, 'polisher-04')).toBe('offline');
    // Chinese by default
    expect(await page.textContent('header h1')).toBe('设备数据采集网关');
    expect(await page.textContent('tr[data-device="press-01"] .badge')).toBe('在线');
    expect(await page.textContent('tr[data-device="polisher-04"] .badge')).toBe('离线');
    // the silent device raises the alarm (silent 20 min > max(5 × 5 s, 15 min))
    expect(await page.locator('#alarm-list li').count()).toBe(1);
    expect(await page.getAttribute('#alarm-list li', 'data-device')).toBe('polisher-04');
    // the sparkline of the tag with history is drawn from it
    await waitOn(errors, 'tonnage sparkline', async () => (await page.locator('tr[data-device="press-01"] [data-tag="tonnage"] svg polyline').count()) === 1);
    // the networking chart is drawn
    expect(await page.locator('#networking-chart polyline').count()).toBe(1);
    // last slot of the hour: only press-01 has a good reading in it
    expect(await page.textContent('#chart-now')).toBe('33.3% (1/3)');
    expect(await page.textContent('#card-live')).toBe('2 / 3');
    // the chart's time axis follows the page's language: a 24-hour clock, no English AM/PM in zh-CN
    // (the browser's own locale here is en-US, whose default would be "5:24:45 PM")
    for (const sel of ['#chart-from', '#chart-to', '#last-update']) expect(await page.textContent(sel)).toMatch(/^\d{1,2}:\d{2}:\d{2}$/);

    // the link of press-01 drops: the page shows it offline at a following poll
    rt.stubs.get('press-01')!.status.connected = false;
    await waitOn(errors, 'press-01 offline on the page', async () => (await rowStatus(page, 'press-01')) === 'offline');
    expect(await page.textContent('tr[data-device="press-01"] .badge')).toBe('离线');
    expect(await page.textContent('#card-live')).toBe('1 / 3');

    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: join(RESULTS, 'dashboard.png'), fullPage: true });

    // and back
    rt.stubs.get('press-01')!.status.connected = true;
    await waitOn(errors, 'press-01 online again', async () => (await rowStatus(page, 'press-01')) === 'online');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('switches to English and keeps the choice (localStorage)', async () => {
    const page = await browser.ctx.newPage();
    const errors = watchConsole(page);
    await page.goto(`${url}/?poll=300`);
    await waitOn(errors, 'rows', async () => (await page.locator('#devices tbody tr').count()) === 3);
    await page.click('#lang-toggle');
    expect(await page.textContent('header h1')).toBe('Factory data gateway');
    expect(await page.textContent('tr[data-device="polisher-04"] .badge')).toBe('offline');
    expect(await page.textContent('tr[data-target="platform"] .badge')).toBe('not connected');
    await page.reload();
    await waitOn(errors, 'rows after reload', async () => (await page.locator('#devices tbody tr').count()) === 3);
    expect(await page.textContent('header h1')).toBe('Factory data gateway');
    expect(await page.evaluate(() => localStorage.getItem('fgw.lang'))).toBe('en');
    await page.click('#lang-toggle');
    expect(await page.textContent('header h1')).toBe('设备数据采集网关');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('the OpenAPI UI at /docs loads under its CSP without console errors', async () => {
    const page = await browser.ctx.newPage();
    const errors = watchConsole(page);
    await page.goto(`${url}/docs`);
    await waitOn(errors, 'swagger-ui rendered the operations', async () => (await page.locator('.opblock').count()) > 10);
    expect(await page.locator('.opblock-summary-path[data-path="/api/devices/{id}/tags/{tag}"]').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('dashboard with tokens', () => {
  let rt: TestRuntime;
  let app: FastifyInstance;
  let url: string;
  let browser: Awaited<ReturnType<typeof launch>>;
  let projectDir: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    projectDir = tempDir('fgw-dash-proj-');
    const { copyFileSync } = await import('node:fs');
    for (const f of ['project.yaml', 'erp-orders.csv', 'mes-orders.csv']) copyFileSync(join('config', f), join(projectDir.path, f));
    rt = new TestRuntime({ tokens: [TOKENS.mes, TOKENS.dashboard], projects: ['project.yaml'], configPath: join(projectDir.path, 'gateway.yaml') });
    ({ app, url } = await serve(rt));
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.cleanup();
    await app?.close();
    await rt?.close();
    projectDir?.cleanup();
  });

  it('asks for a read token once, keeps it in sessionStorage, reads are audited as system dashboard; shows the pilots', async () => {
    const page = await browser.ctx.newPage();
    const errors = watchConsole(page);
    await page.goto(`${url}/?poll=300`);
    await waitOn(errors, 'token form', async () => page.isVisible('#login'));
    expect(await page.locator('#devices tbody tr').count()).toBe(0);
    await page.fill('#token-input', TOKENS.dashboard.token);
    await page.click('#login button[type=submit]');
    await waitOn(errors, 'three device rows', async () => (await page.locator('#devices tbody tr').count()) === 3);
    expect(await page.evaluate(() => sessionStorage.getItem('fgw.token'))).toBe(TOKENS.dashboard.token);
    expect(await page.evaluate(() => localStorage.getItem('fgw.token'))).toBeNull();
    expect(await page.isVisible('#login')).toBe(false);

    // the pilots view: the project with its live networking rate, classification pending
    await page.click('button[data-view="pilots"]');
    await waitOn(errors, 'pilot row', async () => (await page.locator('#pilots tbody tr[data-project="YK-2026-0173"]').count()) === 1);
    expect(await page.textContent('#pilots tr[data-project="YK-2026-0173"] .rate')).toBe('40%');
    expect(await page.textContent('#pilots tr[data-project="YK-2026-0173"] .vrate')).toBe('0% (0/5)');
    // an empty store: no heartbeat in the evaluated window → the verifier says indeterminate
    expect(await page.textContent('#pilots tr[data-project="YK-2026-0173"] .badge')).toBe('无法判定');
    // the pilots view agrees with the devices page at every poll, not only every 30 s: a device
    // that drops is off both at once
    const inScopeOnline = async () => {
      const ids = (await page.getAttribute('#pilots tr[data-project="YK-2026-0173"] td:nth-child(4)', 'title'))!.split(', ');
      let n = 0;
      // in-scope devices of the register that this gateway does not have are never online
      for (const id of ids) n += await page.locator(`#devices tr[data-device="${id}"][data-status="online"]`).count();
      return n;
    };
    expect(await page.textContent('#pilots tr[data-project="YK-2026-0173"] .live')).toBe('2');
    expect(await inScopeOnline()).toBe(2);
    rt.stubs.get('press-01')!.status.connected = false;
    await waitOn(errors, 'press-01 offline on the devices page', async () => (await rowStatus(page, 'press-01')) === 'offline');
    // the same render drew both: no wait
    expect(await page.textContent('#pilots tr[data-project="YK-2026-0173"] .rate')).toBe('20%');
    expect(await page.textContent('#pilots tr[data-project="YK-2026-0173"] .live')).toBe('1');
    expect(await inScopeOnline()).toBe(1);
    rt.stubs.get('press-01')!.status.connected = true;
    await page.screenshot({ path: join(RESULTS, 'dashboard-pilots.png'), fullPage: true });

    const audits = rt.store.audits({ limit: 10_000 });
    expect(audits.length).toBeGreaterThan(0);
    expect(new Set(audits.map((a) => `${a.actor}/${a.system}/${a.action}/${a.result}`))).toEqual(new Set(['dashboard/dashboard/read/ok']));
    expect(errors).toEqual([]);
    await page.close();
  });
});
