package querier

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/store"
	"github.com/plgstack/plg/querier/logql"
)

// TestStoreRunsAreReadAheadOneAtATime checks that while a stream's run of
// chunks is read, the next run is downloading, that only one run per
// Select is read ahead (a second stream read meanwhile waits for its
// downloads), that closing a stream early frees its slot, and that every
// entry still comes out once, in order, with and without line filters.
func TestStoreRunsAreReadAheadOneAtATime(t *testing.T) {
	a := storeStream{labels.FromStrings("app", "a"), genLines(1, 3000, "")}
	b := storeStream{labels.FromStrings("app", "b"), genLines(2, 2000, "")}
	st := newTestStore(t, storeOpts{ngramBits: 1, blockSize: 16 << 10, chunkEntries: 500}, a, b)
	q := New(nil, st)
	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "app", ".+")}
	from, through := t0, t0+int64(time.Hour)
	for _, tc := range []struct {
		name  string
		hints logql.SelectHints
		want  func(string) bool
	}{
		{"every line", logql.SelectHints{}, func(string) bool { return true }},
		{"a line filter", logql.SelectHints{LineSubstrings: [][]string{{"status=500"}}}, func(l string) bool { return strings.Contains(l, "status=500") }},
	} {
		for _, dir := range []chunks.Direction{chunks.Forward, chunks.Backward} {
			t.Run(tc.name+"/"+dir.String(), func(t *testing.T) {
				ss, err := source{q: q, tenants: []string{testTenant}}.Select(context.Background(), ms, from, through, dir, tc.hints, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(ss) != 2 {
					t.Fatalf("%d streams, want 2", len(ss))
				}
				ra, rb := ss[0].Iter.(*runIterator), ss[1].Iter.(*runIterator)
				if !ra.Next() {
					t.Fatalf("stream a is empty: %v", ra.Err())
				}
				if ra.pending == nil {
					t.Fatal("the second run of stream a is not read ahead while its first is read")
				}
				<-ra.pending.done
				if got, want := ra.pending.f.run[0], ra.runs[0][0]; got != want {
					t.Fatalf("read ahead %v, want the next run's %v", got, want)
				}
				// b finds the Select's one slot taken, and is read whole
				// without read-ahead.
				gotB := drainKept(t, rb, tc.want)
				if want := filterLines(b.entries, tc.want, dir); !slices.Equal(gotB, want) {
					t.Fatalf("stream b: %d lines, want %d", len(gotB), len(want))
				}
				var gotA []string
				if first := string(ra.At().Line); tc.want(first) {
					gotA = append(gotA, first)
				}
				gotA = append(gotA, drainKept(t, ra, tc.want)...)
				if want := filterLines(a.entries, tc.want, dir); !slices.Equal(gotA, want) {
					t.Fatalf("stream a: %d lines, want %d", len(gotA), len(want))
				}
				if ra.pending != nil || len(ra.ahead) != 0 {
					t.Fatal("a stream read to its end still holds a read-ahead slot")
				}
			})
		}
	}
	t.Run("closing a stream midway frees its slot", func(t *testing.T) {
		ss, err := source{q: q, tenants: []string{testTenant}}.Select(context.Background(), ms, from, through, chunks.Forward, logql.SelectHints{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ra, rb := ss[0].Iter.(*runIterator), ss[1].Iter.(*runIterator)
		if !ra.Next() || ra.pending == nil {
			t.Fatal("stream a's second run is not read ahead")
		}
		ra.Close()
		if len(ra.ahead) != 0 {
			t.Fatal("closing stream a left its read-ahead slot taken")
		}
		if !rb.Next() || rb.pending == nil {
			t.Fatal("stream b's second run is not read ahead once a is closed")
		}
		rb.Close()
	})
}

// drainKept reads it to its end and returns the lines keep keeps: a
// store iterator only prefilters by the substrings (it yields each
// block's last entry too).
func drainKept(t *testing.T, it *runIterator, keep func(string) bool) []string {
	t.Helper()
	var out []string
	for it.Next() {
		if l := string(it.At().Line); keep(l) {
			out = append(out, l)
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	it.Close()
	return out
}

// filterLines is the lines of es that want keeps, in dir's order.
func filterLines(es []chunks.Entry, want func(string) bool, dir chunks.Direction) []string {
	var out []string
	for _, e := range es {
		if want(string(e.Line)) {
			out = append(out, string(e.Line))
		}
	}
	if dir == chunks.Backward {
		slices.Reverse(out)
	}
	return out
}

// slowBucket delays every read by its latency, as an object store's round
// trip or a disk read that misses the page cache does.
type slowBucket struct {
	objstore.Bucket
	latency time.Duration
}

func (b *slowBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	time.Sleep(b.latency)
	return b.Bucket.Get(ctx, name)
}

func (b *slowBucket) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	time.Sleep(b.latency)
	return b.Bucket.GetRange(ctx, name, off, length)
}

// BenchmarkCountRegexReadLatency is the 5xx count of plgbench over a store
// whose every read takes 1 ms, by two parts as on a 2-core machine,
// without and with runs read ahead. MB/s are of raw log bytes.
func BenchmarkCountRegexReadLatency(b *testing.B) {
	var streams []storeStream
	var raw int64
	for i := range 8 {
		es := genLines(uint64(300+i), 24_000, "")
		for _, e := range es {
			raw += int64(len(e.Line))
		}
		streams = append(streams, storeStream{labels.FromStrings("app", fmt.Sprintf("svc-%02d", i)), es})
	}
	bkt := &slowBucket{Bucket: objstore.NewInMemBucket()}
	st := store.New(bkt, store.DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	writeStore(b, st, "test", storeOpts{ngramBits: 1, blockSize: 256 << 10, chunkEntries: 3_000}, streams...)
	bkt.latency = time.Millisecond
	eng := logql.NewEngine(logql.EngineOptions{Parallelism: 2}, nil)
	for _, ahead := range []int{0, 1} {
		b.Run(fmt.Sprintf("read-ahead=%d", ahead), func(b *testing.B) {
			q := New(nil, st)
			q.readAhead = ahead
			src := source{q: q, tenants: []string{testTenant}}
			b.SetBytes(raw)
			for b.Loop() {
				res, err := eng.Query(context.Background(), src, logql.Params{
					Query: `sum(count_over_time({app=~"svc-.*"} |~ "status=5\\d\\d" [1h]))`,
					Start: time.Unix(0, t0+int64(time.Hour)), End: time.Unix(0, t0+int64(time.Hour)), Instant: true,
				})
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Vector) != 1 || res.Vector[0].Point.V == 0 {
					b.Fatalf("result %+v", res.Vector)
				}
			}
		})
	}
}
