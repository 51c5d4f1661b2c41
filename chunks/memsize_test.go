package chunks

import (
	"context"
	"fmt"
	"testing"
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
