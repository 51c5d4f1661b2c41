package chunks

import (
	"testing"
	"unsafe"
)

func TestSlicePoolRecyclesBuffers(t *testing.T) {
	var p slicePool[byte]
	s := p.grow(nil, 1000, false) // class 10: 1 KiB
	if cap(s) != 1<<10 {
		t.Fatalf("cap %d, want 1024", cap(s))
	}
	s = append(s, "some line"...)
	grown := p.grow(s, 2000, true) // moves to 2 KiB, recycles the 1 KiB one
	if string(grown) != "some line" || cap(grown) != 2<<10 {
		t.Fatalf("grown to %q cap %d", grown, cap(grown))
	}
	again := p.grow(nil, 600, false)
	if unsafe.SliceData(again[:1]) != unsafe.SliceData(s[:1]) {
		t.Fatal("the recycled 1 KiB buffer was not reused")
	}
	if len(again) != 0 {
		t.Fatalf("a reused buffer has length %d, want 0", len(again))
	}
}

func TestSlicePoolFreeListsAreBounded(t *testing.T) {
	// Every buffer sealed heads give back stays live while pooled, and
	// costs RSS through the soft memory limit: the lists must not grow
	// with the number of streams.
	var arenas slicePool[byte]
	var entries slicePool[headEntry]
	for c := minPoolClass; c <= 20; c++ {
		for range 100 {
			arenas.put(make([]byte, 0, 1<<c))
			entries.put(make([]headEntry, 0, 1<<c))
		}
	}
	if got, limit := arenas.freeBytes(), 3<<20+512<<10; got > limit {
		t.Errorf("arena free lists hold %d KiB, want at most %d KiB", got>>10, limit>>10)
	}
	if got, limit := entries.freeBytes(), 3<<20; got > limit {
		t.Errorf("entries free lists hold %d KiB, want at most %d KiB", got>>10, limit>>10)
	}
	// The class of a full-size head crossing the default block size keeps
	// one buffer, or every block would allocate its last arena afresh.
	if arenas.keep(poolClass(DefaultBlockSize+1)) < 1 {
		t.Errorf("no free buffer kept for the %d-byte class", 1<<poolClass(DefaultBlockSize+1))
	}
	// Buffers not from the pool (odd capacities) are never kept.
	var odd slicePool[byte]
	odd.put(make([]byte, 0, 3000))
	if n := odd.freeBytes(); n != 0 {
		t.Errorf("a 3000-byte buffer was pooled (%d bytes free)", n)
	}
}
