package chunks

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// extendOpts are options under which a compacted chunk holds several
// blocks, so that extending one keeps some.
var extendOpts = []Options{
	{Encoding: Zstd, BlockSize: 4 << 10, TargetSize: 32 << 10, NgramBitsPerGram: 1, BloomBitsPerToken: 10},
	{Encoding: Zstd, BlockSize: 4 << 10, TargetSize: 32 << 10, NgramBitsPerGram: 1}, // merges runs eagerly
	{Encoding: S2, BlockSize: 2 << 10, TargetSize: 16 << 10},
}

// rebuild is Compact without the extend path.
func rebuild(t testing.TB, o Options, ins []CompactInput) []CompactOutput {
	t.Helper()
	compactRebuildOnly = true
	defer func() { compactRebuildOnly = false }()
	outs, err := Compact(bg, o, ins)
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

// sortedEntries makes n entries in timestamp order, some sharing a
// timestamp, some exact repeats.
func sortedEntries(r *rand.Rand, n int) []Entry {
	es := randomEntries(r, n, 0)
	for i := range n / 20 {
		ts := es[r.IntN(len(es))].Timestamp
		es = append(es, ent(ts, fmt.Sprintf("same ts %d", i%5), "k", fmt.Sprint(i%3)))
	}
	slices.SortStableFunc(es, func(a, b Entry) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
	return es
}

// extendCase compacts es[:k] into chunks, and returns the last of them
// (the one the compactor extends) followed by small chunks of es[k:],
// split at a timestamp boundary so that they start after it.
func extendCase(t testing.TB, r *rand.Rand, o Options, es []Entry) (a CompactOutput, ins []CompactInput, all []Entry) {
	t.Helper()
	k := len(es) * 3 / 4
	for k < len(es)-1 && es[k].Timestamp == es[k-1].Timestamp {
		k++
	}
	first, err := Compact(bg, o, smallChunks(t, o, es[:k], 50))
	if err != nil {
		t.Fatal(err)
	}
	a = first[len(first)-1]
	ins = append([]CompactInput{{Name: "a", Data: a.Data}}, smallChunks(t, o, es[k:], 20+r.IntN(40))...)
	d, err := Decode(a.Data)
	if err != nil {
		t.Fatal(err)
	}
	all = append(drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)), es[k:]...)
	return a, ins, all
}

func decodeInputs(t testing.TB, ins []CompactInput) []*Chunk {
	t.Helper()
	var cs []*Chunk
	for _, in := range ins {
		c, err := Decode(in.Data)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

func keptBlocks(o Options, cs []*Chunk) int {
	return extendBlocks(bg, o, cs[0], slices.Values(cs[1:]))
}

// TestCompactExtendMatchesRebuild: extending a compacted chunk with later
// small chunks yields the rebuild's bytes, so the output still depends
// only on the entries; and A's kept blocks appear unchanged in it.
func TestCompactExtendMatchesRebuild(t *testing.T) {
	for oi, o := range extendOpts {
		extended := 0
		for seed := range uint64(12) {
			r := rand.New(rand.NewPCG(seed, uint64(oi)))
			a, ins, all := extendCase(t, r, o, sortedEntries(r, 300+r.IntN(1500)))
			keep := keptBlocks(o, decodeInputs(t, ins))
			got, err := Compact(bg, o, ins)
			if err != nil {
				t.Fatal(err)
			}
			what := fmt.Sprintf("options %d seed %d (%d blocks kept)", oi, seed, keep)
			sameEntries(t, compactedEntries(t, got), expectedCompacted(all))
			sameOutputs(t, what, got, rebuild(t, o, ins))
			if keep == 0 {
				continue
			}
			extended++
			ad, _ := Decode(a.Data)
			od, err := Decode(got[0].Data)
			if err != nil {
				t.Fatal(err)
			}
			for i := range keep {
				ab, ob := ad.blocks[i], od.blocks[i]
				am, om := ab.BlockMeta, ob.BlockMeta
				am.Offset, om.Offset = 0, 0
				if am != om || !bytes.Equal(ab.data, ob.data) || !bytes.Equal(ab.filter, ob.filter) {
					t.Fatalf("%s: kept block %d changed", what, i)
				}
			}
		}
		if extended < 6 {
			t.Errorf("options %d: only %d of 12 cases took the extend path", oi, extended)
		}
	}
}

// TestCompactExtendFromIngesterChunk: a chunk the ingester cut keeps its
// blocks when its entries are in a rebuild's order, and the output is
// the rebuild's; when entries of one timestamp arrived out of line order
// (or repeat), it is rebuilt.
func TestCompactExtendFromIngesterChunk(t *testing.T) {
	o := extendOpts[0]
	big := o
	big.TargetSize = 1 << 20
	for _, tc := range []struct {
		name   string
		es     func(r *rand.Rand) []Entry
		extend bool
	}{
		{"distinct timestamps", func(r *rand.Rand) []Entry {
			var es []Entry
			for i := range 1200 {
				es = append(es, ent(int64(i)*1000+r.Int64N(1000), fmt.Sprintf("line %d %x", i, r.Uint64())))
			}
			return es
		}, true},
		{"shared timestamps", func(r *rand.Rand) []Entry { return sortedEntries(r, 1200) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(9, 9))
			es := tc.es(r)
			k := 900
			for es[k].Timestamp == es[k-1].Timestamp {
				k++
			}
			ins := append(smallChunks(t, big, es[:k], k), smallChunks(t, o, es[k:], 30)...)
			if keep := keptBlocks(o, decodeInputs(t, ins)); (keep > 0) != tc.extend {
				t.Fatalf("%d blocks kept, want extend=%v", keep, tc.extend)
			}
			got, err := Compact(bg, o, ins)
			if err != nil {
				t.Fatal(err)
			}
			sameOutputs(t, tc.name, got, rebuild(t, o, ins))
			sameEntries(t, compactedEntries(t, got), expectedCompacted(es))
		})
	}
}

// TestCompactExtendKeepsSearchFilters: tokens are found through the
// filters of kept blocks and of blocks the extension sealed.
func TestCompactExtendKeepsSearchFilters(t *testing.T) {
	o := extendOpts[0]
	var es []Entry
	for i := range 3000 {
		es = append(es, ent(int64(i)*1000, fmt.Sprintf("request id=req%05d path=/api/v%d status=200", i, i%5)))
	}
	first, err := Compact(bg, o, smallChunks(t, o, es[:1000], 25))
	if err != nil {
		t.Fatal(err)
	}
	a := first[len(first)-1]
	ins := append([]CompactInput{{Name: "a", Data: a.Data}}, smallChunks(t, o, es[1000:], 25)...)
	keep := keptBlocks(o, decodeInputs(t, ins))
	if keep == 0 {
		t.Fatal("extend path not taken")
	}
	outs, err := Compact(bg, o, ins)
	if err != nil {
		t.Fatal(err)
	}
	ad, _ := Decode(a.Data)
	aFirst := drain(t, ad.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil))[0]
	oldTok := strings.Fields(string(aFirst.Line))[1][3:] // in a kept block
	checkTokensInFilters(t, outs, oldTok, "req01500", "req02999")
}

// TestCompactExtendFallsBack: inputs the extend path must not take are
// rebuilt.
func TestCompactExtendFallsBack(t *testing.T) {
	o := extendOpts[0]
	r := rand.New(rand.NewPCG(11, 12))
	es := sortedEntries(r, 1500)
	_, ins, _ := extendCase(t, r, o, es)
	cs := decodeInputs(t, ins)
	if keptBlocks(o, cs) == 0 {
		t.Fatal("base case does not extend")
	}
	for name, o2 := range map[string]Options{
		"codec":        {Encoding: S2, BlockSize: o.BlockSize, TargetSize: o.TargetSize, NgramBitsPerGram: 1, BloomBitsPerToken: 10},
		"block size":   {Encoding: Zstd, BlockSize: o.BlockSize / 4, TargetSize: o.TargetSize, NgramBitsPerGram: 1, BloomBitsPerToken: 10},
		"larger":       {Encoding: Zstd, BlockSize: o.BlockSize * 4, TargetSize: o.TargetSize, NgramBitsPerGram: 1, BloomBitsPerToken: 10},
		"small target": {Encoding: Zstd, BlockSize: o.BlockSize, TargetSize: o.TargetSize / 4, NgramBitsPerGram: 1, BloomBitsPerToken: 10},
		"no bloom":     {Encoding: Zstd, BlockSize: o.BlockSize, TargetSize: o.TargetSize, NgramBitsPerGram: 1},
		"no ngram":     {Encoding: Zstd, BlockSize: o.BlockSize, TargetSize: o.TargetSize, BloomBitsPerToken: 10},
		"version 2":    {Encoding: Zstd, BlockSize: o.BlockSize, TargetSize: o.TargetSize, NgramBitsPerGram: 1, BloomBitsPerToken: 10, version: FormatV2},
	} {
		if k := keptBlocks(o2, cs); k != 0 {
			t.Errorf("%s: %d blocks kept, want a rebuild", name, k)
		}
		got, err := Compact(bg, o2, ins)
		if err != nil {
			t.Fatal(err)
		}
		sameOutputs(t, name, got, rebuild(t, o2, ins))
	}
	// Overlap: a later chunk reaching back into A.
	over := append(slices.Clone(ins), smallChunks(t, o, es[len(es)/2:len(es)/2+10], 10)...)
	if k := keptBlocks(o, decodeInputs(t, sortByTime(t, over))); k != 0 {
		t.Errorf("overlapping input: %d blocks kept", k)
	}
	got, err := Compact(bg, o, over)
	if err != nil {
		t.Fatal(err)
	}
	sameOutputs(t, "overlap", got, rebuild(t, o, over))
}

// sortByTime orders inputs as Compact does (by min time, then max time).
func sortByTime(t testing.TB, ins []CompactInput) []CompactInput {
	cs := decodeInputs(t, ins)
	idx := make([]int, len(ins))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(i, j int) int {
		return cmp.Or(cmp.Compare(cs[i].minT, cs[j].minT), cmp.Compare(cs[i].maxT, cs[j].maxT))
	})
	out := make([]CompactInput, len(ins))
	for i, j := range idx {
		out[i] = ins[j]
	}
	return out
}

// BenchmarkCompactExtend extends a compacted chunk of about 1 MiB with
// about 20 KB of small chunks, as the compactor does every run of the
// current period: keeping its full blocks against rebuilding them.
func BenchmarkCompactExtend(b *testing.B) {
	o := Options{Encoding: Zstd, TargetSize: 1 << 20, NgramBitsPerGram: 0.8}
	es, _ := benchEntries(12 << 20)
	first, err := Compact(bg, o, smallChunks(b, o, es[:len(es)/2], 20000))
	if err != nil {
		b.Fatal(err)
	}
	a := first[0]
	n := 0
	for _, f := range first[:1] {
		n += f.Entries
	}
	for es[n].Timestamp == es[n-1].Timestamp {
		n++
	}
	small := o
	small.TargetSize = 0
	ins := []CompactInput{{Name: "a", Data: a.Data}}
	added := 0
	for added < 20_000 {
		c := smallChunks(b, small, es[n:n+150], 150)[0]
		ins = append(ins, c)
		added += len(c.Data)
		n += 150
		for es[n].Timestamp == es[n-1].Timestamp {
			n++
		}
	}
	o.TargetSize = 3 << 19 // 1.5 MiB: the extension fits
	if keptBlocks(o, decodeInputs(b, ins)) == 0 {
		b.Fatal("extend path not taken")
	}
	for _, mode := range []string{"extend", "rebuild"} {
		b.Run(mode, func(b *testing.B) {
			compactRebuildOnly = mode == "rebuild"
			defer func() { compactRebuildOnly = false }()
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				if _, err := Compact(bg, o, ins); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-start).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(len(a.Data)), "a-bytes")
			b.ReportMetric(float64(added), "added-bytes")
		})
	}
}

// TestCompactExtendDoesNotCutInsideTimestamp: the last kept block ends
// inside a timestamp's entries and the chunk is then full; the rest of
// that timestamp stays in the chunk, as in a rebuild, so no two outputs
// share a timestamp.
func TestCompactExtendDoesNotCutInsideTimestamp(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	line := func() string {
		b := make([]byte, 1000)
		for i := range b {
			b[i] = byte(' ' + r.IntN(94))
		}
		return string(b)
	}
	var es []Entry
	for i := range 10 {
		es = append(es, ent(int64(i+1)*1000, line()))
	}
	for range 8 {
		es = append(es, ent(20_000, line())) // one timestamp over two blocks
	}
	later := []Entry{ent(30_000, line()), ent(31_000, line())}
	slices.SortFunc(es[10:], func(a, b Entry) int { return bytes.Compare(a.Line, b.Line) })
	o := Options{Encoding: Zstd, BlockSize: 4 << 10, TargetSize: 1 << 20}
	first, err := Compact(bg, o, smallChunks(t, o, es, len(es)))
	if err != nil || len(first) != 1 {
		t.Fatal(len(first), err)
	}
	ins := append([]CompactInput{{Name: "a", Data: first[0].Data}}, smallChunks(t, o, later, 2)...)
	cs := decodeInputs(t, ins)
	if n := len(cs[0].blocks); n != 4 || cs[0].blocks[2].MaxT != 20_000 || cs[0].blocks[3].MinT != 20_000 {
		t.Fatalf("fixture: %d blocks, want the timestamp split over the last two", n)
	}
	// Full after the kept blocks: SpaceFor fails for any new entry.
	o.TargetSize = cs[0].blocks[0].CompressedLen*3 + 500
	if keptBlocks(o, cs) != 3 {
		t.Fatal("extend path not taken")
	}
	got, err := Compact(bg, o, ins)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(got); i++ {
		if got[i].MinT <= got[i-1].MaxT {
			t.Fatalf("outputs %d and %d overlap: [%d, %d] and [%d, %d]", i-1, i, got[i-1].MinT, got[i-1].MaxT, got[i].MinT, got[i].MaxT)
		}
	}
	sameOutputs(t, "split timestamp", got, rebuild(t, o, ins))
	sameEntries(t, compactedEntries(t, got), append(slices.Clone(es), later...))
}
