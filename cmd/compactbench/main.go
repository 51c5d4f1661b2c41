//go:build unix

// Command compactbench runs the compactor's chunk compaction, to the end
// (store.ChunkCompaction.Final) and with a zero grace period, over every
// period of a filesystem store, such as the data/store directory plgbench
// -keep-dir leaves, and reports chunks, bytes and files before and after
// and the CPU the compaction took. It rewrites the store in place: run it
// on a copy. The chunks are built with the ingester's default options.
//
//	go run ./cmd/plgbench -streams=5000 -size=300MB -skip-agent -skip-restart \
//	    -keep-dir -server-args=-compactor.chunk-compaction=false
//	go run ./cmd/compactbench -store=<kept dir>/data/store -raw=300000000
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/store"
	"github.com/plgstack/plg/ingester"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dirSize(root string) (n int64, files int) {
	filepath.Walk(root, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
			files++
		}
		return nil
	})
	return
}

func main() {
	dir := flag.String("store", "", "filesystem store directory")
	raw := flag.Int64("raw", 0, "raw corpus bytes, for % of raw")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "compactbench: -store is required")
		os.Exit(2)
	}
	ctx := context.Background()
	cfg := store.DefaultConfig()
	cfg.Filesystem.Dir = *dir
	bkt, err := store.NewBucket(cfg, nil, nil)
	if err != nil {
		panic(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st := store.New(bkt, cfg, logger, nil)
	icfg := ingester.DefaultConfig()
	o := icfg.ChunkOptions()
	cc := store.ChunkCompaction{Final: true, TargetBytes: o.TargetSize, SmallBytes: o.TargetSize / 2, Merge: func(ctx context.Context, in []store.ChunkBytes) ([]store.MergedChunk, error) {
		cin := make([]chunks.CompactInput, len(in))
		for i, c := range in {
			cin[i] = chunks.CompactInput{Name: c.Name, Data: c.Data}
		}
		outs, err := chunks.Compact(ctx, o, cin)
		if err != nil {
			return nil, err
		}
		res := make([]store.MergedChunk, len(outs))
		for i, c := range outs {
			res[i] = store.MergedChunk{Data: c.Data, MinT: c.MinT, MaxT: c.MaxT, Entries: c.Entries, UncompressedBytes: c.UncompressedBytes, Checksum: c.Checksum}
		}
		return res, nil
	}}
	count := func() (series, refs int) {
		tenants, _ := st.Tenants(ctx)
		for _, t := range tenants {
			idx, err := st.Index(ctx, t, math.MinInt64/2, math.MaxInt64/2)
			if err != nil {
				panic(err)
			}
			ss, err := idx.Select(math.MinInt64/2, math.MaxInt64/2)
			if err != nil {
				panic(err)
			}
			for _, s := range ss {
				series++
				refs += len(s.Chunks)
			}
		}
		return
	}
	b0, f0 := dirSize(*dir)
	s0, c0 := count()
	fmt.Printf("before: %d series, %d chunks, %d bytes (%.2f%% of raw), %d files\n", s0, c0, b0, 100*float64(b0)/float64(*raw), f0)
	tenants, _ := st.Tenants(ctx)
	cpu0, t0 := cpu(), time.Now()
	var tot store.ChunkCompactionStats
	for _, t := range tenants {
		// every period with an index directory
		ents, _ := os.ReadDir(filepath.Join(*dir, t))
		for _, e := range ents {
			var p int64
			if _, err := fmt.Sscan(e.Name(), &p); err != nil {
				continue
			}
			res, err := st.CompactChunks(ctx, t, p*int64(cfg.IndexPeriod), cc)
			if err != nil {
				panic(err)
			}
			tot.InputChunks += res.InputChunks
			tot.OutputChunks += res.OutputChunks
			tot.InputBytes += res.InputBytes
			tot.OutputBytes += res.OutputBytes
			tot.RawBytes += res.RawBytes
			tot.Packs += res.Packs
		}
	}
	cpuC, wallC := cpu()-cpu0, time.Since(t0)
	b1, f1 := dirSize(*dir)
	// Old packs go after the grace period; 0 here.
	for _, t := range tenants {
		ents, _ := os.ReadDir(filepath.Join(*dir, t))
		for _, e := range ents {
			var p int64
			if _, err := fmt.Sscan(e.Name(), &p); err != nil {
				continue
			}
			if _, err := st.CollectPacks(ctx, t, p*int64(cfg.IndexPeriod), time.Nanosecond); err != nil {
				panic(err)
			}
		}
	}
	b2, f2 := dirSize(*dir)
	st2 := store.New(bkt, cfg, logger, nil)
	st = st2
	s2, c2 := count()
	fmt.Printf("compaction: %d chunks in (%d bytes, %d raw) -> %d out (%d bytes), %d packs; CPU %.2fs, wall %.2fs; %.2f CPU-s per GB raw compacted\n",
		tot.InputChunks, tot.InputBytes, tot.RawBytes, tot.OutputChunks, tot.OutputBytes, tot.Packs, cpuC.Seconds(), wallC.Seconds(), cpuC.Seconds()/(float64(tot.RawBytes)/1e9))
	fmt.Printf("after compaction, before collection: %d bytes, %d files\n", b1, f1)
	fmt.Printf("after: %d series, %d chunks, %d bytes (%.2f%% of raw), %d files\n", s2, c2, b2, 100*float64(b2)/float64(*raw), f2)
}
