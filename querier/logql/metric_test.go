package logql

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// metricData is the data set of the metric tests. Line lengths (for the
// bytes aggregations) are given in comments.
//
//	{app="m", pod="a"}: 10s v=1 (17 bytes), 20s v=3 (17), 30s v=2 (15),
//	                    40s v=5 (16), 60s v=4 (15)
//	{app="m", pod="b"}: 15s v=10 (15), 45s v=20 (15)
//	{app="k", pod="a"}: 20s, 30s
func metricData(t testing.TB) *memSource {
	return newSource(t, map[string][]testEntry{
		`{app="m", pod="a"}`: {
			e(10*s, `v=1 d=100ms b=1KB`), // 17 bytes
			e(20*s, `v=3 d=200ms b=2KB`), // 17
			e(30*s, `v=2 d=1s b=512B`),   // 15
			e(40*s, `v=5 d=50ms b=3KB`),  // 16
			e(60*s, `v=4 d=2s b=1KiB`),   // 15
		},
		`{app="m", pod="b"}`: {
			e(15*s, `v=10 d=1s b=1KB`), // 15
			e(45*s, `v=20 d=3s b=2KB`), // 15
		},
		`{app="k", pod="a"}`: {
			e(20*s, `{"level":"info"}`),
			e(30*s, `{"level":"info"}`),
		},
	})
}

// pt is an expected point: seconds after t0 and value.
type pt struct {
	sec float64
	v   float64
}

// matrixString renders a matrix for error messages.
func matrixString(m []Series) string {
	out := ""
	for _, s := range m {
		out += s.Metric.String() + ":"
		for _, p := range s.Points {
			out += fmt.Sprintf(" %gs=%g", float64(p.T-t0.UnixMilli())/1000, p.V)
		}
		out += "\n"
	}
	return out
}

func near(a, b float64) bool {
	if a == b {
		return true
	}
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

// checkMatrix compares a matrix with expected series, in label order.
func checkMatrix(t *testing.T, got []Series, want map[string][]pt) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d series, want %d:\n%s", len(got), len(want), matrixString(got))
	}
	for i, s := range got {
		if i > 0 && labels.Compare(got[i-1].Metric, s.Metric) >= 0 {
			t.Errorf("series not sorted by labels:\n%s", matrixString(got))
		}
		w, ok := want[s.Metric.String()]
		if !ok {
			t.Fatalf("unexpected series %s:\n%s", s.Metric, matrixString(got))
		}
		if len(s.Points) != len(w) {
			t.Fatalf("series %s: got %d points, want %d:\n%s", s.Metric, len(s.Points), len(w), matrixString(got))
		}
		for j, p := range s.Points {
			if p.T != t0.UnixMilli()+int64(w[j].sec*1000) || !near(p.V, w[j].v) {
				t.Errorf("series %s point %d: got %gs=%v, want %gs=%v", s.Metric, j, float64(p.T-t0.UnixMilli())/1000, p.V, w[j].sec, w[j].v)
			}
		}
	}
}

func runQuery(t *testing.T, src Source, p Params) Result {
	t.Helper()
	res, err := newTestEngine().Query(context.Background(), src, p)
	if err != nil {
		t.Fatalf("query %s: %v", p.Query, err)
	}
	return res
}

// Steps at 30s, 45s and 60s with a 30s range: windows (0,30], (15,45],
// (30,60]. Pod a has samples at 10,20,30 | 20,30,40 | 40,60; pod b at
// 15 | 45 | 45.
func TestRangeAggregations(t *testing.T) {
	a, b := `{app="m", pod="a"}`, `{app="m", pod="b"}`
	tests := []struct {
		name  string
		query string
		want  map[string][]pt
	}{
		{"count_over_time counts lines in (t-range, t]", `count_over_time({app="m"}[30s])`,
			map[string][]pt{a: {{30, 3}, {45, 3}, {60, 2}}, b: {{30, 1}, {45, 1}, {60, 1}}}},
		{"rate is count per second of range", `rate({app="m"}[30s])`,
			map[string][]pt{a: {{30, 0.1}, {45, 0.1}, {60, 2.0 / 30}}, b: {{30, 1.0 / 30}, {45, 1.0 / 30}, {60, 1.0 / 30}}}},
		// a: 17+17+15, 17+15+16, 16+15.
		{"bytes_over_time sums line lengths", `bytes_over_time({app="m"}[30s])`,
			map[string][]pt{a: {{30, 49}, {45, 48}, {60, 31}}, b: {{30, 15}, {45, 15}, {60, 15}}}},
		{"bytes_rate", `bytes_rate({app="m"}[30s])`,
			map[string][]pt{a: {{30, 49.0 / 30}, {45, 48.0 / 30}, {60, 31.0 / 30}}, b: {{30, 0.5}, {45, 0.5}, {60, 0.5}}}},
		{"offset shifts the windows back", `count_over_time({app="m"}[30s] offset 15s)`,
			map[string][]pt{a: {{30, 1}, {45, 3}, {60, 3}}, b: {{30, 1}, {45, 1}, {60, 1}}}},
		{"sum_over_time of unwrapped values", `sum_over_time({app="m"} | logfmt v | unwrap v [30s])`,
			map[string][]pt{a: {{30, 6}, {45, 10}, {60, 9}}, b: {{30, 10}, {45, 20}, {60, 20}}}},
		{"rate of unwrapped values sums per second", `rate({app="m"} | logfmt v | unwrap v [30s])`,
			map[string][]pt{a: {{30, 0.2}, {45, 10.0 / 30}, {60, 0.3}}, b: {{30, 10.0 / 30}, {45, 20.0 / 30}, {60, 20.0 / 30}}}},
		{"avg_over_time", `avg_over_time({app="m"} | logfmt v | unwrap v [30s])`,
			map[string][]pt{a: {{30, 2}, {45, 10.0 / 3}, {60, 4.5}}, b: {{30, 10}, {45, 20}, {60, 20}}}},
		{"min_over_time", `min_over_time({app="m"} | logfmt v | unwrap v [30s])`,
			map[string][]pt{a: {{30, 1}, {45, 2}, {60, 4}}, b: {{30, 10}, {45, 20}, {60, 20}}}},
		{"max_over_time", `max_over_time({app="m"} | logfmt v | unwrap v [30s])`,
			map[string][]pt{a: {{30, 3}, {45, 5}, {60, 5}}, b: {{30, 10}, {45, 20}, {60, 20}}}},
		{"first_over_time", `first_over_time({app="m"} | logfmt v | unwrap v [30s])`,
			map[string][]pt{a: {{30, 1}, {45, 3}, {60, 5}}, b: {{30, 10}, {45, 20}, {60, 20}}}},
		{"last_over_time", `last_over_time({app="m"} | logfmt v | unwrap v [30s])`,
			map[string][]pt{a: {{30, 2}, {45, 5}, {60, 4}}, b: {{30, 10}, {45, 20}, {60, 20}}}},
		// a: {1,3,2} mean 2 -> 2/3; {3,2,5} mean 10/3 -> 42/27; {5,4} -> 1/4.
		{"stdvar_over_time is the population variance", `stdvar_over_time({app="m"} | logfmt v | unwrap v [30s])`,
			map[string][]pt{a: {{30, 2.0 / 3}, {45, 42.0 / 27}, {60, 0.25}}, b: {{30, 0}, {45, 0}, {60, 0}}}},
		{"stddev_over_time", `stddev_over_time({app="m"} | logfmt v | unwrap v [30s])`,
			map[string][]pt{a: {{30, math.Sqrt(2.0 / 3)}, {45, math.Sqrt(42.0 / 27)}, {60, 0.5}}, b: {{30, 0}, {45, 0}, {60, 0}}}},
		{"quantile_over_time interpolates", `quantile_over_time(0.5, {app="m"} | logfmt v | unwrap v [30s])`,
			map[string][]pt{a: {{30, 2}, {45, 3}, {60, 4.5}}, b: {{30, 10}, {45, 20}, {60, 20}}}},
		// a: 0.1+0.2+1, 0.2+1+0.05, 0.05+2 seconds.
		{"unwrap duration converts to seconds", `sum_over_time({app="m"} | logfmt d | unwrap duration(d) [30s])`,
			map[string][]pt{a: {{30, 1.3}, {45, 1.25}, {60, 2.05}}, b: {{30, 1}, {45, 3}, {60, 3}}}},
		{"unwrap duration_seconds", `max_over_time({app="m"} | logfmt d | unwrap duration_seconds(d) [30s])`,
			map[string][]pt{a: {{30, 1}, {45, 1}, {60, 2}}, b: {{30, 1}, {45, 3}, {60, 3}}}},
		// a: max(1000, 2000, 512), max(2000, 512, 3000), max(3000, 1024).
		{"unwrap bytes converts units", `max_over_time({app="m"} | logfmt b | unwrap bytes(b) [30s])`,
			map[string][]pt{a: {{30, 2000}, {45, 3000}, {60, 3000}}, b: {{30, 1000}, {45, 2000}, {60, 2000}}}},
		{"unwrap grouping by keeps only the listed labels", `max_over_time({app=~"m"} | logfmt v | unwrap v [30s]) by (app)`,
			map[string][]pt{`{app="m"}`: {{30, 10}, {45, 20}, {60, 20}}}},
		{"errors filtered after unwrap drop the samples", `sum_over_time({app="m"} | logfmt d | unwrap d | __error__="" [30s])`,
			map[string][]pt{}},
		{"absent_over_time of a missing stream is 1 with the equality labels", `absent_over_time({app="m", pod="zz"}[30s])`,
			map[string][]pt{`{app="m", pod="zz"}`: {{30, 1}, {45, 1}, {60, 1}}}},
		{"absent_over_time of present streams is empty", `absent_over_time({app="m"}[30s])`,
			map[string][]pt{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runQuery(t, metricData(t), rangeParams(tt.query, 30*s, 60*s, 15*s))
			if res.Type != ValueMatrix {
				t.Fatalf("type %s, want matrix", res.Type)
			}
			checkMatrix(t, res.Matrix, tt.want)
		})
	}
}

func TestRangeAggregationSteps(t *testing.T) {
	a := `{app="m", pod="a"}`
	tests := []struct {
		name  string
		query string
		p     Params
		want  map[string][]pt
	}{
		{"end is inclusive when it falls on a step", `count_over_time({app="m", pod="a"}[10s])`,
			rangeParams("", 20*s, 40*s, 10*s), map[string][]pt{a: {{20, 1}, {30, 1}, {40, 1}}}},
		{"end off the step grid is not evaluated", `count_over_time({app="m", pod="a"}[10s])`,
			rangeParams("", 20*s, 45*s, 10*s), map[string][]pt{a: {{20, 1}, {30, 1}, {40, 1}}}},
		// windows (45,50], (50,55] are empty for pod=~"a"; (55,60] has 60s.
		{"absent_over_time drops labels matched otherwise than by equality", `absent_over_time({app="m", pod=~"a"}[5s])`,
			rangeParams("", 50*s, 60*s, 5*s), map[string][]pt{`{app="m"}`: {{50, 1}, {55, 1}}}},
		// step 20s > range 10s: windows (10,20], (30,40], (50,60].
		{"steps larger than the range skip samples between windows", `count_over_time({app="m", pod="a"}[10s])`,
			rangeParams("", 20*s, 60*s, 20*s), map[string][]pt{a: {{20, 1}, {40, 1}, {60, 1}}}},
		// samples 20s:3 30s:2 40s:5, reset at 30s: increase 5-3+3 = 5,
		// extrapolated as Loki does (see rateCounter).
		{"rate_counter handles counter resets", `rate_counter({app="m", pod="a"} | logfmt v | unwrap v [30s])`,
			rangeParams("", 45*s, 45*s, 15*s), map[string][]pt{a: {{45, 5 * (2e7 + 30) / 2e7 / 30}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.p.Query = tt.query
			res := runQuery(t, metricData(t), tt.p)
			checkMatrix(t, res.Matrix, tt.want)
		})
	}
}

func TestMetricQueryPipelineErrorsFailTheQuery(t *testing.T) {
	tests := []struct {
		name, query, errType string
	}{
		{"unconvertible unwrapped value", `sum_over_time({app="m"} | logfmt d | unwrap d [30s])`, "SampleExtractionErr"},
		{"parser error", `count_over_time({app="m"} | json [30s])`, "JSONParserErr"},
		{"parser error under a pushed-down sum", `sum(count_over_time({app="m"} | json [30s]))`, "JSONParserErr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTestEngine().Query(context.Background(), metricData(t), rangeParams(tt.query, 30*s, 60*s, 15*s))
			var pe *PipelineError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want *PipelineError", err)
			}
			if pe.ErrorType != tt.errType || !errors.Is(err, ErrBadRequest) || !errors.Is(err, ErrPipeline) {
				t.Errorf("error type %q (want %q), bad request %v", pe.ErrorType, tt.errType, errors.Is(err, ErrBadRequest))
			}
		})
	}
	res := runQuery(t, metricData(t), rangeParams(`count_over_time({app="m"} | json | __error__="" [30s])`, 30*s, 60*s, 15*s))
	checkMatrix(t, res.Matrix, map[string][]pt{})
}

func TestUnwrapSkipsLinesWithoutTheLabel(t *testing.T) {
	src := newSource(t, map[string][]testEntry{`{app="u"}`: {
		e(10*s, `v=1`), e(15*s, `w=2`), e(20*s, `v=`), e(25*s, `v=4`),
	}})
	// Only 10s and 25s carry a value; the others are skipped, not errors.
	res := runQuery(t, src, rangeParams(`sum_over_time({app="u"} | logfmt | unwrap v [30s])`, 30*s, 30*s, 15*s))
	checkMatrix(t, res.Matrix, map[string][]pt{`{app="u"}`: {{30, 5}}})
}

func TestRangeQueryWithoutStepUsesLokisDefault(t *testing.T) {
	for _, tt := range []struct {
		start, end time.Duration
		want       time.Duration
	}{
		{0, time.Minute, time.Second},          // 60s/250 rounds down to 0: at least 1s
		{0, time.Hour, 14 * time.Second},       // 3600s/250 = 14.4
		{0, 24 * time.Hour, 345 * time.Second}, // 86400s/250 = 345.6
		{time.Hour, time.Hour, time.Second},    // empty range
	} {
		if got := DefaultStep(at(tt.start), at(tt.end)); got != tt.want {
			t.Errorf("DefaultStep(%s..%s) = %s, want %s", tt.start, tt.end, got, tt.want)
		}
	}
	// 10s..60s by the default 1s step: the window (t-30s, t] is empty
	// before 15s, then holds pod b's 15s line until 44s and its 45s line
	// from 45s on: 46 points of value 1, from 15s to 60s.
	res := runQuery(t, metricData(t), rangeParams(`count_over_time({app="m", pod="b"}[30s])`, 10*s, 60*s, 0))
	if len(res.Matrix) != 1 || len(res.Matrix[0].Points) != 46 || res.Matrix[0].Points[0].T != ms(15*s) {
		t.Fatalf("got %s, want one series with 46 points from 15s", matrixString(res.Matrix))
	}
}

func TestStructuredMetadataLabelsMetricSamples(t *testing.T) {
	src := newSource(t, map[string][]testEntry{`{app="mix"}`: {
		e(1*s, "plain one"),
		{off: 2 * s, line: "with metadata", md: labels.FromStrings("trace_id", "x")},
		e(3*s, "plain two"),
	}})
	tests := []struct {
		query string
		want  map[string][]pt
	}{
		{`count_over_time({app="mix"}[10s])`, map[string][]pt{
			`{app="mix"}`:               {{10, 2}},
			`{app="mix", trace_id="x"}`: {{10, 1}},
		}},
		// "plain one" 9 + "plain two" 9 bytes; "with metadata" 13.
		{`bytes_over_time({app="mix"}[10s])`, map[string][]pt{
			`{app="mix"}`:               {{10, 18}},
			`{app="mix", trace_id="x"}`: {{10, 13}},
		}},
		{`sum by (app) (count_over_time({app="mix"}[10s]))`, map[string][]pt{`{app="mix"}`: {{10, 3}}}},
		{`sum(count_over_time({app="mix"}[10s]))`, map[string][]pt{`{}`: {{10, 3}}}},
		{`count_over_time({app="mix"} |= "with" or "two" != "one" [10s])`, map[string][]pt{
			`{app="mix"}`:               {{10, 1}},
			`{app="mix", trace_id="x"}`: {{10, 1}},
		}},
		{`count_over_time({app="mix"} |~ "pl.in" | decolorize [10s])`, map[string][]pt{`{app="mix"}`: {{10, 2}}}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			checkMatrix(t, runQuery(t, src, rangeParams(tt.query, 10*s, 10*s, s)).Matrix, tt.want)
		})
	}
}

func TestGrafanaVolumeQuery(t *testing.T) {
	// Windows (-5s,0], (0,5], (5,10]: only the second holds lines
	// (info at 1.5s and 3.5s, error at 2.5s).
	res := runQuery(t, logData(t), rangeParams(`sum by (level) (count_over_time({app="web"} | json [5s]))`, 0, 10*s, 5*s))
	checkMatrix(t, res.Matrix, map[string][]pt{
		`{level="error"}`: {{5, 1}},
		`{level="info"}`:  {{5, 2}},
	})
}

func TestSeriesLimit(t *testing.T) {
	eng := NewEngine(EngineOptions{MaxSeries: 1}, nil)
	for _, p := range []Params{
		rangeParams(`count_over_time({app="m"}[30s])`, 30*s, 60*s, 15*s),
		instantParams(`count_over_time({app="m"}[30s])`, 45*s),
	} {
		_, err := eng.Query(context.Background(), metricData(t), p)
		var le *LimitError
		if !errors.As(err, &le) || !errors.Is(err, ErrLimit) || !errors.Is(err, ErrBadRequest) {
			t.Errorf("instant=%v: error %v, want a series LimitError", p.Instant, err)
		}
	}
	// Every line of pod a has its own v: the limit trips while loading.
	if _, err := eng.Query(context.Background(), metricData(t), rangeParams(`count_over_time({app="m", pod="a"} | logfmt v [30s])`, 30*s, 60*s, 15*s)); !errors.Is(err, ErrLimit) {
		t.Errorf("high-cardinality range aggregation: error %v, want a series LimitError", err)
	}
	if _, err := eng.Query(context.Background(), metricData(t), rangeParams(`sum(count_over_time({app="m"}[30s]))`, 30*s, 60*s, 15*s)); err != nil {
		t.Errorf("an aggregated query under the limit failed: %v", err)
	}
}

func TestSumOverTimeAddsLeftToRightAsLoki(t *testing.T) {
	// Window (10s,30s] holds 0.1, 0.2, 0.3: (0.1+0.2)+0.3 differs in the
	// last bit from 0.1+(0.2+0.3), and Loki prints every bit.
	src := newSource(t, map[string][]testEntry{`{app="f"}`: {e(15*s, "v=0.1"), e(25*s, "v=0.2"), e(28*s, "v=0.3")}})
	vs := []float64{0.1, 0.2, 0.3} // variables: constants would fold exactly
	sum := (vs[0] + vs[1]) + vs[2]
	for _, tt := range []struct {
		q    string
		want float64
	}{
		{`sum_over_time({app="f"} | logfmt | unwrap v [20s])`, sum},
		{`rate({app="f"} | logfmt | unwrap v [20s])`, sum / 20},
	} {
		res := runQuery(t, src, rangeParams(tt.q, 30*s, 30*s, 10*s))
		if len(res.Matrix) != 1 || len(res.Matrix[0].Points) != 1 {
			t.Fatalf("%s: got %s", tt.q, matrixString(res.Matrix))
		}
		if got := res.Matrix[0].Points[0].V; got != tt.want {
			t.Errorf("%s: got %.17g, want %.17g", tt.q, got, tt.want)
		}
	}
}

func TestParallelRangeQueriesMatchSerialOnes(t *testing.T) {
	parallel := NewEngine(EngineOptions{Parallelism: 3}, nil)
	for _, q := range []string{
		`count_over_time({app="m"}[30s])`,
		`sum by (pod) (rate({app=~"m|k"}[20s] offset 5s))`,
		`quantile_over_time(0.5, {app="m"} | logfmt v | unwrap v [30s])`,
		`count_over_time({app=~"m|k"}[30s]) / ignoring (app) group_left sum by (pod) (count_over_time({app=~"m|k"}[30s]))`,
		`absent_over_time({app="m", pod="zz"}[10s]) or vector(0)`,
	} {
		for _, step := range []time.Duration{s, 7 * s, 40 * s} {
			p := rangeParams(q, 0, 70*s, step)
			want := runQuery(t, metricData(t), p)
			got, err := parallel.Query(context.Background(), metricData(t), p)
			if err != nil {
				t.Fatalf("%s step %s: %v", q, step, err)
			}
			if matrixString(got.Matrix) != matrixString(want.Matrix) {
				t.Errorf("%s step %s: parallel\n%s\nserial\n%s", q, step, matrixString(got.Matrix), matrixString(want.Matrix))
			}
			// Parts may read less (lines between windows of other parts) or
			// more (windows overlapping a split), but return the same.
			if got.Stats.EntriesReturned != want.Stats.EntriesReturned || (got.Stats.TotalLinesProcessed == 0) != (want.Stats.TotalLinesProcessed == 0) {
				t.Errorf("%s step %s: parallel stats %+v, serial %+v", q, step, got.Stats, want.Stats)
			}
		}
	}
	// An error in one part fails the query with that error.
	_, err := parallel.Query(context.Background(), metricData(t), rangeParams(`count_over_time({app="m"} | json [30s])`, 0, 70*s, s))
	if !errors.Is(err, ErrPipeline) {
		t.Errorf("error %v, want a pipeline error", err)
	}
}
