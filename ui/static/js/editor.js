// The query editor: a textarea laid exactly over a highlighted copy of its
// text, so typing stays native (undo, IME, selection) while tokens get
// colours. It offers completions from a provider and marks the position of
// a parse error reported by the server.

import { tokenize, completionContext, quote } from './logql.js';

export class Editor {
  // opts: {onRun(), onChange(text), suggest(ctx) -> Promise<string[]>}
  constructor(root, opts) {
    this.opts = opts;
    this.root = root;
    root.classList.add('editor');
    this.pre = document.createElement('pre');
    this.pre.className = 'editor-hl';
    this.pre.setAttribute('aria-hidden', 'true');
    this.ta = document.createElement('textarea');
    this.ta.className = 'editor-input';
    this.ta.spellcheck = false;
    this.ta.autocomplete = 'off';
    this.ta.setAttribute('autocapitalize', 'off');
    this.ta.setAttribute('aria-label', 'LogQL query');
    this.ta.placeholder = 'Enter a LogQL query, e.g. {app="api"} |= "error"   (Ctrl+Enter to run)';
    this.menu = document.createElement('ul');
    this.menu.className = 'completions';
    this.menu.setAttribute('role', 'listbox');
    this.menu.hidden = true;
    root.append(this.pre, this.ta, this.menu);
    this.error = null; // {offset, message}
    this.items = [];
    this.active = 0;
    this.ctx = null;
    this.seq = 0;
    this.ta.addEventListener('input', () => this.onInput());
    this.ta.addEventListener('keydown', (e) => this.onKey(e));
    // Some input paths (IMEs, synthetic keys) deliver the Enter that picked
    // a completion as text anyway; drop that one line break.
    this.ta.addEventListener('beforeinput', (e) => {
      if (this.swallowBreak && e.inputType === 'insertLineBreak') e.preventDefault();
      this.swallowBreak = false;
    });
    this.ta.addEventListener('keyup', () => { this.swallowBreak = false; });
    this.ta.addEventListener('scroll', () => { this.pre.scrollTop = this.ta.scrollTop; this.pre.scrollLeft = this.ta.scrollLeft; });
    this.ta.addEventListener('blur', () => setTimeout(() => this.close(), 150));
    this.ta.addEventListener('click', () => this.close());
    this.menu.addEventListener('mousedown', (e) => {
      const li = e.target.closest('li');
      if (!li) return;
      e.preventDefault();
      this.accept(+li.dataset.i);
    });
    this.render();
  }

  get value() { return this.ta.value; }
  set value(v) { this.ta.value = v; this.error = null; this.render(); }
  focus() { this.ta.focus(); }

  // setError marks line/col (1-based) of text, or clears the mark.
  setError(line, col) {
    if (!line) { this.error = null; this.render(); return; }
    const lines = this.ta.value.split('\n');
    let off = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) off += lines[i].length + 1;
    this.error = { offset: Math.min(off + Math.max(col - 1, 0), this.ta.value.length) };
    this.render();
  }

  onInput() {
    this.error = null;
    this.render();
    this.opts.onChange?.(this.ta.value);
    this.complete(false);
  }

  onKey(e) {
    if ((e.ctrlKey || e.metaKey || e.shiftKey) && e.key === 'Enter') {
      e.preventDefault();
      this.close();
      this.opts.onRun?.();
      return;
    }
    if (e.ctrlKey && e.key === ' ') {
      e.preventDefault();
      this.complete(true);
      return;
    }
    if (this.menu.hidden) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const n = this.items.length;
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      this.paintMenu();
    } else if (e.key === 'Enter' || e.key === 'Tab') {
      e.preventDefault();
      this.swallowBreak = e.key === 'Enter';
      this.accept(this.active);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      this.close();
    }
  }

  async complete(explicit) {
    const pos = this.ta.selectionStart;
    if (pos !== this.ta.selectionEnd) return this.close();
    const ctx = completionContext(this.ta.value, pos);
    if (ctx.kind === 'none' || (ctx.kind === 'func' && !ctx.prefix && !explicit)) return this.close();
    const seq = ++this.seq;
    let items = [];
    try {
      items = await this.opts.suggest(ctx);
    } catch {
      items = [];
    }
    if (seq !== this.seq) return; // typing moved on
    const p = ctx.prefix.toLowerCase();
    items = items.filter((x) => x.toLowerCase().startsWith(p) && x !== ctx.prefix).slice(0, 50);
    if (!items.length) return this.close();
    this.ctx = ctx;
    this.items = items;
    this.active = 0;
    this.paintMenu();
    this.placeMenu(pos);
  }

  accept(i) {
    const ctx = this.ctx, item = this.items[i];
    if (!ctx || item === undefined) return;
    const text = ctx.kind === 'value' ? quote(item) : item;
    const v = this.ta.value, pos = this.ta.selectionStart;
    // A value replaces the open string up to and including its closing quote.
    let end = pos;
    if (ctx.kind === 'value' && !ctx.needQuotes && v[end] === '"') end++;
    this.ta.value = v.slice(0, ctx.from) + text + v.slice(end);
    const caret = ctx.from + text.length;
    this.ta.setSelectionRange(caret, caret);
    this.close();
    this.render();
    this.opts.onChange?.(this.ta.value);
    this.ta.focus();
  }

  close() {
    this.menu.hidden = true;
    this.ctx = null;
    this.seq++;
  }

  paintMenu() {
    this.menu.replaceChildren(...this.items.map((x, i) => {
      const li = document.createElement('li');
      li.textContent = x;
      li.dataset.i = i;
      li.setAttribute('role', 'option');
      if (i === this.active) { li.className = 'active'; li.setAttribute('aria-selected', 'true'); }
      return li;
    }));
    this.menu.hidden = false;
    this.menu.querySelector('.active')?.scrollIntoView({ block: 'nearest' });
  }

  placeMenu(pos) {
    this.render(pos);
    const mark = this.pre.querySelector('.caret-mark');
    if (!mark) return;
    const r = mark.getBoundingClientRect(), base = this.root.getBoundingClientRect();
    this.menu.style.left = `${Math.max(0, r.left - base.left)}px`;
    this.menu.style.top = `${r.bottom - base.top + 2}px`;
  }

  // render repaints the highlight layer; caret, when given, places a marker
  // used to position the completion menu.
  render(caret = -1) {
    const text = this.ta.value;
    const frag = document.createDocumentFragment();
    const err = this.error ? this.error.offset : -1;
    let errDone = false;
    for (const t of tokenize(text)) {
      const parts = caret > t.start && caret < t.end ? [[t.start, caret], [caret, t.end]] : [[t.start, t.end]];
      for (const [a, b] of parts) {
        if (a === caret) frag.append(caretMark());
        const span = document.createElement('span');
        span.className = `tok-${t.type}`;
        span.textContent = text.slice(a, b);
        if (!errDone && err >= t.start && err < t.end) { span.classList.add('tok-error'); errDone = true; }
        frag.append(span);
      }
    }
    if (caret === text.length) frag.append(caretMark());
    if (err >= 0 && !errDone) {
      const s = document.createElement('span');
      s.className = 'tok-error tok-error-eol';
      s.textContent = ' ';
      frag.append(s);
    }
    frag.append('\n'); // keeps a trailing newline's line visible
    this.pre.replaceChildren(frag);
    const lines = text.split('\n').length;
    this.ta.rows = Math.min(Math.max(lines, 1), 12);
  }
}

function caretMark() {
  const m = document.createElement('span');
  m.className = 'caret-mark';
  return m;
}
