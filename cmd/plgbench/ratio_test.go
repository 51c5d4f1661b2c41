package main

import (
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/plgstack/plg/chunks"
)

// BenchmarkStoreRatio stores the harness's corpus (24 streams, so each
// fills several 256 KiB blocks) in chunks the way the ingester cuts them
// (1.5 MiB targets) under several chunk options, and reports the stored
// size as a share of the raw text (store-%, of which filters-% are the
// n-gram filters; lines-% and columns-% are the lines (and hex) frames
// and the entry-columns frames) and the CPU-seconds per 1M lines spent appending,
// sealing and encoding in one goroutine, beside the codec reference (zstd's
// default level over each stream's lines as one file). chunks/FORMAT.md
// quotes it.
func BenchmarkStoreRatio(b *testing.B) {
	type line struct {
		ts   int64
		text []byte
	}
	g, err := newGenerator(corpusConfig{Size: 48e6, Seed: 1, Streams: 24, End: testEnd, Span: 3 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	streams := make([][]line, len(g.streams))
	var raw, lines int64
	for !g.done() {
		s, ts, text := g.next()
		streams[s] = append(streams[s], line{ts, append([]byte(nil), text...)})
		raw += int64(len(text))
		lines++
	}
	// The codec reference issue 5 states its store target against: zstd at
	// its default level (klauspost's SpeedDefault, its counterpart of the
	// command line's -3) over each stream's lines as one file, one line a
	// row, with no index, filters or timestamps.
	b.Run("reference/zstd-default-by-stream", func(b *testing.B) {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if err != nil {
			b.Fatal(err)
		}
		defer enc.Close()
		b.SetBytes(raw)
		var stored int64
		var file, out []byte
		for b.Loop() {
			stored = 0
			for _, s := range streams {
				file = file[:0]
				for _, l := range s {
					file = append(append(file, l.text...), '\n')
				}
				out = enc.EncodeAll(file, out[:0])
				stored += int64(len(out))
			}
		}
		b.ReportMetric(100*float64(stored)/float64(raw), "store-%")
		b.ReportMetric(0, "ns/op")
	})
	// The level is explicit: the rows' names say it, whatever the default.
	base := chunks.Options{Encoding: chunks.Zstd, ZstdLevel: zstd.SpeedFastest, BlockSize: 256 << 10, TargetSize: 1536 << 10, NgramBitsPerGram: 1}
	for _, tc := range []struct {
		name   string
		change func(*chunks.Options)
		sealAt int // seal heads from this size, as the ingester does over its memory budget
	}{
		{"fastest", func(*chunks.Options) {}, 0},
		{"default", func(o *chunks.Options) { o.ZstdLevel = zstd.SpeedDefault }, 0},
		{"better", func(o *chunks.Options) { o.ZstdLevel = zstd.SpeedBetterCompression }, 0},
		{"fastest/ngram0.8", func(o *chunks.Options) { o.NgramBitsPerGram = 0.8 }, 0},
		// What the ingester writes by default (ingester.DefaultConfig).
		{"better/ngram0.8", func(o *chunks.Options) { o.ZstdLevel = zstd.SpeedBetterCompression; o.NgramBitsPerGram = 0.8 }, 0},
		{"fastest/sealed64KiB/recompress", func(o *chunks.Options) { o.BlockMerge = chunks.MergeRecompress }, 64 << 10},
		{"fastest/sealed64KiB/concat", func(o *chunks.Options) { o.BlockMerge = chunks.MergeConcat }, 64 << 10},
		{"fastest/sealed64KiB/off", func(o *chunks.Options) { o.BlockMerge = chunks.MergeOff }, 64 << 10},
	} {
		o := base
		tc.change(&o)
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(raw)
			var stored, filters int64
			var parts storeParts
			start := processCPU()
			for b.Loop() {
				stored, filters, parts = 0, 0, storeParts{}
				encode := func(c *chunks.MemChunk) {
					out, err := c.Encode()
					if err != nil {
						b.Fatal(err)
					}
					if err := parts.add(out); err != nil {
						b.Fatal(err)
					}
					stored += int64(len(out))
					for _, m := range c.Blocks() {
						filters += int64(m.FilterLen)
					}
				}
				for _, s := range streams {
					c := chunks.NewMemChunkWithOptions(o)
					for _, l := range s {
						e := chunks.Entry{Timestamp: l.ts, Line: l.text}
						if !c.SpaceFor(e) {
							encode(c)
							c = chunks.NewMemChunkWithOptions(o)
						}
						if _, err := c.Append(e); err != nil {
							b.Fatal(err)
						}
						if tc.sealAt > 0 && c.HeadBytes() >= tc.sealAt {
							if err := c.SealHead(); err != nil {
								b.Fatal(err)
							}
						}
					}
					encode(c)
				}
			}
			cpu := processCPU() - start
			b.ReportMetric(100*float64(stored)/float64(raw), "store-%")
			b.ReportMetric(100*float64(filters)/float64(raw), "filters-%")
			b.ReportMetric(100*float64(parts.lines)/float64(raw), "lines-%")
			b.ReportMetric(100*float64(parts.columns)/float64(raw), "columns-%")
			b.ReportMetric(cpu.Seconds()/float64(b.N)/float64(lines)*1e6, "cpu-s/1M-lines")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// processCPU is the CPU time the process has used: on a shared machine
// wall time measures the neighbours.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
