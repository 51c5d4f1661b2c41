package logql

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestBucketedWindowsMatchBruteForce checks the mergeable aggregations
// against a brute-force evaluation of every window over random data and
// random ranges, steps (shorter, equal and longer than the range, not
// multiples of each other), offsets and query bounds.
func TestBucketedWindowsMatchBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	type raw struct {
		ts int64 // seconds after t0
		v  float64
	}
	for c := range 40 {
		var data []raw
		var entries []testEntry
		ts := int64(0)
		for i := range 60 {
			ts += int64(rng.IntN(4)) // repeated timestamps included
			v := float64(rng.IntN(50) - 10)
			data = append(data, raw{ts, v})
			entries = append(entries, e(time.Duration(ts)*time.Second, fmt.Sprintf("v=%g i=%d", v, i)))
		}
		src := newSource(t, map[string][]testEntry{`{app="r"}`: entries})
		rangeS := int64(1 + rng.IntN(20))
		stepS := int64(1 + rng.IntN(15))
		offS := int64(rng.IntN(10))
		startS := int64(rng.IntN(40))
		endS := startS + int64(rng.IntN(60))

		type agg struct {
			op string
			f  func(vs []float64) float64
		}
		aggs := []agg{
			{"count_over_time", func(vs []float64) float64 { return float64(len(vs)) }},
			{"sum_over_time", func(vs []float64) float64 { // left to right, as Loki
				s := 0.0
				for _, v := range vs {
					s += v
				}
				return s
			}},
			{"min_over_time", func(vs []float64) float64 { return slices.Min(vs) }},
			{"max_over_time", func(vs []float64) float64 { return slices.Max(vs) }},
			{"first_over_time", func(vs []float64) float64 { return vs[0] }},
			{"last_over_time", func(vs []float64) float64 { return vs[len(vs)-1] }},
		}
		for _, a := range aggs {
			q := fmt.Sprintf(`%s({app="r"} | logfmt v | unwrap v [%ds] offset %ds)`, a.op, rangeS, offS)
			if a.op == "count_over_time" {
				q = fmt.Sprintf(`count_over_time({app="r"}[%ds] offset %ds)`, rangeS, offS)
			}
			var want []pt
			for st := startS; st <= endS; st += stepS {
				hi := st - offS
				var vs []float64
				for _, d := range data {
					if d.ts > hi-rangeS && d.ts <= hi {
						vs = append(vs, d.v)
					}
				}
				if len(vs) > 0 {
					want = append(want, pt{float64(st), a.f(vs)})
				}
			}
			p := rangeParams(q, time.Duration(startS)*time.Second, time.Duration(endS)*time.Second, time.Duration(stepS)*time.Second)
			res := runQuery(t, src, p)
			exp := map[string][]pt{}
			if len(want) > 0 {
				exp[`{app="r"}`] = want
			}
			t.Run(fmt.Sprintf("case%d/%s", c, a.op), func(t *testing.T) {
				checkMatrix(t, res.Matrix, exp)
			})
		}
	}
}
