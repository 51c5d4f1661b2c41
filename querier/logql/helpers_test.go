package logql

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/querier/logql/syntax"
)

// t0 is the time every test data set starts at.
var t0 = time.Unix(1_700_000_000, 0)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// ns returns the Unix ns of t0 plus d.
func ns(d time.Duration) int64 { return t0.Add(d).UnixNano() }

// ms returns the Unix ms of t0 plus d (a result point's time).
func ms(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

// testEntry is one line of a test stream, at t0 plus off.
type testEntry struct {
	off  time.Duration
	line string
	md   labels.Labels
}

func e(off time.Duration, line string) testEntry { return testEntry{off: off, line: line} }

// memSource is a Source over real in-memory chunks, one per stream.
type memSource struct {
	streams []memStream
	mu      sync.Mutex
	hints   []SelectHints // of every Select, in call order
}

type memStream struct {
	lbls  labels.Labels
	chunk *chunks.MemChunk
}

// newSource builds a source; streams maps a selector text ({a="b"}) to
// its entries. Small blocks make queries cross block boundaries.
func newSource(t testing.TB, streams map[string][]testEntry) *memSource {
	t.Helper()
	s := &memSource{}
	for sel, entries := range streams {
		ms, err := syntax.ParseMatchers(sel)
		if err != nil {
			t.Fatalf("stream %s: %v", sel, err)
		}
		b := labels.NewScratchBuilder(len(ms))
		for _, m := range ms {
			b.Add(m.Name, m.Value)
		}
		b.Sort()
		c := chunks.NewMemChunk(chunks.Snappy, 256, 0)
		for _, en := range entries {
			if _, err := c.Append(chunks.Entry{Timestamp: ns(en.off), Line: []byte(en.line), Metadata: en.md}); err != nil {
				t.Fatalf("append: %v", err)
			}
		}
		s.streams = append(s.streams, memStream{lbls: b.Labels(), chunk: c})
	}
	return s
}

func (s *memSource) Select(ctx context.Context, ms []*labels.Matcher, from, through int64, dir chunks.Direction, hints SelectHints, stats *chunks.Stats) ([]SourceStream, error) {
	s.mu.Lock()
	s.hints = append(s.hints, hints)
	s.mu.Unlock()
	var out []SourceStream
	for _, st := range s.streams {
		ok := true
		for _, m := range ms {
			if !m.Matches(st.lbls.Get(m.Name)) {
				ok = false
				break
			}
		}
		if ok {
			// As the ingester does: entries whose lines lack the hinted
			// substrings are left out, so every test also checks that the
			// engine's hints promise no more than its filters keep.
			it := st.chunk.IteratorMatching(ctx, from, through, dir, stats, chunks.NewNeedles(hints.LineSubstrings))
			out = append(out, SourceStream{Labels: st.lbls, Iter: it})
		}
	}
	return out, nil
}

func newTestEngine() *Engine { return NewEngine(EngineOptions{}, nil) }

// rangeParams is a range query from t0+start to t0+end every step.
func rangeParams(q string, start, end, step time.Duration) Params {
	return Params{Query: q, Start: at(start), End: at(end), Step: step, Limit: 100, Direction: chunks.Backward}
}

func instantParams(q string, ts time.Duration) Params {
	return Params{Query: q, Start: at(ts), End: at(ts), Instant: true, Limit: 100, Direction: chunks.Backward}
}
