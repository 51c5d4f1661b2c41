package store

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/index"
)

var testChunkOpts = chunks.Options{Encoding: chunks.Zstd, BlockSize: 8 << 10, TargetSize: 32 << 10, NgramBitsPerGram: 1}

func testCompaction() ChunkCompaction {
	return ChunkCompaction{
		Merge: func(ctx context.Context, in []ChunkBytes) ([]MergedChunk, error) {
			cin := make([]chunks.CompactInput, len(in))
			for i, c := range in {
				cin[i] = chunks.CompactInput{Name: c.Name, Data: c.Data}
			}
			outs, err := chunks.Compact(ctx, testChunkOpts, cin)
			if err != nil {
				return nil, err
			}
			res := make([]MergedChunk, len(outs))
			for i, o := range outs {
				res[i] = MergedChunk{Data: o.Data, MinT: o.MinT, MaxT: o.MaxT, Entries: o.Entries, UncompressedBytes: o.UncompressedBytes, Checksum: o.Checksum}
			}
			return res, nil
		},
		TargetBytes: testChunkOpts.TargetSize,
		SmallBytes:  testChunkOpts.TargetSize / 2,
	}
}

// manyStreams is a period (10:00-11:00) of streams each flushed as one
// small chunk per flush cycle, all streams' chunks of a cycle in one pack
// and one index segment, as an ingester under memory pressure writes them.
type manyStreams struct {
	streams []labels.Labels
	entries int // distinct entries written
}

func writeManyStreams(t *testing.T, s *Store, tenant string, streams, cycles, perChunk int) manyStreams {
	t.Helper()
	ctx := context.Background()
	m := manyStreams{}
	for i := range streams {
		m.streams = append(m.streams, labels.FromStrings("app", fmt.Sprintf("app-%03d", i), "pod", "p"))
	}
	for c := range cycles {
		var (
			refs []index.ChunkRef
			data [][]byte
		)
		for i, ls := range m.streams {
			mc := chunks.NewMemChunkWithOptions(testChunkOpts)
			for k := range perChunk {
				ts := 10*hour + int64(c)*minute + int64(k)*1000 + int64(i)
				line := fmt.Sprintf("level=info stream=%d cycle=%d k=%d msg=\"request served\"", i, c, k)
				var md labels.Labels
				if k%5 == 0 {
					md = labels.FromStrings("trace_id", fmt.Sprintf("%x", ts))
				}
				if _, err := mc.Append(chunks.Entry{Timestamp: ts, Line: []byte(line), Metadata: md}); err != nil {
					t.Fatal(err)
				}
				m.entries++
			}
			b, err := mc.Encode()
			if err != nil {
				t.Fatal(err)
			}
			minT, maxT := mc.Bounds()
			refs = append(refs, index.ChunkRef{Fingerprint: ls.Hash(), MinT: minT, MaxT: maxT, Checksum: crc32c(b),
				Size: uint32(len(b)), Entries: uint32(mc.Entries()), UncompressedBytes: uint32(mc.UncompressedSize())})
			data = append(data, b)
		}
		located, err := s.PutPack(ctx, tenant, "ing", refs, data)
		if err != nil {
			t.Fatal(err)
		}
		var series []index.Series
		for i, ls := range m.streams {
			series = append(series, seriesOf(ls, located[i]))
		}
		if err := s.PutIndex(ctx, tenant, "ing", series); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// readBack reads every chunk the index of a fresh store names for period
// 10 and returns the entries as a query would see them (chunks of a
// stream merged, exact duplicates across chunks dropped), the entries of
// all chunks counted without that deduplication, and the chunks.
func readBack(t *testing.T, bkt objstore.Bucket, tenant string) (entries map[string]int, raw int, nchunks int) {
	t.Helper()
	ctx := context.Background()
	fresh := New(bkt, Config{IndexPeriod: time.Hour}, nil, prometheus.NewRegistry())
	mr, err := fresh.Index(ctx, tenant, 10*hour, 11*hour-1)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := mr.Select(10*hour, 11*hour-1)
	if err != nil {
		t.Fatal(err)
	}
	entries = map[string]int{}
	for _, sr := range ss {
		var its []chunks.Iterator
		for _, r := range sr.Chunks {
			nchunks++
			b, err := fresh.GetChunk(ctx, tenant, r)
			if err != nil {
				t.Fatalf("series %s: %v", sr.Labels, err)
			}
			c, err := chunks.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			raw += c.Entries()
			its = append(its, c.Iterator(ctx, math.MinInt64, math.MaxInt64, chunks.Forward, nil))
		}
		it := chunks.NewMergeIterator(chunks.Forward, its...)
		for it.Next() {
			e := it.At()
			entries[fmt.Sprintf("%s %d %s %s", sr.Labels, e.Timestamp, e.Line, e.Metadata)]++
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		it.Close()
	}
	return entries, raw, nchunks
}

func checkEveryEntryOnce(t *testing.T, bkt objstore.Bucket, tenant string, m manyStreams, before map[string]int, exact bool) int {
	t.Helper()
	got, raw, n := readBack(t, bkt, tenant)
	if len(got) != m.entries {
		t.Fatalf("queries see %d distinct entries, want %d", len(got), m.entries)
	}
	for k, v := range got {
		if v != 1 {
			t.Fatalf("entry %q seen %d times", k, v)
		}
		if before != nil && before[k] != 1 {
			t.Fatalf("entry %q was not there before compaction", k)
		}
	}
	if exact && raw != m.entries {
		t.Fatalf("the index's chunks hold %d entries, want each of the %d once", raw, m.entries)
	}
	return n
}

func packsOf(t *testing.T, bkt objstore.Bucket, tenant string, p int64) []string {
	t.Helper()
	var out []string
	for _, k := range objectsUnder(t, bkt, packDir(tenant, p)) {
		if _, ok := packNameMaxT(k); ok {
			out = append(out, k)
		}
	}
	return out
}

// checkOnlyReferencedPacks fails if a pack of period 10 is not referenced
// by the index, or a referenced one is missing.
func checkOnlyReferencedPacks(t *testing.T, s *Store, tenant string) {
	t.Helper()
	ref, err := s.referencedPacks(context.Background(), tenant, 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, k := range packsOf(t, s.bkt, tenant, 10) {
		name := k[len(packDir(tenant, 10)):]
		have[name] = true
		if _, ok := ref[name]; !ok {
			t.Errorf("pack %s is referenced by no segment", name)
		}
	}
	for name := range ref {
		if !have[name] {
			t.Errorf("pack %s is referenced but gone", name)
		}
	}
}

func TestCompactChunksMergesManySmallChunks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		s, clk := newTestStore(t, bkt)
		ctx := context.Background()
		m := writeManyStreams(t, s, "t", 320, 6, 20)
		before, _, n0 := readBack(t, bkt, "t")
		if n0 != 320*6 {
			t.Fatalf("%d chunks before compaction, want %d", n0, 320*6)
		}
		oldPacks := packsOf(t, bkt, "t", 10)

		st, err := s.CompactChunks(ctx, "t", 10*hour, testCompaction())
		if err != nil {
			t.Fatal(err)
		}
		if st.Segments != 6 || st.InputChunks != 320*6 || st.OutputChunks != 320 || st.Packs != 1 || st.MarkedPacks != 6 {
			t.Errorf("stats %+v: want 6 segments, 1920 chunks in, 320 out, 1 pack, 6 marked", st)
		}
		if st.OutputBytes >= st.InputBytes {
			t.Errorf("compaction stored %d bytes for %d", st.OutputBytes, st.InputBytes)
		}
		if n := checkEveryEntryOnce(t, bkt, "t", m, before, true); n != 320 {
			t.Errorf("%d chunks after compaction, want 320", n)
		}
		if segs := segmentsOf(t, bkt, "t", 10); len(segs) != 1 || !strings.Contains(segs[0], "/compactor-") {
			t.Errorf("segments %q, want one written by the compactor", segs)
		}
		markers := objectsUnder(t, bkt, packDir("t", 10)+deletionsDir)
		if len(markers) != 1 {
			t.Fatalf("markers %q, want one", markers)
		}

		// Within the grace period the old packs stay: a query that listed
		// the old index may read them.
		if gc, err := s.CollectPacks(ctx, "t", 10*hour, 2*time.Hour); err != nil || gc != (PackCollection{}) {
			t.Fatalf("CollectPacks within the grace period: %+v, %v", gc, err)
		}
		for _, k := range oldPacks {
			if ok, _ := bkt.Exists(ctx, k); !ok {
				t.Fatalf("pack %s deleted within the grace period", k)
			}
		}
		clk.advance(2*time.Hour + time.Second)
		gc, err := s.CollectPacks(ctx, "t", 10*hour, 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if gc.Marked != 6 || gc.Orphans != 0 || gc.Markers != 1 || gc.Bytes == 0 {
			t.Errorf("CollectPacks after the grace period: %+v, want 6 marked packs and 1 marker deleted", gc)
		}
		checkOnlyReferencedPacks(t, s, "t")
		if markers := objectsUnder(t, bkt, packDir("t", 10)+deletionsDir); len(markers) != 0 {
			t.Errorf("markers left: %q", markers)
		}
		checkEveryEntryOnce(t, bkt, "t", m, before, true)

		// Nothing left to merge: a second run changes nothing.
		if st, err := s.CompactChunks(ctx, "t", 10*hour, testCompaction()); err != nil || st != (ChunkCompactionStats{}) {
			t.Errorf("second run: %+v, %v; want nothing done", st, err)
		}
	})
}

func TestCompactChunksSurvivesACrashAfterEachStep(t *testing.T) {
	for _, step := range []int{stepPacks, stepSegment, stepMarker} {
		t.Run(fmt.Sprint("step", step), func(t *testing.T) {
			bkt := objstore.NewInMemBucket()
			s, clk := newTestStore(t, bkt)
			ctx := context.Background()
			m := writeManyStreams(t, s, "t", 40, 4, 10)
			before, _, _ := readBack(t, bkt, "t")
			crash := errors.New("crash")
			s.compactHook = func(at int) error {
				if at == step {
					return crash
				}
				return nil
			}
			if _, err := s.CompactChunks(ctx, "t", 10*hour, testCompaction()); !errors.Is(err, crash) {
				t.Fatalf("err %v, want the injected crash", err)
			}
			// Whatever the crash left, queries see each entry once.
			checkEveryEntryOnce(t, bkt, "t", m, before, false)
			// Nothing is deleted while the rewrite is unfinished, even
			// long after.
			clk.advance(3 * time.Hour)
			if _, err := s.CollectPacks(ctx, "t", 10*hour, 2*time.Hour); err != nil {
				t.Fatal(err)
			}
			checkEveryEntryOnce(t, bkt, "t", m, before, false)

			// A fresh compactor finishes the job.
			s2, clk2 := newTestStore(t, bkt)
			clk2.t = clk.now()
			st, err := s2.CompactChunks(ctx, "t", 10*hour, testCompaction())
			if err != nil {
				t.Fatal(err)
			}
			if step != stepPacks && st.Packs != 0 {
				t.Errorf("the rerun wrote %d packs; the merged chunks were already stored", st.Packs)
			}
			if n := checkEveryEntryOnce(t, bkt, "t", m, before, true); n != 40 {
				t.Errorf("%d chunks after the rerun, want 40", n)
			}
			clk2.advance(2*time.Hour + time.Second)
			if _, err := s2.CollectPacks(ctx, "t", 10*hour, 2*time.Hour); err != nil {
				t.Fatal(err)
			}
			checkOnlyReferencedPacks(t, s2, "t")
			checkEveryEntryOnce(t, bkt, "t", m, before, true)
		})
	}
}

func TestConcurrentCompactChunks(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	s, clk := newTestStore(t, bkt)
	ctx := context.Background()
	m := writeManyStreams(t, s, "t", 60, 5, 10)
	before, _, _ := readBack(t, bkt, "t")
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		si, c := newTestStore(t, bkt)
		c.t = clk.now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = si.CompactChunks(ctx, "t", 10*hour, testCompaction())
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Logf("a concurrent run failed (the others may have deleted its inputs): %v", err)
		}
	}
	checkEveryEntryOnce(t, bkt, "t", m, before, false)
	if _, err := s.CompactChunks(ctx, "t", 10*hour, testCompaction()); err != nil {
		t.Fatal(err)
	}
	if n := checkEveryEntryOnce(t, bkt, "t", m, before, true); n != 60 {
		t.Errorf("%d chunks, want 60", n)
	}
	clk.advance(2*time.Hour + time.Second)
	if _, err := s.CollectPacks(ctx, "t", 10*hour, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	checkOnlyReferencedPacks(t, s, "t")
	checkEveryEntryOnce(t, bkt, "t", m, before, true)
}

func TestCollectPacksDeletesOrphansAfterTheirAge(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	s, clk := newTestStore(t, bkt)
	ctx := context.Background()
	m := writeManyStreams(t, s, "t", 5, 2, 5)
	// A flush whose index segment was never written.
	refs, data := packChunks(labels.FromStrings("app", "lost"), 10*hour+30*minute, 3)
	if _, err := s.PutPack(ctx, "t", "ingester-1", refs, data); err != nil {
		t.Fatal(err)
	}
	if len(packsOf(t, bkt, "t", 10)) != 3 {
		t.Fatal("want 3 packs")
	}
	clk.advance(2*time.Hour + time.Second) // past the grace, under MinOrphanPackAge when grace is short
	if gc, err := s.CollectPacks(ctx, "t", 10*hour, 10*time.Minute); err != nil || gc.Orphans != 1 {
		// 2h is past MinOrphanPackAge: the orphan goes.
		t.Fatalf("CollectPacks: %+v, %v; want the orphan deleted", gc, err)
	}
	checkOnlyReferencedPacks(t, s, "t")
	checkEveryEntryOnce(t, bkt, "t", m, nil, true)
}

func TestCollectPacksKeepsYoungOrphans(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	s, clk := newTestStore(t, bkt)
	ctx := context.Background()
	refs, data := packChunks(labels.FromStrings("app", "lost"), 10*hour+30*minute, 3)
	if _, err := s.PutPack(ctx, "t", "ingester-1", refs, data); err != nil {
		t.Fatal(err)
	}
	// A short grace does not shorten the orphans' age: an ingester may
	// still be retrying the pack's index segment.
	clk.advance(MinOrphanPackAge - time.Minute)
	if gc, err := s.CollectPacks(ctx, "t", 10*hour, time.Minute); err != nil || gc.Orphans != 0 {
		t.Fatalf("CollectPacks: %+v, %v; want the young orphan kept", gc, err)
	}
	clk.advance(2 * time.Minute)
	if gc, err := s.CollectPacks(ctx, "t", 10*hour, time.Minute); err != nil || gc.Orphans != 1 {
		t.Fatalf("CollectPacks: %+v, %v; want the orphan deleted", gc, err)
	}
}

func TestCollectPacksKeepsPacksReferencedFromTheNextPeriod(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	s, clk := newTestStore(t, bkt)
	ctx := context.Background()
	api := labels.FromStrings("app", "api")
	refs, data := packChunks(api, 10*hour+59*minute, 1)
	refs[0].MaxT = 11*hour + 5*minute // reaches period 11
	located, err := s.PutPack(ctx, "t", "ing", refs, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutIndex(ctx, "t", "ing", []index.Series{seriesOf(api, located[0])}); err != nil {
		t.Fatal(err)
	}
	// Only period 11's segment references it now.
	for _, k := range segmentsOf(t, bkt, "t", 10) {
		if err := bkt.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	clk.advance(3 * time.Hour)
	if gc, err := s.CollectPacks(ctx, "t", 10*hour, time.Hour); err != nil || gc != (PackCollection{}) {
		t.Fatalf("CollectPacks: %+v, %v; want the pack kept", gc, err)
	}
}

func TestCompactChunksBoundsRewrites(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	s, _ := newTestStore(t, bkt)
	ctx := context.Background()
	writeManyStreams(t, s, "t", 3, 8, 20)
	if _, err := s.CompactChunks(ctx, "t", 10*hour, testCompaction()); err != nil {
		t.Fatal(err)
	}
	first := chunksOf(selectAll(t, s, "t", 10*hour, 11*hour-1))
	// Two more small chunks per stream, fewer bytes than the compacted
	// one: they merge with each other, not into it.
	api := labels.FromStrings("app", "app-000", "pod", "p")
	var more []index.ChunkRef
	var data [][]byte
	for k := range 2 {
		mc := chunks.NewMemChunkWithOptions(testChunkOpts)
		ts := 10*hour + 30*minute + int64(k)*minute
		if _, err := mc.Append(chunks.Entry{Timestamp: ts, Line: []byte(fmt.Sprint("late line ", k))}); err != nil {
			t.Fatal(err)
		}
		b, _ := mc.Encode()
		more = append(more, index.ChunkRef{Fingerprint: api.Hash(), MinT: ts, MaxT: ts, Checksum: crc32c(b), Size: uint32(len(b)), Entries: 1, UncompressedBytes: 20})
		data = append(data, b)
	}
	located, err := s.PutPack(ctx, "t", "ing", more, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutIndex(ctx, "t", "ing", []index.Series{seriesOf(api, located...)}); err != nil {
		t.Fatal(err)
	}
	st, err := s.CompactChunks(ctx, "t", 10*hour, testCompaction())
	if err != nil {
		t.Fatal(err)
	}
	if st.InputChunks != 2 || st.OutputChunks != 1 {
		t.Errorf("stats %+v: want the 2 new chunks merged, the compacted ones left alone", st)
	}
	after := chunksOf(selectAll(t, s, "t", 10*hour, 11*hour-1))
	for _, c := range first {
		found := false
		for _, a := range after {
			found = found || a == c
		}
		if !found {
			t.Errorf("compacted chunk %+v was rewritten", c)
		}
	}
	if n := len(chunksOf(selectAll(t, s, "t", 10*hour, 11*hour-1))); n != 4 {
		t.Fatalf("%d chunks, want 4: one per stream and the new ones merged", n)
	}
	// Once the period is over, a final run merges them all.
	cc := testCompaction()
	cc.Final = true
	if st, err := s.CompactChunks(ctx, "t", 10*hour, cc); err != nil || st.InputChunks != 2 || st.OutputChunks != 1 {
		t.Fatalf("final run: %+v, %v; want the 2 chunks of app-000 merged", st, err)
	}
	if n := len(chunksOf(selectAll(t, s, "t", 10*hour, 11*hour-1))); n != 3 {
		t.Errorf("%d chunks after the final run, want one per stream", n)
	}
	if st, err := s.CompactChunks(ctx, "t", 10*hour, cc); err != nil || st.InputChunks != 0 {
		t.Errorf("a second final run: %+v, %v; want nothing merged", st, err)
	}
}

func TestCompactChunksLeavesStandaloneChunksAlone(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	s, _ := newTestStore(t, bkt)
	ctx := context.Background()
	m := writeManyStreams(t, s, "t", 4, 3, 5)
	api := labels.FromStrings("app", "app-000", "pod", "p")
	var v1 []index.ChunkRef
	for k := range 3 {
		mc := chunks.NewMemChunkWithOptions(testChunkOpts)
		ts := 10*hour + 40*minute + int64(k)*minute
		if _, err := mc.Append(chunks.Entry{Timestamp: ts, Line: []byte(fmt.Sprint("standalone ", k))}); err != nil {
			t.Fatal(err)
		}
		b, _ := mc.Encode()
		r := index.ChunkRef{Fingerprint: api.Hash(), MinT: ts, MaxT: ts, Checksum: crc32c(b), Size: uint32(len(b)), Entries: 1, UncompressedBytes: 20}
		if err := s.PutChunk(ctx, "t", r, b); err != nil {
			t.Fatal(err)
		}
		v1 = append(v1, r)
		m.entries++
	}
	if err := s.PutIndex(ctx, "t", "ing", []index.Series{seriesOf(api, v1...)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompactChunks(ctx, "t", 10*hour, testCompaction()); err != nil {
		t.Fatal(err)
	}
	after := chunksOf(selectAll(t, s, "t", 10*hour, 11*hour-1))
	for _, r := range v1 {
		found := false
		for _, a := range after {
			found = found || a == r
		}
		if !found {
			t.Errorf("standalone chunk %+v left the index", r)
		}
	}
	if n := checkEveryEntryOnce(t, bkt, "t", m, nil, true); n != 4+3 {
		t.Errorf("%d chunks, want one per stream and the 3 standalone", n)
	}
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

func TestApplyRetentionDeletesMarkersOfExpiredPacks(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	s, _ := newTestStore(t, bkt)
	ctx := context.Background()
	writeManyStreams(t, s, "t", 3, 3, 5)
	if _, err := s.CompactChunks(ctx, "t", 10*hour, testCompaction()); err != nil {
		t.Fatal(err)
	}
	if n := len(objectsUnder(t, bkt, packDir("t", 10)+deletionsDir)); n != 1 {
		t.Fatalf("%d markers, want 1", n)
	}
	if _, err := s.ApplyRetention(ctx, "t", 12*hour, 12*hour); err != nil {
		t.Fatal(err)
	}
	if left := objectsUnder(t, bkt, "t/10/"); len(left) != 0 {
		t.Errorf("retention left %q", left)
	}
}

func TestCompactChunksLeavesAGroupItCannotMerge(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	s, _ := newTestStore(t, bkt)
	ctx := context.Background()
	m := writeManyStreams(t, s, "t", 50, 3, 5)
	before, _, _ := readBack(t, bkt, "t")
	cc := testCompaction()
	cc.Concurrency = 1 // the 20th group is the 20th stream's
	var calls atomic.Int32
	merge := cc.Merge
	cc.Merge = func(ctx context.Context, in []ChunkBytes) ([]MergedChunk, error) {
		if calls.Add(1) == 20 {
			return nil, errors.New("chunk x: corrupt")
		}
		return merge(ctx, in)
	}
	st, err := s.CompactChunks(ctx, "t", 10*hour, cc)
	if err != nil {
		t.Fatal(err)
	}
	if st.Skipped != 1 || st.InputChunks != 49*3 {
		t.Errorf("stats %+v: want one group skipped, the other 49 merged", st)
	}
	if n := checkEveryEntryOnce(t, bkt, "t", m, before, true); n != 49+3 {
		t.Errorf("%d chunks, want 49 merged and the 3 left", n)
	}
	// The next run merges it.
	if st, err := s.CompactChunks(ctx, "t", 10*hour, testCompaction()); err != nil || st.InputChunks != 3 {
		t.Fatalf("second run: %+v, %v; want the 3 chunks left merged", st, err)
	}
	if n := checkEveryEntryOnce(t, bkt, "t", m, before, true); n != 50 {
		t.Errorf("%d chunks, want 50", n)
	}
}

func TestCompactChunksMovesSurvivorsOutOfMostlyDeadPacks(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	s, clk := newTestStore(t, bkt)
	ctx := context.Background()
	m := writeManyStreams(t, s, "t", 20, 3, 10)
	// Every flush also wrote the only chunk of a quiet stream: nothing
	// merges it, and it would keep its pack alive.
	for c := range 3 {
		ls := labels.FromStrings("app", fmt.Sprint("quiet-", c))
		mc := chunks.NewMemChunkWithOptions(testChunkOpts)
		ts := 10*hour + int64(c)*minute + 500
		if _, err := mc.Append(chunks.Entry{Timestamp: ts, Line: []byte("the only line")}); err != nil {
			t.Fatal(err)
		}
		b, _ := mc.Encode()
		r := index.ChunkRef{Fingerprint: ls.Hash(), MinT: ts, MaxT: ts, Checksum: crc32c(b), Size: uint32(len(b)), Entries: 1, UncompressedBytes: 13}
		located, err := s.PutPack(ctx, "t", "ing", []index.ChunkRef{r}, [][]byte{b})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutIndex(ctx, "t", "ing", []index.Series{seriesOf(ls, located[0])}); err != nil {
			t.Fatal(err)
		}
		m.entries++
	}
	before, _, _ := readBack(t, bkt, "t")
	st, err := s.CompactChunks(ctx, "t", 10*hour, testCompaction())
	if err != nil {
		t.Fatal(err)
	}
	// The quiet streams' packs held nothing else: nothing frees them.
	if st.Relocated != 0 {
		t.Errorf("relocated %d chunks out of packs nothing else in died", st.Relocated)
	}
	checkEveryEntryOnce(t, bkt, "t", m, before, true)

	// Now packs mixing a quiet stream's only chunk with merged ones.
	bkt2 := objstore.NewInMemBucket()
	s2, clk2 := newTestStore(t, bkt2)
	clk2.t = clk.now()
	m2 := manyStreams{}
	for c := range 3 {
		var refs []index.ChunkRef
		var data [][]byte
		var lss []labels.Labels
		for i := range 11 {
			ls := labels.FromStrings("app", fmt.Sprint("busy-", i))
			if i == 10 {
				if c > 0 {
					continue
				}
				ls = labels.FromStrings("app", "quiet")
			}
			mc := chunks.NewMemChunkWithOptions(testChunkOpts)
			for k := range 5 {
				ts := 10*hour + int64(c)*minute + int64(k)*1000
				if _, err := mc.Append(chunks.Entry{Timestamp: ts, Line: []byte(fmt.Sprint("line ", c, k, i))}); err != nil {
					t.Fatal(err)
				}
				m2.entries++
			}
			b, _ := mc.Encode()
			minT, maxT := mc.Bounds()
			refs = append(refs, index.ChunkRef{Fingerprint: ls.Hash(), MinT: minT, MaxT: maxT, Checksum: crc32c(b), Size: uint32(len(b)), Entries: 5, UncompressedBytes: uint32(mc.UncompressedSize())})
			data = append(data, b)
			lss = append(lss, ls)
		}
		located, err := s2.PutPack(ctx, "t", "ing", refs, data)
		if err != nil {
			t.Fatal(err)
		}
		var series []index.Series
		for k, ls := range lss {
			series = append(series, seriesOf(ls, located[k]))
		}
		if err := s2.PutIndex(ctx, "t", "ing", series); err != nil {
			t.Fatal(err)
		}
	}
	before2, _, _ := readBack(t, bkt2, "t")
	st, err = s2.CompactChunks(ctx, "t", 10*hour, testCompaction())
	if err != nil {
		t.Fatal(err)
	}
	if st.Relocated != 1 || st.MarkedPacks != 3 {
		t.Errorf("stats %+v: want the quiet chunk moved and the 3 ingester packs marked", st)
	}
	clk2.advance(2*time.Hour + time.Second)
	if _, err := s2.CollectPacks(ctx, "t", 10*hour, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, k := range packsOf(t, bkt2, "t", 10) {
		if !strings.Contains(k, "/compactor-") {
			t.Errorf("pack %s left after compaction and collection", k)
		}
	}
	checkOnlyReferencedPacks(t, s2, "t")
	checkEveryEntryOnce(t, bkt2, "t", m2, before2, true)
}

// FuzzPackAndMarkerNames: the key parsers the collector trusts never
// panic, a pack name's time parses only where its maxT does, and the
// names the store writes parse back.
func FuzzPackAndMarkerNames(f *testing.F) {
	f.Add("t/10/packs/ingester-0-1763769600123456789-187a0b1c2d3e4f50.pack")
	f.Add("t/10/packs/deletions/compactor-1763769600123456789.json")
	f.Add("t/10/packs/-1-2.pack")
	f.Fuzz(func(t *testing.T, key string) {
		if _, ok := packNameNano(key); ok {
			if _, ok := packNameMaxT(key); !ok {
				t.Fatalf("%q: time parses, maxT does not", key)
			}
		}
		deletionKeyNano(key)
		if nano, err := strconv.ParseInt(strings.TrimPrefix(key, "x"), 10, 64); err == nil && nano >= 0 {
			if got, ok := deletionKeyNano(deletionKey("t", 1, nano)); !ok || got != nano {
				t.Fatalf("marker of %d parses as %d, %v", nano, got, ok)
			}
			if got, ok := packNameNano("t/1/packs/" + packName("w-1", nano, 77)); !ok || got != nano {
				t.Fatalf("pack of %d parses as %d, %v", nano, got, ok)
			}
		}
	})
}

// A period with more small chunks than one call may merge is compacted
// over several calls, each within its budget, to the same end as one
// unbounded call.
func TestCompactChunksSpreadsABacklogOverRuns(t *testing.T) {
	bkt := objstore.NewInMemBucket()
	s, _ := newTestStore(t, bkt)
	ctx := context.Background()
	m := writeManyStreams(t, s, "t", 40, 6, 20)
	before, _, _ := readBack(t, bkt, "t")
	var perStream int64
	for _, c := range chunksOf(selectAll(t, s, "t", 10*hour, 11*hour-1)) {
		if c.Fingerprint == m.streams[0].Hash() {
			perStream += int64(c.Size)
		}
	}
	cc := testCompaction()
	cc.MaxInputBytes = 10 * perStream // about ten of the forty streams a run
	runs, merged := 0, 0
	for {
		st, err := s.CompactChunks(ctx, "t", 10*hour, cc)
		if err != nil {
			t.Fatal(err)
		}
		if st.InputChunks == 0 {
			break
		}
		runs++
		merged += st.InputChunks
		if st.InputBytes > cc.MaxInputBytes+perStream {
			t.Errorf("run %d merged %d bytes, budget %d", runs, st.InputBytes, cc.MaxInputBytes)
		}
		if runs < 4 && st.Deferred == 0 {
			t.Errorf("run %d deferred nothing: %+v", runs, st)
		}
		// Every entry stays readable exactly once between runs.
		checkEveryEntryOnce(t, bkt, "t", m, before, true)
		if runs > 10 {
			t.Fatal("the backlog does not shrink")
		}
	}
	if runs < 4 || merged != 40*6 {
		t.Errorf("%d runs merged %d chunks; want at least 4 runs and every one of the %d chunks", runs, merged, 40*6)
	}
	if n := checkEveryEntryOnce(t, bkt, "t", m, before, true); n != 40 {
		t.Errorf("%d chunks after the backlog, want one per stream", n)
	}
}
