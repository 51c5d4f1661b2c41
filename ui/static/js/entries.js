// Entries: turning the API's stream results and tail frames into the flat,
// newest-first list the log view shows.

import { compareNs } from './time.js';

// labelText prints labels as `k=v k=v` for rows and keys.
export function labelText(labels) {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(' ');
}

// toEntries flattens streams into entries {ts, line, labels, meta, parsed},
// newest first. The third element of a value is either flat structured
// metadata or Loki's categorized form {structuredMetadata, parsed}.
export function toEntries(streams) {
  let n = 0;
  for (const s of streams) n += (s.values || []).length;
  const out = new Array(n);
  let i = 0;
  for (const s of streams) {
    const labels = s.stream || {};
    for (const v of s.values || []) {
      const x = v[2] && typeof v[2] === 'object' ? v[2] : null;
      const categorized = x && (x.structuredMetadata || x.parsed);
      out[i++] = {
        ts: String(v[0]), line: String(v[1] ?? ''), labels,
        meta: categorized ? x.structuredMetadata || null : x,
        parsed: categorized ? x.parsed || null : null,
      };
    }
  }
  out.length = i;
  out.sort((a, b) => compareNs(b.ts, a.ts));
  return out;
}

// entryKey is a line's identity for de-duplication across pages.
export const entryKey = (e) => `${e.ts}\u0000${labelText(e.labels)}\u0000${e.line}\u0000${e.meta ? labelText(e.meta) : ''}`;

// parseTailFrame decodes one websocket frame of /loki/api/v1/tail into its
// entries and the number of entries the server reports dropped, or null
// when the frame is not JSON.
export function parseTailFrame(data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    return null;
  }
  if (!msg || typeof msg !== 'object') return null;
  const dropped = Array.isArray(msg.dropped_entries) ? msg.dropped_entries.length : 0;
  return { entries: toEntries(Array.isArray(msg.streams) ? msg.streams : []), dropped };
}

// commonLabels returns the labels every stream shares (same name and value):
// shown once above the list instead of on every row.
export function commonLabels(streams) {
  if (!streams.length) return {};
  const common = { ...(streams[0].stream || {}) };
  for (const s of streams) {
    const l = s.stream || {};
    for (const k of Object.keys(common)) if (l[k] !== common[k]) delete common[k];
  }
  return common;
}

// uniqueLabels drops the common labels from a row's labels.
export function uniqueLabels(labels, common) {
  const out = {};
  for (const [k, v] of Object.entries(labels)) if (common[k] !== v) out[k] = v;
  return out;
}
