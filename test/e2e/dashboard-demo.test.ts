/**
 * The dashboard in headless Chromium (Debian's chromium, driven by playwright-core) on the running
 * demo plant: it loads without console errors, shows every device of the line, and a machine that
 * the test stops (its Modbus unit goes silent) turns offline on the page, then back online.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEMO_TOKENS, startDemo, type DemoPlant } from '../../gateway/demo.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

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
const DEVICES = ['saw-05', 'press-01', 'lathe-03', 'welder-02', 'polisher-04'];

let demo: DemoPlant;
let dir: ReturnType<typeof tempDir>;
let profile: ReturnType<typeof tempDir>;
let browser: BrowserContext;

beforeAll(async () => {
  dir = tempDir('fgw-dash-demo-');
  profile = tempDir('fgw-chromium-');
  demo = await startDemo({ dir: dir.path, apiPort: 0, io: { out: () => undefined, err: () => undefined }, quiet: true });
  browser = await chromium.launchPersistentContext(profile.path, { executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await demo?.stop();
  dir?.cleanup();
  profile?.cleanup();
});

const status = (page: Page, id: string) => page.getAttribute(`tr[data-device="${id}"]`, 'data-status');

it('shows the demo line live, and a machine stopped by the test turns offline on the page', { timeout: 120_000 }, async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${demo.apiUrl}/?poll=300`);
  await waitFor('the token form', () => page.isVisible('#login'));
  await page.fill('#token-input', DEMO_TOKENS.dashboard);
  await page.click('#login button[type=submit]');
  await waitFor('every device of the line on the page', async () => (await page.locator('#devices tbody tr').count()) === DEVICES.length, {
    timeoutMs: 30_000,
  });
  for (const d of DEVICES) expect(await page.locator(`tr[data-device="${d}"]`).count(), d).toBe(1);
  await waitFor('press-01 online', async () => (await status(page, 'press-01')) === 'online', { timeoutMs: 30_000 });

  // the press stops answering (its Modbus unit goes silent): the page shows it offline
  const resume = demo.simulators.modbus.fault({ unit: 1, kind: 'silent' });
  await waitFor('press-01 offline on the page', async () => (await status(page, 'press-01')) === 'offline', { timeoutMs: 30_000 });
  expect(await status(page, 'welder-02')).toBe('online');
  resume();
  await waitFor('press-01 back online on the page', async () => (await status(page, 'press-01')) === 'online', { timeoutMs: 60_000 });
  mkdirSync('test-results', { recursive: true });
  await page.screenshot({ path: join('test-results', 'dashboard-demo.png'), fullPage: true });
  expect(errors).toEqual([]);
});
