package logql

import (
	"errors"
	"slices"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/querier/logql/syntax"
)

// newBinOpEvaluator builds a binary operation. A side made of literals
// only is a scalar applied to every sample of the other side; otherwise
// both sides are vectors matched with on/ignoring and group_left/right.
func (q *query) newBinOpEvaluator(e *syntax.BinOpExpr, st steps) (stepEvaluator, error) {
	if v, ok, err := scalarValue(e.LHS); err != nil {
		return nil, err
	} else if ok {
		rhs, err := q.newEvaluator(e.RHS, st)
		if err != nil {
			return nil, err
		}
		return &scalarBinOpEvaluator{inner: rhs, op: e.Op, scalar: v, scalarLeft: true, returnBool: e.ReturnBool}, nil
	}
	if v, ok, err := scalarValue(e.RHS); err != nil {
		return nil, err
	} else if ok {
		lhs, err := q.newEvaluator(e.LHS, st)
		if err != nil {
			return nil, err
		}
		return &scalarBinOpEvaluator{inner: lhs, op: e.Op, scalar: v, returnBool: e.ReturnBool}, nil
	}
	lhs, err := q.newEvaluator(e.LHS, st)
	if err != nil {
		return nil, err
	}
	rhs, err := q.newEvaluator(e.RHS, st)
	if err != nil {
		lhs.close()
		return nil, err
	}
	m := e.Matching
	if m == nil {
		m = &syntax.VectorMatching{Card: syntax.CardOneToOne}
	}
	return &binOpEvaluator{lhs: lhs, rhs: rhs, op: e.Op, returnBool: e.ReturnBool, m: m, matching: slices.Sorted(slices.Values(m.MatchingLabels))}, nil
}

// scalarBinOpEvaluator applies `scalar op vector` or `vector op scalar`.
// A comparison without bool keeps the samples for which it holds, with
// the vector's value; with bool every sample becomes 0 or 1.
type scalarBinOpEvaluator struct {
	inner      stepEvaluator
	op         syntax.BinOp
	scalar     float64
	scalarLeft bool
	returnBool bool
	out        []sample
}

func (e *scalarBinOpEvaluator) next() (int64, []sample, bool) {
	ts, vec, ok := e.inner.next()
	if !ok {
		return 0, nil, false
	}
	e.out = e.out[:0]
	if e.op.IsSetOperator() {
		return ts, e.out, true // rejected by the parser; nothing matches a scalar
	}
	for _, s := range vec {
		l, r := s.v, e.scalar
		if e.scalarLeft {
			l, r = r, l
		}
		v, held := binOpValue(e.op, l, r)
		if e.op.IsComparison() && !e.returnBool {
			if !held {
				continue
			}
			v = s.v
		}
		e.out = append(e.out, sample{metric: s.metric, v: v})
	}
	return ts, e.out, true
}
func (e *scalarBinOpEvaluator) err() error { return e.inner.err() }
func (e *scalarBinOpEvaluator) close()     { e.inner.close() }

// binOpEvaluator is a binary operation between two vectors, with
// Prometheus' vector matching as Loki implements it.
type binOpEvaluator struct {
	lhs, rhs   stepEvaluator
	op         syntax.BinOp
	returnBool bool
	m          *syntax.VectorMatching
	fail       error

	matching     []string // m.MatchingLabels, sorted
	lsigs, rsigs []uint64
	lb           *labels.Builder
	buf          []byte
	out          []sample
}

// Errors of vector matching, with Prometheus' wording.
var (
	errManyToManyLeft  = errors.New("found duplicate series on the left hand-side;many-to-many matching not allowed: matching labels must be unique on one side")
	errManyToManyRight = errors.New("found duplicate series on the right hand-side;many-to-many matching not allowed: matching labels must be unique on one side")
	errMultipleMatches = errors.New("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")
	errGroupingMatches = errors.New("multiple matches for labels: grouping labels must ensure unique matches")
)

func (e *binOpEvaluator) next() (int64, []sample, bool) {
	if e.fail != nil {
		return 0, nil, false
	}
	ts, lvec, lok := e.lhs.next()
	_, rvec, rok := e.rhs.next()
	if !lok || !rok {
		return 0, nil, false
	}
	if e.lb == nil {
		e.lb = labels.NewBuilder(labels.EmptyLabels())
	}
	e.lsigs = e.signatures(e.lsigs[:0], lvec)
	e.rsigs = e.signatures(e.rsigs[:0], rvec)
	e.out = e.out[:0]
	switch e.op {
	case syntax.BinAnd:
		e.and(lvec, rvec)
	case syntax.BinOr:
		e.or(lvec, rvec)
	case syntax.BinUnless:
		e.unless(lvec, rvec)
	default:
		if err := e.arith(lvec, rvec); err != nil {
			e.fail = badRequestf("%w", err)
			return 0, nil, false
		}
	}
	return ts, e.out, true
}

// signatures hashes each sample's matching labels: the on() labels, all
// but the ignoring() ones, or all of them.
func (e *binOpEvaluator) signatures(dst []uint64, vec []sample) []uint64 {
	for _, s := range vec {
		var h uint64
		switch {
		case e.m.On:
			h, e.buf = s.metric.HashForLabels(e.buf, e.matching...)
		case len(e.matching) > 0:
			h, e.buf = s.metric.HashWithoutLabels(e.buf, e.matching...)
		default:
			h = s.metric.Hash()
		}
		dst = append(dst, h)
	}
	return dst
}

func (e *binOpEvaluator) and(lvec, rvec []sample) {
	if len(lvec) == 0 || len(rvec) == 0 {
		return
	}
	right := make(map[uint64]struct{}, len(rvec))
	for _, s := range e.rsigs {
		right[s] = struct{}{}
	}
	for i, s := range lvec {
		if _, ok := right[e.lsigs[i]]; ok {
			e.out = append(e.out, s)
		}
	}
}

func (e *binOpEvaluator) or(lvec, rvec []sample) {
	left := make(map[uint64]struct{}, len(lvec))
	for i, s := range lvec {
		left[e.lsigs[i]] = struct{}{}
		e.out = append(e.out, s)
	}
	for i, s := range rvec {
		if _, ok := left[e.rsigs[i]]; !ok {
			e.out = append(e.out, s)
		}
	}
}

func (e *binOpEvaluator) unless(lvec, rvec []sample) {
	right := make(map[uint64]struct{}, len(rvec))
	for _, s := range e.rsigs {
		right[s] = struct{}{}
	}
	for i, s := range lvec {
		if _, ok := right[e.lsigs[i]]; !ok {
			e.out = append(e.out, s)
		}
	}
}

// arith applies an arithmetic or comparison operator between matched
// samples: one-to-one, or many-to-one / one-to-many with group_left /
// group_right, whose "one" side must be unique per signature.
func (e *binOpEvaluator) arith(lvec, rvec []sample) error {
	lsigs, rsigs := e.lsigs, e.rsigs
	oneToMany := e.m.Card == syntax.CardOneToMany
	if oneToMany {
		lvec, rvec = rvec, lvec
		lsigs, rsigs = rsigs, lsigs
	}
	// rvec is the "one" side now.
	ones := make(map[uint64]int, len(rvec))
	for i := range rvec {
		if _, dup := ones[rsigs[i]]; dup {
			if oneToMany {
				return errManyToManyLeft
			}
			return errManyToManyRight
		}
		ones[rsigs[i]] = i
	}
	matchedOne := map[uint64]struct{}{}
	matchedMany := map[uint64]map[uint64]struct{}{}
	for i, ls := range lvec {
		j, ok := ones[lsigs[i]]
		if !ok {
			continue
		}
		rs := rvec[j]
		metric := e.resultMetric(ls.metric, rs.metric)
		if e.m.Card == syntax.CardOneToOne {
			if _, dup := matchedOne[lsigs[i]]; dup {
				return errMultipleMatches
			}
			matchedOne[lsigs[i]] = struct{}{}
		} else {
			set := matchedMany[lsigs[i]]
			if set == nil {
				set = map[uint64]struct{}{}
				matchedMany[lsigs[i]] = set
			}
			h := metric.Hash()
			if _, dup := set[h]; dup {
				return errGroupingMatches
			}
			set[h] = struct{}{}
		}
		l, r := ls, rs
		if oneToMany {
			l, r = r, l
		}
		v, held := binOpValue(e.op, l.v, r.v)
		if e.op.IsComparison() && !e.returnBool {
			if !held {
				continue
			}
			v = l.v
		}
		e.out = append(e.out, sample{metric: metric, v: v})
	}
	return nil
}

// resultMetric is the labels of a matched pair: the "many" side's labels,
// reduced to the on() labels (or without the ignoring() ones) for
// one-to-one matching, plus group_x's extra labels from the "one" side.
func (e *binOpEvaluator) resultMetric(many, one labels.Labels) labels.Labels {
	e.lb.Reset(many)
	if e.m.Card == syntax.CardOneToOne {
		if e.m.On {
			e.lb.Keep(e.m.MatchingLabels...)
		} else {
			e.lb.Del(e.m.MatchingLabels...)
		}
	}
	for _, n := range e.m.Include {
		if v := one.Get(n); v != "" {
			e.lb.Set(n, v)
		} else {
			e.lb.Del(n)
		}
	}
	return e.lb.Labels()
}

func (e *binOpEvaluator) err() error {
	if e.fail != nil {
		return e.fail
	}
	if err := e.lhs.err(); err != nil {
		return err
	}
	return e.rhs.err()
}

func (e *binOpEvaluator) close() {
	e.lhs.close()
	e.rhs.close()
}
