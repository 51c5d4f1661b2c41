package logql

import (
	"cmp"
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plgstack/plg/chunks"
)

func TestLogQueryReadsUnmatchedStreamsOnlyBackToTheLimit(t *testing.T) {
	var hits, misses []testEntry
	for i := range 10000 {
		off := time.Duration(i) * time.Millisecond
		hits = append(hits, e(off, fmt.Sprintf("error %d with some padding to fill blocks", i)))
		misses = append(misses, e(off, fmt.Sprintf("fine %d with some padding to fill blocks", i)))
	}
	src := newSource(t, map[string][]testEntry{`{app="hits"}`: hits, `{app="misses"}`: misses})
	for _, tc := range []struct {
		dir   chunks.Direction
		par   int
		batch int
	}{{chunks.Forward, 1, 0}, {chunks.Backward, 1, 0}, {chunks.Backward, 2, 0}, {chunks.Forward, 1, 1}, {chunks.Backward, 1, 1}, {chunks.Backward, 2, 1}} {
		dir := tc.dir
		eng := NewEngine(EngineOptions{Parallelism: tc.par, LogStreamBatch: tc.batch}, nil)
		res, err := eng.Query(context.Background(), src, Params{Query: `{app=~".+"} |= "error"`, Start: at(0), End: at(time.Hour), Limit: 5, Direction: dir})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(res.Streams[0].Entries); got != 5 {
			t.Fatalf("%s: got %d entries, want 5", dir, got)
		}
		if res.Stats.TotalLinesProcessed >= 100 {
			t.Errorf("%s, parallelism %d, batches of %d streams: processed %d lines for a limit of 5; the stream without matches should be read only back to the fifth entry",
				dir, tc.par, tc.batch, res.Stats.TotalLinesProcessed)
		}
	}
}

// TestLogQueryLazyMergeAgreesWithSorting checks the merge against sorting
// every kept entry: random streams with many equal timestamps, filters
// matching some streams often and others never, both directions, limits
// and intervals.
func TestLogQueryLazyMergeAgreesWithSorting(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for round := range 40 {
		streams := map[string][]testEntry{}
		type kept struct {
			lbls string
			ts   time.Duration
			line string
			i    int // order within the stream
		}
		var all []kept
		for st := range 1 + r.Intn(12) {
			lbls := fmt.Sprintf(`{app="a", pod="p%d"}`, r.Intn(1000)*10+st)
			hitRate := []int{0, 1, 10, 50, 100}[r.Intn(5)]
			var off time.Duration
			var entries []testEntry
			for i := range r.Intn(300) {
				off += time.Duration(r.Intn(3)) * time.Millisecond
				word := "ok"
				if r.Intn(100) < hitRate {
					word = "hit"
				}
				line := fmt.Sprintf("%s %d %d", word, st, i)
				entries = append(entries, e(off, line))
				if word == "hit" {
					all = append(all, kept{lbls, off, line, i})
				}
			}
			streams[lbls] = entries
		}
		src := newSource(t, streams)
		for _, dir := range []chunks.Direction{chunks.Forward, chunks.Backward} {
			limit := 1 + r.Intn(50)
			interval := time.Duration(r.Intn(3)) * time.Millisecond
			// Loki's order: time in the query's direction, then labels,
			// then a stream's own order in the query's direction.
			slices.SortFunc(all, func(a, b kept) int {
				c := cmp.Compare(a.ts, b.ts)
				if c == 0 {
					if c = strings.Compare(a.lbls, b.lbls); c != 0 {
						return c
					}
					c = cmp.Compare(a.i, b.i)
				}
				if dir == chunks.Backward {
					return -c
				}
				return c
			})
			var want []string
			var last time.Duration
			for _, k := range all {
				if len(want) == limit {
					break
				}
				if interval > 0 && len(want) > 0 {
					if d := k.ts - last; (dir == chunks.Forward && d < interval) || (dir == chunks.Backward && -d < interval) {
						continue
					}
				}
				want = append(want, fmt.Sprintf("%s +%s %s", k.lbls, k.ts, k.line))
				last = k.ts
			}
			p := Params{Query: `{app="a"} |= "hit"`, Start: at(0), End: at(time.Hour), Limit: limit, Direction: dir, Interval: interval}
			slices.Sort(want)
			for _, par := range []int{1, 2, 3} {
				// Batches of 1 to 3 streams: the merge of batches must
				// agree with the merge of all streams at once.
				batch := []int{0, 1, 2, 3}[r.Intn(4)]
				res, err := NewEngine(EngineOptions{Parallelism: par, LogStreamBatch: batch}, nil).Query(context.Background(), src, p)
				if err != nil {
					t.Fatal(err)
				}
				got := flatten(res)
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("round %d %s limit %d interval %s parallelism %d batch %d:\ngot  %q\nwant %q", round, dir, limit, interval, par, batch, got, want)
				}
				if res.Stats.Streams != int64(len(streams)) {
					t.Fatalf("parallelism %d: %d streams counted, want %d", par, res.Stats.Streams, len(streams))
				}
			}
		}
	}
}
