/**
 * The HTML report, a pure function of the verify result: one self-contained page (inline CSS and
 * SVG, no fonts, scripts or network), printable to PDF as is. Page 1 is the summary (verdict,
 * networking rate, coverage, money); then every rule with its evidence, the process steps, each
 * device with its reporting rate, gaps and a timeline strip, the money tracks line by line, the
 * order match and the policy values with their hash. A preliminary result says so on every page.
 */
import { formatFen } from './decimal.js';
import type { VerifyResult } from './evaluate.js';
import { CLASSIFICATION, codeText, DICT, ruleName, type Lang } from './i18n.js';

const esc = (v: unknown): string =>
  String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(2)}%`);

function fmtTime(ms: number, offsetMs: number): string {
  const d = new Date(ms + offsetMs).toISOString();
  return `${d.slice(0, 10)} ${d.slice(11, 16)}`;
}

function offsetOf(result: VerifyResult): number {
  const tz = (result.policy.values as { timezone?: string } | undefined)?.timezone ?? '+08:00';
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(tz);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000 : 0;
}

const CSS = `
*{box-sizing:border-box}body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:0;padding:24px;color:#1a1a1a;font-size:13px;line-height:1.45}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:2px solid #333;padding-bottom:2px}h3{font-size:14px;margin:14px 0 4px}
table{border-collapse:collapse;width:100%;margin:4px 0 10px}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}th{background:#f2f2f2}td:nth-child(4) .r-pass,td .r-fail,td .r-flag,td .r-pass{white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.summary{page-break-after:always;break-after:page}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}.card{border:1px solid #bbb;border-radius:6px;padding:10px 14px;min-width:200px;flex:1}
.card .big{font-size:22px;font-weight:700}.muted{color:#666}
.verdict-full{color:#1b5e20}.verdict-partial{color:#33691e}.verdict-none{color:#b71c1c}.verdict-indeterminate{color:#e65100}
.r-pass{color:#1b5e20;font-weight:600}.r-fail{color:#b71c1c;font-weight:600}.r-flag{color:#e65100;font-weight:600}
.banner{position:fixed;top:0;left:0;right:0;background:#fff3e0;color:#e65100;border-bottom:2px solid #e65100;text-align:center;font-weight:700;padding:4px;font-size:12px}
body.prelim{padding-top:40px}
.device{border:1px solid #ddd;border-radius:6px;padding:8px 12px;margin:8px 0;break-inside:avoid}
.ev{font-size:12px;color:#333;word-break:break-word}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px}pre{background:#f7f7f7;padding:8px;overflow:auto;white-space:pre-wrap}
@page{size:A4;margin:14mm}
@media print{body{padding:0}body.prelim{padding-top:32px}.banner{position:fixed}}
`;

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

export function renderHtml(r: VerifyResult, lang: Lang = 'zh'): string {
  const t = DICT[lang];
  const off = offsetOf(r);
  const yn = (b: boolean | undefined) => (b ? t.yes : t.no);
  const res = (x: string) => `<span class="r-${esc(x)}">${esc((t as Record<string, string>)[x] ?? x)}</span>`;
  const money = (fen: number) => `${formatFen(fen)}`;
  const partialR = Number(r.networkingRate.rMin);
  const fullR = Number(r.networkingRate.full.rMin);
  const cls = CLASSIFICATION[lang][r.classification] ?? r.classification;
  const keySteps = r.processes.filter((p) => p.key);
  const parts: string[] = [];

  parts.push(`<!DOCTYPE html><html lang="${lang === 'zh' ? 'zh-CN' : 'en'}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`);
  parts.push(`<title>${esc(t.title)} — ${esc(r.project.id)}</title><style>${CSS}</style></head><body class="${r.preliminary ? 'prelim' : ''}">`);
  if (r.preliminary) parts.push(`<div class="banner" data-testid="preliminary">${esc(t.preliminary)}</div>`);

  // ---- summary page
  parts.push('<section class="summary">');
  parts.push(`<h1>${esc(t.title)}</h1>`);
  parts.push(
    `<div class="muted">${esc(t.project)}: <b>${esc(r.project.id)}</b> ${esc(r.project.name)} · ${esc(t.enterprise)}: ${esc(r.project.enterprise)} (${esc(r.project.uscc)}) · ${esc(t.claim)}: ${esc(CLASSIFICATION[lang][r.project.claim] ?? r.project.claim)}</div>`,
  );
  parts.push(
    `<div class="muted">${esc(t.window)}: ${esc(fmtTime(r.window.fromMs, off))} – ${esc(fmtTime(r.window.toMs, off))} (${esc(r.window.days)} ${esc(t.days)}) · ${esc(t.source)}: ${esc(r.source)}${r.gateway ? ` (${esc(r.gateway.id)})` : ''}</div>`,
  );
  parts.push('<div class="cards">');
  parts.push(`<div class="card"><div class="muted">${esc(t.verdict)}</div><div class="big verdict-${esc(r.classification)}" data-testid="verdict" data-classification="${esc(r.classification)}">${esc(cls)}</div>${r.preliminary ? `<div class="r-flag">${esc(t.preliminary)}</div>` : ''}</div>`);
  const nr = r.networkingRate;
  parts.push(
    `<div class="card"><div class="muted">${esc(t.networkingRate)} (r ≥ ${esc(nr.rMin)})</div><div class="big" data-testid="networking-rate">${pct(nr.value)}</div><div>${nr.networked}/${nr.inScope} · ${esc(t.digitalControl)} ${pct(nr.digitalControl.value)} (${nr.digitalControl.networked}/${nr.digitalControl.inScope})</div><div class="muted">r ≥ ${esc(nr.full.rMin)}: ${pct(nr.full.value)} (${nr.full.networked}/${nr.full.inScope})</div></div>`,
  );
  parts.push(
    `<div class="card"><div class="muted">${esc(t.coverage)}</div><div class="big">${r.processes.filter((p) => p.covered).length}/${r.processes.length}</div><div>${esc(t.keySteps)}: ${keySteps.filter((p) => p.covered).length}/${keySteps.length} · ${esc(t.fullyCovered)}: ${r.processes.filter((p) => p.fullyCovered).length} · ${esc(t.executed)}: ${r.processes.filter((p) => p.executed).length}</div></div>`,
  );
  const s = r.subsidy;
  parts.push(
    `<div class="card"><div class="muted">${esc(t.money)} · ${esc(t.recommended)}: ${esc(s.recommended)}</div><div class="big"><span data-testid="total" data-fen="${s.totalFen}">${money(s.totalFen)}</span> ${esc(t.yuan)}</div>${s.pendingFen > 0 ? `<div class="r-flag">${esc(t.pending)}: ${money(s.pendingFen)} ${esc(t.yuan)}</div>` : ''}</div>`,
  );
  parts.push('</div>');
  parts.push(`<table><tr><th>${esc(t.options)}</th><th>${esc(t.amount)}</th><th>${esc(t.pending)}</th></tr>${s.options.map((o) => `<tr${o.id === s.recommended ? ' style="font-weight:700"' : ''}><td>${esc(o.id)} (${esc(o.tracks.join(' + '))})</td><td class="num">${money(o.totalFen)}</td><td class="num">${o.pendingFen ? money(o.pendingFen) : '—'}</td></tr>`).join('')}</table>`);
  const failing = r.rules.filter((x) => x.result !== 'pass');
  const evid = (x: { evidence: string; evidenceZh?: string }) => (lang === 'zh' && x.evidenceZh ? x.evidenceZh : x.evidence);
  if (failing.length) parts.push(`<h3>${esc(t.rules)}</h3><ul>${failing.map((x) => `<li>${res(x.result)} ${esc(ruleName(lang, x.rule))}: ${esc(evid(x))}</li>`).join('')}</ul>`);
  parts.push(`<div class="muted">${esc(t.policy)}: ${esc(r.policy.id)} · ${esc(t.hash)} <code>${esc(r.policy.sha256)}</code></div>`);
  parts.push('</section>');

  // ---- rules
  parts.push(`<h2>${esc(t.rules)}</h2><table><tr><th>${esc(t.rule)}</th><th>${esc(t.value)}</th><th>${esc(t.threshold)}</th><th>${esc(t.result)}</th><th>${esc(t.evidence)}</th></tr>`);
  // money rules carry fen in the JSON; the page shows 元 with two decimals
  const shown = (rule: string, v: unknown) => (rule.startsWith('contractor.') && typeof v === 'number' ? `${formatFen(v)} 元` : (v ?? '—'));
  for (const x of r.rules) parts.push(`<tr data-rule="${esc(x.rule)}"><td>${esc(ruleName(lang, x.rule))}<br><code>${esc(x.rule)}</code></td><td class="num">${esc(shown(x.rule, x.value))}</td><td class="num">${esc(shown(x.rule, x.threshold))}</td><td>${res(x.result)}</td><td class="ev">${esc(evid(x))}</td></tr>`);
  parts.push('</table>');
  parts.push(`<div>${esc(t.platformOutage)}: ${r.platform.outageSlots}/${r.platform.slots - r.platform.shutdownSlots} (${pct(r.platform.outage.value)})${r.platform.outages.map((o) => ` · ${esc(fmtTime(o.from, off))}–${esc(fmtTime(o.to, off))}`).join('')}</div>`);
  parts.push(`<div>${esc(t.dataUse)}: ${esc(Object.entries(r.dataUse.readsBySystem).map(([k, v]) => `${k} ${v}`).join(', ') || t.none)} · ${esc(t.weeks)}: [${r.dataUse.readsPerWeek.join(', ')}]</div>`);

  // ---- processes
  parts.push(`<h2>${esc(t.processes)}</h2><table><tr><th>${esc(t.step)}</th><th>${esc(t.key)}</th><th>${esc(t.devicesCol)}</th><th>${esc(t.covered)}</th><th>${esc(t.fullyCovered)}</th><th>${esc(t.executed)}</th><th>${esc(t.evidence)}</th></tr>`);
  for (const p of r.processes) parts.push(`<tr><td>${esc(p.id)} ${esc(p.name ?? '')}</td><td>${yn(p.key)}</td><td>${esc(p.devices.join(', ') || t.none)}</td><td>${yn(p.covered)}</td><td>${yn(p.fullyCovered)}</td><td>${yn(p.executed)}</td><td class="ev">${esc(evid(p))}</td></tr>`);
  parts.push('</table>');

  if (r.commands.length) {
    parts.push(`<h3>${esc(t.commands)}</h3><table><tr><th>${esc(t.time)}</th><th>${esc(t.actor)}</th><th>${esc(t.devicesCol)}</th><th>${esc(t.value)}</th><th>${esc(t.result)}</th></tr>`);
    for (const c of r.commands) parts.push(`<tr><td>${esc(fmtTime(c.ts, off))}</td><td>${esc(c.actor)} (${esc(c.system)})</td><td>${esc(c.device)}.${esc(c.tag)}</td><td>${esc(c.value)}</td><td>${esc(c.result)}</td></tr>`);
    parts.push('</table>');
  }

  // ---- devices
  parts.push(`<h2>${esc(t.devices)}</h2><div class="muted">${esc(t.legend)}</div>`);
  for (const d of r.devices) {
    const m = d;
    parts.push(`<div class="device" data-device="${esc(d.id)}"><h3>${esc(d.id)} ${esc(d.name ?? '')} <span class="muted">· ${esc(d.process ?? '')} · ${esc(t.category)}: ${esc(d.category ?? '—')} · ${esc(t.inScope)}: ${yn(d.inScope)}${d.exempt ? ` · ${esc(t.exempt)}: ${esc(d.exempt)}` : ''}${!d.inGateway ? ` · ${esc(t.notInGateway)}` : ''}${!d.inRegister ? ` · ${esc(t.notInRegister)}` : ''}</span></h3>`);
    if (m.reportingRate) {
      parts.push(
        `<div>${esc(t.reportingRate)}: <b>${pct(m.reportingRate.value)}</b> (${m.goodSlots}/${m.expectedSlots} ${esc(t.slot)} ${(m.slotMs ?? 0) / 1000} s) · ${esc(t.rolesSeen)}: ${esc((m.rolesSeen ?? []).join(', ') || t.none)} · ${esc(t.stale)}: ${yn(m.stale)}${m.lastGoodTs ? ` (${esc(fmtTime(m.lastGoodTs, off))})` : ''} · ${esc(t.networked)}: <b>${yn(d.networked)}</b> · ${esc(t.networkedFull)}: ${yn(d.networkedFull)}</div>`,
      );
      parts.push(timelineSvg(m, partialR, fullR));
      parts.push(`<div>${esc(t.gapCount)}: ${m.gapCount ?? 0}${(m.gaps ?? []).length ? ` · ${esc(t.gaps)}: ${(m.gaps ?? []).map((g) => `${esc(fmtTime(g.from, off))}–${esc(fmtTime(g.to, off))} (${g.slots})`).join('; ')}` : ''}</div>`);
      if (m.weekly?.length) parts.push(`<div class="muted">${esc(t.weeks)}: ${m.weekly.map((w, i) => `${esc(r.weeks[i]?.label ?? '')} ${w.expected ? pct(w.good / w.expected) : '—'}`).join(' · ')}</div>`);
    }
    if (d.reasons.length) parts.push(`<div class="ev">${d.reasons.map((c) => esc(codeText(lang, c))).join('; ')}</div>`);
    parts.push('</div>');
  }

  // ---- money
  parts.push(`<h2>${esc(t.tracks)} <span class="muted">(VAT ${esc(s.vatBasis)})</span></h2>`);
  for (const tr of s.tracks) {
    const name = `${tr.track}${tr.variant ? ` (${tr.variant})` : ''}`;
    parts.push(`<h3 data-track="${esc(name)}">${esc(name)}: ${money(tr.amountFen)} ${esc(t.yuan)}${tr.capped ? ` (${esc(t.capped)})` : ''} · ${esc(t.eligible)}: ${yn(tr.eligible)}${tr.reasons.length ? ` — ${esc(tr.reasons.map((c) => codeText(lang, c)).join('; '))}` : ''}${tr.pendingFen ? ` · <span class="r-flag">${esc(t.pending)}: ${money(tr.pendingFen)}</span>` : ''}</h3>`);
    if (tr.counted.length) parts.push(`<table><tr><th>${esc(t.counted)}</th><th></th><th>${esc(t.amount)}</th></tr>${tr.counted.map((l) => `<tr><td>${esc(l.number)}${l.line ? `#${l.line}` : ''} ${esc(l.date)}</td><td>${esc(l.category)} · ${esc(l.item)} × ${l.quantity}</td><td class="num">${money(l.basisFen)}</td></tr>`).join('')}</table>`);
    if (tr.excluded.length) parts.push(`<table><tr><th>${esc(t.excluded)}</th><th></th><th>${esc(t.amount)}</th><th>${esc(t.reason)}</th></tr>${tr.excluded.map((l) => `<tr><td>${esc(l.number)}${l.line ? `#${l.line}` : ''} ${esc(l.date)}</td><td>${esc(l.category)} · ${esc(l.item)} × ${l.quantity}</td><td class="num">${money(l.basisFen)}</td><td><code>${esc(l.code)}</code> ${esc(codeText(lang, l.code))}${l.detail ? ` (${esc(l.detail)})` : ''}</td></tr>`).join('')}</table>`);
  }

  // ---- orders
  if (r.orders) {
    const o = r.orders;
    parts.push(`<h2>${esc(t.orders)}</h2><div>ERP→MES ${o.erpMatched}/${o.erpRows} (${pct(o.erpToMes)}) · MES→ERP ${o.mesMatched}/${o.mesRows} (${pct(o.mesToErp)})</div>`);
    if (o.unmatched.length) parts.push(`<table><tr><th>${esc(t.unmatched)}</th><th></th><th>${esc(t.reason)}</th></tr>${o.unmatched.map((u) => `<tr><td>${esc(u.side.toUpperCase())} ${esc(u.order)}</td><td>line ${u.line}</td><td>${esc(u.reason)}</td></tr>`).join('')}</table>`);
    if (o.bad.length) parts.push(`<table><tr><th>${esc(t.badRows)}</th><th></th><th>${esc(t.reason)}</th></tr>${o.bad.map((b) => `<tr><td>${esc(b.file)}</td><td>line ${b.line}</td><td>${esc(b.reason)}</td></tr>`).join('')}</table>`);
  }

  // ---- policy
  parts.push(`<h2>${esc(t.policy)}</h2><div>${esc(r.policy.id)} ${esc(r.policy.title ?? '')}</div><div>${esc(t.hash)}: <code data-testid="policy-hash">${esc(r.policy.sha256)}</code></div><pre>${esc(JSON.stringify(r.policy.values, null, 2))}</pre>`);
  parts.push(`<div class="muted">${esc(t.generated)}: fgw verify · ${esc(r.kind)} v${r.version}</div>`);
  parts.push('</body></html>');
  return parts.join('\n');
}
