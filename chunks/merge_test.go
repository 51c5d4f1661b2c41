package chunks

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestMergeIterator(t *testing.T) {
	tests := []struct {
		name   string
		inputs [][]Entry
		fwd    []Entry // expected Forward output
		bwd    []Entry // expected Backward output (nil: reverse of fwd)
	}{
		{
			name:   "no inputs",
			inputs: nil,
			fwd:    nil,
		},
		{
			name:   "single input passes through",
			inputs: [][]Entry{{ent(1, "a"), ent(2, "b")}},
			fwd:    []Entry{ent(1, "a"), ent(2, "b")},
		},
		{
			name:   "interleaves by time",
			inputs: [][]Entry{{ent(1, "a"), ent(4, "d")}, {ent(2, "b"), ent(3, "c")}, {ent(0, "z")}},
			fwd:    []Entry{ent(0, "z"), ent(1, "a"), ent(2, "b"), ent(3, "c"), ent(4, "d")},
		},
		{
			name:   "replicas collapse to one copy",
			inputs: [][]Entry{{ent(1, "a"), ent(2, "b")}, {ent(1, "a"), ent(2, "b")}, {ent(1, "a"), ent(2, "b")}},
			fwd:    []Entry{ent(1, "a"), ent(2, "b")},
		},
		{
			name:   "same timestamp different lines are all kept, earlier input first",
			inputs: [][]Entry{{ent(1, "x")}, {ent(1, "y")}},
			fwd:    []Entry{ent(1, "x"), ent(1, "y")},
			bwd:    []Entry{ent(1, "y"), ent(1, "x")},
		},
		{
			name:   "same line different timestamps are all kept",
			inputs: [][]Entry{{ent(1, "a")}, {ent(2, "a")}},
			fwd:    []Entry{ent(1, "a"), ent(2, "a")},
		},
		{
			name: "duplicate hidden behind another line at the same timestamp is dropped",
			// Input 1 holds "x" then "a" at ts 5; input 0 holds "a" at 5.
			inputs: [][]Entry{{ent(5, "a")}, {ent(5, "x"), ent(5, "a")}},
			fwd:    []Entry{ent(5, "a"), ent(5, "x")},
			bwd:    []Entry{ent(5, "a"), ent(5, "x")},
		},
		{
			name:   "duplicates within one input are kept",
			inputs: [][]Entry{{ent(1, "a"), ent(1, "a")}, {ent(0, "b")}},
			fwd:    []Entry{ent(0, "b"), ent(1, "a"), ent(1, "a")},
		},
		{
			name:   "partially overlapping inputs",
			inputs: [][]Entry{{ent(1, "a"), ent(2, "b"), ent(3, "c")}, {ent(2, "b"), ent(3, "c"), ent(4, "d")}},
			fwd:    []Entry{ent(1, "a"), ent(2, "b"), ent(3, "c"), ent(4, "d")},
		},
		{
			name:   "empty inputs are skipped",
			inputs: [][]Entry{{}, {ent(1, "a")}, {}},
			fwd:    []Entry{ent(1, "a")},
		},
	}
	for _, tc := range tests {
		for _, dir := range []Direction{Forward, Backward} {
			t.Run(tc.name+"/"+dir.String(), func(t *testing.T) {
				var its []Iterator
				var srcs []*sliceIterator
				for _, in := range tc.inputs {
					es := append([]Entry(nil), in...)
					if dir == Backward {
						reverse(es)
					}
					s := newSliceIterator(es...)
					srcs = append(srcs, s)
					its = append(its, s)
				}
				exp := tc.fwd
				if dir == Backward {
					exp = tc.bwd
					if exp == nil {
						exp = append([]Entry(nil), tc.fwd...)
						reverse(exp)
					}
				}
				sameEntries(t, drain(t, NewMergeIterator(dir, its...)), exp)
				for i, s := range srcs {
					if !s.closed {
						t.Errorf("input %d not closed", i)
					}
				}
			})
		}
	}
}

func reverse(es []Entry) {
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
}

func TestMergeIteratorStopsOnInputError(t *testing.T) {
	bad := newSliceIterator(ent(1, "a"))
	bad.err = errors.New("disk on fire")
	bad.es = nil
	it := NewMergeIterator(Forward, newSliceIterator(ent(0, "ok"), ent(5, "later")), bad)
	for it.Next() {
	}
	if !errors.Is(it.Err(), bad.err) {
		t.Fatalf("Err()=%v, want the input's error", it.Err())
	}
	_ = it.Close()
}

func TestMergeChunksAcrossCodecsDropsDuplicates(t *testing.T) {
	// Two replicas of a stream cut at different points and a third chunk
	// overlapping both: the merge yields each entry once, in order.
	var all []Entry
	for i := range 300 {
		all = append(all, ent(int64(i/2), "line "+string(rune('a'+i%26)), "replica", "same"))
	}
	a := NewMemChunk(Zstd, 700, 0)
	b := NewMemChunk(S2, 1100, 0)
	c := NewMemChunk(Gzip, 500, 0)
	appendAll(t, a, all[:200])
	appendAll(t, b, all)
	appendAll(t, c, all[150:])
	// The expected result: all entries, deduplicated (all comes in append
	// order, and every chunk preserves it).
	for _, dir := range []Direction{Forward, Backward} {
		its := []Iterator{
			encodeDecode(t, a).Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil),
			b.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil),
			encodeDecode(t, c).Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil),
		}
		got := drain(t, NewMergeIterator(dir, its...))
		exp := want(all, math.MinInt64, math.MaxInt64, dir)
		sameEntries(t, got, exp)
	}
}

func TestMergeIteratorLargeTieGroups(t *testing.T) {
	// Hundreds of lines share one timestamp (a batch import); two inputs
	// overlap on part of them. Every distinct line comes out once.
	var a, b, exp []Entry
	for i := range 300 {
		e := ent(7, fmt.Sprintf("batch line %d", i))
		if i < 200 {
			a = append(a, e)
		}
		if i >= 100 {
			b = append(b, e)
		}
	}
	exp = append(exp, a...)
	exp = append(exp, b[100:]...) // lines 200..299, after input 0's
	got := drain(t, NewMergeIterator(Forward, newSliceIterator(a...), newSliceIterator(b...)))
	sameEntries(t, got, exp)

	var st Stats
	drain(t, NewMergeIteratorWithStats(Forward, &st, newSliceIterator(a...), newSliceIterator(b...)))
	if st.Duplicates != 100 {
		t.Fatalf("counted %d duplicates, want 100", st.Duplicates)
	}

	// Backward: input 1 first on ties, reversed.
	ra, rb := append([]Entry(nil), a...), append([]Entry(nil), b...)
	reverse(ra)
	reverse(rb)
	var bexp []Entry
	bexp = append(bexp, rb...)
	bexp = append(bexp, ra[100:]...) // lines 99..0
	sameEntries(t, drain(t, NewMergeIterator(Backward, newSliceIterator(ra...), newSliceIterator(rb...))), bexp)
}
