/*
 * ngx_scale dashboard.  Polls /status once a second and keeps the last
 * five minutes in memory; rates and latency percentiles are computed here
 * from the server's counters.  Everything the server sends is written
 * with textContent, never as markup.  Panels whose figures the server
 * does not report (health, cluster) stay hidden.
 */
'use strict';

(function () {

const POLL_MS = 1000;
const HISTORY = 300;            /* samples: 5 minutes at 1/s */
const LAT_WINDOW = 10;          /* samples for the p50/p99 cards */
const CLIENTS_EVERY = 3;        /* refresh the clients page every 3 polls */

const CONFIG_FIELDS = [
  'subset_size', 'max_clients', 'refresh_min', 'rate', 'burst',
  'min_age', 'max_age', 'health_timeout', 'health_interval',
  'cleanup_interval'
];

const COLORS = ['#2563eb', '#16a34a', '#d97706', '#dc2626', '#7c3aed'];

const $ = (id) => document.getElementById(id);

const state = {
  history: [],
  last: null,
  polls: 0,
  config: null,
  manager: null,
  page: { offset: 0, q: '', limit: 20, stack: [] },
  loadingClients: false
};


/* ---- small helpers ---- */

function num(v) {
  return typeof v === 'number' && isFinite(v) ? v : undefined;
}

/* the first number found at one of the dotted paths of obj */
function pick(obj, paths) {
  for (const p of paths) {
    let v = obj;
    for (const k of p.split('.')) {
      v = v != null && typeof v === 'object' ? v[k] : undefined;
    }
    if (num(v) !== undefined) {
      return v;
    }
  }
  return undefined;
}

function fmtInt(v) {
  return v === undefined ? '–' : Math.round(v).toLocaleString('en-US');
}

function fmtRate(v) {
  if (v === undefined) {
    return '–';
  }
  return v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US');
}

function fmtMs(v) {
  if (v === undefined || v === null) {
    return '–';
  }
  return v < 1 ? v.toFixed(3) + ' ms' : v < 10 ? v.toFixed(2) + ' ms'
                                                : v.toFixed(0) + ' ms';
}

function fmtBytes(v) {
  if (v === undefined) {
    return '–';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return (i ? v.toFixed(1) : v) + ' ' + units[i];
}

function fmtAge(s) {
  if (s === undefined) {
    return '–';
  }
  if (s < 60) {
    return Math.floor(s) + 's';
  }
  if (s < 3600) {
    return Math.floor(s / 60) + 'm ' + Math.floor(s % 60) + 's';
  }
  if (s < 86400) {
    return Math.floor(s / 3600) + 'h ' + Math.floor(s % 3600 / 60) + 'm';
  }
  return Math.floor(s / 86400) + 'd ' + Math.floor(s % 86400 / 3600) + 'h';
}

function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) {
    el.textContent = text;
  }
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) {
    td.className = cls;
  }
  tr.appendChild(td);
  return td;
}

function show(selector, on) {
  for (const el of document.querySelectorAll(selector)) {
    el.hidden = !on;
  }
}

function token() {
  return $('cfg-token').value.trim();
}

async function request(method, url, body) {
  const opts = { method: method, cache: 'no-store', headers: {} };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const admin = method !== 'GET' ||
                (state.manager !== null && url.startsWith(state.manager));
  if (admin && token()) {
    opts.headers['Authorization'] = 'Bearer ' + token();
  }
  const res = await fetch(url, opts);
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch (e) {
    json = null;
  }
  return { status: res.status, ok: res.ok, json: json, text: text };
}


/* ---- figures from two samples ---- */

function delta(a, b, paths) {
  const x = pick(a, paths);
  const y = pick(b, paths);
  if (x === undefined || y === undefined) {
    return undefined;
  }
  return Math.max(0, y - x);
}

const SERIES = {
  registrations: ['counters.registrations'],
  refreshes: ['counters.refreshes'],
  deletes: ['counters.deletes'],
  e429: ['counters.rate_limited'],
  e5xx: ['counters.full'],
  probes: ['health.probes_started'],
  probeFailed: ['health.probes_failed'],
  probeTimedOut: ['health.probes_timed_out']
};

function rates(prev, cur, dt) {
  const r = {};
  for (const k of Object.keys(SERIES)) {
    const d = delta(prev, cur, SERIES[k]);
    r[k] = d === undefined ? undefined : d / dt;
  }
  const bad = ['counters.rejected', 'counters.not_found',
               'counters.rate_limited'];
  let e4 = 0;
  for (const p of bad) {
    e4 += delta(prev, cur, [p]) || 0;
  }
  r.e4xx = e4 / dt;
  if (r.probes !== undefined) {
    r.probeFailures = (r.probeFailed || 0) + (r.probeTimedOut || 0);
  }
  return r;
}

/* a quantile from bucket counts, interpolated inside its bucket */
function quantile(le, counts, q) {
  let total = 0;
  for (const c of counts) {
    total += c;
  }
  if (total === 0) {
    return null;
  }
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] > 0 && seen + counts[i] >= rank) {
      const lo = i ? le[i - 1] : 0;
      const hi = le[i] === null || le[i] === undefined ? lo * 2 : le[i];
      return (lo + (hi - lo) * (rank - seen) / counts[i]) / 1000;
    }
    seen += counts[i];
  }
  return null;
}

function latency(a, b) {
  const la = a && a.connect_latency;
  const lb = b && b.connect_latency;
  if (!lb || !Array.isArray(lb.counts) || !Array.isArray(lb.le_us)) {
    return { p50: null, p99: null };
  }
  const counts = lb.counts.map((c, i) =>
      Math.max(0, c - (la && la.counts ? la.counts[i] || 0 : 0)));
  return {
    p50: quantile(lb.le_us, counts, 0.5),
    p99: quantile(lb.le_us, counts, 0.99)
  };
}


/* ---- rendering ---- */

function renderCards(st, r) {
  setText('zone-name', st.zone && st.zone.name || '–');
  setText('uptime', fmtAge(num(st.uptime)));
  setText('clients-total', fmtInt(num(st.clients)));
  setText('clients-capacity', fmtInt(num(st.capacity)));

  const healthy = pick(st, ['health.healthy']);
  const unhealthy = pick(st, ['health.unhealthy']);
  show('[data-needs="health"]', healthy !== undefined);
  setText('clients-healthy', fmtInt(healthy));
  setText('clients-unhealthy', fmtInt(unhealthy));

  setText('rate-registrations', fmtRate(r.registrations));
  setText('rate-refreshes', fmtRate(r.refreshes));
  setText('rate-deletes', fmtRate(r.deletes));
  setText('rate-4xx', fmtRate(r.e4xx));
  setText('rate-429', fmtRate(r.e429));
  setText('rate-5xx', fmtRate(r.e5xx));

  show('[data-needs="probes"]',
       pick(st, ['health.probes_started']) !== undefined);
  setText('rate-probes', fmtRate(r.probes));
  setText('rate-probe-failures', fmtRate(r.probeFailures));
  const evAge = pick(st, ['health.evicted_age']);
  const evFail = pick(st, ['health.evicted_failure']);
  setText('evictions', evAge === undefined ? '–'
          : fmtInt(evAge + (evFail || 0)) + ' (' + fmtInt(evAge) +
            ' by age, ' + fmtInt(evFail) + ' by failure)');
  const brake = st.health && st.health.brake === true;
  $('brake').hidden = !brake;

  const h = state.history;
  const back = h[Math.max(0, h.length - 1 - LAT_WINDOW)];
  let lat = latency(back && back.st, st);
  let label = '(last ' + LAT_WINDOW + ' s)';
  if (lat.p50 === null) {
    lat = latency(null, st);
    label = lat.p50 === null ? '' : '(since start)';
  }
  setText('lat-p50', fmtMs(lat.p50));
  setText('lat-p99', fmtMs(lat.p99));
  setText('lat-window', label);
}

function renderZone(st) {
  const z = st.zone || {};
  const size = num(z.size);
  const used = num(z.used);
  const pct = size ? Math.min(100, 100 * used / size) : 0;
  const fill = $('zone-fill');
  fill.style.width = pct.toFixed(1) + '%';
  fill.className = 'fill' + (pct > 95 ? ' full' : pct > 80 ? ' high' : '');
  $('zone-bar').setAttribute('aria-valuenow', pct.toFixed(0));
  const clients = num(st.clients);
  const cap = num(st.capacity);
  setText('zone-text',
      fmtBytes(used) + ' of ' + fmtBytes(size) + ' used (' +
      pct.toFixed(1) + '%) · entries ' + fmtBytes(num(z.entry_bytes)) +
      ' · index ' + fmtBytes(num(z.array_bytes)) + ' · ' +
      fmtInt(clients) + ' of ' + fmtInt(cap) + ' clients');
}

function renderWorkers(st, prev, dt) {
  const tbody = $('workers').tBodies[0];
  const rows = [];
  const before = {};
  for (const w of (prev && prev.workers) || []) {
    before[w.slot] = w;
  }
  for (const w of st.workers || []) {
    const tr = document.createElement('tr');
    const p = before[w.slot];
    cell(tr, String(w.slot));
    cell(tr, String(w.pid || '–'));
    cell(tr, fmtInt(num(w.requests)));
    cell(tr, p && dt ? fmtRate(Math.max(0, w.requests - p.requests) / dt)
                     : '–');
    cell(tr, fmtInt(num(w.successes)));
    cell(tr, fmtInt(num(w.failures)));
    cell(tr, num(w.mean_response_ms) === undefined ? '–'
                                           : w.mean_response_ms.toFixed(3));
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
}

function renderCluster(st) {
  const inst = st.cluster && Array.isArray(st.cluster.instances)
               ? st.cluster.instances : null;
  show('[data-needs="cluster"]', inst !== null);
  if (!inst) {
    return;
  }
  const rows = inst.map((i) => {
    const tr = document.createElement('tr');
    cell(tr, String(i.id || i.name || '?'));
    cell(tr, fmtInt(num(i.clients)));
    const age = pick(i, ['heartbeat_age', 'heartbeat_age_s']);
    const ms = pick(i, ['heartbeat_age_ms']);
    cell(tr, age !== undefined ? fmtAge(age)
             : ms !== undefined ? fmtAge(ms / 1000) : '–');
    return tr;
  });
  $('cluster').tBodies[0].replaceChildren(...rows);
}

/* the smallest of 1, 2, 2.5, 5 times a power of ten above v: round
 * figures on the axis */
function niceMax(v) {
  if (!(v > 0)) {
    return 1;
  }
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * p >= v) {
      return m * p;
    }
  }
  return 10 * p;
}

/* a small line chart: a series is {name, color, values} with nulls for
 * gaps; the y axis starts at 0 and ends a little above the maximum */
function drawChart(id, series, unit) {
  const canvas = $(id);
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width;
  const hgt = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(hgt * dpr);
  }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, hgt);

  let max = 0;
  for (const s of series) {
    for (const v of s.values) {
      if (v !== null && v !== undefined && v > max) {
        max = v;
      }
    }
  }
  max = niceMax(max);

  const left = 44;
  const right = 6;
  const top = 8;
  const bottom = 18;
  const pw = w - left - right;
  const ph = hgt - top - bottom;

  g.strokeStyle = '#e3e7ec';
  g.fillStyle = '#6b7684';
  g.font = '10px system-ui, sans-serif';
  g.lineWidth = 1;
  g.textAlign = 'right';
  g.textBaseline = 'middle';
  for (let i = 0; i <= 4; i++) {
    const y = top + ph - ph * i / 4;
    g.beginPath();
    g.moveTo(left, Math.round(y) + 0.5);
    g.lineTo(left + pw, Math.round(y) + 0.5);
    g.stroke();
    const v = max * i / 4;
    g.fillText(String(Number(v.toPrecision(3))) + unit, left - 4, y);
  }
  g.textAlign = 'left';
  g.textBaseline = 'alphabetic';
  g.fillText('-5 min', left, hgt - 4);
  g.textAlign = 'right';
  g.fillText('now', left + pw, hgt - 4);

  const gap = (v) => v === null || v === undefined;
  for (const s of series) {
    g.strokeStyle = s.color;
    g.fillStyle = s.color;
    g.lineWidth = 1.5;
    g.beginPath();
    const n = s.values.length;
    for (let i = 0; i < n; i++) {
      const v = s.values[i];
      if (gap(v)) {
        continue;
      }
      const x = left + pw * (HISTORY - n + i) / (HISTORY - 1);
      const y = top + ph - ph * Math.min(v, max) / max;
      if (i > 0 && !gap(s.values[i - 1])) {
        g.lineTo(x, y);
      } else {
        g.moveTo(x, y);
        if (i === n - 1 || gap(s.values[i + 1])) {
          g.fillRect(x - 1.5, y - 1.5, 3, 3);   /* a lone point */
        }
      }
    }
    g.stroke();
  }
}

function legend(id, series) {
  const el = $(id);
  if (el.childElementCount === series.length) {
    return;
  }
  el.replaceChildren(...series.map((s) => {
    const span = document.createElement('span');
    const mark = document.createElement('i');
    mark.style.background = s.color;
    span.appendChild(mark);
    span.appendChild(document.createTextNode(s.name));
    return span;
  }));
}

function chart(id, legendId, defs, unit) {
  const series = defs.map((d, i) => ({
    name: d[0],
    color: COLORS[i % COLORS.length],
    values: state.history.map((h) => h[d[1]])
  }));
  legend(legendId, series);
  drawChart(id, series, unit);
}

function renderCharts() {
  chart('chart-clients', 'legend-clients', [['clients', 'clients']], '');
  chart('chart-requests', 'legend-requests', [
    ['registrations/s', 'registrations'], ['refreshes/s', 'refreshes'],
    ['deletes/s', 'deletes']], '');
  chart('chart-errors', 'legend-errors', [
    ['4xx/s', 'e4xx'], ['429/s', 'e429'], ['5xx/s', 'e5xx']], '');
  chart('chart-latency', 'legend-latency', [
    ['p50', 'p50'], ['p99', 'p99']], '');
  if (!$('fig-probes').hidden) {
    chart('chart-probes', 'legend-probes', [
      ['probes/s', 'probes'], ['failures/s', 'probeFailures']], '');
  }
}


/* ---- the poll loop ---- */

function setLive(ok, text) {
  const el = $('live');
  el.className = ok ? 'live' : 'live off';
  setText('live', text);
}

async function poll() {
  const started = Date.now();
  try {
    const res = await request('GET', 'status');
    if (!res.ok || !res.json) {
      throw new Error('/status answered ' + res.status);
    }
    update(res.json, started);
    setLive(true, 'live');
  } catch (e) {
    setLive(false, 'no answer from /status: ' + e.message);
  }
  state.polls++;
  if (state.polls % CLIENTS_EVERY === 0 && !state.loadingClients) {
    loadClients(false);
  }
  setTimeout(poll, Math.max(100, POLL_MS - (Date.now() - started)));
}

function update(st, t) {
  const prev = state.last;
  const dt = prev ? (t - prev.t) / 1000 : 0;
  const r = prev && dt > 0 ? rates(prev.st, st, dt) : {};
  const lat = prev ? latency(prev.st, st) : { p50: null, p99: null };

  state.history.push({
    t: t, st: st,
    clients: num(st.clients),
    registrations: r.registrations, refreshes: r.refreshes,
    deletes: r.deletes, e4xx: r.e4xx, e429: r.e429, e5xx: r.e5xx,
    probes: r.probes, probeFailures: r.probeFailures,
    p50: lat.p50, p99: lat.p99
  });
  if (state.history.length > HISTORY) {
    state.history.shift();
  }
  /* only the last LAT_WINDOW documents are needed whole */
  const old = state.history[state.history.length - LAT_WINDOW - 2];
  if (old) {
    old.st = null;
  }

  renderCards(st, r);
  renderZone(st);
  renderWorkers(st, prev && prev.st, dt);
  renderCluster(st);
  renderCharts();
  state.last = { t: t, st: st };
}


/* ---- clients: server-side paging and search ---- */

async function loadClients(userAction) {
  const pg = state.page;
  const url = 'status/clients?offset=' + pg.offset + '&limit=' + pg.limit +
              (pg.q ? '&q=' + encodeURIComponent(pg.q) : '');
  state.loadingClients = true;
  try {
    const res = await request('GET', url);
    if (!res.ok || !res.json) {
      const why = res.json && res.json.error || 'status ' + res.status;
      setText('page-info', 'cannot list clients: ' + why);
      return;
    }
    renderClients(res.json);
  } catch (e) {
    if (userAction) {
      setText('page-info', 'cannot list clients: ' + e.message);
    }
  } finally {
    state.loadingClients = false;
  }
}

function renderClients(doc) {
  const list = doc.clients || [];
  const hasHealth = list.some((c) => 'health' in c || 'healthy' in c);
  const hasFails = list.some((c) => 'fails' in c);
  show('#clients [data-col="health"]', hasHealth);
  show('#clients [data-col="fails"]', hasFails);

  const rows = list.map((c) => {
    const tr = document.createElement('tr');
    cell(tr, String(c.id));
    cell(tr, String(c.name));
    cell(tr, c.addr === undefined ? '–' : String(c.addr));
    if (hasHealth) {
      const hv = 'health' in c ? String(c.health)
                               : c.healthy ? 'healthy' : 'unhealthy';
      cell(tr, hv, hv === 'healthy' ? 'ok' : hv === 'unhealthy' ? 'bad'
                                                                 : '')
          .setAttribute('data-col', 'health');
    }
    cell(tr, fmtAge(num(c.age)));
    cell(tr, num(c.last_seen_ms) === undefined ? '–'
                               : fmtAge(c.last_seen_ms / 1000) + ' ago');
    if (hasFails) {
      cell(tr, String(c.fails)).setAttribute('data-col', 'fails');
    }
    return tr;
  });

  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const td = cell(tr, doc.q ? 'no match in this stretch' : 'no clients',
                    'empty');
    td.colSpan = 7;
    rows.push(tr);
  }
  $('clients').tBodies[0].replaceChildren(...rows);

  const next = doc.next_offset;
  state.page.next = next === null || next === undefined ? null : next;
  $('page-next').disabled = state.page.next === null;
  $('page-first').disabled = state.page.offset === 0;

  let info = list.length + ' shown from position ' + doc.offset + ' of ' +
             fmtInt(doc.total) + ' clients';
  if (doc.q) {
    info += ' · searched ' + fmtInt(doc.scanned) + ' entries (at most ' +
            fmtInt(doc.scan_budget) + ' a request)';
  }
  if (state.page.next !== null) {
    info += ' · next from ' + state.page.next;
  }
  setText('page-info', info);
}

function initClients() {
  $('search-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.page.q = $('search').value.trim();
    state.page.limit = Number($('page-size').value);
    state.page.offset = 0;
    loadClients(true);
  });
  $('page-size').addEventListener('change', () => {
    state.page.limit = Number($('page-size').value);
    state.page.offset = 0;
    loadClients(true);
  });
  $('page-next').addEventListener('click', () => {
    if (state.page.next !== null && state.page.next !== undefined) {
      state.page.offset = state.page.next;
      loadClients(true);
    }
  });
  $('page-first').addEventListener('click', () => {
    state.page.offset = 0;
    loadClients(true);
  });
}


/* ---- configuration ---- */

function message(id, text, kind) {
  const el = $(id);
  el.textContent = text;
  el.className = 'msg' + (kind ? ' ' + kind : '');
}

function fillConfig(doc) {
  state.config = doc.config || {};
  for (const f of CONFIG_FIELDS) {
    const input = $('cfg-' + f);
    input.value = state.config[f] === undefined ? '' : state.config[f];
    input.removeAttribute('aria-invalid');
  }
  const over = doc.overridden || [];
  setText('cfg-overridden', over.length
      ? 'Changed at run time: ' + over.join(', ') + '.'
      : 'All values are those of nginx.conf.');
  state.manager = typeof doc.client_manager === 'string'
                  ? doc.client_manager : null;
  $('mgr-off').hidden = state.manager !== null;
  $('mgr-on').hidden = state.manager === null;
}

async function loadConfig() {
  try {
    const res = await request('GET', 'config');
    if (res.ok && res.json) {
      fillConfig(res.json);
    } else {
      message('cfg-msg', 'cannot read /config: status ' + res.status,
              'error');
    }
  } catch (e) {
    message('cfg-msg', 'cannot read /config: ' + e.message, 'error');
  }
}

async function applyConfig(ev) {
  ev.preventDefault();
  const body = {};
  for (const f of CONFIG_FIELDS) {
    const input = $('cfg-' + f);
    input.removeAttribute('aria-invalid');
    const raw = input.value.trim();
    if (state.config && raw === String(state.config[f])) {
      continue;
    }
    /* numbers go as numbers; anything else as typed, for the server to
     * refuse by name */
    body[f] = /^-?\d+$/.test(raw) ? Number(raw) : raw;
  }
  if (Object.keys(body).length === 0) {
    message('cfg-msg', 'Nothing changed.', '');
    return;
  }
  $('cfg-apply').disabled = true;
  try {
    const res = await request('POST', 'config', body);
    if (res.ok && res.json) {
      fillConfig(res.json);
      message('cfg-msg', 'Applied: ' + Object.keys(body).map((k) =>
          k + ' = ' + body[k]).join(', '), 'done');
      return;
    }
    const err = res.json && res.json.error || 'status ' + res.status;
    const field = res.json && res.json.field;
    if (field && $('cfg-' + field)) {
      $('cfg-' + field).setAttribute('aria-invalid', 'true');
    }
    message('cfg-msg', 'Refused (' + res.status + '): ' + err, 'error');
  } catch (e) {
    message('cfg-msg', 'Not sent: ' + e.message, 'error');
  } finally {
    $('cfg-apply').disabled = false;
  }
}

function initConfig() {
  try {
    $('cfg-token').value = sessionStorage.getItem('ngx_scale_token') || '';
  } catch (e) {
    /* storage may be off: the field still works for this page */
  }
  $('cfg-token').addEventListener('change', () => {
    try {
      sessionStorage.setItem('ngx_scale_token', token());
    } catch (e) {
      /* as above */
    }
  });
  $('config-form').addEventListener('submit', applyConfig);
  $('cfg-reload').addEventListener('click', () => {
    message('cfg-msg', '', '');
    loadConfig();
  });
}


/* ---- client manager (the swarm's control API, proxied by NGINX) ---- */

function results(doc) {
  if (Array.isArray(doc)) {
    return doc;
  }
  for (const k of ['results', 'clients', 'peers']) {
    if (doc && Array.isArray(doc[k])) {
      return doc[k];
    }
  }
  return null;
}

async function manager(method, path, body, what) {
  const list = $('mgr-results');
  message('mgr-msg', what + '…', '');
  try {
    const res = await request(method, state.manager + path, body);
    const items = results(res.json);
    const rows = [];
    let failed = 0;
    for (const it of items || []) {
      const li = document.createElement('li');
      const name = typeof it === 'object' && it !== null
                   ? it.id || it.name || JSON.stringify(it) : String(it);
      const err = typeof it === 'object' && it !== null && it.error;
      li.textContent = String(name) + (err ? ': ' + err
                       : it && it.ok === true ? ': ok' : '');
      if (err) {
        li.className = 'error';
        failed++;
      }
      rows.push(li);
    }
    list.replaceChildren(...rows);
    if (!res.ok) {
      const why = res.json && res.json.error || res.text.slice(0, 200) ||
                  'status ' + res.status;
      message('mgr-msg', what + ' failed (' + res.status + '): ' + why,
              'error');
    } else if (failed) {
      message('mgr-msg', what + ': ' + failed + ' of ' + items.length +
              ' failed', 'error');
    } else {
      message('mgr-msg', what + ': done' +
              (items ? ' (' + items.length + ')' : ''), 'done');
    }
  } catch (e) {
    message('mgr-msg', what + ' failed: ' + e.message, 'error');
  }
}

function initManager() {
  $('mgr-add').addEventListener('submit', (ev) => {
    ev.preventDefault();
    /* the swarm picks an id and a port; the name is optional */
    const name = $('mgr-add-name').value.trim();
    manager('POST', 'add-client', name ? { name: name } : {}, 'add client');
  });
  $('mgr-remove').addEventListener('submit', (ev) => {
    ev.preventDefault();
    manager('POST', 'remove-client',
            { id: $('mgr-remove-name').value.trim() }, 'remove client');
  });
  $('mgr-bulk').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const raw = $('mgr-bulk-count').value.trim();
    manager('POST', 'bulk-create-clients',
            { count: /^\d+$/.test(raw) ? Number(raw) : raw }, 'bulk create');
  });
  $('mgr-list').addEventListener('click', () => {
    manager('GET', 'clients', undefined, 'list clients');
  });
}


initClients();
initConfig();
initManager();
loadConfig();
loadClients(false);
poll();

})();
