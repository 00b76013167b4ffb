/**
 * The HTML report opened in a real headless Chromium (playwright-core + /usr/bin/chromium): it
 * renders without console errors and without any network request, and the verdict and the total
 * read back from the page are the hand-computed ones of the golden case. The PDF is a real PDF.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../../verify/evaluate.js';
import { printPdf } from '../../verify/cli.js';
import { renderHtml } from '../../verify/report-html.js';
import { tempDir } from '../helpers/tmp.js';
import { loadCase } from './case-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const cases = fileURLToPath(new URL('../cases/verify/', import.meta.url));

function resultOf(name: string) {
  const c = loadCase(join(cases, name), name);
  return evaluate({ project: c.project, projectFile: c.projectFile, policy: c.policy, devices: c.devices, registeredSystems: c.registeredSystems, facts: c.facts, ...(c.orders ? { orders: c.orders } : {}), preliminary: c.preliminary, source: 'store' });
}

let browser: Browser;
const tmp = tempDir('fgw-report-');

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
});
afterAll(async () => {
  await browser?.close();
  tmp.cleanup();
});

async function open(html: string) {
  const page = await browser.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => requests.push(r.url()));
  const file = join(tmp.path, `r-${Math.random().toString(36).slice(2)}.html`);
  (await import('node:fs')).writeFileSync(file, html);
  await page.goto(`file://${file}`, { waitUntil: 'load' });
  return { page, errors, requests: requests.filter((u) => !u.startsWith('file://')) };
}

describe('HTML report in Chromium', () => {
  it.each([
    // [case, lang, classification, total text] — totals from the case's expected.json (by hand)
    ['partial-canonical', 'zh', 'partial', '700,500.00'],
    ['partial-canonical', 'en', 'partial', '700,500.00'],
    ['pilot-b-worked', 'zh', 'partial', '3,154,117.65'],
    ['full-a-full-capped', 'en', 'full', '50,000,000.00'],
    ['outage-over-5pct', 'zh', 'indeterminate', '0.00'],
  ] as const)('%s (%s): verdict %s, total %s', async (name, lang, cls, total) => {
    const { page, errors, requests } = await open(renderHtml(resultOf(name), lang));
    expect(await page.getAttribute('[data-testid=verdict]', 'data-classification')).toBe(cls);
    expect((await page.textContent('[data-testid=total]'))?.trim()).toBe(total);
    expect(await page.getAttribute('html', 'lang')).toBe(lang === 'zh' ? 'zh-CN' : 'en');
    // one timeline strip per device with data, every rule listed
    const svgs = await page.locator('svg.timeline').count();
    expect(svgs).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  });

  it('a preliminary report carries the banner fixed on every printed page', async () => {
    const { page, errors } = await open(renderHtml(resultOf('preliminary-short-window'), 'zh'));
    const banner = page.locator('[data-testid=preliminary]');
    expect(await banner.count()).toBe(1);
    expect(await banner.evaluate((el) => getComputedStyle(el).position)).toBe('fixed');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('the report is self-contained: no external scripts, styles, fonts or images', () => {
    const html = renderHtml(resultOf('partial-canonical'), 'zh');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/(src|href)\s*=/i);
    expect(html).not.toMatch(/@import|url\(/i);
  });

  it('shows the contractor discount check in 元, as the JSON holds it in fen', () => {
    const html = renderHtml(resultOf('partial-canonical'), 'zh');
    // MES 软件及实施: list 840,000.00, invoiced 420,000.00 → 420,000.00 off, at least min(50 %, 500,000.00)
    const row = /<tr data-rule="contractor\.discount:33002026000102">(.*?)<\/tr>/.exec(html)?.[1] ?? '';
    expect(row).toContain('<td class="num">420,000.00 元</td><td class="num">420,000.00 元</td>');
  });

  it('prints a PDF with the summary on its own page', async () => {
    const out = join(tmp.path, 'report.pdf');
    await printPdf(renderHtml(resultOf('partial-canonical'), 'zh'), out, CHROMIUM);
    const pdf = readFileSync(out);
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const pages = pdf.toString('latin1').match(/\/Type\s*\/Page\b/g)?.length ?? 0;
    expect(pages).toBeGreaterThanOrEqual(2);
  });

  it('explains what is missing when Chromium is not installed', async () => {
    await expect(printPdf('<html></html>', join(tmp.path, 'x.pdf'), '/nonexistent/chromium')).rejects.toThrow(/needs Chromium.*apt-get install chromium/);
  });
});
