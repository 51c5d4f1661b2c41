package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
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

// deleteFailingBucket fails every Delete, as a bucket without delete
// permission would.
type deleteFailingBucket struct{ objstore.Bucket }

func (deleteFailingBucket) Delete(context.Context, string) error { return errors.New("access denied") }

func TestRetentionOnceDeletesPerTenantAndCounts(t *testing.T) {
	ctx := context.Background()
	cfg := store.DefaultConfig()
	bkt := objstore.NewInMemBucket()
	st := store.New(bkt, cfg, slog.New(slog.DiscardHandler), nil)
	now := time.Now()
	old := now.Add(-72 * time.Hour)
	lbs := labels.FromStrings("app", "a")
	ref := index.ChunkRef{Fingerprint: lbs.Hash(), MinT: old.UnixNano(), MaxT: old.Add(time.Minute).UnixNano(), Checksum: 1, Size: 4, Entries: 1}
	for _, tenant := range []string{"expiring", "kept"} {
		if err := st.PutChunk(ctx, tenant, ref, []byte("data")); err != nil {
			t.Fatal(err)
		}
		if err := st.PutIndex(ctx, tenant, "ingester-0", []index.Series{{Labels: lbs, Fingerprint: lbs.Hash(), Chunks: []index.ChunkRef{ref}}}); err != nil {
			t.Fatal(err)
		}
	}
	retention := func(tenant string) time.Duration {
		if tenant == "expiring" {
			return 24 * time.Hour
		}
		return 0
	}

	// A bucket that refuses deletes: the run fails, is counted, and the
	// last success is not set.
	failing := store.New(deleteFailingBucket{bkt}, cfg, slog.New(slog.DiscardHandler), nil)
	failing.SetRetention(retention)
	fm := newRetentionMetrics(prometheus.NewRegistry())
	retentionOnce(ctx, failing, time.Hour, fm, slog.New(slog.DiscardHandler))
	if got := testutil.ToFloat64(fm.failures); got != 1 {
		t.Errorf("failures = %v, want 1", got)
	}
	if got := testutil.ToFloat64(fm.lastSuccess); got != 0 {
		t.Errorf("last success set after a failed run: %v", got)
	}

	st.SetRetention(retention)
	m := newRetentionMetrics(prometheus.NewRegistry())
	retentionOnce(ctx, st, time.Hour, m, slog.New(slog.DiscardHandler))
	if got := testutil.ToFloat64(m.chunks); got != 1 {
		t.Errorf("chunks deleted = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.chunkBytes); got != 4 {
		t.Errorf("chunk bytes deleted = %v, want 4", got)
	}
	if got := testutil.ToFloat64(m.segments); got != 1 {
		t.Errorf("segments deleted = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.lastSuccess); got < float64(now.Unix()) {
		t.Errorf("last success = %v, want at least %d", got, now.Unix())
	}
	for tenant, want := range map[string]bool{"expiring": false, "kept": true} {
		ok, err := bkt.Exists(ctx, st.ChunkKey(tenant, ref))
		if err != nil || ok != want {
			t.Errorf("tenant %s: chunk exists = %v, %v; want %v", tenant, ok, err, want)
		}
	}
}

func TestLimitMergesBoundsConcurrentMerges(t *testing.T) {
	var running, most atomic.Int32
	release := make(chan struct{})
	slow := func(ctx context.Context, in []store.ChunkBytes) ([]store.MergedChunk, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		return nil, nil
	}
	m := limitMerges(slow, 2)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := m(context.Background(), nil); err != nil {
				t.Error(err)
			}
		}()
	}
	// Give every caller time to enter; only two may be merging.
	for deadline := time.Now().Add(2 * time.Second); running.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if n := running.Load(); n != 2 {
		t.Errorf("%d merges running, want 2", n)
	}
	close(release)
	wg.Wait()
	if n := most.Load(); n != 2 {
		t.Errorf("at most %d merges ran at once, want 2", n)
	}

	// A caller waiting for a slot gives up with its context.
	entered, block := make(chan struct{}), make(chan struct{})
	one := limitMerges(func(ctx context.Context, in []store.ChunkBytes) ([]store.MergedChunk, error) {
		close(entered)
		<-block
		return nil, nil
	}, 1)
	go one(context.Background(), nil)
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := one(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting caller got %v, want its deadline", err)
	}
	close(block)
}

func TestDueChunkCompaction(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		last, now time.Time
		every     time.Duration
		want      bool
	}{
		{time.Time{}, t0, time.Hour, true}, // the first tick compacts
		{t0, t0.Add(10 * time.Minute), time.Hour, false},
		{t0, t0.Add(59 * time.Minute), time.Hour, false},
		{t0, t0.Add(time.Hour), time.Hour, true},
		{t0, t0.Add(10 * time.Minute), 0, true}, // 0: every tick
	} {
		if got := dueChunkCompaction(c.last, c.now, c.every); got != c.want {
			t.Errorf("dueChunkCompaction(%v, %v, %v) = %v, want %v", c.last, c.now, c.every, got, c.want)
		}
	}
}
