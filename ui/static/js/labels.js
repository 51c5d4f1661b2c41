// The label browser: label names, then a label's values with how many
// streams carry each (from /series, since plg has no index/volume yet), and
// a selector composed from the clicked values.

import * as api from './api.js';
import { quote } from './logql.js';

export class LabelBrowser {
  // opts: {range() -> {start, end} ns strings, onUse(selector, run)}
  constructor(root, opts) {
    this.root = root;
    this.opts = opts;
    this.chosen = new Map(); // label -> Set(values)
    this.current = '';
    root.classList.add('browser');
    root.innerHTML = `
      <div class="browser-col"><div class="browser-title">1. Label names</div><div class="chips" data-names></div></div>
      <div class="browser-col"><div class="browser-title" data-values-title>2. Values</div>
        <input type="search" class="browser-filter" placeholder="Filter values" aria-label="Filter values" data-filter>
        <ul class="values" data-values></ul></div>
      <div class="browser-col browser-out"><div class="browser-title">3. Selector</div>
        <code class="selector" data-selector>{}</code>
        <div class="row"><button type="button" class="primary" data-run>Show logs</button>
        <button type="button" data-use>Use as query</button><button type="button" data-clear>Clear</button></div>
        <div class="browser-msg" data-msg></div></div>`;
    this.$ = (s) => root.querySelector(`[data-${s}]`);
    this.$('run').addEventListener('click', () => this.opts.onUse(this.selector(), true));
    this.$('use').addEventListener('click', () => this.opts.onUse(this.selector(), false));
    this.$('clear').addEventListener('click', () => { this.chosen.clear(); this.paintSelector(); this.paintValues(); });
    this.$('filter').addEventListener('input', () => this.paintValues());
  }

  async load() {
    this.msg('Loading label names…');
    try {
      const { start, end } = this.opts.range();
      const res = await api.labelNames(start, end);
      const names = (res.data || []).filter((n) => !n.startsWith('__')).sort();
      this.$('names').replaceChildren(...names.map((n) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'chip';
        b.textContent = n;
        b.dataset.label = n;
        b.addEventListener('click', () => this.pick(n));
        return b;
      }));
      this.msg(names.length ? '' : 'No labels in this time range.');
    } catch (e) {
      this.msg(e.message);
    }
  }

  async pick(name) {
    this.current = name;
    for (const b of this.$('names').children) b.classList.toggle('active', b.dataset.label === name);
    this.$('values-title').textContent = `2. Values of ${name}`;
    this.values = [];
    this.paintValues();
    this.msg(`Loading values of ${name}…`);
    try {
      const { start, end } = this.opts.range();
      const [vals, ser] = await Promise.all([
        api.labelValues(name, start, end),
        api.series(`{${name}=~".+"}`, start, end).catch(() => ({ data: [] })),
      ]);
      const counts = new Map();
      for (const s of ser.data || []) counts.set(s[name], (counts.get(s[name]) || 0) + 1);
      this.values = (vals.data || []).map((v) => ({ v, n: counts.get(v) || 0 }));
      this.values.sort((a, b) => b.n - a.n || (a.v < b.v ? -1 : 1));
      this.msg('');
    } catch (e) {
      this.msg(e.message);
    }
    this.paintValues();
  }

  paintValues() {
    const f = this.$('filter').value.toLowerCase();
    const sel = this.chosen.get(this.current) || new Set();
    const max = Math.max(1, ...(this.values || []).map((x) => x.n));
    this.$('values').replaceChildren(...(this.values || []).filter((x) => x.v.toLowerCase().includes(f)).slice(0, 500).map(({ v, n }) => {
      const li = document.createElement('li');
      li.className = sel.has(v) ? 'value active' : 'value';
      li.dataset.value = v;
      li.tabIndex = 0;
      const name = document.createElement('span');
      name.className = 'value-name';
      name.textContent = v;
      const cnt = document.createElement('span');
      cnt.className = 'value-count';
      cnt.textContent = `${n} stream${n === 1 ? '' : 's'}`;
      const bar = document.createElement('span');
      bar.className = 'value-bar';
      bar.style.width = `${(n / max) * 100}%`;
      li.append(bar, name, cnt);
      const toggle = () => this.toggle(v);
      li.addEventListener('click', toggle);
      li.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(); } });
      return li;
    }));
  }

  toggle(v) {
    let s = this.chosen.get(this.current);
    if (!s) this.chosen.set(this.current, (s = new Set()));
    if (s.has(v)) s.delete(v); else s.add(v);
    if (!s.size) this.chosen.delete(this.current);
    this.paintValues();
    this.paintSelector();
  }

  selector() {
    const parts = [];
    for (const [k, vs] of this.chosen) {
      const list = [...vs];
      if (list.length === 1) parts.push(`${k}=${quote(list[0])}`);
      else parts.push(`${k}=~${quote(list.map(escapeRegex).join('|'))}`);
    }
    return `{${parts.join(', ')}}`;
  }

  paintSelector() { this.$('selector').textContent = this.selector(); }
  msg(t) { this.$('msg').textContent = t; }
}

function escapeRegex(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
