package querier

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/store"
	"github.com/plgstack/plg/querier/logql"
)

// retentionStore writes 6000 lines, one a millisecond from t0, as four
// chunks of 1500, and returns the store and its bucket.
func retentionStore(t *testing.T) (*store.Store, objstore.Bucket, []chunks.Entry) {
	t.Helper()
	bkt := objstore.NewInMemBucket()
	st := store.New(bkt, store.DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	es := genLines(7, 6000, "")
	writeStore(t, st, "test", storeOpts{blockSize: 16 << 10, chunkEntries: 1500}, storeStream{labels.FromStrings("app", "a"), es})
	return st, bkt, es
}

// selectTimestamps runs a select over everything and returns the
// timestamps read, or the error met.
func selectTimestamps(t *testing.T, st *store.Store, hints logql.SelectHints) ([]int64, error) {
	t.Helper()
	src := source{q: New(nil, st), tenants: []string{testTenant}}
	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "app", "a")}
	ss, err := src.Select(context.Background(), ms, t0-int64(time.Hour), t0+int64(time.Hour), chunks.Forward, hints, nil)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, s := range ss {
		for s.Iter.Next() {
			out = append(out, s.Iter.At().Timestamp)
		}
		err := s.Iter.Err()
		s.Iter.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func TestSelectStopsAtTheRetentionCutoffInsideAChunk(t *testing.T) {
	st, _, _ := retentionStore(t)
	// The cutoff falls in the second chunk; the clock runs on, so it is
	// known only between two bounds taken around the select.
	retention := time.Since(time.Unix(0, t0+2250*int64(time.Millisecond)))
	st.SetRetention(func(string) time.Duration { return retention })
	lo := st.RetentionCutoff(testTenant)
	got, err := selectTimestamps(t, st, logql.SelectHints{})
	if err != nil {
		t.Fatal(err)
	}
	hi := st.RetentionCutoff(testTenant)
	if len(got) == 0 || got[0] < lo {
		t.Fatalf("first entry %v, want none before the cutoff %d", got[:min(1, len(got))], lo)
	}
	last := t0 + 5999*int64(time.Millisecond)
	if want := int((last-hi)/int64(time.Millisecond)) + 1; len(got) < want || got[len(got)-1] != last {
		t.Errorf("%d entries ending at %d, want at least %d ending at %d", len(got), got[len(got)-1], want, last)
	}
}

func TestSelectSkipsAChunkDeletedUnderItOnlyWithRetention(t *testing.T) {
	for _, hints := range []logql.SelectHints{{}, {LineSubstrings: [][]string{{"request served"}}}} {
		st, bkt, _ := retentionStore(t)
		// A reader listed the index, then retention deleted a chunk.
		ctx := context.Background()
		idx, err := st.Index(ctx, testTenant, t0, t0+int64(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		series, err := idx.Select(t0, t0+int64(time.Hour))
		if err != nil || len(series) != 1 || len(series[0].Chunks) != 4 {
			t.Fatalf("index: %+v, %v; want 1 series of 4 chunks", series, err)
		}
		gone := series[0].Chunks[1]
		if err := bkt.Delete(ctx, st.ChunkKey(testTenant, gone)); err != nil {
			t.Fatal(err)
		}
		if _, err := selectTimestamps(t, st, hints); err == nil {
			t.Errorf("hints %+v: without retention a missing chunk did not fail the query", hints)
		}
		st.SetRetention(func(string) time.Duration { return 100 * 365 * 24 * time.Hour })
		got, err := selectTimestamps(t, st, hints)
		if err != nil {
			t.Fatalf("hints %+v: with retention: %v", hints, err)
		}
		if len(got) != 4500 {
			t.Errorf("hints %+v: %d entries, want the 4500 of the chunks left", hints, len(got))
		}
		for _, ts := range got {
			if ts >= gone.MinT && ts <= gone.MaxT {
				t.Fatalf("hints %+v: entry %d from the deleted chunk", hints, ts)
			}
		}
	}
}
