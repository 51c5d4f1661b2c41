package index

import (
	"container/heap"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
)

// MultiReader answers queries over several segments of one tenant, as if
// they were one: series with equal labels are merged and chunk references
// naming the same chunk (fingerprint, MinT, MaxT, checksum) are returned
// once. Segments whose time bounds miss the query are skipped. It is safe
// for concurrent use.
type MultiReader struct {
	readers []*Reader
	// from is the earliest time answered: queries start no earlier, and
	// chunks ending before it are not returned (retention's cutoff).
	from int64
}

// NewMultiReader returns a MultiReader over rs.
func NewMultiReader(rs ...*Reader) *MultiReader {
	return &MultiReader{readers: rs, from: math.MinInt64}
}

// NewMultiReaderFrom returns a MultiReader over rs that answers every
// query as if it started no earlier than from: chunks ending before from
// are left out, even while a segment not yet rewritten by retention still
// references them.
func NewMultiReaderFrom(from int64, rs ...*Reader) *MultiReader {
	return &MultiReader{readers: rs, from: from}
}

// Readers returns the segments the MultiReader queries.
func (m *MultiReader) Readers() []*Reader { return m.readers }

// Select implements [Querier].
func (m *MultiReader) Select(mint, maxt int64, ms ...*labels.Matcher) ([]Series, error) {
	if mint = max(mint, m.from); maxt < mint {
		return nil, nil
	}
	var (
		runs  []([]Series) // each segment's result, sorted by labels
		total int
	)
	for _, r := range m.readers {
		if !r.overlaps(mint, maxt) {
			continue
		}
		ss, err := r.Select(mint, maxt, ms...)
		if err != nil {
			return nil, err
		}
		if len(ss) > 0 {
			runs = append(runs, ss)
			total += len(ss)
		}
	}
	switch len(runs) {
	case 0:
		return nil, nil
	case 1:
		return runs[0], nil
	}
	return mergeRuns(runs, total), nil
}

// mergeRuns merges runs of series sorted by labels into one sorted run,
// combining series with equal labels and deduplicating their chunks. A
// k-way merge over a heap of runs costs O(n log k) label comparisons and
// moves each series once, where sorting the concatenation would cost
// O(n log n) and shuffle series structs repeatedly.
func mergeRuns(runs [][]Series, total int) []Series {
	h := runHeap(runs)
	heap.Init(&h)
	out := make([]Series, 0, total)
	merged := false // whether the last series in out gathered chunks from several runs
	finish := func() {
		if merged {
			out[len(out)-1].Chunks = sortDedupChunks(out[len(out)-1].Chunks)
			merged = false
		}
	}
	for len(h) > 0 {
		s := h[0][0]
		if h[0] = h[0][1:]; len(h[0]) == 0 {
			heap.Pop(&h)
		} else {
			heap.Fix(&h, 0)
		}
		if n := len(out); n > 0 && labels.Equal(out[n-1].Labels, s.Labels) {
			// Reader.Select returns chunk slices with len == cap, so this
			// append copies instead of writing into a shared arena.
			out[n-1].Chunks = append(out[n-1].Chunks, s.Chunks...)
			merged = true
			continue
		}
		finish()
		out = append(out, s)
	}
	finish()
	return out
}

// runHeap is a min-heap of non-empty runs ordered by their first series.
type runHeap [][]Series

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return labels.Compare(h[i][0].Labels, h[j][0].Labels) < 0 }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.([]Series)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// LabelNames implements [Querier].
func (m *MultiReader) LabelNames(mint, maxt int64, ms ...*labels.Matcher) ([]string, error) {
	if mint = max(mint, m.from); maxt < mint {
		return nil, nil
	}
	return m.unionStrings(func(r *Reader) ([]string, error) { return r.LabelNames(mint, maxt, ms...) })
}

// LabelValues implements [Querier].
func (m *MultiReader) LabelValues(name string, mint, maxt int64, ms ...*labels.Matcher) ([]string, error) {
	if mint = max(mint, m.from); maxt < mint {
		return nil, nil
	}
	return m.unionStrings(func(r *Reader) ([]string, error) { return r.LabelValues(name, mint, maxt, ms...) })
}

func (m *MultiReader) unionStrings(f func(*Reader) ([]string, error)) ([]string, error) {
	var (
		all     []string
		sources int
	)
	for _, r := range m.readers {
		ss, err := f(r)
		if err != nil {
			return nil, err
		}
		if len(ss) > 0 {
			sources++
			all = append(all, ss...)
		}
	}
	if sources <= 1 {
		return all, nil
	}
	slices.Sort(all)
	return slices.Compact(all), nil
}

// Stats implements [Querier]. Streams present in several segments are
// counted once, as are chunks referenced by several segments.
func (m *MultiReader) Stats(mint, maxt int64, ms ...*labels.Matcher) (Stats, error) {
	var st Stats
	ss, err := m.Select(mint, maxt, ms...)
	if err != nil {
		return st, err
	}
	for _, s := range ss {
		st.Streams++
		for _, c := range s.Chunks {
			st.addChunk(c)
		}
	}
	return st, nil
}
