package chunks

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// iterCase is one query against a chunk.
type iterCase struct {
	from, through int64
}

func TestIterateMatchesModel(t *testing.T) {
	line := func(i int) string { return fmt.Sprintf("line %03d %s", i, strings.Repeat("p", 40)) }
	var inOrder, outOfOrder, dupsAcrossBlocks, sameTs []Entry
	for i := range 100 {
		inOrder = append(inOrder, ent(int64(i*10), line(i)))
	}
	for i := range 100 {
		ts := int64(i * 10)
		if i%7 == 3 { // late arrivals, reaching back into earlier blocks
			ts -= 250
		}
		outOfOrder = append(outOfOrder, ent(ts, line(i), "i", fmt.Sprint(i%3)))
	}
	for i := range 60 {
		dupsAcrossBlocks = append(dupsAcrossBlocks, ent(int64(i), line(i)))
	}
	for i := range 60 { // the same entries again, landing in later blocks
		dupsAcrossBlocks = append(dupsAcrossBlocks, ent(int64(i), line(i)))
	}
	for i := range 50 { // many entries sharing timestamps, some lines repeated
		sameTs = append(sameTs, ent(int64(i%3), line(i%17)))
	}

	inputs := []struct {
		name      string
		entries   []Entry
		blockSize int
	}{
		{"single head block", inOrder[:10], 1 << 20},
		{"in order across blocks", inOrder, 500},
		{"out of order across blocks", outOfOrder, 400},
		{"duplicates across blocks", dupsAcrossBlocks, 300},
		{"duplicates in head", dupsAcrossBlocks, 1 << 20},
		{"ties on timestamp keep append order", sameTs, 200},
		{"one entry per block", inOrder[:20], 1},
	}
	ranges := []struct {
		name string
		iterCase
	}{
		{"everything", iterCase{math.MinInt64, math.MaxInt64}},
		{"empty range", iterCase{50, 50}},
		{"inverted range", iterCase{60, 50}},
		{"before all", iterCase{-1000, -500}},
		{"after all", iterCase{10_000, 20_000}},
		{"through is exclusive", iterCase{0, 500}},
		{"from is inclusive", iterCase{500, 10_000}},
		{"single timestamp", iterCase{230, 231}},
		{"inner slice", iterCase{123, 777}},
	}
	for _, enc := range Encodings() {
		for _, in := range inputs {
			c := NewMemChunk(enc, in.blockSize, 0)
			acc := appendAll(t, c, in.entries)
			for _, r := range ranges {
				for _, dir := range []Direction{Forward, Backward} {
					t.Run(fmt.Sprintf("%s/%s/%s/%s", enc, in.name, r.name, dir), func(t *testing.T) {
						exp := want(acc, r.from, r.through, dir)
						sameEntries(t, drain(t, c.Iterator(bg, r.from, r.through, dir, nil)), exp)
					})
				}
			}
			// The same queries after a round trip through the persisted form.
			d := encodeDecode(t, c)
			for _, r := range ranges {
				for _, dir := range []Direction{Forward, Backward} {
					t.Run(fmt.Sprintf("%s/%s/%s/%s/decoded", enc, in.name, r.name, dir), func(t *testing.T) {
						exp := want(acc, r.from, r.through, dir)
						sameEntries(t, drain(t, d.Iterator(bg, r.from, r.through, dir, nil)), exp)
					})
				}
			}
		}
	}
}

func TestIterateRandomAgainstModel(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		es := randomEntries(r, 300+r.IntN(500), int64(r.IntN(100_000)))
		enc := Encodings()[seed%uint64(len(Encodings()))]
		c := NewMemChunk(enc, 1000+r.IntN(8000), 0)
		acc := appendAll(t, c, es)
		lo, hi := es[0].Timestamp-100_000, es[len(es)-1].Timestamp+1
		for q := range 10 {
			from := lo + r.Int64N(hi-lo)
			through := from + r.Int64N(hi-from+1)
			if q == 0 {
				from, through = lo, hi
			}
			for _, dir := range []Direction{Forward, Backward} {
				exp := want(acc, from, through, dir)
				sameEntries(t, drain(t, c.Iterator(bg, from, through, dir, nil)), exp)
				if q == 0 && seed%4 == 0 {
					continue // keep some chunks unsealed
				}
			}
		}
		d := encodeDecode(t, c)
		for _, dir := range []Direction{Forward, Backward} {
			sameEntries(t, drain(t, d.Iterator(bg, lo, hi, dir, nil)), want(acc, lo, hi, dir))
		}
	}
}

func TestAppend(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
		wantDup []bool
		wantN   int
		minT    int64
		maxT    int64
	}{
		{"exact duplicate in head is dropped", []Entry{ent(5, "a"), ent(5, "a")}, []bool{false, true}, 1, 5, 5},
		{"same timestamp different line is kept", []Entry{ent(5, "a"), ent(5, "b")}, []bool{false, false}, 2, 5, 5},
		{"same line different timestamp is kept", []Entry{ent(5, "a"), ent(6, "a")}, []bool{false, false}, 2, 5, 6},
		{"out of order duplicate is found", []Entry{ent(5, "a"), ent(9, "b"), ent(5, "a")}, []bool{false, false, true}, 2, 5, 9},
		{"metadata does not make a duplicate distinct", []Entry{ent(5, "a", "k", "1"), ent(5, "a", "k", "2")}, []bool{false, true}, 1, 5, 5},
		{"bounds follow late entries", []Entry{ent(50, "a"), ent(10, "b"), ent(90, "c")}, []bool{false, false, false}, 3, 10, 90},
		{"negative timestamps", []Entry{ent(-5, "a"), ent(math.MinInt64, "b"), ent(math.MaxInt64, "c")}, []bool{false, false, false}, 3, math.MinInt64, math.MaxInt64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewMemChunk(Zstd, 0, 0)
			for i, e := range tc.entries {
				dup, err := c.Append(e)
				if err != nil {
					t.Fatal(err)
				}
				if dup != tc.wantDup[i] {
					t.Errorf("append %d: dup=%v, want %v", i, dup, tc.wantDup[i])
				}
			}
			if c.Entries() != tc.wantN {
				t.Errorf("Entries()=%d, want %d", c.Entries(), tc.wantN)
			}
			if lo, hi := c.Bounds(); lo != tc.minT || hi != tc.maxT {
				t.Errorf("Bounds()=(%d, %d), want (%d, %d)", lo, hi, tc.minT, tc.maxT)
			}
			d := encodeDecode(t, c)
			if d.Entries() != tc.wantN {
				t.Errorf("decoded Entries()=%d, want %d", d.Entries(), tc.wantN)
			}
			if lo, hi := d.Bounds(); lo != tc.minT || hi != tc.maxT {
				t.Errorf("decoded Bounds()=(%d, %d), want (%d, %d)", lo, hi, tc.minT, tc.maxT)
			}
			got := drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil))
			// MaxInt64 is excluded by the half-open range.
			n := tc.wantN
			if tc.maxT == math.MaxInt64 {
				n--
			}
			if len(got) != n {
				t.Errorf("iterated %d entries, want %d", len(got), n)
			}
		})
	}
}

func TestAppendCopiesLine(t *testing.T) {
	c := NewMemChunk(S2, 0, 0)
	buf := []byte("original")
	if _, err := c.Append(Entry{Timestamp: 1, Line: buf}); err != nil {
		t.Fatal(err)
	}
	copy(buf, "mutated!")
	sameEntries(t, drain(t, c.Iterator(bg, 0, 10, Forward, nil)), []Entry{ent(1, "original")})
}

func TestAppendAfterCloseFails(t *testing.T) {
	c := NewMemChunk(Zstd, 0, 0)
	appendAll(t, c, []Entry{ent(1, "a")})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Append(ent(2, "b")); !errors.Is(err, ErrChunkClosed) {
		t.Fatalf("append after close: err=%v, want ErrChunkClosed", err)
	}
}

func TestAppendRejectsOversizedEntry(t *testing.T) {
	c := NewMemChunk(None, 0, 0)
	_, err := c.Append(Entry{Timestamp: 1, Line: make([]byte, MaxEntrySize+1)})
	if !errors.Is(err, ErrEntryTooLarge) {
		t.Fatalf("err=%v, want ErrEntryTooLarge", err)
	}
	if c.Entries() != 0 {
		t.Fatalf("oversized entry was stored")
	}
}

func TestHeadIsCutAtBlockSize(t *testing.T) {
	c := NewMemChunk(Zstd, 1000, 0)
	for i := range 100 {
		appendAll(t, c, []Entry{ent(int64(i), strings.Repeat("x", 99))})
	}
	blocks := c.Blocks()
	if len(blocks) != 10 {
		t.Fatalf("got %d blocks, want 10 (100 lines of 99 bytes + 1 metadata byte, 1000-byte blocks)", len(blocks))
	}
	for i, b := range blocks {
		if b.Entries != 10 || b.LineBytes != 990 || b.MinT != int64(i*10) || b.MaxT != int64(i*10+9) {
			t.Errorf("block %d: %+v", i, b)
		}
	}
	if got := c.UncompressedSize(); got < 100*99 {
		t.Errorf("UncompressedSize()=%d, want >= %d", got, 100*99)
	}
	if c.CompressedSize() <= 0 || c.CompressedSize() >= c.UncompressedSize() {
		t.Errorf("CompressedSize()=%d for %d uncompressed bytes of repeated text", c.CompressedSize(), c.UncompressedSize())
	}
}

func TestSpaceFor(t *testing.T) {
	t.Run("target size stops appends near the target", func(t *testing.T) {
		const target = 4096
		c := NewMemChunk(None, 1024, target) // no compression: sizes are exact
		r := rand.New(rand.NewPCG(1, 2))
		n := 0
		for ; n < 10_000; n++ {
			e := ent(int64(n), fmt.Sprintf("%x", r.Uint64()))
			if !c.SpaceFor(e) {
				break
			}
			appendAll(t, c, []Entry{e})
		}
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if n == 10_000 || c.CompressedSize() > target {
			t.Fatalf("chunk grew to %d compressed bytes (%d entries) past its %d target", c.CompressedSize(), n, target)
		}
		if c.CompressedSize() < target/2 {
			t.Fatalf("chunk cut at %d compressed bytes, far below its %d target", c.CompressedSize(), target)
		}
		if _, err := Decode(b); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("zero target means ten blocks", func(t *testing.T) {
		c := NewMemChunk(Zstd, 100, 0)
		n := 0
		for ; n < 1000; n++ {
			e := ent(int64(n), strings.Repeat("y", 100))
			if !c.SpaceFor(e) {
				break
			}
			appendAll(t, c, []Entry{e})
		}
		if got := len(c.Blocks()); got != 10 || n != 10 {
			t.Fatalf("stopped after %d entries with %d blocks, want 10 and 10", n, got)
		}
	})
}

func TestEncodeIsStableAndCloses(t *testing.T) {
	c := NewMemChunk(Gzip, 0, 0)
	appendAll(t, c, []Entry{ent(1, "a"), ent(2, "b")})
	b1, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b2, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(b1) != string(b2) {
		t.Fatal("second Encode returned different bytes")
	}
	if _, err := c.Append(ent(3, "c")); !errors.Is(err, ErrChunkClosed) {
		t.Fatalf("append after encode: %v", err)
	}
}

func TestEmptyChunkRoundTrips(t *testing.T) {
	c := NewMemChunk(Zstd, 0, 0)
	if got := drain(t, c.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)); len(got) != 0 {
		t.Fatalf("empty MemChunk yielded %d entries", len(got))
	}
	d := encodeDecode(t, c)
	if d.Entries() != 0 || len(d.Blocks()) != 0 {
		t.Fatalf("decoded empty chunk has %d entries, %d blocks", d.Entries(), len(d.Blocks()))
	}
	if got := drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, Backward, nil)); len(got) != 0 {
		t.Fatalf("empty Chunk yielded %d entries", len(got))
	}
}

func TestIteratorSnapshotIgnoresLaterAppends(t *testing.T) {
	c := NewMemChunk(Snappy, 1<<20, 0)
	appendAll(t, c, []Entry{ent(10, "a"), ent(20, "b"), ent(30, "c")})
	it := c.Iterator(bg, 0, 100, Forward, nil)
	// An out-of-order insert shifts head entries; the snapshot must not see it.
	appendAll(t, c, []Entry{ent(15, "late"), ent(40, "new")})
	sameEntries(t, drain(t, it), []Entry{ent(10, "a"), ent(20, "b"), ent(30, "c")})
	sameEntries(t, drain(t, c.Iterator(bg, 0, 100, Forward, nil)),
		[]Entry{ent(10, "a"), ent(15, "late"), ent(20, "b"), ent(30, "c"), ent(40, "new")})
}

func TestIterateWhileAppending(t *testing.T) {
	c := NewMemChunk(S2, 2000, 0)
	r := rand.New(rand.NewPCG(7, 7))
	es := randomEntries(r, 3000, 50_000)
	valid := map[string]int64{}
	for _, e := range es {
		valid[string(e.Line)] = e.Timestamp
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				lo, hi := c.Bounds()
				for _, dir := range []Direction{Forward, Backward} {
					got := drain(t, c.Iterator(bg, lo, hi+1, dir, nil))
					for _, e := range got {
						if ts, ok := valid[string(e.Line)]; !ok || ts != e.Timestamp {
							t.Errorf("snapshot yielded {%d %q}, which was never appended", e.Timestamp, e.Line)
							return
						}
					}
					for i := 1; i < len(got); i++ {
						if (dir == Forward && got[i].Timestamp < got[i-1].Timestamp) ||
							(dir == Backward && got[i].Timestamp > got[i-1].Timestamp) {
							t.Errorf("%s snapshot out of order at %d", dir, i)
							return
						}
					}
				}
				_ = c.SpaceFor(es[0])
				_ = c.UncompressedSize()
			}
		})
	}
	acc := appendAll(t, c, es)
	close(stop)
	wg.Wait()
	sameEntries(t, drain(t, c.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)), want(acc, math.MinInt64, math.MaxInt64, Forward))
}

func TestStats(t *testing.T) {
	c := NewMemChunk(Zstd, 1000, 0)
	for i := range 100 {
		appendAll(t, c, []Entry{ent(int64(i), strings.Repeat("s", 99))})
	}
	appendAll(t, c, []Entry{ent(100, "head")}) // stays in the head
	var st Stats
	got := drain(t, c.Iterator(bg, 25, 200, Forward, &st))
	if len(got) != 76 {
		t.Fatalf("got %d entries, want 76", len(got))
	}
	// Blocks 0 and 1 ([0,9], [10,19]) lie wholly before 25. A block's
	// payload is 990 line bytes and a columns frame of 32 bytes: three
	// header bytes, 9 timestamp deltas, 10 lengths, 10 empty metadata.
	exp := Stats{BlocksSkipped: 2, DecompressedLines: 80, DecompressedBytes: 8 * 1022, HeadLines: 1, HeadBytes: 5}
	blocks := c.Blocks()
	for _, b := range blocks[2:] {
		exp.CompressedBytes += int64(b.CompressedLen)
	}
	if st != exp {
		t.Fatalf("stats %+v, want %+v", st, exp)
	}
	var sum Stats
	sum.Add(st)
	sum.Add(st)
	if sum.DecompressedLines != 160 || sum.BlocksSkipped != 4 || sum.HeadBytes != 10 {
		t.Fatalf("Add: %+v", sum)
	}
}

func TestIteratorStopsOnCancelledContext(t *testing.T) {
	c := NewMemChunk(Zstd, 100, 0)
	for i := range 50 {
		appendAll(t, c, []Entry{ent(int64(i), strings.Repeat("c", 60))})
	}
	d := encodeDecode(t, c)
	ctx, cancel := contextWithCancel()
	it := d.Iterator(ctx, 0, 100, Forward, nil)
	n := 0
	for it.Next() {
		n++
		if n == 3 {
			cancel()
		}
	}
	if !errors.Is(it.Err(), errCancelled) || n >= 50 {
		t.Fatalf("after cancel: %d entries, err=%v", n, it.Err())
	}
	_ = it.Close()
}

func TestRoundTripVaryingShapes(t *testing.T) {
	// Line lengths and timestamp gaps around varint size boundaries, with
	// and without metadata, exercise both the fast and general decoders.
	var es []Entry
	ts := int64(-1 << 40)
	gaps := []int64{0, 1, 127, 128, 16383, 16384, 1 << 21, 1 << 28, 1 << 49, 1 << 56, 1 << 57}
	lens := []int{0, 1, 127, 128, 16383, 16384, 70000}
	for i, gap := range gaps {
		for j, n := range lens {
			ts += gap
			e := Entry{Timestamp: ts, Line: []byte(strings.Repeat(string(rune('a'+j)), n))}
			if (i+j)%3 == 0 {
				e.Metadata = ent(0, "", "pod", fmt.Sprint(i), "trace_id", strings.Repeat("f", n%300)).Metadata
			}
			es = append(es, e)
		}
	}
	for _, enc := range Encodings() {
		c := NewMemChunk(enc, 50_000, 0)
		acc := appendAll(t, c, es)
		d := encodeDecode(t, c)
		for _, dir := range []Direction{Forward, Backward} {
			t.Run(enc.String()+"/"+dir.String(), func(t *testing.T) {
				exp := want(acc, math.MinInt64, math.MaxInt64, dir)
				sameEntries(t, drain(t, c.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)), exp)
				sameEntries(t, drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)), exp)
			})
		}
	}
}

func TestSnapshotSurvivesCutAndBufferReuse(t *testing.T) {
	// An iterator taken before the head is cut must keep reading the old
	// head's memory even after later heads recycle pooled buffers.
	// 30 entries of 100 bytes fill a 4 KiB arena to 3000 bytes; one more
	// of 1000 bytes reaches the 4000-byte block size without regrowing the
	// arena, so the cut itself must not recycle what the snapshot reads.
	c := NewMemChunk(None, 4000, 0)
	var first []Entry
	for i := range 30 {
		first = append(first, ent(int64(i), fmt.Sprintf("first-%02d-%s", i, strings.Repeat("a", 90))))
	}
	appendAll(t, c, first)
	its := []Iterator{c.Iterator(bg, 0, 1000, Forward, nil), c.Iterator(bg, 0, 1000, Backward, nil)}
	appendAll(t, c, []Entry{ent(5000, strings.Repeat("b", 999))})
	if len(c.Blocks()) != 1 {
		t.Fatalf("head not cut: %d blocks", len(c.Blocks()))
	}
	// Fill, cut and refill the head many times; grow it out of order too.
	for i := range 2000 {
		appendAll(t, c, []Entry{ent(int64(1000+i%7*100+i), strings.Repeat("z", 60+i%40))})
	}
	sameEntries(t, drain(t, its[0]), first)
	rev := append([]Entry(nil), first...)
	reverse(rev)
	sameEntries(t, drain(t, its[1]), rev)
}
