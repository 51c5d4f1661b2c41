package chunks

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestAppendTokens(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   ", nil},
		{"hello", []string{"hello"}},
		{`level=info msg="GET /api/v1/users" trace_id=4bf92f35 dur=1.5ms`, []string{"level", "info", "msg", "GET", "api", "v1", "users", "trace_id", "4bf92f35", "dur", "1", "5ms"}},
		{`{"user":"Zoë","id":-42}`, []string{"user", "Zoë", "id", "42"}},
		{"CaseSensitive casesensitive", []string{"CaseSensitive", "casesensitive"}},
	}
	for _, tc := range tests {
		var got []string
		for _, tok := range AppendTokens(nil, []byte(tc.in)) {
			got = append(got, string(tok))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("AppendTokens(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWholeTokens(t *testing.T) {
	tests := []struct {
		needle string
		want   []string
	}{
		{"4bf92f35", nil},                                        // may sit inside a longer token
		{"trace_id=4bf92f35", nil},                               // both tokens touch an end
		{"trace_id=4bf92f35 ", []string{"4bf92f35"}},             // bounded by '=' and ' '
		{`"user":"alice","id"`, []string{"user", "alice", "id"}}, // quotes inside the needle bound every token
		{" a b ", []string{"a", "b"}},
	}
	for _, tc := range tests {
		var got []string
		for _, tok := range WholeTokens([]byte(tc.needle)) {
			got = append(got, string(tok))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("WholeTokens(%q) = %q, want %q", tc.needle, got, tc.want)
		}
	}
}

func TestBloomSkipsBlocksWithoutToken(t *testing.T) {
	g := newLogGen(5)
	c := NewMemChunkWithOptions(Options{Encoding: Zstd, BlockSize: 16 << 10, BloomBitsPerToken: 10})
	var es []Entry
	for range 2000 {
		es = append(es, g.next(2))
	}
	// Plant a rare token in one entry only.
	es[1234].Line = append(es[1234].Line, " order=ORD-778899"...)
	appendAll(t, c, es)
	d := encodeDecode(t, c)
	if !d.HasFilters() {
		t.Fatal("no filters written")
	}
	blocks := d.Blocks()
	holder := -1
	for i, b := range blocks {
		if b.FilterLen == 0 {
			t.Fatalf("block %d has no filter", i)
		}
		if es[1234].Timestamp >= b.MinT && es[1234].Timestamp <= b.MaxT {
			holder = i
		}
	}
	admitted := 0
	for i := range blocks {
		may := d.BlockMayContain(i, []byte("778899"))
		if i == holder && !may {
			t.Fatalf("block %d holds the token but its filter rules it out", i)
		}
		if may {
			admitted++
		}
	}
	if admitted > 2 || len(blocks) < 10 {
		t.Fatalf("%d of %d blocks admit a token only one holds", admitted, len(blocks))
	}
	// No false negatives: every token of every line is admitted by its block.
	for i, b := range blocks {
		it := d.Iterator(bg, b.MinT, b.MaxT+1, Forward, nil)
		for it.Next() {
			for _, tok := range AppendTokens(nil, it.At().Line) {
				if !d.BlockMayContain(i, tok) {
					t.Fatalf("block %d: false negative for %q", i, tok)
				}
			}
		}
		_ = it.Close()
	}
	// False positives stay rare for random absent tokens.
	r := rand.New(rand.NewPCG(1, 1))
	fp, probes := 0, 0
	for range 2000 {
		tok := []byte(fmt.Sprintf("absent%016x", r.Uint64()))
		h := TokenHash(tok)
		for i := range blocks {
			probes++
			if d.BlockMayContainHash(i, h) {
				fp++
			}
		}
	}
	if rate := float64(fp) / float64(probes); rate > 0.03 {
		t.Fatalf("false-positive rate %.3f, want about 0.01", rate)
	}
	// A needle search reads only the blocks whose filters admit the token.
	var st Stats
	it := d.FilteredIterator(bg, math.MinInt64, math.MaxInt64, Forward, &st, func(i int) bool {
		return d.BlockMayContain(i, []byte("778899"))
	})
	found := 0
	for it.Next() {
		if strings.Contains(string(it.At().Line), "ORD-778899") {
			found++
		}
	}
	if err := it.Close(); err != nil || it.Err() != nil {
		t.Fatal(err, it.Err())
	}
	var admittedLines int64
	for i, b := range blocks {
		if d.BlockMayContain(i, []byte("778899")) {
			admittedLines += int64(b.Entries)
		}
	}
	if found != 1 || st.BlocksSkipped != int64(len(blocks)-admitted) || st.DecompressedLines != admittedLines {
		t.Fatalf("found %d, stats %+v with %d of %d blocks admitted", found, st, admitted, len(blocks))
	}
	// Filters do not change what iteration returns.
	sameEntries(t, drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)), want(es, math.MinInt64, math.MaxInt64, Forward))
}

func TestFilterOfUnknownKindAdmitsEverything(t *testing.T) {
	for _, f := range [][]byte{nil, {}, {filterKindBloom}, {99, 3, 0, 0}, {filterKindBloom, 0, 0xff}, {filterKindBloom, 200, 0}} {
		if !filterMayContain(f, 12345) {
			t.Errorf("filter %v ruled a token out", f)
		}
	}
}

func TestChunkWithoutFiltersMayContainAnything(t *testing.T) {
	c := NewMemChunk(S2, 0, 0)
	appendAll(t, c, []Entry{ent(1, "a b c")})
	d := encodeDecode(t, c)
	if d.HasFilters() || !d.BlockMayContain(0, []byte("zzz")) {
		t.Fatal("a chunk without filters must admit every token")
	}
}

func BenchmarkAppendWithBloom(b *testing.B) {
	es, raw := benchEntries(benchChunkRaw)
	b.SetBytes(raw)
	b.ReportAllocs()
	start := cpuTime()
	var filterBytes, size int
	for b.Loop() {
		c := NewMemChunkWithOptions(Options{Encoding: Zstd, TargetSize: math.MaxInt, BloomBitsPerToken: 10})
		for _, e := range es {
			if _, err := c.Append(e); err != nil {
				b.Fatal(err)
			}
		}
		out, err := c.Encode()
		if err != nil {
			b.Fatal(err)
		}
		size, filterBytes = len(out), int(binaryFiltersLen(out))
	}
	reportCPUThroughput(b, start, raw)
	b.ReportMetric(float64(filterBytes)/float64(size)*100, "filter-%")
}

func binaryFiltersLen(b []byte) uint32 {
	return uint32(b[32])<<24 | uint32(b[33])<<16 | uint32(b[34])<<8 | uint32(b[35])
}

func TestDistinctEstimate(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 10, 1000, 30_000, 200_000} {
		var hs []uint64
		for range n {
			h := r.Uint64()
			hs = append(hs, h, h, h) // every value three times
		}
		got := distinct(hs)
		if diff := math.Abs(float64(got - n)); diff > 0.05*float64(n)+1 {
			t.Errorf("distinct of %d values (each thrice) = %d", n, got)
		}
	}
}

// FuzzTokens checks the tokenizer's invariants on arbitrary input: tokens
// are non-empty runs of token bytes that, joined, give the input with its
// separators removed; whole tokens of a needle are among its tokens and
// never touch its ends.
func FuzzTokens(f *testing.F) {
	f.Add([]byte(`level=info msg="GET /api" trace_id=4bf92f35`))
	f.Add([]byte("\xff\xfe a_b"))
	f.Fuzz(func(t *testing.T, s []byte) {
		var joined, stripped []byte
		for _, tok := range AppendTokens(nil, s) {
			if len(tok) == 0 {
				t.Fatal("empty token")
			}
			for _, c := range tok {
				if !tokenByte[c] {
					t.Fatalf("token %q holds separator %q", tok, c)
				}
			}
			joined = append(joined, tok...)
		}
		for _, c := range s {
			if tokenByte[c] {
				stripped = append(stripped, c)
			}
		}
		if string(joined) != string(stripped) {
			t.Fatalf("tokens join to %q, want %q", joined, stripped)
		}
		for _, tok := range WholeTokens(s) {
			start := cap(s) - cap(tok)
			if start <= 0 || start+len(tok) >= len(s) || tokenByte[s[start-1]] || tokenByte[s[start+len(tok)]] {
				t.Fatalf("whole token %q at %d is not bounded by separators in %q", tok, start, s)
			}
		}
	})
}
