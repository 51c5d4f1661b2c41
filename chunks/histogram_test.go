package chunks

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// histT0 is a whole hour, so every bucket width and usual step aligns to it.
const histT0 = int64(1_699_999_200) * int64(time.Second)

// gridCell is the query engine's cell function (logql's cellEnd): the
// smallest window end s0 + k·step or window start s0 + k·step − rng at
// or after ts.
func gridCell(s0, step, rng int64) func(int64) int64 {
	ceil := func(a, b int64) int64 {
		q := a / b
		if a%b != 0 && a > 0 {
			q++
		}
		return q
	}
	return func(ts int64) int64 {
		a := s0 + ceil(ts-s0, step)*step
		b := s0 - rng + ceil(ts-(s0-rng), step)*step
		return min(a, b)
	}
}

// histEntries returns n entries from histT0 at millisecond gaps of up to
// maxGapMs (so many fall on whole seconds and minutes), with metadata on
// some if withMeta, a few appended out of order if late.
func histEntries(r *rand.Rand, n int, maxGapMs int64, withMeta, late bool) []Entry {
	es := make([]Entry, 0, n)
	ts := histT0
	for i := range n {
		ts += r.Int64N(maxGapMs+1) * int64(time.Millisecond)
		t := ts
		if late && i%97 == 13 {
			t -= r.Int64N(30) * int64(time.Second)
		}
		line := fmt.Sprintf("line %d %s", i, strings.Repeat("x", r.IntN(300)))
		if withMeta && r.IntN(50) == 0 {
			es = append(es, ent(t, line, "trace", "t1"))
			continue
		}
		es = append(es, ent(t, line))
	}
	return es
}

// TestHistogramSummariesMatchEntries checks that per-cell counts and line
// bytes answered with block histograms equal those of a full scan, for
// grids aligned to the buckets (where histograms must be used) and not,
// over ranges cutting blocks, with and without metadata, in memory (with
// a head) and decoded.
func TestHistogramSummariesMatchEntries(t *testing.T) {
	var used, aligned int64
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 11))
		es := histEntries(r, 1500+r.IntN(2000), []int64{50, 400, 3000}[seed%3], seed%2 == 0, seed%4 < 2)
		mc := NewMemChunkWithOptions(Options{Encoding: []Encoding{Zstd, None, S2}[seed%3], BlockSize: 8000 + r.IntN(30000)})
		acc := appendAll(t, mc, es)
		lo, hi := acc[0].Timestamp, acc[0].Timestamp
		for _, e := range acc {
			lo, hi = min(lo, e.Timestamp), max(hi, e.Timestamp)
		}
		d := encodeDecode(t, mc)
		sec := int64(time.Second)
		grids := []struct {
			s0, step, rng int64
			aligned       bool
		}{
			{histT0, 60 * sec, 60 * sec, true},
			{histT0 + 120*sec, 60 * sec, 300 * sec, true},
			{histT0, 15 * sec, 60 * sec, true},
			{histT0, 300 * sec, 300 * sec, true},
			{histT0 + sec/2, 60 * sec, 60 * sec, false},
			{histT0, 7 * sec, 7 * sec, false},
		}
		minute := int64(time.Minute)
		ranges := [][2]int64{{lo, hi + 1}, {lo + (hi-lo)/3, hi - (hi-lo)/4},
			{(lo/minute+1)*minute + 1, (hi/minute)*minute + 1}} // cut at whole minutes, as a split query is
		for _, g := range grids {
			cell := gridCell(g.s0, g.step, g.rng)
			for _, rg := range ranges {
				for _, noMeta := range []bool{false, true} {
					for name, pair := range map[string][2]func(int64, int64, *Stats) Iterator{
						"mem": {
							func(f, th int64, _ *Stats) Iterator { return mc.Iterator(bg, f, th, Forward, nil) },
							func(f, th int64, st *Stats) Iterator {
								return mc.SummaryIterator(bg, f, th, SummaryOptions{Cell: cell, NoMetadata: noMeta}, st)
							},
						},
						"decoded": {
							func(f, th int64, _ *Stats) Iterator { return d.Iterator(bg, f, th, Forward, nil) },
							func(f, th int64, st *Stats) Iterator {
								return d.SummaryIterator(bg, f, th, SummaryOptions{Cell: cell, NoMetadata: noMeta}, st)
							},
						},
					} {
						t.Run(fmt.Sprintf("seed%d/%s/step%ds+%d/%d-%d/nometa=%v", seed, name, g.step/sec, g.s0-histT0, rg[0]-lo, rg[1]-lo, noMeta), func(t *testing.T) {
							want := foldCells(t, pair[0](rg[0], rg[1], nil), cell)
							var st Stats
							got := foldCells(t, pair[1](rg[0], rg[1], &st), cell)
							sameTotals(t, got, want)
							if g.aligned {
								used += st.HistogramBlocks
								aligned++
							}
						})
					}
				}
			}
		}
	}
	if used == 0 || aligned == 0 {
		t.Fatalf("%d histogram blocks over %d aligned cases: histograms were never used", used, aligned)
	}
}

// TestHistogramAnswersWithoutReading checks that, on a grid the buckets
// align to, every block lying inside the range is answered from its
// histogram or index entry: nothing is decompressed.
func TestHistogramAnswersWithoutReading(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	es := histEntries(r, 20000, 300, false, false)
	mc := NewMemChunkWithOptions(Options{Encoding: Zstd, BlockSize: 64 << 10})
	appendAll(t, mc, es)
	d := encodeDecode(t, mc)
	lo, hi := d.Bounds()
	cell := gridCell(histT0, int64(time.Minute), int64(time.Minute))
	var st Stats
	got := foldCells(t, d.SummaryIterator(bg, lo, hi+1, SummaryOptions{Cell: cell, NoMetadata: true}, &st), cell)
	sameTotals(t, got, foldCells(t, d.Iterator(bg, lo, hi+1, Forward, nil), cell))
	if st.CompressedBytes != 0 || st.HistogramBlocks == 0 || st.BlocksSkipped != int64(len(d.Blocks())) {
		t.Fatalf("stats %+v over %d blocks: blocks were read", st, len(d.Blocks()))
	}
	// A range cut at whole minutes, as the parts of a query split by time
	// are, reads nothing either.
	from, through := lo/int64(time.Minute)*int64(time.Minute)+int64(2*time.Minute)+1, hi/int64(time.Minute)*int64(time.Minute)+1
	st = Stats{}
	got = foldCells(t, d.SummaryIterator(bg, from, through, SummaryOptions{Cell: cell, NoMetadata: true}, &st), cell)
	sameTotals(t, got, foldCells(t, d.Iterator(bg, from, through, Forward, nil), cell))
	if st.CompressedBytes != 0 || st.HistogramBlocks == 0 {
		t.Fatalf("stats %+v over %d blocks in [%d, %d): blocks were read", st, len(d.Blocks()), from, through)
	}
}

// TestHistogramSize checks the writer's choice of width: the smallest
// that leaves histEntriesPerBucket entries per bucket, and no histogram
// where none does.
func TestHistogramSize(t *testing.T) {
	sec := int64(time.Second)
	for _, tc := range []struct {
		name  string
		n     int
		gap   int64
		width uint64 // 0: none
	}{
		{"dense", 400, sec / 100, 1},
		{"every second", 400, sec, 15},
		{"every 10s", 400, 10 * sec, 300},
		{"every 10 minutes", 400, 600 * sec, 0},
		{"too few entries", 7, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &headBlock{}
			for i := range tc.n {
				h.append(histT0+int64(i)*tc.gap, []byte("line"), []byte{0})
			}
			f := appendHistogram(nil, h)
			if tc.width == 0 {
				if len(f) != 0 {
					t.Fatalf("wrote %d bytes", len(f))
				}
				return
			}
			body, ok := histFilter(f)
			if !ok {
				t.Fatalf("no histogram in % x", f)
			}
			if w, _, _ := uvarint(body, 1); w != tc.width {
				t.Fatalf("width %ds, want %ds", w, tc.width)
			}
			if len(f) > tc.n {
				t.Fatalf("%d bytes for %d entries", len(f), tc.n)
			}
		})
	}
}

// TestGoldenHistogramChunk pins filter kind 3: a one-block chunk whose
// histogram FORMAT.md decodes by hand.
func TestGoldenHistogramChunk(t *testing.T) {
	c := NewMemChunkWithOptions(Options{Encoding: None, version: FormatV2})
	var es []Entry
	for i := range 16 {
		// Eight entries in (0s, 1s] past histT0, eight in (2s, 3s].
		ts := histT0 + int64(i/8*2)*int64(time.Second) + int64(i%8+1)*int64(100*time.Millisecond)
		es = append(es, ent(ts, strings.Repeat("a", i%8+1)))
	}
	appendAll(t, c, es)
	got, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d := checkGolden(t, "golden-histogram.hex", got, es)
	cell := gridCell(histT0, int64(time.Second), int64(time.Second))
	var st Stats
	ct := foldCells(t, d.SummaryIterator(bg, histT0, histT0+int64(time.Hour), SummaryOptions{Cell: cell, NoMetadata: true}, &st), cell)
	s := int64(time.Second)
	if st.HistogramBlocks != 1 || ct.n[histT0+s] != 8 || ct.n[histT0+3*s] != 8 || ct.bytes[histT0+s] != 36 || ct.sums != 2 {
		t.Fatalf("stats %+v, counts %v, bytes %v", st, ct.n, ct.bytes)
	}
}

// FuzzFoldHistogram feeds arbitrary histogram bodies to foldHistogram. It
// must not panic, and what it accepts must add up to the block's index
// entry, in time order, inside the block and the range, one cell per run.
func FuzzFoldHistogram(f *testing.F) {
	h := &headBlock{}
	for i := range 64 {
		h.append(histT0+int64(i)*int64(700*time.Millisecond), []byte("some line"), []byte{0})
	}
	body, _ := histFilter(appendHistogram(nil, h))
	f.Add(body, int64(0), int64(63*700), uint16(64), uint16(64*9), uint8(1))
	f.Add([]byte{0, 1, 2, 0, 3, 1, 1, 4, 0}, int64(0), int64(1000), uint16(4), uint16(8), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, minMs, maxMs int64, entries, lineBytes uint16, stepSec uint8) {
		if minMs > maxMs || entries == 0 || minMs < -1e12 || maxMs > 1e12 {
			return
		}
		m := &BlockMeta{MinT: histT0 + minMs*1e6, MaxT: histT0 + maxMs*1e6, Entries: int(entries), LineBytes: int64(lineBytes)}
		step := int64(stepSec%120+1) * int64(time.Second)
		cell := gridCell(histT0, step, step)
		from, through := m.MinT-int64(stepSec), m.MaxT+1
		whole := stepSec%4 < 2
		if !whole { // cut the range at whole seconds, as a split query does
			from, through = m.MinT+int64(stepSec)*int64(time.Second)+1, m.MaxT-int64(stepSec/2)*int64(time.Second)
		}
		runs, ok := foldHistogram(nil, body, m, from, through, cell, stepSec%2 == 0)
		if !ok {
			if len(runs) != 0 {
				t.Fatalf("refused, but appended %d runs", len(runs))
			}
			return
		}
		var n, b int64
		last := int64(math.MinInt64)
		for _, r := range runs {
			if r.ts <= last || r.ts < m.MinT || r.ts > m.MaxT || r.ts < from || r.ts >= through || r.n < 1 {
				t.Fatalf("run %+v after %d in block [%d, %d]", r, last, m.MinT, m.MaxT)
			}
			if last != math.MinInt64 && cell(last) == cell(r.ts) {
				t.Fatalf("two runs in the cell ending %d", cell(r.ts))
			}
			last = r.ts
			n, b = n+r.n, b+r.b
		}
		if (whole && (n != int64(m.Entries) || b != m.LineBytes)) || n > int64(m.Entries) || b > m.LineBytes {
			t.Fatalf("runs hold %d entries, %d bytes; index says %d, %d", n, b, m.Entries, m.LineBytes)
		}
	})
}

// FuzzHistogramSummaries builds a chunk from fuzz bytes (second-scale
// timestamps, back and forth, metadata) and checks that summaries over
// grids aligned to the buckets equal a full scan's per-cell totals.
func FuzzHistogramSummaries(f *testing.F) {
	f.Add([]byte("\x05hello\x00\x03world\x83again\x00\x01x\x05hello\x00\x03world\x83again\x00\x01x"), uint8(60), uint8(200))
	f.Add([]byte(strings.Repeat("\x01a\x02bb\x03ccc", 40)), uint8(1), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, stepSec, blockSize uint8) {
		c := NewMemChunkWithOptions(Options{Encoding: S2, BlockSize: int(blockSize) + 1})
		var es []Entry
		ts := histT0
		for len(in) > 0 {
			op := in[0]
			in = in[1:]
			ts += int64(int8(op<<1)) * int64(100*time.Millisecond)
			n := min(int(op&0x0f), len(in))
			e := Entry{Timestamp: ts, Line: in[:n]}
			if op&0x80 != 0 {
				e.Metadata = ent(0, "", "m", "v").Metadata
			}
			in = in[n:]
			es = append(es, e)
		}
		appendAll(t, c, es)
		step := int64(stepSec%120+1) * int64(time.Second)
		cell := gridCell(histT0, step, 2*step)
		d := encodeDecode(t, c)
		lo, hi := d.Bounds()
		for _, noMeta := range []bool{false, true} {
			for _, rg := range [][2]int64{{lo, hi + 1}, {lo/2 + hi/2, hi}} {
				want := foldCells(t, d.Iterator(bg, rg[0], rg[1], Forward, nil), cell)
				sameTotals(t, foldCells(t, d.SummaryIterator(bg, rg[0], rg[1], SummaryOptions{Cell: cell, NoMetadata: noMeta}, nil), cell), want)
				sameTotals(t, foldCells(t, c.SummaryIterator(bg, rg[0], rg[1], SummaryOptions{Cell: cell, NoMetadata: noMeta}, nil), cell), want)
			}
		}
	})
}
