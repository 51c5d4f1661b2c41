package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testRecord returns a record of size bytes (at least 8) that starts with id
// and is filled with a pattern derived from it, so any mix-up is visible.
func testRecord(id uint64, size int) []byte {
	if size < 8 {
		size = 8
	}
	b := make([]byte, size)
	binary.LittleEndian.PutUint64(b, id)
	for i := 8; i < size; i++ {
		b[i] = byte(id*31 + uint64(i))
	}
	return b
}

func openTest(t testing.TB, opts Options) *WAL {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	w, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func replayAll(t testing.TB, dir string) ([][]byte, ReplayStats) {
	t.Helper()
	recs, st, err := replayCollect(dir, ReplayOptions{Logger: quiet})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return recs, st
}

func replayCollect(dir string, opts ReplayOptions) ([][]byte, ReplayStats, error) {
	var recs [][]byte
	st, err := ReplayWithOptions(dir, opts, func(rec []byte) error {
		recs = append(recs, bytes.Clone(rec))
		return nil
	})
	return recs, st, err
}

func equalRecords(t testing.TB, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d: got %d bytes %x..., want %d bytes %x...", i, len(got[i]), head(got[i]), len(want[i]), head(want[i]))
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 16)] }

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	l, err := listDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range l.segments {
		names = append(names, s.name)
	}
	return names
}

func TestLogThenReplayReturnsEveryRecordInOrder(t *testing.T) {
	tests := []struct {
		name        string
		sync        SyncPolicy
		segmentSize int64
		sizes       []int // record sizes, logged one call per record
		batch       int   // records per Log call
		raw         bool  // Options.NoCompression
	}{
		{name: "single small record", sync: SyncAlways, sizes: []int{10}},
		{name: "empty record survives", sync: SyncAlways, sizes: []int{0, 0, 5}},
		{name: "many records one call", sync: SyncAlways, sizes: repeat(100, 200), batch: 100},
		{name: "records larger than the read buffer", sync: SyncNever, sizes: []int{3 << 20, 10, 2 << 20}},
		{name: "record larger than a segment gets its own segment", sync: SyncAlways, segmentSize: 8 << 10, sizes: []int{100, 20 << 10, 100}, raw: true},
		{name: "uncompressed rotation", sync: SyncNever, segmentSize: 4 << 10, sizes: repeat(500, 300), batch: 7, raw: true},
		{name: "rotation across many small segments", sync: SyncNever, segmentSize: 4 << 10, sizes: repeat(500, 300), batch: 7},
		{name: "interval policy", sync: SyncInterval, sizes: repeat(50, 1000), batch: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openTest(t, Options{Dir: dir, Sync: tc.sync, SegmentSize: tc.segmentSize, NoCompression: tc.raw})
			var want [][]byte
			batch := max(tc.batch, 1)
			for i := 0; i < len(tc.sizes); i += batch {
				var call [][]byte
				for j := i; j < min(i+batch, len(tc.sizes)); j++ {
					r := testRecord(uint64(j), tc.sizes[j])
					if tc.sizes[j] == 0 {
						r = []byte{}
					}
					call = append(call, r)
				}
				if err := w.Log(call...); err != nil {
					t.Fatalf("Log: %v", err)
				}
				want = append(want, call...)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			got, st := replayAll(t, dir)
			equalRecords(t, got, want)
			if st.TruncatedBytes != 0 || st.Corruptions != 0 {
				t.Fatalf("clean WAL reported damage: %+v", st)
			}
			if st.Records != len(want) || st.Duration <= 0 {
				t.Fatalf("stats %+v: want %d records and a measured duration", st, len(want))
			}
			if tc.segmentSize > 0 && st.Segments < 2 {
				t.Fatalf("expected rotation with SegmentSize %d, got %d segments", tc.segmentSize, st.Segments)
			}
		})
	}
}

func repeat(size, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

func TestSegmentsNeverExceedSizeUnlessOneRecordDoes(t *testing.T) {
	dir := t.TempDir()
	const segSize = 16 << 10
	w := openTest(t, Options{Dir: dir, Sync: SyncNever, SegmentSize: segSize, NoCompression: true})
	for i := range 200 {
		if err := w.Log(testRecord(uint64(i), 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := listDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.segments) < 10 {
		t.Fatalf("want >= 10 segments of %d bytes for 200 KB, got %d", segSize, len(l.segments))
	}
	for _, s := range l.segments {
		if s.size > segSize {
			t.Errorf("segment %s is %d bytes, limit %d", s.name, s.size, segSize)
		}
	}
}

func TestConcurrentLoggersAllRecordsReplayedOnceInCallOrder(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			w := openTest(t, Options{Dir: dir, Sync: policy, SegmentSize: 64 << 10})
			const writers, calls = 8, 60
			var wg sync.WaitGroup
			for g := range writers {
				wg.Go(func() {
					for c := range calls {
						id := uint64(g)<<32 | uint64(c)<<8
						// Two records per call: they must stay adjacent.
						if err := w.Log(testRecord(id, 300+c), testRecord(id|1, 40)); err != nil {
							t.Errorf("Log: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, _ := replayAll(t, dir)
			if len(got) != writers*calls*2 {
				t.Fatalf("replayed %d records, want %d", len(got), writers*calls*2)
			}
			seen := map[uint64]bool{}
			next := make([]int, writers)
			for i := 0; i < len(got); i += 2 {
				id := binary.LittleEndian.Uint64(got[i])
				g, c := int(id>>32), int(id>>8&0xffffff)
				if !bytes.Equal(got[i], testRecord(id, 300+c)) || !bytes.Equal(got[i+1], testRecord(id|1, 40)) {
					t.Fatalf("records %d,%d are not the adjacent pair of call %d/%d", i, i+1, g, c)
				}
				if seen[id] {
					t.Fatalf("call %d/%d replayed twice", g, c)
				}
				seen[id] = true
				if c != next[g] {
					t.Fatalf("writer %d: call %d replayed where call %d was expected", g, c, next[g])
				}
				next[g]++
			}
		})
	}
}

func TestGroupCommitSharesOneFsyncAmongConcurrentCallers(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	w := openTest(t, Options{Dir: dir, Sync: SyncAlways, Registerer: reg})
	// A disk whose fsync takes 10 ms: callers arriving meanwhile must join
	// the next batch rather than queue one fsync each.
	w.syncFile = func(f *os.File) error { time.Sleep(10 * time.Millisecond); return f.Sync() }
	before := testutil.ToFloat64(w.m.fsyncs)
	const writers, calls = 8, 20
	rec := testRecord(1, 100<<10)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range calls {
				if err := w.Log(rec); err != nil {
					t.Errorf("Log: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	fsyncs := testutil.ToFloat64(w.m.fsyncs) - before
	total := float64(writers * calls)
	t.Logf("%v calls, %v fsyncs (%.1f calls per fsync)", total, fsyncs, total/fsyncs)
	if fsyncs < 1 {
		t.Fatalf("no fsync counted for %v SyncAlways calls", total)
	}
	// Without sharing it would be one fsync per call. On an idle machine
	// this is ~5 calls per fsync; the bound leaves room for a loaded
	// scheduler that is slow to run the woken callers.
	if fsyncs > total/2 {
		t.Fatalf("%v fsyncs for %v concurrent calls: group commit is not sharing fsyncs", fsyncs, total)
	}
	if got := testutil.ToFloat64(w.m.records); got != total {
		t.Fatalf("plg_wal_records_total = %v, want %v", got, total)
	}
}

func TestSyncPolicyDecidesWhenFsyncHappens(t *testing.T) {
	tests := []struct {
		name      string
		policy    SyncPolicy
		wantAtAck bool // an fsync has happened by the time Log returns
	}{
		{name: "always fsyncs before returning", policy: SyncAlways, wantAtAck: true},
		{name: "never does not fsync", policy: SyncNever, wantAtAck: false},
		{name: "interval does not fsync before returning", policy: SyncInterval, wantAtAck: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := openTest(t, Options{Dir: t.TempDir(), Sync: tc.policy, SyncInterval: time.Hour})
			before := testutil.ToFloat64(w.m.fsyncs)
			if err := w.Log(testRecord(1, 100)); err != nil {
				t.Fatal(err)
			}
			got := testutil.ToFloat64(w.m.fsyncs) - before
			if (got > 0) != tc.wantAtAck {
				t.Fatalf("fsyncs by ack = %v, want fsync: %v", got, tc.wantAtAck)
			}
		})
	}
}

func TestSyncIntervalFsyncsPeriodically(t *testing.T) {
	w := openTest(t, Options{Dir: t.TempDir(), Sync: SyncInterval, SyncInterval: 5 * time.Millisecond})
	if err := w.Log(testRecord(1, 100)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(w.m.fsyncs) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no fsync within 10s under a 5ms sync interval")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOpenContinuesInANewSegmentAfterExistingOnes(t *testing.T) {
	dir := t.TempDir()
	var want [][]byte
	for run := range 3 {
		w := openTest(t, Options{Dir: dir})
		r := testRecord(uint64(run), 64)
		if err := w.Log(r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got, wantNames := segmentFiles(t, dir), []string{"00000000", "00000001", "00000002"}; fmt.Sprint(got) != fmt.Sprint(wantNames) {
		t.Fatalf("segments %v, want %v", got, wantNames)
	}
	got, _ := replayAll(t, dir)
	equalRecords(t, got, want)
}

func TestNextSegmentReturnsTheClosedSegmentHoldingEarlierRecords(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir})
	if err := w.Log(testRecord(1, 10)); err != nil {
		t.Fatal(err)
	}
	closed, err := w.NextSegment()
	if err != nil {
		t.Fatal(err)
	}
	if closed != 0 {
		t.Fatalf("NextSegment closed %d, want 0", closed)
	}
	if err := w.Log(testRecord(2, 10)); err != nil {
		t.Fatal(err)
	}
	closed, err = w.NextSegment()
	if err != nil || closed != 1 {
		t.Fatalf("second NextSegment = %d, %v; want 1", closed, err)
	}
	w.Close()
	for i, want := range []uint64{1, 2} {
		var ids []uint64
		if _, err := scanFile(filepath.Join(dir, SegmentName(i)), kindSegment, newTestReader(), func(rec []byte) error {
			ids = append(ids, binary.LittleEndian.Uint64(rec))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(ids) != 1 || ids[0] != want {
			t.Fatalf("segment %d holds %v, want [%d]", i, ids, want)
		}
	}
}

func TestLogFailsForeverAfterAnFsyncError(t *testing.T) {
	w := openTest(t, Options{Dir: t.TempDir()})
	diskErr := errors.New("EIO")
	w.syncFile = func(*os.File) error { return diskErr }
	if err := w.Log(testRecord(1, 10)); !errors.Is(err, diskErr) {
		t.Fatalf("Log with failing fsync = %v, want %v", err, diskErr)
	}
	w.syncFile = (*os.File).Sync
	if err := w.Log(testRecord(2, 10)); !errors.Is(err, diskErr) {
		t.Fatalf("Log after a failed fsync = %v, want the sticky %v", err, diskErr)
	}
	if _, err := w.NextSegment(); !errors.Is(err, diskErr) {
		t.Fatalf("NextSegment after a failed fsync = %v, want %v", err, diskErr)
	}
}

func TestCallsAfterCloseReturnErrClosed(t *testing.T) {
	w := openTest(t, Options{Dir: t.TempDir()})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if err := w.Log([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Log after Close = %v", err)
	}
	if _, err := w.NextSegment(); !errors.Is(err, ErrClosed) {
		t.Fatalf("NextSegment after Close = %v", err)
	}
	if err := w.Checkpoint(0, func(func([]byte) error) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Checkpoint after Close = %v", err)
	}
}

func TestOpenRefusesADirectoryAnotherWALHolds(t *testing.T) {
	dir := t.TempDir()
	openTest(t, Options{Dir: dir})
	if _, err := Open(Options{Dir: dir, Logger: quiet}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
}

func TestSizeAndBytesGaugeMatchTheFilesOnDisk(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	w := openTest(t, Options{Dir: dir, SegmentSize: 8 << 10, Registerer: reg})
	check := func(step string) {
		t.Helper()
		var want int64
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() == lockName {
				continue
			}
			fi, _ := e.Info()
			want += fi.Size()
		}
		got, err := w.Size()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%s: Size() = %d, files hold %d", step, got, want)
		}
		if g := int64(testutil.ToFloat64(w.m.bytes)); g != want {
			t.Fatalf("%s: plg_wal_bytes = %d, files hold %d", step, g, want)
		}
	}
	check("open")
	for i := range 30 {
		if err := w.Log(testRecord(uint64(i), 1000)); err != nil {
			t.Fatal(err)
		}
	}
	check("after logging")
	upto, err := w.NextSegment()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Checkpoint(upto, func(emit func([]byte) error) error { return emit(testRecord(9, 5000)) }); err != nil {
		t.Fatal(err)
	}
	check("after checkpoint")
	if err := w.Log(testRecord(10, 100)); err != nil {
		t.Fatal(err)
	}
	upto, _ = w.NextSegment()
	if err := w.Truncate(upto); err != nil {
		t.Fatal(err)
	}
	check("after truncate")
}

func TestParseSyncPolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    SyncPolicy
		wantErr bool
	}{
		{"", SyncAlways, false},
		{"always", SyncAlways, false},
		{"Interval", SyncInterval, false},
		{" never ", SyncNever, false},
		{"sometimes", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseSyncPolicy(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseSyncPolicy(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err == nil {
			var p SyncPolicy
			text, _ := got.MarshalText()
			if err := p.UnmarshalText(text); err != nil || p != got {
				t.Errorf("text round trip of %v = %v, %v", got, p, err)
			}
		}
	}
}

func TestFailedWriteFailsOnlyItsBatchAndLeavesNoPartialFrame(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir, SegmentSize: 4 << 10})
	first := testRecord(1, 100)
	if err := w.Log(first); err != nil {
		t.Fatal(err)
	}
	// Disk full: half of the batch reaches the file, then ENOSPC.
	w.writeFile = func(f *os.File, p []byte) (int, error) {
		n, _ := f.Write(p[:len(p)/2])
		return n, syscall.ENOSPC
	}
	if err := w.Log(testRecord(2, 100)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Log on a full disk = %v, want ENOSPC", err)
	}
	// A failing batch that spans a segment boundary still rotates, so
	// NextSegment keeps its promise.
	if err := w.Log(testRecord(3, 3000), testRecord(4, 3000)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Log on a full disk = %v, want ENOSPC", err)
	}
	w.writeFile = (*os.File).Write
	last := testRecord(5, 100)
	if err := w.Log(last); err != nil {
		t.Fatalf("Log after space was freed: %v", err)
	}
	closed, err := w.NextSegment()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if l, _ := listDir(dir); l.segments[len(l.segments)-1].index != closed+1 {
		t.Fatalf("NextSegment closed %d but the newest segment is %s", closed, l.segments[len(l.segments)-1].name)
	}
	got, st := replayAll(t, dir)
	equalRecords(t, got, [][]byte{first, last})
	if st.TruncatedBytes != 0 || st.Corruptions != 0 {
		t.Fatalf("undone write left damage: %+v", st)
	}
}

func TestSyncIntervalFsyncsWhileWritersKeepLogging(t *testing.T) {
	w := openTest(t, Options{Dir: t.TempDir(), Sync: SyncInterval, SyncInterval: 2 * time.Millisecond})
	// Slow writes and four writers keep the flusher busy most of the time;
	// fsyncs must still come at about the interval, whether the flusher
	// catches the ticker while idle or checks the clock after a batch.
	w.writeFile = func(f *os.File, p []byte) (int, error) {
		time.Sleep(500 * time.Microsecond)
		return f.Write(p)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := w.Log(testRecord(1, 100)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(w.m.fsyncs) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if got := testutil.ToFloat64(w.m.fsyncs); got < 3 {
		t.Fatalf("%v fsyncs in 10s of sustained load with a 2ms sync interval", got)
	}
}

func TestLogReleaseFreesTheCallersBuffersBeforeTheFsync(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir, Sync: SyncAlways})
	fsyncing := make(chan struct{}, 1)
	unblock := make(chan struct{})
	w.syncFile = func(f *os.File) error {
		select {
		case fsyncing <- struct{}{}:
		default:
		}
		<-unblock
		return f.Sync()
	}
	rec := testRecord(7, 64<<10)
	releases := 0
	var releasedBeforeDurable bool
	done := make(chan error, 1)
	go func() {
		done <- w.LogRelease(func() {
			releases++
			// The caller may now overwrite what it logged.
			clear(rec)
		}, rec)
	}()
	<-fsyncing
	select {
	case err := <-done:
		t.Fatalf("LogRelease returned (%v) before the fsync finished", err)
	default:
	}
	releasedBeforeDurable = releases == 1
	close(unblock)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !releasedBeforeDurable || releases != 1 {
		t.Fatalf("release called %d times, before the fsync: %v; want once, before", releases, releasedBeforeDurable)
	}
	w.syncFile = (*os.File).Sync
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, _ := replayAll(t, dir)
	if len(recs) != 1 || !bytes.Equal(recs[0], testRecord(7, 64<<10)) {
		t.Fatalf("replayed %d records; want the one logged, intact although its buffer was cleared after release", len(recs))
	}
}

func TestLogReleaseCallsReleaseOnceWhenLogFails(t *testing.T) {
	w := openTest(t, Options{Dir: t.TempDir()})
	n := 0
	if err := w.LogRelease(func() { n++ }, make([]byte, MaxRecordSize+1)); err == nil {
		t.Fatal("LogRelease of an oversized record succeeded")
	}
	if err := w.LogRelease(func() { n++ }); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("release called %d times over two calls, want 2", n)
	}
}
