// The log list: a virtualized view that keeps only the visible rows in the
// DOM, so thousands of lines scroll smoothly. Rows have one fixed height;
// an expanded row adds the measured height of its details. Every line and
// label is set as text (textContent), never parsed as HTML.

import { formatTs, compareNs } from './time.js';
import { highlightRanges } from './logql.js';
import { seriesColor } from './chart.js';
import { labelText, uniqueLabels } from './entries.js';

export const ROW = 22;
const OVERSCAN = 15;

// Entry: {ts: ns string, line, labels: {k: v}, meta: structured metadata
// {k: v} | null, parsed: labels from the query's parsers {k: v} | null}

export class LogView {
  // opts: {onFilter(name, op, value, kind)} where kind is 'stream' |
  // 'meta' | 'parsed' | 'json' | 'logfmt'.
  constructor(root, opts) {
    this.opts = opts;
    this.root = root;
    root.classList.add('logs');
    root.tabIndex = 0;
    this.spacer = document.createElement('div');
    this.spacer.className = 'logs-spacer';
    root.append(this.spacer);
    this.entries = [];
    this.terms = [];
    this.common = {}; // labels every stream shares: not repeated per row
    this.rows = new Map(); // entry -> row element
    this.exp = null; // sorted [[index, extra]] of expanded rows, or null when stale
    this.raf = 0;
    this.renderMs = 0; // time spent placing rows, for the browser test
    this.renders = 0;
    root.addEventListener('scroll', () => this.schedule());
    new ResizeObserver(() => this.schedule()).observe(root);
  }

  // set replaces the entries (already newest first) and returns the ms spent
  // laying them out. Rows leave out the common labels.
  set(entries, terms, common = {}) {
    const t0 = performance.now();
    this.entries = entries;
    this.terms = terms || [];
    this.common = common;
    for (const el of this.rows.values()) el.remove();
    this.rows.clear();
    this.exp = null;
    this.root.scrollTop = 0;
    this.render();
    void this.root.offsetHeight; // force layout so the figure includes it
    return performance.now() - t0;
  }

  // prepend adds newer entries at the top (live tail), keeping the reader's
  // place when they have scrolled down.
  prepend(newer, max) {
    if (!newer.length) return;
    const keep = this.root.scrollTop > 0;
    const before = this.root.scrollTop;
    for (const e of newer) e.fresh = true;
    this.entries = newer.concat(this.entries);
    if (max && this.entries.length > max) {
      for (const e of this.entries.slice(max)) this.drop(e);
      this.entries.length = max;
    }
    this.exp = null;
    if (keep) this.root.scrollTop = before + newer.length * ROW;
    this.render();
  }

  // append adds older entries at the bottom ("load older").
  append(older) {
    this.entries = this.entries.concat(older);
    this.exp = null;
    this.render();
  }

  drop(e) {
    const el = this.rows.get(e);
    if (el) { el.remove(); this.rows.delete(e); }
  }

  schedule() {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => { this.raf = 0; this.render(); });
  }

  expanded() {
    if (!this.exp) {
      this.exp = [];
      this.entries.forEach((e, i) => { if (e.open) this.exp.push([i, e.extra || 0]); });
    }
    return this.exp;
  }

  top(i) {
    let acc = 0;
    for (const [j, extra] of this.expanded()) { if (j < i) acc += extra; else break; }
    return i * ROW + acc;
  }

  indexAt(y) {
    let acc = 0;
    for (const [j, extra] of this.expanded()) {
      const t = j * ROW + acc;
      if (y < t) break;
      if (y < t + ROW + extra) return j;
      acc += extra;
    }
    return Math.max(0, Math.floor((y - acc) / ROW));
  }

  totalHeight() {
    let acc = 0;
    for (const [, extra] of this.expanded()) acc += extra;
    return this.entries.length * ROW + acc;
  }

  render() {
    const t0 = performance.now();
    this.paint();
    this.renderMs += performance.now() - t0;
    this.renders++;
  }

  paint() {
    const n = this.entries.length;
    this.spacer.style.height = `${this.totalHeight()}px`;
    const st = this.root.scrollTop, h = this.root.clientHeight || 600;
    const first = Math.max(0, this.indexAt(st) - OVERSCAN);
    const last = Math.min(n - 1, this.indexAt(st + h) + OVERSCAN);
    const want = new Set();
    for (let i = first; i <= last; i++) want.add(this.entries[i]);
    for (const [e, el] of this.rows) if (!want.has(e)) { el.remove(); this.rows.delete(e); }
    let remeasure = false, prev = null;
    for (let i = first; i <= last; i++) {
      const e = this.entries[i];
      let el = this.rows.get(e);
      if (!el) {
        el = this.row(e);
        this.rows.set(e, el);
      }
      // Keep DOM order equal to screen order, for readers and Tab.
      if (el.previousElementSibling !== prev || !el.parentNode) this.spacer.insertBefore(el, prev ? prev.nextSibling : this.spacer.firstChild);
      prev = el;
      el.style.transform = `translateY(${this.top(i)}px)`;
      if (e.open && e.extra === undefined) {
        e.extra = el.offsetHeight - ROW;
        remeasure = true;
      }
    }
    if (remeasure) { this.exp = null; this.paint(); }
  }

  toggle(e) {
    e.open = !e.open;
    e.extra = e.open ? undefined : 0;
    this.drop(e);
    this.exp = null;
    this.render();
  }

  row(e) {
    const el = document.createElement('div');
    el.className = e.open ? 'log-row open' : 'log-row';
    if (e.fresh) {
      // Tailed lines flash once as they arrive.
      el.classList.add('fresh');
      e.fresh = false;
    }
    const head = document.createElement('div');
    head.className = 'log-head';
    head.tabIndex = 0;
    head.setAttribute('role', 'button');
    head.setAttribute('aria-expanded', String(!!e.open));
    head.addEventListener('click', () => this.toggle(e));
    head.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Enter' && ev.key !== ' ') return;
      ev.preventDefault();
      this.toggle(e);
      this.rows.get(e)?.querySelector('.log-head')?.focus();
    });
    const lvl = e.labels.level || e.labels.detected_level || e.meta?.level || e.meta?.detected_level || e.parsed?.level || e.parsed?.detected_level || '';
    const bar = document.createElement('span');
    bar.className = 'log-level';
    bar.style.background = lvl ? seriesColor(lvl, 0) : 'transparent';
    bar.title = lvl;
    const ts = document.createElement('span');
    ts.className = 'log-ts';
    ts.textContent = formatTs(e.ts);
    const lab = document.createElement('span');
    lab.className = 'log-labels';
    lab.textContent = labelText(uniqueLabels(e.labels, this.common));
    if (!lab.textContent) lab.hidden = true;
    const line = document.createElement('span');
    line.className = 'log-line';
    appendHighlighted(line, e.line, this.terms);
    head.append(bar, ts, lab, line);
    el.append(head);
    if (e.open) el.append(this.details(e));
    return el;
  }

  details(e) {
    const d = document.createElement('div');
    d.className = 'log-details';
    const full = document.createElement('pre');
    full.className = 'log-full';
    appendHighlighted(full, e.line, this.terms);
    d.append(full);
    const sections = [['Stream labels', e.labels, 'stream']];
    if (e.meta && Object.keys(e.meta).length) sections.push(['Structured metadata', e.meta, 'meta']);
    if (e.parsed && Object.keys(e.parsed).length) {
      sections.push(['Parsed labels (from the query\'s parser)', e.parsed, 'parsed']);
    } else {
      // No parser in the query: parse JSON or logfmt here so fields can
      // still be filtered on (adding one adds the parser).
      const parsed = parseFields(e.line);
      if (parsed) sections.push([`Fields in the line (${parsed.kind})`, parsed.fields, parsed.kind]);
    }
    for (const [title, obj, kind] of sections) {
      const h = document.createElement('div');
      h.className = 'log-section';
      h.textContent = title;
      const tbl = document.createElement('table');
      tbl.className = 'fields';
      for (const [k, v] of Object.entries(obj)) {
        const tr = tbl.insertRow();
        const acts = tr.insertCell();
        acts.className = 'field-actions';
        acts.append(this.button('+', `Filter for ${k}="${v}"`, () => this.opts.onFilter(k, '=', v, kind)),
          this.button('−', `Filter out ${k}="${v}"`, () => this.opts.onFilter(k, '!=', v, kind)));
        const kc = tr.insertCell();
        kc.className = 'field-key';
        kc.textContent = k;
        const vc = tr.insertCell();
        vc.className = 'field-value';
        vc.textContent = v;
      }
      d.append(h, tbl);
    }
    return d;
  }

  button(text, title, fn) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'icon-btn';
    b.textContent = text;
    b.title = title;
    b.setAttribute('aria-label', title);
    b.addEventListener('click', (ev) => { ev.stopPropagation(); fn(); });
    return b;
  }

  oldest() {
    let o = null;
    for (const e of this.entries) if (o === null || compareNs(e.ts, o) < 0) o = e.ts;
    return o;
  }
}

// appendHighlighted adds text to el as text nodes, with <mark> around the
// ranges matching terms.
export function appendHighlighted(el, text, terms) {
  if (!terms.length) { el.textContent = text; return; }
  let pos = 0;
  for (const [a, b] of highlightRanges(text, terms)) {
    if (a > pos) el.append(text.slice(pos, a));
    const m = document.createElement('mark');
    m.textContent = text.slice(a, b);
    el.append(m);
    pos = b;
  }
  if (pos < text.length) el.append(text.slice(pos));
}

// parseFields reads a JSON object line or a logfmt line into flat fields,
// or returns null.
export function parseFields(line) {
  const s = line.trim();
  if (s.startsWith('{')) {
    try {
      const o = JSON.parse(s);
      if (o && typeof o === 'object' && !Array.isArray(o)) {
        const fields = {};
        flatten(o, '', fields);
        return Object.keys(fields).length ? { kind: 'json', fields } : null;
      }
    } catch { /* not JSON */ }
  }
  const fields = {};
  const re = /([A-Za-z_][\w.\-]*)=("(?:[^"\\]|\\.)*"|[^\s]*)/g;
  let m, n = 0;
  while ((m = re.exec(s)) !== null) {
    let v = m[2];
    if (v.startsWith('"')) { try { v = JSON.parse(v); } catch { v = v.slice(1, -1); } }
    fields[m[1]] = v;
    n++;
  }
  return n >= 2 ? { kind: 'logfmt', fields } : null;
}

function flatten(o, prefix, out) {
  for (const [k, v] of Object.entries(o)) {
    const key = (prefix ? `${prefix}_${k}` : k).replace(/[^A-Za-z0-9_]/g, '_');
    if (v && typeof v === 'object' && !Array.isArray(v)) flatten(v, key, out);
    else if (!Array.isArray(v)) out[key] = v === null ? '' : String(v);
  }
}
