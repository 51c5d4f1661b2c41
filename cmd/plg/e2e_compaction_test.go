package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/store"
	"github.com/plgstack/plg/push"
)

func TestChunkCompactionMergesManyStreamsSmallChunks(t *testing.T) {
	// The data must stay in the previous period while the test runs.
	if left := time.Until(time.Now().Truncate(time.Hour).Add(time.Hour)); left < 2*time.Minute {
		time.Sleep(left + time.Second)
	}
	dataDir := t.TempDir()
	srv := startServer(t, dataDir, "-store.index-period=1h", "-compactor.interval=300ms", "-compactor.chunk-compaction-interval=0", "-compactor.retention-delete-delay=1s")
	const streams, rounds, perRound = 300, 4, 3
	// In the previous (1h) period, which the compactor merges to the end
	// (store.ChunkCompaction.Final); the current period's chunks written
	// by it are merged again only with as much new data.
	base := time.Now().Truncate(time.Hour).Add(-time.Hour + time.Minute)
	want := map[string]int{}
	for r := range rounds {
		var req push.Request
		for s := range streams {
			st := push.Stream{Labels: fmt.Sprintf(`{job="job-%03d", env="e2e"}`, s)}
			for k := range perRound {
				ts := base.Add(time.Duration(r)*time.Minute + time.Duration(k)*time.Millisecond)
				line := fmt.Sprintf("round=%d k=%d stream=%d msg=\"a line of an active stream\"", r, k, s)
				st.Entries = append(st.Entries, push.Entry{Timestamp: ts.UnixNano(), Line: []byte(line)})
				want[fmt.Sprintf("job-%03d %s", s, line)]++
			}
			req.Streams = append(req.Streams, st)
		}
		if code, resp := srv.post("/loki/api/v1/push", "application/x-protobuf", "", push.EncodeBody(&req)); code != http.StatusNoContent {
			t.Fatalf("push: %d %s", code, resp)
		}
		// Each flush cuts every stream's chunk: a small chunk per stream
		// and round, as thousands of streams sharing the memory budget do.
		if code, body := srv.post("/flush", "", "", nil); code != http.StatusNoContent {
			t.Fatalf("/flush: %d %s", code, body)
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, _, n := readCompacted(t, dataDir, "fake")
		if n <= streams {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d chunks indexed after 90s, want at most %d; logs:\n%s", n, streams, srv.logText())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := metricValue(t, srv, "plg_compactor_chunks_compacted_total"); got < streams*rounds {
		t.Errorf("plg_compactor_chunks_compacted_total = %v, want at least %d", got, streams*rounds)
	}
	// Every entry stored once: the chunks the index names hold exactly the
	// pushed entries, with no duplicate left to merge away.
	got, raw, _ := readCompacted(t, dataDir, "fake")
	if !equalCounts(got, want) {
		t.Fatalf("store holds %d distinct lines, want %d", len(got), len(want))
	}
	if raw != len(want) {
		t.Errorf("the indexed chunks hold %d entries, want each of the %d once", raw, len(want))
	}
	// The packs the rewrite stopped referencing go once the (1s) grace
	// period has passed.
	for {
		if metricValue(t, srv, `plg_compactor_packs_deleted_total{reason="marked"}`) >= rounds {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ingesters' %d packs were not deleted; logs:\n%s", rounds, srv.logText())
		}
		time.Sleep(200 * time.Millisecond)
	}
	srv.stop()

	// A restart (the ingester's memory is gone) answers every line once
	// from the compacted store.
	srv = startServer(t, dataDir, "-store.index-period=1h")
	defer srv.stop()
	lines := queryLinesSince(t, srv, `{job=~"job-00.", env="e2e"}`, base.Add(-time.Minute))
	var wantLines []string
	for k := range want {
		if strings.HasPrefix(k, "job-00") {
			wantLines = append(wantLines, k)
		}
	}
	slices.Sort(wantLines)
	if !slices.Equal(lines, wantLines) {
		t.Errorf("query returned %d lines, want %d", len(lines), len(wantLines))
	}
}

// readCompacted reads, with a 1h index period, every chunk the index
// names for the tenant's streams over the last day: the lines as a query
// returns them ("<job> <line>", each stream's chunks merged), the entries
// of all chunks counted without merging, and the number of chunks.
func readCompacted(t *testing.T, dataDir, tenant string) (lines map[string]int, raw, nchunks int) {
	t.Helper()
	cfg := store.DefaultConfig()
	cfg.IndexPeriod = time.Hour
	cfg.Filesystem.Dir = filepath.Join(dataDir, "store")
	bkt, err := store.NewBucket(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bkt.Close()
	st := store.New(bkt, cfg, nil, nil)
	ctx := context.Background()
	from, through := time.Now().Add(-24*time.Hour).UnixNano(), time.Now().Add(24*time.Hour).UnixNano()
	idx, err := st.Index(ctx, tenant, from, through)
	if err != nil {
		t.Fatal(err)
	}
	series, err := idx.Select(from, through, labels.MustNewMatcher(labels.MatchRegexp, "job", ".+"))
	if err != nil {
		t.Fatal(err)
	}
	lines = map[string]int{}
	for _, sr := range series {
		var its []chunks.Iterator
		for _, ref := range sr.Chunks {
			nchunks++
			data, err := st.GetChunk(ctx, tenant, ref)
			if err != nil {
				t.Fatal(err)
			}
			c, err := chunks.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			raw += c.Entries()
			its = append(its, c.Iterator(ctx, from, through, chunks.Forward, nil))
		}
		it := chunks.NewMergeIterator(chunks.Forward, its...)
		for it.Next() {
			lines[sr.Labels.Get("job")+" "+string(it.At().Line)]++
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		it.Close()
	}
	return lines, raw, nchunks
}
