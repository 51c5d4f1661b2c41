package index

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func TestPackedChunksRoundTrip(t *testing.T) {
	ss := packed(k8sSeries(rand.New(rand.NewPCG(7, 8)), 100, 3, 10_000))
	r := mustOpen(t, mustWrite(t, ss...))
	if r.Version() != Version {
		t.Errorf("Write wrote version %d, want %d", r.Version(), Version)
	}
	if got := r.Packs(); len(got) != 3 || !slices.IsSorted(got) {
		t.Errorf("Packs() = %q, want 3 sorted names", got)
	}
	for _, rg := range [][2]int64{{minTime, maxTime}, {2000, 4000}} {
		got, err := r.Select(rg[0], rg[1])
		if err != nil {
			t.Fatal(err)
		}
		if d := diffSeries(got, naiveSelect(ss, rg[0], rg[1])); d != "" {
			t.Errorf("range %v: %s", rg, d)
		}
	}
	var inPacks, alone int
	got, _ := r.Select(minTime, maxTime)
	for _, s := range got {
		for _, c := range s.Chunks {
			if c.Pack == "" {
				alone++
			} else {
				inPacks++
			}
		}
	}
	if inPacks == 0 || alone == 0 {
		t.Errorf("%d chunks in packs and %d alone; the fixture should have both", inPacks, alone)
	}
}

// TestVersion1StaysReadable writes segments with the version 1 writer and
// reads them with today's reader, alone and merged with version 2 ones.
func TestVersion1StaysReadable(t *testing.T) {
	ss := k8sSeries(rand.New(rand.NewPCG(9, 10)), 50, 2, 1000)
	v1, err := WriteVersion(ss[:30], 1)
	if err != nil {
		t.Fatal(err)
	}
	if v1[4] != 1 {
		t.Fatalf("WriteVersion(1) wrote version %d", v1[4])
	}
	v2 := mustWrite(t, packed(ss[20:])...)
	r1 := mustOpen(t, v1)
	if r1.Version() != 1 || len(r1.Packs()) != 0 {
		t.Errorf("v1 segment: Version() = %d, Packs() = %q", r1.Version(), r1.Packs())
	}
	got, err := r1.Select(minTime, maxTime)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffSeries(got, naiveSelect(ss[:30], minTime, maxTime)); d != "" {
		t.Error(d)
	}
	merged, err := Merge(v1, v2)
	if err != nil {
		t.Fatal(err)
	}
	want, err := NewMultiReader(r1, mustOpen(t, v2)).Select(minTime, maxTime)
	if err != nil {
		t.Fatal(err)
	}
	got, err = mustOpen(t, merged).Select(minTime, maxTime)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffSeries(got, want); d != "" {
		t.Errorf("merged v1+v2 differs from both read together: %s", d)
	}
	if _, err := WriteVersion(packed(ss), 1); err == nil {
		t.Error("WriteVersion(1) accepted chunks in packs")
	}
	if _, err := WriteVersion(ss, 3); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("WriteVersion(3) = %v, want ErrUnsupportedVersion", err)
	}
}

func TestWriteRejectsOffsetWithoutPack(t *testing.T) {
	s := series(labels.FromStrings("app", "api"), [2]int64{1, 2})
	s.Chunks[0].Offset = 10
	if _, err := Write([]Series{s}); err == nil {
		t.Error("Write accepted an offset without a pack")
	}
}

// TestMergeRemapsPacks merges segments whose pack tables differ: each
// reference must keep its pack name and offset, whatever number the pack
// had in its input.
func TestMergeRemapsPacks(t *testing.T) {
	api := labels.FromStrings("app", "api")
	web := labels.FromStrings("app", "web")
	at := func(s Series, pack string, off uint64) Series {
		s.Chunks = slices.Clone(s.Chunks)
		for i := range s.Chunks {
			s.Chunks[i].Pack, s.Chunks[i].Offset = pack, off
			off += uint64(s.Chunks[i].Size)
		}
		return s
	}
	a := []Series{at(series(api, [2]int64{100, 200}), "z-pack", 0), at(series(web, [2]int64{100, 150}), "a-pack", 7)}
	b := []Series{at(series(api, [2]int64{300, 400}), "m-pack", 40), series(web, [2]int64{500, 600})}
	c := []Series{at(series(web, [2]int64{700, 800}), "a-pack", 1000)}
	merged, err := Merge(mustWrite(t, a...), mustWrite(t, b...), mustWrite(t, c...))
	if err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, merged)
	if got := r.Packs(); !slices.Equal(got, []string{"a-pack", "m-pack", "z-pack"}) {
		t.Errorf("Packs() = %q", got)
	}
	got, err := r.Select(minTime, maxTime)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffSeries(got, naiveSelect(slices.Concat(a, b, c), minTime, maxTime)); d != "" {
		t.Error(d)
	}
}

// TestDuplicateChunkInTwoLocations: two replicas flushed the same chunk
// into their own packs, and an old segment names it as a standalone
// object. Every way of reading or merging keeps one reference, the same
// one whatever the order of the inputs.
func TestDuplicateChunkInTwoLocations(t *testing.T) {
	ls := labels.FromStrings("app", "api")
	base := series(ls, [2]int64{100, 200})
	loc := func(pack string, off uint64) []byte {
		s := base
		s.Chunks = slices.Clone(s.Chunks)
		s.Chunks[0].Pack, s.Chunks[0].Offset = pack, off
		return mustWrite(t, s)
	}
	segs := [][]byte{loc("ingester-1-5-c8.pack", 300), loc("ingester-0-9-c8.pack", 10), loc("ingester-0-9-c8.pack", 0)}
	wantPacked := base.Chunks[0]
	wantPacked.Pack, wantPacked.Offset = "ingester-0-9-c8.pack", 0
	check := func(name string, segs [][]byte, want ChunkRef) {
		t.Helper()
		var first []byte
		for _, perm := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}} {
			in := make([][]byte, len(segs))
			var readers []*Reader
			for i, p := range perm[:len(segs)] {
				in[i] = segs[p%len(segs)]
				readers = append(readers, mustOpen(t, in[i]))
			}
			merged, err := Merge(in...)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = merged
			} else if !bytes.Equal(merged, first) {
				t.Errorf("%s: Merge depends on the order of its inputs", name)
			}
			for _, q := range []Querier{mustOpen(t, merged), NewMultiReader(readers...)} {
				ss, err := q.Select(minTime, maxTime)
				if err != nil {
					t.Fatal(err)
				}
				if len(ss) != 1 || !slices.Equal(ss[0].Chunks, []ChunkRef{want}) {
					t.Errorf("%s: %T selects %+v, want the one chunk %+v", name, q, ss, want)
				}
			}
		}
	}
	check("packs", segs, wantPacked)
	check("packs and a standalone object", append(segs[:2:2], mustWrite(t, base)), base.Chunks[0])
}

// TestPackDamageBehindValidChecksums plants damage in the pack table and
// in a chunk's location that the checksums do not catch.
func TestPackDamageBehindValidChecksums(t *testing.T) {
	s := series(labels.FromStrings("app", "api"), [2]int64{1, 2})
	s.Chunks[0].Pack = "b"
	good := mustWrite(t, s)
	t.Run("pack number out of range", func(t *testing.T) {
		b := slices.Clone(good)
		off, n := sectionBounds(b, secSeries)
		// The series ends with the last chunk's pack number 1 and offset 0.
		if b[off+n-2] != 1 || b[off+n-1] != 0 {
			t.Fatalf("series section ends % x, not pack 1 offset 0", b[off+n-2:off+n])
		}
		b[off+n-2] = 2
		recrc(b)
		r := mustOpen(t, b)
		if _, err := r.Select(minTime, maxTime); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Select = %v, want ErrCorrupt", err)
		}
	})
	for name, mutate := range map[string]func(sec []byte){
		"empty pack name":        func(sec []byte) { sec[0] = 0 },
		"pack name past the end": func(sec []byte) { sec[0] = 5 },
	} {
		t.Run(name, func(t *testing.T) {
			b := slices.Clone(good)
			off, n := sectionBounds(b, secPacks)
			mutate(b[off : off+n])
			recrc(b)
			if _, err := Open(b); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Open = %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("unsorted pack names", func(t *testing.T) {
		a, c := s, s
		a.Chunks = []ChunkRef{chunk(s.Fingerprint, 1, 2)}
		a.Chunks[0].Pack = "a"
		c.Chunks = []ChunkRef{chunk(s.Fingerprint, 3, 4)}
		c.Chunks[0].Pack = "c"
		b := mustWrite(t, a, c)
		off, _ := sectionBounds(b, secPacks)
		b[off+1] = 'd' // "d" then "c"
		recrc(b)
		if _, err := Open(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open = %v, want ErrCorrupt", err)
		}
	})
}
