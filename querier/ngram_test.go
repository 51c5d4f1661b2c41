package querier

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/store"
	"github.com/plgstack/plg/push"
	"github.com/plgstack/plg/querier/logql"
)

// countingBucket counts the object bytes readers take from a bucket.
type countingBucket struct {
	objstore.Bucket
	read atomic.Int64
}

func (b *countingBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := b.Bucket.Get(ctx, name)
	return b.counted(rc, err)
}

func (b *countingBucket) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	rc, err := b.Bucket.GetRange(ctx, name, off, length)
	return b.counted(rc, err)
}

func (b *countingBucket) counted(rc io.ReadCloser, err error) (io.ReadCloser, error) {
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	b.read.Add(int64(len(data)))
	return io.NopCloser(bytes.NewReader(data)), err
}

func newCountingStore(tb testing.TB, o storeOpts, streams ...storeStream) (*store.Store, *countingBucket) {
	tb.Helper()
	bkt := &countingBucket{Bucket: objstore.NewInMemBucket()}
	st := store.New(bkt, store.DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	writeStore(tb, st, "test", o, streams...)
	return st, bkt
}

func TestSelectWithLineSubstringsSkipsAndDoesNotFetchBlocks(t *testing.T) {
	const rare = "2f1bd0b6b6a951ba3941fc7dd40642a3"
	a := storeStream{labels.FromStrings("app", "a"), genLines(1, 6000, rare, 4321)}
	b := storeStream{labels.FromStrings("app", "b"), genLines(2, 3000, rare)}
	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "app", ".+")}
	from, through := t0, t0+int64(time.Hour)
	tests := []struct {
		name        string
		ngramBits   float64
		substrings  [][]string
		wantSkipped bool
		wantLines   int // lines of a holding every group
	}{
		{"a rare needle inside a longer token", 1, [][]string{{rare[4:20]}}, true, 1},
		{"or-group: one absent alternative does not hide the other", 1, [][]string{{"zzzzqqqqxxxxwwww", rare}}, true, 1},
		{"every group must be admitted", 1, [][]string{{rare}, {"request served"}}, true, 1},
		{"a needle no line holds reads nothing", 1, [][]string{{"zzzzqqqqxxxxwwww"}}, true, 0},
		{"a needle in every line skips nothing", 1, [][]string{{"request served"}}, false, 6000},
		{"chunks without n-gram filters are read whole", 0, [][]string{{rare}}, false, 1},
		{"short needles cannot use the filter", 1, [][]string{{"req"}}, false, 6000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, bkt := newCountingStore(t, storeOpts{ngramBits: tt.ngramBits, blockSize: 16 << 10, chunkEntries: 1500}, a, b)
			src := source{q: New(nil, st), tenants: []string{testTenant}}
			var all, hinted chunks.Stats
			ss, err := src.Select(context.Background(), ms, from, through, chunks.Forward, logql.SelectHints{}, &all)
			if err != nil {
				t.Fatal(err)
			}
			want := drainLines(t, ss)
			readAll := bkt.read.Swap(0)
			ss, err = src.Select(context.Background(), ms, from, through, chunks.Backward, logql.SelectHints{LineSubstrings: tt.substrings}, &hinted)
			if err != nil {
				t.Fatal(err)
			}
			got := drainLines(t, ss)
			readHinted := bkt.read.Load()
			holds := func(l string) bool {
				for _, g := range tt.substrings {
					if !strings.Contains(l, g[0]) && (len(g) < 2 || !strings.Contains(l, g[1])) {
						return false
					}
				}
				return true
			}
			for stream, lines := range want {
				var w, g []string
				for _, l := range lines {
					if holds(l) {
						w = append(w, l)
					}
				}
				for i := len(got[stream]) - 1; i >= 0; i-- { // backward
					if l := got[stream][i]; holds(l) {
						g = append(g, l)
					}
				}
				if !reflect.DeepEqual(w, g) {
					t.Errorf("stream %s: %d matching lines with hints, want %d", stream, len(g), len(w))
				}
			}
			matching := 0
			for _, l := range got[`{app="a"}`] {
				if holds(l) {
					matching++
				}
			}
			if matching != tt.wantLines {
				t.Errorf("%d lines of a hold the needles, want %d", matching, tt.wantLines)
			}
			if skipped := hinted.BlocksSkipped > all.BlocksSkipped; skipped != tt.wantSkipped {
				t.Errorf("blocks skipped %d with hints, %d without; want skipping %v", hinted.BlocksSkipped, all.BlocksSkipped, tt.wantSkipped)
			}
			// Skipped blocks are not even fetched: a search for a rare
			// needle reads the chunks' heads and filters and a block or two.
			if tt.wantSkipped && readHinted*5 > readAll {
				t.Errorf("read %d bytes with hints, %d without", readHinted, readAll)
			}
			if !tt.wantSkipped && hinted.DecompressedBytes != all.DecompressedBytes {
				t.Errorf("decompressed %d bytes with hints, %d without: expected the same", hinted.DecompressedBytes, all.DecompressedBytes)
			}
		})
	}
}

// TestQueriesAnswerTheSameWithAndWithoutNgramFilters runs queries whose
// line filters become substring hints against stores with and without
// filters, and against an ingester holding the same lines in memory.
func TestQueriesAnswerTheSameWithAndWithoutNgramFilters(t *testing.T) {
	const rare = "feedfacecafebeef0000111122223333"
	// Recent timestamps, which the ingester accepts.
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Hour).UnixNano()
	// service_name is given so the ingester, which adds one to streams
	// without it, holds the same label sets as the stores.
	a := storeStream{labels.FromStrings("app", "a", "service_name", "a"), shifted(genLines(3, 5000, rare, 10, 2500, 4999), base)}
	b := storeStream{labels.FromStrings("app", "b", "service_name", "b"), shifted(genLines(4, 5000, rare, 7), base)}
	plain := newTestStore(t, storeOpts{blockSize: 16 << 10, chunkEntries: 2000}, a, b)
	filtered := newTestStore(t, storeOpts{ngramBits: 1, bloomBits: 10, blockSize: 16 << 10, chunkEntries: 2000}, a, b)
	ing := startIngester(t)
	for _, s := range []storeStream{a, b} {
		ps := push.Stream{Labels: s.labels.String()}
		for _, e := range s.entries {
			ps.Entries = append(ps.Entries, push.Entry{Timestamp: e.Timestamp, Line: e.Line})
		}
		if err := ing.Push(context.Background(), testTenant, &push.Request{Streams: []push.Stream{ps}}); err != nil {
			t.Fatal(err)
		}
	}
	eng := logql.NewEngine(logql.EngineOptions{}, nil)
	queries := []string{
		`{app=~"a|b"} |= "` + rare + `"`,
		`{app=~"a|b"} |= "cafebeef0000"`,
		`{app=~"a|b"} |= "` + rare + `" or "zzzzqqqqxxxx"`,
		`{app=~"a|b"} |= "zzzzqqqqxxxx"`,
		`{app=~"a|b"} |~ "trace_id=(feedface|deadbeef)cafe"`,
		`{app=~"a|b"} |~ "(?i)FEEDFACECAFE"`,
		`{app="a"} |= "status=500" |= "` + rare[:12] + `"`,
		`sum by (app) (count_over_time({app=~"a|b"} |= "` + rare[8:24] + `" [1h]))`,
	}
	for _, q := range queries {
		t.Run(q, func(t *testing.T) {
			p := logql.Params{Query: q, Start: time.Unix(0, base), End: time.Unix(0, base+int64(time.Hour)), Limit: 100, Direction: chunks.Backward}
			if strings.HasPrefix(q, "sum") {
				p = logql.Params{Query: q, Start: time.Unix(0, base+int64(time.Hour)), End: time.Unix(0, base+int64(time.Hour)), Instant: true, Limit: 100}
			}
			var results []logql.Result
			var skipped []int64
			for _, q := range []*Querier{New(nil, plain), New(nil, filtered), New(Local{ing}, nil)} {
				res, err := eng.Query(context.Background(), source{q: q, tenants: []string{testTenant}}, p)
				if err != nil {
					t.Fatal(err)
				}
				results = append(results, res)
				skipped = append(skipped, res.Stats.BlocksSkipped)
			}
			for i, name := range []string{"filtered store", "ingester"} {
				if got, want := results[i+1], results[0]; !reflect.DeepEqual(got.Streams, want.Streams) || !reflect.DeepEqual(got.Vector, want.Vector) {
					t.Errorf("%s answers differently:\n got %v %v\nwant %v %v", name, got.Streams, got.Vector, want.Streams, want.Vector)
				}
			}
			if strings.Contains(q, "(?i)") {
				return
			}
			if skipped[0] != 0 || skipped[1] == 0 {
				t.Errorf("blocks skipped: %d without filters, %d with; want 0 and some", skipped[0], skipped[1])
			}
		})
	}
}

func TestIngesterSkipsSealedBlocksLocallyAndRemotely(t *testing.T) {
	const rare = "2f1bd0b6b6a951ba3941fc7dd40642a3"
	ing := startIngester(t) // default config: n-gram filters on
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Hour).UnixNano()
	es := shifted(genLines(5, 30000, rare, 3333), base)
	ps := push.Stream{Labels: `{app="a"}`}
	for _, e := range es {
		ps.Entries = append(ps.Entries, push.Entry{Timestamp: e.Timestamp, Line: e.Line})
	}
	if err := ing.Push(context.Background(), "t1", &push.Request{Streams: []push.Stream{ps}}); err != nil {
		t.Fatal(err)
	}
	remote := serveRemote(t, ing)
	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "app", "a")}
	subs := [][]string{{rare[6:30]}}
	from, through := base, base+int64(time.Hour)

	var all, hinted chunks.Stats
	whole := drain(t, must(Local{ing}.Select(context.Background(), "t1", from, through, chunks.Forward, ms, nil, &all)))
	local := drain(t, must(Local{ing}.Select(context.Background(), "t1", from, through, chunks.Forward, ms, subs, &hinted)))
	rem := drain(t, must(remote.Select(context.Background(), "t1", from, through, chunks.Forward, ms, subs, nil)))
	count := func(m map[string][]string) (n, total int) {
		for _, ls := range m {
			for _, l := range ls {
				total++
				if strings.Contains(l, rare) {
					n++
				}
			}
		}
		return n, total
	}
	nWhole, totalWhole := count(whole)
	nLocal, totalLocal := count(local)
	nRemote, totalRemote := count(rem)
	if nWhole != 1 || nLocal != 1 || nRemote != 1 {
		t.Fatalf("needle found %d, %d, %d times (whole, local, remote), want once", nWhole, nLocal, nRemote)
	}
	if totalLocal*4 > totalWhole || hinted.BlocksSkipped == 0 {
		t.Errorf("hinted select read %d of %d lines, skipped %d blocks", totalLocal, totalWhole, hinted.BlocksSkipped)
	}
	if totalRemote != totalLocal {
		t.Errorf("remote select returned %d lines, local %d: the hint did not reach the ingester", totalRemote, totalLocal)
	}
}

// shifted moves entries generated from t0 to start at base.
func shifted(es []chunks.Entry, base int64) []chunks.Entry {
	for i := range es {
		es[i].Timestamp += base - t0
	}
	return es
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return v
}

// TestAlignedCountsReadOnlyChunkPrefixes checks that counts and byte sums
// over a grid the blocks' time histograms align to are answered from the
// chunks' header, index and filter section: the block data is not
// fetched, except for blocks cut by the query's range.
func TestAlignedCountsReadOnlyChunkPrefixes(t *testing.T) {
	es := genLines(21, 20000, "")
	for i := range es {
		es[i].Timestamp = t0 + int64(i)*int64(5*time.Millisecond) // 100 s
	}
	a := storeStream{labels.FromStrings("app", "a"), es}
	st, bkt := newCountingStore(t, storeOpts{blockSize: 64 << 10, chunkEntries: 5000, ngramBits: 1}, a)
	stored := bkt.read.Load() // nothing read while writing
	var total int64
	for _, e := range es {
		total += int64(len(e.Line))
	}
	sec := int64(time.Second)
	eng := logql.NewEngine(logql.EngineOptions{}, nil)
	src := source{q: New(nil, st), tenants: []string{testTenant}}
	for _, tc := range []struct {
		name       string
		start, end int64
		step       int64
		query      string
		bytes      bool
		maxShare   float64 // of the raw text, read from the bucket
	}{
		{"whole range", sec, 101 * sec, sec, `sum(count_over_time({app="a"}[1s]))`, false, 0.05},
		{"five-second windows", 5 * sec, 100 * sec, 5 * sec, `sum(bytes_over_time({app="a"}[5s]))`, true, 0.05},
		{"range ends inside chunks", 30 * sec, 70 * sec, sec, `sum(count_over_time({app="a"}[1s]))`, false, 0.2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := bkt.read.Load()
			p := logql.Params{Query: tc.query, Start: time.Unix(0, t0+tc.start), End: time.Unix(0, t0+tc.end), Step: time.Duration(tc.step), Limit: 100, Direction: chunks.Forward}
			res, err := eng.Query(context.Background(), src, p)
			if err != nil {
				t.Fatal(err)
			}
			var ts []int64
			for x := t0 + tc.start; x <= t0+tc.end; x += tc.step {
				ts = append(ts, x)
			}
			counts, bytes := distinctCounts(ts, tc.step, a)
			want := counts
			if tc.bytes {
				want = bytes
			}
			got := map[int64]float64{}
			for _, s := range res.Matrix {
				for _, pt := range s.Points {
					got[pt.T] = pt.V
				}
			}
			for i, x := range ts {
				if got[x/1e6] != want[i] {
					t.Errorf("at %v: %v, want %v", time.Duration(x-t0), got[x/1e6], want[i])
				}
			}
			read := bkt.read.Load() - before
			if res.Stats.HistogramBlocks == 0 || float64(read) > tc.maxShare*float64(total) {
				t.Errorf("read %d bytes of %d raw (stored before: %d), stats %+v", read, total, stored, res.Stats.Stats)
			}
			// Again: the prefixes are cached, only blocks are read.
			before = bkt.read.Load()
			again, err := eng.Query(context.Background(), src, p)
			if err != nil {
				t.Fatal(err)
			}
			if read := bkt.read.Load() - before; read > again.Stats.CompressedBytes*2 || !reflect.DeepEqual(again.Matrix, res.Matrix) {
				t.Errorf("repeated: read %d bytes, %d compressed bytes decoded; same result: %v", read, again.Stats.CompressedBytes, reflect.DeepEqual(again.Matrix, res.Matrix))
			}
		})
	}
}
