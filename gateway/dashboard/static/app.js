/*
 * The gateway dashboard: plain JS, no build step, no CDN. It polls the gateway's own API:
 * devices and latest values every `poll` ms (default 5000, `?poll=<ms>` to change); status, the
 * networking chart, the sparklines (one request for all tags) and pilots every 30 s. The pilots
 * view's live devices and live networking rate are counted from the devices of the same poll as the
 * devices page (the project's in-scope list comes with the pilots), so the two pages never disagree.
 * Times and dates follow the page's language (zh-CN or English, 24-hour clock), not the browser's.
 *
 * Authentication: without tokens (loopback) the API answers anonymously. With tokens, a 401 shows a
 * form that asks for a read token once; it is kept in sessionStorage (this tab only) and sent as a
 * bearer token. Use a token of system "dashboard": its reads are audited under that system, which
 * is not a consumer system and does not count as data use.
 */
'use strict';
(function () {
  const TOKEN_KEY = 'fgw.token';
  const LANG_KEY = 'fgw.lang';
  const SLOW_MS = 30000;
  const params = new URLSearchParams(location.search);
  const pollMs = Math.max(250, Number(params.get('poll')) || 5000);
  const SVG_NS = 'http://www.w3.org/2000/svg';

  let lang = localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'zh';
  let view = 'devices';
  let devices = [];
  let latest = new Map();
  let status = null;
  let networking = null;
  let pilots = null;
  let sparks = new Map();
  let lastSlow = 0;
  let needToken = false;
  let timer = 0;

  const $ = (sel) => document.querySelector(sel);
  const t = (key, vars) => {
    let s = (window.FGW_I18N[lang] && window.FGW_I18N[lang][key]) || window.FGW_I18N.zh[key] || key;
    if (vars) for (const k of Object.keys(vars)) s = s.replace(`{${k}}`, String(vars[k]));
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

  // times in the page's language, 24-hour, in the browser's time zone
  const locale = () => (lang === 'en' ? 'en-GB' : 'zh-CN');
  const fmtTime = (ts) => new Date(ts).toLocaleTimeString(locale(), { hour12: false });
  const fmtDate = (ts) => new Date(ts).toLocaleDateString(locale());
  const fmtDateTime = (ts) => new Date(ts).toLocaleString(locale(), { hour12: false });

  function duration(ms) {
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s} ${t('unitS')}`;
    if (s < 3600) return `${Math.round(s / 60)} ${t('unitM')}`;
    if (s < 86400) return `${(s / 3600).toFixed(1)} ${t('unitH')}`;
    return `${(s / 86400).toFixed(1)} ${t('unitD')}`;
  }
  function bytes(n) {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) {
      n /= 1024;
      i++;
    }
    return `${n.toFixed(i === 0 ? 0 : 1)} ${u[i]}`;
  }
  function fmtValue(v) {
    if (v === null || v === undefined) return '–';
    if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
    return String(v);
  }
  const pct = (r) => (r === null || r === undefined ? '–' : `${Math.round(r * 1000) / 10}%`);

  // ---- API ----------------------------------------------------------------------------------
  class AuthNeeded extends Error {}
  async function api(path) {
    const headers = { accept: 'application/json' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(path, { headers, cache: 'no-store' });
    if (res.status === 401) throw new AuthNeeded();
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return res.json();
  }

  // ---- rendering ----------------------------------------------------------------------------
  function applyStaticLabels() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    document.title = t('title');
    for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.getAttribute('data-i18n'));
    $('#lang-toggle').textContent = lang === 'zh' ? 'English' : '中文';
  }

  function setConn(state) {
    const c = $('#conn-state');
    c.setAttribute('data-state', state);
    c.removeAttribute('data-i18n');
    c.textContent = t(state === 'ok' ? 'connOk' : state === 'auth' ? 'connAuth' : state === 'lost' ? 'connLost' : 'loading');
  }

  function deviceState(d) {
    if (!d.enabled) return 'disabled';
    if (!d.status.connected) return 'offline';
    if (d.status.silent) return 'silent';
    return 'online';
  }
  const STATE_LABEL = { online: 'statusOnline', offline: 'statusOffline', silent: 'statusSilent', disabled: 'statusDisabled' };

  function sparkline(points) {
    const w = 120;
    const h = 24;
    const s = svg('svg', { class: 'spark', viewBox: `0 0 ${w} ${h}`, width: w, height: h, 'aria-hidden': 'true' });
    const num = points.filter((p) => p.value !== null && (typeof p.value === 'number' || typeof p.value === 'boolean'));
    if (num.length < 2) return s;
    const xs = num.map((p) => p.ts);
    const ys = num.map((p) => (typeof p.value === 'boolean' ? (p.value ? 1 : 0) : p.value));
    const x0 = Math.min(...xs);
    const x1 = Math.max(...xs);
    let y0 = Math.min(...ys);
    let y1 = Math.max(...ys);
    if (y0 === y1) {
      y0 -= 1;
      y1 += 1;
    }
    const pts = num.map((p, i) => `${(((xs[i] - x0) / (x1 - x0 || 1)) * (w - 2) + 1).toFixed(1)},${(h - 1 - ((ys[i] - y0) / (y1 - y0)) * (h - 2)).toFixed(1)}`);
    s.append(svg('polyline', { points: pts.join(' '), fill: 'none', stroke: 'currentColor', 'stroke-width': 1.2 }));
    return s;
  }

  function renderDevices(now) {
    const tbody = $('#devices tbody');
    const rows = [];
    for (const d of devices) {
      const st = deviceState(d);
      const s = d.status;
      const tagCells = el('div', { class: 'tags' });
      for (const tag of d.tags) {
        const r = latest.get(`${d.id}\u0000${tag.name}`);
        const val = r ? (r.quality === 'bad' ? `✕ ${r.error || ''}` : fmtValue(r.value)) : '–';
        tagCells.append(
          el(
            'div',
            { class: `tag${r && r.quality !== 'good' ? ` q-${r.quality}` : ''}`, 'data-tag': tag.name, title: tag.description || tag.role },
            el('span', { class: 'tag-name', text: tag.name }),
            el('span', { class: 'tag-value', text: `${val}${tag.unit && r && r.quality !== 'bad' ? ` ${tag.unit}` : ''}` }),
            sparkline(sparks.get(`${d.id}\u0000${tag.name}`) || []),
          ),
        );
      }
      const last = s.lastReadingAt === undefined ? t('never') : t('ago', { age: duration(Math.max(0, now - s.lastReadingAt)) });
      rows.push(
        el(
          'tr',
          { 'data-device': d.id, 'data-status': st, class: `st-${st}` },
          el(
            'td',
            null,
            el('span', { class: `badge ${st}`, text: t(STATE_LABEL[st]) }),
            s.demoted ? el('span', { class: 'badge demoted', text: t('demoted') }) : null,
          ),
          el('td', null, el('div', { class: 'dev-id', text: d.id }), el('div', { class: 'muted', text: d.name || '' })),
          el('td', { text: [d.line, d.process].filter(Boolean).join(' / ') }),
          el('td', { text: `${d.protocol} · ${duration(d.interval)}` }),
          el('td', { class: 'last', text: last }),
          el('td', { text: `${s.good} / ${s.bad}` }),
          el(
            'td',
            null,
            el('div', { text: s.cycleMs === undefined ? '–' : `${s.cycleMs} ms` }),
            s.pollsLate || s.pollsSkipped
              ? el('div', { class: 'muted ticks', text: t('pollTicks', { late: s.pollsLate || 0, skipped: s.pollsSkipped || 0 }) })
              : null,
          ),
          el('td', { class: 'err', text: s.lastError || '', title: s.lastErrorAt ? fmtDateTime(s.lastErrorAt) : '' }),
          el('td', null, tagCells),
        ),
      );
    }
    tbody.replaceChildren(...rows);

    const alarms = devices.filter((d) => d.status.silent);
    const storeAlarms = storeAlarmItems(now);
    $('#alarm-list').replaceChildren(
      ...storeAlarms,
      ...alarms.map((d) =>
        el('li', {
          class: 'alarm',
          'data-device': d.id,
          text: t('alarmSilent', { device: `${d.name || d.id} (${d.id})`, age: duration(d.status.silentForMs), limit: duration(d.status.staleAfterMs) }),
        }),
      ),
    );
    $('#no-alarms').hidden = alarms.length + storeAlarms.length > 0;

    const enabled = devices.filter((d) => d.enabled);
    const live = enabled.filter((d) => d.status.live).length;
    $('#card-live').textContent = `${live} / ${enabled.length}`;
    $('#card-rate').textContent = enabled.length ? pct(live / enabled.length) : '–';
  }

  /** the store's alarms: full (no room for readings), damaged files moved aside and not yet salvaged */
  function storeAlarmItems(now) {
    if (!status) return [];
    const st = status.store;
    const items = [];
    if (st.full) {
      const f = st.full;
      items.push(
        el('li', {
          class: 'alarm',
          'data-alarm': 'store-full',
          'data-reason': f.reason,
          text: t(f.reason === 'disk' ? 'alarmStoreFullDisk' : 'alarmStoreFullMaxSize', {
            age: duration(Math.max(0, now - f.since)),
            refused: f.refused,
            dropped: f.dropped,
          }),
        }),
      );
    }
    for (const d of st.damaged.filter((x) => !x.salvaged)) {
      items.push(
        el('li', {
          class: 'alarm',
          'data-alarm': 'store-damaged',
          'data-file': d.file,
          text: t('alarmStoreDamaged', { file: d.file, error: d.error, at: fmtDateTime(d.at) }),
        }),
      );
    }
    return items;
  }

  function renderStatus() {
    if (!status) return;
    $('#gateway-id').textContent = status.gateway.site ? `${status.gateway.id} · ${status.gateway.site}` : status.gateway.id;
    const f = status.forwarder;
    $('#card-backlog').textContent = String(f ? f.backlog : status.store.backlog);
    $('#card-lag').textContent = f ? duration(f.lagMs) : t('noForwarder');
    $('#card-dead').textContent = String(status.store.deadLetters);
    $('#card-store').textContent = bytes(status.store.sizeBytes);
    $('#card-dropped').textContent = String(status.store.dropped);
    $('#card-lost').textContent = String(status.store.lost);
    $('#card-lost').title = status.store.losses.map((l) => `${l.device} ${l.reason}: ${l.count}`).join('\n');
    const north = status.north || [];
    $('#north-section').hidden = north.length === 0;
    $('#north tbody').replaceChildren(
      ...north.map((n) =>
        el(
          'tr',
          { 'data-target': n.name, class: n.connected ? 'st-online' : 'st-offline' },
          el(
            'td',
            null,
            el('span', { class: `badge ${n.connected ? 'online' : 'offline'}`, text: t(n.connected ? 'northUp' : 'northDown') }),
            n.replaying ? el('span', { class: 'badge demoted', text: t('northReplay') }) : null,
          ),
          el('td', null, el('div', { class: 'dev-id', text: n.name }), el('div', { class: 'muted', text: `${n.system} · ${n.url}` })),
          el('td', { text: n.format }),
          el('td', { class: 'backlog', text: String(n.backlog) }),
          el('td', { class: 'lag', text: duration(n.lagMs) }),
          el('td', { class: 'rate', text: t('perSecond', { n: n.publishRate.toFixed(1) }) }),
          el('td', { text: `${n.commands.ok} / ${n.commands.denied} / ${n.commands.error}` }),
          el('td', { class: 'err', text: n.lastError || '' }),
        ),
      ),
    );
  }

  function renderNetworking() {
    const chart = $('#networking-chart');
    chart.replaceChildren();
    if (!networking || networking.points.length === 0) return;
    const W = 600;
    const H = 120;
    for (const y of [0, 0.5, 1]) chart.append(svg('line', { x1: 0, x2: W, y1: H - 4 - y * (H - 8), y2: H - 4 - y * (H - 8), class: 'grid' }));
    const pts = networking.points;
    const n = pts.length;
    const coords = pts.map((p, i) => `${((i + 0.5) / n) * W},${H - 4 - (p.rate === null ? 0 : p.rate) * (H - 8)}`);
    chart.append(svg('polyline', { points: coords.join(' '), class: 'rate-line', fill: 'none' }));
    const lastPt = pts[n - 1];
    $('#chart-now').textContent = `${pct(lastPt.rate)} (${lastPt.live}/${lastPt.total})`;
    $('#chart-from').textContent = fmtTime(networking.from);
    $('#chart-to').textContent = fmtTime(networking.to);
  }

  function renderPilots() {
    const tbody = $('#pilots tbody');
    if (!pilots) return;
    $('#no-pilots').hidden = pilots.length > 0;
    const CLASS = { pending: 'classPending', full: 'classFull', partial: 'classPartial', none: 'classNone', indeterminate: 'classIndeterminate' };
    // live now, from the devices of this poll (the devices page's own figures), not from the pilots
    // answer, which is refreshed only every 30 s
    const liveNow = new Set(devices.filter((d) => d.status.live).map((d) => d.id));
    tbody.replaceChildren(
      ...pilots.map((p) => {
        if (!p.ok)
          return el(
            'tr',
            { 'data-project-file': p.file, class: 'st-offline' },
            el('td', { text: p.file }),
            el('td', { colspan: 8, class: 'err', text: `${t('projectError')}: ${p.error || ''}` }),
          );
        const live = p.inScope.filter((id) => liveNow.has(id));
        return el(
          'tr',
          { 'data-project': p.id },
          el('td', null, el('div', { class: 'dev-id', text: p.id }), el('div', { class: 'muted', text: p.name })),
          el('td', { text: p.enterprise || '' }),
          el('td', { text: p.claim ? t(p.claim === 'full' ? 'claimFull' : 'claimPartial') : '' }),
          el('td', { text: String(p.inScope.length), title: p.inScope.join(', ') }),
          el('td', { class: 'live', text: String(live.length), title: live.join(', ') }),
          el('td', { text: p.missing.join(', ') }),
          el('td', { class: 'rate', text: p.inScope.length ? pct(live.length / p.inScope.length) : pct(null) }),
          el('td', { class: 'vrate', text: p.evaluation ? `${pct(p.evaluation.networkingRate)} (${p.evaluation.networked}/${p.evaluation.inScope})` : '–' }),
          el(
            'td',
            null,
            el('span', {
              class: `badge class-${p.classification}`,
              text: t(CLASS[p.classification] || 'classPending'),
              title: p.evaluation
                ? `${fmtDate(p.evaluation.from)} – ${fmtDate(p.evaluation.to)}${p.evaluation.failed.length ? `\n✕ ${p.evaluation.failed.join('\n✕ ')}` : ''}`
                : p.evaluationError || '',
            }),
          ),
        );
      }),
    );
  }

  function renderAll() {
    const now = status ? status.gateway.now : Date.now();
    renderDevices(now);
    renderStatus();
    renderNetworking();
    renderPilots();
  }

  // ---- polling ------------------------------------------------------------------------------
  async function loadSlow() {
    const [st, net] = await Promise.all([api('/api/status'), api('/api/networking?from=-1h&step=1m')]);
    status = st;
    networking = net;
    const sp = await api('/api/sparklines?points=120&from=-1h');
    sparks = new Map(sp.series.map((s) => [`${s.device}\u0000${s.tag}`, s.points.map(([ts, value]) => ({ ts, value }))]));
    if (view === 'pilots' || pilots === null) pilots = (await api('/api/pilots')).pilots;
  }

  async function tick() {
    clearTimeout(timer);
    if (needToken) return;
    try {
      const [devs, lat] = await Promise.all([api('/api/devices'), api('/api/latest')]);
      devices = devs.devices;
      latest = new Map(lat.readings.map((r) => [`${r.device}\u0000${r.tag}`, r]));
      if (status) status.gateway.now = devs.now;
      if (Date.now() - lastSlow >= SLOW_MS || status === null) {
        lastSlow = Date.now();
        await loadSlow();
      }
      renderAll();
      setConn('ok');
      $('#last-update').textContent = fmtTime(Date.now());
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
    lastSlow = 0;
    void tick();
  });
  $('#logout').addEventListener('click', () => askToken(false));
  $('#lang-toggle').addEventListener('click', () => {
    lang = lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem(LANG_KEY, lang);
    applyStaticLabels();
    setConn($('#conn-state').getAttribute('data-state'));
    renderAll();
  });
  for (const b of document.querySelectorAll('.tab')) {
    b.addEventListener('click', () => {
      view = b.getAttribute('data-view');
      for (const x of document.querySelectorAll('.tab')) x.classList.toggle('active', x === b);
      $('#view-devices').hidden = view !== 'devices';
      $('#view-pilots').hidden = view !== 'pilots';
      if (view === 'pilots')
        api('/api/pilots').then(
          (r) => {
            pilots = r.pilots;
            renderPilots();
          },
          () => {},
        );
    });
  }

  applyStaticLabels();
  $('#logout').hidden = sessionStorage.getItem(TOKEN_KEY) === null;
  fetch('/dashboard.json', { cache: 'no-store' })
    .then((r) => r.json())
    .then(
      (cfg) => {
        if (cfg.tokenRequired && sessionStorage.getItem(TOKEN_KEY) === null) askToken(false);
        else void tick();
      },
      () => tick(),
    );
})();
