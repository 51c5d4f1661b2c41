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
		q     string
		split bool
	}{
		{`sum(count_over_time({app=~"m|k"}[60s]))`, true},
		{`sum by (pod) (bytes_over_time({app=~"m|k"}[45s]))`, true},
		{`sum by (d) (count_over_time({app="m"} | logfmt | v > 1 [70s]))`, true},
		{`sum without (app) (count_over_time({app=~".+"} |= "v" [70s]))`, true},
		{`sum(rate({app=~"m|k"}[60s]))`, false}, // float sums may round differently
		{`max(count_over_time({app=~"m|k"}[60s]))`, false},
		{`sum(count_over_time({app=~"m|k"}[60s])) by (pod) / 2`, false},
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
		if selects := len(src.hints); (selects == 2) != tc.split {
			t.Errorf("%s: %d selects; split expected: %v", tc.q, selects, tc.split)
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
