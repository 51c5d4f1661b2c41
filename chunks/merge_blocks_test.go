package chunks

import (
	"fmt"
	"math"
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
		{
			t.Run(fmt.Sprintf("v%d/%s/%s", version, enc, tc.merge), func(t *testing.T) {
				o := Options{Encoding: enc, TargetSize: math.MaxInt, NgramBitsPerGram: 1, version: version, BlockMerge: tc.merge}
				// 25 entries of ~90 bytes: blocks of ~2.2 KiB, about half the block size.
				c, acc := smallBlockChunk(t, o, 1000, 25, func(i int) int64 { return int64(i) * 10 })
				before := len(c.Blocks())
				entries := c.Entries()
				sealedLines := storedLines(t, c.blocks) // the sealed blocks' compressed lines frames, back to back
				// An iterator opened before Encode keeps reading the blocks it saw.
				early := c.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)
				d := encodeDecode(t, c)
				after := d.Blocks()
				if before != 40 || len(after) != 20 {
					t.Errorf("blocks: %d sealed, %d encoded; want 40 merged pairwise into 20", before, len(after))
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
