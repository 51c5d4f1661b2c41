package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks/index"
	"github.com/plgstack/plg/chunks/store"
)

func TestCompactOnceMergesSegmentsAndKeepsEverySeries(t *testing.T) {
	ctx := context.Background()
	cfg := store.DefaultConfig()
	bkt := objstore.NewInMemBucket()
	st := store.New(bkt, cfg, slog.New(slog.DiscardHandler), nil)
	now := time.Now()
	for i := 0; i < 5; i++ {
		lbs := labels.FromStrings("app", string(rune('a'+i)))
		ts := now.Add(-time.Duration(i) * time.Minute).UnixNano()
		err := st.PutIndex(ctx, "team", "ingester-0", []index.Series{{
			Labels: lbs, Fingerprint: lbs.Hash(),
			Chunks: []index.ChunkRef{{Fingerprint: lbs.Hash(), MinT: ts, MaxT: ts + 1, Checksum: uint32(i), Size: 10, Entries: 1}},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	countSegments := func() int {
		n := 0
		bkt.Iter(ctx, "team/", func(string) error { n++; return nil }, objstore.WithRecursiveIter())
		return n
	}
	if n := countSegments(); n != 5 {
		t.Fatalf("%d objects before compaction, want 5 segments", n)
	}
	compactOnce(ctx, st, cfg.IndexPeriod, now, slog.New(slog.DiscardHandler))
	if n := countSegments(); n != 1 {
		t.Fatalf("%d objects after compaction, want 1 merged segment", n)
	}
	// A fresh store (no cache) sees all five series.
	fresh := store.New(bkt, cfg, slog.New(slog.DiscardHandler), nil)
	idx, err := fresh.Index(ctx, "team", now.Add(-time.Hour).UnixNano(), now.Add(time.Hour).UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	series, err := idx.Select(now.Add(-time.Hour).UnixNano(), now.Add(time.Hour).UnixNano(), labels.MustNewMatcher(labels.MatchRegexp, "app", ".+"))
	if err != nil || len(series) != 5 {
		t.Fatalf("after compaction: %d series, %v", len(series), err)
	}
}
