package chunks

import (
	"bytes"
	"fmt"
	"math"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func thinBudget() *atomic.Bool {
	b := new(atomic.Bool)
	b.Store(true)
	return b
}

func countProvisional(c *MemChunk) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for i := range c.blocks {
		if c.blocks[i].provisional {
			n++
		}
	}
	return n
}

// While the budget is thin, early-sealed blocks are provisional, and the
// stored chunk must be the one MergeRecompress makes of the same blocks
// sealed at the chunk's level, byte for byte, whatever the sealing
// pattern: runs, tiny and full blocks, blocks left out of every run by
// out-of-order or equal timestamps, by the merge limit or by the chunk's
// end. In memory, provisional blocks answer queries like any other, and
// count at their real size.
func TestProvisionalBlocksEncodeAsRecompressedAtTheLevel(t *testing.T) {
	provisional, alone := 0, 0
	for seed := range uint64(24) {
		version := []byte{FormatV2, FormatV3, FormatV1}[seed%3]
		ngram := []float64{0.8, 0}[seed/3%2]
		bloom := []int{0, 10}[seed/6%2]
		blockSize := []int{4 << 10, 16 << 10, 64 << 10}[seed/2%3]
		build := func(o Options) (*MemChunk, []Entry) {
			o.Encoding, o.BlockSize, o.TargetSize, o.NgramBitsPerGram, o.BloomBitsPerToken, o.version =
				Zstd, blockSize, math.MaxInt, ngram, bloom, version
			c := NewMemChunkWithOptions(o)
			acc := appendSealingRandomly(t, c, seed, 79) // the same entries and seals for both
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			return c, acc
		}
		name := fmt.Sprintf("seed %d (v%d, n-gram %g, bloom %d, blocks %d)", seed, version, ngram, bloom, blockSize)
		prov, acc := build(Options{BlockMerge: MergeConcat, RunGramsOff: thinBudget(), ProvisionalSeals: thinBudget()})
		ref, _ := build(Options{BlockMerge: MergeRecompress, MergeAtEncode: true})
		n := countProvisional(prov)
		if n == 0 || countProvisional(ref) != 0 {
			t.Fatalf("%s: %d provisional blocks with a thin budget, %d without; want some, none", name, n, countProvisional(ref))
		}
		provisional += n
		for i := range prov.blocks {
			b := &prov.blocks[i]
			prev, next := i > 0 && prov.blocks[i-1].MaxT < b.MinT, i+1 < len(prov.blocks) && b.MaxT < prov.blocks[i+1].MinT
			if b.provisional && !prev && !next {
				alone++ // in no run: Encode must seal it again on its own
			}
		}
		if prov.CompressedSize() == ref.CompressedSize() {
			t.Errorf("%s: provisional blocks hold %d bytes, as many as at the chunk's level", name, prov.CompressedSize())
		}
		// Memory counts the blocks as they are, filters and all.
		if dm, dc := prov.MemoryBytes()-ref.MemoryBytes(), prov.CompressedSize()-ref.CompressedSize(); dm != dc {
			t.Errorf("%s: MemoryBytes differs by %d from the chunk sealed at its level, its blocks by %d", name, dm, dc)
		}
		for _, dir := range []Direction{Forward, Backward} {
			sameEntries(t, drain(t, prov.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)), want(acc, math.MinInt64, math.MaxInt64, dir))
			sameEntries(t, drain(t, prov.Iterator(bg, 200_000, 900_000, dir, nil)), want(acc, 200_000, 900_000, dir))
		}
		// Summaries read the provisional blocks' columns and histograms.
		lo, hi := prov.Bounds()
		cell := func(ts int64) int64 { return lo + ((ts-lo)/50_000+1)*50_000 - 1 }
		sameTotals(t, foldCells(t, prov.SummaryIterator(bg, lo, hi+1, SummaryOptions{Cell: cell, NoMetadata: true}, nil), cell),
			foldCells(t, prov.Iterator(bg, lo, hi+1, Forward, nil), cell))
		// A trace ID is found through the filters (and, in version 3, the
		// packed hex frames) of the provisional blocks.
		e := acc[len(acc)/3]
		needle := string(e.Line[bytes.Index(e.Line, []byte("trace_id="))+9:][:32])
		found := false
		for _, g := range drain(t, prov.IteratorMatching(bg, math.MinInt64, math.MaxInt64, Forward, nil, NewNeedles([][]string{{needle}}))) {
			found = found || g.Timestamp == e.Timestamp && bytes.Equal(g.Line, e.Line)
		}
		if !found {
			t.Errorf("%s: IteratorMatching(%q) missed its line in the provisional blocks", name, needle)
		}
		b1, err := prov.Encode()
		if err != nil {
			t.Fatal(err)
		}
		b2, err := ref.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("%s: with provisional blocks %d bytes in %d blocks; sealed at the level and recompressed, %d bytes in %d blocks",
				name, len(b1), len(prov.Blocks()), len(b2), len(ref.Blocks()))
		}
		if n := countProvisional(prov); n != 0 {
			t.Errorf("%s: %d provisional blocks left after Encode", name, n)
		}
	}
	if alone < 5 {
		t.Errorf("%d provisional blocks were in no run: the path that seals them again alone was hardly tested", alone)
	}
}

// A run merged as it completes, by concatenating its lines frames, may
// take provisional blocks once the budget thins: it must then be compressed again, at Close or Encode, and never
// concatenate a provisional frame.
func TestConcatNeverStoresProvisionalFrames(t *testing.T) {
	thin := new(atomic.Bool)
	build := func(o Options) *MemChunk {
		o.Encoding, o.TargetSize, o.NgramBitsPerGram = Zstd, math.MaxInt, 1
		c, _ := smallBlockChunk(t, o, 400, 100, func(i int) int64 { // blocks of ~7 KiB, over a quarter of 24 KiB
			if i == 200 {
				thin.Store(true)
			}
			return int64(i) * 10
		})
		return c
	}
	thin.Store(false)
	c := build(Options{BlockSize: 24 << 10, BlockMerge: MergeConcat, ProvisionalSeals: thin})
	if !c.run.open || c.run.atEncode || c.run.start != 0 {
		t.Fatalf("run %+v: want all 4 blocks in one run begun while the budget was ample", c.run)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if n, p := len(c.Blocks()), countProvisional(c); n != 4 || p != 2 {
		t.Fatalf("%d blocks, %d provisional; want the run of 4 left to Encode, 2 of them provisional", n, p)
	}
	ref := build(Options{BlockSize: 24 << 10, BlockMerge: MergeRecompress, MergeAtEncode: true})
	b1, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b2, err := ref.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1, b2) {
		t.Errorf("the run holding provisional blocks stored %d bytes, recompressed at the level %d", len(b1), len(b2))
	}
}

// Nothing is provisional unless the budget is thin, the block is sealed
// early, and Encode would compress it at a higher level anyway.
func TestProvisionalOnlyForEarlySealsUnderAThinBudget(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         Options
		sealEvery int
		want      bool
	}{
		{"thin budget", Options{ProvisionalSeals: thinBudget()}, 25, true},
		{"thin budget, recompress", Options{ProvisionalSeals: thinBudget(), BlockMerge: MergeRecompress}, 25, true},
		{"ample budget", Options{ProvisionalSeals: new(atomic.Bool), RunGramsOff: thinBudget()}, 25, false},
		{"no budget flag", Options{}, 25, false},
		{"full blocks", Options{ProvisionalSeals: thinBudget()}, 1 << 30, false},
		{"merging off", Options{ProvisionalSeals: thinBudget(), BlockMerge: MergeOff}, 25, false},
		{"stored at the provisional level", Options{ProvisionalSeals: thinBudget(), ZstdLevel: zstd.SpeedFastest}, 25, false},
		{"s2", Options{ProvisionalSeals: thinBudget(), Encoding: S2}, 25, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.Encoding == None {
				tc.o.Encoding = Zstd
			}
			tc.o.TargetSize = math.MaxInt
			c, acc := smallBlockChunk(t, tc.o, 1000, tc.sealEvery, func(i int) int64 { return int64(i) })
			if got := countProvisional(c) > 0; got != tc.want {
				t.Errorf("provisional blocks: %v, want %v", got, tc.want)
			}
			d := encodeDecode(t, c)
			sameEntries(t, drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)), want(acc, math.MinInt64, math.MaxInt64, Forward))
		})
	}
}
