package logql

import (
	"math"

	"github.com/plgstack/plg/querier/logql/syntax"
)

// Range aggregations whose value can be merged from partial aggregates
// (count, sum, min, max, first, last) do not keep a window's samples.
// Every window (t-range, t] of the query starts and ends on a boundary of
// the grid {t_k} ∪ {t_k - range}; a series keeps one bucket per grid cell
// holding samples, so a window is a run of whole buckets and a series
// costs O(range/step) memory however many lines fall in its window.

// bucket aggregates one series' samples in one grid cell.
type bucket struct {
	end         int64 // the cell's inclusive upper bound
	count       float64
	sum         float64
	min, max    float64
	first, last float64
	// Where min and max were first seen (timestamp, spool run), kept
	// only in a spool's partials (see addPartial).
	minAt, maxAt spoolPos
}

// spoolPos orders samples of a spool: by timestamp, then run.
type spoolPos struct {
	ts  int64
	run int
}

func (a spoolPos) before(b spoolPos) bool { return a.ts < b.ts || a.ts == b.ts && a.run < b.run }

// bucketed reports whether op is evaluated with buckets. Sums of
// unwrapped (fractional) values are bucketed only when a window is a
// single cell (range <= step, or an instant query): adding per-cell sums
// would associate the additions differently from Loki's left-to-right sum
// and could change the last digit of the result. Counts and byte sums are
// integers, exact either way.
func bucketed(op syntax.RangeOp, unwrapped bool, rangeNs, step int64) bool {
	switch op {
	case syntax.RangeCount, syntax.RangeBytes, syntax.RangeBytesRate,
		syntax.RangeMin, syntax.RangeMax, syntax.RangeFirst, syntax.RangeLast, syntax.RangeAbsent:
		return true
	case syntax.RangeRate, syntax.RangeSum:
		return !unwrapped || step == 0 || rangeNs <= step
	}
	return false
}

// cellEnd returns the upper bound of the grid cell holding ts: the
// smallest window end (t_k - offset) or window start (t_k - offset -
// range) at or after ts.
func (r *rangeEvaluator) cellEnd(ts int64) int64 {
	s0 := r.st.start - r.offset
	if r.st.step == 0 {
		return s0
	}
	a := s0 + ceilDiv(ts-s0, r.st.step)*r.st.step
	b := s0 - r.rangeNs + ceilDiv(ts-(s0-r.rangeNs), r.st.step)*r.st.step
	return min(a, b)
}

// ceilDiv is ⌈a/b⌉ for b > 0.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a > 0 {
		q++
	}
	return q
}

// addToBucket adds a sample to the series' last bucket, or opens one.
func (w *window) addToBucket(end int64, v float64) {
	if n := len(w.bs); n > w.head && w.bs[n-1].end == end {
		b := &w.bs[n-1]
		b.count++
		b.sum += v
		if v < b.min || math.IsNaN(b.min) {
			b.min = v
		}
		if v > b.max || math.IsNaN(b.max) {
			b.max = v
		}
		b.last = v
		return
	}
	w.bs = append(w.bs, bucket{end: end, count: 1, sum: v, min: v, max: v, first: v, last: v})
}

// addSummary adds n samples of total v that share one cell, known only
// in aggregate (a Source's summary, see Summarizer). Only count and sum
// stay exact, so summaries are asked for only where they alone are read.
func (w *window) addSummary(end int64, n int64, v float64) {
	if k := len(w.bs); k > w.head && w.bs[k-1].end == end {
		w.bs[k-1].count += float64(n)
		w.bs[k-1].sum += v
		return
	}
	w.bs = append(w.bs, bucket{end: end, count: float64(n), sum: v, min: math.NaN(), max: math.NaN(), first: math.NaN(), last: math.NaN()})
}

// addPartial merges p, the aggregate of a spool run's samples of the
// series in one cell, into the series' last bucket, or opens one; the
// partials come in the order of their first samples. Count, min, max and
// first stay what addToBucket makes of the samples in time order: min
// and max are the earliest of the values equal to the least (greatest)
// one, NaN only if every value is, so only +0 and -0 need the positions;
// the first sample is the bucket's opener. Sum and last depend on the
// order of the samples, so their aggregations are never given partials.
func (w *window) addPartial(p *bucket) {
	n := len(w.bs)
	if n == w.head || w.bs[n-1].end != p.end {
		w.bs = append(w.bs, *p)
		return
	}
	b := &w.bs[n-1]
	b.count += p.count
	b.sum += p.sum
	if p.min < b.min || math.IsNaN(b.min) || p.min == b.min && p.minAt.before(b.minAt) {
		b.min, b.minAt = p.min, p.minAt
	}
	if p.max > b.max || math.IsNaN(b.max) || p.max == b.max && p.maxAt.before(b.maxAt) {
		b.max, b.maxAt = p.max, p.maxAt
	}
	b.last = p.last
}

// aggregateBuckets merges the buckets of a window.
func (r *rangeEvaluator) aggregateBuckets(bs []bucket) float64 {
	seconds := float64(r.rangeNs) / 1e9
	var count, sum float64
	for i := range bs {
		count += bs[i].count
		sum += bs[i].sum
	}
	switch r.op {
	case syntax.RangeCount:
		return count
	case syntax.RangeRate:
		if r.unwrapped {
			return sum / seconds
		}
		return count / seconds
	case syntax.RangeBytes, syntax.RangeSum:
		return sum
	case syntax.RangeBytesRate:
		return sum / seconds
	case syntax.RangeMin:
		v := bs[0].min
		for _, b := range bs[1:] {
			if b.min < v || math.IsNaN(v) {
				v = b.min
			}
		}
		return v
	case syntax.RangeMax:
		v := bs[0].max
		for _, b := range bs[1:] {
			if b.max > v || math.IsNaN(v) {
				v = b.max
			}
		}
		return v
	case syntax.RangeFirst:
		return bs[0].first
	case syntax.RangeLast:
		return bs[len(bs)-1].last
	case syntax.RangeAbsent:
		return 1
	}
	return math.NaN()
}
