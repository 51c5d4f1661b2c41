package logql

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/querier/logql/syntax"
)

// openCounter wraps a Source and counts the iterators being read at once:
// from their first Next to their Close.
type openCounter struct {
	Source
	mu        sync.Mutex
	open, max int
}

func (o *openCounter) Select(ctx context.Context, ms []*labels.Matcher, from, through int64, dir chunks.Direction, hints SelectHints, stats *chunks.Stats) ([]SourceStream, error) {
	streams, err := o.Source.Select(ctx, ms, from, through, dir, hints, stats)
	for i := range streams {
		streams[i].Iter = &countedIter{Iterator: streams[i].Iter, o: o}
	}
	return streams, err
}

type countedIter struct {
	chunks.Iterator
	o              *openCounter
	opened, closed bool
}

func (c *countedIter) Next() bool {
	if !c.opened {
		c.opened = true
		c.o.mu.Lock()
		c.o.open++
		c.o.max = max(c.o.max, c.o.open)
		c.o.mu.Unlock()
	}
	return c.Iterator.Next()
}

func (c *countedIter) Close() error {
	if c.opened && !c.closed {
		c.closed = true
		c.o.mu.Lock()
		c.o.open--
		c.o.mu.Unlock()
	}
	return c.Iterator.Close()
}

// spoolQueries are range aggregations the merger cannot presum, so they
// merge their streams in time order: order-sensitive float sums, samples
// kept per window, ties decided by stream rank (first, last), grouping by
// stream and by parsed labels.
var spoolQueries = []string{
	`quantile_over_time(0.9, {app="a"} | logfmt | unwrap n [5m]) by (ns)`,
	`sum by (ns) (sum_over_time({app="a"} | logfmt | unwrap n [5m]))`,
	`sum_over_time({app="a"} | logfmt | drop duration, c, level | unwrap n [1m])`,
	`avg_over_time({app="a"} | logfmt | keep n, ns, pod | unwrap n [5m])`,
	`stddev_over_time({app="a"} | logfmt | unwrap n [3m]) without (pod, duration, c)`,
	`stdvar_over_time({app="a"} | logfmt | unwrap n [5m]) by (level)`,
	`max_over_time({app="a"} | logfmt | unwrap duration(duration) [5m]) by (ns)`,
	`max_over_time({app="a"} | logfmt | unwrap n [5m]) by (ns)`,
	`min_over_time({app="a"} | logfmt | unwrap n [5m]) by (level)`,
	`min_over_time({app="a"} | logfmt | unwrap duration(duration) [5m]) by (ns, level)`,
	`first_over_time({app="a"} | logfmt | unwrap n [5m]) by (ns)`,
	`last_over_time({app="a"} | logfmt | unwrap n [2m]) by (ns)`,
	`rate_counter({app="a"} | logfmt | keep c, pod | unwrap c [5m])`,
	`sum by (level) (rate({app="a"} | logfmt | unwrap n [5m]))`,
	`count_over_time({app="a"} | logfmt | level="error" | keep pod, level [5m])`,
	`sum by (ns) (avg_over_time({app="a"} | logfmt | unwrap n [5m]) by (ns, pod))`,
	`topk(2, quantile_over_time(0.5, {app="a"} | logfmt | unwrap n [5m]) by (ns))`,
	`max_over_time({app="a"} | logfmt | unwrap n [5m] offset 1m) by (ns) / on(ns) sum by (ns) (sum_over_time({app="a"} | logfmt | unwrap n [5m]))`,
}

// TestSpooledRangeAggregationsAgreeWithMergingEveryStream checks the
// batched, spooled merge, in slices of time when the spool is small,
// against the merge of every stream at once, bit for bit, on random
// streams with many equal timestamps, and that it reads no more than a
// batch of streams at a time.
func TestSpooledRangeAggregationsAgreeWithMergingEveryStream(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	levels := []string{"info", "warn", "error"}
	for round := range 16 {
		nStreams := 2 + r.Intn(40)
		zeros := round%3 == 1 // every value 0, -0 or NaN
		streams := map[string][]testEntry{}
		for st := range nStreams {
			var entries []testEntry
			off := time.Duration(r.Intn(60)) * time.Second
			counter := 0.0
			for range r.Intn(300) {
				// Coarse timestamps: equal ones across streams are common.
				off += time.Duration(r.Intn(4)) * time.Second
				if off >= 40*time.Minute {
					break
				}
				counter += r.Float64() * 10
				if r.Intn(50) == 0 {
					counter = 0 // a reset
				}
				// Zeros of both signs and NaN: min and max must pick the
				// same one as the merge of every stream.
				n := fmt.Sprint(r.NormFloat64() * 1e3)
				if zeros || r.Intn(3) == 0 {
					n = []string{"0", "-0", "NaN", "0", "-0"}[r.Intn(5)]
				}
				line := fmt.Sprintf("level=%s duration=%dus n=%s c=%v", levels[r.Intn(len(levels))], 1+r.Intn(900000), n, counter)
				if r.Intn(10) == 0 {
					line = fmt.Sprintf("level=%s msg=no-values", levels[r.Intn(len(levels))])
				}
				entries = append(entries, e(off, line))
			}
			streams[fmt.Sprintf(`{app="a", ns="ns%d", pod="p%d"}`, r.Intn(4), st)] = entries
		}
		src := newSource(t, streams)
		for _, q := range spoolQueries {
			step := []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 7 * time.Minute}[r.Intn(4)]
			params := []Params{rangeParams(q, 0, 45*time.Minute, step), instantParams(q, time.Duration(5+r.Intn(40))*time.Minute)}
			for _, p := range params {
				par := 1 + r.Intn(2)
				batch := 1 + r.Intn(nStreams)
				want, err := NewEngine(EngineOptions{Parallelism: par, SampleStreamBatch: 1 << 30}, nil).Query(context.Background(), src, p)
				if err != nil {
					t.Fatalf("round %d, %s: %v", round, q, err)
				}
				// A spool of a few pages (or less than one) reads the
				// range in slices of time, cut short where the spool
				// fills: the merge must not see the seams.
				spool := int64(1 << 40)
				switch r.Intn(6) {
				case 0, 1, 2:
					spool = int64(r.Intn(4)) * int64(unsafe.Sizeof(spoolPage{}))
				case 3:
					spool = 1 + r.Int63n(int64(unsafe.Sizeof(spoolPage{})))
				}
				oc := &openCounter{Source: src}
				got, err := NewEngine(EngineOptions{Parallelism: par, SampleStreamBatch: batch, SampleSpoolBytes: spool}, nil).Query(context.Background(), oc, p)
				if err != nil {
					t.Fatalf("round %d, %s, batches of %d: %v", round, q, batch, err)
				}
				what := fmt.Sprintf("round %d, %d streams, %s (instant %v, step %s, parallelism %d), batches of %d, spool of %d bytes", round, nStreams, q, p.Instant, step, par, batch, spool)
				if diff := resultDiff(want, got); diff != "" {
					t.Fatalf("%s: %s", what, diff)
				}
				if limit := par * batch; oc.max > limit && !strings.Contains(q, " / ") {
					t.Errorf("%s: %d streams read at once, want at most %d", what, oc.max, limit)
				}
			}
		}
	}
}

// resultDiff describes how two metric results differ, comparing values
// bit for bit ("" if they do not).
func resultDiff(want, got Result) string {
	if want.Type != got.Type {
		return fmt.Sprintf("type %s, want %s", got.Type, want.Type)
	}
	same := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
	switch want.Type {
	case ValueMatrix:
		if len(want.Matrix) != len(got.Matrix) {
			return fmt.Sprintf("%d series, want %d", len(got.Matrix), len(want.Matrix))
		}
		for i, w := range want.Matrix {
			g := got.Matrix[i]
			if !labels.Equal(w.Metric, g.Metric) || len(w.Points) != len(g.Points) {
				return fmt.Sprintf("series %d: %s with %d points, want %s with %d", i, g.Metric, len(g.Points), w.Metric, len(w.Points))
			}
			for j := range w.Points {
				if w.Points[j].T != g.Points[j].T || !same(w.Points[j].V, g.Points[j].V) {
					return fmt.Sprintf("series %s point %d: %v, want %v", w.Metric, j, g.Points[j], w.Points[j])
				}
			}
		}
	case ValueVector:
		if len(want.Vector) != len(got.Vector) {
			return fmt.Sprintf("%d samples, want %d", len(got.Vector), len(want.Vector))
		}
		for i, w := range want.Vector {
			g := got.Vector[i]
			if !labels.Equal(w.Metric, g.Metric) || w.Point.T != g.Point.T || !same(w.Point.V, g.Point.V) {
				return fmt.Sprintf("sample %d: %s %v, want %s %v", i, g.Metric, g.Point, w.Metric, w.Point)
			}
		}
	}
	return ""
}

// TestSpoolSlicesBoundMemory checks that a spooled range aggregation over
// more samples than its spool holds reads the range in slices, the spool
// never holding more than its budget and a page, and answers as the merge
// of every stream at once does.
func TestSpoolSlicesBoundMemory(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	streams := map[string][]testEntry{}
	// 20 streams of 2000 samples, denser in the second half hour, where
	// the first slices' density underestimates the next ones.
	for st := range 20 {
		var entries []testEntry
		for i := range 2000 {
			off := time.Duration(i) * 1500 * time.Millisecond
			if i >= 1000 {
				off = 25*time.Minute + time.Duration(i-1000)*300*time.Millisecond
			}
			entries = append(entries, e(off, fmt.Sprintf("n=%d", r.Intn(1000))))
		}
		streams[fmt.Sprintf(`{app="a", ns="ns%d", pod="p%d"}`, st%3, st)] = entries
	}
	src := newSource(t, streams)
	page := int64(unsafe.Sizeof(spoolPage{}))
	for _, q := range []string{
		`quantile_over_time(0.5, {app="a"} | logfmt | unwrap n [2m]) by (ns)`,
		`avg_over_time({app="a"} | logfmt | unwrap n [2m]) by (ns)`,
	} {
		p := rangeParams(q, 0, 40*time.Minute, time.Minute)
		want, err := NewEngine(EngineOptions{SampleStreamBatch: 1 << 30}, nil).Query(context.Background(), src, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, budget := range []int64{2 * page, 5 * page} {
			o := EngineOptions{SampleSpoolBytes: budget}
			opts := o.withDefaults()
			oc := &openCounter{Source: src}
			qr := &query{ctx: context.Background(), src: oc, p: p, opts: opts}
			expr, err := syntax.ParseSampleExpr(q)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := qr.newRootEvaluator(expr, steps{start: ns(0), end: ns(40 * time.Minute), step: int64(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			var got []float64
			for {
				_, vec, ok := ev.next()
				if !ok {
					break
				}
				for _, s := range vec {
					got = append(got, s.v)
				}
			}
			if err := ev.err(); err != nil {
				t.Fatal(err)
			}
			m := ev.(*rangeEvaluator).src
			ev.close()
			// 40000 samples in spools of at most 5 pages.
			if m.slices < 40000/(5*spoolPageLen) {
				t.Errorf("%s, spool of %d pages: %d slices", q, budget/page, m.slices)
			}
			if m.spoolPeak > budget+page {
				t.Errorf("%s, spool of %d pages: the spool held %d bytes", q, budget/page, m.spoolPeak)
			}
			if oc.max > 1 {
				t.Errorf("%s: %d streams read at once, want 1", q, oc.max)
			}
			n := 0
			for _, s := range want.Matrix {
				n += len(s.Points)
			}
			if len(got) != n {
				t.Fatalf("%s: %d points, want %d", q, len(got), n)
			}
			res, err := NewEngine(EngineOptions{SampleSpoolBytes: budget}, nil).Query(context.Background(), src, p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := resultDiff(want, res); diff != "" {
				t.Errorf("%s, spool of %d pages: %s", q, budget/page, diff)
			}
		}
	}
}
