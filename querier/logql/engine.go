package logql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/querier/logql/syntax"
)

// Defaults of EngineOptions, Loki's.
const (
	DefaultMaxEntriesLimit = 5000
	DefaultMaxSeries       = 500
	DefaultQueryTimeout    = time.Minute
	// DefaultLimit is the number of entries a log query returns when
	// Params.Limit is 0 (the HTTP API's default).
	DefaultLimit = 100
	// DefaultLogStreamBatch is EngineOptions.LogStreamBatch's default:
	// about 32 decoded blocks of 256 KiB and their chunks' bytes, 10 to
	// 25 MiB.
	DefaultLogStreamBatch = 32
	// DefaultSampleStreamBatch is EngineOptions.SampleStreamBatch's
	// default: a stream being read costs a decoded block, its chunk and
	// its pipeline, and a range aggregation's parts each read a batch.
	// Smaller batches only mean more runs to merge, which costs the same
	// comparisons as merging the streams (plgbench 200 MB, max by
	// namespace over 60 streams, store / querier peak RSS: 92 / 83 MiB in
	// batches of 8, 53 / 56 one stream at a time).
	DefaultSampleStreamBatch = 1
	// DefaultSampleSpoolBytes is EngineOptions.SampleSpoolBytes' default:
	// 1.6 million samples, what 50 to 60 streams merged at once cost; a
	// range holding more is read in slices of 1.2 million (split among
	// the parallel parts).
	DefaultSampleSpoolBytes = 32 << 20
	// maxPoints is the resolution limit of a range query, per series.
	maxPoints = 11000
)

// EngineOptions configure an Engine. Zero values take the defaults.
type EngineOptions struct {
	// MaxEntriesLimit is the largest limit a log query may ask for (Loki's
	// max_entries_limit_per_query).
	MaxEntriesLimit int
	// MaxSeries is the largest number of series a metric query may return
	// (Loki's max_query_series).
	MaxSeries int
	// QueryTimeout bounds a query's execution (Loki's query_timeout).
	QueryTimeout time.Duration
	// Registerer receives the engine's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Parallelism is how many parts of a metric range query's steps are
	// evaluated concurrently (default 1). Above 1 the Source must allow
	// concurrent Select calls and iteration.
	Parallelism int
	// LogStreamBatch is how many streams a log query without an interval
	// reads at a time (default 32): each stream being read holds a
	// decoded block, so this bounds a log query's memory over many
	// streams. The result is the same for any value.
	LogStreamBatch int
	// SampleStreamBatch is how many streams a range aggregation that
	// merges its streams in time order reads at a time (default 1), per
	// parallel part; it keeps the samples of the batches read instead
	// (see spool.go). The result is the same for any value.
	SampleStreamBatch int
	// SampleSpoolBytes bounds those samples (default 32 MiB), shared by
	// the parallel parts of a range query: a range holding more is read
	// in slices of time, each selected anew, that fit (see spool.go).
	// The result is the same for any value. Negative: no spool, every
	// stream merged at once.
	SampleSpoolBytes int64
}

func (o *EngineOptions) withDefaults() EngineOptions {
	out := *o
	if out.MaxEntriesLimit <= 0 {
		out.MaxEntriesLimit = DefaultMaxEntriesLimit
	}
	if out.MaxSeries <= 0 {
		out.MaxSeries = DefaultMaxSeries
	}
	if out.QueryTimeout <= 0 {
		out.QueryTimeout = DefaultQueryTimeout
	}
	if out.Parallelism <= 0 {
		out.Parallelism = 1
	}
	if out.LogStreamBatch <= 0 {
		out.LogStreamBatch = DefaultLogStreamBatch
	}
	if out.SampleStreamBatch <= 0 {
		out.SampleStreamBatch = DefaultSampleStreamBatch
	}
	if out.SampleSpoolBytes == 0 {
		out.SampleSpoolBytes = DefaultSampleSpoolBytes
	}
	return out
}

// Engine evaluates LogQL queries. It is safe for concurrent use: every
// query builds its own pipelines and evaluators.
type Engine struct {
	opts    EngineOptions
	logger  *slog.Logger
	metrics *engineMetrics
}

// NewEngine returns an engine; a nil logger discards logs.
func NewEngine(opts EngineOptions, logger *slog.Logger) *Engine {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{opts: opts.withDefaults(), logger: logger, metrics: newEngineMetrics(opts.Registerer)}
}

// Query parses and evaluates p.Query over src. Errors the client caused
// (parse errors, limits, pipeline errors, an instant log query) satisfy
// errors.Is(err, ErrBadRequest); a parse error also unwraps to the syntax
// package's *ParseError.
func (e *Engine) Query(ctx context.Context, src Source, p Params) (Result, error) {
	begin := time.Now()
	ctx, cancel := context.WithTimeout(ctx, e.opts.QueryTimeout)
	defer cancel()

	expr, err := syntax.ParseExpr(p.Query)
	if err != nil {
		err = asBadRequest(err)
		e.metrics.observe("invalid", Stats{ExecTime: time.Since(begin)}, err)
		return Result{}, err
	}
	q := &query{ctx: ctx, src: src, p: p, opts: e.opts}
	if p.Instant {
		q.p.End = p.Start
	}
	var res Result
	queryType := "metric"
	switch expr := expr.(type) {
	case *syntax.LogSelectorExpr:
		queryType = "log"
		res, err = q.evalLogs(expr)
	case syntax.SampleExpr:
		res, err = q.evalSample(expr)
	default:
		err = badRequestf("unsupported expression %T", expr)
	}
	if err != nil && ctx.Err() != nil && !errors.Is(err, ErrBadRequest) {
		err = fmt.Errorf("query %q: %w", p.Query, ctx.Err())
	}
	switch res.Type {
	case ValueMatrix:
		for _, s := range res.Matrix {
			q.stats.EntriesReturned += int64(len(s.Points))
		}
	case ValueVector:
		q.stats.EntriesReturned += int64(len(res.Vector))
	case ValueScalar:
		q.stats.EntriesReturned++
	}
	// Lines a needle search left out unread were covered by the query as
	// much as the lines its filters dropped.
	q.stats.TotalLinesProcessed += q.stats.LinesLeftOut
	q.stats.TotalBytesProcessed += q.stats.BytesLeftOut
	q.stats.ExecTime = time.Since(begin)
	res.Stats = q.stats
	e.metrics.observe(queryType, q.stats, err)
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelInfo
	}
	e.logger.Log(ctx, level, "query",
		"query", p.Query, "instant", p.Instant, "type", string(res.Type),
		"duration", q.stats.ExecTime, "lines", q.stats.TotalLinesProcessed,
		"bytes", q.stats.TotalBytesProcessed, "blocks_skipped", q.stats.BlocksSkipped,
		"histogram_blocks", q.stats.HistogramBlocks, "column_blocks", q.stats.ColumnBlocks,
		"decompressed_lines", q.stats.DecompressedLines, "head_lines", q.stats.HeadLines, "err", err)
	if err != nil {
		return Result{Stats: q.stats}, err
	}
	return res, nil
}

// query is the state of one evaluation.
type query struct {
	ctx   context.Context
	src   Source
	p     Params
	opts  EngineOptions
	stats Stats
	// part marks the query of one part of a split evaluation, which must
	// not split again.
	part bool
}

// evalSample evaluates a metric query: one vector for an instant query, a
// matrix for a range query, a scalar (or a constant matrix) for an
// expression of literals only.
func (q *query) evalSample(expr syntax.SampleExpr) (Result, error) {
	start, end := q.p.Start.UnixNano(), q.p.End.UnixNano()
	step := q.p.Step.Nanoseconds()
	if q.p.Instant {
		step = 0
	} else {
		if step < 0 {
			return Result{}, badRequestf("zero or negative query resolution step widths are not accepted. Try a positive integer")
		}
		if step == 0 {
			step = DefaultStep(q.p.Start, q.p.End).Nanoseconds()
		}
		if end < start {
			return Result{}, badRequestf("end timestamp must not be before or equal to start time")
		}
		if (end-start)/step > maxPoints {
			return Result{}, &LimitError{msg: "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"}
		}
	}
	if v, ok, err := scalarValue(expr); err != nil {
		return Result{}, err
	} else if ok {
		return q.scalarResult(v, start, end, step), nil
	}

	if !q.p.Instant {
		matrix, err := q.evalMatrix(expr, steps{start: start, end: end, step: step})
		if err != nil {
			return Result{}, err
		}
		return Result{Type: ValueMatrix, Matrix: matrix}, nil
	}

	ev, err := q.newRootEvaluator(expr, steps{start: start, end: start})
	if err != nil {
		return Result{}, err
	}
	defer ev.close()
	ts, vec, ok := ev.next()
	if err := ev.err(); err != nil {
		return Result{}, err
	}
	out := make([]Sample, 0, len(vec))
	if ok {
		if len(vec) > q.opts.MaxSeries {
			return Result{}, newSeriesLimitError(q.opts.MaxSeries)
		}
		for _, s := range vec {
			out = append(out, Sample{Metric: s.metric, Point: Point{T: ts / 1e6, V: s.v}})
		}
	}
	if !isSortExpr(expr) {
		slices.SortFunc(out, func(a, b Sample) int { return labels.Compare(a.Metric, b.Metric) })
	}
	return Result{Type: ValueVector, Vector: out}, nil
}

// newRootEvaluator builds the evaluator of the whole query; a range
// aggregation at the root enforces the series limit while loading.
func (q *query) newRootEvaluator(expr syntax.SampleExpr, st steps) (stepEvaluator, error) {
	ev, err := q.newEvaluator(expr, st)
	if err != nil {
		return nil, err
	}
	if r, ok := ev.(*rangeEvaluator); ok && r.op != syntax.RangeAbsent {
		r.maxSeries = q.opts.MaxSeries
		r.presumIfAdditive()
	}
	return ev, nil
}

// evalMatrix evaluates a range query. With Parallelism > 1 the steps are
// split into consecutive runs evaluated concurrently, as Loki splits
// queries by time: every step's value depends only on its own window, so
// the result is the same; only the windows' overlap at the split points
// is read twice.
func (q *query) evalMatrix(expr syntax.SampleExpr, st steps) ([]Series, error) {
	n := (st.end-st.start)/st.step + 1
	parts := min(int64(q.opts.Parallelism), n)
	if parts <= 1 {
		matrix, err := q.evalSteps(expr, st)
		if err != nil {
			return nil, err
		}
		return sortMatrix(matrix), nil
	}
	ctx, cancel := context.WithCancel(q.ctx)
	defer cancel()
	subs := make([]*query, parts)
	results := make([][]Series, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	// The parts share the spool's budget, so that a query's memory does
	// not grow with the cores either.
	opts := q.opts
	if opts.SampleSpoolBytes > 0 {
		opts.SampleSpoolBytes = max(opts.SampleSpoolBytes/parts, 1)
	}
	for i := range parts {
		i0, i1 := n*i/parts, n*(i+1)/parts
		sub := &query{ctx: ctx, src: q.src, p: q.p, opts: opts}
		subs[i] = sub
		part := steps{start: st.start + i0*st.step, end: st.start + (i1-1)*st.step, step: st.step}
		wg.Go(func() {
			if results[i], errs[i] = sub.evalSteps(expr, part); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	for _, sub := range subs {
		q.stats.add(sub.stats)
	}
	// Report the error that stopped the query, not the cancellations it caused.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || (errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled))) {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	index := make(map[uint64]int)
	var matrix []Series
	for _, part := range results {
		for _, s := range part {
			h := s.Metric.Hash()
			i, found := index[h]
			if !found {
				i = len(matrix)
				index[h] = i
				matrix = append(matrix, Series{Metric: s.Metric})
			}
			matrix[i].Points = append(matrix[i].Points, s.Points...)
		}
		if len(matrix) > q.opts.MaxSeries {
			return nil, newSeriesLimitError(q.opts.MaxSeries)
		}
	}
	return sortMatrix(matrix), nil
}

// evalSteps evaluates the steps of st into a matrix in evaluation order.
func (q *query) evalSteps(expr syntax.SampleExpr, st steps) ([]Series, error) {
	ev, err := q.newRootEvaluator(expr, st)
	if err != nil {
		return nil, err
	}
	defer ev.close()
	index := make(map[uint64]int)
	var matrix []Series
	for {
		ts, vec, ok := ev.next()
		if !ok {
			break
		}
		for _, s := range vec {
			h := s.metric.Hash()
			i, found := index[h]
			if !found {
				i = len(matrix)
				index[h] = i
				matrix = append(matrix, Series{Metric: s.metric})
			}
			matrix[i].Points = append(matrix[i].Points, Point{T: ts / 1e6, V: s.v})
		}
		if len(matrix) > q.opts.MaxSeries {
			return nil, newSeriesLimitError(q.opts.MaxSeries)
		}
	}
	if err := ev.err(); err != nil {
		return nil, err
	}
	return matrix, nil
}

func sortMatrix(m []Series) []Series {
	slices.SortFunc(m, func(a, b Series) int { return labels.Compare(a.Metric, b.Metric) })
	if m == nil {
		m = []Series{}
	}
	return m
}

// scalarResult answers a query made of literals only: a scalar for an
// instant query, one unlabeled series with the value at every step for a
// range query, as Loki does.
func (q *query) scalarResult(v float64, start, end, step int64) Result {
	if q.p.Instant {
		return Result{Type: ValueScalar, Scalar: Point{T: start / 1e6, V: v}}
	}
	s := Series{Metric: labels.EmptyLabels()}
	for t := start; t <= end; t += step {
		s.Points = append(s.Points, Point{T: t / 1e6, V: v})
	}
	return Result{Type: ValueMatrix, Matrix: []Series{s}}
}

// DefaultStep is the step of a range query that gives none, as Loki
// computes it: the range divided into 250 steps, in whole seconds, at
// least one second.
func DefaultStep(start, end time.Time) time.Duration {
	return time.Duration(max(int64(end.Sub(start).Seconds()/250), 1)) * time.Second
}

// isSortExpr reports whether the query uses sort or sort_desc anywhere;
// Loki then keeps an instant result in evaluation order instead of
// sorting it by labels.
func isSortExpr(e syntax.SampleExpr) bool {
	found := false
	syntax.Inspect(e, func(n syntax.Node) bool {
		if v, ok := n.(*syntax.VectorAggregationExpr); ok && (v.Op == syntax.VectorSort || v.Op == syntax.VectorSortDesc) {
			found = true
		}
		return !found
	})
	return found
}
