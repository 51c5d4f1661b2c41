package chunks

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// cellTotals folds what an iterator yields into per-cell counts and line
// bytes, checking that items come in time order. Entries yielded whole are
// also recorded, with their metadata.
type cellTotals struct {
	n, bytes map[int64]int64
	whole    []Entry
	sums     int
}

func foldCells(t *testing.T, it Iterator, cell func(int64) int64) cellTotals {
	t.Helper()
	ct := cellTotals{n: map[int64]int64{}, bytes: map[int64]int64{}}
	sz, _ := it.(interface {
		Summary() (int64, int64, bool)
	})
	last := int64(-1 << 63)
	for it.Next() {
		e := it.At()
		if e.Timestamp < last {
			t.Fatalf("item at %d after one at %d", e.Timestamp, last)
		}
		last = e.Timestamp
		c := cell(e.Timestamp)
		if sz != nil {
			if n, b, ok := sz.Summary(); ok {
				if n < 1 || len(e.Line) != 0 {
					t.Fatalf("summary of %d entries with line %q", n, e.Line)
				}
				ct.n[c] += n
				ct.bytes[c] += b
				ct.sums++
				continue
			}
		}
		ct.n[c]++
		ct.bytes[c] += int64(len(e.Line))
		ct.whole = append(ct.whole, Entry{Timestamp: e.Timestamp, Line: append([]byte(nil), e.Line...), Metadata: e.Metadata})
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return ct
}

func sameTotals(t *testing.T, got, want cellTotals) {
	t.Helper()
	if fmt.Sprint(got.n) != fmt.Sprint(want.n) || fmt.Sprint(got.bytes) != fmt.Sprint(want.bytes) {
		t.Fatalf("per-cell counts %v bytes %v, want %v %v", got.n, got.bytes, want.n, want.bytes)
	}
}

// TestSummaryIteratorMatchesEntries checks, on random chunks with
// out-of-order appends (blocks overlapping in time), exact duplicates and
// metadata, that the per-cell counts and line bytes a SummaryIterator
// yields equal those of the full iterator, for the encoded chunk and the
// MemChunk with its head, in both format versions; that entries with
// metadata come whole when NoMetadata asks for it; and that isolated
// version 2 blocks are answered from their columns.
func TestSummaryIteratorMatchesEntries(t *testing.T) {
	var totalSums int
	var totalCols int64
	defer func() {
		if totalSums == 0 || totalCols == 0 {
			t.Errorf("%d summaries, %d blocks read from columns: the test does not exercise folding", totalSums, totalCols)
		}
	}()
	for seed := range uint64(12) {
		r := rand.New(rand.NewPCG(seed, 7))
		var jitter int64
		if seed%3 != 0 {
			jitter = r.Int64N(200_000)
		}
		es := randomEntries(r, 500+r.IntN(3000), jitter)
		// randomEntries repeats and delays entries throughout, so every
		// block would overlap another; keep that in a few places only.
		inOrder := es[:0]
		for i, e := range es {
			if len(inOrder) == 0 || e.Timestamp > inOrder[len(inOrder)-1].Timestamp || i%500 == 7 {
				inOrder = append(inOrder, e)
			}
		}
		es = inOrder
		if seed%4 == 0 { // no metadata at all
			for i := range es {
				es[i].Metadata = ent(0, "").Metadata
			}
		}
		version := FormatVersion
		switch seed % 5 {
		case 4:
			version = FormatV1
		case 3:
			version = FormatV2
		}
		enc := Encodings()[seed%uint64(len(Encodings()))]
		mc := NewMemChunkWithOptions(Options{Encoding: enc, BlockSize: 2000 + r.IntN(20000), version: version})
		acc := appendAll(t, mc, es)
		lo, hi := acc[0].Timestamp, acc[0].Timestamp
		for _, e := range acc {
			lo, hi = min(lo, e.Timestamp), max(hi, e.Timestamp)
		}
		step := 1 + r.Int64N(max(1, (hi-lo)/10))
		cell := func(ts int64) int64 { return lo + ((ts-lo)/step+1)*step - 1 } // the cell's last instant
		ranges := [][2]int64{{lo, hi + 1}, {lo + (hi-lo)/3, hi - (hi-lo)/4}, {hi + 5, hi + 10}}
		check := func(name string, full func(from, through int64) Iterator, sum func(from, through int64, o SummaryOptions, st *Stats) Iterator) {
			for _, rg := range ranges {
				for _, noMeta := range []bool{false, true} {
					t.Run(fmt.Sprintf("seed%d/%s/v%d/%d-%d/nometa=%v", seed, name, version, rg[0]-lo, rg[1]-lo, noMeta), func(t *testing.T) {
						want := foldCells(t, full(rg[0], rg[1]), cell)
						var st Stats
						got := foldCells(t, sum(rg[0], rg[1], SummaryOptions{Cell: cell, NoMetadata: noMeta}, &st), cell)
						sameTotals(t, got, want)
						totalSums += got.sums
						totalCols += st.ColumnBlocks
						if noMeta {
							n := 0
							for _, e := range want.whole {
								if !e.Metadata.IsEmpty() {
									n++
								}
							}
							m := 0
							for _, e := range got.whole {
								if !e.Metadata.IsEmpty() {
									m++
								}
							}
							if m != n {
								t.Fatalf("%d entries with metadata yielded whole, want %d", m, n)
							}
						}
						if version == FormatVersion && enc != None && st.ColumnBlocks > 0 && st.DecompressedBytes >= st.CompressedBytes*50 {
							t.Fatalf("stats %+v: decompressed far more than the columns", st)
						}
					})
				}
			}
		}
		check("mem", func(from, through int64) Iterator { return mc.Iterator(bg, from, through, Forward, nil) },
			func(from, through int64, o SummaryOptions, st *Stats) Iterator {
				return mc.SummaryIterator(bg, from, through, o, st)
			})
		d := encodeDecode(t, mc)
		check("decoded", func(from, through int64) Iterator { return d.Iterator(bg, from, through, Forward, nil) },
			func(from, through int64, o SummaryOptions, st *Stats) Iterator {
				return d.SummaryIterator(bg, from, through, o, st)
			})
	}
}

// TestSummaryIteratorReadsColumnsOnly checks that, on in-order data, a
// version 2 chunk is answered without decompressing any line: every block
// is either summarised from its index entry or read from its columns.
func TestSummaryIteratorReadsColumnsOnly(t *testing.T) {
	g := newLogGen(3)
	c := NewMemChunk(Zstd, 16<<10, 0)
	var lineBytes int64
	var es []Entry
	for range 5000 {
		e := g.next(int(g.r.IntN(3)))
		lineBytes += int64(len(e.Line))
		es = append(es, e)
	}
	appendAll(t, c, es)
	d := encodeDecode(t, c)
	lo, hi := d.Bounds()
	step := (hi - lo) / 97
	cell := func(ts int64) int64 { return lo + ((ts-lo)/step+1)*step - 1 }
	var st Stats
	got := foldCells(t, d.SummaryIterator(bg, lo, hi+1, SummaryOptions{Cell: cell, NoMetadata: true}, &st), cell)
	want := foldCells(t, d.Iterator(bg, lo, hi+1, Forward, nil), cell)
	sameTotals(t, got, want)
	if len(got.whole) != 0 {
		t.Fatalf("%d entries yielded whole", len(got.whole))
	}
	if st.DecompressedLines != 0 || st.ColumnBlocks != int64(len(d.Blocks())) {
		t.Fatalf("stats %+v for %d blocks: lines were decompressed", st, len(d.Blocks()))
	}
	if st.DecompressedBytes*20 > lineBytes {
		t.Fatalf("decompressed %d bytes of columns for %d line bytes", st.DecompressedBytes, lineBytes)
	}
	// Without NoMetadata, blocks wholly inside one cell need no reading.
	st = Stats{}
	wide := func(int64) int64 { return hi }
	got = foldCells(t, d.SummaryIterator(bg, lo, hi+1, SummaryOptions{Cell: wide}, &st), wide)
	if got.n[hi] != int64(len(es)) || st.BlocksSkipped != int64(len(d.Blocks())) || st.CompressedBytes != 0 {
		t.Fatalf("one cell: %v entries, stats %+v", got.n, st)
	}
}
