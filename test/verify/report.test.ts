/**
 * The HTML report opened in a real headless Chromium (playwright-core + /usr/bin/chromium): it
 * renders without console errors and without any network request; the verdict and the total read
 * back from the page are the hand-computed ones of the golden cases; the zh-CN page has no English
 * word outside data and the codes appendix (a walk over its text nodes); the signable header, the
 * project, the method, the signature block and the policy table (every key) are there; the PDF has
 * the page header and "page N of M" on every page (read back with pdftotext).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate, type VerifyResult } from '../../verify/evaluate.js';
import { printPdf } from '../../verify/pdf.js';
import { loadPolicy } from '../../verify/policy.js';
import { renderHtml } from '../../verify/report-html.js';
import { tempDir } from '../helpers/tmp.js';
import { loadCase } from './case-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const cases = fileURLToPath(new URL('../cases/verify/', import.meta.url));

function resultOf(name: string): VerifyResult {
  const c = loadCase(join(cases, name), name);
  return evaluate({
    project: c.project,
    projectFile: c.projectFile,
    policy: c.policy,
    devices: c.devices,
    registeredSystems: c.registeredSystems,
    facts: c.facts,
    ...(c.orders ? { orders: c.orders } : {}),
    preliminary: c.preliminary,
    source: 'store',
    ...(c.gateways ? { gateways: c.gateways } : {}),
  });
}

/** A case's result with the signable header filled by hand (as `fgw verify` fills it). */
function withHeader(name: string): VerifyResult {
  const r = resultOf(name);
  r.report = {
    number: 'YK-2026-0173-20260921-20261021-3f9a1c2e',
    generatedAt: '2026-12-03T21:10:03+08:00',
    fgw: { version: '0.1.0', revision: 'a1b2c3d' },
    command: [
      'verify',
      '--config',
      'a.yaml',
      '--config',
      'b.yaml',
      '--project',
      'project.yaml',
      '--from',
      '2026-09-21',
      '--to',
      '2026-10-21',
      '--source',
      'influx',
      '--html',
      'report.html',
    ],
    source: { kind: 'influx', influx: { url: 'http://127.0.0.1:8086', database: 'factory' }, gateways: ['gw-a', 'gw-b'] },
    inputs: [
      { role: 'gateway-config', path: '/plant/a.yaml', sha256: 'a'.repeat(64) },
      { role: 'gateway-config', path: '/plant/b.yaml', sha256: 'b'.repeat(64) },
      { role: 'project', path: '/plant/project.yaml', sha256: 'c'.repeat(64) },
      { role: 'policy', path: '/opt/fgw/config/policy/yongkang-2019.yaml', sha256: r.policy.sha256 },
      { role: 'erp-orders', path: '/plant/erp-orders.csv', sha256: 'd'.repeat(64) },
      { role: 'mes-orders', path: '/plant/mes-orders.csv', sha256: 'e'.repeat(64) },
    ],
    factsDigest: 'f'.repeat(64),
    cwd: '/plant',
  };
  return r;
}

/** The header and two gateways filled by hand. */
function signable(name = 'partial-canonical'): VerifyResult {
  const r = withHeader(name);
  const outage = { from: Date.parse('2026-10-12T02:00:00Z'), to: Date.parse('2026-10-12T03:30:00Z') };
  r.gateways = [
    {
      id: 'gw-a',
      site: '一车间',
      config: '/plant/a.yaml',
      devices: ['press-01', 'welder-02'],
      inScopeDevices: ['press-01', 'welder-02'],
      platform: { ...r.platform, outageSlots: 90, outage: { count: 90, total: 38880, value: 0.0023 }, outages: [outage] },
    },
    { id: 'gw-b', config: '/plant/b.yaml', devices: ['lathe-03', 'polisher-04'], inScopeDevices: ['lathe-03', 'polisher-04'], platform: r.platform },
  ];
  return r;
}

let browser: Browser;
const tmp = tempDir('fgw-report-');

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
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
  writeFileSync(file, html);
  await page.goto(`file://${file}`, { waitUntil: 'load' });
  return { page, errors, requests: requests.filter((u) => !u.startsWith('file://')) };
}

/**
 * Latin words of the page's text outside data (translate="no") and outside the codes appendix,
 * with the text they were found in.
 */
async function latinWords(page: Page): Promise<Array<{ word: string; text: string }>> {
  return page.evaluate(() => {
    const out: Array<{ word: string; text: string }> = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || el.closest('[translate="no"], [data-testid="appendix-codes"]')) continue;
      for (const word of n.textContent?.match(/[A-Za-z]+/g) ?? []) out.push({ word, text: n.textContent!.trim().slice(0, 160) });
    }
    return out;
  });
}

/** Codes and abbreviations a zh-CN sentence may hold, and the letters of the track names. */
const ALLOWED = new Set(['ERP', 'MES', 'SHA', 'JSON', 'InfluxDB', 'A', 'B', 'C']);

/** Letter runs of the data in a result (ids, names, systems, items): the evidence quotes them. */
function dataWords(r: VerifyResult): Set<string> {
  const texts: string[] = [
    r.project.id,
    r.project.name,
    r.project.enterprise,
    r.project.uscc,
    r.project.expertAcceptance ?? '',
    ...r.project.shutdowns.map((s) => s.reason),
    ...r.devices.flatMap((d) => [d.id, d.name ?? '', d.process ?? '', d.exempt ?? '']),
    ...r.processes.flatMap((p) => [p.id, p.name ?? '']),
    ...r.gateways.flatMap((g) => [g.id, g.site ?? '']),
    ...r.dataUse.registeredSystems,
    ...Object.keys(r.dataUse.readsBySystem),
    ...r.commands.flatMap((c) => [c.actor, c.system, c.device, c.tag, c.value]),
    ...r.subsidy.tracks.flatMap((t) => [...t.counted, ...t.excluded].flatMap((l) => [l.number, l.item])),
    ...r.subsidy.contractors.map((g) => g.contractor ?? ''),
  ];
  return new Set(texts.flatMap((t) => t.match(/[A-Za-z]+/g) ?? []));
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
    expect(await page.locator('svg.timeline').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  });

  // every golden case that evaluates (the error-* cases are refused before a result exists)
  const everyCase = readdirSync(cases)
    .filter((n) => !n.startsWith('_') && !n.startsWith('error-') && statSync(join(cases, n)).isDirectory())
    .sort();

  it('renders every golden case', () => expect(everyCase.length).toBeGreaterThanOrEqual(30));

  it.each(everyCase)('zh-CN %s: no English word outside data and the codes appendix, no code in a sentence', async (name) => {
    const r = withHeader(name);
    const { page } = await open(renderHtml(r, 'zh'));
    const allowed = new Set([...ALLOWED, ...dataWords(r)]);
    const english = (await latinWords(page)).filter((w) => !allowed.has(w.word));
    expect(english).toEqual([]);
    // codes (RATE_BELOW_FULL, partial.dataUse, B-without-cloud+C) only in the appendix
    const body = await page.evaluate(() => {
      const clone = document.body.cloneNode(true) as HTMLElement;
      clone.querySelectorAll('[data-testid="appendix-codes"], [data-testid="policy-table"] [data-key], [translate="no"]').forEach((e) => e.remove());
      return clone.innerText;
    });
    expect(body).not.toMatch(/\b[A-Z][A-Z0-9]+(_[A-Z0-9]+)+\b/);
    expect(body).not.toMatch(/\b[a-z]+\.[a-z][A-Za-z]+\b/);
    expect(body).not.toMatch(/without-cloud|VAT|n\/a/);
    // no UTC time: every time carries the policy's zone
    expect(body).not.toMatch(/\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z\b|\dT\d{2}:/);
    expect(body).not.toMatch(/\{"|":/); // no raw JSON
    expect(body).not.toMatch(/3 万元|1 万元/);
    await page.close();
  });

  it('the header, gateways, project and signature block are on the page (zh-CN)', async () => {
    const { page } = await open(renderHtml(signable(), 'zh'));
    const header = (await page.textContent('[data-testid=report-header]'))!;
    expect(header).toContain('YK-2026-0173-20260921-20261021-3f9a1c2e');
    expect(header).toContain('2026-12-03 21:10:03 +08:00'); // local, with its zone
    expect(header).toContain('fgw 0.1.0');
    expect(header).toContain('a1b2c3d');
    expect(header).toContain(
      'verify --config a.yaml --config b.yaml --project project.yaml --from 2026-09-21 --to 2026-10-21 --source influx --html report.html',
    );
    expect(header).toContain('http://127.0.0.1:8086');
    expect(header).toContain('factory');
    expect(header).toContain('gw-a');
    expect(header).toContain('f'.repeat(64));
    const inputs = await page.locator('table:below([data-testid=report-header]) >> nth=0').textContent();
    for (const h of ['a', 'b', 'c', 'd', 'e']) expect(inputs).toContain(h.repeat(64));
    expect(inputs).toContain('网关配置');
    expect(inputs).toContain('MES 订单导出');
    const gw = (await page.textContent('[data-testid=gateways]'))!;
    // gw-a: 90 of 38,880 slots without heartbeat, 2026-10-12 10:00 to 11:30 local
    expect(gw).toMatch(/gw-a.*一车间.*90\/38880（0\.23%）.*2026-10-12 10:00 \+08:00 – 2026-10-12 11:30 \+08:00/s);
    expect(gw).toContain('gw-b');
    const project = (await page.textContent('[data-testid=project]'))!;
    expect(project).toMatch(/“一企一线”试点\s*是/);
    expect(project).toContain('JHYK-2026-031');
    expect(project).toContain('2026-03-01 – 2026-10-31');
    expect(await page.textContent('[data-testid=shutdowns]')).toMatch(/2026-10-01 00:00 \+08:00.*2026-10-04 00:00 \+08:00.*国庆/s);
    expect(await page.textContent('[data-testid=method]')).toContain('平台中断');
    const sig = (await page.textContent('[data-testid=signature]'))!;
    for (const w of ['专家组成员签字', '日期', '单位盖章']) expect(sig).toContain(w);
    await page.close();
  });

  it('a week that is not judged says so in the weekly table, never a zero (exclusion-holiday-first-week)', async () => {
    const { page } = await open(renderHtml(resultOf('exclusion-holiday-first-week'), 'zh'));
    const rows = await page.$$eval('[data-testid=weeks] tbody tr', (trs) => trs.map((tr) => [...tr.children].map((c) => (c as HTMLElement).innerText.trim())));
    // week 1 (2026-09-28 .. 10-04) lies wholly in the 国庆 shutdown: not judged, in every column
    expect(rows[0]![0]).toBe('2026-09-28 – 2026-10-04（不评判）');
    expect(rows[0]!.slice(1)).toEqual(['不评判', '不评判', '不评判']);
    // week 2 (10-05 .. 10-11): 2 commands a day to each machine by platform = 14; 10 MES reads a day = 70
    expect(rows[1]![0]).toBe('2026-10-05 – 2026-10-11');
    expect(rows[1]!.slice(1).map((c) => c.replace(/\s+/g, ' '))).toEqual(['14 platform 14', '14 platform 14', '70']);
    await page.close();
  });

  it('each gateway with its own outages, each device with its gateway (gateways-own-outage)', async () => {
    const { page } = await open(renderHtml(resultOf('gateways-own-outage'), 'zh'));
    const rows = await page.$$eval('[data-testid=gateways] tbody tr', (trs) =>
      trs.map((tr) => [...tr.children].map((c) => (c as HTMLElement).innerText.trim().replace(/\s+/g, ' '))),
    );
    expect(rows.map((r) => r[0])).toEqual(['gw-a', 'gw-b', 'gw-c']);
    // 43,200 slots of 60 s; gw-b down Tue 10-13 (1,440 slots = 3.33%); gw-c down throughout, serving no in-scope device
    expect(rows[0]!.slice(4)).toEqual(['0/43200（0.00%）', '无']);
    expect(rows[1]!.slice(4)).toEqual(['1440/43200（3.33%）', '2026-10-13 00:00 +08:00 – 2026-10-14 00:00 +08:00']);
    expect(rows[2]![3]).toContain('其中纳入统计：无');
    expect(rows[2]![4]).toBe('43200/43200（100.00%）');
    expect(await page.textContent('[data-device="m-02"] h3')).toContain('网关：gw-b');
    await page.close();
  });

  it('the method states the quality rule from result.method', async () => {
    for (const [name, text] of [
      ['quality-uncertain-counts', '质量为“好”或“不确定”的读数'],
      ['quality-uncertain-not-good', '质量为“不确定”的读数不计'],
    ] as const) {
      const r = resultOf(name);
      expect(r.method.uncertainCountsAsGood, name).toBe(name === 'quality-uncertain-counts');
      const { page } = await open(renderHtml(r, 'zh'));
      expect(await page.textContent('[data-testid=method]'), name).toContain(text);
      await page.close();
    }
  });

  it('a report made by the hub says so, and that the command is the equivalent one', async () => {
    const r = signable();
    r.report!.source.hub = { id: 'city-hub', config: '/srv/hub/hub.yaml' };
    const { page } = await open(renderHtml(r, 'zh'));
    const header = (await page.textContent('[data-testid=report-header]'))!;
    expect(header).toContain('等效核验命令');
    expect(header).toMatch(/由监测平台生成\s*city-hub（配置文件 \/srv\/hub\/hub\.yaml）/);
    await page.close();
  });

  it('the policy table shows every key of the policy file with its meaning, value and source', async () => {
    const policy = loadPolicy('yongkang-2019');
    const keys = Object.keys(policy.values.keys);
    expect(keys.length).toBeGreaterThanOrEqual(42);
    const { page } = await open(renderHtml(signable(), 'zh'));
    const rows = await page.$$eval('[data-testid=policy-table] td[data-key]', (tds) =>
      tds.map((td) => ({ key: td.getAttribute('data-key'), cells: [...td.parentElement!.children].map((c) => c.textContent?.trim()) })),
    );
    expect(rows.map((x) => x.key).sort()).toEqual([...keys].sort());
    const row = (k: string) => rows.find((x) => x.key === k)!.cells;
    expect(row('money.tracks.C-cloud.cap')).toEqual([
      'money.tracks.C-cloud.cap',
      'C 类企业上云：每家企业奖励上限',
      '300,000.00 元',
      '政策原文',
      '单个企业最高奖励30万元',
    ]);
    expect(row('measure.slotMin').slice(2, 4)).toEqual(['1 分钟', '产品默认值']);
    expect(row('money.tracks.B-pilot.excessRates.equipment')[2]).toBe('未设定（待定）');
    expect(row('weekStartsOn')[2]).toBe('周一');
    expect(row('measure.inScopeCategories')[2]).toBe('生产、检测、物流');
    expect(await page.textContent('[data-testid=policy-table]')).toContain('2019-01-01 – 至今（未公布截止日期）');
    expect(await page.textContent('[data-testid=policy-validity]')).toContain('在政策有效期');
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
    const html = renderHtml(signable(), 'zh');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/(src|href)\s*=/i);
    expect(html).not.toMatch(/@import|url\(/i);
  });

  it('shows the contractor discount check in 元, as the JSON holds it in fen', () => {
    const html = renderHtml(resultOf('partial-canonical'), 'zh');
    // MES 软件及实施: list 840,000.00, invoiced 420,000.00 → 420,000.00 off, at least min(50 %, 500,000.00)
    const row = /<tr><td data-rule="contractor\.discount">(.*?)<\/tr>/.exec(html)?.[1] ?? '';
    expect(row).toContain('<td class="num">420,000.00 元</td><td class="num">420,000.00 元</td>');
  });

  it('names invoice lines by code, number and line; red-letter netting and devices are shown', async () => {
    const { page } = await open(renderHtml(resultOf('money-red-letter-devices'), 'zh'));
    const excluded = await page.$$eval('h3[data-track="A-partial"] ~ table', (ts) =>
      [...ts[1]!.querySelectorAll('tbody tr')].map((tr) => [tr.children[0]!.textContent, tr.children[4]!.textContent]),
    );
    expect(excluded).toEqual([
      ['3300261130-12345678', '重复发票（同一发票代码与号码或全电发票号码、同一行）'],
      ['26332000000012345678', '重复发票（同一发票代码与号码或全电发票号码、同一行）'],
      ['26332000000099990001', '红字发票，已冲减被更正的发票行'],
      ['H-9', '已被红字发票全额冲销'],
      ['H-9R', '红字发票，已冲减被更正的发票行'],
      ['C-1', '云服务费计入 C 类企业上云'],
      ['C-1R', '红字发票，已冲减被更正的发票行'],
    ]);
    // [0] 400,000.00 less the red-letter 100,000.00
    expect(await page.textContent('h3[data-track="A-partial"] + table')).toMatch(/3300261130-12345678.*300,000.00（原 400,000.00）/s);
    const devices = (await page.textContent('[data-testid=device-invoices]'))!;
    expect(devices).toMatch(/焊接机.*m-03.*否.*3300261131-12345678 焊接机 所购设备未联网/s);
    await page.close();
  });

  it('prints the break-even 8号 rate and labels the pending amount as a base', async () => {
    const { page } = await open(renderHtml(resultOf('pilot-b-worked'), 'zh'));
    // by hand (case notes): unrounded B-without-cloud+C 315,411,764.8 fen, B 306,571,428.4 fen; pending
    // equipment bases 58,823,529 and 71,428,572 fen: r = 8,840,336.4 / 12,605,043 = 277998/396385 = 70.1333%;
    // B is listed first, so at that rate the tie already goes to B
    expect(await page.textContent('[data-testid=break-even]')).toContain('该比例不低于 70.1333% 时，推荐组合由“B 类（不含上云投入）+ C 类”变为“B 类”');
    expect(await page.textContent('[data-testid=options]')).toContain('待定基数');
    await page.close();
  });

  it('prints a PDF with the page header and "page N of M" on every page', async () => {
    const out = join(tmp.path, 'report.pdf');
    await printPdf(renderHtml(signable(), 'zh'), out, CHROMIUM);
    const pdf = readFileSync(out);
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const pages = Number(/Pages:\s+(\d+)/.exec(execFileSync('pdfinfo', [out]).toString())![1]);
    expect(pages).toBeGreaterThanOrEqual(3);
    for (let i = 1; i <= pages; i++) {
      const text = execFileSync('pdftotext', ['-f', String(i), '-l', String(i), '-layout', out, '-']).toString();
      expect(text).toContain(`第 ${i} 页，共 ${pages} 页`);
      expect(text).toContain('智能化改造核验报告 · 报告编号 YK-2026-0173-20260921-20261021-3f9a1c2e');
    }
  });

  it('explains what is missing when Chromium is not installed', async () => {
    await expect(printPdf('<html></html>', join(tmp.path, 'x.pdf'), '/nonexistent/chromium')).rejects.toThrow(/needs Chromium.*apt-get install chromium/);
  });
});
