package chunks

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"slices"
	"sync/atomic"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode and, when they pass, iterates
// the chunk in both directions. Nothing may panic, and a chunk that
// iterates without error must yield the same number of entries both ways.
func FuzzDecode(f *testing.F) {
	for _, enc := range Encodings() {
		for _, v := range []byte{FormatV1, FormatV2, FormatV3} {
			b, _ := testChunkVersion(f, enc, v)
			f.Add(b)
		}
	}
	empty, err := NewMemChunk(Zstd, 0, 0).Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(empty)
	f.Add([]byte("PLGC"))
	withBloom := NewMemChunkWithOptions(Options{Encoding: S2, BlockSize: 40, BloomBitsPerToken: 10})
	appendAll(f, withBloom, []Entry{ent(1, "alpha beta"), ent(2, "gamma delta", "k", "v"), ent(3, "epsilon")})
	bb, err := withBloom.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bb)
	for _, enc := range []Encoding{None, Zstd} {
		f.Add(hexChunk(f, enc, MergeConcat))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, ixErr := DecodeIndex(b)
		c, err := Decode(b)
		if err != nil {
			return
		}
		if ixErr != nil || ix.Size != len(b) || len(ix.Blocks) != len(c.Blocks()) {
			t.Fatalf("Decode accepted what DecodeIndex did not: %v", ixErr)
		}
		lo, hi := c.Bounds()
		for i := range c.Blocks() {
			_ = c.BlockMayContain(i, []byte("alpha"))
		}
		counts := [2]int{}
		errs := [2]error{}
		for i, dir := range []Direction{Forward, Backward} {
			it := c.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)
			for it.Next() {
				e := it.At()
				if e.Timestamp < lo || e.Timestamp > hi {
					t.Fatalf("%s: entry at %d outside chunk bounds [%d, %d]", dir, e.Timestamp, lo, hi)
				}
				counts[i]++
			}
			errs[i] = it.Err()
			_ = it.Close()
		}
		if errs[0] == nil && errs[1] == nil && counts[0] != counts[1] {
			t.Fatalf("forward yielded %d entries, backward %d", counts[0], counts[1])
		}
		// A narrower range must not misbehave either.
		mid := lo/2 + hi/2
		it := c.Iterator(bg, mid, hi, Backward, nil)
		for it.Next() {
		}
		_ = it.Close()
		// Nor a needle search.
		checkNeedleSearch(t, c)
	})
}

// FuzzDecodeFixedCRC is FuzzDecode with every checksum recomputed before
// decoding, so the fuzzer explores the index and block parsers instead of
// stopping at CRC mismatches.
func FuzzDecodeFixedCRC(f *testing.F) {
	for _, enc := range []Encoding{None, S2, Zstd} {
		for _, v := range []byte{FormatV1, FormatV2, FormatV3} {
			b, _ := testChunkVersion(f, enc, v)
			f.Add(b)
		}
	}
	withHist := NewMemChunkWithOptions(Options{Encoding: None, BlockSize: 400})
	for i := range 40 {
		appendAll(f, withHist, []Entry{ent(int64(i)*3e8, "line")})
	}
	hb, err := withHist.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(hb)
	// A block merged by MergeConcat: its lines frame is several zstd frames.
	concat := NewMemChunkWithOptions(Options{Encoding: Zstd, BlockSize: 64, BlockMerge: MergeConcat})
	for i, l := range []string{"alpha beta", "gamma delta", "epsilon", "zeta eta theta"} {
		appendAll(f, concat, []Entry{ent(int64(i), l)})
		if err := concat.SealHead(); err != nil {
			f.Fatal(err)
		}
	}
	cb, err := concat.Encode()
	if err != nil || len(concat.Blocks()) != 1 {
		f.Fatalf("concat seed: %d blocks, %v", len(concat.Blocks()), err)
	}
	f.Add(cb)
	for _, enc := range []Encoding{None, Zstd} {
		f.Add(hexChunk(f, enc, MergeConcat))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fixCRCs(b)
		c, err := Decode(b)
		if err != nil {
			return
		}
		counts := [2]int{}
		errs := [2]error{}
		for i, dir := range []Direction{Forward, Backward} {
			it := c.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)
			for it.Next() {
				counts[i]++
			}
			errs[i] = it.Err()
			_ = it.Close()
		}
		if errs[0] == nil && errs[1] == nil && counts[0] != counts[1] {
			t.Fatalf("forward yielded %d entries, backward %d", counts[0], counts[1])
		}
		if n, err := summaryCount(c, fineCell); err == nil && errs[0] == nil && n != int64(counts[0]) {
			t.Fatalf("summaries count %d entries, the iterator %d", n, counts[0])
		}
		if n, err := summaryCount(c, secondCell); err == nil && errs[0] == nil && n != int64(counts[0]) {
			t.Fatalf("summaries over whole seconds (histograms) count %d entries, the iterator %d", n, counts[0])
		}
		checkNeedleSearch(t, c)
	})
}

// checkNeedleSearch compares a needle search of c with a line-by-line
// filter of its full iteration: where both run without error, the lines
// holding the needles must be the same. (A search may skip, unparsed, a
// corrupt block holding no needle, so only one may fail.)
func checkNeedleSearch(t *testing.T, c *Chunk) {
	// The second set ends in digits a packed hex run may hold, and its
	// lines are searched in their packed form (markPacked).
	for _, n := range []*Needles{NewNeedles([][]string{{"line", "alpha"}}), NewNeedles([][]string{{"id=9", "n=1 t"}})} {
		checkNeedlesSearch(t, c, n)
	}
}

func checkNeedlesSearch(t *testing.T, c *Chunk, n *Needles) {
	for _, dir := range []Direction{Forward, Backward} {
		collect := func(it Iterator) ([]string, error) {
			var out []string
			for it.Next() {
				if e := it.At(); n.matchLine(e.Line) {
					out = append(out, string(e.Line))
				}
			}
			err := it.Err()
			_ = it.Close()
			return out, err
		}
		want, err1 := collect(c.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil))
		got, err2 := collect(c.IteratorMatching(bg, math.MinInt64, math.MaxInt64, dir, nil, n, nil))
		if err1 == nil && err2 == nil && !slices.Equal(got, want) {
			t.Fatalf("%s: needle search found %q, a full scan %q", dir, got, want)
		}
	}
}

// fineCell makes cells a few instants wide, so blocks are folded from
// their columns.
func fineCell(ts int64) int64 {
	if ts > math.MaxInt64-8 {
		return math.MaxInt64
	}
	return ts | 7
}

// secondCell makes cells (s−1s, s], which histograms of any width align to.
func secondCell(ts int64) int64 {
	const sec = int64(1e9)
	if ts > math.MaxInt64-sec {
		return math.MaxInt64
	}
	k := ts / sec
	if ts%sec != 0 && ts > 0 {
		k++
	}
	return k * sec
}

// summaryCount counts a chunk's entries through a SummaryIterator with
// the given cells.
func summaryCount(c *Chunk, cell func(int64) int64) (int64, error) {
	it := c.SummaryIterator(bg, math.MinInt64, math.MaxInt64, SummaryOptions{Cell: cell}, nil)
	defer it.Close()
	var n int64
	for it.Next() {
		if k, _, ok := it.Summary(); ok {
			n += k
		} else {
			n++
		}
	}
	return n, it.Err()
}

// fixCRCs rewrites, in place, the checksums of whatever part of b is
// well-formed enough to locate them.
func fixCRCs(b []byte) {
	if len(b) < HeaderSize {
		return
	}
	n := int(binary.BigEndian.Uint32(b[28:]))
	indexEnd := HeaderSize + n*IndexEntrySize
	if n > len(b) || indexEnd+crcSize > len(b) {
		return
	}
	for i := range n {
		e := b[HeaderSize+i*IndexEntrySize:]
		off, l := int(binary.BigEndian.Uint32(e[24:])), int(binary.BigEndian.Uint32(e[28:]))
		if off < 0 || l < 0 || off > len(b) || l > len(b)-off {
			continue
		}
		blk := b[off : off+l]
		if cl := int(binary.BigEndian.Uint32(e[44:])); b[4] != FormatV1 && cl >= 0 && cl <= l-crcSize {
			// Version 2: the index holds the columns frame's CRC, the
			// block the lines frame's.
			binary.BigEndian.PutUint32(e[36:], crc32.Checksum(blk[:cl], castagnoli))
			binary.BigEndian.PutUint32(blk[cl:], crc32.Checksum(blk[cl+crcSize:], castagnoli))
			continue
		}
		binary.BigEndian.PutUint32(e[36:], crc32.Checksum(blk, castagnoli))
	}
	binary.BigEndian.PutUint32(b[indexEnd:], crc32.Checksum(b[:indexEnd], castagnoli))
	fStart := indexEnd + crcSize
	if fl := int(binary.BigEndian.Uint32(b[32:])); fl <= len(b)-fStart-crcSize {
		binary.BigEndian.PutUint32(b[fStart+fl:], crc32.Checksum(b[fStart:fStart+fl], castagnoli))
	}
}

// FuzzAppendRoundTrip turns fuzz bytes into appends (timestamps jumping
// back and forth, repeated lines, metadata) and checks that the MemChunk
// and its decoded form both iterate exactly like the reference model.
func FuzzAppendRoundTrip(f *testing.F) {
	f.Add([]byte("\x05hello\x00\x03world\x83again\x00\x01x"), uint8(3), uint8(20), false)
	f.Add([]byte("\x00a\x00a\x00a\x80b\x01c\xffdddddddddd"), uint8(1), uint8(1), false)
	// Hex runs that version 3 packs, a literal 0x00 among them.
	f.Add([]byte("\x0f0123456789abcdef\x0f0123456789abcde\x0ff0\x00123456789abcd\x8fdeadbeefdeadbeef"), uint8(0x23), uint8(40), false)
	// A thin memory budget: early seals of zstd blocks are provisional.
	f.Add([]byte("\x6fhello world 0\x6fhello world 1\x0fhello world 2\x6fdeadbeefdeadbeef"), uint8(3), uint8(200), true)
	f.Fuzz(func(t *testing.T, in []byte, codec, blockSize uint8, thin bool) {
		enc := Encodings()[int(codec)%len(Encodings())]
		version := FormatVersion
		if codec&0x80 != 0 {
			version = FormatV1
		} else if codec&0x40 != 0 {
			version = FormatV2
		}
		// The codec byte's bits 4-5 pick how Encode merges small blocks.
		merge := []BlockMerge{MergeDefault, MergeRecompress, MergeConcat, MergeOff}[codec>>4&3]
		budget := new(atomic.Bool)
		budget.Store(thin)
		c := NewMemChunkWithOptions(Options{Encoding: enc, BlockSize: int(blockSize) + 1, version: version, BlockMerge: merge, RunGramsOff: budget, ProvisionalSeals: budget})
		var es []Entry
		var seals []bool
		ts := int64(0)
		for len(in) > 0 {
			op := in[0]
			in = in[1:]
			ts += int64(int8(op << 1)) // steps of -128..126, often backwards
			n := min(int(op&0x0f), len(in))
			e := Entry{Timestamp: ts, Line: in[:n]}
			if op&0x80 != 0 {
				e.Metadata = ent(0, "", "m", string(in[:n])).Metadata
			}
			in = in[n:]
			es = append(es, e)
			seals = append(seals, op&0x60 == 0x60)
		}
		// Entries whose op has bits 0x60 set seal the head after them, as
		// the ingester does under memory pressure, so Encode has runs of
		// small blocks to merge.
		var acc []Entry
		for k, e := range es {
			dup, err := c.Append(e)
			if err != nil {
				t.Fatalf("append %d %q: %v", e.Timestamp, e.Line, err)
			}
			if !dup {
				acc = append(acc, e)
			}
			if seals[k] {
				if err := c.SealHead(); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, dir := range []Direction{Forward, Backward} {
			exp := want(acc, math.MinInt64, math.MaxInt64, dir)
			sameEntries(t, drain(t, c.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)), exp)
		}
		entries := c.Entries()
		d := encodeDecode(t, c)
		if n := countProvisional(c); n > 0 {
			t.Fatalf("%d provisional blocks after Encode", n)
		}
		if d.Entries() != entries || c.Entries() != entries {
			t.Fatalf("entries: %d before Encode, %d after, %d decoded", entries, c.Entries(), d.Entries())
		}
		for _, dir := range []Direction{Forward, Backward} {
			exp := want(acc, -50, 50, dir)
			sameEntries(t, drain(t, d.Iterator(bg, -50, 50, dir, nil)), exp)
		}
	})
}
