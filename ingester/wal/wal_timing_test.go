package wal

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// BenchmarkLog measures append throughput of ~20 KiB records (a typical
// push request) with concurrent writers. Each op is one Log call; MB/s is
// the aggregate. calls/fsync shows how much group commit shares.
func BenchmarkLog(b *testing.B) {
	const recSize = 20 << 10
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		for _, writers := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("sync=%s/writers=%d", policy, writers), func(b *testing.B) {
				w := openTest(b, Options{Dir: b.TempDir(), Sync: policy})
				rec := testRecord(1, recSize)
				fsyncs0 := testutil.ToFloat64(w.m.fsyncs)
				var next atomic.Int64
				b.SetBytes(recSize)
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
			})
		}
	}
}

// BenchmarkReplay measures replay throughput over ~32 MiB of 4 KiB records
// in 8 MiB segments; MB/s counts file bytes.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	w := openTest(b, Options{Dir: dir, Sync: SyncNever, SegmentSize: 8 << 20})
	rec := testRecord(1, 4<<10)
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = rec
	}
	for range (32 << 20) / (len(rec) * len(batch)) {
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
	b.SetBytes(size)
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
}
