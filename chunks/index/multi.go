package index

import (
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
}

// NewMultiReader returns a MultiReader over rs.
func NewMultiReader(rs ...*Reader) *MultiReader { return &MultiReader{readers: rs} }

// Readers returns the segments the MultiReader queries.
func (m *MultiReader) Readers() []*Reader { return m.readers }

// Select implements [Querier].
func (m *MultiReader) Select(mint, maxt int64, ms ...*labels.Matcher) ([]Series, error) {
	var (
		all     []Series
		sources int
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
			sources++
			all = append(all, ss...)
		}
	}
	if sources <= 1 {
		return all, nil
	}
	slices.SortFunc(all, func(a, b Series) int { return labels.Compare(a.Labels, b.Labels) })
	out := all[:0]
	merged := false
	for _, s := range all {
		if n := len(out); n > 0 && labels.Equal(out[n-1].Labels, s.Labels) {
			// Reader.Select returns chunk slices with len == cap, so this
			// append copies instead of writing into a shared arena.
			out[n-1].Chunks = append(out[n-1].Chunks, s.Chunks...)
			merged = true
			continue
		}
		if merged {
			out[len(out)-1].Chunks = sortDedupChunks(out[len(out)-1].Chunks)
			merged = false
		}
		out = append(out, s)
	}
	if merged {
		out[len(out)-1].Chunks = sortDedupChunks(out[len(out)-1].Chunks)
	}
	return out, nil
}

// LabelNames implements [Querier].
func (m *MultiReader) LabelNames(mint, maxt int64, ms ...*labels.Matcher) ([]string, error) {
	return m.unionStrings(func(r *Reader) ([]string, error) { return r.LabelNames(mint, maxt, ms...) })
}

// LabelValues implements [Querier].
func (m *MultiReader) LabelValues(name string, mint, maxt int64, ms ...*labels.Matcher) ([]string, error) {
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
