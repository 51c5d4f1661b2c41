package store

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks/index"
)

const minute = int64(time.Minute)

// retentionFixture stores, with 1h periods, chunks of one stream:
//
//	a [10:00, 10:10]  period 10
//	b [10:30, 11:20]  periods 10 and 11, stored under 10
//	c [11:05, 11:10]  period 11
//	d [11:40, 12:05]  periods 11 and 12, stored under 11
//	e [13:00, 13:01]  period 13
//
// each flushed in its own index segment, so every period holds several.
type retentionFixture struct {
	api           labels.Labels
	a, b, c, d, e index.ChunkRef
}

func newRetentionFixture(t *testing.T, s *Store, tenant string) retentionFixture {
	t.Helper()
	ctx := context.Background()
	api := labels.FromStrings("app", "api")
	f := retentionFixture{
		api: api,
		a:   ref(api, 10*hour, 10*hour+10*minute),
		b:   ref(api, 10*hour+30*minute, 11*hour+20*minute),
		c:   ref(api, 11*hour+5*minute, 11*hour+10*minute),
		d:   ref(api, 11*hour+40*minute, 12*hour+5*minute),
		e:   ref(api, 13*hour, 13*hour+minute),
	}
	for _, r := range f.all() {
		if err := s.PutChunk(ctx, tenant, r, []byte("data")); err != nil {
			t.Fatal(err)
		}
		if err := s.PutIndex(ctx, tenant, "ing", []index.Series{seriesOf(api, r)}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f retentionFixture) all() []index.ChunkRef { return []index.ChunkRef{f.a, f.b, f.c, f.d, f.e} }

// objectsUnder lists every object key under prefix, sorted.
func objectsUnder(t *testing.T, bkt objstore.Bucket, prefix string) []string {
	t.Helper()
	var keys []string
	err := bkt.Iter(context.Background(), prefix, func(k string) error {
		if !strings.HasSuffix(k, "/") {
			keys = append(keys, k)
		}
		return nil
	}, objstore.WithRecursiveIter())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

func segmentsOf(t *testing.T, bkt objstore.Bucket, tenant string, p int64) []string {
	t.Helper()
	return objectsUnder(t, bkt, indexDir(tenant, p))
}

// storedChunks returns which of refs still have an object.
func storedChunks(t *testing.T, s *Store, tenant string, refs ...index.ChunkRef) []index.ChunkRef {
	t.Helper()
	var out []index.ChunkRef
	for _, r := range refs {
		ok, err := s.bkt.Exists(context.Background(), s.ChunkKey(tenant, r))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// indexedChunks returns every chunk reference a store without retention
// finds in [10:00, 14:00), deduplicated.
func indexedChunks(t *testing.T, bkt objstore.Bucket, tenant string) []index.ChunkRef {
	t.Helper()
	fresh, _ := newTestStore(t, bkt)
	got := chunksOf(selectAll(t, fresh, tenant, 10*hour, 14*hour-1))
	sortChunks(got)
	return slices.Compact(got)
}

func TestApplyRetentionDropsExpiredPeriodsReferencesAndChunks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		ctx := context.Background()
		s, _ := newTestStore(t, bkt)
		f := newRetentionFixture(t, s, "t")
		if n := len(segmentsOf(t, bkt, "t", 11)); n != 3 {
			t.Fatalf("fixture: period 11 holds %d segments, want 3 (b, c, d)", n)
		}
		cutoff := 11*hour + 30*minute
		st, err := s.ApplyRetention(ctx, "t", cutoff, cutoff)
		if err != nil {
			t.Fatal(err)
		}
		// Period 10: 2 segments (a, b); period 11: 3 (b, c, d) rewritten as one.
		want := RetentionStats{Segments: 5, Rewritten: 1, Chunks: 3, ChunkBytes: 12}
		if st != want {
			t.Errorf("stats = %+v, want %+v", st, want)
		}
		if segs := segmentsOf(t, bkt, "t", 10); len(segs) != 0 {
			t.Errorf("expired period 10 still holds segments %q", segs)
		}
		if segs := segmentsOf(t, bkt, "t", 11); len(segs) != 1 || !strings.Contains(segs[0], "/"+CompactorWriter+"-") {
			t.Errorf("boundary period 11 holds %q, want one rewritten segment", segs)
		}
		if n := len(segmentsOf(t, bkt, "t", 12)) + len(segmentsOf(t, bkt, "t", 13)); n != 2 {
			t.Errorf("periods 12 and 13 hold %d segments, want their 2 untouched", n)
		}
		if got, want := indexedChunks(t, bkt, "t"), []index.ChunkRef{f.d, f.e}; !slices.Equal(got, want) {
			t.Errorf("indexed after retention: %+v\nwant %+v", got, want)
		}
		if got, want := storedChunks(t, s, "t", f.all()...), []index.ChunkRef{f.d, f.e}; !slices.Equal(got, want) {
			t.Errorf("stored after retention: %+v\nwant %+v", got, want)
		}
		if objs := objectsUnder(t, bkt, "t/10/"); len(objs) != 0 {
			t.Errorf("period 10 still holds %q", objs)
		}

		again, err := s.ApplyRetention(ctx, "t", cutoff, cutoff)
		if err != nil || again != (RetentionStats{}) {
			t.Errorf("second run = %+v, %v; want nothing to do", again, err)
		}
	})
}

func TestApplyRetentionDeletesChunksOnlyAfterTheDelay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		ctx := context.Background()
		s, _ := newTestStore(t, bkt)
		f := newRetentionFixture(t, s, "t")
		cutoff := 11*hour + 30*minute
		if _, err := s.ApplyRetention(ctx, "t", cutoff, cutoff-30*minute); err != nil {
			t.Fatal(err)
		}
		// The index forgets b and c at once, but only a ended before 11:00.
		if got, want := indexedChunks(t, bkt, "t"), []index.ChunkRef{f.d, f.e}; !slices.Equal(got, want) {
			t.Errorf("indexed: %+v\nwant %+v", got, want)
		}
		if got, want := storedChunks(t, s, "t", f.all()...), []index.ChunkRef{f.b, f.c, f.d, f.e}; !slices.Equal(got, want) {
			t.Errorf("stored within the delay: %+v\nwant %+v", got, want)
		}
		st, err := s.ApplyRetention(ctx, "t", cutoff+30*minute, cutoff)
		if err != nil {
			t.Fatal(err)
		}
		if st.Chunks != 2 {
			t.Errorf("after the delay deleted %d chunks, want 2 (b, c)", st.Chunks)
		}
		if got, want := storedChunks(t, s, "t", f.all()...), []index.ChunkRef{f.d, f.e}; !slices.Equal(got, want) {
			t.Errorf("stored after the delay: %+v\nwant %+v", got, want)
		}
	})
}

func TestApplyRetentionLeavesOtherTenantsAlone(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	s, _ := newTestStore(t, bkt)
	newRetentionFixture(t, s, "a")
	newRetentionFixture(t, s, "b")
	before := objectsUnder(t, bkt, "b/")
	if _, err := s.ApplyRetention(context.Background(), "a", 13*hour, 13*hour); err != nil {
		t.Fatal(err)
	}
	if after := objectsUnder(t, bkt, "b/"); !slices.Equal(before, after) {
		t.Errorf("tenant b changed: %q -> %q", before, after)
	}
}

// failingBucket fails every Delete after the first n, as a process that
// dies half-way through a run would stop.
type failingBucket struct {
	objstore.Bucket
	left atomic.Int64
}

var errInjected = errors.New("injected failure")

func (b *failingBucket) Delete(ctx context.Context, name string) error {
	if b.left.Add(-1) < 0 {
		return errInjected
	}
	return b.Bucket.Delete(ctx, name)
}

func TestApplyRetentionResumesAfterFailingAtAnyDelete(t *testing.T) {
	// 5 segments and 3 chunks are deleted in all: stop after each.
	for n := range int64(8) {
		bkt := objstore.NewInMemBucket()
		s, _ := newTestStore(t, bkt)
		f := newRetentionFixture(t, s, "t")
		fb := &failingBucket{Bucket: bkt}
		fb.left.Store(n)
		crashing, _ := newTestStore(t, fb)
		cutoff := 11*hour + 30*minute
		if _, err := crashing.ApplyRetention(context.Background(), "t", cutoff, cutoff); !errors.Is(err, errInjected) {
			t.Fatalf("after %d deletes: err = %v, want the injected failure", n, err)
		}
		// Whatever was done, a reader sees nothing missing that is not
		// expired: every chunk indexed for [cutoff, ...) is stored.
		for _, r := range indexedChunks(t, bkt, "t") {
			if r.MaxT >= cutoff && len(storedChunks(t, s, "t", r)) == 0 {
				t.Errorf("after %d deletes: %+v indexed but not stored", n, r)
			}
		}
		resumed, _ := newTestStore(t, bkt)
		if _, err := resumed.ApplyRetention(context.Background(), "t", cutoff, cutoff); err != nil {
			t.Fatalf("after %d deletes, resuming: %v", n, err)
		}
		if got, want := indexedChunks(t, bkt, "t"), []index.ChunkRef{f.d, f.e}; !slices.Equal(got, want) {
			t.Errorf("after %d deletes and a resumed run, indexed: %+v\nwant %+v", n, got, want)
		}
		if got, want := storedChunks(t, s, "t", f.all()...), []index.ChunkRef{f.d, f.e}; !slices.Equal(got, want) {
			t.Errorf("after %d deletes and a resumed run, stored: %+v\nwant %+v", n, got, want)
		}
	}
}

func TestApplyRetentionInSeveralProcessesAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		s, _ := newTestStore(t, bkt)
		f := newRetentionFixture(t, s, "t")
		cutoff := 11*hour + 30*minute
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, _ := newTestStore(t, bkt)
				_, errs[i] = c.ApplyRetention(context.Background(), "t", cutoff, cutoff)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if got, want := indexedChunks(t, bkt, "t"), []index.ChunkRef{f.d, f.e}; !slices.Equal(got, want) {
			t.Errorf("indexed: %+v\nwant %+v", got, want)
		}
		if got, want := storedChunks(t, s, "t", f.all()...), []index.ChunkRef{f.d, f.e}; !slices.Equal(got, want) {
			t.Errorf("stored: %+v\nwant %+v", got, want)
		}
	})
}

func TestIndexStopsAtTheRetentionCutoffBeforeTheCompactorRuns(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	s, clk := newTestStore(t, bkt)
	f := newRetentionFixture(t, s, "t")
	clk.t = time.Unix(0, 12*hour+30*minute)
	s.SetRetention(func(tenant string) time.Duration {
		if tenant == "t" {
			return time.Hour // cutoff 11:30
		}
		return 0
	})
	if got := s.RetentionCutoff("t"); got != 11*hour+30*minute {
		t.Fatalf("cutoff = %d, want 11:30", got)
	}
	if got := s.RetentionCutoff("other"); got != math.MinInt64 {
		t.Fatalf("cutoff without retention = %d", got)
	}
	got := chunksOf(selectAll(t, s, "t", 0, 14*hour))
	sortChunks(got)
	if got, want := slices.Compact(got), []index.ChunkRef{f.d, f.e}; !slices.Equal(got, want) {
		t.Errorf("selected: %+v\nwant %+v", got, want)
	}
	if ss := selectAll(t, s, "t", 10*hour, 11*hour); len(ss) != 0 {
		t.Errorf("a range wholly before the cutoff selected %+v", ss)
	}
	mr, err := s.Index(context.Background(), "t", 0, 14*hour)
	if err != nil {
		t.Fatal(err)
	}
	if vals, err := mr.LabelValues("app", 0, 11*hour); err != nil || len(vals) != 0 {
		t.Errorf("label values before the cutoff = %q, %v", vals, err)
	}
}

func TestSkipMissingChunkOnlyWithRetention(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	s, _ := newTestStore(t, bkt)
	r := ref(labels.FromStrings("app", "api"), 10*hour, 11*hour)
	_, err := s.GetChunk(context.Background(), "t", r)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetChunk of a missing chunk: %v", err)
	}
	if s.SkipMissingChunk("t", r, err) {
		t.Error("without retention a missing chunk was skipped")
	}
	s.SetRetention(func(string) time.Duration { return time.Hour })
	if !s.SkipMissingChunk("t", r, err) {
		t.Error("with retention a missing chunk was not skipped")
	}
	if s.SkipMissingChunk("t", r, errors.New("connection reset")) {
		t.Error("an error other than not-found was skipped")
	}
}

func TestChunkKeyMaxT(t *testing.T) {
	r := ref(labels.FromStrings("app", "api"), -5, 1<<62)
	key := ChunkKey("t", r, time.Hour)
	if got, ok := chunkKeyMaxT(key); !ok || got != r.MaxT {
		t.Errorf("chunkKeyMaxT(%q) = %d, %v; want %d", key, got, ok, r.MaxT)
	}
	neg := ref(labels.FromStrings("app", "api"), -10, -5)
	if got, ok := chunkKeyMaxT(ChunkKey("t", neg, time.Hour)); !ok || got != -5 {
		t.Errorf("negative MaxT: %d, %v", got, ok)
	}
	for _, bad := range []string{
		key + ".tmp-0123456789abcdef",
		"t/1/chunks/00/1-2",
		"t/1/chunks/00/x-2-00000000",
		"t/1/chunks/00/1-y-00000000",
		"t/1/index/ing-123.idx",
	} {
		if _, ok := chunkKeyMaxT(bad); ok {
			t.Errorf("chunkKeyMaxT(%q) parsed", bad)
		}
	}
}
