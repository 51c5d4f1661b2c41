package querier

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/store"
	"github.com/plgstack/plg/push"
	"github.com/plgstack/plg/querier/logql"
)

// BenchmarkRareNeedle is the rare-token query (`|= "<32 hex>"`, a few
// matching lines among ~250k) end to end through the engine, once against
// an ingester holding the lines in memory and once against the store
// after a flush, with n-gram filters at the default setting.
func BenchmarkRareNeedle(b *testing.B) {
	const (
		rare    = "2f1bd0b6b6a951ba3941fc7dd40642a3"
		streams = 40
		lines   = 6000 // per stream: ~1.3 MB
	)
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Hour).UnixNano()
	var ss []storeStream
	for s := range streams {
		var plant []int
		if s%8 == 0 {
			plant = []int{s * 37 % lines}
		}
		ss = append(ss, storeStream{labels.FromStrings("app", fmt.Sprintf("a%02d", s)), shifted(genLines(uint64(s), lines, rare, plant...), base)})
	}
	ing := startIngester(b)
	for _, s := range ss {
		ps := push.Stream{Labels: s.labels.String()}
		for _, e := range s.entries {
			ps.Entries = append(ps.Entries, push.Entry{Timestamp: e.Timestamp, Line: e.Line})
		}
		if err := ing.Push(context.Background(), "t", &push.Request{Streams: []push.Stream{ps}}); err != nil {
			b.Fatal(err)
		}
	}
	st, _ := newCountingStore(b, storeOpts{ngramBits: 1, blockSize: chunks.DefaultBlockSize, chunkEntries: lines}, ss...)
	eng := logql.NewEngine(logql.EngineOptions{}, nil)
	p := logql.Params{Query: `{app=~".+"} |= "` + rare + `"`, Start: time.Unix(0, base), End: time.Unix(0, base+int64(time.Hour)), Limit: 100, Direction: chunks.Backward}
	for _, tc := range []struct {
		name string
		q    *Querier
	}{{"memory", New(Local{ing}, nil)}, {"store", New(nil, st)}} {
		b.Run(tc.name, func(b *testing.B) {
			src := source{q: tc.q, tenants: []string{testTenant}}
			if tc.name == "memory" {
				src.tenants = []string{"t"}
			}
			for b.Loop() {
				res, err := eng.Query(context.Background(), src, p)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(res.Streams); n != 5 {
					b.Fatalf("%d streams hold the needle, want 5", n)
				}
			}
		})
	}
}

// BenchmarkStorePrefixesUncached is what a query over more data than the
// prefix cache holds costs per chunk: every chunk's header, index and
// filter section is read from a filesystem bucket (the one NewBucket
// opens, with its metrics) and decoded, with no prefix cache, or one
// holding 60% of the prefixes (as 32 MiB do at 3 GB). "rare" is a needle
// search whose filters rule out almost every block; "count" is a
// count_over_time answered from the blocks' histograms.
func BenchmarkStorePrefixesUncached(b *testing.B) {
	const (
		rare    = "2f1bd0b6b6a951ba3941fc7dd40642a3"
		streams = 40
		lines   = 6000 // per stream: ~1.3 MB, in 4 chunks
	)
	cfg := store.DefaultConfig()
	cfg.Filesystem.Dir = b.TempDir()
	bkt, err := store.NewBucket(cfg, nil, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	st := store.New(bkt, cfg, nil, nil)
	var ss []storeStream
	for s := range streams {
		var plant []int
		if s%8 == 0 {
			plant = []int{s * 37 % lines}
		}
		ss = append(ss, storeStream{labels.FromStrings("app", fmt.Sprintf("a%02d", s)), genLines(uint64(s), lines, rare, plant...)})
	}
	writeStore(b, st, "test", storeOpts{ngramBits: 0.8, blockSize: 64 << 10, chunkEntries: lines / 4}, ss...)
	q := New(nil, st)
	src := source{q: q, tenants: []string{testTenant}}
	eng := logql.NewEngine(logql.EngineOptions{}, nil)
	start, end := time.Unix(0, t0), time.Unix(0, t0+int64(time.Hour))
	rareQuery := logql.Params{Query: `{app=~".+"} |= "` + rare + `"`, Start: start, End: end, Limit: 100, Direction: chunks.Backward}
	if _, err := eng.Query(context.Background(), src, rareQuery); err != nil {
		b.Fatal(err)
	}
	prefixBytes := q.prefixes.bytes() // every prefix, as the cache counts them
	for _, tc := range []struct {
		name  string
		p     logql.Params
		want  int
		cache int // bytes
	}{
		{"rare", rareQuery, 5, 0},
		{"rare/cache-60%", rareQuery, 5, prefixBytes * 6 / 10},
		{"count", logql.Params{Query: `sum(count_over_time({app=~".+"}[1m]))`, Start: start, End: end, Step: time.Minute}, 1, 0},
	} {
		b.Run(tc.name, func(b *testing.B) {
			q.prefixes = nil
			if tc.cache > 0 {
				q.prefixes = newPrefixCache(tc.cache)
			}
			b.ReportAllocs()
			for b.Loop() {
				res, err := eng.Query(context.Background(), src, tc.p)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(res.Streams) + len(res.Matrix); n != tc.want {
					b.Fatalf("%d series in the result, want %d", n, tc.want)
				}
			}
		})
	}
}
