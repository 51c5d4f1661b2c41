// The Explore page: wires the editor, time range, label browser, charts,
// log list and live tail together, and keeps the whole state in the URL so
// a link reopens the same view with the query already run.

import * as api from './api.js';
import { Editor } from './editor.js';
import { Histogram, LineChart, seriesColor, formatValue } from './chart.js';
import { LogView } from './logview.js';
import { toEntries, entryKey, parseTailFrame, commonLabels, labelText } from './entries.js';
import { LabelBrowser } from './labels.js';
import { FUNCTIONS, STAGES, isLogQuery, filterTerms, addMatcher, volumeQuery, tokenize } from './logql.js';
import { parseTime, msToNs, nsAdd, niceStep, toRFC3339 } from './time.js';

const $ = (id) => document.getElementById(id);
const PRESETS = ['5m', '15m', '1h', '6h', '24h', '7d'];
const TAIL_MAX = 5000;

// window.__plg exposes figures for the browser tests and for curious users.
const stats = (window.__plg = { renders: [], runs: 0, tailMessages: 0 });

const state = {
  from: 'now-1h',
  to: 'now',
  limit: 1000,
  live: false,
  view: 'chart',
  ctrl: null,
  entries: [],
  keys: new Set(),
  range: null, // resolved {fromMs, toMs} of the last run
  ws: null,
  paused: false,
  pending: [],
  autoTimer: 0,
};

let editor, hist, chart, logs, browser;

function init() {
  api.setTenant(localStorage.getItem('plg.tenant') || '');
  $('tenant').value = api.getTenant();
  $('tenant').addEventListener('change', () => {
    api.setTenant($('tenant').value);
    localStorage.setItem('plg.tenant', api.getTenant());
    labelCache.clear();
  });

  editor = new Editor($('editor'), { onRun: () => run(true), onChange: checkSoon, suggest });
  hist = new Histogram($('histogram'), { onZoom: zoom });
  chart = new LineChart($('chart'), { onZoom: zoom });
  logs = new LogView($('logs'), { onFilter: addFilter });
  stats.logview = logs;
  browser = new LabelBrowser($('browser'), {
    range: () => { const r = resolveRange(); return { start: msToNs(r.fromMs), end: msToNs(r.toMs) }; },
    onUse: (sel, go) => { editor.value = sel; toggleBrowser(false); if (go) run(true); else editor.focus(); },
  });

  $('run').addEventListener('click', () => run(true));
  $('refresh').addEventListener('click', () => run(false));
  $('preset').addEventListener('change', () => {
    const p = $('preset').value;
    if (p === 'custom') { $('from').focus(); return; }
    setRange(`now-${p}`, 'now');
    run(true);
  });
  for (const id of ['from', 'to']) {
    $(id).addEventListener('keydown', (e) => { if (e.key === 'Enter') { readRangeInputs(); run(true); } });
    $(id).addEventListener('change', readRangeInputs);
  }
  $('limit').addEventListener('change', () => { state.limit = +$('limit').value; });
  $('auto').addEventListener('change', setAuto);
  $('browse').addEventListener('click', () => toggleBrowser());
  $('live').addEventListener('change', () => { state.live = $('live').checked; run(true); });
  $('pause').addEventListener('click', togglePause);
  $('older').addEventListener('click', loadOlder);
  $('view-chart').addEventListener('click', () => setView('chart'));
  $('view-table').addEventListener('click', () => setView('table'));
  window.addEventListener('popstate', () => { fromURL(); run(false, false); });
  window.addEventListener('error', (e) => showError(`Something broke in the page: ${e.message}`));
  window.addEventListener('unhandledrejection', (e) => showError(`Something broke in the page: ${e.reason?.message || e.reason}`));

  fromURL();
  if (editor.value.trim()) run(false, false);
  else editor.focus();
}

// --- URL state -----------------------------------------------------------

function fromURL() {
  const q = new URLSearchParams(location.search);
  editor.value = q.get('query') || '';
  setRange(q.get('from') || 'now-1h', q.get('to') || 'now');
  const lim = q.get('limit');
  if (lim && /^\d+$/.test(lim)) {
    state.limit = +lim;
    if (![...$('limit').options].some((o) => o.value === lim)) $('limit').add(new Option(lim));
    $('limit').value = lim;
  }
  state.live = q.get('mode') === 'tail' || q.get('live') === '1';
  $('live').checked = state.live;
  setView(q.get('view') === 'table' ? 'table' : 'chart', false);
}

function toURL(push) {
  const q = new URLSearchParams();
  q.set('query', editor.value);
  q.set('from', state.from);
  q.set('to', state.to);
  if (state.limit !== 1000) q.set('limit', String(state.limit));
  if (state.live) q.set('mode', 'tail');
  if (state.view === 'table') q.set('view', 'table');
  const url = `${location.pathname}?${q}`;
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

// --- time range ------------------------------------------------------------

function setRange(from, to) {
  state.from = from;
  state.to = to;
  $('from').value = from;
  $('to').value = to;
  const m = /^now-(\w+)$/.exec(from);
  $('preset').value = m && to === 'now' && PRESETS.includes(m[1]) ? m[1] : 'custom';
}

function readRangeInputs() { setRange($('from').value.trim(), $('to').value.trim()); }

function resolveRange() {
  const now = Date.now();
  const fromMs = parseTime(state.from, now), toMs = parseTime(state.to, now);
  if (Number.isNaN(fromMs)) throw new api.APIError(`"${state.from}" is not a time: use RFC3339 (2024-05-01T10:00:00Z), Unix seconds, or now-1h.`);
  if (Number.isNaN(toMs)) throw new api.APIError(`"${state.to}" is not a time: use RFC3339, Unix seconds, or now.`);
  if (fromMs >= toMs) throw new api.APIError('The start of the time range must be before its end.');
  return { fromMs, toMs };
}

function zoom(a, b) {
  setRange(toRFC3339(Math.floor(a)), toRFC3339(Math.ceil(b)));
  run(true);
}

function setAuto() {
  clearInterval(state.autoTimer);
  const s = +$('auto').value;
  if (s > 0) state.autoTimer = setInterval(() => { if (!state.live && !state.ctrl) run(false, false); }, s * 1000);
}

// --- running queries ------------------------------------------------------

async function run(push = true, updateURL = true) {
  readRangeInputs();
  const query = editor.value.trim();
  hideError();
  notice('');
  stopTail();
  clearTimeout(checkTimer);
  checkCtrl?.abort();
  editor.setError(0);
  editorMsg('');
  state.ctrl?.abort();
  if (!query) { showError('Write a query first, for example {app="api"}.'); return; }
  if (updateURL) toURL(push);
  stats.runs++;
  let range;
  try {
    range = resolveRange();
  } catch (e) {
    showError(e.message);
    return;
  }
  state.range = range;
  if (state.live) {
    if (!isLogQuery(query)) { showError('Live tail needs a log query (a stream selector, maybe with filters), not a metric query.'); return; }
    startTail(query);
    return;
  }
  const ctrl = (state.ctrl = new AbortController());
  setBusy(true);
  const t0 = performance.now();
  try {
    if (isLogQuery(query)) await runLogs(query, range, ctrl.signal, t0);
    else await runMetric(query, range, ctrl.signal, t0);
  } catch (e) {
    if (e.name !== 'AbortError') {
      showError(e.message);
      if (e.line) {
        editor.setError(e.line, e.col);
        editorMsg(e.detail, true);
      }
    }
  } finally {
    // A run superseded by a newer one leaves the busy state to that one.
    if (state.ctrl === ctrl) {
      state.ctrl = null;
      setBusy(false);
    }
  }
}

function setBusy(b) {
  $('run').disabled = b;
  $('run').textContent = b ? 'Running…' : 'Run query';
}

async function runLogs(query, { fromMs, toMs }, signal, t0) {
  const start = msToNs(fromMs), end = msToNs(toMs);
  const step = niceStep(toMs - fromMs, 80);
  const [res, vol] = await Promise.all([
    api.queryLogs({ query, start, end, limit: state.limit, direction: 'backward' }, signal),
    api.queryRange({ query: volumeQuery(query, step), start, end, step: `${step}s` }, signal).catch((e) => {
      if (e.name === 'AbortError') throw e;
      return { error: e };
    }),
  ]);
  const data = res.data || {};
  if (data.resultType !== 'streams') return renderMetric(data, fromMs, toMs, t0, step);
  showPanel('logs');
  renderHistogram(vol, fromMs, toMs, step);
  const r0 = performance.now();
  const entries = toEntries(data.result || []);
  state.entries = entries;
  state.keys = new Set(entries.map(entryKey));
  const common = commonLabels(data.result || []);
  const layoutMs = logs.set(entries, filterTerms(query), common);
  const renderMs = performance.now() - r0;
  stats.renders.push({ lines: entries.length, ms: renderMs });
  if (stats.renders.length > 50) stats.renders.shift();
  console.log(`plg: rendered ${entries.length} lines in ${renderMs.toFixed(1)} ms (layout ${layoutMs.toFixed(1)} ms)`);
  $('older').hidden = entries.length < state.limit;
  if (!entries.length) notice('No log lines match this query in the selected time range.');
  const commonText = Object.keys(common).length ? ` · common labels: ${labelText(common)}` : '';
  status(`${entries.length.toLocaleString()} line${entries.length === 1 ? '' : 's'}${entries.length >= state.limit ? ` (limit ${state.limit} reached: load older for more)` : ''} · query ${(r0 - t0).toFixed(0)} ms · render ${renderMs.toFixed(0)} ms${commonText}`);
}

async function runMetric(query, { fromMs, toMs }, signal, t0) {
  const step = Math.max(1, Math.ceil((toMs - fromMs) / 1000 / 300));
  const res = await api.queryRange({ query, start: msToNs(fromMs), end: msToNs(toMs), step: `${step}s` }, signal);
  const data = res.data || {};
  if (data.resultType === 'streams') {
    showError('This query returned log lines but was read as a metric query: start a log query with its {stream selector}.');
    return;
  }
  renderMetric(data, fromMs, toMs, t0, step);
}

function renderMetric(data, fromMs, toMs, t0, step) {
  showPanel('metric');
  let result = data.result || [];
  if (data.resultType === 'vector') result = result.map((s) => ({ metric: s.metric, values: [s.value] }));
  if (data.resultType === 'scalar') result = [{ metric: {}, values: [result] }];
  const series = result.map((s) => ({
    name: seriesName(s.metric),
    metric: s.metric || {},
    step: step * 1000,
    values: (s.values || []).map(([t, v]) => [t * 1000, parseFloat(v)]),
  }));
  chart.set(series, fromMs, toMs);
  const legend = $('legend');
  legend.replaceChildren(...series.map((s, i) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'legend-item';
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = seriesColor('', i);
    b.append(sw, s.name);
    b.addEventListener('click', () => { chart.toggle(i); b.classList.toggle('off'); });
    return b;
  }));
  renderTable(series);
  status(`${series.length} series · step ${step}s · ${(performance.now() - t0).toFixed(0)} ms`);
  if (!series.length) notice('The query matched no data in this time range.');
}

function renderTable(series) {
  const t = $('table');
  t.replaceChildren();
  const head = t.createTHead().insertRow();
  for (const h of ['Series', 'Last', 'Min', 'Max', 'Mean', 'Points']) {
    const th = document.createElement('th');
    th.textContent = h;
    head.append(th);
  }
  const body = t.createTBody();
  for (const s of series) {
    const vs = s.values.map((p) => p[1]).filter(Number.isFinite);
    const tr = body.insertRow();
    const cells = [s.name, vs.at(-1), Math.min(...vs), Math.max(...vs), vs.reduce((a, b) => a + b, 0) / (vs.length || 1), vs.length];
    cells.forEach((c, i) => {
      const td = tr.insertCell();
      td.textContent = i === 0 || i === 5 ? String(c) : vs.length ? formatValue(c) : '';
    });
  }
}

function setView(v, update = true) {
  state.view = v;
  $('view-chart').classList.toggle('active', v === 'chart');
  $('view-table').classList.toggle('active', v === 'table');
  $('chart').hidden = v !== 'chart';
  $('legend').hidden = v !== 'chart';
  $('table-wrap').hidden = v !== 'table';
  if (v === 'chart') chart?.draw();
  if (update) toURL(false);
}

function seriesName(metric) {
  const e = Object.entries(metric || {});
  return e.length ? `{${e.map(([k, v]) => `${k}="${v}"`).join(', ')}}` : 'value';
}

function renderHistogram(vol, fromMs, toMs, step) {
  const legend = $('legend-hist');
  if (!vol || vol.error) {
    hist.set([], fromMs, toMs, step * 1000);
    legend.textContent = vol?.error ? `(volume unavailable: ${vol.error.message})` : '';
    return;
  }
  const byName = new Map();
  for (const s of vol.data?.result || []) {
    const m = s.metric || {};
    const name = m.level || m.detected_level || 'logs';
    let pts = byName.get(name);
    if (!pts) byName.set(name, (pts = new Map()));
    for (const [t, v] of s.values || []) pts.set(t * 1000, (pts.get(t * 1000) || 0) + parseFloat(v));
  }
  const order = ['critical', 'fatal', 'error', 'err', 'warn', 'warning', 'info', 'debug', 'trace', 'unknown', 'logs'];
  const names = [...byName.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
  function rank(n) { const i = order.indexOf(n.toLowerCase()); return i < 0 ? order.length : i; }
  const series = names.map((name) => ({ name, points: [...byName.get(name)] }));
  hist.set(series, fromMs, toMs, step * 1000);
  legend.replaceChildren(...series.map((s, i) => {
    const span = document.createElement('span');
    span.className = 'legend-item';
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = seriesColor(s.name, i);
    span.append(sw, s.name);
    return span;
  }));
}

function showPanel(which, tailing = false) {
  $('empty').hidden = true;
  $('volume-title').hidden = tailing;
  $('histogram').hidden = tailing;
  if (!tailing) requestAnimationFrame(() => hist.draw());
  $('logs-panel').hidden = which !== 'logs';
  $('metric-panel').hidden = which !== 'metric';
}

async function loadOlder() {
  const query = editor.value.trim();
  const oldest = logs.oldest();
  if (!oldest || !state.range) return;
  $('older').disabled = true;
  try {
    // end is exclusive: ask up to and including the oldest shown instant and
    // drop the lines already shown at it.
    let atOldest = 0;
    for (const e of logs.entries) if (e.ts === oldest) atOldest++;
    const res = await api.queryLogs({
      query, start: msToNs(state.range.fromMs), end: nsAdd(oldest, 1), limit: Math.min(state.limit + atOldest, Math.max(state.limit, 5000)), direction: 'backward',
    });
    const more = toEntries(res.data?.result || []).filter((e) => !state.keys.has(entryKey(e)));
    for (const e of more) state.keys.add(entryKey(e));
    logs.append(more);
    state.entries = logs.entries;
    $('older').hidden = more.length === 0;
    status(`${logs.entries.length.toLocaleString()} lines${more.length ? '' : ' · no older lines in this range'}`);
  } catch (e) {
    showError(e.message);
  } finally {
    $('older').disabled = false;
  }
}

// --- adding filters from a line ------------------------------------------

function addFilter(name, op, value, kind) {
  let q = editor.value.trim();
  if (kind === 'json' || kind === 'logfmt') {
    const hasParser = tokenize(q).some((t) => t.type === 'stage' && (t.text === 'json' || t.text === 'logfmt'));
    if (!hasParser && isLogQuery(q)) q = `${q} | ${kind}`;
  }
  editor.value = addMatcher(q, name, op, value, kind === 'stream');
  run(true);
}

// --- live tail --------------------------------------------------------------

function startTail(query) {
  showPanel('logs', true);
  $('older').hidden = true;
  logs.set([], filterTerms(query));
  state.paused = false;
  state.pending = [];
  $('pause').hidden = false;
  $('pause').textContent = 'Pause';
  tailState('connecting…');
  // Tail from five minutes back so the view starts with recent context.
  const ws = new WebSocket(api.tailURL(query, msToNs(Date.now() - 5 * 60e3), Math.min(state.limit, 1000)));
  state.ws = ws;
  let count = 0;
  ws.onopen = () => tailState('live');
  ws.onmessage = (ev) => {
    if (state.ws !== ws) return;
    stats.tailMessages++;
    const frame = parseTailFrame(ev.data);
    if (!frame) return;
    const { entries, dropped } = frame;
    if (dropped) {
      notice(`The server dropped ${dropped} entr${dropped === 1 ? 'y' : 'ies'} to keep up: the tail is missing lines. Narrow the query to see all.`);
    }
    count += entries.length;
    status(`${count.toLocaleString()} line${count === 1 ? '' : 's'} received while tailing`);
    if (state.paused) {
      state.pending = entries.concat(state.pending);
      tailState(`paused · ${state.pending.length} new`);
      return;
    }
    logs.prepend(entries, TAIL_MAX);
  };
  ws.onerror = () => { if (state.ws === ws) showError('The live tail connection failed. Is the server reachable, and is the query a valid log query?'); };
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    state.ws = null;
    tailState('stopped');
    if (ev.code !== 1000 && ev.code !== 1005) showError(`The live tail stopped: ${ev.reason || `connection closed (code ${ev.code})`}`);
  };
}

function stopTail() {
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000);
  $('pause').hidden = true;
  $('tail-state').hidden = true;
}

function togglePause() {
  state.paused = !state.paused;
  $('pause').textContent = state.paused ? 'Resume' : 'Pause';
  if (!state.paused) {
    logs.prepend(state.pending, TAIL_MAX);
    state.pending = [];
    tailState('live');
  } else tailState('paused');
}

function tailState(t) {
  const el = $('tail-state');
  el.hidden = false;
  el.textContent = `Live tail: ${t}`;
  el.className = `tail-state tail-${t.split(' ')[0].replace(/\W/g, '')}`;
}

// --- completions and parse checks -----------------------------------------

const labelCache = new Map();
function cached(key, fn) {
  if (!labelCache.has(key)) labelCache.set(key, fn().catch((e) => { labelCache.delete(key); throw e; }));
  return labelCache.get(key);
}

async function suggest(ctx) {
  if (ctx.kind === 'func') return [...FUNCTIONS, 'by', 'without'];
  if (ctx.kind === 'stage') return STAGES;
  let r;
  try { r = resolveRange(); } catch { return []; }
  // Minute-aligned bounds let nearby keystrokes share the cached answer.
  const start = msToNs(Math.floor(r.fromMs / 60e3) * 60e3), end = msToNs(Math.ceil(r.toMs / 60e3) * 60e3);
  if (ctx.kind === 'label') {
    const res = await cached(`n|${start}|${end}`, () => api.labelNames(start, end));
    return (res.data || []).filter((n) => !n.startsWith('__'));
  }
  if (ctx.kind === 'value') {
    const res = await cached(`v|${ctx.label}|${start}|${end}`, () => api.labelValues(ctx.label, start, end));
    return res.data || [];
  }
  return [];
}

let checkTimer = 0, checkCtrl = null;
function checkSoon() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, 350);
}

// check asks the server's parser about the query as it is typed, and marks
// the error position inline.
async function check() {
  const q = editor.value;
  checkCtrl?.abort();
  if (!q.trim()) { editorMsg(''); return; }
  const ctrl = (checkCtrl = new AbortController());
  try {
    await api.formatQuery(q, ctrl.signal);
    if (editor.value === q) { editor.setError(0); editorMsg(''); }
  } catch (e) {
    if (e.name === 'AbortError' || editor.value !== q) return;
    if (e.status === 400) {
      editor.setError(e.line, e.col);
      editorMsg(e.detail, true);
    }
  }
}

function editorMsg(t, bad) {
  const el = $('editor-msg');
  el.textContent = t;
  el.classList.toggle('bad', !!bad);
}

// --- messages ---------------------------------------------------------------

function showError(t) {
  const el = $('error');
  el.textContent = t;
  el.hidden = false;
}
function hideError() { $('error').hidden = true; }
function notice(t) {
  const el = $('notice');
  el.textContent = t;
  el.hidden = !t;
}
function status(t) { $('status').textContent = t; }

function toggleBrowser(open) {
  const el = $('browser');
  const show = open ?? el.hidden;
  el.hidden = !show;
  $('browse').setAttribute('aria-expanded', String(show));
  if (show) browser.load();
}

init();
