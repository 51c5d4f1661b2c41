package push

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// requireEqualRequests fails unless got and want hold the same streams,
// treating nil and empty lines and metadata alike.
func requireEqualRequests(t testing.TB, got, want *Request) {
	t.Helper()
	if diff := diffRequests(got, want); diff != "" {
		t.Fatal(diff)
	}
}

func diffRequests(got, want *Request) string {
	if len(got.Streams) != len(want.Streams) {
		return fmt.Sprintf("got %d streams, want %d", len(got.Streams), len(want.Streams))
	}
	for i := range want.Streams {
		g, w := &got.Streams[i], &want.Streams[i]
		if g.Labels != w.Labels {
			return fmt.Sprintf("stream %d: labels %q, want %q", i, g.Labels, w.Labels)
		}
		if len(g.Entries) != len(w.Entries) {
			return fmt.Sprintf("stream %d: %d entries, want %d", i, len(g.Entries), len(w.Entries))
		}
		for j := range w.Entries {
			ge, we := &g.Entries[j], &w.Entries[j]
			if ge.Timestamp != we.Timestamp {
				return fmt.Sprintf("stream %d entry %d: timestamp %d, want %d", i, j, ge.Timestamp, we.Timestamp)
			}
			if !bytes.Equal(ge.Line, we.Line) {
				return fmt.Sprintf("stream %d entry %d: line %q, want %q", i, j, ge.Line, we.Line)
			}
			if !labels.Equal(ge.Metadata, we.Metadata) {
				return fmt.Sprintf("stream %d entry %d: metadata %s, want %s", i, j, ge.Metadata, we.Metadata)
			}
		}
	}
	return ""
}

// cloneRequest deep-copies r so it survives reuse of the buffers it aliases.
func cloneRequest(r *Request) *Request {
	out := &Request{Streams: make([]Stream, len(r.Streams))}
	for i, s := range r.Streams {
		out.Streams[i].Labels = s.Labels
		out.Streams[i].Entries = make([]Entry, len(s.Entries))
		for j, e := range s.Entries {
			out.Streams[i].Entries[j] = Entry{Timestamp: e.Timestamp, Line: bytes.Clone(e.Line), Metadata: e.Metadata.Copy()}
		}
	}
	return out
}

// benchRequest builds a realistic push: Kubernetes-style stream labels and
// log lines of lineLen bytes, metadataEvery-th entry carrying a trace_id
// (0: none), one millisecond apart.
func benchRequest(streams, entries, lineLen, metadataEvery int) *Request {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"GET", "POST", "/api/v1/orders", "status=200", "status=500", "duration=12ms",
		"user_id=4711", "level=info", "level=error", "msg=\"request served\"", "bytes=5123", "region=eu-west-1"}
	req := &Request{Streams: make([]Stream, streams)}
	ts := int64(1_700_000_000_000_000_000)
	for i := range req.Streams {
		s := &req.Streams[i]
		s.Labels = fmt.Sprintf(`{app="svc-%d", container="main", namespace="prod", pod="svc-%d-7d9f8b6c5-x%04d", stream="stdout"}`, i%20, i%20, i)
		s.Entries = make([]Entry, entries)
		for j := range s.Entries {
			var sb strings.Builder
			sb.WriteString("2026-11-22T05:14:08.123456Z ")
			for sb.Len() < lineLen {
				sb.WriteString(words[rng.IntN(len(words))])
				sb.WriteByte(' ')
			}
			line := []byte(sb.String())[:lineLen]
			e := Entry{Timestamp: ts, Line: line}
			if metadataEvery > 0 && j%metadataEvery == 0 {
				e.Metadata = labels.FromStrings("trace_id", fmt.Sprintf("%016x", rng.Uint64()), "span_id", fmt.Sprintf("%08x", rng.Uint32()))
			}
			s.Entries[j] = e
			ts += 1e6
		}
	}
	return req
}

func countEntries(r *Request) int {
	n := 0
	for _, s := range r.Streams {
		n += len(s.Entries)
	}
	return n
}
