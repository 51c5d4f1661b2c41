package logql

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func vectorString(v []Sample) string {
	out := ""
	for _, s := range v {
		out += fmt.Sprintf("%s %d %g\n", s.Metric, s.Point.T, s.Point.V)
	}
	return out
}

func TestParallelInstantSumsSplitTheStreams(t *testing.T) {
	parallel := NewEngine(EngineOptions{Parallelism: 2}, nil)
	for _, tc := range []struct {
		q       string
		selects int // 1: not split; 2 per split sum
	}{
		{`sum(count_over_time({app=~"m|k"}[60s]))`, 2},
		{`sum by (pod) (bytes_over_time({app=~"m|k"}[45s]))`, 2},
		{`sum by (d) (count_over_time({app="m"} | logfmt | v > 1 [70s]))`, 2},
		{`sum without (app) (count_over_time({app=~".+"} |= "v" [70s]))`, 2},
		// Rates are split as counts and divided once: the same bits.
		{`sum(rate({app=~"m|k"}[60s]))`, 2},
		{`sum by (pod) (rate({app=~"m|k"}[7s]))`, 2},
		{`sum by (app) (bytes_rate({app=~"m|k"}[13s]))`, 2},
		// A split sum under other operations.
		{`topk(1, sum by (pod) (rate({app=~"m|k"}[60s])))`, 2},
		{`sum(count_over_time({app=~"m|k"}[60s])) by (pod) / 2`, 2},
		{`sum(count_over_time({app="m"}[60s])) / sum(count_over_time({app=~"m|k"}[60s]))`, 4},
		{`max(count_over_time({app=~"m|k"}[60s]))`, 1},
		{`sum(sum_over_time({app=~"m|k"} | logfmt | unwrap v [60s]))`, 1}, // float sums may round differently
		{`sum(max_over_time({app=~"m|k"} | logfmt | unwrap v [60s]))`, 1},
	} {
		p := instantParams(tc.q, 65*s)
		want := runQuery(t, metricData(t), p)
		src := metricData(t)
		got, err := parallel.Query(context.Background(), src, p)
		if err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		if vectorString(got.Vector) != vectorString(want.Vector) || len(want.Vector) == 0 {
			t.Errorf("%s: parallel\n%s\nserial\n%s", tc.q, vectorString(got.Vector), vectorString(want.Vector))
		}
		if selects := len(src.hints); selects != tc.selects {
			t.Errorf("%s: %d selects, want %d", tc.q, selects, tc.selects)
		}
		// Every stream is read by one part only.
		if got.Stats.TotalLinesProcessed != want.Stats.TotalLinesProcessed {
			t.Errorf("%s: parallel read %d lines, serial %d", tc.q, got.Stats.TotalLinesProcessed, want.Stats.TotalLinesProcessed)
		}
	}
	// An error in one part fails the query with that error.
	_, err := parallel.Query(context.Background(), metricData(t), instantParams(`sum(count_over_time({app=~".+"} | json [70s]))`, 65*s))
	if !errors.Is(err, ErrPipeline) {
		t.Errorf("error %v, want a pipeline error", err)
	}
}
