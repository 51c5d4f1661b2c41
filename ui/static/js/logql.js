// A small LogQL lexer for the editor: highlighting, the autocomplete
// context at the cursor, the line-filter terms to highlight in results, and
// query rewriting when a label filter is added from a line. The server's
// parser stays the authority on validity; this lexer never rejects input.

export const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);
export const FUNCTIONS = [
  'rate', 'count_over_time', 'bytes_rate', 'bytes_over_time', 'absent_over_time', 'rate_counter',
  'sum_over_time', 'avg_over_time', 'max_over_time', 'min_over_time', 'first_over_time', 'last_over_time',
  'stdvar_over_time', 'stddev_over_time', 'quantile_over_time',
  'sum', 'avg', 'min', 'max', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'sort', 'sort_desc',
  'vector', 'label_replace',
];
export const STAGES = [
  'json', 'logfmt', 'regexp', 'pattern', 'unpack', 'line_format', 'label_format', 'drop', 'keep',
  'unwrap', 'decolorize', 'ip',
];
const FUNCSET = new Set(FUNCTIONS);
const STAGESET = new Set(STAGES);
const OPS = ['|=', '|~', '|>', '!=', '!~', '!>', '=~', '==', '>=', '<=', '=', '>', '<', '|', '+', '-', '*', '/', '%', '^'];

// tokenize splits text into tokens {type, text, start, end}. Types: space,
// comment, string, number, duration, op, brace, paren, bracket, comma,
// keyword, func, stage, label, ident, other. Unterminated strings run to the
// end of the text so that typing inside one keeps its colour.
export function tokenize(text) {
  const out = [];
  let i = 0, depth = 0, bracket = false;
  const n = text.length;
  const push = (type, start, end) => out.push({ type, text: text.slice(start, end), start, end });
  while (i < n) {
    const c = text[i];
    const start = i;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      while (i < n && /\s/.test(text[i])) i++;
      push('space', start, i);
    } else if (c === '#') {
      while (i < n && text[i] !== '\n') i++;
      push('comment', start, i);
    } else if (c === '"' || c === '`') {
      i++;
      while (i < n && text[i] !== c) {
        if (c === '"' && text[i] === '\\') i++;
        i++;
      }
      i = Math.min(i + 1, n);
      push('string', start, i);
    } else if (c === '{' || c === '}') {
      depth += c === '{' ? 1 : -1;
      if (depth < 0) depth = 0;
      i++;
      push('brace', start, i);
    } else if (c === '(' || c === ')') {
      i++;
      push('paren', start, i);
    } else if (c === '[' || c === ']') {
      bracket = c === '[';
      i++;
      push('bracket', start, i);
    } else if (c === ',') {
      i++;
      push('comma', start, i);
    } else if (/[0-9.]/.test(c)) {
      while (i < n && /[0-9a-zA-Z.µ]/.test(text[i])) i++;
      const t = text.slice(start, i);
      push(bracket || /[a-zµ]$/i.test(t) ? 'duration' : 'number', start, i);
    } else if (/[a-zA-Z_]/.test(c)) {
      while (i < n && /[a-zA-Z0-9_:]/.test(text[i])) i++;
      const w = text.slice(start, i);
      let type = 'ident';
      if (depth > 0) type = 'label';
      else if (KEYWORDS.has(w)) type = 'keyword';
      else if (FUNCSET.has(w)) type = 'func';
      else if (STAGESET.has(w)) type = 'stage';
      push(type, start, i);
    } else {
      const op = OPS.find((o) => text.startsWith(o, i));
      i += op ? op.length : 1;
      push(op ? 'op' : 'other', start, i);
    }
  }
  return out;
}

// unquote returns the value of a LogQL string literal (tolerating a missing
// closing quote).
export function unquote(s) {
  if (s.startsWith('`')) return s.endsWith('`') && s.length > 1 ? s.slice(1, -1) : s.slice(1);
  const body = s.length > 1 && s.endsWith('"') ? s : s + '"';
  try {
    return JSON.parse(body);
  } catch {
    return body.slice(1, -1);
  }
}

// quote renders a value as a LogQL double-quoted string.
export function quote(v) {
  return '"' + String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}

// isLogQuery tells log queries (a selector, maybe a pipeline) from metric
// queries: a log query starts with its stream selector.
export function isLogQuery(text) {
  const t = tokenize(text).find((x) => x.type !== 'space' && x.type !== 'comment');
  return !!t && t.type === 'brace' && t.text === '{';
}

const significant = (toks) => toks.filter((t) => t.type !== 'space' && t.type !== 'comment');

// filterTerms lists the positive line filters of a query, as matchers to
// highlight: {literal} for |= and {regex} for |~.
export function filterTerms(text) {
  const toks = significant(tokenize(text));
  const out = [];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    if (t.type !== 'op' || (t.text !== '|=' && t.text !== '|~')) continue;
    let j = i + 1;
    while (j < toks.length && toks[j].type === 'string') {
      const v = unquote(toks[j].text);
      if (v !== '') {
        if (t.text === '|=') out.push({ literal: v });
        else {
          let src = v, flags = 'g';
          if (src.startsWith('(?i)')) { src = src.slice(4); flags += 'i'; }
          try { out.push({ regex: new RegExp(src, flags) }); } catch { /* Go-only syntax: skip */ }
        }
      }
      j++;
      if (j < toks.length && toks[j].type === 'keyword' && toks[j].text === 'or') j++;
      else break;
    }
  }
  return out;
}

// highlightRanges returns sorted, merged [start, end) ranges of line that
// match any of terms.
export function highlightRanges(line, terms) {
  const r = [];
  for (const t of terms) {
    if (t.literal !== undefined) {
      let k = line.indexOf(t.literal);
      while (k >= 0) {
        r.push([k, k + t.literal.length]);
        k = line.indexOf(t.literal, k + t.literal.length);
      }
    } else {
      t.regex.lastIndex = 0;
      let m, guard = 0;
      while ((m = t.regex.exec(line)) !== null && guard++ < 1000) {
        if (m[0] === '') { t.regex.lastIndex++; continue; }
        r.push([m.index, m.index + m[0].length]);
      }
    }
  }
  r.sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const x of r) {
    const last = merged[merged.length - 1];
    if (last && x[0] <= last[1]) last[1] = Math.max(last[1], x[1]);
    else merged.push([x[0], x[1]]);
  }
  return merged;
}

// completionContext says what to suggest at offset pos: {kind:'label'|
// 'value'|'stage'|'func'|'none', prefix, from, label?} where [from, pos) is
// the text a chosen suggestion replaces.
export function completionContext(text, pos) {
  const toks = tokenize(text.slice(0, pos));
  let depth = 0, parenLabel = false;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    if (t.type === 'brace') depth += t.text === '{' ? 1 : -1;
    if (t.type === 'paren' && t.text === '(') {
      const prev = significant(toks.slice(0, i)).pop();
      parenLabel = !!prev && (prev.text === 'by' || prev.text === 'without');
    }
    if (t.type === 'paren' && t.text === ')') parenLabel = false;
  }
  const last = toks[toks.length - 1];
  const sig = significant(toks);
  if (last && last.type === 'string' && last.end === pos && !(last.text.length > 1 && last.text.endsWith(last.text[0]))) {
    // Inside an open string: a label value when it follows `name op`.
    const op = sig[sig.length - 2], name = sig[sig.length - 3];
    if (depth > 0 && op && op.type === 'op' && name && name.type === 'label') {
      return { kind: 'value', label: name.text, prefix: unquote(last.text), from: last.start };
    }
    return { kind: 'none', prefix: '', from: pos };
  }
  const word = last && /^(label|ident|keyword|func|stage)$/.test(last.type) && last.end === pos ? last : null;
  const prefix = word ? word.text : '';
  const from = word ? word.start : pos;
  const before = word ? sig[sig.length - 2] : sig[sig.length - 1];
  if (depth > 0) {
    if (!before || before.text === '{' || before.type === 'comma') return { kind: 'label', prefix, from };
    if (before.type === 'op' && /^(=|!=|=~|!~)$/.test(before.text)) {
      const name = word ? sig[sig.length - 3] : sig[sig.length - 2];
      if (name && name.type === 'label') return { kind: 'value', label: name.text, prefix: '', from, needQuotes: true };
    }
    return { kind: 'none', prefix: '', from: pos };
  }
  if (parenLabel && (!before || before.text === '(' || before.type === 'comma')) return { kind: 'label', prefix, from };
  if (before && before.type === 'op' && before.text === '|') return { kind: 'stage', prefix, from };
  if (word || !before || before.text === '(') return { kind: 'func', prefix, from };
  return { kind: 'none', prefix: '', from: pos };
}

// selectorRange finds the first stream selector: [openIndex, closeIndex] of
// its braces, or null.
export function selectorRange(text) {
  const toks = tokenize(text);
  let open = -1;
  for (const t of toks) {
    if (t.type !== 'brace') continue;
    if (t.text === '{' && open < 0) open = t.start;
    else if (t.text === '}' && open >= 0) return [open, t.start];
  }
  return null;
}

// addMatcher adds name op "value" to the query: into the first stream
// selector for stream labels, as a label filter at the end of a log query's
// pipeline for anything else (parsed fields, structured metadata).
export function addMatcher(query, name, op, value, isStreamLabel) {
  const m = `${name}${op}${quote(value)}`;
  const r = selectorRange(query);
  if (!r) return `{${m}}`;
  if (isStreamLabel || !isLogQuery(query)) {
    const inner = query.slice(r[0] + 1, r[1]);
    const sep = inner.trim() === '' ? '' : ', ';
    const trimmed = inner.replace(/\s+$/, '');
    return query.slice(0, r[0] + 1) + trimmed + sep + m + query.slice(r[1]);
  }
  return `${query.replace(/\s+$/, '')} | ${m}`;
}

// volumeQuery builds the histogram query of a log query: lines per step,
// split by level when the streams carry one.
export function volumeQuery(query, stepSec) {
  const body = tokenize(query).filter((t) => t.type !== 'comment').map((t) => t.text).join('').trim();
  return `sum by (level, detected_level) (count_over_time(${body} [${stepSec}s]))`;
}
