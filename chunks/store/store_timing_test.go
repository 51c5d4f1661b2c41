package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks/index"
)

func benchSeries(n int, minT int64) []index.Series {
	ss := make([]index.Series, n)
	for i := range ss {
		ls := labels.FromStrings("app", fmt.Sprintf("app-%d", i%20), "namespace", fmt.Sprintf("ns-%d", i%5), "pod", fmt.Sprintf("pod-%d", i))
		ss[i] = seriesOf(ls, ref(ls, minT+int64(i), minT+int64(i)+int64(time.Minute)))
	}
	return ss
}

// BenchmarkIndexCached measures Index over a day of 24 cached segments,
// the steady state of a querier.
func BenchmarkIndexCached(b *testing.B) {
	ctx := context.Background()
	s := New(objstore.NewInMemBucket(), Config{IndexPeriod: 24 * time.Hour}, nil, nil)
	var size int64
	for h := range int64(24) {
		if err := s.PutIndex(ctx, "t", "w", benchSeries(1000, h*hour)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.Index(ctx, "t", 0, 24*hour-1); err != nil { // fill the cache
		b.Fatal(err)
	}
	size = s.cache.bytes()
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Index(ctx, "t", 0, 24*hour-1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutIndex(b *testing.B) {
	ctx := context.Background()
	s := New(objstore.NewInMemBucket(), Config{IndexPeriod: 24 * time.Hour}, nil, nil)
	ss := benchSeries(1000, 0)
	seg, err := index.Write(ss)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(seg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.PutIndex(ctx, "t", "w", ss); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIndexCold measures listing, downloading and opening 24
// segments from the filesystem backend with an empty cache.
func BenchmarkIndexCold(b *testing.B) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Filesystem.Dir = b.TempDir()
	bkt, err := NewBucket(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	w := New(bkt, cfg, nil, nil)
	for h := range int64(24) {
		if err := w.PutIndex(ctx, "t", "w", benchSeries(1000, h*hour)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.Index(ctx, "t", 0, 24*hour-1); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(w.cache.bytes())
	b.ReportAllocs()
	for b.Loop() {
		s := New(bkt, cfg, nil, nil)
		if _, err := s.Index(ctx, "t", 0, 24*hour-1); err != nil {
			b.Fatal(err)
		}
	}
}

// retentionBenchStore builds a filesystem store the shape of the 3 GB
// benchmark store: 4,200 chunks (1 KiB each here: deletion does not read
// them) over 30 daily periods, 140 streams, one index segment per period.
func retentionBenchStore(b *testing.B) *Store {
	b.Helper()
	cfg := DefaultConfig()
	cfg.Filesystem.Dir = b.TempDir()
	bkt, err := NewBucket(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	s := New(bkt, cfg, nil, nil)
	ctx := context.Background()
	day := int64(24 * time.Hour)
	data := make([]byte, 1024)
	for d := range int64(30) {
		ss := benchSeries(140, d*day)
		for _, sr := range ss {
			key := s.ChunkKey("t", sr.Chunks[0])
			path := filepath.Join(cfg.Filesystem.Dir, filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.PutIndex(ctx, "t", "w", ss); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkApplyRetention measures one compactor retention pass over a
// 30-day store: expiring half of it (2,100 chunks, 15 periods), and the
// steady state, a pass with nothing to delete.
func BenchmarkApplyRetention(b *testing.B) {
	ctx := context.Background()
	day := int64(24 * time.Hour)
	cutoff := 15 * day
	b.Run("expire-half", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s := retentionBenchStore(b)
			b.StartTimer()
			st, err := s.ApplyRetention(ctx, "t", cutoff, cutoff)
			if err != nil || st.Chunks != 2100 {
				b.Fatalf("%+v, %v; want 2100 chunks deleted", st, err)
			}
		}
	})
	b.Run("nothing-expired", func(b *testing.B) {
		s := retentionBenchStore(b)
		if _, err := s.ApplyRetention(ctx, "t", cutoff, cutoff); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			st, err := s.ApplyRetention(ctx, "t", cutoff, cutoff)
			if err != nil || st != (RetentionStats{}) {
				b.Fatalf("%+v, %v; want nothing to do", st, err)
			}
		}
	})
}

// BenchmarkFlushChunks compares writing a flush cycle's 1,000 small
// chunks (4 KiB, a 5,000-stream flush's size) to a filesystem bucket as
// one object each and as one pack.
func BenchmarkFlushChunks(b *testing.B) {
	const n, size = 1000, 4 << 10
	ls := labels.FromStrings("app", "api")
	refs := make([]index.ChunkRef, n)
	data := make([][]byte, n)
	for i := range refs {
		refs[i] = ref(ls, int64(i), int64(i)+1)
		refs[i].Size = size
		data[i] = make([]byte, size)
	}
	store := func(b *testing.B) *Store {
		cfg := DefaultConfig()
		cfg.Filesystem.Dir = b.TempDir()
		bkt, err := NewBucket(cfg, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		return New(bkt, cfg, nil, nil)
	}
	ctx := context.Background()
	b.Run("objects", func(b *testing.B) {
		s := store(b)
		b.SetBytes(n * size)
		for b.Loop() {
			for i, r := range refs {
				if err := s.PutChunk(ctx, "t", r, data[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("pack", func(b *testing.B) {
		s := store(b)
		b.SetBytes(n * size)
		for b.Loop() {
			if _, err := s.PutPack(ctx, "t", "w", refs, data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
