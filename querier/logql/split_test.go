package logql

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
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

func TestClaimSourceGivesEachStreamToTheFirstPartToStartIt(t *testing.T) {
	src := metricData(t)
	claims := &streamClaims{owner: map[uint64]int{}}
	sel := func(part int) []SourceStream {
		ss, err := claimSource{src: src, part: part, claims: claims}.Select(context.Background(), nil, 0, math.MaxInt64, chunks.Forward, SelectHints{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(ss, func(a, b SourceStream) int { return labels.Compare(a.Labels, b.Labels) })
		return ss
	}
	p0, p1 := sel(0), sel(1)
	if len(p0) < 3 || len(p0) != len(p1) {
		t.Fatalf("parts select %d and %d streams, want the same, at least 3", len(p0), len(p1))
	}
	count := func(it chunks.Iterator) int {
		n := 0
		for it.Next() {
			n++
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// Part 1 starts on stream 1 first, part 0 on stream 0 and then, too
	// late, on stream 1; part 1 then finds stream 0 taken. Stream 2 goes
	// to whoever comes first, and is never read by the other.
	n11 := count(p1[1].Iter)
	n00 := count(p0[0].Iter)
	if n11 == 0 || n00 == 0 {
		t.Fatalf("first starters read %d and %d entries, want all", n11, n00)
	}
	if n := count(p0[1].Iter); n != 0 {
		t.Errorf("part 0 read %d entries of a stream part 1 had started", n)
	}
	if n := count(p1[0].Iter); n != 0 {
		t.Errorf("part 1 read %d entries of a stream part 0 had started", n)
	}
	if n2 := count(p0[2].Iter); n2 == 0 || count(p1[2].Iter) != 0 {
		t.Errorf("stream 2: part 0 read %d entries, part 1 must read none", n2)
	}
	for _, ss := range [][]SourceStream{p0, p1} {
		for _, s := range ss {
			if err := s.Iter.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}
