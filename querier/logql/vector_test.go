package logql

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// At 45s with a 30s range the window is (15s,45s]:
//
//	{app="m", pod="a"} = 3 (20s, 30s, 40s)
//	{app="m", pod="b"} = 1 (45s)
//	{app="k", pod="a"} = 2 (20s, 30s)
const counts = `count_over_time({app=~"m|k"}[30s])`

// smp is an expected sample of an instant vector.
type smp struct {
	metric string
	v      float64
}

func checkVector(t *testing.T, res Result, want []smp) {
	t.Helper()
	if res.Type != ValueVector {
		t.Fatalf("type %s, want vector", res.Type)
	}
	got := res.Vector
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i, g := range got {
		if g.Metric.String() != want[i].metric || !near(g.Point.V, want[i].v) {
			t.Errorf("sample %d: got %s=%v, want %s=%v", i, g.Metric, g.Point.V, want[i].metric, want[i].v)
		}
		if g.Point.T != ms(45*s) {
			t.Errorf("sample %d at %d, want %d", i, g.Point.T, ms(45*s))
		}
	}
}

func TestVectorAggregations(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  []smp
	}{
		{"no aggregation returns every series sorted by labels", counts,
			[]smp{{`{app="k", pod="a"}`, 2}, {`{app="m", pod="a"}`, 3}, {`{app="m", pod="b"}`, 1}}},
		{"sum of everything", `sum(` + counts + `)`, []smp{{`{}`, 6}}},
		{"sum by", `sum by (pod) (` + counts + `)`, []smp{{`{pod="a"}`, 5}, {`{pod="b"}`, 1}}},
		{"sum by after the argument", `sum(` + counts + `) by (pod)`, []smp{{`{pod="a"}`, 5}, {`{pod="b"}`, 1}}},
		{"sum without", `sum without (app) (` + counts + `)`, []smp{{`{pod="a"}`, 5}, {`{pod="b"}`, 1}}},
		{"avg by", `avg by (app) (` + counts + `)`, []smp{{`{app="k"}`, 2}, {`{app="m"}`, 2}}},
		{"min", `min(` + counts + `)`, []smp{{`{}`, 1}}},
		{"max by", `max by (pod) (` + counts + `)`, []smp{{`{pod="a"}`, 3}, {`{pod="b"}`, 1}}},
		{"count by", `count by (pod) (` + counts + `)`, []smp{{`{pod="a"}`, 2}, {`{pod="b"}`, 1}}},
		// {3, 1, 2}: mean 2, variance (1+1+0)/3.
		{"stdvar", `stdvar(` + counts + `)`, []smp{{`{}`, 2.0 / 3}}},
		{"stddev", `stddev(` + counts + `)`, []smp{{`{}`, math.Sqrt(2.0 / 3)}}},
		{"topk keeps the k largest with their labels", `topk(2, ` + counts + `)`,
			[]smp{{`{app="k", pod="a"}`, 2}, {`{app="m", pod="a"}`, 3}}},
		{"topk by keeps k per group", `topk by (app) (1, ` + counts + `)`,
			[]smp{{`{app="k", pod="a"}`, 2}, {`{app="m", pod="a"}`, 3}}},
		{"bottomk", `bottomk(1, ` + counts + `)`, []smp{{`{app="m", pod="b"}`, 1}}},
		{"sort orders by ascending value", `sort(` + counts + `)`,
			[]smp{{`{app="m", pod="b"}`, 1}, {`{app="k", pod="a"}`, 2}, {`{app="m", pod="a"}`, 3}}},
		{"sort_desc orders by descending value", `sort_desc(` + counts + `)`,
			[]smp{{`{app="m", pod="a"}`, 3}, {`{app="k", pod="a"}`, 2}, {`{app="m", pod="b"}`, 1}}},
		{"sum of a pushed-down rate", `sum by (app) (rate({app=~"m|k"}[30s]))`,
			[]smp{{`{app="k"}`, 2.0 / 30}, {`{app="m"}`, 4.0 / 30}}},
		{"sum by a parsed label", `sum by (v) (count_over_time({app="m"} | logfmt v [30s]))`,
			[]smp{{`{v="2"}`, 1}, {`{v="20"}`, 1}, {`{v="3"}`, 1}, {`{v="5"}`, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVector(t, runQuery(t, metricData(t), instantParams(tt.query, 45*s)), tt.want)
		})
	}
}

func TestBinaryOperations(t *testing.T) {
	m := `count_over_time({app="m"}[30s])`
	k := `count_over_time({app="k"}[30s])`
	tests := []struct {
		name  string
		query string
		want  []smp
	}{
		{"vector(1)+vector(1) is Grafana's health check", `vector(1)+vector(1)`, []smp{{`{}`, 2}}},
		{"vector times scalar", m + ` * 2`, []smp{{`{app="m", pod="a"}`, 6}, {`{app="m", pod="b"}`, 2}}},
		{"scalar minus vector keeps operand order", `2 - ` + m, []smp{{`{app="m", pod="a"}`, -1}, {`{app="m", pod="b"}`, 1}}},
		{"division by zero is +Inf", m + ` / 0`, []smp{{`{app="m", pod="a"}`, math.Inf(1)}, {`{app="m", pod="b"}`, math.Inf(1)}}},
		{"modulo and power", `(` + m + ` % 2) ^ 2`, []smp{{`{app="m", pod="a"}`, 1}, {`{app="m", pod="b"}`, 1}}},
		{"comparison with a scalar filters", m + ` > 1`, []smp{{`{app="m", pod="a"}`, 3}}},
		{"comparison with bool returns 0 or 1", m + ` > bool 1`, []smp{{`{app="m", pod="a"}`, 1}, {`{app="m", pod="b"}`, 0}}},
		{"scalar on the left of a filter keeps the vector's value", `1 < ` + m, []smp{{`{app="m", pod="a"}`, 3}}},
		{"on() matching keeps only the on labels", m + ` / on (pod) ` + k, []smp{{`{pod="a"}`, 1.5}}},
		{"ignoring() matching drops the ignored labels", m + ` + ignoring (app) ` + k, []smp{{`{pod="a"}`, 5}}},
		{"vector comparison filters with the left value", m + ` > ignoring (app) ` + k, []smp{{`{pod="a"}`, 3}}},
		{"vector comparison with bool", m + ` == bool ignoring (app) ` + k, []smp{{`{pod="a"}`, 0}}},
		// per pod sums: a = 5, b = 1.
		{"group_left divides each series by its group's total", counts + ` / ignoring (app) group_left sum by (pod) (` + counts + `)`,
			[]smp{{`{app="k", pod="a"}`, 0.4}, {`{app="m", pod="a"}`, 0.6}, {`{app="m", pod="b"}`, 1}}},
		{"group_right", `sum by (pod) (` + counts + `) * on (pod) group_right ` + counts,
			[]smp{{`{app="k", pod="a"}`, 10}, {`{app="m", pod="a"}`, 15}, {`{app="m", pod="b"}`, 1}}},
		{"group_left copies included labels from the one side",
			m + ` * on (pod) group_left (src) label_replace(` + k + `, "src", "$1", "app", "(.*)")`,
			[]smp{{`{app="m", pod="a", src="k"}`, 6}}},
		{"and keeps left samples with a match", counts + ` and on (pod) ` + k,
			[]smp{{`{app="k", pod="a"}`, 2}, {`{app="m", pod="a"}`, 3}}},
		{"or adds right samples without a match", m + ` or ` + k,
			[]smp{{`{app="k", pod="a"}`, 2}, {`{app="m", pod="a"}`, 3}, {`{app="m", pod="b"}`, 1}}},
		{"unless keeps left samples without a match", counts + ` unless on (pod) ` + k,
			[]smp{{`{app="m", pod="b"}`, 1}}},
		{"label_replace sets the destination from the source", `label_replace(` + m + `, "p", "pod-$1", "pod", "(.*)")`,
			[]smp{{`{app="m", p="pod-a", pod="a"}`, 3}, {`{app="m", p="pod-b", pod="b"}`, 1}}},
		{"label_replace regex is anchored", `label_replace(` + m + `, "p", "x", "pod", "")`,
			[]smp{{`{app="m", pod="a"}`, 3}, {`{app="m", pod="b"}`, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVector(t, runQuery(t, metricData(t), instantParams(tt.query, 45*s)), tt.want)
		})
	}
}

func TestScalarQueries(t *testing.T) {
	res := runQuery(t, metricData(t), instantParams(`1 + 2 * 3`, 45*s))
	if res.Type != ValueScalar || res.Scalar.V != 7 || res.Scalar.T != ms(45*s) {
		t.Errorf("instant 1 + 2 * 3 = %+v, want scalar 7 at 45s", res)
	}
	res = runQuery(t, metricData(t), rangeParams(`2 > bool 1`, 30*s, 60*s, 15*s))
	checkMatrix(t, res.Matrix, map[string][]pt{`{}`: {{30, 1}, {45, 1}, {60, 1}}})
	// Loki folds comparisons between literals to 1 or 0, with or without
	// bool, and literal division or modulo by zero to NaN.
	for q, want := range map[string]float64{`2 > 1`: 1, `1 > 1`: 0, `1 == 1`: 1, `3 <= 2`: 0} {
		res := runQuery(t, metricData(t), instantParams(q, 45*s))
		if res.Type != ValueScalar || res.Scalar.V != want {
			t.Errorf("%s = %+v, want scalar %v", q, res, want)
		}
	}
	for _, q := range []string{`1 / 0`, `5 % 0`} {
		if res := runQuery(t, metricData(t), instantParams(q, 45*s)); !math.IsNaN(res.Scalar.V) {
			t.Errorf("%s = %v, want NaN as Loki folds it", q, res.Scalar.V)
		}
	}
}

func TestVectorMatchingErrors(t *testing.T) {
	for _, q := range []string{
		// two left series (k/a and m/a) share pod="a".
		counts + ` + on (pod) count_over_time({app="k"}[30s])`,
		// the "one" side of group_left has duplicates.
		`count_over_time({app="k"}[30s]) + on (pod) group_left ` + counts,
	} {
		_, err := newTestEngine().Query(context.Background(), metricData(t), instantParams(q, 45*s))
		if !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: error %v, want a bad request", q, err)
		}
	}
}

func TestRangeQueryOfVectorAndBinOp(t *testing.T) {
	// Steps 30, 45, 60: pod a counts 3, 3, 2 and pod b 1, 1, 1 per step.
	res := runQuery(t, metricData(t), rangeParams(`sum(count_over_time({app="m"}[30s])) / vector(2)`, 30*s, 60*s, 15*s))
	checkMatrix(t, res.Matrix, map[string][]pt{`{}`: {{30, 2}, {45, 2}, {60, 1.5}}})
}

func TestEngineIsSafeForConcurrentQueries(t *testing.T) {
	eng := NewEngine(EngineOptions{Registerer: prometheus.NewRegistry()}, nil)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := metricData(t)
			q := `sum by (pod) (count_over_time({app=~"m|k"}[30s]))`
			if i%2 == 1 {
				q = `topk(1, ` + counts + `)`
			}
			for range 20 {
				if _, err := eng.Query(context.Background(), src, instantParams(q, 45*s)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
