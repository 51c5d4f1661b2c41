package logql

import (
	"fmt"
	"math"
	"regexp"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/querier/logql/syntax"
)

// steps enumerates evaluation times start, start+step, ... up to and
// including end (Unix ns). A zero step (instant query) yields start once.
type steps struct {
	start, end, step int64
	n                int64 // steps yielded so far
}

func (s *steps) next() (int64, bool) {
	t := s.start + s.n*s.step
	if t > s.end || (s.step == 0 && s.n > 0) {
		return 0, false
	}
	s.n++
	return t, true
}

// sample is one series' value at a step.
type sample struct {
	metric labels.Labels
	v      float64
}

// stepEvaluator produces a query node's vector step by step. The vector
// next returns belongs to the evaluator and is valid until the next call.
// next returns false when the steps are exhausted or on error (see err).
type stepEvaluator interface {
	next() (ts int64, vec []sample, ok bool)
	err() error
	close()
}

// newEvaluator builds the evaluator tree of a metric expression.
func (q *query) newEvaluator(expr syntax.SampleExpr, st steps) (stepEvaluator, error) {
	switch e := expr.(type) {
	case *syntax.RangeAggregationExpr:
		return q.newRangeEvaluator(e, e.Grouping, st)
	case *syntax.VectorAggregationExpr:
		if st.step == 0 && !q.part && q.opts.Parallelism > 1 && streamSplittable(e) {
			return &streamSplitEvaluator{q: q, expr: e, at: st.start}, nil
		}
		if r, ok := e.Left.(*syntax.RangeAggregationExpr); ok && pushDownGrouping(e.Op, r) {
			g := e.Grouping
			if g == nil {
				g = &syntax.Grouping{}
			}
			inner, err := q.newRangeEvaluator(r, g, st)
			if err != nil {
				return nil, err
			}
			return newVectorAggEvaluator(e, inner), nil
		}
		inner, err := q.newEvaluator(e.Left, st)
		if err != nil {
			return nil, err
		}
		return newVectorAggEvaluator(e, inner), nil
	case *syntax.BinOpExpr:
		return q.newBinOpEvaluator(e, st)
	case *syntax.VectorExpr:
		return &vectorEvaluator{st: st, v: e.Val}, nil
	case *syntax.LabelReplaceExpr:
		re, err := regexp.Compile("^(?:" + e.Regex + ")$")
		if err != nil {
			return nil, badRequestf("invalid regular expression in label_replace(): %s", e.Regex)
		}
		inner, err := q.newEvaluator(e.Left, st)
		if err != nil {
			return nil, err
		}
		return &labelReplaceEvaluator{inner: inner, e: e, re: re, cache: map[uint64]labels.Labels{}}, nil
	case *syntax.LiteralExpr:
		return &vectorEvaluator{st: st, v: e.Val}, nil
	}
	return nil, badRequestf("unsupported expression %T", expr)
}

// scalarValue folds an expression made only of literals (and binary
// operations between them) to its value.
func scalarValue(expr syntax.SampleExpr) (float64, bool, error) {
	switch e := expr.(type) {
	case *syntax.LiteralExpr:
		return e.Val, true, nil
	case *syntax.BinOpExpr:
		l, lok, err := scalarValue(e.LHS)
		if err != nil || !lok {
			return 0, false, err
		}
		r, rok, err := scalarValue(e.RHS)
		if err != nil || !rok {
			return 0, false, err
		}
		if e.Op.IsSetOperator() {
			return 0, false, badRequestf("set operator %s not allowed in binary scalar expression", e.Op)
		}
		// Between two scalars a comparison yields 1 or 0, bool or not, and
		// division or modulo by zero yields NaN: Loki folds literals so.
		if (e.Op == syntax.BinDiv || e.Op == syntax.BinMod) && r == 0 {
			return math.NaN(), true, nil
		}
		v, _ := binOpValue(e.Op, l, r)
		return v, true, nil
	}
	return 0, false, nil
}

// binOpValue applies an arithmetic or comparison operator; for comparisons
// it returns 1 or 0 and whether the comparison held.
func binOpValue(op syntax.BinOp, l, r float64) (float64, bool) {
	switch op {
	case syntax.BinAdd:
		return l + r, true
	case syntax.BinSub:
		return l - r, true
	case syntax.BinMul:
		return l * r, true
	case syntax.BinDiv:
		return l / r, true
	case syntax.BinMod:
		return math.Mod(l, r), true
	case syntax.BinPow:
		return math.Pow(l, r), true
	case syntax.BinEQ:
		return boolValue(l == r)
	case syntax.BinNEQ:
		return boolValue(l != r)
	case syntax.BinGT:
		return boolValue(l > r)
	case syntax.BinGTE:
		return boolValue(l >= r)
	case syntax.BinLT:
		return boolValue(l < r)
	case syntax.BinLTE:
		return boolValue(l <= r)
	}
	panic(fmt.Sprintf("logql: binOpValue called with operator %q", op))
}

func boolValue(b bool) (float64, bool) {
	if b {
		return 1, true
	}
	return 0, false
}

// vectorEvaluator is vector(v): one unlabeled sample at every step.
type vectorEvaluator struct {
	st  steps
	v   float64
	vec [1]sample
}

func (e *vectorEvaluator) next() (int64, []sample, bool) {
	t, ok := e.st.next()
	if !ok {
		return 0, nil, false
	}
	e.vec[0] = sample{metric: labels.EmptyLabels(), v: e.v}
	return t, e.vec[:], true
}
func (e *vectorEvaluator) err() error { return nil }
func (e *vectorEvaluator) close()     {}

// labelReplaceEvaluator is label_replace(v, dst, replacement, src, regex)
// with PromQL semantics: when the anchored regex matches the value of src,
// dst is set to the expanded replacement (removed if that is empty).
type labelReplaceEvaluator struct {
	inner stepEvaluator
	e     *syntax.LabelReplaceExpr
	re    *regexp.Regexp
	cache map[uint64]labels.Labels
	buf   []byte
}

func (e *labelReplaceEvaluator) next() (int64, []sample, bool) {
	ts, vec, ok := e.inner.next()
	if !ok {
		return 0, nil, false
	}
	for i := range vec {
		h := vec[i].metric.Hash()
		if m, ok := e.cache[h]; ok {
			vec[i].metric = m
			continue
		}
		m := vec[i].metric
		src := m.Get(e.e.Src)
		if idx := e.re.FindStringSubmatchIndex(src); idx != nil {
			e.buf = e.re.ExpandString(e.buf[:0], e.e.Replacement, src, idx)
			b := labels.NewBuilder(m)
			b.Del(e.e.Dst)
			if len(e.buf) > 0 {
				b.Set(e.e.Dst, string(e.buf))
			}
			m = b.Labels()
		}
		e.cache[h] = m
		vec[i].metric = m
	}
	return ts, vec, true
}
func (e *labelReplaceEvaluator) err() error { return e.inner.err() }
func (e *labelReplaceEvaluator) close()     { e.inner.close() }
