package logql

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// TestPresummedCountsMatchTheTimeMerge compares counts, which read the
// streams one at a time and add up per cell, with the same counts
// computed as sums of an unwrapped constant, which merge the streams in
// time order: random streams sharing output series, random ranges, steps
// and offsets, and topk, whose ties depend on the order series appear in.
func TestPresummedCountsMatchTheTimeMerge(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	nonEmpty := 0
	for round := range 30 {
		streams := map[string][]testEntry{}
		for st := range 1 + r.Intn(6) {
			var entries []testEntry
			var off time.Duration
			for range r.Intn(120) {
				off += time.Duration(r.Intn(1500)) * time.Millisecond
				entries = append(entries, e(off, fmt.Sprintf("lvl=%s n=%d", []string{"a", "b", "c"}[r.Intn(3)], r.Intn(9))))
			}
			streams[fmt.Sprintf(`{app="p", pod="p%d"}`, st)] = entries
		}
		src := newSource(t, streams)
		rng := time.Duration(1+r.Intn(30)) * s
		step := time.Duration(1+r.Intn(20)) * s
		offset := ""
		if r.Intn(3) == 0 {
			offset = fmt.Sprintf(" offset %ds", r.Intn(10))
		}
		sel := `{app="p"}`
		count := fmt.Sprintf(`count_over_time(%s | logfmt [%s]%s)`, sel, rng, offset)
		summed := fmt.Sprintf(`sum_over_time(%s | logfmt | label_format one="1" | unwrap one [%s]%s)`, sel, rng, offset)
		for _, tmpl := range []string{`%s`, `sum by (lvl) (%s)`, `sum(%s)`, `topk(2, %s)`, `topk(1, sum by (lvl) (%s))`} {
			for _, par := range []int{1, 2} {
				eng := NewEngine(EngineOptions{Parallelism: par}, nil)
				for _, p := range []Params{
					rangeParams("", 0, 150*s, step),
					instantParams("", time.Duration(r.Intn(150))*s),
				} {
					run := func(q string) string {
						p.Query = q
						res, err := eng.Query(context.Background(), src, p)
						if err != nil {
							t.Fatalf("%s: %v", q, err)
						}
						if p.Instant {
							return vectorString(res.Vector)
						}
						return matrixString(res.Matrix)
					}
					got, want := run(fmt.Sprintf(tmpl, count)), run(fmt.Sprintf(tmpl, summed))
					if got != want {
						t.Fatalf("round %d parallelism %d instant %v: %s\n%s\nwant (%s)\n%s", round, par, p.Instant,
							fmt.Sprintf(tmpl, count), got, fmt.Sprintf(tmpl, summed), want)
					}
					if strings.TrimSpace(want) != "" {
						nonEmpty++
					}
				}
			}
		}
	}
	if nonEmpty < 200 {
		t.Errorf("only %d non-empty results: the test compares too little", nonEmpty)
	}
}

func TestPresummedSeriesLimitCountsOnlySeriesInWindows(t *testing.T) {
	// Windows (t-2s, t] every 10s: pod b's lines fall between them and
	// make no series, so one series is within a limit of one.
	src := newSource(t, map[string][]testEntry{
		`{app="g", pod="a"}`: {e(10*s, "x"), e(20*s, "x")},
		`{app="g", pod="b"}`: {e(15*s, "x"), e(25*s, "x")},
	})
	eng := NewEngine(EngineOptions{MaxSeries: 1}, nil)
	res, err := eng.Query(context.Background(), src, rangeParams(`count_over_time({app="g"}[2s])`, 10*s, 30*s, 10*s))
	if err != nil {
		t.Fatalf("series outside every window counted: %v", err)
	}
	if got := matrixString(res.Matrix); !strings.Contains(got, `pod="a"`) || strings.Contains(got, `pod="b"`) {
		t.Errorf("got %s", got)
	}
	if _, err := eng.Query(context.Background(), src, rangeParams(`count_over_time({app="g"}[6s])`, 10*s, 30*s, 10*s)); !errors.Is(err, ErrLimit) {
		t.Errorf("two series in windows under a limit of one: error %v, want a series LimitError", err)
	}
}
