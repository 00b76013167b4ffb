/*
 * The hub's pages: plain JS, no build step, no CDN. `#/` is the overview (one row per project the
 * token may see, sortable and filterable, CSV / Excel export of what is shown), `#/project/<id>`
 * the project page (devices, daily networking rate, weekly evidence, review report). The overview
 * polls /api/projects every `poll` ms (default 30000, `?poll=<ms>`).
 *
 * The token is asked once and kept in sessionStorage (this tab only), sent as a bearer token.
 * Times are shown in each project's policy zone (+08:00 for Yongkang), as 24-hour local text in
 * both languages, so the page never mixes zones or AM/PM.
 */
'use strict';
(function () {
  const TOKEN_KEY = 'fgw.hub.token';
  const LANG_KEY = 'fgw.lang';
  const params = new URLSearchParams(location.search);
  const pollMs = Math.max(250, Number(params.get('poll')) || 30000);
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const DAY = 86400000;

  let lang = localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'zh';
  let projects = null;
  let detail = null;
  let detailError = null;
  let serverNow = Date.now();
  let sort = { key: 'id', dir: 1 };
  let timer = 0;
  let needToken = false;

  const $ = (sel) => document.querySelector(sel);
  const t = (key, vars) => {
    const d = window.FGW_HUB_I18N;
    let s = (d[lang] && d[lang][key]) || d.zh[key] || key;
    if (vars) for (const k of Object.keys(vars)) s = s.split(`{${k}}`).join(String(vars[k]));
    return s;
  };
  const el = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    if (attrs)
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') e.className = v;
        else if (k === 'text') e.textContent = v;
        else e.setAttribute(k, v === true ? '' : String(v));
      }
    for (const c of children) if (c !== undefined && c !== null) e.append(c);
    return e;
  };
  const svg = (tag, attrs) => {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  };
  const pct = (r) => (r === null || r === undefined ? '–' : `${(Math.round(r * 1000) / 10).toFixed(1)}%`);
  function duration(ms) {
    if (ms === null || ms === undefined) return '–';
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s} ${t('unitS')}`;
    if (s < 3600) return `${Math.round(s / 60)} ${t('unitM')}`;
    if (s < 86400) return `${(s / 3600).toFixed(1)} ${t('unitH')}`;
    return `${(s / 86400).toFixed(1)} ${t('unitD')}`;
  }
  /** local time in the project's zone: "2026-12-03 14:05" (24 h, the same in both languages) */
  function localTime(ms, offsetMs) {
    if (ms === undefined || ms === null) return t('never');
    const d = new Date(ms + (offsetMs || 0)).toISOString();
    return `${d.slice(0, 10)} ${d.slice(11, 16)}`;
  }
  const localDate = (ms, offsetMs) => new Date(ms + (offsetMs || 0)).toISOString().slice(0, 10);
  const CLASS = { full: 'classFull', partial: 'classPartial', none: 'classNone', indeterminate: 'classIndeterminate', pending: 'classPending' };
  const TREND = { up: 'trendUp', down: 'trendDown', same: 'trendSame' };

  // ---- API ----------------------------------------------------------------------------------
  class AuthNeeded extends Error {}
  class Forbidden extends Error {}
  async function api(path, opts) {
    const headers = { accept: (opts && opts.accept) || 'application/json' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(path, { headers, cache: 'no-store' });
    if (res.status === 401) throw new AuthNeeded();
    if (res.status === 403) throw new Forbidden();
    if (!res.ok) {
      let msg = `HTTP ${res.status}`;
      try {
        msg = (await res.json()).message || msg;
      } catch {
        /* not JSON */
      }
      throw new Error(msg);
    }
    return opts && opts.blob ? res.blob() : res.json();
  }
  function download(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  // ---- labels -------------------------------------------------------------------------------
  function applyStaticLabels() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = t('title');
    for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.getAttribute('data-i18n'));
    for (const e of document.querySelectorAll('[data-i18n-placeholder]')) e.setAttribute('placeholder', t(e.getAttribute('data-i18n-placeholder')));
    $('#lang-toggle').textContent = lang === 'zh' ? 'English' : '中文';
  }
  function setConn(state) {
    const c = $('#conn-state');
    c.setAttribute('data-state', state);
    c.removeAttribute('data-i18n');
    c.textContent = t(state === 'ok' ? 'connOk' : state === 'auth' ? 'connAuth' : state === 'lost' ? 'connLost' : 'loading');
  }

  function alarmText(a, offsetMs) {
    const age = a.value === null ? null : duration(a.value);
    const base = {
      project: a.project,
      gateway: a.gateway || '',
      device: a.device || '',
      age,
      limit: duration(typeof a.threshold === 'number' ? a.threshold : 0),
      period: a.period || '',
      detail: a.detail || '',
      threshold: a.threshold,
      value: a.value,
    };
    switch (a.kind) {
      case 'gateway.silent':
        return t(a.value === null ? 'alarm_gateway_never' : 'alarm_gateway_silent', base);
      case 'device.silent':
        return t(a.value === null ? 'alarm_device_never' : 'alarm_device_silent', base);
      case 'networking.belowTier':
        return t('alarm_networking', { ...base, value: pct(a.value) });
      case 'evidence.noCommands':
        return t('alarm_noCommands', base);
      case 'evidence.noReads':
        return t('alarm_noReads', base);
      default:
        return `${a.project}: ${a.kind}${a.since ? ` ${localTime(a.since, offsetMs)}` : ''}`;
    }
  }
  const alarmItem = (a, offsetMs) =>
    el('li', {
      class: 'alarm',
      'data-kind': a.kind,
      'data-project': a.project,
      'data-gateway': a.gateway,
      'data-device': a.device,
      text: alarmText(a, offsetMs),
    });

  // ---- overview -----------------------------------------------------------------------------
  const lastHeartbeat = (p) => Math.max(0, ...p.gateways.map((g) => g.lastHeartbeat || 0));
  const classRank = { full: 4, partial: 3, none: 2, indeterminate: 1, pending: 0 };
  const SORTS = {
    id: (p) => p.id || p.folder,
    enterprise: (p) => p.enterprise || '',
    town: (p) => `${p.town || ''} ${p.industry || ''}`,
    heartbeat: lastHeartbeat,
    live: (p) => (p.devices.inScope ? p.devices.live / p.devices.inScope : null),
    now: (p) => p.networkingRates.now,
    d7: (p) => p.networkingRates.d7,
    d30: (p) => p.networkingRates.d30,
    class: (p) => classRank[p.classification],
    alarms: (p) => p.alarms.length,
  };
  function shown() {
    if (!projects) return [];
    const text = $('#filter-text').value.trim().toLowerCase();
    const cls = $('#filter-class').value;
    const onlyAlarms = $('#filter-alarms').checked;
    const key = SORTS[sort.key] || SORTS.id;
    return projects
      .filter((p) => !text || [p.id, p.folder, p.name, p.enterprise, p.town, p.industry].some((x) => x && String(x).toLowerCase().includes(text)))
      .filter((p) => !cls || p.classification === cls)
      .filter((p) => !onlyAlarms || p.alarms.length > 0)
      .map((p, i) => ({ p, i, k: key(p) }))
      .sort((a, b) => {
        // no value sorts last whatever the direction
        if (a.k === null || a.k === undefined) return b.k === null || b.k === undefined ? a.i - b.i : 1;
        if (b.k === null || b.k === undefined) return -1;
        const c = typeof a.k === 'number' && typeof b.k === 'number' ? a.k - b.k : String(a.k).localeCompare(String(b.k), lang === 'zh' ? 'zh-CN' : 'en');
        return c * sort.dir || a.i - b.i;
      })
      .map((x) => x.p);
  }

  function renderOverview() {
    if (!projects) return;
    const rows = shown();
    for (const th of document.querySelectorAll('#projects th[data-sort]')) {
      th.classList.toggle('sorted', th.getAttribute('data-sort') === sort.key);
      th.setAttribute('aria-sort', th.getAttribute('data-sort') === sort.key ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none');
    }
    $('#projects tbody').replaceChildren(
      ...rows.map((p) => {
        const off = p.offsetMs;
        if (!p.ok) {
          return el(
            'tr',
            { 'data-project': p.id || p.folder, class: 'st-offline' },
            el('td', null, el('div', { class: 'dev-id', text: p.id || p.folder })),
            el('td', { colspan: 9, class: 'err', text: t('projectError', { msg: p.error || '' }) }),
          );
        }
        const alarmCount = p.alarms.length;
        return el(
          'tr',
          { 'data-project': p.id, 'data-class': p.classification, class: alarmCount ? 'has-alarms' : '' },
          el('td', null, el('a', { class: 'dev-id', href: `#/project/${encodeURIComponent(p.id)}`, text: p.id }), el('div', { class: 'muted', text: p.name })),
          el('td', { text: p.enterprise }),
          el('td', { text: [p.town, p.industry].filter(Boolean).join(' / ') }),
          el(
            'td',
            null,
            ...p.gateways.map((g) =>
              el(
                'div',
                { class: `gw ${g.online ? 'online' : 'offline'}`, 'data-gateway': g.id, 'data-online': g.online ? 'true' : 'false' },
                el('span', { class: `badge ${g.online ? 'online' : 'offline'}`, text: t(g.online ? 'online' : 'offline') }),
                el('span', { text: ` ${g.id} ` }),
                el('span', { class: 'muted', text: localTime(g.lastHeartbeat, off) }),
              ),
            ),
          ),
          el('td', { class: 'num', text: `${p.devices.live} / ${p.devices.inScope}` }),
          el('td', { class: 'num rate-now', text: pct(p.networkingRates.now) }),
          el('td', { class: 'num', text: pct(p.networkingRates.d7) }),
          el('td', { class: 'num', text: pct(p.networkingRates.d30) }),
          el(
            'td',
            null,
            el('span', { class: `badge class-${p.classification}`, text: t(CLASS[p.classification] || 'classPending') }),
            p.trend ? el('span', { class: `trend trend-${p.trend}`, text: ` ${t(TREND[p.trend])}` }) : null,
          ),
          el('td', { class: `num alarms${alarmCount ? ' err' : ''}`, text: String(alarmCount) }),
        );
      }),
    );
    $('#no-projects').hidden = rows.length > 0;
    const all = projects.filter((p) => p.ok);
    const gws = all.flatMap((p) => p.gateways);
    $('#card-projects').textContent = String(projects.length);
    $('#card-gateways').textContent = `${gws.filter((g) => g.online).length} / ${gws.length}`;
    $('#card-devices').textContent = `${all.reduce((s, p) => s + p.devices.live, 0)} / ${all.reduce((s, p) => s + p.devices.inScope, 0)}`;
    const alarms = projects.flatMap((p) => p.alarms.map((a) => ({ a, off: p.offsetMs })));
    $('#card-alarms').textContent = String(alarms.length);
    $('#alarm-list').replaceChildren(...alarms.map(({ a, off }) => alarmItem(a, off)));
    $('#no-alarms').hidden = alarms.length > 0;
  }

  // ---- project page -------------------------------------------------------------------------
  function renderProject() {
    const err = $('#p-error');
    if (detailError) {
      err.hidden = false;
      err.textContent = detailError;
    } else err.hidden = true;
    const d = detail;
    if (!d) return;
    const off = d.offsetMs;
    $('#p-title').textContent = `${d.id} ${d.name || ''}`;
    $('#p-sub').textContent = [d.enterprise, d.town, d.industry, d.claim ? t(d.claim === 'full' ? 'classFull' : 'classPartial') : '']
      .filter(Boolean)
      .join(' · ');
    if (!d.ok) {
      err.hidden = false;
      err.textContent = t('projectError', { msg: d.error || '' });
      return;
    }
    $('#p-now').textContent = pct(d.live.rate);
    $('#p-d7').textContent = pct(d.d7 ? d.d7.networkingRate : null);
    $('#p-d30').textContent = pct(d.d30 ? d.d30.networkingRate : null);
    $('#p-class').textContent = `${t(CLASS[d.classification] || 'classPending')}${d.trend ? ` ${t(TREND[d.trend])}` : ''}`;
    $('#p-alarms').replaceChildren(...(d.alarms.length ? d.alarms.map((a) => alarmItem(a, off)) : [el('li', { class: 'muted', text: t('noAlarms') })]));
    $('#p-gateways tbody').replaceChildren(
      ...d.gateways.map((g) =>
        el(
          'tr',
          { 'data-gateway': g.id, 'data-online': g.online ? 'true' : 'false' },
          el('td', null, el('span', { class: `badge ${g.online ? 'online' : 'offline'}`, text: t(g.online ? 'online' : 'offline') })),
          el('td', { text: `${g.id}${g.site ? ` · ${g.site}` : ''}` }),
          el('td', { text: localTime(g.lastHeartbeat, off) }),
          el('td', { text: duration(g.silentAfterMs) }),
        ),
      ),
    );
    $('#p-devices tbody').replaceChildren(
      ...d.devices.map((x) => {
        const st = !x.inGateway ? 'notInGateway' : x.live ? 'online' : 'offline';
        const scope = x.exempt ? t('exempt') : !x.inScope ? t('outOfScope') : '';
        return el(
          'tr',
          { 'data-device': x.id, 'data-status': st, class: `st-${st}` },
          el(
            'td',
            null,
            el('span', { class: `badge ${st === 'online' ? 'online' : 'offline'}`, text: t(st) }),
            scope ? el('span', { class: 'muted', text: ` ${scope}` }) : null,
          ),
          el('td', null, el('div', { class: 'dev-id', text: x.id }), el('div', { class: 'muted', text: x.name || '' })),
          el('td', { text: x.process || '' }),
          el('td', { text: localTime(x.lastReading, off) }),
          el('td', { class: 'num', text: pct(x.rate7d) }),
          el('td', { class: 'num', text: pct(x.rate30d) }),
          el('td', { text: x.inScope ? t(x.networked30d ? 'yes' : 'no') : '–', title: (x.reasons30d || []).join(', ') }),
        );
      }),
    );
    const chart = $('#p-daily');
    chart.replaceChildren();
    const W = 600;
    const H = 140;
    const n = d.daily.length;
    for (const y of [0, 0.5, 1]) chart.append(svg('line', { x1: 0, x2: W, y1: H - 4 - y * (H - 8), y2: H - 4 - y * (H - 8), class: 'grid' }));
    d.daily.forEach((x, i) => {
      const h = (x.rate || 0) * (H - 8);
      const bar = svg('rect', { x: (i / n) * W + 1, y: H - 4 - h, width: Math.max(1, W / n - 2), height: Math.max(h, 0.5), class: 'bar', 'data-day': x.day });
      const tip = svg('title', {});
      tip.textContent = `${x.day}: ${pct(x.rate)} (${x.networked}/${x.inScope})`;
      bar.append(tip);
      chart.append(bar);
    });
    $('#p-daily-from').textContent = n ? d.daily[0].day : '';
    $('#p-daily-to').textContent = n ? d.daily[n - 1].day : '';
    const sys = (o) =>
      Object.entries(o)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || t('none');
    $('#p-weekly tbody').replaceChildren(
      ...d.weekly.map((w) =>
        el(
          'tr',
          { 'data-week': w.week },
          el('td', { text: t('weekOf', { date: w.week }) }),
          el('td', { text: sys(w.commands) }),
          el('td', { text: sys(w.reads) }),
        ),
      ),
    );
    if (!$('#r-from').value && d.d30) {
      $('#r-from').value = localDate(d.d30.from, off);
      $('#r-to').value = localDate(d.d30.to - 1 + DAY, off) > localDate(serverNow, off) ? localDate(serverNow, off) : localDate(d.d30.to, off);
    }
  }

  // ---- routing and polling ------------------------------------------------------------------
  const route = () => {
    const m = /^#\/project\/(.+)$/.exec(location.hash);
    return m ? { view: 'project', id: decodeURIComponent(m[1]) } : { view: 'overview' };
  };

  async function tick() {
    clearTimeout(timer);
    if (needToken) return;
    const r = route();
    $('#view-overview').hidden = r.view !== 'overview';
    $('#view-project').hidden = r.view !== 'project';
    try {
      if (r.view === 'overview') {
        const res = await api('/api/projects');
        projects = res.projects;
        serverNow = res.at;
        renderOverview();
      } else {
        try {
          detail = await api(`/api/projects/${encodeURIComponent(r.id)}`);
          detailError = null;
        } catch (e) {
          if (!(e instanceof Forbidden)) throw e;
          detail = null;
          detailError = t('forbidden');
        }
        renderProject();
      }
      setConn('ok');
      $('#last-update').textContent = new Date().toLocaleTimeString(lang === 'zh' ? 'zh-CN' : 'en-GB', { hour12: false });
    } catch (e) {
      if (e instanceof AuthNeeded) {
        askToken(sessionStorage.getItem(TOKEN_KEY) !== null);
        return;
      }
      setConn('lost');
    }
    timer = setTimeout(() => void tick(), pollMs);
  }

  function askToken(rejected) {
    sessionStorage.removeItem(TOKEN_KEY);
    needToken = true;
    setConn('auth');
    $('#login').hidden = false;
    $('#logout').hidden = true;
    $('#login-error').textContent = rejected ? t('loginRejected') : '';
    $('#token-input').focus();
  }

  // ---- wiring -------------------------------------------------------------------------------
  $('#login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = $('#token-input').value.trim();
    if (!v) return;
    sessionStorage.setItem(TOKEN_KEY, v);
    $('#token-input').value = '';
    $('#login').hidden = true;
    $('#logout').hidden = false;
    needToken = false;
    void tick();
  });
  $('#logout').addEventListener('click', () => askToken(false));
  $('#lang-toggle').addEventListener('click', () => {
    lang = lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem(LANG_KEY, lang);
    applyStaticLabels();
    setConn($('#conn-state').getAttribute('data-state'));
    renderOverview();
    renderProject();
  });
  for (const th of document.querySelectorAll('#projects th[data-sort]')) {
    th.addEventListener('click', () => {
      const k = th.getAttribute('data-sort');
      sort = { key: k, dir: sort.key === k ? -sort.dir : 1 };
      renderOverview();
    });
  }
  for (const sel of ['#filter-text', '#filter-class', '#filter-alarms']) $(sel).addEventListener('input', renderOverview);
  for (const fmt of ['csv', 'xlsx']) {
    $(`#export-${fmt}`).addEventListener('click', async () => {
      const ids = shown()
        .map((p) => p.id || p.folder)
        .join(',');
      try {
        const blob = await api(`/api/export?format=${fmt}&lang=${lang}&ids=${encodeURIComponent(ids)}`, { blob: true, accept: '*/*' });
        download(blob, `fgw-hub.${fmt}`);
      } catch (e) {
        if (e instanceof AuthNeeded) askToken(true);
      }
    });
  }
  for (const b of document.querySelectorAll('#report-form button[data-format]')) {
    b.addEventListener('click', () => void requestReport(b));
  }
  async function requestReport(b) {
    const r = route();
    if (r.view !== 'project') return;
    const fmt = b.getAttribute('data-format');
    const from = $('#r-from').value;
    const to = $('#r-to').value;
    if (!from || !to) return;
    const q = new URLSearchParams({ from, to, format: fmt, lang, preliminary: $('#r-prelim').checked ? 'true' : 'false' });
    $('#r-status').textContent = t('reportRunning');
    try {
      const blob = await api(`/api/projects/${encodeURIComponent(r.id)}/report?${q}`, { blob: true, accept: '*/*' });
      download(blob, `${r.id}-${from}-${to}.${fmt}`);
      $('#r-status').textContent = '';
    } catch (e) {
      $('#r-status').textContent = t('reportFailed', { msg: e.message });
    }
  }
  window.addEventListener('hashchange', () => {
    detail = null;
    detailError = null;
    $('#r-from').value = '';
    void tick();
  });

  applyStaticLabels();
  if (sessionStorage.getItem(TOKEN_KEY) === null) askToken(false);
  else {
    $('#logout').hidden = false;
    void tick();
  }
})();
