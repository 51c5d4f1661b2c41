// Canvas charts: the stacked volume histogram of log queries and the line
// chart of metric queries. Both share axes, hover read-outs and
// drag-to-zoom, and draw on one canvas each (no DOM per point).

import { formatAxis } from './time.js';

const PAD = { l: 48, r: 12, t: 8, b: 20 };
const PALETTE = ['#3274d9', '#e0752d', '#56a64b', '#a352cc', '#f2cc0c', '#1f78c1', '#e02f44', '#8ab8ff', '#ff9830', '#73bf69', '#b877d9', '#fade2a'];
const LEVEL_COLORS = {
  critical: '#a01b2d', fatal: '#a01b2d', error: '#e02f44', err: '#e02f44', warn: '#ff9830', warning: '#ff9830',
  info: '#56a64b', information: '#56a64b', debug: '#3274d9', trace: '#8ab8ff', unknown: '#8e8e8e', logs: '#8e8e8e',
};

export function seriesColor(name, i) {
  return LEVEL_COLORS[String(name).toLowerCase()] || PALETTE[i % PALETTE.length];
}

function niceTicks(max, count) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count, mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v <= max + step * 0.001; v += step) ticks.push(+v.toPrecision(12));
  if (ticks[ticks.length - 1] < max) ticks.push(+(ticks[ticks.length - 1] + step).toPrecision(12));
  return ticks;
}

export function formatValue(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1) + 'G';
  if (a >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
  if (a === 0 || a >= 1) return String(+v.toFixed(2));
  return String(+v.toPrecision(3));
}

class Plot {
  constructor(root, { onZoom } = {}) {
    this.root = root;
    root.classList.add('plot');
    this.canvas = document.createElement('canvas');
    this.sel = document.createElement('div');
    this.sel.className = 'plot-sel';
    this.sel.hidden = true;
    this.tip = document.createElement('div');
    this.tip.className = 'plot-tip';
    this.tip.hidden = true;
    root.append(this.canvas, this.sel, this.tip);
    this.onZoom = onZoom;
    this.from = 0; this.to = 1;
    this.drag = null;
    this.canvas.addEventListener('mousedown', (e) => {
      this.drag = { x0: this.localX(e) };
    });
    window.addEventListener('mousemove', (e) => {
      if (this.drag) {
        const x = this.localX(e), a = Math.min(x, this.drag.x0), b = Math.max(x, this.drag.x0);
        Object.assign(this.sel.style, { left: `${a}px`, width: `${b - a}px`, top: `${PAD.t}px`, height: `${this.h - PAD.t - PAD.b}px` });
        this.sel.hidden = b - a < 3;
        this.tip.hidden = true;
      }
    });
    window.addEventListener('mouseup', (e) => {
      if (!this.drag) return;
      const x = this.localX(e), a = Math.min(x, this.drag.x0), b = Math.max(x, this.drag.x0);
      this.drag = null;
      this.sel.hidden = true;
      if (b - a >= 5 && this.onZoom) this.onZoom(this.xToT(a), this.xToT(b));
    });
    this.canvas.addEventListener('mousemove', (e) => { if (!this.drag) this.hover(this.localX(e)); });
    this.canvas.addEventListener('mouseleave', () => { this.tip.hidden = true; this.draw(); });
    // Colours come from CSS variables: repaint when the system theme flips.
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => this.draw());
    this.ro = new ResizeObserver(() => this.draw());
    this.ro.observe(root);
  }

  localX(e) { return e.clientX - this.canvas.getBoundingClientRect().left; }
  xToT(x) { return this.from + ((x - PAD.l) / (this.w - PAD.l - PAD.r)) * (this.to - this.from); }
  tToX(t) { return PAD.l + ((t - this.from) / (this.to - this.from)) * (this.w - PAD.l - PAD.r); }
  yToPx(v) { return this.h - PAD.b - (v / this.ymax) * (this.h - PAD.t - PAD.b); }

  setup() {
    const dpr = window.devicePixelRatio || 1;
    this.w = this.root.clientWidth;
    this.h = this.root.clientHeight;
    this.canvas.width = Math.max(1, this.w * dpr);
    this.canvas.height = Math.max(1, this.h * dpr);
    this.canvas.style.width = `${this.w}px`;
    this.canvas.style.height = `${this.h}px`;
    const g = this.canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, this.w, this.h);
    const cs = getComputedStyle(this.root);
    this.fg = cs.getPropertyValue('--muted').trim() || '#888';
    this.grid = cs.getPropertyValue('--grid').trim() || '#ddd';
    return g;
  }

  axes(g, yticks) {
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = this.fg;
    g.strokeStyle = this.grid;
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (const v of yticks) {
      const y = Math.round(this.yToPx(v)) + 0.5;
      g.beginPath(); g.moveTo(PAD.l, y); g.lineTo(this.w - PAD.r, y); g.stroke();
      g.fillText(formatValue(v), PAD.l - 6, y);
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const range = this.to - this.from, n = Math.max(2, Math.floor((this.w - PAD.l - PAD.r) / 90));
    for (let i = 0; i <= n; i++) {
      const t = this.from + (range * i) / n;
      const label = formatAxis(t, range), half = g.measureText(label).width / 2;
      const x = Math.min(Math.max(this.tToX(t), half), this.w - half - 1);
      g.fillText(label, x, this.h - PAD.b + 4);
    }
  }

  showTip(x, title, rows) {
    const frag = document.createDocumentFragment();
    const h = document.createElement('div');
    h.className = 'tip-title';
    h.textContent = title;
    frag.append(h);
    for (const [color, name, v] of rows) {
      const row = document.createElement('div');
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = color;
      const label = document.createElement('span');
      label.textContent = `${name}: `;
      const b = document.createElement('b');
      b.textContent = v;
      row.append(sw, label, b);
      frag.append(row);
    }
    this.tip.replaceChildren(frag);
    this.tip.hidden = false;
    const tw = this.tip.offsetWidth;
    this.tip.style.left = `${x + 12 + tw > this.w ? x - tw - 12 : x + 12}px`;
    this.tip.style.top = `${PAD.t}px`;
  }
}

// Histogram draws lines-per-bucket bars stacked by level.
export class Histogram extends Plot {
  // set(series: [{name, points: [[ms, count]]}], from, to, stepMs)
  set(series, from, to, stepMs) {
    this.series = series;
    this.from = from; this.to = to; this.step = stepMs;
    this.buckets = new Map();
    for (const s of series) {
      for (const [t, v] of s.points) {
        let b = this.buckets.get(t);
        if (!b) this.buckets.set(t, (b = new Map()));
        b.set(s.name, v);
      }
    }
    this.draw();
  }

  total() {
    let n = 0;
    for (const b of this.buckets?.values() ?? []) for (const v of b.values()) n += v;
    return n;
  }

  draw(hx = -1) {
    if (!this.series) return;
    const g = this.setup();
    let max = 0;
    for (const b of this.buckets.values()) {
      let sum = 0;
      for (const v of b.values()) sum += v;
      max = Math.max(max, sum);
    }
    const ticks = niceTicks(max, 3);
    this.ymax = ticks[ticks.length - 1] || 1;
    this.axes(g, ticks);
    const bw = Math.max(1, this.tToX(this.from + this.step) - this.tToX(this.from) - 1);
    for (const [t, b] of this.buckets) {
      // count_over_time at t counts (t-step, t]: draw the bar over that window.
      const x = this.tToX(t - this.step);
      let acc = 0;
      this.series.forEach((s, i) => {
        const v = b.get(s.name) || 0;
        if (!v) return;
        const y0 = this.yToPx(acc), y1 = this.yToPx(acc + v);
        acc += v;
        g.fillStyle = seriesColor(s.name, i);
        g.globalAlpha = hx >= x && hx < x + bw + 1 ? 1 : 0.85;
        g.fillRect(x, y1, bw, y0 - y1);
      });
    }
    g.globalAlpha = 1;
  }

  hover(x) {
    if (!this.series) return;
    const t = this.xToT(x);
    const key = Math.ceil((t - this.from) / this.step) * this.step + this.from;
    let best = null, bd = Infinity;
    for (const bt of this.buckets.keys()) {
      const d = Math.abs(bt - key);
      if (d < bd && d <= this.step) { bd = d; best = bt; }
    }
    this.draw(x);
    if (best === null) { this.tip.hidden = true; return; }
    const b = this.buckets.get(best);
    const rows = this.series.map((s, i) => [seriesColor(s.name, i), s.name, String(b.get(s.name) || 0)]).filter((r) => r[2] !== '0');
    this.showTip(x, new Date(best).toLocaleString(), rows);
  }
}

// LineChart draws one line per series; the legend toggles series.
export class LineChart extends Plot {
  constructor(root, opts) {
    super(root, opts);
    this.hiddenSeries = new Set();
  }

  // set(series: [{name, values: [[ms, value]]}], from, to)
  set(series, from, to) {
    this.series = series;
    this.from = from; this.to = to;
    this.hiddenSeries.clear();
    this.draw();
  }

  toggle(i) {
    if (this.hiddenSeries.has(i)) this.hiddenSeries.delete(i);
    else this.hiddenSeries.add(i);
    this.draw();
  }

  draw(hx = -1) {
    if (!this.series) return;
    const g = this.setup();
    let max = 0, min = 0;
    this.series.forEach((s, i) => {
      if (this.hiddenSeries.has(i)) return;
      for (const [, v] of s.values) if (Number.isFinite(v)) { max = Math.max(max, v); min = Math.min(min, v); }
    });
    const ticks = niceTicks(max, 4);
    this.ymax = ticks[ticks.length - 1] || 1;
    this.axes(g, ticks);
    g.lineWidth = 1.5;
    this.series.forEach((s, i) => {
      if (this.hiddenSeries.has(i)) return;
      g.strokeStyle = seriesColor('', i);
      g.beginPath();
      let prev = null;
      for (const [t, v] of s.values) {
        const x = this.tToX(t), y = this.yToPx(v);
        // A gap longer than two steps breaks the line, like Grafana.
        if (prev === null || (s.step && t - prev > 2 * s.step)) g.moveTo(x, y);
        else g.lineTo(x, y);
        prev = t;
      }
      g.stroke();
      if (s.values.length === 1) {
        const [t, v] = s.values[0];
        g.fillStyle = g.strokeStyle;
        g.fillRect(this.tToX(t) - 2, this.yToPx(v) - 2, 4, 4);
      }
    });
    if (hx >= PAD.l) {
      g.strokeStyle = this.fg;
      g.lineWidth = 1;
      g.beginPath(); g.moveTo(hx + 0.5, PAD.t); g.lineTo(hx + 0.5, this.h - PAD.b); g.stroke();
    }
  }

  hover(x) {
    if (!this.series || !this.series.length) return;
    const t = this.xToT(x);
    let at = null;
    const rows = [];
    this.series.forEach((s, i) => {
      if (this.hiddenSeries.has(i) || !s.values.length) return;
      let best = s.values[0];
      for (const p of s.values) if (Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
      if (at === null || Math.abs(best[0] - t) < Math.abs(at - t)) at = best[0];
      rows.push([seriesColor('', i), s.name, formatValue(best[1]), best[0], best[1]]);
    });
    this.draw(x);
    if (at === null) return;
    const shown = rows.filter((r) => r[3] === at).sort((a, b) => b[4] - a[4]).slice(0, 12);
    this.showTip(x, new Date(at).toLocaleString(), shown);
  }
}
