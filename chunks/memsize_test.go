package chunks

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"unsafe"
)

func TestSealHeadCompressesTheHeadAndKeepsTheChunkOpen(t *testing.T) {
	c := NewMemChunk(Zstd, 256<<10, 1<<20)
	for i := 0; i < 1000; i++ {
		if _, err := c.Append(Entry{Timestamp: int64(i), Line: fmt.Appendf(nil, "level=info msg=\"request served\" n=%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	before := c.MemoryBytes()
	if c.HeadBytes() == 0 || len(c.Blocks()) != 0 {
		t.Fatalf("head %d bytes, %d blocks before sealing", c.HeadBytes(), len(c.Blocks()))
	}
	if err := c.SealHead(); err != nil {
		t.Fatal(err)
	}
	if c.HeadBytes() != 0 || len(c.Blocks()) != 1 {
		t.Fatalf("head %d bytes, %d blocks after sealing", c.HeadBytes(), len(c.Blocks()))
	}
	if after := c.MemoryBytes(); after*4 > before {
		t.Fatalf("memory %d bytes after sealing, %d before: want a quarter or less", after, before)
	}
	if _, err := c.Append(Entry{Timestamp: 5000, Line: []byte("after")}); err != nil {
		t.Fatalf("append after SealHead: %v", err)
	}
	it := c.Iterator(context.Background(), 0, 1<<62, Forward, nil)
	n := 0
	for it.Next() {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 1001 {
		t.Fatalf("iterated %d entries, want 1001", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.SealHead(); err != nil {
		t.Fatalf("SealHead on a closed chunk: %v", err)
	}
}

func TestEncodedChunkHoldsItsBytesOnceAndStaysReadable(t *testing.T) {
	c := NewMemChunkWithOptions(Options{Encoding: Zstd, BlockSize: 4 << 10, TargetSize: 1 << 20, NgramBitsPerGram: 8})
	var exp []Entry
	for i := 0; i < 2000; i++ {
		e := Entry{Timestamp: int64(i), Line: fmt.Appendf(nil, "level=info msg=\"request served\" n=%d path=/api/%x", i, i*7919)}
		if _, err := c.Append(e); err != nil {
			t.Fatal(err)
		}
		exp = append(exp, e)
	}
	// A snapshot taken before Encode must keep reading the old blocks.
	before := c.Iterator(context.Background(), 0, 1<<62, Forward, nil)
	data, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Blocks()) < 10 {
		t.Fatalf("%d blocks; the test wants many", len(c.Blocks()))
	}
	if got, limit := c.MemoryBytes(), len(data)+1024; got > limit {
		t.Fatalf("MemoryBytes %d after Encode, encoded chunk %d bytes: blocks and encoded copy counted twice?", got, len(data))
	}
	for i := range c.blocks {
		b := &c.blocks[i]
		lo, hi := uintptr(unsafe.Pointer(&data[0])), uintptr(unsafe.Pointer(&data[len(data)-1]))
		if len(b.data) == 0 || uintptr(unsafe.Pointer(&b.data[0])) < lo || uintptr(unsafe.Pointer(&b.data[len(b.data)-1])) > hi {
			t.Fatalf("block %d does not point into the encoded chunk", i)
		}
	}
	sameEntries(t, drain(t, before), exp)
	sameEntries(t, drain(t, c.Iterator(context.Background(), 0, 1<<62, Forward, nil)), exp)
	sameEntries(t, drain(t, c.Iterator(context.Background(), 0, 1<<62, Backward, nil)), want(exp, 0, 1<<62, Backward))
	dec, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, drain(t, dec.Iterator(context.Background(), 0, 1<<62, Forward, nil)), exp)
	for i := range dec.blocks {
		if !bytes.Equal(dec.blocks[i].filter, c.blocks[i].filter) || dec.blocks[i].BlockMeta.CRC != c.blocks[i].CRC {
			t.Fatalf("block %d: the aliased filter or meta differs from the decoded chunk's", i)
		}
	}
	again, _ := c.Encode()
	if &again[0] != &data[0] {
		t.Fatal("second Encode did not return the cached bytes")
	}
}

// A head holding a few lines costs about their size: with thousands of
// streams sharing the ingester's memory budget, a fixed cost per head (the
// entries slice used to start at 256 entries, 6 KiB) left each stream room
// for a handful of lines before the budget cut its chunk.
func TestSmallHeadCostsAboutItsLines(t *testing.T) {
	for _, n := range []int{1, 10, 30} {
		c := NewMemChunk(Zstd, 256<<10, 1<<20)
		text := 0
		for i := range n {
			line := fmt.Appendf(nil, "level=info msg=\"request served\" path=/api/v1/items/%d status=200 duration=12ms", i)
			text += len(line)
			if _, err := c.Append(Entry{Timestamp: int64(i), Line: line}); err != nil {
				t.Fatal(err)
			}
		}
		// The arena and the entries slice grow by doubling: at most twice
		// the text, plus a 256-byte first arena and 16 first entries.
		limit := 2*(text+n*int(unsafe.Sizeof(headEntry{}))) + 256 + 16*int(unsafe.Sizeof(headEntry{}))
		if got := c.MemoryBytes(); got > limit {
			t.Errorf("%d lines (%d bytes of text): head takes %d bytes, want at most %d", n, text, got, limit)
		}
	}
}
