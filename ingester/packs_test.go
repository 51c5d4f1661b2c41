package ingester

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/store"
	"github.com/plgstack/plg/push"
)

// pushStreams pushes lines lines to each of n streams of tenant, all
// timestamped within a second after base.
func pushStreams(t *testing.T, ing *Ingester, tenant string, n, lines int, base time.Time) {
	t.Helper()
	for s := range n {
		es := make([]push.Entry, 0, lines)
		for k := range lines {
			es = append(es, entry(base.Add(time.Duration(s*lines+k)*time.Microsecond), fmt.Sprintf("%s stream %d line %d", tenant, s, k)))
		}
		if err := ing.Push(context.Background(), tenant, req(pstream(fmt.Sprintf(`{job="packs", pod="pod-%d"}`, s), es...))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFlushWritesPacksNotChunkObjects flushes many streams of two tenants
// into a filesystem bucket: the bucket must hold one pack and one index
// segment per tenant, not an object per chunk, and every line must read
// back once from the store.
func TestFlushWritesPacksNotChunkObjects(t *testing.T) {
	dir := t.TempDir()
	cfg := store.DefaultConfig()
	cfg.Filesystem.Dir = dir
	bkt, err := store.NewBucket(cfg, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(bkt, cfg, nil, nil)
	ing := startIngester(t, testConfig(), nil, st, t.TempDir())
	defer ing.Stop(context.Background())

	const streams, lines = 300, 20
	base := time.Now().Add(-time.Minute)
	if st.PeriodOf(base.UnixNano()) != st.PeriodOf(base.Add(time.Second).UnixNano()) {
		base = base.Add(-2 * time.Second) // keep every chunk in one index period
	}
	tenants := []string{"team-a", "team-b"}
	for _, tn := range tenants {
		pushStreams(t, ing, tn, streams, lines, base)
	}
	if err := ing.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	var packs, segments, other []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil || d.IsDir():
			return err
		case strings.HasSuffix(path, ".pack"):
			packs = append(packs, path)
		case strings.HasSuffix(path, ".idx"):
			segments = append(segments, path)
		default:
			other = append(other, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(packs) != len(tenants) || len(segments) != len(tenants) || len(other) != 0 {
		t.Errorf("bucket holds %d packs, %d segments and %q; want %d packs and segments, nothing else",
			len(packs), len(segments), other, len(tenants))
	}
	if got := testutil.ToFloat64(ing.m.packsFlushed); got != float64(len(tenants)) {
		t.Errorf("packs_flushed_total = %v, want %d", got, len(tenants))
	}
	if got := testutil.ToFloat64(ing.m.packBytesFlushed); got != testutil.ToFloat64(ing.m.chunkBytesFlushed) || got == 0 {
		t.Errorf("pack_bytes_flushed_total = %v, want the chunk bytes flushed, %v", got, testutil.ToFloat64(ing.m.chunkBytesFlushed))
	}

	for _, tn := range tenants {
		mr, err := st.Index(context.Background(), tn, minInt64, maxInt64)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := mr.Select(minInt64, maxInt64)
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) != streams {
			t.Fatalf("tenant %s: %d streams indexed, want %d", tn, len(ss), streams)
		}
		seen := map[string]int{}
		for _, s := range ss {
			for _, ref := range s.Chunks {
				if ref.Pack == "" {
					t.Fatalf("chunk %+v has no pack", ref)
				}
				data, err := st.GetChunk(context.Background(), tn, ref)
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range chunkLines(t, data) {
					seen[l]++
				}
			}
		}
		for s := range streams {
			for k := range lines {
				if l := fmt.Sprintf("%s stream %d line %d", tn, s, k); seen[l] != 1 {
					t.Fatalf("tenant %s: line %q read back %d times", tn, l, seen[l])
				}
			}
		}
		if len(seen) != streams*lines {
			t.Errorf("tenant %s: %d distinct lines read back, want %d", tn, len(seen), streams*lines)
		}
	}
}

func chunkLines(t *testing.T, data []byte) []string {
	t.Helper()
	c, err := chunks.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	it := c.Iterator(context.Background(), minInt64, maxInt64, chunks.Forward, nil)
	defer it.Close()
	var out []string
	for it.Next() {
		out = append(out, string(it.At().Line))
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFlushSplitsPacksByPeriodAndSize(t *testing.T) {
	st := newFakeStore()
	ing := startIngester(t, testConfig(), nil, st, t.TempDir())
	defer ing.Stop(context.Background())
	base := time.Now().Add(-time.Minute)
	pushStreams(t, ing, "fake", 10, 5, base)
	if err := ing.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.packs != 1 {
		t.Fatalf("10 streams of one period in %d packs, want 1", st.packs)
	}

	// Streams starting in different (1ms) periods go to different packs;
	// the fake store rejects a pack that mixes periods.
	st.mu.Lock()
	st.period = int64(time.Millisecond)
	st.mu.Unlock()
	for s := range 3 {
		if err := ing.Push(context.Background(), "fake", req(pstream(fmt.Sprintf(`{job="p%d"}`, s), entry(base.Add(time.Duration(s)*time.Second), "x")))); err != nil {
			t.Fatal(err)
		}
	}
	if err := ing.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.packs != 1+3 {
		t.Fatalf("3 streams in 3 periods in %d packs, want 3", st.packs-1)
	}

	// A pack stops growing at maxPackBytes, unless it would be empty.
	ing.maxPackBytes = 1
	st.mu.Lock()
	st.period = 0
	st.mu.Unlock()
	pushStreams(t, ing, "fake", 4, 5, base)
	if err := ing.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.packs != 4+4 {
		t.Fatalf("4 chunks over the pack size in %d packs, want one each", st.packs-4)
	}
}

// TestIndexRetryDoesNotUploadPacksAgain: when the index write fails after
// the pack landed, the next cycle writes the index with the pack's
// locations and uploads nothing again; nothing is lost or counted twice.
func TestIndexRetryDoesNotUploadPacksAgain(t *testing.T) {
	st := newFakeStore()
	st.failIndex = 100
	ing := startIngester(t, testConfig(), nil, st, t.TempDir())
	defer ing.Stop(context.Background())
	pushStreams(t, ing, "fake", 20, 5, time.Now().Add(-time.Minute))
	if err := ing.Flush(context.Background()); err == nil {
		t.Fatal("flush with a failing index write reported success")
	}
	st.mu.Lock()
	packs, segs := st.packs, len(st.segments)
	st.failIndex = 0
	st.mu.Unlock()
	if packs != 1 || segs != 0 {
		t.Fatalf("after the failed index write: %d packs, %d segments; want 1 and 0", packs, segs)
	}
	if got := readAll(t, ing, "fake"); len(got) != 100 {
		t.Fatalf("%d lines queryable from memory after the failed index write, want 100", len(got))
	}
	if err := ing.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.packs != 1 || len(st.segments) != 1 {
		t.Fatalf("after the retry: %d packs, %d segments; want 1 and 1", st.packs, len(st.segments))
	}
	if got := testutil.ToFloat64(ing.m.packsFlushed); got != 1 {
		t.Errorf("packs_flushed_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(ing.m.chunksFlushed.WithLabelValues(flushReasonForced)); got != 20 {
		t.Errorf("chunks_flushed_total = %v, want 20", got)
	}
	n := 0
	for _, s := range st.segments[0] {
		for _, ref := range s.Chunks {
			n++
			key := fmt.Sprintf("fake/%x/%d-%d-%x", ref.Fingerprint, ref.MinT, ref.MaxT, ref.Checksum)
			if want, ok := st.located[key]; !ok || ref != want {
				t.Errorf("indexed %+v, but the pack put it at %+v", ref, want)
			}
		}
	}
	if n != 20 {
		t.Errorf("%d chunks indexed, want 20", n)
	}
	lines := st.lines(t)
	for l, c := range lines {
		if c != 1 {
			t.Errorf("line %q stored %d times", l, c)
		}
	}
	if len(lines) != 100 {
		t.Errorf("%d lines stored, want 100", len(lines))
	}
}

var errIndexDown = errors.New("index write refused")

// TestIndexFailingLongUploadsThePackAgain: a chunk whose index segment
// still fails packReuploadAge after its pack landed is uploaded again, so
// the segment, when it is finally written, never names a pack the
// compactor may have deleted as an orphan (store.MinOrphanPackAge).
func TestIndexFailingLongUploadsThePackAgain(t *testing.T) {
	if packReuploadAge >= store.MinOrphanPackAge/2 {
		t.Fatalf("packReuploadAge %s leaves too little of store.MinOrphanPackAge %s", packReuploadAge, store.MinOrphanPackAge)
	}
	st := newFakeStore()
	st.failIndex = 100
	ing := startIngester(t, testConfig(), nil, st, t.TempDir())
	defer ing.Stop(context.Background())
	pushStreams(t, ing, "fake", 5, 4, time.Now().Add(-time.Minute))
	if err := ing.Flush(context.Background()); err == nil {
		t.Fatal("flush with a failing index write reported success")
	}
	// A quick retry reuses the pack; one after packReuploadAge does not.
	for _, tn := range ing.allTenants() {
		for _, s := range tn.streams() {
			s.mu.Lock()
			for _, cd := range s.closed {
				cd.uploadedAt = cd.uploadedAt.Add(-packReuploadAge)
			}
			s.mu.Unlock()
		}
	}
	st.mu.Lock()
	st.failIndex = 0
	st.mu.Unlock()
	if err := ing.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.packs != 2 || len(st.segments) != 1 {
		t.Fatalf("%d packs, %d segments; want the chunks uploaded again into a second pack, then indexed", st.packs, len(st.segments))
	}
	for _, s := range st.segments[0] {
		for _, ref := range s.Chunks {
			key := fmt.Sprintf("fake/%x/%d-%d-%x", ref.Fingerprint, ref.MinT, ref.MaxT, ref.Checksum)
			if want := st.located[key]; ref != want {
				t.Errorf("indexed %+v, but the latest pack put it at %+v", ref, want)
			}
		}
	}
}
