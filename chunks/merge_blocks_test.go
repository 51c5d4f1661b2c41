package chunks

import (
	"bytes"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
)

// smallBlockChunk appends n entries to a chunk with 4 KiB blocks (unless o
// sets a size), sealing
// the head after every sealEvery entries, as the ingester does under
// memory pressure, and returns the entries Append accepted.
func smallBlockChunk(t *testing.T, o Options, n, sealEvery int, ts func(i int) int64) (*MemChunk, []Entry) {
	t.Helper()
	if o.BlockSize == 0 {
		o.BlockSize = 4 << 10
	}
	c := NewMemChunkWithOptions(o)
	var acc []Entry
	for i := range n {
		e := Entry{Timestamp: ts(i), Line: fmt.Appendf(nil, "level=info trace_id=%016x%016x msg=served n=%d", uint64(i)*0x9E3779B97F4A7C15, uint64(i)*0xC2B2AE3D27D4EB4F, i%97)}
		if i%7 == 0 {
			e.Metadata = ent(0, "", "pod", fmt.Sprint(i%3)).Metadata
		}
		dup, err := c.Append(e)
		if err != nil {
			t.Fatal(err)
		}
		if !dup {
			acc = append(acc, e)
		}
		if (i+1)%sealEvery == 0 {
			if err := c.SealHead(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c, acc
}

func TestEncodeMergesRunsOfSmallBlocks(t *testing.T) {
	for _, tc := range []struct {
		version byte
		enc     Encoding
		merge   BlockMerge
	}{
		{FormatV1, None, MergeRecompress}, {FormatV1, Zstd, MergeRecompress}, {FormatV2, None, MergeRecompress}, {FormatV2, Zstd, MergeRecompress},
		{FormatV1, Zstd, MergeConcat}, {FormatV2, None, MergeConcat}, {FormatV2, Zstd, MergeConcat}, {FormatV2, S2, MergeConcat},
		{FormatV3, None, MergeRecompress}, {FormatV3, Zstd, MergeRecompress},
		{FormatV3, None, MergeConcat}, {FormatV3, Zstd, MergeConcat}, {FormatV3, S2, MergeConcat},
	} {
		version, enc := tc.version, tc.enc
		for _, atEncode := range []bool{true, false} {
			t.Run(fmt.Sprintf("v%d/%s/%s/at-encode=%v", version, enc, tc.merge, atEncode), func(t *testing.T) {
				o := Options{Encoding: enc, TargetSize: math.MaxInt, NgramBitsPerGram: 1, version: version, BlockMerge: tc.merge, MergeAtEncode: atEncode}
				// 25 entries of ~90 bytes: blocks of ~2.2 KiB, about half the block size.
				c, acc := smallBlockChunk(t, o, 1000, 25, func(i int) int64 { return int64(i) * 10 })
				before := len(c.Blocks())
				entries := c.Entries()
				sealedLines := storedLines(t, c.blocks) // the sealed blocks' compressed lines frames, back to back
				// An iterator opened before Encode keeps reading the blocks it saw.
				early := c.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)
				d := encodeDecode(t, c)
				after := d.Blocks()
				// Unless merging at Encode, concat merges as blocks are
				// sealed: each pair as the next block arrives, the last at
				// Encode, which closes the chunk.
				wantBefore := 40
				if !atEncode && tc.merge == MergeConcat && version != FormatV1 && enc != S2 {
					wantBefore = 21
				}
				if before != wantBefore || len(after) != 20 {
					t.Errorf("blocks: %d sealed, %d encoded; want %d sealed, 40 merged pairwise into 20", before, len(after), wantBefore)
				}
				for i, m := range after {
					if m.UncompressedLen > mergeLimit(4<<10) {
						t.Errorf("block %d: %d bytes, over the merge limit %d", i, m.UncompressedLen, mergeLimit(4<<10))
					}
					if m.FilterLen == 0 {
						t.Errorf("block %d: merged without its n-gram filter", i)
					}
				}
				mergedLines := storedLines(t, c.blocks)
				// Concat keeps the compressed lines where it can (version 2,
				// zstd) and recompresses otherwise; uncompressed lines are the
				// same bytes either way.
				kept := version != FormatV1 && (enc == None || tc.merge == MergeConcat && enc == Zstd)
				if same := string(mergedLines) == string(sealedLines); same != kept {
					t.Errorf("merged blocks keep the sealed lines frames: %v, want %v", same, kept)
				}
				if d.Entries() != entries || c.Entries() != entries {
					t.Errorf("entries: %d before Encode, %d after, %d decoded", entries, c.Entries(), d.Entries())
				}
				for _, dir := range []Direction{Forward, Backward} {
					sameEntries(t, drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)), want(acc, math.MinInt64, math.MaxInt64, dir))
					sameEntries(t, drain(t, c.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)), want(acc, math.MinInt64, math.MaxInt64, dir))
					sameEntries(t, drain(t, d.Iterator(bg, 2005, 7995, dir, nil)), want(acc, 2005, 7995, dir))
				}
				sameEntries(t, drain(t, early), want(acc, math.MinInt64, math.MaxInt64, Forward))
				// Every line is still found through the merged blocks' filters.
				needle := string(acc[777].Line[20:52])
				n := NewNeedles([][]string{{needle}})
				hits := 0
				for i := range after {
					if d.BlockMayMatch(i, n) {
						hits++
					}
				}
				if hits == 0 {
					t.Errorf("no merged block admits %q", needle)
				}
			})
		}
	}
}

// Blocks far smaller than the block size (the ingester seals heads of a few
// KiB when thousands of streams share its memory) are compressed again
// under MergeConcat: their frames, kept, would each start cold.
func TestConcatRecompressesRunsOfTinyBlocks(t *testing.T) {
	for _, version := range []byte{FormatV2, FormatV3} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			size := func(merge BlockMerge) (int, []byte) {
				o := Options{Encoding: Zstd, TargetSize: math.MaxInt, BlockSize: 64 << 10, version: version, BlockMerge: merge}
				// Blocks of ~2.2 KiB: under 1/16 of 64 KiB.
				c, acc := smallBlockChunk(t, o, 1000, 25, func(i int) int64 { return int64(i) * 10 })
				sealed := storedLines(t, c.blocks)
				d := encodeDecode(t, c)
				if n := len(d.Blocks()); n > 2 {
					t.Fatalf("%s: %d blocks after Encode, want 40 tiny ones merged into one or two", merge, n)
				}
				sameEntries(t, drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)), want(acc, math.MinInt64, math.MaxInt64, Forward))
				out, err := c.Encode()
				if err != nil {
					t.Fatal(err)
				}
				if merged := storedLines(t, c.blocks); string(merged) == string(sealed) {
					t.Errorf("%s: tiny blocks kept their sealed lines frames", merge)
				}
				return len(out), sealed
			}
			concat, _ := size(MergeConcat)
			recompress, _ := size(MergeRecompress)
			if concat != recompress {
				t.Errorf("concat stored %d bytes, recompress %d: tiny blocks should be compressed again either way", concat, recompress)
			}
		})
	}
}

func TestEncodeKeepsBlocksThatAreFullOverlapOrAreTurnedOff(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         Options
		sealEvery int
		ts        func(i int) int64
	}{
		{"full blocks", Options{}, 1 << 30, func(i int) int64 { return int64(i) }},
		{"merging off", Options{BlockMerge: MergeOff}, 25, func(i int) int64 { return int64(i) }},
		// Every sealed run starts back in time: blocks overlap.
		{"overlapping", Options{}, 25, func(i int) int64 { return int64(i%25)*100 + int64(i/25) }},
		// Each block's first timestamp equals the previous block's last.
		{"touching", Options{}, 25, func(i int) int64 { return int64((i + 1) / 25 * 25) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Encoding, tc.o.TargetSize = Zstd, math.MaxInt
			c, acc := smallBlockChunk(t, tc.o, 1000, tc.sealEvery, tc.ts)
			if err := c.Close(); err != nil { // seals the head: count its block too
				t.Fatal(err)
			}
			before := c.Blocks()
			d := encodeDecode(t, c)
			if len(d.Blocks()) != len(before) {
				t.Errorf("%d blocks sealed, %d encoded; want none merged", len(before), len(d.Blocks()))
			}
			for _, dir := range []Direction{Forward, Backward} {
				sameEntries(t, drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)), want(acc, math.MinInt64, math.MaxInt64, dir))
			}
		})
	}
}

// storedLines returns the blocks' stored lines frames back to back, then
// their hex frames (version 3), as a concat merge should keep them.
func storedLines(t *testing.T, blocks []block) []byte {
	t.Helper()
	var lines, hex []byte
	for _, b := range blocks {
		rest := b.data[b.ColumnsLen+crcSize:]
		if !b.hexed {
			lines = append(lines, rest...)
			continue
		}
		l, err := parseHexLayout(rest, int(b.LineBytes))
		if err != nil {
			t.Fatal(err)
		}
		if l.hexLen == 0 {
			t.Fatal("a version 3 block of trace IDs stored without a hex frame")
		}
		lines = append(lines, l.lines...)
		hex = append(hex, l.hex...)
	}
	return append(lines, hex...)
}

// Merging runs as blocks are sealed must give the chunk Encode gave when
// it merged them all: the same runs, and the same merged blocks byte for
// byte, whatever the sealing pattern (small, tiny and full blocks, runs
// broken by out-of-order or equal timestamps, by the merge limit, by the
// chunk's end), the codec, version, filters and metadata.
func TestMergingAsSealedEncodesAsMergingAtEncode(t *testing.T) {
	mergedEarly := 0 // chunks with runs merged before Encode
	for seed := range uint64(24) {
		enc := []Encoding{Zstd, None}[seed%2]
		version := []byte{FormatV2, FormatV3}[seed/2%2]
		ngram := []float64{0.8, 0}[seed/4%2]
		blockSize := []int{4 << 10, 16 << 10, 64 << 10}[seed%3]
		build := func(atEncode bool) (*MemChunk, []Entry) {
			c := NewMemChunkWithOptions(Options{Encoding: enc, BlockSize: blockSize, TargetSize: math.MaxInt, NgramBitsPerGram: ngram,
				version: version, BlockMerge: MergeConcat, MergeAtEncode: atEncode})
			acc := appendSealingRandomly(t, c, seed, 78) // the same entries and seals for both
			return c, acc
		}
		eager, acc := build(false)
		lazy, _ := build(true)
		for _, dir := range []Direction{Forward, Backward} {
			sameEntries(t, drain(t, eager.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)), want(acc, math.MinInt64, math.MaxInt64, dir))
		}
		sealedEager, sealedLazy := len(eager.Blocks()), len(lazy.Blocks())
		b1, err := eager.Encode()
		if err != nil {
			t.Fatal(err)
		}
		b2, err := lazy.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("seed %d (%s v%d, n-gram %g, blocks %d): merged as sealed, %d bytes in %d blocks; at Encode, %d bytes in %d blocks",
				seed, enc, version, ngram, blockSize, len(b1), len(eager.Blocks()), len(b2), len(lazy.Blocks()))
		}
		if sealedEager < sealedLazy {
			mergedEarly++
		}
	}
	if mergedEarly < 8 {
		t.Errorf("%d of 24 chunks merged runs before Encode: the path was hardly tested", mergedEarly)
	}
}

// With thousands of streams the ingester seals heads of a few KiB; a run
// of such blocks must not hold a 16 KiB bitmap of grams per stream (it
// would take much of the memory the streams share): it is merged at
// Encode, as before.
func TestRunsOfSmallHeadsHoldNoGrams(t *testing.T) {
	o := Options{Encoding: Zstd, BlockSize: 256 << 10, TargetSize: math.MaxInt, NgramBitsPerGram: 0.8, BlockMerge: MergeConcat}
	c, acc := smallBlockChunk(t, o, 1000, 50, func(i int) int64 { return int64(i) * 10 }) // blocks of ~4.5 KiB
	if !c.run.open || c.run.grams != nil || len(c.Blocks()) != 20 {
		t.Fatalf("%d blocks, open run %v, grams held %v; want 20 blocks in a run without grams", len(c.Blocks()), c.run.open, c.run.grams != nil)
	}
	d := encodeDecode(t, c)
	if n := len(d.Blocks()); n != 1 {
		t.Errorf("encoded %d blocks, want the run merged into 1", n)
	}
	sameEntries(t, drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)), want(acc, math.MinInt64, math.MaxInt64, Forward))
}

// Runs that start while Options.RunGramsOff is set hold no grams and are
// merged at Encode; the flag is read as each run starts.
func TestRunGramsOffLeavesRunsToEncode(t *testing.T) {
	for _, off := range []bool{true, false} {
		flag := new(atomic.Bool)
		flag.Store(off)
		o := Options{Encoding: Zstd, TargetSize: math.MaxInt, NgramBitsPerGram: 1, BlockMerge: MergeConcat, RunGramsOff: flag}
		// Blocks of ~2.2 KiB, over a quarter of the 4 KiB block size.
		c, acc := smallBlockChunk(t, o, 1000, 25, func(i int) int64 { return int64(i) * 10 })
		wantBefore := 21
		if off {
			wantBefore = 40
		}
		if before := len(c.Blocks()); before != wantBefore || (c.run.grams != nil) == off {
			t.Errorf("RunGramsOff %v: %d blocks before Encode (want %d), grams held %v", off, before, wantBefore, c.run.grams != nil)
		}
		d := encodeDecode(t, c)
		if n := len(d.Blocks()); n != 20 {
			t.Errorf("RunGramsOff %v: encoded %d blocks, want 20", off, n)
		}
		sameEntries(t, drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)), want(acc, math.MinInt64, math.MaxInt64, Forward))
	}
}
