package logql

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/querier/logql/log"
	"github.com/plgstack/plg/querier/logql/syntax"
)

// point is one extracted sample: its entry's timestamp (ns) and value.
type point struct {
	t int64
	v float64
}

// window is the samples of one series inside the current range, oldest
// first: points, or buckets for mergeable aggregations (see buckets.go).
// Evicted entries are dropped from the front; the backing array is
// compacted when more than half of it is dead.
type window struct {
	metric labels.Labels
	hash   uint64
	pts    []point
	bs     []bucket
	head   int
}

func (w *window) live() []point     { return w.pts[w.head:] }
func (w *window) buckets() []bucket { return w.bs[w.head:] }
func (w *window) empty() bool {
	if len(w.bs) > 0 {
		return w.head == len(w.bs)
	}
	return w.head == len(w.pts)
}

// evict drops what lies at or before t (the window's exclusive lower
// bound): samples, or buckets whose cell ends there.
func (w *window) evict(t int64) {
	if len(w.bs) > 0 {
		for w.head < len(w.bs) && w.bs[w.head].end <= t {
			w.head++
		}
		w.bs, w.head = compact(w.bs, w.head)
		return
	}
	for w.head < len(w.pts) && w.pts[w.head].t <= t {
		w.head++
	}
	w.pts, w.head = compact(w.pts, w.head)
}

func compact[T any](s []T, head int) ([]T, int) {
	if head == len(s) {
		return s[:0], 0
	}
	if head > len(s)/2 && head > 64 {
		n := copy(s, s[head:])
		return s[:n], 0
	}
	return s, head
}

// rangeEvaluator evaluates a range aggregation step by step. Samples come
// from every selected stream merged in time order; each step loads the
// samples up to its window's end, evicts those at or before its start and
// aggregates what is left. Only what lies inside the current window is
// held, one window per output series: its samples, or for mergeable
// aggregations one partial aggregate per grid cell (see buckets.go).
type rangeEvaluator struct {
	q       *query
	op      syntax.RangeOp
	phi     float64
	rangeNs int64
	offset  int64
	st      steps
	src     *sampleMerger
	// unwrapped: rate sums the unwrapped values instead of counting lines.
	unwrapped bool
	// bucketed: windows hold per-cell aggregates instead of samples.
	bucketed bool

	windows map[uint64]*window
	order   []*window // the windows in order of first sample: output order
	free    []*window
	out     []sample
	absent  labels.Labels // absent_over_time's labels
	scratch []float64     // quantile_over_time's sort buffer
	fail    error
	// maxSeries, when > 0, fails the query as soon as one window holds
	// more series: set when the range aggregation is the query's result,
	// so a high-cardinality query stops before loading the whole window.
	maxSeries int
}

func (q *query) newRangeEvaluator(e *syntax.RangeAggregationExpr, grouping *syntax.Grouping, st steps) (stepEvaluator, error) {
	ex, err := buildExtractor(e, grouping)
	if err != nil {
		return nil, err
	}
	plain, filters, err := plainExtraction(e)
	if err != nil {
		return nil, err
	}
	var bare *log.SampleExtractor // labels of plain samples, filters left out
	if plain != notPlain {
		sel := *e.Left.Left
		sel.Stages = nil
		lr := *e.Left
		lr.Left = &sel
		ra := *e
		ra.Left = &lr
		if bare, err = buildExtractor(&ra, grouping); err != nil {
			return nil, err
		}
	}
	rangeNs, offset := e.Left.Range.Nanoseconds(), e.Left.Offset.Nanoseconds()
	if rangeNs <= 0 {
		return nil, badRequestf("range of %s must be positive", e.Op)
	}
	// Windows are (t-offset-range, t-offset]; Select's range is [from, through).
	from := st.start - offset - rangeNs + 1
	through := st.end - offset + 1
	r := &rangeEvaluator{
		q: q, op: e.Op, rangeNs: rangeNs, offset: offset, st: st,
		windows:   map[uint64]*window{},
		unwrapped: e.Left.Unwrap != nil,
		bucketed:  bucketed(e.Op, e.Left.Unwrap != nil, rangeNs, st.step),
	}
	hints := selectHints(e.Left.Left)
	if summarizable(e, grouping) && r.bucketed {
		hints.Cell = r.cellEnd
		hints.CellPlainOnly = summaryNeedsPlain(grouping)
	}
	selectRange := func(from, through int64) ([]SourceStream, error) {
		return q.src.Select(q.ctx, e.Left.Left.Matchers, from, through, chunks.Forward, hints, &q.stats.Stats)
	}
	streams, err := selectRange(from, through)
	if err != nil {
		return nil, err
	}
	q.stats.Streams += int64(len(streams))
	r.src = newSampleMerger(q, streams, ex, bare, plain, filters)
	if hints.Cell == nil {
		// Summaries (hints.Cell) stand for many samples; the spool holds
		// single ones.
		r.src.batch = q.opts.SampleStreamBatch
		r.src.spoolBytes = q.opts.SampleSpoolBytes
		if r.bucketed && (r.op == syntax.RangeMin || r.op == syntax.RangeMax || r.op == syntax.RangeFirst) {
			r.src.partialCell = r.cellEnd
		} else if r.src.spoolBytes > 0 {
			r.src.reselect = selectRange
			r.src.lo, r.src.hi, r.src.through = from, through, through
		}
	}
	if grouping != nil {
		// The grouping bounds the series the sums are kept for.
		r.presumIfAdditive()
	}
	if e.Param != nil {
		r.phi = *e.Param
	}
	if e.Op == syntax.RangeAbsent {
		r.absent = absentLabels(e.Left.Left.Matchers)
	}
	return r, nil
}

// presumIfAdditive lets the sample merger read the streams one at a time
// (see sampleMerger.presum) when the aggregation only adds up integers
// per cell. It holds sums for every cell of the query, not only the
// current window's, so it is used only where the series are bounded: by a
// grouping applied at extraction, or at the query's root, where more
// series than maxSeries fail the query anyway.
func (r *rangeEvaluator) presumIfAdditive() {
	if !r.bucketed || r.unwrapped {
		return
	}
	switch r.op {
	case syntax.RangeCount, syntax.RangeRate, syntax.RangeBytes, syntax.RangeBytesRate:
		r.src.cell = r.cellEnd
		r.src.inWindow = r.cellInWindow
		r.src.maxSeries = r.maxSeries
	}
}

// cellInWindow reports whether the grid cell ending at c lies in one of
// the query's windows; with a step longer than the range, cells between
// windows do not.
func (r *rangeEvaluator) cellInWindow(c int64) bool {
	if r.st.step == 0 {
		return true
	}
	s0 := r.st.start - r.offset
	k := max(ceilDiv(c-s0, r.st.step), 0)
	end := s0 + k*r.st.step // the first window end at or after c
	return end <= r.st.end-r.offset && c > end-r.rangeNs
}

// absentLabels are the labels of absent_over_time's sample: the selector's
// equality matchers, except names also matched otherwise.
func absentLabels(ms []*labels.Matcher) labels.Labels {
	b := labels.NewBuilder(labels.EmptyLabels())
	var drop []string
	for _, m := range ms {
		if m.Type == labels.MatchEqual && b.Get(m.Name) == "" {
			b.Set(m.Name, m.Value)
		} else {
			drop = append(drop, m.Name)
		}
	}
	b.Del(drop...)
	return b.Labels()
}

func (r *rangeEvaluator) next() (int64, []sample, bool) {
	if r.fail != nil {
		return 0, nil, false
	}
	ts, ok := r.st.next()
	if !ok {
		return 0, nil, false
	}
	end := ts - r.offset
	start := end - r.rangeNs
	live := r.order[:0]
	for _, w := range r.order {
		w.evict(start)
		if w.empty() {
			delete(r.windows, w.hash)
			r.free = append(r.free, w)
			continue
		}
		live = append(live, w)
	}
	clear(r.order[len(live):])
	r.order = live
	if err := r.load(start, end); err != nil {
		r.fail = err
		return 0, nil, false
	}
	r.out = r.out[:0]
	for _, w := range r.order {
		if w.metric.Has(errorLabel) {
			r.fail = newPipelineError(w.metric)
			return 0, nil, false
		}
		var v float64
		if r.bucketed {
			v = r.aggregateBuckets(w.buckets())
		} else {
			v = r.aggregate(w.live())
		}
		r.out = append(r.out, sample{metric: w.metric, v: v})
	}
	if r.op == syntax.RangeAbsent {
		if len(r.out) > 0 {
			r.out = r.out[:0]
		} else {
			r.out = append(r.out, sample{metric: r.absent, v: 1})
		}
	}
	return ts, r.out, true
}

// load adds the samples in (start, end] to their windows.
func (r *rangeEvaluator) load(start, end int64) error {
	m := r.src
	for m.peek() {
		c := m.top()
		if c.ts > end {
			return nil
		}
		if c.ts > start {
			w, ok := r.windows[c.hash]
			if !ok {
				if r.maxSeries > 0 && len(r.windows) >= r.maxSeries {
					return newSeriesLimitError(r.maxSeries)
				}
				w = r.newWindow(c.lbls, c.hash)
				r.windows[c.hash] = w
				r.order = append(r.order, w)
			}
			switch {
			case c.part != nil:
				w.addPartial(c.part)
			case c.n > 1:
				w.addSummary(r.cellEnd(c.ts), c.n, c.v)
			case r.bucketed:
				w.addToBucket(r.cellEnd(c.ts), c.v)
			default:
				w.pts = append(w.pts, point{t: c.ts, v: c.v})
			}
		}
		m.advance()
	}
	return m.err()
}

func (r *rangeEvaluator) newWindow(metric labels.Labels, hash uint64) *window {
	if n := len(r.free); n > 0 {
		w := r.free[n-1]
		r.free = r.free[:n-1]
		w.metric, w.hash, w.pts, w.bs, w.head = metric, hash, w.pts[:0], w.bs[:0], 0
		return w
	}
	return &window{metric: metric, hash: hash}
}

// aggregate computes the aggregations that need the window's samples
// (the others are bucketed, see buckets.go).
func (r *rangeEvaluator) aggregate(pts []point) float64 {
	seconds := float64(r.rangeNs) / 1e9
	switch r.op {
	case syntax.RangeRate: // of unwrapped values, over overlapping windows
		return sumPoints(pts) / seconds
	case syntax.RangeSum:
		return sumPoints(pts)
	case syntax.RangeRateCounter:
		return rateCounter(pts, r.rangeNs)
	case syntax.RangeAvg:
		return avgPoints(pts)
	case syntax.RangeStdvar:
		return stdvarPoints(pts)
	case syntax.RangeStddev:
		return math.Sqrt(stdvarPoints(pts))
	case syntax.RangeQuantile:
		var v float64
		v, r.scratch = quantilePoints(r.phi, pts, r.scratch)
		return v
	}
	panic(fmt.Sprintf("logql: range aggregation %s is bucketed", r.op))
}

func sumPoints(pts []point) float64 {
	var s float64
	for _, p := range pts {
		s += p.v
	}
	return s
}

// avgPoints is the incremental mean Loki and Prometheus use, which stays
// finite where a plain sum would overflow and handles infinities.
func avgPoints(pts []point) float64 {
	var mean, count float64
	for _, p := range pts {
		count++
		if math.IsInf(mean, 0) {
			if math.IsInf(p.v, 0) && (mean > 0) == (p.v > 0) {
				continue
			}
			if !math.IsInf(p.v, 0) && !math.IsNaN(p.v) {
				continue
			}
		}
		mean += p.v/count - mean/count
	}
	return mean
}

// stdvarPoints is the population variance (Welford).
func stdvarPoints(pts []point) float64 {
	var aux, count, mean float64
	for _, p := range pts {
		count++
		delta := p.v - mean
		mean += delta / count
		aux += delta * (p.v - mean)
	}
	return aux / count
}

// quantilePoints is PromQL's quantile: linear interpolation between the
// closest ranks; -Inf below 0, +Inf above 1.
// vals is scratch space, returned for reuse.
func quantilePoints(phi float64, pts []point, vals []float64) (float64, []float64) {
	if len(pts) == 0 {
		return math.NaN(), vals
	}
	if phi < 0 {
		return math.Inf(-1), vals
	}
	if phi > 1 {
		return math.Inf(1), vals
	}
	vals = vals[:0]
	for _, p := range pts {
		vals = append(vals, p.v)
	}
	slices.Sort(vals)
	n := float64(len(vals))
	rank := phi * (n - 1)
	lo := math.Max(0, math.Floor(rank))
	hi := math.Min(n-1, lo+1)
	w := rank - math.Floor(rank)
	return vals[int(lo)]*(1-w) + vals[int(hi)]*w, vals
}

// rateCounter is Loki's rate_counter: Prometheus' extrapolated rate of a
// counter (resets add the value before the reset), computed exactly as
// Loki computes it so the numbers agree. Loki bounds the range by the
// samples themselves and mixes nanosecond timestamps with a millisecond
// range, which makes the extrapolation negligible: the result is close to
// the increase over the window divided by the range in seconds.
func rateCounter(pts []point, rangeNs int64) float64 {
	if len(pts) < 2 {
		return 0
	}
	first, last := pts[0], pts[len(pts)-1]
	rangeStart := first.t - rangeNs/1e6
	rangeEnd := last.t
	result := last.v - first.v
	var prev float64
	for _, p := range pts {
		if p.v < prev {
			result += prev
		}
		prev = p.v
	}
	toStart := float64(first.t-rangeStart) / 1000
	toEnd := float64(rangeEnd-last.t) / 1000
	sampled := float64(last.t-first.t) / 1000
	avg := sampled / float64(len(pts)-1)
	if result > 0 && first.v >= 0 {
		if toZero := sampled * (first.v / result); toZero < toStart {
			toStart = toZero
		}
	}
	threshold := avg * 1.1
	interval := sampled
	if toStart < threshold {
		interval += toStart
	} else {
		interval += avg / 2
	}
	if toEnd < threshold {
		interval += toEnd
	} else {
		interval += avg / 2
	}
	result *= interval / sampled
	return result / (float64(rangeNs) / 1e9)
}

func (r *rangeEvaluator) err() error { return r.fail }
func (r *rangeEvaluator) close()     { r.src.close() }

// sampleCursor is one stream's entries turned into samples.
type sampleCursor struct {
	it   chunks.Iterator
	ex   *log.StreamSampleExtractor
	rank int
	ts   int64
	v    float64
	lbls labels.Labels
	hash uint64

	plain     extractKind
	plainLbls labels.Labels // labels of lines without metadata, if plain
	plainHash uint64

	// sz is the iterator's Summarizer, when it has one; n is the number of
	// entries the current sample stands for (more than 1: a summary).
	sz Summarizer
	n  int64
	// part, when not nil, is a spooled run's aggregate of the series'
	// samples in one cell, the first of them at ts (see spool.go).
	part *bucket
}

// sampleMerger merges the samples of all streams in time order with a
// binary heap of cursors (equal timestamps: lower stream index first).
type sampleMerger struct {
	q        *query
	heap     []*sampleCursor
	all      []*sampleCursor
	filters  []log.Stage        // line filters of plain extraction
	scratch  *log.LabelsBuilder // handed to the filters, which ignore it
	started  bool
	fail     error
	sinceCtx int

	// cell, when set, makes the merger read the streams one after the
	// other and serve per series and grid cell the sum of their samples
	// (see presum); sums[at] is served through cur.
	cell func(int64) int64
	sums []cellSum
	at   int
	cur  sampleCursor
	// inWindow and maxSeries, when > 0, fail the query once more series
	// than maxSeries have a sample in some window.
	inWindow  func(int64) bool
	maxSeries int

	// batch, when > 0 and below the number of streams, makes the merger
	// read the streams batch by batch into spool (see spool.go), unless
	// it presums; the samples are then served through cur.
	batch int
	spool *sampleSpool
	// spoolBytes bounds the spool's samples: past it, the range is read
	// in slices of time (see spool.go).
	spoolBytes int64
	// partialCell, when set, makes the spool keep one aggregate per
	// series and grid cell (whose end it returns) in each run instead of
	// the samples.
	partialCell func(int64) int64

	// reselect, when set, selects the streams again over [from, through):
	// the spool then reads the range in slices of time [lo, hi) that fit
	// spoolBytes, up to through (see spool.go).
	reselect        func(from, through int64) ([]SourceStream, error)
	lo, hi, through int64
	ex, bare        *log.SampleExtractor
	plain           extractKind
	sliceEst        int64 // samples the last slice held
	freePages       []*spoolPage
	// spoolPeak and slices are the most the spool held and the number of
	// spools read, for tests.
	spoolPeak int64
	slices    int
}

// Counts and byte counts only add up samples per grid cell, in any order
// and exactly (integers), so they need not merge the streams in time
// order: the merger can read one stream at a time and hold one stream's
// decoded block instead of one per stream (200 streams of 256 KiB blocks
// are 50 MiB), and skip the heap.

// cellSum is the samples of one series in one grid cell.
type cellSum struct {
	cell  int64 // the cell's upper bound
	first int64 // the earliest sample's timestamp
	rank  int   // the stream of that sample
	hash  uint64
	lbls  labels.Labels
	n     int64
	v     float64
}

type cellKey struct {
	hash uint64
	cell int64
}

// presum reads every stream to its end, one after the other, and orders
// the sums by cell, then by first sample: the order in which the time
// merge would have produced each series' first sample in the cell, so
// windows are created in the same order.
func (m *sampleMerger) presum() {
	index := map[cellKey]int{}
	series := map[uint64]struct{}{}
	for _, c := range m.all {
		var (
			k    cellKey
			acc  cellSum
			have bool
		)
		flush := func() {
			if i, ok := index[k]; ok {
				s := &m.sums[i]
				s.n += acc.n
				s.v += acc.v
				if acc.first < s.first {
					s.first, s.rank = acc.first, acc.rank
				}
				return
			}
			index[k] = len(m.sums)
			m.sums = append(m.sums, acc)
			if m.maxSeries > 0 && m.inWindow(k.cell) {
				series[k.hash] = struct{}{}
				if len(series) > m.maxSeries && m.fail == nil {
					m.fail = newSeriesLimitError(m.maxSeries)
				}
			}
		}
		for m.fill(c) {
			cell := m.cell(c.ts)
			if have && c.hash == k.hash && cell == k.cell {
				acc.n += c.n
				acc.v += c.v
				continue
			}
			if have {
				if flush(); m.fail != nil {
					return
				}
			}
			k = cellKey{hash: c.hash, cell: cell}
			acc = cellSum{cell: cell, first: c.ts, rank: c.rank, hash: c.hash, lbls: c.lbls, n: c.n, v: c.v}
			have = true
		}
		if m.fail != nil {
			return
		}
		if have {
			if flush(); m.fail != nil {
				return
			}
		}
		// Release the stream's buffers before reading the next one.
		_ = c.it.Close()
		c.it = nil
	}
	slices.SortFunc(m.sums, func(a, b cellSum) int {
		switch {
		case a.cell != b.cell:
			return cmp.Compare(a.cell, b.cell)
		case a.first != b.first:
			return cmp.Compare(a.first, b.first)
		}
		return cmp.Compare(a.rank, b.rank)
	})
	m.serve()
}

// serve points cur at sums[at]: its timestamp is the cell's end, which
// lies in the same windows as every sample of the cell.
func (m *sampleMerger) serve() {
	if m.at < len(m.sums) {
		s := &m.sums[m.at]
		m.cur.ts, m.cur.hash, m.cur.lbls, m.cur.n, m.cur.v = s.cell, s.hash, s.lbls, s.n, s.v
	}
}

// pass runs the line filters of a plain extraction. Line filters read
// only the line, not the labels builder.
func (m *sampleMerger) pass(ts int64, line []byte) bool {
	for _, f := range m.filters {
		if _, ok := f.Process(ts, line, m.scratch); !ok {
			return false
		}
	}
	return true
}

// newSampleMerger builds the cursors of the selected streams. With a
// plain line extractor (no unwrap, no stage but line filters), a line's
// sample depends only on its stream's labels, its structured metadata and
// whether it passes the filters, so lines without metadata skip the
// extractor: their labels are computed once per stream and their value is
// 1 (count) or the line's length.
func newSampleMerger(q *query, streams []SourceStream, ex, bare *log.SampleExtractor, plain extractKind, filters []log.Stage) *sampleMerger {
	m := &sampleMerger{q: q, filters: filters, ex: ex, bare: bare, plain: plain, hi: math.MaxInt64}
	if len(filters) > 0 {
		m.scratch = log.NewLabelsBuilder(labels.EmptyLabels())
	}
	m.setStreams(streams)
	return m
}

// setStreams makes m.all the cursors of streams, ranked in their order.
func (m *sampleMerger) setStreams(streams []SourceStream) {
	m.all = make([]*sampleCursor, len(streams))
	for i, s := range streams {
		c := &sampleCursor{it: s.Iter, ex: m.ex.ForStream(s.Labels), rank: i, plain: m.plain}
		c.sz, _ = s.Iter.(Summarizer)
		if m.plain != notPlain {
			_, c.plainLbls, c.plainHash, _ = m.bare.ForStream(s.Labels).Process(0, nil, labels.EmptyLabels())
		}
		m.all[i] = c
	}
}

// extractKind tells whether a sample cursor may bypass its extractor.
type extractKind uint8

const (
	notPlain    extractKind = iota
	plainCount              // every line is a sample of value 1
	plainLength             // every line is a sample of its length
)

// fill advances c to its next sample; false when the stream is done.
func (m *sampleMerger) fill(c *sampleCursor) bool {
	for c.it.Next() {
		e := c.it.At()
		c.n = 1
		if c.sz != nil {
			if n, lineBytes, ok := c.sz.Summary(); ok {
				if c.plain == notPlain {
					m.fail = fmt.Errorf("stream %s: summary of %d entries where entries were needed", c.plainLbls, n)
					return false
				}
				m.q.stats.TotalLinesProcessed += n
				m.q.stats.TotalBytesProcessed += lineBytes
				m.q.stats.PostFilterLines += n
				c.ts, c.lbls, c.hash, c.n, c.v = e.Timestamp, c.plainLbls, c.plainHash, n, float64(n)
				if c.plain == plainLength {
					c.v = float64(lineBytes)
				}
				return true
			}
		}
		m.q.stats.TotalLinesProcessed++
		m.q.stats.TotalBytesProcessed += int64(len(e.Line))
		if m.sinceCtx++; m.sinceCtx >= ctxCheckEvery {
			m.sinceCtx = 0
			if err := m.q.ctx.Err(); err != nil {
				m.fail = err
				return false
			}
		}
		if c.plain != notPlain && e.Metadata.IsEmpty() {
			if !m.pass(e.Timestamp, e.Line) {
				continue
			}
			m.q.stats.PostFilterLines++
			c.ts, c.lbls, c.hash, c.v = e.Timestamp, c.plainLbls, c.plainHash, 1
			if c.plain == plainLength {
				c.v = float64(len(e.Line))
			}
			return true
		}
		v, lbls, h, ok := c.ex.Process(e.Timestamp, e.Line, e.Metadata)
		if !ok {
			continue
		}
		m.q.stats.PostFilterLines++
		c.ts, c.v, c.lbls, c.hash = e.Timestamp, v, lbls, h
		return true
	}
	if err := c.it.Err(); err != nil && m.fail == nil {
		m.fail = err
	}
	return false
}

// peek reports whether a sample is available at top.
func (m *sampleMerger) peek() bool {
	if m.cell != nil {
		if !m.started {
			m.started = true
			m.presum()
		}
		return m.fail == nil && m.at < len(m.sums)
	}
	if !m.started {
		m.started = true
		if m.batch > 0 && len(m.all) > m.batch && (m.partialCell != nil || m.reselect != nil) {
			m.spoolBatches()
			return m.peekSpooled()
		}
		for _, c := range m.all {
			if m.fill(c) {
				m.heap = append(m.heap, c)
			}
		}
		for i := len(m.heap)/2 - 1; i >= 0; i-- {
			m.down(i)
		}
	}
	if m.spool != nil {
		return m.peekSpooled()
	}
	return m.fail == nil && len(m.heap) > 0
}

func (m *sampleMerger) top() *sampleCursor {
	if m.cell != nil || m.spool != nil {
		return &m.cur
	}
	return m.heap[0]
}

// advance moves past the top sample.
func (m *sampleMerger) advance() {
	if m.cell != nil {
		m.at++
		m.serve()
		return
	}
	if m.spool != nil {
		m.spool.advance()
		return
	}
	m.pop()
}

// pop moves the heap past its top cursor's sample.
func (m *sampleMerger) pop() {
	if m.fill(m.heap[0]) {
		m.down(0)
		return
	}
	n := len(m.heap) - 1
	m.heap[0] = m.heap[n]
	m.heap = m.heap[:n]
	if n > 0 {
		m.down(0)
	}
}

func (m *sampleMerger) less(a, b *sampleCursor) bool {
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	return a.rank < b.rank
}

func (m *sampleMerger) down(i int) {
	h := m.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		j := l
		if r := l + 1; r < len(h) && m.less(h[r], h[l]) {
			j = r
		}
		if !m.less(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

func (m *sampleMerger) err() error { return m.fail }

func (m *sampleMerger) close() {
	for _, c := range m.all {
		if c.it != nil {
			_ = c.it.Close()
		}
	}
}
