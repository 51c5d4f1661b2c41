package logql

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/querier/logql/syntax"
)

// An instant query has one step, so evalMatrix's split by time cannot use
// a second core; the usual dashboard totals over a long range
// (sum(count_over_time(... [3h])), topk(3, sum by (app) (rate(... [3h]))))
// would run on one. For a sum over a count, byte count or their rates, the
// streams are split instead: each part reads its share of the streams,
// and the parts' sums of integers add up exactly. A rate is evaluated as
// its count (or byte count) and divided by the range's seconds once the
// parts are added, as the unsplit evaluation divides the whole count, so
// the result is the same to the bit. The split happens wherever such a sum
// appears in an instant query's expression (under topk, in a binary
// operation), each occurrence in turn.

// streamSplittable reports whether expr may be evaluated by parts over
// disjoint sets of streams whose results are then summed.
func streamSplittable(expr syntax.SampleExpr) bool {
	v, ok := expr.(*syntax.VectorAggregationExpr)
	if !ok || v.Op != syntax.VectorSum {
		return false
	}
	r, ok := v.Left.(*syntax.RangeAggregationExpr)
	if !ok || r.Grouping != nil || r.Left.Unwrap != nil {
		return false
	}
	switch r.Op {
	case syntax.RangeCount, syntax.RangeBytes, syntax.RangeRate, syntax.RangeBytesRate:
		return true
	}
	return false
}

// countsOf returns the streamSplittable expr with a rate replaced by the
// count it divides, and the divisor (1 for a count).
func countsOf(expr *syntax.VectorAggregationExpr) (*syntax.VectorAggregationExpr, float64) {
	r := expr.Left.(*syntax.RangeAggregationExpr)
	var op syntax.RangeOp
	switch r.Op {
	case syntax.RangeRate:
		op = syntax.RangeCount
	case syntax.RangeBytesRate:
		op = syntax.RangeBytes
	default:
		return expr, 1
	}
	rc := *r
	rc.Op = op
	vc := *expr
	vc.Left = &rc
	// The divisor of rangeEvaluator.aggregateBuckets.
	return &vc, float64(r.Left.Range.Nanoseconds()) / 1e9
}

// streamSplitEvaluator is the stepEvaluator of a streamSplittable sum in
// an instant query: its one step runs evalInstantByStreams.
type streamSplitEvaluator struct {
	q    *query
	expr *syntax.VectorAggregationExpr
	at   int64
	done bool
	fail error
}

func (e *streamSplitEvaluator) next() (int64, []sample, bool) {
	if e.done {
		return 0, nil, false
	}
	e.done = true
	ts, vec, ok, err := e.q.evalInstantByStreams(e.expr, e.at, e.q.opts.Parallelism)
	if err != nil {
		e.fail = err
		return 0, nil, false
	}
	return ts, vec, ok
}

func (e *streamSplitEvaluator) err() error { return e.fail }
func (e *streamSplitEvaluator) close()     {}

// partSource passes on the streams of src whose labels hash to part i of n.
type partSource struct {
	src  Source
	i, n uint64
}

func (p partSource) Select(ctx context.Context, ms []*labels.Matcher, from, through int64, dir chunks.Direction,
	hints SelectHints, stats *chunks.Stats) ([]SourceStream, error) {
	streams, err := p.src.Select(ctx, ms, from, through, dir, hints, stats)
	if err != nil {
		return nil, err
	}
	out := streams[:0]
	for _, s := range streams {
		if s.Labels.Hash()%p.n == p.i {
			out = append(out, s)
		} else if s.Iter != nil {
			_ = s.Iter.Close()
		}
	}
	return out, nil
}

// claimSource passes on every stream of src, each behind a claimIter: a
// part reads a stream only if it is the first to start on it. The parts
// of an instant sum read their streams one after the other
// (sampleMerger.presum), so each takes the next stream nobody has started
// as it finishes one, and the parts finish together however unequal the
// streams' sizes, where partSource's fixed split by label hash may leave
// one part with most of the work: with a few streams (three pods of one
// app), or with streams of very different sizes.
type claimSource struct {
	src    Source
	part   int
	claims *streamClaims
}

func (p claimSource) Select(ctx context.Context, ms []*labels.Matcher, from, through int64, dir chunks.Direction,
	hints SelectHints, stats *chunks.Stats) ([]SourceStream, error) {
	streams, err := p.src.Select(ctx, ms, from, through, dir, hints, stats)
	if err != nil {
		return nil, err
	}
	for i, s := range streams {
		c := &claimIter{it: s.Iter, hash: s.Labels.Hash(), part: p.part, claims: p.claims}
		c.sz, _ = s.Iter.(Summarizer)
		streams[i].Iter = c
	}
	return streams, nil
}

// streamClaims records which part reads the streams of a label set.
type streamClaims struct {
	mu    sync.Mutex
	owner map[uint64]int
}

// claim reports whether part reads the streams labelled with hash h: yes
// if it is the first to ask.
func (c *streamClaims) claim(h uint64, part int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.owner[h]; ok {
		return o == part
	}
	c.owner[h] = part
	return true
}

// claimIter is a part's iterator over one stream: empty unless the part
// claims the stream on the first Next. Every part selects every stream,
// so each closes its own iterators, read or not.
type claimIter struct {
	it     chunks.Iterator
	sz     Summarizer
	hash   uint64
	part   int
	claims *streamClaims
	asked  bool
	mine   bool
}

func (c *claimIter) Next() bool {
	if !c.asked {
		c.asked = true
		c.mine = c.claims.claim(c.hash, c.part)
	}
	return c.mine && c.it.Next()
}

func (c *claimIter) At() chunks.Entry { return c.it.At() }

func (c *claimIter) Err() error {
	if !c.mine {
		return nil
	}
	return c.it.Err()
}

func (c *claimIter) Close() error { return c.it.Close() }

func (c *claimIter) Summary() (entries, lineBytes int64, ok bool) {
	if c.sz == nil {
		return 0, 0, false
	}
	return c.sz.Summary()
}

// evalInstantByStreams evaluates a streamSplittable expression at one
// instant in parts over disjoint sets of streams, concurrently, and adds
// up the parts' samples per label set.
func (q *query) evalInstantByStreams(expr *syntax.VectorAggregationExpr, at int64, parts int) (int64, []sample, bool, error) {
	counts, divisor := countsOf(expr)
	ctx, cancel := context.WithCancel(q.ctx)
	defer cancel()
	type result struct {
		ts  int64
		vec []sample
		ok  bool
		err error
	}
	subs := make([]*query, parts)
	results := make([]result, parts)
	claims := &streamClaims{owner: map[uint64]int{}}
	var wg sync.WaitGroup
	for i := range parts {
		sub := &query{ctx: ctx, src: claimSource{src: q.src, part: i, claims: claims}, p: q.p, opts: q.opts, part: true}
		subs[i] = sub
		wg.Go(func() {
			r := &results[i]
			ev, err := sub.newRootEvaluator(counts, steps{start: at, end: at})
			if err != nil {
				r.err = err
				cancel()
				return
			}
			defer ev.close()
			r.ts, r.vec, r.ok = ev.next()
			// The evaluator may reuse its vector's memory once closed.
			r.vec = append([]sample(nil), r.vec...)
			if r.err = ev.err(); r.err != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	for _, sub := range subs {
		q.stats.add(sub.stats)
	}
	var first error
	for _, r := range results {
		if r.err != nil && (first == nil || (errors.Is(first, context.Canceled) && !errors.Is(r.err, context.Canceled))) {
			first = r.err
		}
	}
	if first != nil {
		return 0, nil, false, first
	}
	var (
		ts  int64
		ok  bool
		out []sample
	)
	index := map[uint64]int{}
	for _, r := range results {
		if !r.ok {
			continue
		}
		ts, ok = r.ts, true
		for _, s := range r.vec {
			h := s.metric.Hash()
			if i, found := index[h]; found {
				out[i].v += s.v
				continue
			}
			index[h] = len(out)
			out = append(out, s)
		}
	}
	if divisor != 1 {
		for i := range out {
			out[i].v /= divisor
		}
	}
	return ts, out, ok, nil
}
