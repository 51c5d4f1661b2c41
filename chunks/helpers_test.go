package chunks

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// drain copies every entry out of it, then closes it.
func drain(t testing.TB, it Iterator) []Entry {
	t.Helper()
	var out []Entry
	for it.Next() {
		e := it.At()
		out = append(out, Entry{Timestamp: e.Timestamp, Line: bytes.Clone(e.Line), Metadata: e.Metadata})
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterate: %v", err)
	}
	if err := it.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return out
}

// want is the reference model of iteration: accepted holds the entries
// Append took (dup=false) in append order. Forward yields them stably
// sorted by time keeping the first of equal (ts, line); Backward is the
// reverse order keeping the last.
func want(accepted []Entry, from, through int64, dir Direction) []Entry {
	type key struct {
		ts   int64
		line string
	}
	seen := map[key]bool{}
	var kept []Entry
	add := func(e Entry) {
		k := key{e.Timestamp, string(e.Line)}
		if !seen[k] && e.Timestamp >= from && e.Timestamp < through {
			seen[k] = true
			kept = append(kept, e)
		}
	}
	if dir == Forward {
		for _, e := range accepted {
			add(e)
		}
		slices.SortStableFunc(kept, func(a, b Entry) int { return cmpInt(a.Timestamp, b.Timestamp) })
		return kept
	}
	for i := len(accepted) - 1; i >= 0; i-- {
		add(accepted[i])
	}
	// kept is in reverse append order; a stable sort by descending time
	// gives (ts desc, append order desc).
	slices.SortStableFunc(kept, func(a, b Entry) int { return cmpInt(b.Timestamp, a.Timestamp) })
	return kept
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sameEntries(t testing.TB, got, exp []Entry) {
	t.Helper()
	if len(got) != len(exp) {
		t.Fatalf("got %d entries, want %d\ngot:  %s\nwant: %s", len(got), len(exp), brief(got), brief(exp))
	}
	for i := range got {
		g, w := got[i], exp[i]
		if g.Timestamp != w.Timestamp || !bytes.Equal(g.Line, w.Line) || !labels.Equal(g.Metadata, w.Metadata) {
			t.Fatalf("entry %d: got {%d %q %s}, want {%d %q %s}\ngot:  %s\nwant: %s", i,
				g.Timestamp, g.Line, g.Metadata, w.Timestamp, w.Line, w.Metadata, brief(got), brief(exp))
		}
	}
}

func brief(es []Entry) string {
	if len(es) > 20 {
		return fmt.Sprintf("%s ... (%d entries)", brief(es[:20]), len(es))
	}
	var b bytes.Buffer
	for _, e := range es {
		fmt.Fprintf(&b, "%d:%q ", e.Timestamp, e.Line)
	}
	return b.String()
}

// appendAll appends es and returns the entries Append accepted.
func appendAll(t testing.TB, c *MemChunk, es []Entry) []Entry {
	t.Helper()
	var acc []Entry
	for _, e := range es {
		dup, err := c.Append(e)
		if err != nil {
			t.Fatalf("append %d %q: %v", e.Timestamp, e.Line, err)
		}
		if !dup {
			acc = append(acc, e)
		}
	}
	return acc
}

func encodeDecode(t testing.TB, c *MemChunk) *Chunk {
	t.Helper()
	b, err := c.Encode()
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return d
}

// sliceIterator yields fixed entries; it reuses one line buffer so a
// merge that keeps a Line past Next would see it change.
type sliceIterator struct {
	es     []Entry
	i      int
	buf    []byte
	err    error
	closed bool
}

func newSliceIterator(es ...Entry) *sliceIterator { return &sliceIterator{es: es, i: -1} }

func (s *sliceIterator) Next() bool {
	if s.i+1 >= len(s.es) {
		return false
	}
	s.i++
	s.buf = append(s.buf[:0], s.es[s.i].Line...)
	return true
}

func (s *sliceIterator) At() Entry {
	e := s.es[s.i]
	e.Line = s.buf
	return e
}
func (s *sliceIterator) Err() error   { return s.err }
func (s *sliceIterator) Close() error { s.closed = true; return nil }

func ent(ts int64, line string, md ...string) Entry {
	return Entry{Timestamp: ts, Line: []byte(line), Metadata: labels.FromStrings(md...)}
}

// randomEntries makes n entries with timestamps mostly increasing, some
// late by up to jitter ns, some exact repeats, and some with metadata.
func randomEntries(r *rand.Rand, n int, jitter int64) []Entry {
	es := make([]Entry, 0, n)
	ts := int64(1_700_000_000_000_000_000)
	for i := range n {
		ts += r.Int64N(1000)
		t := ts
		if jitter > 0 && r.IntN(4) == 0 {
			t -= r.Int64N(jitter)
		}
		var e Entry
		switch {
		case i > 0 && r.IntN(20) == 0:
			e = es[r.IntN(len(es))] // exact duplicate of an earlier entry
		case r.IntN(3) == 0:
			e = ent(t, fmt.Sprintf("level=info msg=%q i=%d", "with metadata", i), "trace_id", fmt.Sprintf("%016x", r.Uint64()), "user", "u1")
		default:
			e = ent(t, fmt.Sprintf(`{"level":"debug","i":%d,"pad":"%s"}`, i, bytes.Repeat([]byte("x"), r.IntN(200))))
		}
		es = append(es, e)
	}
	return es
}

var bg = context.Background()

var errCancelled = context.Canceled

func contextWithCancel() (context.Context, context.CancelFunc) { return context.WithCancel(bg) }

// appendSealingRandomly appends 3,000 random entries to c (out of order,
// equal timestamps, metadata now and then), sealing its head at random
// points, and returns the entries it kept (not duplicates). The same
// seed and stream give the same entries and seals.
func appendSealingRandomly(t *testing.T, c *MemChunk, seed, stream uint64) []Entry {
	t.Helper()
	rr := rand.New(rand.NewPCG(seed, stream))
	var acc []Entry
	ts := int64(1000)
	for i := range 3000 {
		switch k := rr.IntN(100); {
		case k < 3:
			ts -= rr.Int64N(5000) // out of order
		case k < 6: // an equal timestamp
		default:
			ts += 1 + rr.Int64N(3000)
		}
		e := Entry{Timestamp: ts, Line: fmt.Appendf(nil, "level=%s trace_id=%016x%016x msg=%q n=%d", []string{"info", "warn"}[rr.IntN(2)],
			rr.Uint64(), rr.Uint64(), strings.Repeat("x", rr.IntN(200)), i)}
		if rr.IntN(10) == 0 {
			e.Metadata = ent(0, "", "pod", fmt.Sprint(rr.IntN(3))).Metadata
		}
		dup, err := c.Append(e)
		if err != nil {
			t.Fatal(err)
		}
		if !dup {
			acc = append(acc, e)
		}
		if rr.IntN(40) == 0 { // heads of anything from a few entries to most of a block
			if err := c.SealHead(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return acc
}

// checkTokensInFilters decodes outs and checks that each token is in
// exactly one line, and that the n-gram and bloom filters of the block
// holding it let it through.
func checkTokensInFilters(t *testing.T, outs []CompactOutput, toks ...string) {
	t.Helper()
	for _, tok := range toks {
		found := 0
		for _, o := range outs {
			c, err := Decode(o.Data)
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.Blocks() {
				for _, e := range drain(t, c.FilteredIterator(bg, math.MinInt64, math.MaxInt64, Forward, nil, func(b int) bool { return b == i })) {
					if !strings.Contains(string(e.Line), tok) {
						continue
					}
					found++
					if !c.BlockMayMatch(i, NewNeedles([][]string{{tok}})) {
						t.Errorf("token %s: the n-gram filter rules out block %d, which holds it", tok, i)
					}
					if !c.BlockMayContain(i, []byte(tok)) {
						t.Errorf("token %s: the bloom filter rules out block %d, which holds it", tok, i)
					}
				}
			}
		}
		if found != 1 {
			t.Errorf("token %s: in %d lines, want 1", tok, found)
		}
	}
}
