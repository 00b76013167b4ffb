/**
 * The HTML report, a pure function of the verify result: one self-contained page (inline CSS and
 * SVG, no fonts, scripts or network), printable to PDF as is (page header and page numbers come
 * from the CSS page margin boxes). The first page is the summary; then how the report was made
 * (report number, command, data source, input digests, gateways and their outages), the project,
 * the method, every rule with its evidence, platform execution and data use per week, the process
 * steps, each device with a timeline strip, the money track by track, the order match, the policy,
 * the panel's signature block, and two appendices: the codes of the JSON with their meaning, and
 * the policy table. A preliminary result says so on every page.
 *
 * In zh-CN no English word appears outside codes and data (ids, names, paths, hashes): data is
 * marked translate="no"; codes appear only in the appendices. Every time is local with its zone.
 */
import { formatFen } from './decimal.js';
import { lineName as invoiceLineName } from './money.js';
import type { VerifyResult } from './evaluate.js';
import {
  CATEGORY_NAMES,
  CLASSIFICATION,
  codeText,
  DICT,
  fill,
  OPTION_NAMES,
  RULE_NAMES,
  ruleName,
  trackName,
  UNMATCHED,
  word,
  type CodeContext,
  type Lang,
} from './i18n.js';
import { formatLocal, localDate } from './local-time.js';
import { instantMs } from './measure.js';
import type { PolicyKey } from './policy.js';

const esc = (v: unknown): string => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Data (ids, names, paths, hashes, user text): printed as is, never translated. */
const data = (v: unknown): string => `<span translate="no">${esc(v)}</span>`;
const code = (v: unknown): string => `<code translate="no">${esc(v)}</code>`;

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(2)}%`);

/** A CSS string literal (for the page margin boxes). */
const cssString = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/</g, '\\3C ').replace(/\n/g, ' ')}"`;

function offsetOf(result: VerifyResult): number {
  const tz = (result.policy.values as { timezone?: string } | undefined)?.timezone ?? '+08:00';
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(tz);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000 : 0;
}

const CSS = `
*{box-sizing:border-box}body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","WenQuanYi Zen Hei","PingFang SC","Microsoft YaHei",sans-serif;margin:0;padding:24px;color:#1a1a1a;font-size:13px;line-height:1.45}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:2px solid #333;padding-bottom:2px;break-after:avoid}h3{font-size:14px;margin:14px 0 4px;break-after:avoid}
table{border-collapse:collapse;width:100%;margin:4px 0 10px}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f2f2f2}thead{display:table-header-group}tr{break-inside:avoid}
td.num{text-align:right;font-variant-numeric:tabular-nums}table:not([style]) td.num{white-space:nowrap}
table.kv th{width:28%}
.summary{break-after:page}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}.card{border:1px solid #bbb;border-radius:6px;padding:10px 14px;min-width:200px;flex:1}
.card .big{font-size:22px;font-weight:700}.muted{color:#666}
.verdict-full{color:#1b5e20}.verdict-partial{color:#33691e}.verdict-none{color:#b71c1c}.verdict-indeterminate{color:#e65100}
.r-pass{color:#1b5e20;font-weight:600;white-space:nowrap}.r-fail{color:#b71c1c;font-weight:600;white-space:nowrap}.r-flag{color:#e65100;font-weight:600;white-space:nowrap}
.warn{border-left:4px solid #e65100;background:#fff3e0;padding:6px 10px;margin:6px 0}
.banner{position:fixed;top:0;left:0;right:0;background:#fff3e0;color:#e65100;border-bottom:2px solid #e65100;text-align:center;font-weight:700;padding:4px;font-size:12px}
body.prelim{padding-top:40px}
.device{border:1px solid #ddd;border-radius:6px;padding:8px 12px;margin:8px 0;break-inside:avoid}
.ev{font-size:12px;color:#333;word-break:break-word}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;word-break:break-all}
.signature{break-inside:avoid;margin-top:24px}.signature td{height:44px}.signature td.opinion{height:120px}.signature td.members{height:110px}
.appendix{break-before:page}
@media print{body{padding:0}body.prelim{padding-top:32px}.banner{position:fixed}}
`;

function pageCss(r: VerifyResult, lang: Lang): string {
  const t = DICT[lang];
  const head = `${t.title} · ${r.report ? `${t.reportNo} ${r.report.number}` : `${t.projectId} ${r.project.id}`}`;
  // \u0001 and \u0002 stand for the page counters while the translated text is split around them
  const page = fill(t.page, { page: '\u0001', pages: '\u0002' })
    // oxlint-disable-next-line no-control-regex
    .split(/([\u0001\u0002])/)
    .map((p) => (p === '\u0001' ? 'counter(page)' : p === '\u0002' ? 'counter(pages)' : cssString(p)))
    .filter((p) => p !== '""')
    .join(' ');
  const box = 'font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;font-size:8pt;color:#555';
  return `@page{size:A4;margin:14mm;@top-left{content:${cssString(head)};${box}}@top-right{content:${cssString(r.preliminary ? t.preliminaryShort : r.project.id)};${box}}@bottom-center{content:${page};${box}}}`;
}

function timelineSvg(d: { timeline?: Array<{ good: number; expected: number; excluded: number }> }, partial: number, full: number): string {
  const bins = d.timeline ?? [];
  if (bins.length === 0) return '';
  const w = 720;
  const h = 16;
  const bw = w / bins.length;
  const rects = bins
    .map((b, i) => {
      let fill: string;
      if (b.expected === 0) fill = '#bdbdbd';
      else {
        const r = b.good / b.expected;
        fill = r >= full ? '#2e7d32' : r >= partial ? '#9ccc65' : r > 0 ? '#ffb300' : '#e53935';
      }
      return `<rect x="${(i * bw).toFixed(2)}" y="0" width="${(bw + 0.3).toFixed(2)}" height="${h}" fill="${fill}"/>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="100%" viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img">${rects}</svg>`;
}

/** A table with a header row; `rows` are arrays of cell HTML (already escaped); `widths` in % fix the layout. */
function table(head: string[], rows: string[][], attrs = '', widths?: number[]): string {
  const cols = widths ? `<colgroup>${widths.map((w) => `<col style="width:${w}%">`).join('')}</colgroup>` : '';
  return `<table${attrs}${widths ? ' style="table-layout:fixed"' : ''}>${cols}<thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.join('')}</tr>`).join('')}</tbody></table>`;
}
const td = (html: string, cls = '') => `<td${cls ? ` class="${cls}"` : ''}>${html}</td>`;
const num = (html: string) => td(html, 'num');

/** Durations of the policy as people read them. */
function durationText(ms: number, lang: Lang): string {
  const units: Array<[number, string, string]> = [
    [86_400_000, ' 天', ' d'],
    [3_600_000, ' 小时', ' h'],
    [60_000, ' 分钟', ' min'],
    [1000, ' 秒', ' s'],
  ];
  for (const [u, zh, en] of units) if (ms % u === 0) return `${ms / u}${lang === 'zh' ? zh : en}`;
  return `${ms}${lang === 'zh' ? ' 毫秒' : ' ms'}`;
}

function policyValueText(k: PolicyKey, lang: Lang): string {
  const t = DICT[lang];
  switch (k.kind) {
    case 'money':
      return `${formatFen(BigInt(String(k.value).replace('.', '')))} ${t.yuan}`;
    case 'duration':
      return durationText(k.ms ?? 0, lang);
    case 'boolean':
      return k.value ? t.yes : t.no;
    case 'unset':
      return t.unset;
    case 'list':
      return (k.value as Array<string | number>).map((v) => word(lang, String(v))).join(lang === 'zh' ? '、' : ', ');
    case 'text':
      return word(lang, String(k.value));
    default:
      return String(k.value);
  }
}

export function renderHtml(r: VerifyResult, lang: Lang = 'zh'): string {
  const t = DICT[lang];
  const zhLang = lang === 'zh';
  const off = offsetOf(r);
  const when = (ms: number, seconds = false) => esc(formatLocal(ms, off, { seconds }));
  const yn = (b: boolean | undefined | null) => (b ? t.yes : t.no);
  const res = (x: string) => `<span class="r-${esc(x)}">${esc((t as Record<string, string>)[x] ?? x)}</span>`;
  const money = (fen: number) => formatFen(fen);
  const sep = zhLang ? '、' : ', ';
  /** punctuation around the words of the dictionary: full-width in zh-CN */
  const P = zhLang ? { c: '：', l: '（', r: '）', m: '，', s: '；' } : { c: ': ', l: ' (', r: ')', m: ', ', s: '; ' };
  const valid = r.policy.valid;
  const validity = r.rules.find((x) => x.rule === 'policy.validity');
  const policyKey = new Map(r.policy.table?.map((k) => [k.key, k]) ?? []);
  const pv = (key: string) => {
    const k = policyKey.get(key);
    return k ? policyValueText(k, lang) : '—';
  };
  const pvRaw = (key: string) => String(policyKey.get(key)?.value ?? '—');
  const ctx: CodeContext = {
    unitMin: policyKey.get('money.tracks.B-pilot.equipmentUnitMin') ? formatFen(BigInt(pvRaw('money.tracks.B-pilot.equipmentUnitMin').replace('.', ''))) : '—',
    minFirstYear: policyKey.get('money.tracks.C-cloud.minFirstYear') ? formatFen(BigInt(pvRaw('money.tracks.C-cloud.minFirstYear').replace('.', ''))) : '—',
  };
  const why = (c: string) => esc(codeText(lang, c, ctx));
  const stepName = new Map(r.processes.map((p) => [p.id, p.name ?? p.id]));
  const step = (id: string | undefined) => (id === undefined ? '—' : data(stepName.get(id) ?? id));
  const deviceName = new Map(r.devices.map((d) => [d.id, d.name]));
  const device = (id: string) => (deviceName.get(id) ? `${data(deviceName.get(id))} ${code(id)}` : code(id));
  const optionName = (id: string) => esc(OPTION_NAMES[lang][id] ?? id);
  const cls = CLASSIFICATION[lang][r.classification] ?? r.classification;
  const keySteps = r.processes.filter((p) => p.key);
  const s = r.subsidy;
  // every invoice line is listed, counted or excluded, by each A track
  const lineByIndex = new Map(s.tracks.flatMap((x) => [...x.counted, ...x.excluded]).map((l) => [l.index, l]));
  const evid = (x: { evidence: string; evidenceZh?: string }) => (zhLang && x.evidenceZh ? x.evidenceZh : x.evidence);
  /** evidence as HTML: a command-line option it names (--preliminary) is a code, not a word */
  const evHtml = (x: { evidence: string; evidenceZh?: string }) =>
    esc(evid(x)).replace(/(^|[\s（(])(--[a-z][a-z-]*)/g, (_, pre: string, opt: string) => `${pre}${code(opt)}`);
  const parts: string[] = [];

  parts.push(
    `<!DOCTYPE html><html lang="${zhLang ? 'zh-CN' : 'en'}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`,
  );
  parts.push(
    `<title>${esc(t.title)} — ${esc(r.project.id)}</title><style>${CSS}${pageCss(r, lang)}</style></head><body class="${r.preliminary ? 'prelim' : ''}">`,
  );
  if (r.preliminary) parts.push(`<div class="banner" data-testid="preliminary">${esc(t.preliminary)}</div>`);

  // ---- summary page
  parts.push('<section class="summary">');
  parts.push(`<h1>${esc(t.title)}</h1>`);
  if (r.report)
    parts.push(
      `<div>${esc(t.reportNo)}${P.c}<b data-testid="report-number">${data(r.report.number)}</b> · ${esc(t.generatedAt)}${P.c}${when(Date.parse(r.report.generatedAt), true)}</div>`,
    );
  parts.push(
    `<div class="muted">${esc(t.project)}${P.c}${data(r.project.id)} ${data(r.project.name)} · ${esc(t.enterprise)}${P.c}${data(r.project.enterprise)} · ${esc(t.claim)}${P.c}${esc(CLASSIFICATION[lang][r.project.claim] ?? r.project.claim)}</div>`,
  );
  parts.push(
    `<div class="muted">${esc(t.window)}${P.c}${when(r.window.fromMs)} – ${when(r.window.toMs)}${P.l}${esc(t.windowEnd)}${P.m}${esc(r.window.days)} ${esc(t.days)}${P.r}</div>`,
  );
  parts.push('<div class="cards">');
  parts.push(
    `<div class="card"><div class="muted">${esc(t.verdict)}</div><div class="big verdict-${esc(r.classification)}" data-testid="verdict" data-classification="${esc(r.classification)}">${esc(cls)}</div>${r.preliminary ? `<div class="r-flag">${esc(t.preliminary)}</div>` : ''}</div>`,
  );
  const nr = r.networkingRate;
  parts.push(
    `<div class="card"><div class="muted">${esc(t.networkingRate)}${P.l}≥ ${esc(nr.rMin)}${P.r}</div><div class="big" data-testid="networking-rate">${pct(nr.value)}</div><div>${nr.networked}/${nr.inScope} · ${esc(t.digitalControl)} ${pct(nr.digitalControl.value)}${P.l}${nr.digitalControl.networked}/${nr.digitalControl.inScope}${P.r}</div><div class="muted">≥ ${esc(nr.full.rMin)}${P.c}${pct(nr.full.value)}${P.l}${nr.full.networked}/${nr.full.inScope}${P.r}</div></div>`,
  );
  parts.push(
    `<div class="card"><div class="muted">${esc(t.coverage)}</div><div class="big">${r.processes.filter((p) => p.covered).length}/${r.processes.length}</div><div>${esc(t.keySteps)}${P.c}${keySteps.filter((p) => p.covered).length}/${keySteps.length} · ${esc(t.fullyCovered)}${P.c}${r.processes.filter((p) => p.fullyCovered).length} · ${esc(t.executed)}${P.c}${r.processes.filter((p) => p.executed).length}</div></div>`,
  );
  parts.push(
    `<div class="card"><div class="muted">${esc(t.money)} · ${esc(t.recommended)}${P.c}${optionName(s.recommended)}</div><div class="big"><span data-testid="total" data-fen="${s.totalFen}">${money(s.totalFen)}</span> ${esc(t.yuan)}</div>${s.pendingFen > 0 ? `<div class="r-flag">${esc(t.pendingBase)}${P.c}${money(s.pendingFen)} ${esc(t.yuan)}</div>` : ''}</div>`,
  );
  parts.push('</div>');
  parts.push(optionsTable());
  parts.push(breakEvenHtml());
  const failing = r.rules.filter((x) => x.result !== 'pass');
  if (failing.length)
    parts.push(
      `<h3>${esc(t.failing)}</h3><ul>${failing.map((x) => `<li>${res(x.result)} ${esc(ruleName(lang, x.rule))}${P.c}${evHtml(x)}</li>`).join('')}</ul>`,
    );
  parts.push('</section>');

  // ---- how the report was made
  parts.push(`<h2>${esc(t.reportNo)}、${esc(t.command)}、${esc(t.source)}</h2>`);
  if (r.report) {
    const h = r.report;
    const src =
      h.source.kind === 'influx' && h.source.influx
        ? `${esc(t.sourceInflux)} ${code(h.source.influx.url)}${P.m}${esc(t.database)} ${code(h.source.influx.database)}`
        : `${esc(t.sourceStore)}${(h.source.stores ?? []).map((p) => ` ${code(p)}`).join('')}`;
    parts.push(
      table(
        [esc(t.reportNo), data(h.number)],
        [
          [td(esc(t.generatedAt)), td(when(Date.parse(h.generatedAt), true))],
          [td(esc(t.software)), td(`${code(`fgw ${h.fgw.version}`)}${h.fgw.revision ? ` · ${esc(t.revision)} ${code(h.fgw.revision)}` : ''}`)],
          [td(esc(h.source.hub ? t.equivalentCommand : t.command)), td(code(h.command.map(shellWord).join(' ')))],
          ...(h.source.hub
            ? [
                [
                  td(esc(t.hubMade)),
                  td(`${data(h.source.hub.id)}${P.l}${esc(t.config)} ${code(h.source.hub.config)}${P.r}<div class="muted">${esc(t.hubCommand)}</div>`),
                ],
              ]
            : []),
          [td(esc(t.source)), td(`${src} · ${esc(t.gateway)}${P.c}${h.source.gateways.map(code).join(sep)}`)],
          [td(esc(t.factsDigest)), td(`${code(h.factsDigest)}<div class="muted">${esc(t.reproduce)}</div>`)],
        ],
        ' class="kv" data-testid="report-header"',
      ),
    );
    parts.push(`<h3>${esc(t.inputs)}</h3>`);
    parts.push(
      table(
        [esc(t.role), esc(t.file), esc(t.hash)],
        h.inputs.map((i) => [td(esc(word(lang, i.role))), td(code(i.path)), td(code(i.sha256))]),
      ),
    );
  } else parts.push(`<p class="muted">${esc(t.noHeader)}</p>`);
  parts.push(`<h3>${esc(t.gateways)}</h3>`);
  parts.push(gatewaysTable());

  // ---- project
  parts.push(`<h2>${esc(t.project)}</h2>`);
  const pj = r.project;
  parts.push(
    table(
      [esc(t.projectId), data(pj.id)],
      [
        [td(esc(t.projectName)), td(data(pj.name))],
        [td(esc(t.enterprise)), td(`${data(pj.enterprise)}${P.l}${esc(t.uscc)} ${data(pj.uscc)}${P.r}`)],
        [td(esc(t.claim)), td(esc(CLASSIFICATION[lang][pj.claim] ?? pj.claim))],
        [td(esc(t.period)), td(`${esc(pj.period.from)} – ${esc(pj.period.to)}`)],
        [td(esc(t.pilot)), td(yn(pj.pilot))],
        [td(esc(t.acceptance)), td(pj.expertAcceptance ? data(pj.expertAcceptance) : esc(t.none))],
        [td(esc(t.firstCloud)), td(`${yn(pj.firstCloudContract)}${pj.firstCloudDate ? ` · ${esc(t.firstCloudDate)} ${esc(pj.firstCloudDate)}` : ''}`)],
        [td(esc(t.window)), td(`${when(r.window.fromMs)} – ${when(r.window.toMs)}${P.l}${esc(t.windowEnd)}${P.r}`)],
      ],
      ' class="kv" data-testid="project"',
    ),
  );
  parts.push(`<h3>${esc(t.shutdowns)}</h3>`);
  const shutdowns = pj.shutdowns ?? [];
  parts.push(
    shutdowns.length
      ? table(
          [esc(t.from), esc(t.to), esc(t.reason)],
          shutdowns.map((x) => [td(when(instantMs(x.from, off))), td(when(instantMs(x.to, off))), td(data(x.reason))]),
          ' data-testid="shutdowns"',
        )
      : `<p>${esc(t.none)}</p>`,
  );

  // ---- method
  parts.push(`<h2>${esc(t.method)}</h2>${methodHtml()}`);

  // ---- rules
  parts.push(`<h2>${esc(t.rules)}</h2>`);
  parts.push(
    table(
      [esc(t.rule), esc(t.value), esc(t.threshold), esc(t.result), esc(t.evidence)],
      r.rules.map((x) => [
        `<td data-rule="${esc(x.rule)}">${esc(ruleName(lang, x.rule))}</td>`,
        num(esc(ruleValue(x.rule, x.value))),
        num(esc(ruleThreshold(x.rule, x.threshold))),
        td(res(x.result)),
        td(evHtml(x), 'ev'),
      ]),
      ' data-testid="rules"',
      [18, 12, 14, 7, 49],
    ),
  );

  // ---- per week
  parts.push(`<h2>${esc(t.perWeek)}</h2>`);
  parts.push(weeksTable());
  parts.push(
    `<div>${esc(t.dataUse)}${P.c}${
      Object.entries(r.dataUse.readsBySystem)
        .map(([k, v]) => `${data(k)} ${v}`)
        .join(sep) || esc(t.none)
    }</div>`,
  );
  const byRoute = Object.entries(r.dataUse.readsByRoute);
  if (byRoute.length) parts.push(`<div>${esc(t.readsRoutes)}${P.c}${byRoute.map(([k, v]) => `${code(k)} ${v}`).join(sep)}</div>`);
  if (r.dataUse.nonDataReads)
    parts.push(
      `<div class="muted">${esc(t.nonDataReads)}${P.c}${Object.entries(r.dataUse.nonDataReadsByRoute)
        .map(([k, v]) => `${code(k)} ${v}`)
        .join(sep)}</div>`,
    );
  if (r.dataUse.unregisteredReads) parts.push(`<div class="muted">${esc(t.unregisteredReads)}${P.c}${r.dataUse.unregisteredReads}</div>`);
  const samples = r.processes.flatMap((p) => p.weeks.flatMap((w) => w.samples.map((c) => ({ c, p, w }))));
  if (samples.length) {
    parts.push(`<h3>${esc(t.commandSamples)}</h3>`);
    parts.push(
      table(
        [esc(t.week), esc(t.step), esc(t.time), esc(t.system), esc(t.actor), esc(t.deviceName), esc(t.tag), esc(t.value)],
        samples.map(({ c, p, w }) => [
          td(esc(weekLabelAt(r.weeks.findIndex((x) => x.index === w.week)))),
          td(step(p.id)),
          td(when(c.ts, true)),
          td(data(c.system)),
          td(data(c.actor)),
          td(device(c.device)),
          td(code(c.tag)),
          td(data(c.value)),
        ]),
        ' data-testid="command-samples"',
      ),
    );
  }
  if (r.commands.length) {
    parts.push(`<h3>${esc(fill(t.commands, { n: r.commands.length }))}</h3>`);
    parts.push(
      table(
        [esc(t.week), esc(t.time), esc(t.system), esc(t.actor), esc(t.deviceName), esc(t.tag), esc(t.value), esc(t.result)],
        r.commands.map((c) => [
          td(esc(weekLabel(c.ts))),
          td(when(c.ts, true)),
          td(data(c.system)),
          td(data(c.actor)),
          td(device(c.device)),
          td(code(c.tag)),
          td(data(c.value)),
          td(esc(word(lang, c.result))),
        ]),
      ),
    );
  }

  // ---- processes
  parts.push(`<h2>${esc(t.processes)}</h2>`);
  parts.push(
    table(
      [esc(t.step), esc(t.key), esc(t.devicesCol), esc(t.covered), esc(t.fullyCovered), esc(t.executed), esc(t.evidence)],
      r.processes.map((p) => [
        td(step(p.id)),
        td(yn(p.key)),
        td(p.devices.map(device).join(sep) || esc(t.none)),
        td(yn(p.covered)),
        td(yn(p.fullyCovered)),
        td(yn(p.executed)),
        td(`${evHtml(p)}${p.unregisteredCommands ? `<div class="muted">${esc(t.unregisteredCommands)}${P.c}${p.unregisteredCommands}</div>` : ''}`, 'ev'),
      ]),
      '',
      [12, 7, 16, 7, 8, 8, 42],
    ),
  );

  // ---- devices
  parts.push(`<h2>${esc(t.devices)}</h2><div class="muted">${esc(t.legend)}</div>`);
  const partialR = Number(r.networkingRate.rMin);
  const fullR = Number(r.networkingRate.full.rMin);
  for (const d of r.devices) {
    const tags = [
      `${esc(t.step)}${P.c}${step(d.process)}`,
      ...(d.gateway ? [`${esc(t.gateway)}${P.c}${data(d.gateway)}`] : []),
      `${esc(t.category)}${P.c}${esc(d.category ? word(lang, d.category) : '—')}`,
      `${esc(t.inScope)}${P.c}${yn(d.inScope)}`,
    ];
    if (d.exempt) tags.push(`${esc(t.exempt)}${P.c}${data(d.exempt)}`);
    if (!d.inGateway) tags.push(esc(t.notInGateway));
    if (!d.inRegister) tags.push(esc(t.notInRegister));
    parts.push(`<div class="device" data-device="${esc(d.id)}"><h3>${device(d.id)} <span class="muted">· ${tags.join(' · ')}</span></h3>`);
    if (d.reportingRate) {
      const roles = (d.rolesSeen ?? []).map((x) => esc(word(lang, x))).join(sep) || esc(t.none);
      parts.push(
        `<div>${esc(t.reportingRate)}${P.c}<b>${pct(d.reportingRate.value)}</b>${P.l}${d.goodSlots}/${d.expectedSlots}${P.m}${esc(t.slot)} ${(d.slotMs ?? 0) / 1000} ${esc(t.seconds)}${P.r}· ${esc(t.rolesSeen)}${P.c}${roles} · ${esc(t.stale)}${P.c}${yn(d.stale)}${d.lastGoodTs || d.staleAt ? `${P.l}${[d.lastGoodTs ? `${esc(t.lastGood)} ${when(d.lastGoodTs, true)}` : '', d.staleAt ? `${esc(t.staleAt)} ${when(d.staleAt, true)}` : ''].filter(Boolean).join(P.m)}${P.r}` : ''} · ${esc(t.networked)}${P.c}<b>${yn(d.networked)}</b> · ${esc(t.networkedFull)}${P.c}${yn(d.networkedFull)}</div>`,
      );
      parts.push(timelineSvg(d, partialR, fullR));
      parts.push(
        `<div>${esc(t.gapCount)}${P.c}${d.gapCount ?? 0}${(d.gaps ?? []).length ? ` · ${esc(t.gaps)}${P.c}${(d.gaps ?? []).map((g) => `${when(g.from)} – ${when(g.to)}${P.l}${g.slots} ${esc(t.slotsUnit)}${P.r}`).join(P.s)}` : ''}</div>`,
      );
      if (d.weekly?.length)
        parts.push(
          `<div class="muted">${esc(t.weeks)}${P.c}${d.weekly.map((w, i) => `${esc(weekLabelAt(i))} ${w.expected ? pct(w.good / w.expected) : esc(t.notJudged)}`).join(' · ')}</div>`,
        );
    }
    if (d.reasons.length) parts.push(`<div class="ev">${d.reasons.map(why).join(P.s)}</div>`);
    parts.push('</div>');
  }

  // ---- money
  parts.push(`<h2>${esc(t.tracks)}</h2><div class="muted">${esc(s.vatBasis === 'incl' ? t.basisIncl : t.basisExcl)}</div>`);
  for (const tr of s.tracks) {
    const id = `${tr.track}${tr.variant ? `/${tr.variant}` : ''}`;
    parts.push(
      `<h3 data-track="${esc(id)}">${esc(trackName(lang, tr.track, tr.variant))}${P.c}${money(tr.amountFen)} ${esc(t.yuan)}${tr.capped ? `${P.l}<span data-testid="capped">${esc(t.capped)}</span>${P.r}` : ''} · ${esc(t.eligible)}${P.c}${yn(tr.eligible)}${tr.reasons.length ? ` — ${tr.reasons.map(why).join(P.s)}` : ''}${tr.pendingFen ? ` · <span class="r-flag">${esc(t.pendingBase)}${P.c}${money(tr.pendingFen)} ${esc(t.yuan)}</span>` : ''}</h3>`,
    );
    if (tr.counted.length)
      parts.push(
        table(
          [esc(t.counted), esc(t.invoiceDate), esc(t.item), esc(t.amount)],
          tr.counted.map((l) => [td(lineRef(l)), td(esc(l.date)), td(itemText(l)), num(amountText(l))]),
        ),
      );
    if (tr.excluded.length)
      parts.push(
        table(
          [esc(t.excluded), esc(t.invoiceDate), esc(t.item), esc(t.amount), esc(t.reason)],
          tr.excluded.map((l) => [td(lineRef(l)), td(esc(l.date)), td(itemText(l)), num(amountText(l)), td(`${why(l.code)}${exclusionDetail(l)}`)]),
        ),
      );
  }
  if (s.contractors?.length) {
    parts.push(`<h3>${esc(t.contractorCheck)}</h3>`);
    parts.push(
      table(
        [esc(t.contractorName), esc(t.invoiceLine), esc(t.listPrice), esc(t.invoiced), esc(t.discount), esc(t.required), esc(t.result)],
        s.contractors.map((g) => [
          td(g.contractor === null ? esc(t.generalContractor) : data(g.contractor)),
          td(g.lines.map((i) => data(lineName(i))).join(sep) || esc(t.none)),
          num(g.listFen === null ? '—' : money(g.listFen)),
          num(money(g.amountFen)),
          num(g.discountFen === null ? '—' : money(g.discountFen)),
          num(g.requiredFen === null ? '—' : money(g.requiredFen)),
          td(res(g.result)),
        ]),
        ' data-testid="contractors"',
      ),
    );
  }
  if (s.corrections?.length) {
    parts.push(`<h3>${esc(t.corrections)}</h3>`);
    parts.push(
      table(
        [esc(t.invoiceLine), esc(t.amount), esc(t.correctedLine)],
        s.corrections.map((c) => [td(data(lineName(c.index))), num(money(c.basisFen)), td(data(lineName(c.corrects)))]),
      ),
    );
  }
  if (s.cloudYear)
    parts.push(
      `<div>${esc(t.cloudYear)}${P.c}${esc(s.cloudYear.from)} – ${esc(s.cloudYear.to)}${P.l}${esc(t.windowEnd)}${P.m}${esc(s.cloudYear.basis === 'firstCloudDate' ? t.cloudYearFrom : t.cloudYearInvoice)}${P.r}</div>`,
    );
  parts.push(`<h3>${esc(t.deviceInvoices)}</h3>`);
  const devLines = s.devices ?? [];
  parts.push(
    devLines.length
      ? table(
          [esc(t.deviceName), esc(t.networked), esc(t.invoiceLine), esc(t.amount)],
          devLines.map((d) => {
            const flagged = new Set((s.unnetworkedLines ?? []).filter((u) => u.devices.includes(d.id)).map((u) => u.index));
            return [
              td(device(d.id)),
              td(d.networked === null ? '—' : yn(d.networked)),
              td(
                d.lines
                  .map(
                    (l) =>
                      `${lineRef(l)} ${data(l.item)}${flagged.has(l.index) ? ` <span class="r-flag">${esc(t.notNetworkedLine)}</span>` : ''}${l.excluded ? `${P.l}${why(l.excluded)}${P.r}` : ''}`,
                  )
                  .join('<br>'),
              ),
              num(d.lines.map((l) => money(l.basisFen)).join('<br>')),
            ];
          }),
          ' data-testid="device-invoices"',
        )
      : `<p class="muted">${esc(t.noDeviceLines)}</p>`,
  );

  // ---- orders
  const ordersRule = r.rules.find((x) => x.rule === 'orders.exports');
  if (r.orders || ordersRule) {
    parts.push(`<h2>${esc(t.orders)}</h2>`);
    if (ordersRule) parts.push(`<div class="${ordersRule.result === 'pass' ? '' : 'warn'}">${evHtml(ordersRule)}</div>`);
    if (r.orders) {
      const o = r.orders;
      parts.push(
        `<div>ERP→MES ${o.erpMatched}/${o.erpRows}${P.l}${pct(o.erpToMes)}${P.r}· MES→ERP ${o.mesMatched}/${o.mesRows}${P.l}${pct(o.mesToErp)}${P.r}</div><div class="muted">${esc(t.ordersScope)}</div>`,
      );
      if (o.unmatched.length)
        parts.push(
          `<h3>${esc(t.unmatched)}</h3>`,
          table(
            [esc(t.side), esc(t.order), esc(t.item), esc(t.line), esc(t.reason)],
            o.unmatched.map((u) => [
              td(esc(word(lang, u.side))),
              td(u.order ? data(u.order) : '—'),
              td(u.item ? data(u.item) : '—'),
              num(String(u.line)),
              td(
                esc(
                  fill(UNMATCHED[lang][u.reason] ?? u.reason, {
                    quantity: u.quantity ?? '',
                    otherQuantity: u.otherQuantity ?? '',
                    otherLine: u.otherLine ?? '',
                    detail: '\u0000',
                  }),
                ).replace('\u0000', data(u.detail ?? '')),
              ),
            ]),
            ' data-testid="unmatched"',
          ),
        );
    }
  }

  // ---- policy
  parts.push(`<h2>${esc(t.policy)}</h2>`);
  parts.push(
    table(
      [esc(t.policy), `${data(r.policy.title ?? r.policy.id)}`],
      [
        [td(esc(t.policyValid)), td(valid ? `${esc(valid.from)} – ${valid.to ? esc(valid.to) : esc(t.openEnd)}` : '—')],
        [td(esc(t.file)), td(code(r.policy.path))],
        [td(esc(t.hash)), td(`<code translate="no" data-testid="policy-hash">${esc(r.policy.sha256)}</code>`)],
      ],
      ' class="kv"',
    ),
  );
  if (validity) parts.push(`<div class="${validity.result === 'pass' ? '' : 'warn'}" data-testid="policy-validity">${evHtml(validity)}</div>`);
  parts.push(`<div class="muted">${esc(t.policyTableSee)}</div>`);

  // ---- signatures
  parts.push(`<section class="signature" data-testid="signature"><h2>${esc(t.signature)}</h2>`);
  parts.push(
    `<table><tbody><tr><th>${esc(t.opinion)}</th><td class="opinion" colspan="3"></td></tr><tr><th>${esc(t.members)}</th><td class="members" colspan="3"></td></tr><tr><th>${esc(t.date)}</th><td></td><th>${esc(t.seal)}</th><td></td></tr></tbody></table></section>`,
  );

  // ---- appendix 1: codes
  parts.push(`<section class="appendix" data-testid="appendix-codes"><h2>${esc(t.codesTitle)}</h2><p>${esc(t.codesNote)}</p>`);
  parts.push(
    table(
      [esc(t.code), esc(t.meaning)],
      appendixCodes().map(([c, m]) => [td(code(c)), td(esc(m))]),
    ),
  );
  parts.push('</section>');

  // ---- appendix 2: policy table
  parts.push(`<section class="appendix" data-testid="policy-table"><h2>${esc(t.policyAppendix)}</h2>`);
  parts.push(
    `<div>${data(r.policy.title ?? r.policy.id)} · ${esc(t.policyValid)}${P.c}${valid ? `${esc(valid.from)} – ${valid.to ? esc(valid.to) : esc(t.openEnd)}` : '—'}</div>`,
  );
  if (validity && validity.result !== 'pass') parts.push(`<div class="warn">${evHtml(validity)}</div>`);
  parts.push(
    table(
      [esc(t.code), esc(t.meaning), esc(t.value), esc(t.sourceOf), esc(t.clause)],
      (r.policy.table ?? []).map((k) => [
        `<td data-key="${esc(k.key)}">${code(k.key)}</td>`,
        td(esc(zhLang ? k.zh : k.en)),
        num(esc(policyValueText(k, lang))),
        td(esc(k.source === 'text' ? t.fromText : t.fromDefault)),
        td(k.clause ? data(k.clause) : '—'),
      ]),
    ),
  );
  parts.push('</section>');
  parts.push('</body></html>');
  return parts.join('\n');

  // ---- helpers (hoisted; they read the result above)

  function shellWord(w: string): string {
    return /^[A-Za-z0-9_./:=@%+,-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
  }

  function lineName(index: number): string {
    const l = lineByIndex.get(index);
    return l ? invoiceLineName(l) : `#${index + 1}`;
  }

  function lineRef(l: { number: string; line?: number; invoiceCode?: string }): string {
    return data(invoiceLineName(l));
  }

  function itemText(l: { category: 'equipment' | 'software' | 'hardware' | 'cloud'; item: string; quantity: number }): string {
    return `${esc(CATEGORY_NAMES[lang][l.category])} · ${data(l.item)} × ${l.quantity}`;
  }

  function amountText(l: { basisFen: number; grossFen?: number }): string {
    return l.grossFen !== undefined
      ? `${money(l.basisFen)}<div class="muted">${P.l}${esc(zhLang ? '原' : 'was')} ${money(l.grossFen)}${P.r}</div>`
      : money(l.basisFen);
  }

  function exclusionDetail(l: { code: string; basisFen: number; quantity: number; detail?: string }): string {
    if (!zhLang) return l.detail ? `（${esc(l.detail)}）`.replace(/^（(.*)）$/, ' ($1)') : '';
    if (l.code === 'UNIT_UNDER_MIN' && l.quantity > 0) return `${P.l}单台 ${money(Math.floor(l.basisFen / l.quantity))} 元${P.r}`;
    if (l.code === 'CLOUD_NOT_FIRST_YEAR' && s.cloudYear) return `${P.l}上云首年 ${esc(s.cloudYear.from)} 至 ${esc(s.cloudYear.to)} 前${P.r}`;
    return '';
  }

  function optionsTable(): string {
    return (
      table(
        [esc(t.options), esc(t.amount), esc(t.pendingBase)],
        s.options.map((o) => [
          td(`${o.id === s.recommended ? '<b>' : ''}${optionName(o.id)}${o.id === s.recommended ? `</b>${P.l}${esc(t.recommended)}${P.r}` : ''}`),
          num(money(o.totalFen)),
          num(o.pendingFen ? money(o.pendingFen) : '—'),
        ]),
        ' data-testid="options"',
      ) + (s.options.some((o) => o.pendingFen > 0) ? `<div class="muted">${esc(t.pendingBaseNote)}</div>` : '')
    );
  }

  function breakEvenHtml(): string {
    const b = s.breakEven;
    if (!b) return '';
    const from = OPTION_NAMES[lang][b.from] ?? b.from;
    let text: string;
    if (!b.to || !b.rate) text = fill(t.breakEvenNever, { from });
    else {
      const rate = `${(Number(b.rateText) * 100).toFixed(4)}%`;
      text = `${fill(b.inclusive ? t.breakEvenAt : t.breakEvenAbove, { rate, from, to: OPTION_NAMES[lang][b.to] ?? b.to })} ${fill(t.breakEvenNote, { exact: b.rate.den === '1' ? b.rate.num : `${b.rate.num}/${b.rate.den}` })}`;
    }
    return `<div class="warn" data-testid="break-even"><b>${esc(t.breakEven)}</b>${P.c}${esc(text)}</div>`;
  }

  /** Every gateway with its own platform outages (each device's outages are its own gateway's). */
  function gatewaysTable(): string {
    return table(
      [esc(t.gateway), esc(t.site), esc(t.config), esc(t.devicesCol), esc(t.platformOutage), esc(t.outages)],
      r.gateways.map((g) => {
        const p = g.platform;
        const outages = p.outages.map((o) => `${when(o.from)} – ${when(o.to)}`).join('<br>') || esc(t.none);
        const inScope =
          g.inScopeDevices.length < g.devices.length
            ? `<div class="muted">${esc(t.inScopeCol)}${P.c}${g.inScopeDevices.map(device).join(sep) || esc(t.none)}</div>`
            : '';
        return [
          td(g.id ? data(g.id) : '—'),
          td(g.site ? data(g.site) : '—'),
          td(g.config ? code(g.config) : '—'),
          td(`${g.devices.map(device).join(sep) || '—'}${inScope}`),
          num(`${p.outageSlots}/${p.slots - p.shutdownSlots}${P.l}${pct(p.outage.value)}${P.r}`),
          td(outages),
        ];
      }),
      ' data-testid="gateways"',
    );
  }

  function weekLabelAt(i: number): string {
    const w = r.weeks[i];
    if (!w) return '';
    return `${localDate(w.from, off)} – ${localDate(w.to - 1, off)}`;
  }

  function weekLabel(ts: number): string {
    const i = r.weeks.findIndex((w) => ts >= w.from && ts < w.to);
    return i < 0 ? '—' : weekLabelAt(i);
  }

  /**
   * One row per calendar week; one column per series: commands to each step's in-scope devices
   * (by system in the cell), reads by registered systems and per system. A week (or a step's week)
   * that is not judged says so instead of a count that would read as a zero held against it.
   */
  function weeksTable(): string {
    type Cell = { n: number; judged: boolean; by?: Record<string, number> };
    const series: Array<{ head: string; cells: Cell[] }> = [];
    for (const p of r.processes.filter((x) => x.inScopeDevices.length > 0))
      series.push({ head: `${esc(t.commandsTo)}${step(p.id)}`, cells: p.weeks.map((w) => ({ n: w.commands, judged: w.judged, by: w.bySystem })) });
    series.push({ head: esc(t.readsBy), cells: r.dataUse.weeks.map((w) => ({ n: w.reads, judged: w.judged })) });
    const systems = [...new Set(r.dataUse.weeks.flatMap((w) => Object.keys(w.bySystem)))].sort();
    if (systems.length > 1)
      for (const sys of systems)
        series.push({ head: `${esc(t.readsOf)}${data(sys)}`, cells: r.dataUse.weeks.map((w) => ({ n: w.bySystem[sys] ?? 0, judged: w.judged })) });
    const cell = (c: Cell | undefined) => {
      if (!c) return num('—');
      const by =
        c.by && Object.keys(c.by).length
          ? `<div class="muted">${Object.entries(c.by)
              .map(([k, v]) => `${data(k)} ${v}`)
              .join(sep)}</div>`
          : '';
      if (!c.judged) return num(`${c.n ? `${c.n} ` : ''}<span class="muted">${esc(t.notJudged)}</span>`);
      return num(`${c.n}${by}`);
    };
    return table(
      [esc(t.week), ...series.map((x) => x.head)],
      r.weeks.map((w, i) => [td(`${esc(weekLabelAt(i))}${w.judged ? '' : `${P.l}${esc(t.notJudged)}${P.r}`}`), ...series.map((x) => cell(x.cells[i]))]),
      ' data-testid="weeks"',
    );
  }

  function ruleValue(rule: string, v: string | number | null): string {
    if (v === null) return '—';
    if (/^(contractor\.|money\.(pendingRate|excessRateZero))/.test(rule) && typeof v === 'number') return `${formatFen(v)} ${t.yuan}`;
    if (rule === 'claim.tier') return CLASSIFICATION[lang][String(v)] ?? String(v);
    if (rule === 'window.minimum' && typeof v === 'number') return `${v} ${t.days}`;
    if (rule === 'platform.outage' && typeof v === 'number') return pct(v);
    return String(v).replace(/n\/a/g, '—');
  }

  function ruleThreshold(rule: string, v: string | number | null): string {
    if (v === null) return '—';
    if (/^contractor\./.test(rule) && typeof v === 'number') return `${formatFen(v)} ${t.yuan}`;
    if (rule === 'claim.tier') return CLASSIFICATION[lang][String(v)] ?? String(v);
    if (rule === 'window.minimum' && typeof v === 'number') return `${v} ${t.days}`;
    if (!zhLang) return String(v);
    const base = rule.split(':')[0]!;
    const zhThresholds: Record<string, string> = {
      'partial.networkedDevices': `≥ ${v} 台`,
      'partial.keyStepCovered': `≥ ${v} 道`,
      'partial.eligibleInvoice': `≥ ${v} 行`,
      'partial.dataUse': `注册系统读取 ≥ 1 次，或订单双向匹配率 ≥ ${pvRaw('classification.partial.orderMatchMin')}`,
      'full.allNetworked': `全部设备 ≥ ${pvRaw('classification.full.rMin')}`,
      'full.weeklyStability': `每个自然周、每台设备 ≥ ${pvRaw('classification.full.rMin')}`,
      'full.stepsFullyCovered': '每道含纳入统计设备的工序',
      'full.stepsExecuted': `每道工序每周 ≥ ${pvRaw('classification.full.minCommandsPerWeek')} 条平台指令`,
      'full.dataUseEveryWeek': `每周 ≥ ${pvRaw('classification.full.minReadsPerWeek')} 次注册系统读取`,
      'orders.exports': 'ERP 与 MES',
      'policy.validity': valid ? (valid.to === null ? `${valid.from} 起` : `${valid.from} 至 ${valid.to}`) : String(v),
    };
    return zhThresholds[base] ?? String(v);
  }

  function methodHtml(): string {
    // how it was measured comes from result.method; the other values from the policy table
    const m = r.method;
    const goodWhat = m.uncertainCountsAsGood
      ? zhLang
        ? '质量为“好”或“不确定”的读数'
        : 'a reading of good or uncertain quality'
      : zhLang
        ? '质量为“好”的读数（质量为“不确定”的读数不计）'
        : 'a reading of good quality (uncertain ones do not count)';
    const v = {
      slotMin: durationText(m.slotMinMs, lang),
      staleIntervals: pvRaw('measure.staleIntervals'),
      staleMin: pv('measure.staleMin'),
      outageMax: pct(Number(m.outageMax)),
      minWindow: pv('measure.minWindow'),
      rPartial: pvRaw('classification.partial.rMin'),
      rFull: pvRaw('classification.full.rMin'),
      week: word(lang, m.weekStartsOn),
      tz: m.timezone,
      good: goodWhat,
    };
    const items = zhLang
      ? [
          `时间：一切时间均按政策时区 ${v.tz} 书写；自然周自${v.week}起算。核验窗口不含结束时刻。`,
          `时隙：每台设备的核验窗口自窗口起点起按“采集周期与 ${v.slotMin}两者中的较大者”切分为时隙，只计完整时隙。时隙内至少有一条${v.good}即为有效时隙。`,
          '剔除：与计划停机重叠的时隙，以及该设备所属网关无心跳的时隙（平台中断），不计入应报时隙。剔除适用于每一条规则。',
          `上报率 = 有效时隙 ÷ 应报时隙，与部分改造标准 ${v.rPartial}、全流程标准 ${v.rFull} 精确比较。`,
          `缺报：连续无有效读数的应报时隙。停报：在最后一个未被剔除的时隙结束时，距最后一条有效读数已超过“采集周期 × ${v.staleIntervals}”且不短于 ${v.staleMin}。`,
          `平台中断：某网关超过非停机时隙 ${v.outageMax} 的时隙无心跳，或窗口短于 ${v.minWindow} 且未申请初步评估时，结论为无法判定。`,
          '每周规则（设备每周上报率、每周平台指令、每周数据读取）只评判至少保留一个应报时隙的自然周；部分被剔除的周按剩余时隙评判。',
          '数据使用只计注册业务系统对数据接口的成功读取；平台执行只计注册系统对纳入统计设备的成功写入。',
        ]
      : [
          `Times: every time is written in the policy's zone ${v.tz}; calendar weeks start on ${v.week}. The review window excludes its end.`,
          `Slots: each device's window is cut, from the window's start, into slots of the longer of its interval and ${v.slotMin}; only whole slots count. A slot is good when it holds ${v.good}.`,
          "Exclusions: slots overlapping a planned shutdown, and slots without a heartbeat of the device's own gateway (platform outage), are not expected. Exclusions apply to every rule.",
          `Reporting rate = good slots ÷ expected slots, compared exactly with ${v.rPartial} (partial tier) and ${v.rFull} (full tier).`,
          `Gap: consecutive expected slots without a good reading. Stale: at the end of the last slot not excluded, the last good reading is older than ${v.staleIntervals} × the interval and at least ${v.staleMin}.`,
          `Platform outage above ${v.outageMax} of the non-shutdown slots of a gateway, or a window shorter than ${v.minWindow} without --preliminary, makes the result indeterminate.`,
          'Weekly rules (device weekly rate, commands per week, reads per week) judge only calendar weeks that keep at least one expected slot; a week partly excluded is judged on what remains.',
          'Data use counts only successful reads of data routes by registered systems; platform execution only successful writes by registered systems to in-scope devices.',
        ];
    return `<ol data-testid="method">${items.map((x) => `<li>${esc(x)}</li>`).join('')}</ol>`;
  }

  function appendixCodes(): Array<[string, string]> {
    const out = new Map<string, string>();
    for (const x of r.rules) {
      const base = x.rule.split(':')[0]!;
      out.set(base, RULE_NAMES[lang][base] ?? base);
    }
    const codes = new Set<string>();
    for (const d of r.devices) d.reasons.forEach((c) => codes.add(c));
    for (const tr of s.tracks) {
      tr.reasons.forEach((c) => codes.add(c));
      tr.excluded.forEach((e) => codes.add(e.code));
      tr.flags.forEach((f) => codes.add(f.split(':')[0]!));
    }
    for (const c of codes) out.set(c, codeText(lang, c, ctx));
    for (const tr of s.tracks) out.set(tr.variant ? `${tr.track} (${tr.variant})` : tr.track, trackName(lang, tr.track, tr.variant));
    for (const o of s.options) out.set(o.id, OPTION_NAMES[lang][o.id] ?? o.id);
    for (const [k, v] of Object.entries(UNMATCHED[lang])) if (r.orders?.unmatched.some((u) => u.reason === k)) out.set(k, v.replace(/[：:].*$/, ''));
    return [...out];
  }
}
