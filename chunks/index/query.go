package index

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// Querier is the query surface shared by [Reader] (one segment) and
// [MultiReader] (many segments). Time ranges are inclusive Unix nanoseconds;
// a chunk is selected when [MinT, MaxT] intersects [mint, maxt]. Matchers
// follow Prometheus semantics; no matchers selects every series.
type Querier interface {
	// Select returns the series with at least one chunk overlapping the
	// range, sorted by labels, each with only its overlapping chunks sorted
	// by MinT.
	Select(mint, maxt int64, ms ...*labels.Matcher) ([]Series, error)
	// LabelNames returns the sorted label names of the selected series.
	LabelNames(mint, maxt int64, ms ...*labels.Matcher) ([]string, error)
	// LabelValues returns the sorted values of label name among the
	// selected series.
	LabelValues(name string, mint, maxt int64, ms ...*labels.Matcher) ([]string, error)
	// Stats sums the selected series and chunks, as for Loki's
	// /loki/api/v1/index/stats.
	Stats(mint, maxt int64, ms ...*labels.Matcher) (Stats, error)
}

// Stats summarises the chunks a selector touches. Whole chunks are counted,
// even when they only partly overlap the range. Bytes are uncompressed
// bytes, the volume a query would have to process.
type Stats struct {
	Streams uint64 `json:"streams"`
	Chunks  uint64 `json:"chunks"`
	Entries uint64 `json:"entries"`
	Bytes   uint64 `json:"bytes"`
}

func (s *Stats) addChunk(c ChunkRef) {
	s.Chunks++
	s.Entries += uint64(c.Entries)
	s.Bytes += uint64(c.UncompressedBytes)
}

var (
	_ Querier = (*Reader)(nil)
	_ Querier = (*MultiReader)(nil)
)

// Select implements [Querier].
func (r *Reader) Select(mint, maxt int64, ms ...*labels.Matcher) ([]Series, error) {
	if !r.overlaps(mint, maxt) {
		return nil, nil
	}
	ids, err := r.postingsForMatchers(ms)
	if err != nil {
		return nil, err
	}
	// ids bounds the result, and every returned series has a chunk: size
	// both up front instead of growing (and copying) them.
	var (
		out    = make([]Series, 0, len(ids))
		arena  = make([]ChunkRef, 0, len(ids)) // backing store for all returned chunk slices
		fp     uint64
		sd     = seriesDecoder{r: r}
		lblErr error
	)
	for _, id := range ids {
		start := len(arena)
		fp, arena, err = sd.decode(id, mint, maxt, arena)
		if err != nil {
			return nil, err
		}
		if len(arena) == start {
			continue
		}
		s := Series{Fingerprint: fp, Chunks: arena[start:len(arena):len(arena)]}
		if s.Labels, lblErr = sd.labels(); lblErr != nil {
			return nil, fmt.Errorf("series %d: %w", id, lblErr)
		}
		// Callers (MultiReader's merge among them) rely on the order
		// Write establishes; a damaged segment must not break it silently.
		if n := len(out); n > 0 && labels.Compare(out[n-1].Labels, s.Labels) >= 0 {
			return nil, corruptf("series %d %s not after %s", id, s.Labels, out[n-1].Labels)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// forEachSelected calls f for every selected series with at least one chunk
// overlapping [mint, maxt], passing the overlapping chunks in a buffer that
// is reused between calls.
func (r *Reader) forEachSelected(mint, maxt int64, ms []*labels.Matcher, f func(sd *seriesDecoder, chunks []ChunkRef)) error {
	if !r.overlaps(mint, maxt) {
		return nil
	}
	ids, err := r.postingsForMatchers(ms)
	if err != nil {
		return err
	}
	sd := seriesDecoder{r: r}
	var buf []ChunkRef
	for _, id := range ids {
		if _, buf, err = sd.decode(id, mint, maxt, buf[:0]); err != nil {
			return err
		}
		if len(buf) > 0 {
			f(&sd, buf)
		}
	}
	return nil
}

// coversAll reports whether a query without matchers over [mint, maxt]
// selects every series, so answers can come from the postings table alone.
func (r *Reader) coversAll(mint, maxt int64, ms []*labels.Matcher) bool {
	return len(ms) == 0 && mint <= r.minT && maxt >= r.maxT
}

// LabelNames implements [Querier].
func (r *Reader) LabelNames(mint, maxt int64, ms ...*labels.Matcher) ([]string, error) {
	if !r.overlaps(mint, maxt) {
		return nil, nil
	}
	var refs []uint32
	if r.coversAll(mint, maxt, ms) {
		for i := range r.numTableEntries() {
			if n, _, _ := r.tableEntry(i); len(refs) == 0 || refs[len(refs)-1] != n {
				refs = append(refs, n)
			}
		}
	} else {
		seen := newBitset(r.numSymbols)
		err := r.forEachSelected(mint, maxt, ms, func(sd *seriesDecoder, _ []ChunkRef) {
			for i := 0; i < len(sd.refs); i += 2 {
				if int(sd.refs[i]) < r.numSymbols {
					seen.set(sd.refs[i])
				}
			}
		})
		if err != nil {
			return nil, err
		}
		refs = seen.appendTo(nil)
	}
	return r.cloneSymbols(refs)
}

// LabelValues implements [Querier].
func (r *Reader) LabelValues(name string, mint, maxt int64, ms ...*labels.Matcher) ([]string, error) {
	if !r.overlaps(mint, maxt) {
		return nil, nil
	}
	nameRef, ok := r.lookupSymbol(name)
	if !ok {
		return nil, nil
	}
	var refs []uint32
	if r.coversAll(mint, maxt, ms) {
		lo, hi := r.nameRange(nameRef)
		for i := lo; i < hi; i++ {
			_, v, _ := r.tableEntry(i)
			refs = append(refs, v)
		}
	} else {
		seen := newBitset(r.numSymbols)
		err := r.forEachSelected(mint, maxt, ms, func(sd *seriesDecoder, _ []ChunkRef) {
			if v, ok := sd.labelValue(nameRef); ok && int(v) < r.numSymbols {
				seen.set(v)
			}
		})
		if err != nil {
			return nil, err
		}
		refs = seen.appendTo(nil)
	}
	return r.cloneSymbols(refs)
}

// cloneSymbols resolves refs to strings that do not alias the segment.
func (r *Reader) cloneSymbols(refs []uint32) ([]string, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	out := make([]string, len(refs))
	for i, ref := range refs {
		s, err := r.symbol(ref)
		if err != nil {
			return nil, err
		}
		out[i] = strings.Clone(s)
	}
	return out, nil
}

// Stats implements [Querier].
func (r *Reader) Stats(mint, maxt int64, ms ...*labels.Matcher) (Stats, error) {
	var st Stats
	err := r.forEachSelected(mint, maxt, ms, func(_ *seriesDecoder, chunks []ChunkRef) {
		st.Streams++
		for _, c := range chunks {
			st.addChunk(c)
		}
	})
	return st, err
}

// postingsForMatchers returns the sorted IDs of the series matching all ms.
// Each matcher that does not match the empty string contributes the union
// of the postings of its matching values, and those sets are intersected;
// each matcher that matches the empty string (and so also selects series
// without the label) contributes the union of its non-matching values,
// which is subtracted. With no intersecting matcher the start set is every
// series.
func (r *Reader) postingsForMatchers(ms []*labels.Matcher) ([]uint32, error) {
	var its, subs [][]uint32
	for _, m := range ms {
		ids, sub, err := r.matcherPostings(m)
		if err != nil {
			return nil, fmt.Errorf("matcher %s: %w", m, err)
		}
		switch {
		case sub:
			if len(ids) > 0 {
				subs = append(subs, ids)
			}
		case len(ids) == 0:
			return nil, nil
		default:
			its = append(its, ids)
		}
	}
	var ids []uint32
	if len(its) == 0 {
		ids = make([]uint32, r.numSeries)
		for i := range ids {
			ids[i] = uint32(i)
		}
	} else {
		slices.SortFunc(its, func(a, b []uint32) int { return len(a) - len(b) })
		ids = its[0]
		for _, o := range its[1:] {
			if ids = intersect(ids, o); len(ids) == 0 {
				return nil, nil
			}
		}
	}
	for _, s := range subs {
		ids = subtract(ids, s)
	}
	return ids, nil
}

// matcherPostings resolves one matcher to the table entries it needs and
// returns the union of their postings. sub reports that the IDs are to be
// subtracted (the matcher matches the empty string) rather than intersected.
func (r *Reader) matcherPostings(m *labels.Matcher) (ids []uint32, sub bool, err error) {
	nameRef, ok := r.lookupSymbol(m.Name)
	lo, hi := 0, 0
	if ok {
		lo, hi = r.nameRange(nameRef)
	}
	sub = m.Matches("")
	// Entries whose values select (sub=false) or deselect (sub=true) series.
	var entries []int
	lookup := func(values ...string) {
		for _, v := range values {
			if i, ok := r.valueEntry(lo, hi, v); ok {
				entries = append(entries, i)
			}
		}
	}
	// scan walks entries from `from` while more(v) holds, keeping those
	// for which keep(v) holds.
	scan := func(from int, more, keep func(v string) bool) error {
		for i := from; i < hi; i++ {
			_, vr, _ := r.tableEntry(i)
			v, err := r.symbol(vr)
			if err != nil {
				return err
			}
			if !more(v) {
				break
			}
			if keep(v) {
				entries = append(entries, i)
			}
		}
		return nil
	}
	switch {
	case lo == hi:
		// The label is absent from every series.
	case !sub && m.Type == labels.MatchEqual:
		lookup(m.Value)
	case sub && m.Type == labels.MatchNotEqual:
		lookup(m.Value)
	case !sub && m.Type == labels.MatchRegexp && len(m.SetMatches()) > 0:
		lookup(m.SetMatches()...)
	case sub && m.Type == labels.MatchNotRegexp && len(m.SetMatches()) > 0:
		lookup(m.SetMatches()...)
	case sub && m.Type == labels.MatchEqual: // name=""
		for i := lo; i < hi; i++ {
			entries = append(entries, i)
		}
	case !sub && m.Type == labels.MatchRegexp && m.Prefix() != "":
		// Values are sorted, so those with the prefix are contiguous.
		p := m.Prefix()
		err = scan(r.prefixStart(lo, hi, p),
			func(v string) bool { return strings.HasPrefix(v, p) },
			m.Matches)
	default:
		err = scan(lo,
			func(string) bool { return true },
			func(v string) bool { return m.Matches(v) != sub })
	}
	if err != nil {
		return nil, sub, err
	}
	ids, err = r.union(entries)
	return ids, sub, err
}

// union returns the sorted union of the postings lists of table entries.
func (r *Reader) union(entries []int) ([]uint32, error) {
	switch len(entries) {
	case 0:
		return nil, nil
	case 1:
		return r.postingsOf(entries[0], nil)
	}
	set := newBitset(r.numSeries)
	for _, e := range entries {
		if err := r.forEachPosting(e, set.set); err != nil {
			return nil, err
		}
	}
	return set.appendTo(nil), nil
}
