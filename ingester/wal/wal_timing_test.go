package wal

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// BenchmarkLog measures append throughput of ~20 KiB log-like records (a
// typical push request), stored raw, with concurrent writers. Each op is one Log call;
// MB/s is the aggregate of uncompressed record bytes. calls/fsync shows how
// much group commit shares.
func BenchmarkLog(b *testing.B) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		for _, writers := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("sync=%s/writers=%d", policy, writers), func(b *testing.B) {
				benchmarkLog(b, Options{Sync: policy, NoCompression: true}, writers)
			})
		}
	}
}

// BenchmarkLogCompressed is BenchmarkLog with compression (the default).
func BenchmarkLogCompressed(b *testing.B) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		for _, writers := range []int{1, 4} {
			b.Run(fmt.Sprintf("sync=%s/writers=%d", policy, writers), func(b *testing.B) {
				benchmarkLog(b, Options{Sync: policy}, writers)
			})
		}
	}
}

// BenchmarkGroupCommit is the brief's yardstick: 8 concurrent loggers of
// 100 KiB records under sync=always; calls/fsync must be far above 1.
func BenchmarkGroupCommit(b *testing.B) {
	benchmarkLogSize(b, Options{Sync: SyncAlways, NoCompression: true}, 8, 100<<10)
}

func benchmarkLog(b *testing.B, opts Options, writers int) {
	benchmarkLogSize(b, opts, writers, 20<<10)
}

func benchmarkLogSize(b *testing.B, opts Options, writers, recSize int) {
	opts.Dir = b.TempDir()
	w := openTest(b, opts)
	rec := logLine(1, recSize)
	fsyncs0 := testutil.ToFloat64(w.m.fsyncs)
	var next atomic.Int64
	b.SetBytes(int64(recSize))
	b.ResetTimer()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := w.Log(rec); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if f := testutil.ToFloat64(w.m.fsyncs) - fsyncs0; f > 0 {
		b.ReportMetric(float64(b.N)/f, "calls/fsync")
	}
}

// BenchmarkReplay measures replay throughput over ~32 MiB of 4 KiB
// log-like records in 8 MiB segments; MB/s counts record bytes delivered.
func BenchmarkReplay(b *testing.B) {
	for _, compress := range []bool{false, true} {
		b.Run(fmt.Sprintf("compress=%v", compress), func(b *testing.B) { benchmarkReplay(b, compress) })
	}
}

func benchmarkReplay(b *testing.B, compress bool) {
	dir := b.TempDir()
	w := openTest(b, Options{Dir: dir, Sync: SyncNever, SegmentSize: 8 << 20, NoCompression: !compress})
	rec := logLine(1, 4<<10)
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = rec
	}
	calls := (32 << 20) / (len(rec) * len(batch))
	for range calls {
		if err := w.Log(batch...); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	size, err := w.Size()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(calls * len(batch) * len(rec)))
	b.ResetTimer()
	for b.Loop() {
		var n int
		if _, err := Replay(dir, func(rec []byte) error { n += len(rec); return nil }, quiet); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			b.Fatal("nothing replayed")
		}
	}
	b.ReportMetric(float64(size)/float64(calls*len(batch)*len(rec)), "disk/raw")
}
