package store

import (
	"context"
	"fmt"
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
