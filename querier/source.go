package querier

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/index"
	"github.com/plgstack/plg/chunks/store"
	"github.com/plgstack/plg/ingester"
	"github.com/plgstack/plg/querier/logql"
)

// Ingesters is how the querier reads recent, not yet flushed data: the
// in-process ingester in -mode=all, or clients of remote ingesters.
type Ingesters interface {
	// Select may leave out entries whose lines miss a group of
	// substrings (logql.SelectHints.LineSubstrings).
	Select(ctx context.Context, tenant string, from, through int64, dir chunks.Direction,
		ms []*labels.Matcher, substrings [][]string, stats *chunks.Stats) ([]ingester.StreamIterator, error)
	Series(ctx context.Context, tenant string, from, through int64, ms []*labels.Matcher) ([]labels.Labels, error)
	Stats(ctx context.Context, tenant string, from, through int64, ms []*labels.Matcher) (ingester.IndexStats, error)
	Volume(ctx context.Context, tenant string, from, through int64, ms []*labels.Matcher) ([]ingester.StreamVolume, error)
}

// summarySelecter is implemented by Ingesters whose iterators can fold
// entries into summaries (the in-process ingester; the remote protocol
// carries entries only).
type summarySelecter interface {
	SelectSummaries(ctx context.Context, tenant string, from, through int64, ms []*labels.Matcher,
		opts chunks.SummaryOptions, stats *chunks.Stats) ([]ingester.StreamIterator, error)
}

// unfolder is implemented by iterators that may yield summaries and can
// be told not to, before their first Next, so they can be merged.
type unfolder interface{ Unfold() }

// Local adapts an in-process ingester to Ingesters.
type Local struct{ *ingester.Ingester }

func (l Local) Select(ctx context.Context, tenant string, from, through int64, dir chunks.Direction,
	ms []*labels.Matcher, substrings [][]string, stats *chunks.Stats) ([]ingester.StreamIterator, error) {
	return l.Ingester.SelectMatching(ctx, tenant, from, through, dir, ms, chunks.NewNeedles(substrings), stats), nil
}

// SelectSummaries implements summarySelecter.
func (l Local) SelectSummaries(ctx context.Context, tenant string, from, through int64, ms []*labels.Matcher,
	opts chunks.SummaryOptions, stats *chunks.Stats) ([]ingester.StreamIterator, error) {
	return l.Ingester.SelectSummaries(ctx, tenant, from, through, ms, opts, stats), nil
}

func (l Local) Series(_ context.Context, tenant string, from, through int64, ms []*labels.Matcher) ([]labels.Labels, error) {
	return l.Ingester.Series(tenant, from, through, ms), nil
}

func (l Local) Stats(_ context.Context, tenant string, from, through int64, ms []*labels.Matcher) (ingester.IndexStats, error) {
	return l.Ingester.Stats(tenant, from, through, ms), nil
}

func (l Local) Volume(_ context.Context, tenant string, from, through int64, ms []*labels.Matcher) ([]ingester.StreamVolume, error) {
	return l.Ingester.Volume(tenant, from, through, ms), nil
}

// Querier reads streams from the ingesters and the store.
type Querier struct {
	ingesters Ingesters    // may be nil: store only
	store     *store.Store // may be nil: ingesters only
	// fetchConcurrency bounds parallel chunk downloads per query.
	fetchConcurrency int
	// prefixes caches chunks' header, index and filter section.
	prefixes *prefixCache
	// readAhead is how many runs of chunks a Select downloads ahead of
	// its iteration (see runIterator.openNext).
	readAhead int
}

// New returns a Querier over ingesters and st; either may be nil.
func New(ing Ingesters, st *store.Store) *Querier {
	return &Querier{ingesters: ing, store: st, fetchConcurrency: 16, prefixes: newPrefixCache(DefaultPrefixCacheMB << 20), readAhead: 1}
}

// SetPrefixCache replaces the cache of store chunks' prefixes by one of
// maxMB MiB (none if maxMB <= 0) and exports its metrics to reg (if not
// nil). Call it before the first query.
func (q *Querier) SetPrefixCache(maxMB int, reg prometheus.Registerer) {
	q.prefixes = nil
	if maxMB <= 0 {
		return
	}
	q.prefixes = newPrefixCache(maxMB << 20)
	if reg != nil {
		q.prefixes.register(reg)
	}
}

// source binds a request's tenants to the Querier as a logql.Source.
type source struct {
	q       *Querier
	tenants []string
}

// TenantLabel is added to results of queries across several tenants, as in
// Loki.
const TenantLabel = "__tenant_id__"

func (s source) Select(ctx context.Context, ms []*labels.Matcher, from, through int64, dir chunks.Direction,
	hints logql.SelectHints, stats *chunks.Stats) ([]logql.SourceStream, error) {
	var out []logql.SourceStream
	pd := pushdown{tokens: make([]uint64, len(hints.LineTokens)), substrings: hints.LineSubstrings, needles: chunks.NewNeedles(hints.LineSubstrings)}
	for i, t := range hints.LineTokens {
		pd.tokens[i] = chunks.TokenHash([]byte(t))
	}
	if dir == chunks.Forward && !pd.filtering() {
		pd.cell, pd.noMeta = hints.Cell, hints.CellPlainOnly
	}
	for _, t := range s.tenants {
		tms, ok := tenantMatchers(ms, t, len(s.tenants) > 1)
		if !ok {
			continue
		}
		streams, err := s.q.selectTenant(ctx, t, tms, from, through, dir, pd, stats)
		if err != nil {
			return nil, err
		}
		if len(s.tenants) > 1 {
			for i := range streams {
				b := labels.NewBuilder(streams[i].Labels)
				b.Set(TenantLabel, t)
				streams[i].Labels = b.Labels()
			}
		}
		out = append(out, streams...)
	}
	return out, nil
}

// tenantMatchers removes matchers on the tenant label, reporting false when
// they exclude tenant t.
func tenantMatchers(ms []*labels.Matcher, t string, multi bool) ([]*labels.Matcher, bool) {
	if !multi {
		return ms, true
	}
	out := make([]*labels.Matcher, 0, len(ms))
	for _, m := range ms {
		if m.Name == TenantLabel {
			if !m.Matches(t) {
				return nil, false
			}
			continue
		}
		out = append(out, m)
	}
	return out, true
}

// pushdown is what a Select's hints let the store part skip.
type pushdown struct {
	// tokens are the hashes of tokens every wanted line holds: blocks whose
	// bloom filters rule one out are skipped.
	tokens []uint64
	// substrings are logql.SelectHints.LineSubstrings, and needles their
	// compiled form: blocks whose n-gram filters rule them out are skipped.
	substrings [][]string
	needles    *chunks.Needles
	// cell, when not nil (forward selects only), lets store blocks whose
	// entries all lie in one cell be answered by a summary (see
	// logql.Summarizer).
	cell func(int64) int64
	// noMeta keeps entries with structured metadata out of summaries.
	noMeta bool
}

func (pd pushdown) summaryOptions() chunks.SummaryOptions {
	return chunks.SummaryOptions{Cell: pd.cell, NoMetadata: pd.noMeta}
}

// filtering reports whether block filters may rule blocks out.
func (pd pushdown) filtering() bool { return len(pd.tokens) > 0 || pd.needles != nil }

// filtersOnly is pd without the cell.
func (pd pushdown) filtersOnly() pushdown { pd.cell, pd.noMeta = nil, false; return pd }

// admits reports whether block i of c may hold a wanted line.
func (pd pushdown) admits(c *chunks.Chunk, i int) bool {
	for _, h := range pd.tokens {
		if !c.BlockMayContainHash(i, h) {
			return false
		}
	}
	return c.BlockMayMatch(i, pd.needles)
}

// selectTenant merges, per stream, the ingesters' entries and the store's
// chunks for [from, through). Store and ingester blocks whose filters rule
// out a token or substring of pd are skipped (see openRun and
// Ingester.SelectMatching).
//
// With pd.cell, a stream's store data older than its oldest entry in the
// ingesters is read on its own, ahead of the merge with the ingesters, and
// may yield block summaries: nothing in memory can duplicate it, and
// chunks overlapping others (replicas, reflushes) are never summarised.
func (q *Querier) selectTenant(ctx context.Context, tenant string, ms []*labels.Matcher, from, through int64,
	dir chunks.Direction, pd pushdown, stats *chunks.Stats) ([]logql.SourceStream, error) {
	type group struct {
		labels labels.Labels
		its    []chunks.Iterator
		// early reads the store before memMin, the oldest entry in the
		// ingesters (math.MaxInt64: none), when summaries are asked for.
		early  chunks.Iterator
		memMin int64
	}
	groups := map[string]*group{}
	get := func(lbs labels.Labels) *group {
		key := lbs.String()
		g := groups[key]
		if g == nil {
			g = &group{labels: lbs, memMin: math.MaxInt64}
			groups[key] = g
		}
		return g
	}
	if q.ingesters != nil {
		var (
			streams []ingester.StreamIterator
			err     error
		)
		ss, folds := q.ingesters.(summarySelecter)
		folds = folds && pd.cell != nil
		if folds {
			streams, err = ss.SelectSummaries(ctx, tenant, from, through, ms, pd.summaryOptions(), stats)
		} else {
			streams, err = q.ingesters.Select(ctx, tenant, from, through, dir, ms, pd.substrings, stats)
		}
		if err != nil {
			return nil, fmt.Errorf("querying ingesters: %w", err)
		}
		for _, s := range streams {
			g := get(s.Labels)
			if folds {
				g.memMin = min(g.memMin, s.Oldest)
				g.its = append(g.its, s.Iter)
				continue
			}
			if pd.cell == nil {
				g.its = append(g.its, s.Iter)
				continue
			}
			p := &peekIterator{Iterator: s.Iter}
			switch {
			case p.peek():
				g.memMin = min(g.memMin, p.At().Timestamp)
			case p.Err() != nil:
				g.memMin = math.MinInt64 // let iteration report it
			}
			g.its = append(g.its, p)
		}
	}
	if q.store != nil {
		// Entries past the tenant's retention are not returned even from
		// chunks that straddle the cutoff.
		from := max(from, q.store.RetentionCutoff(tenant))
		idx, err := q.store.Index(ctx, tenant, from, through-1)
		if err != nil {
			return nil, fmt.Errorf("reading the index: %w", err)
		}
		series, err := idx.Select(from, through-1, ms...)
		if err != nil {
			return nil, fmt.Errorf("selecting series: %w", err)
		}
		// One run is read ahead per Select, by whichever stream is being
		// read: a query part reading its streams one after the other
		// (counts) has the next run of each downloaded while it decodes
		// the last, and a lazy merge of many streams holds at most one
		// run more than it would without.
		var ahead chan struct{}
		if q.readAhead > 0 {
			ahead = make(chan struct{}, q.readAhead)
		}
		for _, sr := range series {
			g := get(sr.Labels)
			if pd.cell == nil || g.memMin <= from {
				g.its = append(g.its, q.storeIterator(ctx, tenant, sr.Chunks, from, through, dir, pd.filtersOnly(), ahead, stats))
				continue
			}
			split := min(g.memMin, through)
			var early, late []index.ChunkRef
			for _, r := range sr.Chunks {
				if r.MinT < split {
					early = append(early, r)
				}
				if r.MaxT >= split {
					late = append(late, r)
				}
			}
			g.early = q.storeIterator(ctx, tenant, early, from, split, dir, pd, ahead, stats)
			if len(late) > 0 && split < through {
				g.its = append(g.its, q.storeIterator(ctx, tenant, late, split, through, dir, pushdown{}, ahead, stats))
			}
		}
	}
	out := make([]logql.SourceStream, 0, len(groups))
	for _, g := range groups {
		var it chunks.Iterator
		switch len(g.its) {
		case 0:
		case 1:
			it = g.its[0]
		default:
			// Summaries cannot be merged: only entries can be compared.
			for _, x := range g.its {
				if u, ok := x.(unfolder); ok {
					u.Unfold()
				}
			}
			it = chunks.NewMergeIterator(dir, g.its...)
		}
		switch {
		case g.early != nil && it != nil:
			it = &concatIterator{its: []chunks.Iterator{g.early, it}}
		case g.early != nil:
			it = g.early
		}
		out = append(out, logql.SourceStream{Labels: g.labels, Iter: it})
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels, out[j].Labels) < 0 })
	return out, nil
}

// storeIterator reads a stream's chunks from the store lazily: chunks are
// grouped into runs that overlap in time; a run is downloaded (in parallel)
// only when iteration reaches it, so a query holds one run per stream at a
// time rather than the whole range.
func (q *Querier) storeIterator(ctx context.Context, tenant string, refs []index.ChunkRef, from, through int64,
	dir chunks.Direction, pd pushdown, ahead chan struct{}, stats *chunks.Stats) chunks.Iterator {
	sort.Slice(refs, func(i, j int) bool { return refs[i].MinT < refs[j].MinT })
	var runs [][]index.ChunkRef
	var runMax int64
	for _, r := range refs {
		if len(runs) > 0 && r.MinT <= runMax {
			runs[len(runs)-1] = append(runs[len(runs)-1], r)
			runMax = max(runMax, r.MaxT)
			continue
		}
		runs = append(runs, []index.ChunkRef{r})
		runMax = r.MaxT
	}
	if dir == chunks.Backward {
		for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
			runs[i], runs[j] = runs[j], runs[i]
		}
	}
	return &runIterator{ctx: ctx, q: q, tenant: tenant, runs: runs, from: from, through: through, dir: dir, pd: pd, stats: stats, ahead: ahead}
}

type runIterator struct {
	ctx           context.Context
	q             *Querier
	tenant        string
	runs          [][]index.ChunkRef
	from, through int64
	dir           chunks.Direction
	pd            pushdown
	stats         *chunks.Stats
	cur           chunks.Iterator
	err           error
	// ahead holds the read-ahead slots the store iterators of one Select
	// share (nil: no read-ahead), and pending the download of runs[0]
	// started in one of them.
	ahead   chan struct{}
	pending *runPrefetch
}

// runPrefetch is a run's download running ahead of the iteration.
type runPrefetch struct {
	done chan struct{}
	f    *runFetch
}

func (r *runIterator) Next() bool {
	for {
		if r.cur != nil {
			if r.cur.Next() {
				return true
			}
			if err := r.cur.Err(); err != nil {
				r.err = err
				return false
			}
			r.cur.Close()
			r.cur = nil
		}
		if r.err != nil || len(r.runs) == 0 {
			return false
		}
		if r.cur, r.err = r.openNext(); r.err != nil {
			return false
		}
	}
}

// openNext opens runs[0], from its read-ahead if one was started, and
// starts reading the run after it: a run's download (a round trip to an
// object store, or a disk read where the page cache has dropped the
// chunk) then overlaps the decoding of the one before, where otherwise
// the query's goroutine, one of a few running its parts, waits idle.
func (r *runIterator) openNext() (chunks.Iterator, error) {
	run := r.runs[0]
	r.runs = r.runs[1:]
	var (
		it  chunks.Iterator
		err error
	)
	if p := r.pending; p != nil {
		r.pending = nil
		<-p.done
		<-r.ahead
		it, err = r.q.runIterators(r.ctx, r.tenant, p.f, r.from, r.through, r.dir, r.pd, r.stats)
	} else {
		it, err = r.q.openRun(r.ctx, r.tenant, run, r.from, r.through, r.dir, r.pd, r.stats)
	}
	if err == nil {
		r.readAhead()
	}
	return it, err
}

// readAhead starts downloading runs[0] if a slot is free. Runs that
// openRun reads as a summary (one chunk, with a cell) are not read ahead:
// they usually read no more than a cached prefix.
func (r *runIterator) readAhead() {
	if r.ahead == nil || len(r.runs) == 0 || (r.pd.cell != nil && len(r.runs[0]) == 1) {
		return
	}
	select {
	case r.ahead <- struct{}{}:
	default:
		return
	}
	p := &runPrefetch{done: make(chan struct{})}
	q, ctx, tenant, run, from, through, pd := r.q, r.ctx, r.tenant, r.runs[0], r.from, r.through, r.pd
	go func() {
		defer close(p.done)
		p.f = q.fetchRun(ctx, tenant, run, from, through, pd)
	}()
	r.pending = p
}

func (r *runIterator) At() chunks.Entry { return r.cur.At() }

// Summary implements logql.Summarizer.
func (r *runIterator) Summary() (entries, lineBytes int64, ok bool) {
	if s, is := r.cur.(logql.Summarizer); is {
		return s.Summary()
	}
	return 0, 0, false
}

func (r *runIterator) Err() error { return r.err }

func (r *runIterator) Close() error {
	if p := r.pending; p != nil {
		// The download is discarded; its slot is free once it ends.
		r.pending = nil
		<-p.done
		<-r.ahead
	}
	if r.cur != nil {
		return r.cur.Close()
	}
	return nil
}

// openRun downloads and decodes the chunks of one run and merges them.
// When pd filters (tokens or needles), each chunk's header, index and
// filters are read first and then only the byte range of the blocks they
// admit (see fetchFiltered); blocks ruled out are skipped unread (counted
// in stats.BlocksSkipped), and a chunk with no block admitted is not read
// further. With a cell, a run of one chunk is read with its
// SummaryIterator: blocks sharing no instant with another block (so none
// can hold a duplicate of another's entry) are folded into summaries from
// their index entries, time histograms or entry columns, reading only the
// blocks it must. openRun returns a nil iterator when nothing in the run
// is left to read.
func (q *Querier) openRun(ctx context.Context, tenant string, run []index.ChunkRef, from, through int64,
	dir chunks.Direction, pd pushdown, stats *chunks.Stats) (chunks.Iterator, error) {
	if pd.cell != nil && len(run) == 1 {
		it, err := q.summaryIterator(ctx, tenant, run[0], from, through, pd, stats)
		if err != nil && q.store.SkipMissingChunk(tenant, run[0], err) {
			return nil, nil
		}
		return it, err
	}
	return q.runIterators(ctx, tenant, q.fetchRun(ctx, tenant, run, from, through, pd), from, through, dir, pd, stats)
}

// runFetch is what fetchRun read of a run: per chunk, the chunk decoded
// (nil when no block was admitted or on error), its admitted blocks (nil:
// every block in range), the blocks skipped and the error.
type runFetch struct {
	run     []index.ChunkRef
	decoded []*chunks.Chunk
	admits  [][]bool
	skipped []int
	errs    []error
}

// fetchRun downloads and decodes the chunks of run in parallel, as
// openRun describes. It touches no stats, so it may run ahead of the
// iteration on another goroutine.
func (q *Querier) fetchRun(ctx context.Context, tenant string, run []index.ChunkRef, from, through int64, pd pushdown) *runFetch {
	f := &runFetch{run: run, decoded: make([]*chunks.Chunk, len(run)), admits: make([][]bool, len(run)),
		skipped: make([]int, len(run)), errs: make([]error, len(run))}
	decoded, admits, skipped, errs := f.decoded, f.admits, f.skipped, f.errs
	var wg sync.WaitGroup
	sem := make(chan struct{}, q.fetchConcurrency)
	for i, ref := range run {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if pd.filtering() {
				decoded[i], admits[i], skipped[i], errs[i] = q.fetchFiltered(ctx, tenant, ref, from, through, pd)
				return
			}
			data, err := q.store.GetChunk(ctx, tenant, ref)
			if err != nil {
				errs[i] = err
				return
			}
			c, err := chunks.Decode(data)
			if err != nil {
				errs[i] = fmt.Errorf("chunk %x/%d-%d: %w", ref.Fingerprint, ref.MinT, ref.MaxT, err)
				return
			}
			decoded[i] = c
		}()
	}
	wg.Wait()
	return f
}

// runIterators merges the iterators of the chunks f read, or returns a
// nil iterator when nothing in the run is left to read.
func (q *Querier) runIterators(ctx context.Context, tenant string, f *runFetch, from, through int64,
	dir chunks.Direction, pd pushdown, stats *chunks.Stats) (chunks.Iterator, error) {
	run, decoded, admits, skipped, errs := f.run, f.decoded, f.admits, f.skipped, f.errs
	its := make([]chunks.Iterator, 0, len(run))
	for i, c := range decoded {
		if errs[i] != nil && q.store.SkipMissingChunk(tenant, run[i], errs[i]) {
			continue
		}
		if errs[i] != nil {
			for _, it := range its {
				it.Close()
			}
			return nil, errs[i]
		}
		if c == nil {
			if stats != nil {
				stats.BlocksSkipped += int64(skipped[i])
			}
			continue
		}
		var keep func(int) bool
		if admit := admits[i]; admit != nil {
			keep = func(block int) bool { return admit[block] }
		}
		// The needles also leave out the entries of admitted blocks whose
		// lines lack them: each block's lines are searched whole once,
		// instead of line by line in the query's filters.
		its = append(its, c.IteratorMatching(ctx, from, through, dir, stats, pd.needles, keep))
	}
	switch len(its) {
	case 0:
		return nil, nil
	case 1:
		return its[0], nil
	}
	return chunks.NewMergeIterator(dir, its...), nil
}

// firstChunkRead is how many bytes the first ranged read of a chunk
// takes when filters are consulted: enough, usually, for the header,
// index and filter section, so one read plans the rest. It is estimated
// from the chunk's raw size: an index entry per 128 KiB (blocks are 256
// KiB by default) and filters of 2.5% (1 bit per gram is about 1.4%).
func firstChunkRead(ref index.ChunkRef) int {
	raw := int(ref.UncompressedBytes)
	n := chunks.HeaderSize + 8 + (raw>>17+2)*chunks.IndexEntrySize + raw/40
	n = max(n, 4<<10)
	if ref.Size > 0 {
		n = min(n, int(ref.Size))
	}
	return n
}

// chunkObject reads one chunk's object, opening it on the first read and
// keeping it open for the next, so a filesystem bucket's file is opened
// once for the prefix and the blocks after it. Close it.
type chunkObject struct {
	q      *Querier
	ctx    context.Context
	tenant string
	ref    index.ChunkRef
	r      *store.ChunkReader
}

func (q *Querier) chunkObject(ctx context.Context, tenant string, ref index.ChunkRef) *chunkObject {
	return &chunkObject{q: q, ctx: ctx, tenant: tenant, ref: ref}
}

func (o *chunkObject) open() error {
	if o.r != nil {
		return nil
	}
	r, err := o.q.store.OpenChunk(o.ctx, o.tenant, o.ref)
	if err != nil {
		return err
	}
	o.r = r
	return nil
}

// readAt reads len(p) bytes from off, fewer only at the object's end.
func (o *chunkObject) readAt(p []byte, off int) (int, error) {
	if err := o.open(); err != nil {
		return 0, err
	}
	n, err := o.r.ReadAt(p, int64(off))
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func (o *chunkObject) close() {
	if o.r != nil {
		o.r.Close()
	}
}

// fetchPrefix reads a chunk's header, index and filter section, unless
// the prefix cache holds them, and decodes them: the chunk returned has
// no block readable. The prefix returned may hold the first blocks too.
// From a local file it reads the header, then exactly the rest; from an
// object store, whose every read is a round trip, one generous read
// usually holds it all (a second one reads what it missed).
func (q *Querier) fetchPrefix(obj *chunkObject) (*chunks.Chunk, []byte, error) {
	ref := obj.ref
	key := q.store.ChunkKey(obj.tenant, ref)
	if c, prefix := q.prefixes.get(key); c != nil {
		return c, prefix, nil
	}
	if err := obj.open(); err != nil {
		return nil, nil, err
	}
	var prefix, kept []byte
	if obj.r.Local() && ref.Size > 0 {
		var head [chunks.HeaderSize]byte
		n, err := obj.readAt(head[:], 0)
		if err != nil {
			return nil, nil, err
		}
		need, err := chunks.HeaderIndexFiltersSize(head[:n])
		if err != nil {
			return nil, nil, chunkErr(ref, err)
		}
		if need > int(ref.Size) {
			return nil, nil, chunkErr(ref, fmt.Errorf("%w: the header, index and filters need %d bytes, but the reference says the chunk has %d", chunks.ErrCorrupt, need, ref.Size))
		}
		kept = make([]byte, need)
		copy(kept, head[:])
		if n, err = obj.readAt(kept[chunks.HeaderSize:], chunks.HeaderSize); err != nil {
			return nil, nil, err
		}
		if chunks.HeaderSize+n < need {
			return nil, nil, chunkErr(ref, fmt.Errorf("%w: truncated: %d bytes, the header, index and filters need %d", chunks.ErrCorrupt, chunks.HeaderSize+n, need))
		}
		prefix = kept
	} else {
		var err error
		if prefix, kept, err = readPrefix(obj); err != nil {
			return nil, nil, err
		}
	}
	c, err := chunks.DecodePartial(kept, 0, nil)
	if err != nil {
		return nil, nil, chunkErr(ref, err)
	}
	blocks := c.Blocks()
	if ref.Size > 0 && len(blocks) > 0 {
		if last := blocks[len(blocks)-1]; last.Offset+last.CompressedLen != int(ref.Size) {
			return nil, nil, chunkErr(ref, fmt.Errorf("%d bytes, but the reference says %d", last.Offset+last.CompressedLen, ref.Size))
		}
	}
	q.prefixes.put(key, c, kept)
	return c, prefix, nil
}

// readPrefix reads a chunk's header, index and filter section in one
// read of firstChunkRead bytes, or two when that was too short. It
// returns what it read and an exactly sized copy of the prefix.
func readPrefix(obj *chunkObject) (read, prefix []byte, err error) {
	ref := obj.ref
	buf := make([]byte, firstChunkRead(ref))
	n, err := obj.readAt(buf, 0)
	if err != nil {
		return nil, nil, err
	}
	buf = buf[:n]
	need, err := chunks.HeaderIndexFiltersSize(buf)
	if err != nil {
		return nil, nil, chunkErr(ref, err)
	}
	if need > len(buf) && len(buf) == cap(buf) {
		if ref.Size > 0 && need > int(ref.Size) {
			return nil, nil, chunkErr(ref, fmt.Errorf("%w: the header, index and filters need %d bytes, but the reference says the chunk has %d", chunks.ErrCorrupt, need, ref.Size))
		}
		rest := make([]byte, need-len(buf))
		m, err := obj.readAt(rest, len(buf))
		if err != nil {
			return nil, nil, err
		}
		buf = append(buf, rest[:m]...)
	}
	if need > len(buf) {
		return nil, nil, chunkErr(ref, fmt.Errorf("%w: truncated: %d bytes, the header, index and filters need %d", chunks.ErrCorrupt, len(buf), need))
	}
	// The cache keeps an exactly sized copy, without the blocks the first
	// read may have brought along.
	return buf, slices.Clone(buf[:need]), nil
}

func chunkErr(ref index.ChunkRef, err error) error {
	return fmt.Errorf("chunk %x/%d-%d: %w", ref.Fingerprint, ref.MinT, ref.MaxT, err)
}

// fetchRange returns the chunk with the bytes [lo, hi) of its object
// readable, reading them unless prefix holds them already.
func (q *Querier) fetchRange(obj *chunkObject, prefix []byte, lo, hi int) (*chunks.Chunk, error) {
	ref := obj.ref
	var data []byte
	if hi <= len(prefix) {
		data = prefix[lo:hi]
	} else {
		data = make([]byte, hi-lo)
		n, err := obj.readAt(data, lo)
		if err != nil {
			return nil, err
		}
		if n != hi-lo {
			return nil, chunkErr(ref, fmt.Errorf("%w: truncated: read %d bytes at %d, want %d", chunks.ErrCorrupt, n, lo, hi-lo))
		}
	}
	c, err := chunks.DecodePartial(prefix, lo, data)
	if err != nil {
		return nil, chunkErr(ref, err)
	}
	return c, nil
}

// summaryIterator returns a chunk's SummaryIterator over [from, through)
// with pd's cell, reading only what it needs: the chunk's header, index
// and filter section, then the one byte range spanning the blocks that
// cannot be answered from their index entries or time histograms (none,
// when the query's grid aligns with the histograms).
func (q *Querier) summaryIterator(ctx context.Context, tenant string, ref index.ChunkRef, from, through int64,
	pd pushdown, stats *chunks.Stats) (chunks.Iterator, error) {
	obj := q.chunkObject(ctx, tenant, ref)
	defer obj.close()
	c, prefix, err := q.fetchPrefix(obj)
	if err != nil {
		return nil, err
	}
	it := c.SummaryIterator(ctx, from, through, pd.summaryOptions(), stats)
	if lo, hi := it.Reads(); hi > 0 {
		d, err := q.fetchRange(obj, prefix, lo, hi)
		if err == nil {
			err = it.ReadFrom(d)
		}
		if err != nil {
			it.Close()
			return nil, err
		}
	}
	return it, nil
}

// fetchFiltered reads a chunk's header, index and filter section, then
// the one byte range spanning the blocks in [from, through) that pd
// admits, and returns the chunk (only those blocks readable) with which
// blocks are admitted. When no block is admitted it reads nothing more
// and returns a nil chunk and the number of blocks skipped.
func (q *Querier) fetchFiltered(ctx context.Context, tenant string, ref index.ChunkRef, from, through int64,
	pd pushdown) (*chunks.Chunk, []bool, int, error) {
	obj := q.chunkObject(ctx, tenant, ref)
	defer obj.close()
	c, prefix, err := q.fetchPrefix(obj)
	if err != nil {
		return nil, nil, 0, err
	}
	blocks := c.Blocks()
	admit := make([]bool, len(blocks))
	lo, hi := math.MaxInt, 0
	for i, b := range blocks {
		if b.MaxT < from || b.MinT >= through || !pd.admits(c, i) {
			continue
		}
		admit[i] = true
		lo, hi = min(lo, b.Offset), max(hi, b.Offset+b.CompressedLen)
	}
	if hi == 0 {
		return nil, nil, len(blocks), nil
	}
	if c, err = q.fetchRange(obj, prefix, lo, hi); err != nil {
		return nil, nil, 0, err
	}
	return c, admit, 0, nil
}

// peekIterator reads its iterator's first entry ahead, so the querier knows
// where a stream's in-memory data starts; it then yields it first.
type peekIterator struct {
	chunks.Iterator
	held bool // the first entry was read ahead and not yet yielded
}

func (p *peekIterator) peek() bool {
	p.held = p.Iterator.Next()
	return p.held
}

func (p *peekIterator) Next() bool {
	if p.held {
		p.held = false
		return true
	}
	return p.Iterator.Next()
}

// concatIterator yields its iterators one after the other; they must cover
// successive time ranges in the iteration's direction. It passes summaries
// through (logql.Summarizer).
type concatIterator struct {
	its []chunks.Iterator
	i   int
	err error
}

func (c *concatIterator) Next() bool {
	for c.i < len(c.its) {
		if c.its[c.i].Next() {
			return true
		}
		if err := c.its[c.i].Err(); err != nil {
			c.err = err
			return false
		}
		c.i++
	}
	return false
}

func (c *concatIterator) At() chunks.Entry { return c.its[c.i].At() }
func (c *concatIterator) Err() error       { return c.err }

func (c *concatIterator) Summary() (entries, lineBytes int64, ok bool) {
	if s, is := c.its[c.i].(logql.Summarizer); is {
		return s.Summary()
	}
	return 0, 0, false
}

func (c *concatIterator) Close() error {
	var err error
	for _, it := range c.its {
		if e := it.Close(); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// Series returns the distinct label sets matching ms in [from, through)
// across ingesters and store.
func (q *Querier) Series(ctx context.Context, tenants []string, from, through int64, ms []*labels.Matcher) ([]labels.Labels, error) {
	seen := map[string]labels.Labels{}
	for _, t := range tenants {
		tms, ok := tenantMatchers(ms, t, len(tenants) > 1)
		if !ok {
			continue
		}
		add := func(lbs labels.Labels) {
			if len(tenants) > 1 {
				b := labels.NewBuilder(lbs)
				b.Set(TenantLabel, t)
				lbs = b.Labels()
			}
			seen[lbs.String()] = lbs
		}
		if q.ingesters != nil {
			ss, err := q.ingesters.Series(ctx, t, from, through, tms)
			if err != nil {
				return nil, fmt.Errorf("querying ingesters: %w", err)
			}
			for _, lbs := range ss {
				add(lbs)
			}
		}
		if q.store != nil {
			idx, err := q.store.Index(ctx, t, from, through-1)
			if err != nil {
				return nil, fmt.Errorf("reading the index: %w", err)
			}
			series, err := idx.Select(from, through-1, tms...)
			if err != nil {
				return nil, err
			}
			for _, sr := range series {
				add(sr.Labels)
			}
		}
	}
	out := make([]labels.Labels, 0, len(seen))
	for _, lbs := range seen {
		out = append(out, lbs)
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i], out[j]) < 0 })
	return out, nil
}

// Stats sums streams, chunks, entries and bytes matching ms in [from,
// through) over the ingesters and the store. Data both in memory and in the
// store (a recent flush) is counted twice, as Loki's estimate also may.
func (q *Querier) Stats(ctx context.Context, tenants []string, from, through int64, ms []*labels.Matcher) (ingester.IndexStats, error) {
	var total ingester.IndexStats
	for _, t := range tenants {
		tms, ok := tenantMatchers(ms, t, len(tenants) > 1)
		if !ok {
			continue
		}
		if q.ingesters != nil {
			st, err := q.ingesters.Stats(ctx, t, from, through, tms)
			if err != nil {
				return total, err
			}
			total.Streams += st.Streams
			total.Chunks += st.Chunks
			total.Entries += st.Entries
			total.Bytes += st.Bytes
		}
		if q.store != nil {
			idx, err := q.store.Index(ctx, t, from, through-1)
			if err != nil {
				return total, err
			}
			st, err := idx.Stats(from, through-1, tms...)
			if err != nil {
				return total, err
			}
			total.Streams += st.Streams
			total.Chunks += st.Chunks
			total.Entries += st.Entries
			total.Bytes += st.Bytes
		}
	}
	return total, nil
}
