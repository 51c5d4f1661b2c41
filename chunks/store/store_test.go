package store

import (
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks/index"
)

const hour = int64(time.Hour)

// countingBucket counts Get calls per object so tests can tell cache hits
// from downloads.
type countingBucket struct {
	objstore.Bucket
	mu   sync.Mutex
	gets map[string]int
}

func newCountingBucket(b objstore.Bucket) *countingBucket {
	return &countingBucket{Bucket: b, gets: make(map[string]int)}
}

func (b *countingBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	b.mu.Lock()
	b.gets[name]++
	b.mu.Unlock()
	return b.Bucket.Get(ctx, name)
}

func (b *countingBucket) totalGets() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, v := range b.gets {
		n += v
	}
	return n
}

// fakeClock is a settable time source.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type backend struct {
	name string
	new  func(t *testing.T) objstore.Bucket
}

var backends = []backend{
	{"filesystem", func(t *testing.T) objstore.Bucket {
		cfg := DefaultConfig()
		cfg.Filesystem.Dir = t.TempDir()
		b, err := NewBucket(cfg, nil, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}},
	{"inmem", func(*testing.T) objstore.Bucket { return objstore.NewInMemBucket() }},
}

// newTestStore returns a Store with a 1h index period and a fake clock.
func newTestStore(t *testing.T, bkt objstore.Bucket) (*Store, *fakeClock) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.IndexPeriod = time.Hour
	cfg.ListInterval = 10 * time.Second
	s := New(bkt, cfg, nil, prometheus.NewRegistry())
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s.now = clk.now
	return s, clk
}

func ref(ls labels.Labels, minT, maxT int64) index.ChunkRef {
	return index.ChunkRef{Fingerprint: ls.Hash(), MinT: minT, MaxT: maxT, Checksum: uint32(minT ^ maxT), Size: 4, Entries: 2, UncompressedBytes: 40}
}

func seriesOf(ls labels.Labels, refs ...index.ChunkRef) index.Series {
	return index.Series{Labels: ls, Fingerprint: ls.Hash(), Chunks: refs}
}

func selectAll(t *testing.T, s *Store, tenant string, mint, maxt int64) []index.Series {
	t.Helper()
	mr, err := s.Index(context.Background(), tenant, mint, maxt)
	if err != nil {
		t.Fatalf("Index: %v", err)
	}
	ss, err := mr.Select(mint, maxt)
	if err != nil {
		t.Fatalf("Select: %v", err)
	}
	return ss
}

func chunksOf(ss []index.Series) []index.ChunkRef {
	var out []index.ChunkRef
	for _, s := range ss {
		out = append(out, s.Chunks...)
	}
	return out
}

func forEachBackend(t *testing.T, f func(t *testing.T, bkt objstore.Bucket)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.new(t)) })
	}
}

func TestChunkRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		s, _ := newTestStore(t, bkt)
		ctx := context.Background()
		api := labels.FromStrings("app", "api")
		r := ref(api, 10*hour, 10*hour+5)
		data := []byte("\x00chunk")
		r.Size = uint32(len(data))
		if err := s.PutChunk(ctx, "tenant-a", r, data); err != nil {
			t.Fatal(err)
		}
		// A replica flushing the same chunk writes the same key.
		if err := s.PutChunk(ctx, "tenant-a", r, data); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetChunk(ctx, "tenant-a", r)
		if err != nil || string(got) != string(data) {
			t.Fatalf("GetChunk = %q, %v; want %q", got, err, data)
		}
		if _, err := s.GetChunk(ctx, "tenant-b", r); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), s.ChunkKey("tenant-b", r)) {
			t.Errorf("GetChunk of another tenant = %v, want ErrNotFound naming the key", err)
		}
		short := r
		short.Size = 99
		if err := s.PutChunk(ctx, "tenant-a", short, data); err == nil {
			t.Error("PutChunk accepted data whose length differs from ref.Size")
		}
		if _, err := s.GetChunk(ctx, "tenant-a", short); err == nil || !strings.Contains(err.Error(), "reference says 99") {
			t.Errorf("GetChunk with a wrong size = %v, want a size mismatch error", err)
		}
	})
}

func TestInvalidTenantIsRejectedEverywhere(t *testing.T) {
	s, _ := newTestStore(t, objstore.NewInMemBucket())
	ctx := context.Background()
	api := labels.FromStrings("app", "api")
	r := ref(api, 0, 1)
	errs := map[string]error{
		"PutChunk": s.PutChunk(ctx, "../x", r, []byte("abcd")),
		"PutIndex": s.PutIndex(ctx, "a/b", "ing", []index.Series{seriesOf(api, r)}),
	}
	_, errs["GetChunk"] = s.GetChunk(ctx, "", r)
	_, errs["Index"] = s.Index(ctx, "..", 0, 1)
	for op, err := range errs {
		if !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("%s = %v, want ErrInvalidTenant", op, err)
		}
	}
	if err := s.PutIndex(ctx, "t", "bad/writer", []index.Series{seriesOf(api, r)}); err == nil {
		t.Error("PutIndex accepted a writer name with a slash")
	}
}

func TestPutIndexSplitsChunksByPeriod(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		s, _ := newTestStore(t, bkt)
		ctx := context.Background()
		api, web := labels.FromStrings("app", "api"), labels.FromStrings("app", "web")
		inFirst := ref(api, 10*hour+1, 10*hour+100)
		spanning := ref(api, 11*hour-5, 11*hour+5)
		inSecond := ref(web, 11*hour+10, 11*hour+20)
		if err := s.PutIndex(ctx, "t", "ingester-0", []index.Series{seriesOf(api, inFirst, spanning), seriesOf(web, inSecond)}); err != nil {
			t.Fatal(err)
		}
		var keys []string
		if err := bkt.Iter(ctx, "t/", func(n string) error { keys = append(keys, n); return nil }, objstore.WithRecursiveIter()); err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 || !strings.HasPrefix(keys[0], "t/10/index/ingester-0-") || !strings.HasPrefix(keys[1], "t/11/index/ingester-0-") {
			t.Fatalf("objects = %q, want one segment in period 10 and one in 11", keys)
		}

		tests := []struct {
			name       string
			mint, maxt int64
			want       []index.ChunkRef
		}{
			{"first period sees the spanning chunk", 10 * hour, 11*hour - 1, []index.ChunkRef{inFirst, spanning}},
			{"second period sees the spanning chunk", 11 * hour, 12*hour - 1, []index.ChunkRef{spanning, inSecond}},
			{"both periods deduplicate it", 10 * hour, 12 * hour, []index.ChunkRef{inFirst, spanning, inSecond}},
			{"empty period", 20 * hour, 21 * hour, nil},
			{"unbounded range lists the tenant's periods", math.MinInt64, math.MaxInt64, []index.ChunkRef{inFirst, spanning, inSecond}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := chunksOf(selectAll(t, s, "t", tt.mint, tt.maxt)); !slices.Equal(got, tt.want) {
					t.Errorf("got %+v\nwant %+v", got, tt.want)
				}
			})
		}
		// Another process sees the same data.
		other, _ := newTestStore(t, bkt)
		if got := chunksOf(selectAll(t, other, "t", 10*hour, 12*hour)); len(got) != 3 {
			t.Errorf("a second store sees %d chunks, want 3", len(got))
		}
	})
}

func TestIndexVisibility(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		ctx := context.Background()
		querier, clk := newTestStore(t, bkt)
		ingester, _ := newTestStore(t, bkt)
		api := labels.FromStrings("app", "api")

		// The querier caches an empty listing of period 10.
		if got := selectAll(t, querier, "t", 10*hour, 11*hour-1); len(got) != 0 {
			t.Fatalf("got %d series before any flush", len(got))
		}
		// Its own flush is visible at once despite the cached listing.
		own := ref(api, 10*hour, 10*hour+1)
		if err := querier.PutIndex(ctx, "t", "q", []index.Series{seriesOf(api, own)}); err != nil {
			t.Fatal(err)
		}
		if got := chunksOf(selectAll(t, querier, "t", 10*hour, 11*hour-1)); !slices.Equal(got, []index.ChunkRef{own}) {
			t.Fatalf("own segment: got %+v", got)
		}
		// Another process's flush shows up once the listing expires.
		theirs := ref(api, 10*hour+50, 10*hour+60)
		if err := ingester.PutIndex(ctx, "t", "ingester-1", []index.Series{seriesOf(api, theirs)}); err != nil {
			t.Fatal(err)
		}
		if got := chunksOf(selectAll(t, querier, "t", 10*hour, 11*hour-1)); len(got) != 1 {
			t.Errorf("before the list interval: got %d chunks, want the cached 1", len(got))
		}
		clk.advance(querier.cfg.ListInterval)
		if got := chunksOf(selectAll(t, querier, "t", 10*hour, 11*hour-1)); !slices.Equal(got, []index.ChunkRef{own, theirs}) {
			t.Errorf("after the list interval: got %+v", got)
		}
	})
}

func TestIndexCachesSegments(t *testing.T) {
	bkt := newCountingBucket(objstore.NewInMemBucket())
	writer, _ := newTestStore(t, bkt)
	api := labels.FromStrings("app", "api")
	for i := range int64(3) {
		if err := writer.PutIndex(context.Background(), "t", "w", []index.Series{seriesOf(api, ref(api, 10*hour+i, 10*hour+i))}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	s := New(bkt, Config{IndexPeriod: time.Hour}, nil, reg)
	for range 3 {
		if got := chunksOf(selectAll(t, s, "t", 10*hour, 10*hour+10)); len(got) != 3 {
			t.Fatalf("got %d chunks, want 3", len(got))
		}
	}
	if n := bkt.totalGets(); n != 3 {
		t.Errorf("downloaded %d times, want each of 3 segments once", n)
	}
	if hits := testutil.ToFloat64(s.cacheRequests.WithLabelValues("hit")); hits != 6 {
		t.Errorf("cache hits = %v, want 6", hits)
	}
	if got := testutil.ToFloat64(s.lists); got != 1 {
		t.Errorf("listed %v times within the list interval, want 1", got)
	}
}

func TestSegmentCacheEvictsLeastRecentlyUsedByBytes(t *testing.T) {
	api := labels.FromStrings("app", "api")
	open := func(minT int64) *index.Reader {
		b, err := index.Write([]index.Series{seriesOf(api, ref(api, minT, minT+1))})
		if err != nil {
			t.Fatal(err)
		}
		r, err := index.Open(b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b, c := open(1), open(2), open(3)
	size := int64(a.Size())
	var reported int64
	cache := newSegmentCache(2*size, func(n int64) { reported = n })
	cache.add("a", a)
	cache.add("b", b)
	cache.get("a") // b is now least recently used
	cache.add("c", c)
	if _, ok := cache.get("b"); ok {
		t.Error("b survived, want it evicted as least recently used")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := cache.get(k); !ok {
			t.Errorf("%s was evicted, want it kept", k)
		}
	}
	if cache.bytes() != 2*size || reported != 2*size {
		t.Errorf("cache size = %d (reported %d), want %d", cache.bytes(), reported, 2*size)
	}
	tiny := newSegmentCache(size-1, nil)
	tiny.add("a", a)
	if _, ok := tiny.get("a"); ok || tiny.bytes() != 0 {
		t.Error("a segment larger than the whole cache was cached")
	}
}

func TestIndexSkipsCorruptSegments(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	ctx := context.Background()
	writer, _ := newTestStore(t, bkt)
	api := labels.FromStrings("app", "api")
	good := ref(api, 10*hour, 10*hour+1)
	if err := writer.PutIndex(ctx, "t", "w", []index.Series{seriesOf(api, good)}); err != nil {
		t.Fatal(err)
	}
	if err := bkt.Upload(ctx, indexKey("t", 10, "broken", 1), strings.NewReader("not a segment")); err != nil {
		t.Fatal(err)
	}
	s, _ := newTestStore(t, bkt)
	if got := chunksOf(selectAll(t, s, "t", 10*hour, 11*hour-1)); !slices.Equal(got, []index.ChunkRef{good}) {
		t.Errorf("got %+v, want the good segment's chunk", got)
	}
	if n := testutil.ToFloat64(s.corrupt); n != 1 {
		t.Errorf("corrupt segments counted = %v, want 1", n)
	}
	// Segments are immutable: a corrupt one is not fetched again.
	s.now = func() time.Time { return time.Now().Add(time.Hour) } // expire the listing
	if got := chunksOf(selectAll(t, s, "t", 10*hour, 11*hour-1)); !slices.Equal(got, []index.ChunkRef{good}) {
		t.Errorf("second query: got %+v", got)
	}
	if n := testutil.ToFloat64(s.corrupt); n != 1 {
		t.Errorf("corrupt segment fetched again: counted %v times", n)
	}
}

func TestIndexRelistsWhenASegmentVanishes(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	ctx := context.Background()
	api := labels.FromStrings("app", "api")
	c1, c2 := ref(api, 10*hour, 10*hour+1), ref(api, 10*hour+5, 10*hour+6)
	segs := make([]string, 2)
	for i, c := range []index.ChunkRef{c1, c2} {
		b, err := index.Write([]index.Series{seriesOf(api, c)})
		if err != nil {
			t.Fatal(err)
		}
		segs[i] = indexKey("t", 10, "w", int64(i))
		if err := bkt.Upload(ctx, segs[i], strings.NewReader(string(b))); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := newTestStore(t, bkt)
	// Cache the listing but only one segment.
	if _, err := s.segmentNames(ctx, indexDir("t", 10), false); err != nil {
		t.Fatal(err)
	}
	// A compactor replaces both segments by a merged one.
	merged, err := index.Merge(mustGet(t, bkt, segs[0]), mustGet(t, bkt, segs[1]))
	if err != nil {
		t.Fatal(err)
	}
	if err := bkt.Upload(ctx, indexKey("t", 10, "compactor", 2), strings.NewReader(string(merged))); err != nil {
		t.Fatal(err)
	}
	for _, k := range segs {
		if err := bkt.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if got := chunksOf(selectAll(t, s, "t", 10*hour, 11*hour-1)); !slices.Equal(got, []index.ChunkRef{c1, c2}) {
		t.Errorf("got %+v, want both chunks from the merged segment", got)
	}
}

func mustGet(t *testing.T, bkt objstore.Bucket, key string) []byte {
	t.Helper()
	rc, err := bkt.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTenants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		s, _ := newTestStore(t, bkt)
		ctx := context.Background()
		if ts, err := s.Tenants(ctx); err != nil || len(ts) != 0 {
			t.Fatalf("Tenants of an empty bucket = %q, %v", ts, err)
		}
		api := labels.FromStrings("app", "api")
		for _, tenant := range []string{"team-b", "fake", "team-a"} {
			if err := s.PutIndex(ctx, tenant, "w", []index.Series{seriesOf(api, ref(api, 0, 1))}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutChunk(ctx, "chunks-only", ref(api, 0, 1), []byte("abcd")); err != nil {
			t.Fatal(err)
		}
		ts, err := s.Tenants(ctx)
		if want := []string{"chunks-only", "fake", "team-a", "team-b"}; err != nil || !slices.Equal(ts, want) {
			t.Errorf("Tenants = %q, %v; want %q", ts, err, want)
		}
	})
}

func TestConcurrentIndexAndPut(t *testing.T) {
	s, _ := newTestStore(t, objstore.NewInMemBucket())
	ctx := context.Background()
	api := labels.FromStrings("app", "api")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range int64(20) {
				c := ref(api, 10*hour+int64(w)*100+i, 10*hour+int64(w)*100+i)
				if err := s.PutIndex(ctx, "t", "w", []index.Series{seriesOf(api, c)}); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Index(ctx, "t", 10*hour, 11*hour-1); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := chunksOf(selectAll(t, s, "t", 10*hour, 11*hour-1)); len(got) != 80 {
		t.Errorf("got %d chunks, want all 80 flushed", len(got))
	}
}

func TestIndexOfUnknownTenantIsEmpty(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		s, _ := newTestStore(t, bkt)
		for _, r := range [][2]int64{{10 * hour, 11 * hour}, {math.MinInt64, math.MaxInt64}} {
			if got := selectAll(t, s, "nobody", r[0], r[1]); len(got) != 0 {
				t.Errorf("range %v: got %d series for a tenant without data", r, len(got))
			}
		}
	})
}
