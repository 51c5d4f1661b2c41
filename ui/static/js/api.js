// The client for plg's Loki-compatible API. Every request carries the tenant
// (X-Scope-OrgID) when one is set, and every failure becomes an APIError
// whose message a person can read.

const BASE = '/loki/api/v1';

let tenant = '';
export function setTenant(t) { tenant = (t || '').trim(); }
export function getTenant() { return tenant; }

export class APIError extends Error {
  constructor(message, { status = 0, detail = '', line = 0, col = 0 } = {}) {
    super(message);
    this.status = status;
    this.detail = detail;
    this.line = line; // parse error position, 1-based, 0 when unknown
    this.col = col;
  }
}

// parsePosition finds "line L, col C" in a parse error.
export function parsePosition(text) {
  const m = /line (\d+), col (\d+)/.exec(text);
  return m ? { line: +m[1], col: +m[2] } : { line: 0, col: 0 };
}

// explain turns an HTTP status and the server's text into plain words.
export function explain(status, text) {
  text = (text || '').trim();
  try {
    const j = JSON.parse(text);
    if (j && typeof j.message === 'string') text = j.message;
    else if (j && typeof j.error === 'string') text = j.error;
  } catch { /* plain text, as plg answers */ }
  switch (true) {
    case status === 400 && /parse error/.test(text):
      return `The query is not valid LogQL: ${text}`;
    case status === 400:
      return `The server rejected the request: ${text}`;
    case status === 401:
      return `This server needs a tenant: fill in the Tenant field (sent as X-Scope-OrgID). Server said: ${text}`;
    case status === 403:
      return `Access denied for this tenant: ${text}`;
    case status === 404:
      return `This server does not offer that API (${text || 'not found'}).`;
    case status === 429:
      return `A limit was hit: ${text}. Narrow the time range or the selector, or lower the line limit.`;
    case status === 499:
      return 'The query was cancelled.';
    case status === 504 || status === 408:
      return `The query timed out: ${text}`;
    case status >= 500:
      return `The server failed (${status}): ${text || 'no details'}`;
    default:
      return `Request failed (${status}): ${text}`;
  }
}

function headers(extra) {
  const h = { Accept: 'application/json', ...extra };
  if (tenant) h['X-Scope-OrgID'] = tenant;
  return h;
}

// get fetches BASE+path with params and returns the decoded JSON.
export async function get(path, params = {}, signal, extraHeaders) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => qs.append(k, x));
    else qs.set(k, v);
  }
  let res;
  try {
    res = await fetch(`${BASE}${path}?${qs}`, { headers: headers(extraHeaders), signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(`Cannot reach the server: ${e.message}. Is plg running?`);
  }
  const text = await res.text();
  if (!res.ok) {
    const pos = parsePosition(text);
    throw new APIError(explain(res.status, text), { status: res.status, detail: text.trim(), ...pos });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new APIError(`The server answered with something that is not JSON (${text.slice(0, 80)})`, { status: res.status });
  }
}

export const queryRange = (p, signal) => get('/query_range', p, signal);
// queryLogs asks for categorized labels, as Grafana does: stream labels stay
// the stream's own, and each line carries its structured metadata and
// parsed labels separately.
export const queryLogs = (p, signal) => get('/query_range', p, signal, { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' });
export const formatQuery = (query, signal) => get('/format_query', { query }, signal);
export const labelNames = (start, end, signal) => get('/labels', { start, end }, signal);
export const labelValues = (name, start, end, query, signal) =>
  get(`/label/${encodeURIComponent(name)}/values`, { start, end, query }, signal);
export const series = (match, start, end, signal) => get('/series', { 'match[]': match, start, end }, signal);

// tailURL builds the websocket address for a live tail. Browsers cannot set
// headers on a websocket, so the tenant travels as a query parameter, which
// plg's tail endpoint accepts in place of the header.
export function tailURL(query, startNs, limit) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const qs = new URLSearchParams({ query, start: startNs, limit: String(limit) });
  if (tenant) qs.set('X-Scope-OrgID', tenant);
  return `${proto}//${location.host}${BASE}/tail?${qs}`;
}
