package logql

import (
	"math"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/querier/logql/syntax"
)

// vectorAggEvaluator is a vector aggregation (sum, avg, min, max, count,
// stddev, stdvar, topk, bottomk, sort, sort_desc) with by/without, with
// Prometheus' (and Loki's) semantics: stddev and stdvar are population
// statistics, topk/bottomk keep the k largest/smallest samples of each
// group with all their labels.
type vectorAggEvaluator struct {
	inner   stepEvaluator
	op      syntax.VectorOp
	k       int
	groups  []string
	without bool

	groupsByKey map[uint64]*aggGroup
	order       []*aggGroup
	free        []*aggGroup
	lb          *labels.Builder
	keyBuf      []byte
	out         []sample
}

type aggGroup struct {
	metric labels.Labels
	value  float64
	mean   float64
	count  int
	heap   []sample // topk, bottomk, sort, sort_desc
}

func newVectorAggEvaluator(e *syntax.VectorAggregationExpr, inner stepEvaluator) *vectorAggEvaluator {
	ev := &vectorAggEvaluator{
		inner:       inner,
		op:          e.Op,
		k:           e.Param,
		groupsByKey: map[uint64]*aggGroup{},
		lb:          labels.NewBuilder(labels.EmptyLabels()),
	}
	if e.Grouping != nil {
		ev.groups = slices.Clone(e.Grouping.Groups)
		slices.Sort(ev.groups)
		ev.without = e.Grouping.Without
	}
	return ev
}

func (e *vectorAggEvaluator) groupKey(m labels.Labels) uint64 {
	var h uint64
	if e.without {
		h, e.keyBuf = m.HashWithoutLabels(e.keyBuf, e.groups...)
	} else {
		h, e.keyBuf = m.HashForLabels(e.keyBuf, e.groups...)
	}
	return h
}

func (e *vectorAggEvaluator) groupMetric(m labels.Labels) labels.Labels {
	e.lb.Reset(m)
	if e.without {
		e.lb.Del(e.groups...)
		e.lb.Del(model.MetricNameLabel)
	} else {
		e.lb.Keep(e.groups...)
	}
	return e.lb.Labels()
}

func (e *vectorAggEvaluator) next() (int64, []sample, bool) {
	ts, vec, ok := e.inner.next()
	if !ok {
		return 0, nil, false
	}
	e.out = e.out[:0]
	if (e.op == syntax.VectorTopK || e.op == syntax.VectorBottomK) && e.k < 1 {
		return ts, e.out, true
	}
	clear(e.groupsByKey)
	e.free = append(e.free, e.order...)
	e.order = e.order[:0]
	for _, s := range vec {
		key := e.groupKey(s.metric)
		g, ok := e.groupsByKey[key]
		if !ok {
			g = e.newGroup(s)
			e.groupsByKey[key] = g
			e.order = append(e.order, g)
			continue
		}
		e.add(g, s)
	}
	for _, g := range e.order {
		switch e.op {
		case syntax.VectorAvg:
			g.value = g.mean
		case syntax.VectorCount:
			g.value = float64(g.count)
		case syntax.VectorStddev:
			g.value = math.Sqrt(g.value / float64(g.count))
		case syntax.VectorStdvar:
			g.value = g.value / float64(g.count)
		case syntax.VectorTopK, syntax.VectorSortDesc:
			slices.SortStableFunc(g.heap, func(a, b sample) int { return compareDesc(a.v, b.v) })
			e.out = append(e.out, g.heap...)
			continue
		case syntax.VectorBottomK, syntax.VectorSort:
			slices.SortStableFunc(g.heap, func(a, b sample) int { return compareDesc(b.v, a.v) })
			e.out = append(e.out, g.heap...)
			continue
		}
		e.out = append(e.out, sample{metric: g.metric, v: g.value})
	}
	return ts, e.out, true
}

// compareDesc orders larger values first, NaN last.
func compareDesc(a, b float64) int {
	switch {
	case math.IsNaN(a) && math.IsNaN(b):
		return 0
	case math.IsNaN(a):
		return 1
	case math.IsNaN(b):
		return -1
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

func (e *vectorAggEvaluator) newGroup(s sample) *aggGroup {
	var g *aggGroup
	if n := len(e.free); n > 0 {
		g, e.free = e.free[n-1], e.free[:n-1]
		*g = aggGroup{heap: g.heap[:0]}
	} else {
		g = &aggGroup{}
	}
	g.value, g.mean, g.count = s.v, s.v, 1
	switch e.op {
	case syntax.VectorStddev, syntax.VectorStdvar:
		g.value = 0
	case syntax.VectorTopK, syntax.VectorBottomK, syntax.VectorSort, syntax.VectorSortDesc:
		g.heap = append(g.heap, s)
		return g
	}
	g.metric = e.groupMetric(s.metric)
	return g
}

func (e *vectorAggEvaluator) add(g *aggGroup, s sample) {
	switch e.op {
	case syntax.VectorSum:
		g.value += s.v
	case syntax.VectorAvg:
		g.count++
		g.mean += (s.v - g.mean) / float64(g.count)
	case syntax.VectorMax:
		if g.value < s.v || math.IsNaN(g.value) {
			g.value = s.v
		}
	case syntax.VectorMin:
		if g.value > s.v || math.IsNaN(g.value) {
			g.value = s.v
		}
	case syntax.VectorCount:
		g.count++
	case syntax.VectorStddev, syntax.VectorStdvar:
		g.count++
		delta := s.v - g.mean
		g.mean += delta / float64(g.count)
		g.value += delta * (s.v - g.mean)
	case syntax.VectorTopK:
		e.keep(g, s, func(worst, v float64) bool { return worst < v || math.IsNaN(worst) })
	case syntax.VectorBottomK:
		e.keep(g, s, func(worst, v float64) bool { return worst > v || math.IsNaN(worst) })
	case syntax.VectorSort, syntax.VectorSortDesc:
		g.heap = append(g.heap, s)
	}
}

// keep adds s to the group's k best samples; better(worst, v) reports
// whether v should replace the current worst one.
func (e *vectorAggEvaluator) keep(g *aggGroup, s sample, better func(worst, v float64) bool) {
	if len(g.heap) < e.k {
		g.heap = append(g.heap, s)
		return
	}
	worst := 0
	for i := 1; i < len(g.heap); i++ {
		if better(g.heap[i].v, g.heap[worst].v) {
			worst = i
		}
	}
	if better(g.heap[worst].v, s.v) {
		g.heap[worst] = s
	}
}

func (e *vectorAggEvaluator) err() error { return e.inner.err() }
func (e *vectorAggEvaluator) close()     { e.inner.close() }
