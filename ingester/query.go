package ingester

import (
	"context"
	"math"
	"sort"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
)

// StreamIterator is one stream's entries in a queried range.
type StreamIterator struct {
	Labels labels.Labels
	// Fingerprint identifies the label set across ingesters and the store.
	Fingerprint uint64
	Iter        chunks.Iterator
	// Oldest, set by SelectSummaries, is at most the timestamp of the
	// stream's oldest entry in range (which a summary's At does not show).
	Oldest int64
}

// Select returns an iterator per stream of tenantID matching ms with entries
// in [from, through), in direction dir. Entries a chunk holds more than once
// (replayed WAL overlap) come out once. Stats receives decompression counts.
func (i *Ingester) Select(ctx context.Context, tenantID string, from, through int64, dir chunks.Direction,
	ms []*labels.Matcher, stats *chunks.Stats) []StreamIterator {
	return i.SelectMatching(ctx, tenantID, from, through, dir, ms, nil, stats)
}

// SelectMatching is Select that may leave out entries whose lines lack the
// needles: sealed blocks whose n-gram filters rule them out are skipped
// (counted in stats.BlocksSkipped); head blocks are read whole. The caller
// still filters what it gets.
func (i *Ingester) SelectMatching(ctx context.Context, tenantID string, from, through int64, dir chunks.Direction,
	ms []*labels.Matcher, needles *chunks.Needles, stats *chunks.Stats) []StreamIterator {
	t := i.lookupTenant(tenantID)
	if t == nil {
		return nil
	}
	var out []StreamIterator
	for _, s := range t.matching(ms) {
		if it := s.iterator(ctx, from, through, dir, needles, stats); it != nil {
			out = append(out, StreamIterator{Labels: s.labels, Fingerprint: s.fp, Iter: it})
		}
	}
	return out
}

// SelectSummaries is Select, forward, with iterators that fold entries
// into summaries as chunks.SummaryIterator does (they implement its
// Summary method, and Unfold). A stream's chunks that share an instant are
// merged entry by entry instead. Oldest is set on each StreamIterator.
func (i *Ingester) SelectSummaries(ctx context.Context, tenantID string, from, through int64,
	ms []*labels.Matcher, opts chunks.SummaryOptions, stats *chunks.Stats) []StreamIterator {
	t := i.lookupTenant(tenantID)
	if t == nil {
		return nil
	}
	var out []StreamIterator
	for _, s := range t.matching(ms) {
		cs := s.chunksIn(from, through)
		if len(cs) == 0 {
			continue
		}
		oldest := int64(math.MaxInt64)
		for _, c := range cs {
			minT, _ := c.Bounds()
			oldest = min(oldest, max(minT, from))
		}
		out = append(out, StreamIterator{Labels: s.labels, Fingerprint: s.fp, Oldest: oldest,
			Iter: summaryIterator(ctx, cs, from, through, opts, stats)})
	}
	return out
}

// summaryIterator concatenates the summary iterators of chunks that share
// no instant, in time order, and merges them otherwise.
func summaryIterator(ctx context.Context, cs []*chunks.MemChunk, from, through int64, opts chunks.SummaryOptions, stats *chunks.Stats) chunks.Iterator {
	type span struct {
		c          *chunks.MemChunk
		minT, maxT int64
	}
	spans := make([]span, len(cs))
	for k, c := range cs {
		minT, maxT := c.Bounds()
		spans[k] = span{c, minT, maxT}
	}
	sort.SliceStable(spans, func(a, b int) bool { return spans[a].minT < spans[b].minT })
	for k := 1; k < len(spans); k++ {
		if spans[k].minT <= spans[k-1].maxT {
			its := make([]chunks.Iterator, len(cs))
			for j, c := range cs {
				its[j] = c.Iterator(ctx, from, through, chunks.Forward, stats)
			}
			return chunks.NewMergeIterator(chunks.Forward, its...)
		}
	}
	its := make([]*chunks.SummaryIterator, len(spans))
	for k, sp := range spans {
		its[k] = sp.c.SummaryIterator(ctx, from, through, opts, stats)
	}
	if len(its) == 1 {
		return its[0]
	}
	return &summaryConcat{its: its}
}

// summaryConcat yields its iterators one after the other.
type summaryConcat struct {
	its []*chunks.SummaryIterator
	k   int
	err error
}

func (c *summaryConcat) Next() bool {
	for c.k < len(c.its) {
		if c.its[c.k].Next() {
			return true
		}
		if c.err = c.its[c.k].Err(); c.err != nil {
			return false
		}
		c.k++
	}
	return false
}

func (c *summaryConcat) At() chunks.Entry { return c.its[c.k].At() }
func (c *summaryConcat) Err() error       { return c.err }

// Summary reports whether the current item is a summary (see
// chunks.SummaryIterator).
func (c *summaryConcat) Summary() (entries, lineBytes int64, ok bool) {
	return c.its[c.k].Summary()
}

// Unfold turns summaries off; it must be called before the first Next.
func (c *summaryConcat) Unfold() {
	for _, it := range c.its {
		it.Unfold()
	}
}

func (c *summaryConcat) Close() error {
	for _, it := range c.its {
		it.Close()
	}
	return nil
}

// chunksIn returns the stream's non-empty chunks, closed then head, that
// hold entries in [from, through).
func (s *stream) chunksIn(from, through int64) []*chunks.MemChunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*chunks.MemChunk
	add := func(c *chunks.MemChunk) {
		if c == nil || c.Entries() == 0 {
			return
		}
		if minT, maxT := c.Bounds(); maxT >= from && minT < through {
			out = append(out, c)
		}
	}
	for _, cd := range s.closed {
		add(cd.chunk)
	}
	add(s.head)
	return out
}

// iterator merges the stream's chunks that overlap [from, through),
// skipping sealed blocks that needles rule out.
func (s *stream) iterator(ctx context.Context, from, through int64, dir chunks.Direction, needles *chunks.Needles, stats *chunks.Stats) chunks.Iterator {
	cs := s.chunksIn(from, through)
	switch len(cs) {
	case 0:
		return nil
	case 1:
		return cs[0].IteratorMatching(ctx, from, through, dir, stats, needles)
	}
	its := make([]chunks.Iterator, len(cs))
	for i, c := range cs {
		its[i] = c.IteratorMatching(ctx, from, through, dir, stats, needles)
	}
	return chunks.NewMergeIterator(dir, its...)
}

// overlaps reports whether the stream holds entries in [from, through).
func (s *stream) overlaps(from, through int64) bool {
	return len(s.chunksIn(from, through)) > 0
}

// LabelNames returns the sorted label names of tenantID's streams matching
// ms with data in [from, through).
func (i *Ingester) LabelNames(tenantID string, from, through int64, ms []*labels.Matcher) []string {
	set := map[string]struct{}{}
	for _, lbs := range i.Series(tenantID, from, through, ms) {
		lbs.Range(func(l labels.Label) { set[l.Name] = struct{}{} })
	}
	return sortedKeys(set)
}

// LabelValues returns the sorted values of label name among tenantID's
// streams matching ms with data in [from, through).
func (i *Ingester) LabelValues(tenantID, name string, from, through int64, ms []*labels.Matcher) []string {
	set := map[string]struct{}{}
	for _, lbs := range i.Series(tenantID, from, through, ms) {
		if v := lbs.Get(name); v != "" {
			set[v] = struct{}{}
		}
	}
	return sortedKeys(set)
}

func sortedKeys(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// IndexStats sums what a selector covers, as /loki/api/v1/index/stats
// reports it.
type IndexStats struct {
	Streams uint64 `json:"streams"`
	Chunks  uint64 `json:"chunks"`
	Entries uint64 `json:"entries"`
	Bytes   uint64 `json:"bytes"`
}

// Stats returns the streams, chunks, entries and uncompressed bytes of
// tenantID's in-memory data matching ms in [from, through).
func (i *Ingester) Stats(tenantID string, from, through int64, ms []*labels.Matcher) IndexStats {
	var st IndexStats
	t := i.lookupTenant(tenantID)
	if t == nil {
		return st
	}
	for _, s := range t.matching(ms) {
		cs := s.chunksIn(from, through)
		if len(cs) == 0 {
			continue
		}
		st.Streams++
		for _, c := range cs {
			st.Chunks++
			st.Entries += uint64(c.Entries())
			st.Bytes += uint64(c.UncompressedSize())
		}
	}
	return st
}

// StreamVolume is one stream's data in a time range.
type StreamVolume struct {
	Labels labels.Labels
	// Chunks lists the stream's in-memory chunks overlapping the range with
	// their bounds and uncompressed sizes, so callers can apportion bytes
	// to steps.
	Chunks []ChunkVolume
}

// ChunkVolume is a chunk's time span and uncompressed bytes.
type ChunkVolume struct {
	MinT, MaxT int64
	Bytes      uint64
	Entries    uint64
}

// Volume returns, per stream of tenantID matching ms, its in-memory chunks
// overlapping [from, through).
func (i *Ingester) Volume(tenantID string, from, through int64, ms []*labels.Matcher) []StreamVolume {
	t := i.lookupTenant(tenantID)
	if t == nil {
		return nil
	}
	var out []StreamVolume
	for _, s := range t.matching(ms) {
		cs := s.chunksIn(from, through)
		if len(cs) == 0 {
			continue
		}
		v := StreamVolume{Labels: s.labels, Chunks: make([]ChunkVolume, len(cs))}
		for k, c := range cs {
			minT, maxT := c.Bounds()
			v.Chunks[k] = ChunkVolume{MinT: minT, MaxT: maxT, Bytes: uint64(c.UncompressedSize()), Entries: uint64(c.Entries())}
		}
		out = append(out, v)
	}
	return out
}
