package chunks

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

var compactOpts = Options{Encoding: Zstd, BlockSize: 4 << 10, TargetSize: 8 << 10, NgramBitsPerGram: 1, BloomBitsPerToken: 10}

// smallChunks splits es into chunks of about per entries each, in the
// order given (so chunks overlap in time where es is out of order), as an
// ingester under memory pressure cuts them.
func smallChunks(t testing.TB, o Options, es []Entry, per int) []CompactInput {
	t.Helper()
	var out []CompactInput
	for i := 0; i < len(es); i += per {
		c := NewMemChunkWithOptions(o)
		appendAll(t, c, es[i:min(i+per, len(es))])
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, CompactInput{Name: fmt.Sprintf("in%d", len(out)), Data: b})
	}
	return out
}

// expectedCompacted is the model of Compact: every distinct (timestamp,
// line), in timestamp order, then line order; of equal ones the least
// metadata.
func expectedCompacted(es []Entry) []Entry {
	s := slices.Clone(es)
	slices.SortFunc(s, func(a, b Entry) int {
		if c := cmpInt(a.Timestamp, b.Timestamp); c != 0 {
			return c
		}
		if c := bytes.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return labels.Compare(a.Metadata, b.Metadata)
	})
	return slices.CompactFunc(s, func(a, b Entry) bool { return a.Timestamp == b.Timestamp && bytes.Equal(a.Line, b.Line) })
}

func compactedEntries(t testing.TB, outs []CompactOutput) []Entry {
	t.Helper()
	var got []Entry
	for _, o := range outs {
		c, err := Decode(o.Data)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, drain(t, c.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil))...)
	}
	return got
}

func TestCompactKeepsEveryEntryOnceInOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	es := randomEntries(r, 3000, 50_000) // out of order, duplicates, metadata
	// Entries sharing timestamps with different lines and metadata.
	for i := range 50 {
		ts := es[r.IntN(len(es))].Timestamp
		es = append(es, ent(ts, fmt.Sprintf("same ts %d", i%7), "k", fmt.Sprint(i%3)))
	}
	ins := smallChunks(t, compactOpts, es, 40)
	// An input overlapping the others wholly: replicas, WAL replays.
	ins = append(ins, smallChunks(t, compactOpts, es[1000:1400], 400)...)
	outs, err := Compact(bg, compactOpts, ins)
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, compactedEntries(t, outs), expectedCompacted(es))
	for _, e := range compactedEntries(t, outs) {
		var found bool
		for _, x := range es {
			if x.Timestamp == e.Timestamp && bytes.Equal(x.Line, e.Line) && labels.Equal(x.Metadata, e.Metadata) {
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("entry %d %q with metadata %s is not an input entry", e.Timestamp, e.Line, e.Metadata)
		}
	}
	if len(outs) < 2 {
		t.Fatalf("%d output chunks; the test wants a split", len(outs))
	}
	total := 0
	for i, o := range outs {
		total += o.Entries
		c, err := Decode(o.Data)
		if err != nil {
			t.Fatal(err)
		}
		if lo, hi := c.Bounds(); lo != o.MinT || hi != o.MaxT || c.Entries() != o.Entries {
			t.Errorf("output %d: reported [%d, %d] %d entries, chunk says [%d, %d] %d", i, o.MinT, o.MaxT, o.Entries, lo, hi, c.Entries())
		}
		if i > 0 && o.MinT <= outs[i-1].MaxT {
			t.Errorf("output %d starts at %d, before output %d ends (%d): outputs must not overlap", i, o.MinT, i-1, outs[i-1].MaxT)
		}
		// Cut near the target, as the ingester cuts: never far above it.
		if len(o.Data) > compactOpts.TargetSize+compactOpts.BlockSize {
			t.Errorf("output %d has %d bytes, target %d", i, len(o.Data), compactOpts.TargetSize)
		}
	}
	if total != len(expectedCompacted(es)) {
		t.Errorf("outputs hold %d entries, want %d", total, len(expectedCompacted(es)))
	}
}

func TestCompactIsDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	es := randomEntries(r, 2000, 10_000)
	ins := smallChunks(t, compactOpts, es, 30)
	first, err := Compact(bg, compactOpts, ins)
	if err != nil {
		t.Fatal(err)
	}
	shuffled := slices.Clone(ins)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	again, err := Compact(bg, compactOpts, shuffled)
	if err != nil {
		t.Fatal(err)
	}
	sameOutputs(t, "shuffled inputs", again, first)

	// Rewriting the outputs together with the chunks they were built
	// from (a compactor that crashed before deleting its inputs) yields
	// the outputs unchanged.
	withOld := slices.Clone(ins)
	for i, o := range first {
		withOld = append(withOld, CompactInput{Name: fmt.Sprint("out", i), Data: o.Data})
	}
	redo, err := Compact(bg, compactOpts, withOld)
	if err != nil {
		t.Fatal(err)
	}
	sameOutputs(t, "outputs with their inputs", redo, first)
}

func sameOutputs(t *testing.T, what string, got, want []CompactOutput) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d chunks, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, want[i].Data) || got[i].Checksum != want[i].Checksum {
			t.Fatalf("%s: chunk %d differs", what, i)
		}
	}
}

func TestCompactedChunksKeepSearchFilters(t *testing.T) {
	var es []Entry
	for i := range 4000 {
		es = append(es, ent(int64(i)*1000, fmt.Sprintf("request id=req%05d path=/api/v%d status=200", i, i%5)))
	}
	outs, err := Compact(bg, compactOpts, smallChunks(t, compactOpts, es, 25))
	if err != nil {
		t.Fatal(err)
	}
	checkTokensInFilters(t, outs, "req00017", "req03999", "req02500")
	// A token in no line is ruled out by most blocks' filters.
	admitted, blocks := 0, 0
	for _, o := range outs {
		c, _ := Decode(o.Data)
		for i := range c.Blocks() {
			blocks++
			if c.BlockMayMatch(i, NewNeedles([][]string{{"zzqqxxyy"}})) {
				admitted++
			}
		}
	}
	if admitted*10 > blocks {
		t.Errorf("an absent needle is admitted by %d of %d blocks", admitted, blocks)
	}
}

func TestCompactNamesTheCorruptChunk(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ins := smallChunks(t, compactOpts, randomEntries(r, 400, 0), 100)
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"header", func(b []byte) []byte { b[HeaderSize-2] ^= 0xff; return b }},
		{"block data", func(b []byte) []byte { b[len(b)-10] ^= 0xff; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := slices.Clone(ins)
			bad[2] = CompactInput{Name: "tenant/1/packs/p.pack@1234", Data: tc.damage(slices.Clone(ins[2].Data))}
			_, err := Compact(bg, compactOpts, bad)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "tenant/1/packs/p.pack@1234") {
				t.Errorf("error does not name the chunk: %v", err)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("error does not wrap ErrCorrupt: %v", err)
			}
		})
	}
}

func TestCompactOfNothingIsNothing(t *testing.T) {
	outs, err := Compact(bg, compactOpts, nil)
	if err != nil || len(outs) != 0 {
		t.Fatalf("Compact(nil) = %d chunks, %v", len(outs), err)
	}
}

// FuzzCompact feeds damaged chunks to Compact beside a good one: it must
// return an error or chunks holding only entries it could read, never
// panic.
func FuzzCompact(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	ins := smallChunks(f, compactOpts, randomEntries(r, 200, 1000), 100)
	f.Add(ins[0].Data)
	f.Add(ins[1].Data[:len(ins[1].Data)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		outs, err := Compact(bg, compactOpts, []CompactInput{{Name: "good", Data: ins[1].Data}, {Name: "fuzzed", Data: b}})
		if err != nil {
			if !strings.Contains(err.Error(), "fuzzed") && !strings.Contains(err.Error(), "append") {
				t.Fatalf("error names no chunk: %v", err)
			}
			return
		}
		for i := 1; i < len(outs); i++ {
			if outs[i].MinT <= outs[i-1].MaxT {
				t.Fatalf("outputs %d and %d overlap", i-1, i)
			}
		}
	})
}
