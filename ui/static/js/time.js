// Time handling: parsing the user's and the URL's time expressions, choosing
// steps, and formatting timestamps. Loki timestamps are nanosecond strings;
// the UI keeps them as strings (19 digits do not fit a double) and only
// converts to milliseconds for display and layout.

const UNITS = { ms: 1, s: 1000, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3, y: 365 * 86400e3 };

// parseDuration turns "5m", "1h30m" or "500ms" into milliseconds, or NaN.
export function parseDuration(s) {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/gy;
  let total = 0, m, end = 0;
  s = String(s).trim();
  if (!s) return NaN;
  while ((m = re.exec(s)) !== null) {
    total += parseFloat(m[1]) * UNITS[m[2]];
    end = re.lastIndex;
  }
  return end === s.length ? total : NaN;
}

// parseTime accepts "now", "now-1h", "now+5m", RFC3339, Unix seconds (with
// fraction), Unix milliseconds or nanoseconds, and returns epoch
// milliseconds, or NaN when the text is none of those.
export function parseTime(s, now = Date.now()) {
  s = String(s ?? '').trim();
  if (s === '') return NaN;
  if (s === 'now') return now;
  const rel = /^now\s*([+-])\s*(.+)$/.exec(s);
  if (rel) {
    const d = parseDuration(rel[2]);
    if (Number.isNaN(d)) return NaN;
    return rel[1] === '-' ? now - d : now + d;
  }
  if (/^\d+(\.\d+)?$/.test(s)) {
    const int = s.split('.')[0];
    if (int.length >= 18) return Number(BigInt(int) / 1000000n); // nanoseconds
    if (int.length >= 13) return Number(s); // milliseconds
    return Math.round(parseFloat(s) * 1000); // seconds
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(s)) {
    const t = Date.parse(s);
    return Number.isNaN(t) ? NaN : t;
  }
  return NaN;
}

// msToNs converts epoch milliseconds to a nanosecond string.
export function msToNs(ms) {
  return (BigInt(Math.floor(ms)) * 1000000n).toString();
}

// nsToMs converts a nanosecond string to epoch milliseconds (a double: exact
// to the millisecond, which is all the screen needs).
export function nsToMs(ns) {
  return ns.length > 6 ? Number(ns.slice(0, ns.length - 6)) : 0;
}

// compareNs orders two nanosecond strings without converting them.
export function compareNs(a, b) {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

// nsAdd adds an integer to a nanosecond string.
export function nsAdd(ns, d) {
  return (BigInt(ns) + BigInt(d)).toString();
}

const NICE = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

// niceStep returns a step in whole seconds from a fixed ladder so that the
// range holds about `buckets` of them.
export function niceStep(rangeMs, buckets) {
  const want = rangeMs / 1000 / buckets;
  for (const s of NICE) if (s >= want) return s;
  return Math.ceil(want / 86400) * 86400;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// formatTs prints a nanosecond timestamp as local "YYYY-MM-DD HH:MM:SS.mmm".
export function formatTs(ns) {
  const ms = nsToMs(ns);
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// formatAxis prints an epoch-millisecond tick, with the date only when the
// range spans more than a day.
export function formatAxis(ms, rangeMs) {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (rangeMs > 2 * 86400e3) return `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
  if (rangeMs < 10 * 60e3) return `${hm}:${pad(d.getSeconds())}`;
  return hm;
}

// toRFC3339 prints epoch milliseconds as an RFC3339 UTC string (seconds
// precision unless there are milliseconds).
export function toRFC3339(ms) {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}
