package ingester

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/index"
	"github.com/plgstack/plg/ingester/wal"
	"github.com/plgstack/plg/push"
)

// fakeStore records what the ingester flushes and fails on demand.
type fakeStore struct {
	mu       sync.Mutex
	chunks   map[string][]byte
	segments [][]index.Series
	failPuts int // fail this many PutPack calls first
	puts     int // PutPack calls
	packs    int // packs written
	located  map[string]index.ChunkRef
	// failIndex fails this many PutIndex calls first.
	failIndex int
	// period is the index period PeriodOf applies; 0 means 24h.
	period int64
}

func newFakeStore() *fakeStore { return &fakeStore{chunks: map[string][]byte{}} }

func (f *fakeStore) PeriodOf(t int64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.periodOf(t)
}

func (f *fakeStore) periodOf(t int64) int64 {
	if f.period > 0 {
		return t / f.period
	}
	return t / int64(24*time.Hour)
}

// PutPack stores each chunk of the pack under its identity, so tests can
// count and read chunks, and checks it is given chunks of one period.
func (f *fakeStore) PutPack(_ context.Context, tenant, writer string, refs []index.ChunkRef, data [][]byte) ([]index.ChunkRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts++
	if f.failPuts > 0 {
		f.failPuts--
		return nil, errors.New("store unavailable")
	}
	f.packs++
	name := fmt.Sprintf("%s-%d.pack", writer, f.packs)
	out := make([]index.ChunkRef, len(refs))
	var off uint64
	for k, ref := range refs {
		if f.periodOf(ref.MinT) != f.periodOf(refs[0].MinT) {
			return nil, fmt.Errorf("pack of chunks from two periods")
		}
		if int(ref.Size) != len(data[k]) {
			return nil, fmt.Errorf("chunk of %d bytes, the reference says %d", len(data[k]), ref.Size)
		}
		key := fmt.Sprintf("%s/%x/%d-%d-%x", tenant, ref.Fingerprint, ref.MinT, ref.MaxT, ref.Checksum)
		f.chunks[key] = append([]byte(nil), data[k]...)
		ref.Pack, ref.Offset = name, off
		off += uint64(ref.Size)
		out[k] = ref
		if f.located == nil {
			f.located = map[string]index.ChunkRef{}
		}
		f.located[key] = ref
	}
	return out, nil
}

func (f *fakeStore) PutIndex(_ context.Context, tenant, writer string, series []index.Series) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failIndex > 0 {
		f.failIndex--
		return errIndexDown
	}
	f.segments = append(f.segments, series)
	return nil
}

// entries decodes every stored chunk and returns its lines, keyed by line.
func (f *fakeStore) lines(t *testing.T) map[string]int {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for key, data := range f.chunks {
		c, err := chunks.Decode(data)
		if err != nil {
			t.Fatalf("chunk %s: %v", key, err)
		}
		it := c.Iterator(context.Background(), minInt64, maxInt64, chunks.Forward, nil)
		for it.Next() {
			out[string(it.At().Line)]++
		}
		if err := it.Err(); err != nil {
			t.Fatalf("chunk %s: %v", key, err)
		}
		it.Close()
	}
	return out
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.FlushCheckPeriod = time.Hour // tests flush explicitly
	cfg.FlushMinBackoff = time.Millisecond
	cfg.FlushMaxBackoff = 2 * time.Millisecond
	cfg.FlushMaxRetries = 2
	cfg.ChunkRetainPeriod = 0
	cfg.WAL.Sync = "never"
	return cfg
}

func startIngester(t *testing.T, cfg Config, lim *Limits, st ChunkStore, dir string) *Ingester {
	t.Helper()
	var o *Overrides
	if lim != nil {
		o = &Overrides{Defaults: *lim}
	}
	ing, err := New(cfg, o, st, dir, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ing.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ing
}

func req(streams ...push.Stream) *push.Request { return &push.Request{Streams: streams} }

func pstream(lbls string, entries ...push.Entry) push.Stream {
	return push.Stream{Labels: lbls, Entries: entries}
}

func entry(ts time.Time, line string) push.Entry {
	return push.Entry{Timestamp: ts.UnixNano(), Line: []byte(line)}
}

// readAll returns every line the ingester holds for the tenant, in stream
// order then time order.
func readAll(t *testing.T, ing *Ingester, tenant string) []string {
	t.Helper()
	m := labels.MustNewMatcher(labels.MatchRegexp, "job", ".+")
	var out []string
	for _, s := range ing.Select(context.Background(), tenant, minInt64, maxInt64, chunks.Forward, []*labels.Matcher{m}, nil) {
		for s.Iter.Next() {
			out = append(out, string(s.Iter.At().Line))
		}
		if err := s.Iter.Err(); err != nil {
			t.Fatal(err)
		}
		s.Iter.Close()
	}
	return out
}

func TestPushThenSelectReturnsEntriesInOrder(t *testing.T) {
	ing := startIngester(t, testConfig(), nil, newFakeStore(), t.TempDir())
	defer ing.Stop(context.Background())
	now := time.Now()
	err := ing.Push(context.Background(), "fake", req(
		pstream(`{job="a", env="prod"}`, entry(now, "one"), entry(now.Add(time.Second), "two")),
		pstream(`{job="b"}`, entry(now, "three")),
	))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(readAll(t, ing, "fake"), ",")
	if got != "one,two,three" {
		t.Fatalf("got %s", got)
	}
	if other := readAll(t, ing, "other"); len(other) != 0 {
		t.Fatalf("tenant isolation: other tenant sees %v", other)
	}
}

func TestPushAcceptsOutOfOrderWithinWindowAndDropsDuplicates(t *testing.T) {
	ing := startIngester(t, testConfig(), nil, newFakeStore(), t.TempDir())
	defer ing.Stop(context.Background())
	now := time.Now()
	err := ing.Push(context.Background(), "fake", req(pstream(`{job="a"}`,
		entry(now, "newest"),
		entry(now.Add(-30*time.Minute), "older but inside the window"),
		entry(now, "newest"), // exact duplicate
	)))
	if err != nil {
		t.Fatal(err)
	}
	err = ing.Push(context.Background(), "fake", req(pstream(`{job="a"}`, entry(now.Add(-2*time.Hour), "too far behind"))))
	var perr *Error
	if !errors.As(err, &perr) || perr.Status != http.StatusBadRequest || !strings.Contains(perr.Msg, "too far behind") {
		t.Fatalf("err = %v, want 400 too far behind", err)
	}
	got := strings.Join(readAll(t, ing, "fake"), "|")
	if got != "older but inside the window|newest" {
		t.Fatalf("got %q", got)
	}
}

func TestPushRejectsInvalidEntriesAndKeepsTheRest(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxLineSize = 10
	lim.MaxLabelNamesPerSeries = 2
	now := time.Now()
	for _, tc := range []struct {
		name       string
		stream     push.Stream
		wantReason string
	}{
		{"no labels", pstream(`{}`, entry(now, "x")), reasonMissingLabels},
		{"unparsable labels", pstream(`{job=}`, entry(now, "x")), reasonInvalidLabels},
		{"reserved label name", pstream(`{__name__="x"}`, entry(now, "x")), reasonInvalidLabels},
		{"too many labels", pstream(`{a="1", b="2", c="3"}`, entry(now, "x")), reasonTooManyLabels},
		{"line too long", pstream(`{job="x"}`, entry(now, "this line is too long")), reasonLineTooLong},
		{"too old", pstream(`{job="x"}`, entry(now.Add(-8*24*time.Hour), "x")), reasonTooOld},
		{"too far in the future", pstream(`{job="x"}`, entry(now.Add(time.Hour), "x")), reasonTooNew},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ing := startIngester(t, testConfig(), &lim, newFakeStore(), t.TempDir())
			defer ing.Stop(context.Background())
			err := ing.Push(context.Background(), "fake", req(tc.stream, pstream(`{job="good"}`, entry(now, "kept"))))
			var perr *Error
			if !errors.As(err, &perr) || perr.Status != http.StatusBadRequest {
				t.Fatalf("err = %v, want a 400", err)
			}
			for _, want := range []string{"1 of 2 entries rejected, 1 accepted", tc.wantReason} {
				if !strings.Contains(perr.Msg, want) {
					t.Errorf("message %q does not contain %q", perr.Msg, want)
				}
			}
			if got := readAll(t, ing, "fake"); strings.Join(got, ",") != "kept" {
				t.Fatalf("stored %v, want only the valid entry", got)
			}
		})
	}
}

func TestPushTruncatesLongLinesWhenConfigured(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxLineSize = 4
	lim.MaxLineSizeTruncate = true
	ing := startIngester(t, testConfig(), &lim, newFakeStore(), t.TempDir())
	defer ing.Stop(context.Background())
	if err := ing.Push(context.Background(), "fake", req(pstream(`{job="a"}`, entry(time.Now(), "abcdefgh")))); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, ing, "fake"); len(got) != 1 || got[0] != "abcd" {
		t.Fatalf("got %q", got)
	}
}

func TestPushRateLimitRefusesWholeRequestWith429(t *testing.T) {
	lim := DefaultLimits()
	lim.IngestionRateMB = 1.0 / 1024 // 1 KiB/s
	lim.IngestionBurstSizeMB = 1.0 / 1024
	ing := startIngester(t, testConfig(), &lim, newFakeStore(), t.TempDir())
	defer ing.Stop(context.Background())
	big := strings.Repeat("x", 2000)
	err := ing.Push(context.Background(), "fake", req(pstream(`{job="a"}`, entry(time.Now(), big))))
	var perr *Error
	if !errors.As(err, &perr) || perr.Status != http.StatusTooManyRequests {
		t.Fatalf("err = %v, want 429", err)
	}
	if got := readAll(t, ing, "fake"); len(got) != 0 {
		t.Fatalf("rate-limited push stored %d entries", len(got))
	}
}

func TestPushStreamLimitRefusesNewStreamsOnly(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxStreamsPerTenant = 1
	ing := startIngester(t, testConfig(), &lim, newFakeStore(), t.TempDir())
	defer ing.Stop(context.Background())
	now := time.Now()
	if err := ing.Push(context.Background(), "fake", req(pstream(`{job="a"}`, entry(now, "1")))); err != nil {
		t.Fatal(err)
	}
	err := ing.Push(context.Background(), "fake", req(
		pstream(`{job="a"}`, entry(now.Add(time.Second), "2")),
		pstream(`{job="b"}`, entry(now, "refused")),
	))
	var perr *Error
	if !errors.As(err, &perr) || !strings.Contains(perr.Msg, reasonStreamLimit) {
		t.Fatalf("err = %v, want stream limit", err)
	}
	if got := strings.Join(readAll(t, ing, "fake"), ","); got != "1,2" {
		t.Fatalf("got %s", got)
	}
}

func TestFlushUploadsChunksWritesIndexAndForgetsThem(t *testing.T) {
	st := newFakeStore()
	ing := startIngester(t, testConfig(), nil, st, t.TempDir())
	defer ing.Stop(context.Background())
	now := time.Now()
	var entries []push.Entry
	for i := 0; i < 1000; i++ {
		entries = append(entries, entry(now.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("line %d", i)))
	}
	if err := ing.Push(context.Background(), "fake", req(pstream(`{job="a"}`, entries...))); err != nil {
		t.Fatal(err)
	}
	if err := ing.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := st.lines(t); len(got) != 1000 {
		t.Fatalf("store holds %d distinct lines, want 1000", len(got))
	}
	if len(st.segments) != 1 || len(st.segments[0]) != 1 || st.segments[0][0].Labels.Get("job") != "a" {
		t.Fatalf("index segments = %+v", st.segments)
	}
	if n := ing.numStreams(); n != 0 {
		t.Fatalf("%d streams still in memory after flush with no retain period", n)
	}
}

func TestFlushRetriesAndKeepsChunksQueryableWhileTheStoreFails(t *testing.T) {
	st := newFakeStore()
	st.failPuts = 100
	ing := startIngester(t, testConfig(), nil, st, t.TempDir())
	defer ing.Stop(context.Background())
	if err := ing.Push(context.Background(), "fake", req(pstream(`{job="a"}`, entry(time.Now(), "precious")))); err != nil {
		t.Fatal(err)
	}
	if err := ing.Flush(context.Background()); err == nil {
		t.Fatal("flush against a failing store reported success")
	}
	if st.puts != 3 {
		t.Fatalf("PutPack called %d times, want 1 + 2 retries", st.puts)
	}
	if got := readAll(t, ing, "fake"); len(got) != 1 {
		t.Fatalf("entry lost from memory after failed flush: %v", got)
	}
	st.mu.Lock()
	st.failPuts = 0
	st.mu.Unlock()
	if err := ing.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := st.lines(t); got["precious"] != 1 {
		t.Fatalf("store lines = %v", got)
	}
}

func TestRestartReplaysWALWithoutLossOrDuplicates(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.FlushOnShutdown = false
	ing := startIngester(t, cfg, nil, newFakeStore(), dir)
	now := time.Now()
	want := []string{}
	for i := 0; i < 50; i++ {
		line := fmt.Sprintf("entry %02d", i)
		want = append(want, line)
		if err := ing.Push(context.Background(), "fake", req(pstream(`{job="a"}`, entry(now.Add(time.Duration(i)*time.Millisecond), line)))); err != nil {
			t.Fatal(err)
		}
		if i == 25 {
			if err := ing.checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := ing.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	again := startIngester(t, cfg, nil, newFakeStore(), dir)
	defer again.Stop(context.Background())
	if got := strings.Join(readAll(t, again, "fake"), ","); got != strings.Join(want, ",") {
		t.Fatalf("after replay got %s\nwant %s", got, strings.Join(want, ","))
	}
}

func TestGracefulStopFlushesEverythingAndEmptiesTheWAL(t *testing.T) {
	dir := t.TempDir()
	st := newFakeStore()
	ing := startIngester(t, testConfig(), nil, st, dir)
	if err := ing.Push(context.Background(), "fake", req(pstream(`{job="a"}`, entry(time.Now(), "flushed at stop")))); err != nil {
		t.Fatal(err)
	}
	if err := ing.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := st.lines(t); got["flushed at stop"] != 1 {
		t.Fatalf("store lines = %v", got)
	}
	again := startIngester(t, testConfig(), nil, newFakeStore(), dir)
	defer again.Stop(context.Background())
	if n := again.numStreams(); n != 0 {
		t.Fatalf("replay after a flushing stop restored %d streams; the WAL should have been emptied", n)
	}
}

func TestPushIsRefusedWhileNotReady(t *testing.T) {
	ing, err := New(testConfig(), nil, newFakeStore(), t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ing.Push(context.Background(), "fake", req(pstream(`{job="a"}`, entry(time.Now(), "x")))); err != ErrNotReady {
		t.Fatalf("err = %v, want ErrNotReady", err)
	}
}

func TestLabelNamesAndValues(t *testing.T) {
	ing := startIngester(t, testConfig(), nil, newFakeStore(), t.TempDir())
	defer ing.Stop(context.Background())
	now := time.Now()
	if err := ing.Push(context.Background(), "fake", req(
		pstream(`{job="a", env="prod"}`, entry(now, "1")),
		pstream(`{job="b", env="dev"}`, entry(now, "2")),
	)); err != nil {
		t.Fatal(err)
	}
	all := []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "job", ".+")}
	if got := strings.Join(ing.LabelNames("fake", minInt64, maxInt64, all), ","); got != "env,job,service_name" {
		t.Fatalf("names = %s", got)
	}
	prod := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "env", "prod")}
	if got := strings.Join(ing.LabelValues("fake", "job", minInt64, maxInt64, prod), ","); got != "a" {
		t.Fatalf("values = %s", got)
	}
	if got := ing.LabelNames("fake", now.Add(time.Hour).UnixNano(), maxInt64, all); len(got) != 0 {
		t.Fatalf("names outside the time range = %v", got)
	}
}

func TestCorruptWALStopsStartUnlessSkipIsSet(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.FlushOnShutdown = false
	ing := startIngester(t, cfg, nil, newFakeStore(), dir)
	now := time.Now()
	for i := 0; i < 3; i++ {
		if err := ing.Push(context.Background(), "fake", req(pstream(`{job="a"}`, entry(now.Add(time.Duration(i)), fmt.Sprint("seg ", i))))); err != nil {
			t.Fatal(err)
		}
		if _, err := ing.wal.NextSegment(); err != nil {
			t.Fatal(err)
		}
	}
	if err := ing.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Damage the first segment: not a torn tail, since newer segments follow.
	seg := filepath.Join(dir, "wal", wal.SegmentName(0))
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-2] ^= 0xff
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	broken, err := New(cfg, nil, newFakeStore(), dir, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := broken.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "wal-replay-skip-corrupt") {
		t.Fatalf("start over a corrupt segment: %v, want an error naming the skip flag", err)
	}
	cfg.WAL.ReplaySkipCorrupt = true
	skipped := startIngester(t, cfg, nil, newFakeStore(), dir)
	defer skipped.Stop(context.Background())
	if got := strings.Join(readAll(t, skipped, "fake"), ","); got != "seg 1,seg 2" {
		t.Fatalf("after skipping the corrupt segment: %q, want the intact segments' entries", got)
	}
}

func TestFlushShrinksTheWAL(t *testing.T) {
	ing := startIngester(t, testConfig(), nil, newFakeStore(), t.TempDir())
	defer ing.Stop(context.Background())
	now := time.Now()
	var entries []push.Entry
	for i := 0; i < 2000; i++ {
		entries = append(entries, entry(now.Add(time.Duration(i)), fmt.Sprintf("line %d with some padding to give the WAL bytes", i)))
	}
	if err := ing.Push(context.Background(), "fake", req(pstream(`{job="a"}`, entries...))); err != nil {
		t.Fatal(err)
	}
	before, err := ing.wal.Size()
	if err != nil {
		t.Fatal(err)
	}
	if err := ing.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, err := ing.wal.Size()
	if err != nil {
		t.Fatal(err)
	}
	if after >= before/4 {
		t.Fatalf("WAL %d bytes before flush, %d after: flushed data should leave the WAL", before, after)
	}
}

func TestFullChunksAreFlushedWithoutWaitingForTheFlushPeriod(t *testing.T) {
	cfg := testConfig()
	cfg.ChunkBlockSize = 1 << 10
	cfg.ChunkTargetSize = 2 << 10 // a few KiB compressed fills a chunk
	cfg.ChunkEncoding = "none"
	st := newFakeStore()
	ing := startIngester(t, cfg, nil, st, t.TempDir())
	defer ing.Stop(context.Background())
	now := time.Now()
	var entries []push.Entry
	for i := 0; i < 500; i++ {
		entries = append(entries, entry(now.Add(time.Duration(i)), fmt.Sprintf("line %d of a stream that fills several small chunks", i)))
	}
	if err := ing.Push(context.Background(), "fake", req(pstream(`{job="a"}`, entries...))); err != nil {
		t.Fatal(err)
	}
	// The flush period is an hour (testConfig): only the full-chunk wake-up
	// can flush within the deadline.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st.mu.Lock()
		n := len(st.chunks)
		st.mu.Unlock()
		if n > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no full chunk was flushed within 10s")
}
