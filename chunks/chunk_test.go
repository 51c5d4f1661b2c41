package chunks

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestEncodingNames(t *testing.T) {
	for _, e := range Encodings() {
		got, err := ParseEncoding(strings.ToUpper(e.String()))
		if err != nil || got != e {
			t.Errorf("ParseEncoding(%q) = %v, %v; want %v", e.String(), got, err, e)
		}
	}
	if _, err := ParseEncoding("lz4"); err == nil {
		t.Error("ParseEncoding(lz4) succeeded")
	}
	if got := Encoding(200).String(); got != "encoding(200)" {
		t.Errorf("String of unknown encoding = %q", got)
	}
	if DefaultEncoding != Zstd {
		t.Errorf("default encoding %v, want zstd", DefaultEncoding)
	}
}

func TestCodecsRoundTrip(t *testing.T) {
	inputs := map[string][]byte{
		"empty":    {},
		"one byte": {42},
		"text":     bytes.Repeat([]byte("level=info msg=hello "), 5000),
		"incompressible": func() []byte {
			b := make([]byte, 70_000)
			x := uint32(1)
			for i := range b {
				x = x*1664525 + 1013904223
				b[i] = byte(x >> 24)
			}
			return b
		}(),
	}
	for _, enc := range Encodings() {
		for name, in := range inputs {
			t.Run(enc.String()+"/"+name, func(t *testing.T) {
				comp, err := enc.compress([]byte("prefix"), in)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(comp, []byte("prefix")) {
					t.Fatal("compress did not append to dst")
				}
				out, err := enc.decompress(make([]byte, 3), comp[6:], len(in))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, in) {
					t.Fatal("round trip changed the data")
				}
				if len(in) > 0 {
					if _, err := enc.decompress(nil, comp[6:], len(in)+1); err == nil {
						t.Fatal("decompress accepted a wrong uncompressed length")
					}
				}
			})
		}
	}
}

// testChunk builds a small chunk with three blocks, metadata and an
// out-of-order entry.
func testChunk(t testing.TB, enc Encoding) ([]byte, []Entry) {
	return testChunkVersion(t, enc, FormatVersion)
}

func testChunkVersion(t testing.TB, enc Encoding, version byte) ([]byte, []Entry) {
	c := NewMemChunkWithOptions(Options{Encoding: enc, BlockSize: 30, version: version})
	es := []Entry{
		ent(100, "first line of the chunk"), ent(110, "second", "trace", "abc"),
		ent(120, "third line"), ent(105, "late one", "k", "v", "trace", "abc"),
		ent(130, "fifth"), ent(140, "sixth line here"), ent(150, "last"),
	}
	acc := appendAll(t, c, es)
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b, want(acc, math.MinInt64, math.MaxInt64, Forward)
}

func TestDecodeRoundTripPerCodec(t *testing.T) {
	for _, enc := range Encodings() {
		for _, v := range []byte{FormatV1, FormatV2, FormatV3} {
			t.Run(fmt.Sprintf("%s/v%d", enc, v), func(t *testing.T) { testRoundTrip(t, enc, v) })
		}
	}
}

func testRoundTrip(t *testing.T, enc Encoding, version byte) {
	b, exp := testChunkVersion(t, enc, version)
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if d.Encoding() != enc {
		t.Errorf("Encoding()=%v", d.Encoding())
	}
	if lo, hi := d.Bounds(); lo != 100 || hi != 150 {
		t.Errorf("Bounds()=(%d,%d), want (100,150)", lo, hi)
	}
	if d.Entries() != len(exp) {
		t.Errorf("Entries()=%d, want %d", d.Entries(), len(exp))
	}
	if len(d.Blocks()) < 3 {
		t.Errorf("want at least 3 blocks, got %d", len(d.Blocks()))
	}
	var lines, lineBytes int64
	for _, m := range d.Blocks() {
		lines += int64(m.Entries)
		lineBytes += m.LineBytes
	}
	var expBytes int64
	for _, e := range exp {
		expBytes += int64(len(e.Line))
	}
	if lines != int64(len(exp)) || lineBytes != expBytes {
		t.Errorf("block index counts %d entries / %d line bytes, want %d / %d", lines, lineBytes, len(exp), expBytes)
	}
	sameEntries(t, drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)), exp)
	n, err := HeaderAndIndexSize(b[:HeaderSize])
	if err != nil || n != HeaderSize+len(d.Blocks())*IndexEntrySize+4 {
		t.Errorf("HeaderAndIndexSize = %d, %v", n, err)
	}
	if d.Version() != version {
		t.Errorf("Version()=%d, want %d", d.Version(), version)
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := testChunk(t, Zstd)
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	// refreshCRC recomputes the header/index CRC so a test reaches the
	// field check it means to exercise.
	refreshCRC := func(b []byte) []byte {
		n := int(binary.BigEndian.Uint32(b[28:]))
		end := HeaderSize + n*IndexEntrySize
		binary.BigEndian.PutUint32(b[end:], crc32.Checksum(b[:end], castagnoli))
		return b
	}
	tests := []struct {
		name  string
		input []byte
		want  string
	}{
		{"empty input", nil, "header: truncated at byte 0"},
		{"truncated header", good[:12], "header: truncated at byte 12"},
		{"bad magic", mut(func(b []byte) []byte { b[0] = 'X'; return b }), "bad magic"},
		{"future version", mut(func(b []byte) []byte { b[4] = 4; return b }), "unsupported format version 4"},
		{"version 1 with a columns frame", mut(func(b []byte) []byte { b[4] = FormatV1; return refreshCRC(b) }), "reserved field set"},
		{"columns frame longer than its block", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[HeaderSize+44:], binary.BigEndian.Uint32(b[HeaderSize+28:])+1)
			return refreshCRC(b)
		}), "columns frame of"},
		{"no columns frame", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[HeaderSize+44:], 0)
			return refreshCRC(b)
		}), "columns frame of 0 bytes"},
		{"unknown codec", mut(func(b []byte) []byte { b[5] = 99; return b }), "unknown encoding 99"},
		{"index crc", mut(func(b []byte) []byte { b[HeaderSize+3] ^= 1; return b }), "index crc mismatch"},
		{"truncated index", good[:HeaderSize+10], "truncated at byte 50"},
		{"truncated data", good[:len(good)-1], "truncated at byte"},
		{"trailing bytes", append(bytes.Clone(good), 0), "1 trailing bytes"},
		{"block outside chunk bounds", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[HeaderSize:], 1)
			return refreshCRC(b)
		}), "outside chunk"},
		{"block offsets not contiguous", mut(func(b []byte) []byte {
			e := b[HeaderSize+IndexEntrySize:]
			binary.BigEndian.PutUint32(e[24:], binary.BigEndian.Uint32(e[24:])+1)
			return refreshCRC(b)
		}), "index entry 1: offset"},
		{"block too large", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[HeaderSize+32:], MaxBlockSize+1)
			return refreshCRC(b)
		}), "over the"},
		{"entry count mismatch", mut(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[24:], 99)
			return refreshCRC(b)
		}), "header says 99"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.input)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode: err=%v, want it to mention %q", err, tc.want)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
		})
	}
}

func TestIteratorNamesCorruptBlock(t *testing.T) {
	good, _ := testChunk(t, S2)
	d, err := Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Clone(good)
	m := d.Blocks()[2]
	b[m.Offset] ^= 0xff // block data is not checked by Decode
	d2, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode verified block data: %v", err)
	}
	for _, dir := range []Direction{Forward, Backward} {
		it := d2.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)
		for it.Next() {
		}
		if err := it.Err(); err == nil || !strings.HasPrefix(err.Error(), "block 2: crc mismatch") || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: Err()=%v, want block 2 crc mismatch", dir, err)
		}
		_ = it.Close()
	}
	// A range that avoids the corrupt block never reads it.
	sameEntries(t, drain(t, d2.Iterator(bg, 100, m.MinT, Forward, nil)), drain(t, d.Iterator(bg, 100, m.MinT, Forward, nil)))
}

// TestLinesFrameHasItsOwnCRC checks that a version 2 block's lines frame
// is verified when the lines are read, and that a reader of the columns
// alone neither needs nor checks it.
func TestLinesFrameHasItsOwnCRC(t *testing.T) {
	c := NewMemChunk(Zstd, 30, 0)
	exp := appendAll(t, c, []Entry{ent(100, "first line of the chunk"), ent(110, "second", "trace", "abc"),
		ent(120, "third line"), ent(130, "fifth"), ent(140, "sixth line here"), ent(150, "last")})
	good, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Clone(good)
	m := d.Blocks()[1]
	b[m.Offset+m.CompressedLen-1] ^= 0xff // last byte of the lines frame
	d2, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	it := d2.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)
	for it.Next() {
	}
	if err := it.Err(); err == nil || !strings.HasPrefix(err.Error(), "block 1: crc mismatch in the lines frame") {
		t.Fatalf("Err()=%v, want block 1 lines frame crc mismatch", err)
	}
	_ = it.Close()
	var st Stats
	cell := func(ts int64) int64 { return ts } // no block lies in one cell: all are read
	sit := d2.SummaryIterator(bg, math.MinInt64, math.MaxInt64, SummaryOptions{Cell: cell}, &st)
	var n int64
	for sit.Next() {
		if k, _, ok := sit.Summary(); ok {
			n += k
		} else {
			n++
		}
	}
	if err := sit.Err(); err != nil || n != int64(len(exp)) || st.ColumnBlocks == 0 || st.ColumnBlocks+st.BlocksSkipped != int64(len(d.Blocks())) {
		t.Fatalf("columns-only read of a chunk with a corrupt lines frame: %d entries, err %v, stats %+v; want %d", n, err, st, len(exp))
	}
}

// TestEveryByteFlipped checks that corruption anywhere in a chunk is
// caught by Decode or by iteration, or leaves the entries unchanged
// (reserved and unused bits), and never panics.
func TestEveryByteFlipped(t *testing.T) {
	for _, enc := range Encodings() {
		t.Run(enc.String(), func(t *testing.T) {
			good, exp := testChunk(t, enc)
			for i := range good {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					b := bytes.Clone(good)
					b[i] ^= mask
					d, err := Decode(b)
					if err != nil {
						continue
					}
					got, err := iterateAll(d)
					if err != nil {
						if !errors.Is(err, ErrCorrupt) {
							t.Fatalf("byte %d ^ %#x: error %v does not wrap ErrCorrupt", i, mask, err)
						}
						continue
					}
					sameEntriesErr(t, fmt.Sprintf("byte %d ^ %#x", i, mask), got, exp)
				}
			}
			for n := range len(good) {
				if _, err := Decode(good[:n]); err == nil {
					t.Fatalf("Decode accepted a chunk truncated to %d of %d bytes", n, len(good))
				}
			}
		})
	}
}

func iterateAll(d *Chunk) ([]Entry, error) {
	var out []Entry
	for _, dir := range []Direction{Forward, Backward} {
		it := d.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)
		for it.Next() {
			e := it.At()
			if dir == Forward {
				out = append(out, Entry{Timestamp: e.Timestamp, Line: bytes.Clone(e.Line), Metadata: e.Metadata})
			}
		}
		err := it.Err()
		_ = it.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sameEntriesErr(t *testing.T, what string, got, exp []Entry) {
	t.Helper()
	if len(got) != len(exp) {
		t.Fatalf("%s: corruption went unnoticed: %d entries, want %d", what, len(got), len(exp))
	}
	for i := range got {
		if got[i].Timestamp != exp[i].Timestamp || !bytes.Equal(got[i].Line, exp[i].Line) {
			t.Fatalf("%s: corruption went unnoticed: entry %d is {%d %q}, want {%d %q}", what, i, got[i].Timestamp, got[i].Line, exp[i].Timestamp, exp[i].Line)
		}
	}
}

func TestDecodeIndexFromPrefix(t *testing.T) {
	c := NewMemChunkWithOptions(Options{Encoding: Zstd, BlockSize: 40, BloomBitsPerToken: 8})
	appendAll(t, c, []Entry{ent(1, "one two"), ent(2, "three four five"), ent(3, "six"), ent(9, "seven eight nine ten")})
	full, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(full)
	if err != nil {
		t.Fatal(err)
	}
	n, err := HeaderAndIndexSize(full[:HeaderSize])
	if err != nil {
		t.Fatal(err)
	}
	ix, err := DecodeIndex(full[:n])
	if err != nil {
		t.Fatalf("DecodeIndex(prefix of %d bytes): %v", n, err)
	}
	if ix.Size != len(full) || ix.Entries != d.Entries() || ix.Encoding != Zstd || ix.FiltersLen == 0 {
		t.Fatalf("index %+v for a %d-byte chunk", ix, len(full))
	}
	if lo, hi := d.Bounds(); ix.MinT != lo || ix.MaxT != hi {
		t.Fatalf("index bounds [%d, %d], chunk [%d, %d]", ix.MinT, ix.MaxT, lo, hi)
	}
	if !slices.Equal(ix.Blocks, d.Blocks()) {
		t.Fatalf("index blocks %+v, chunk blocks %+v", ix.Blocks, d.Blocks())
	}
	for i, m := range ix.Blocks {
		// The byte range a ranged GET would fetch holds the block.
		// (In version 2 the index's CRC covers the columns frame.)
		if m.ColumnsLen == 0 || m.ColumnsLen > m.CompressedLen || crc32.Checksum(full[m.Offset:m.Offset+m.ColumnsLen], castagnoli) != m.CRC {
			t.Fatalf("block %d: range [%d, +%d) does not hold the block", i, m.Offset, m.CompressedLen)
		}
	}
	if _, err := DecodeIndex(full[:n-1]); err == nil || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("DecodeIndex of a short prefix: err=%v", err)
	}
}
