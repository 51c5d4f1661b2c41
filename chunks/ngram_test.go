package chunks

import (
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// ngramBlock builds one block's filter bytes over lines.
func ngramBlock(bitsPerGram float64, lines ...[]byte) []byte {
	return appendNgramFilter(nil, bitsPerGram, func(yield func([]byte)) {
		for _, l := range lines {
			yield(l)
		}
	})
}

func TestNgramFilterAdmitsEverySubstringOfItsLines(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := []string{"a", "b", "0", "f", " ", "=", `"`, ".", "é", "日本", "\xff", "_"}
	for round := range 200 {
		lines := make([][]byte, 1+r.IntN(40))
		for i := range lines {
			var sb strings.Builder
			for range r.IntN(120) {
				sb.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			lines[i] = []byte(sb.String())
		}
		f := ngramBlock(0.5+r.Float64()*3, lines...)
		for _, l := range lines {
			for range 20 {
				if len(l) < NgramLen {
					break
				}
				i := r.IntN(len(l) - NgramLen + 1)
				j := i + NgramLen + r.IntN(len(l)-i-NgramLen+1)
				needle := string(l[i:j])
				if n := NewNeedles([][]string{{needle}}); !n.mayMatch(f) {
					t.Fatalf("round %d: filter rules out %q, a substring of %q", round, needle, l)
				}
				// An alternative the block lacks does not hide one it has.
				if n := NewNeedles([][]string{{"zzzzzzzzqqqq", needle}}); !n.mayMatch(f) {
					t.Fatalf("round %d: or-group with %q ruled out", round, needle)
				}
			}
		}
	}
}

func TestNeedles(t *testing.T) {
	// 16 bits per gram, so that the absent needles below are ruled out
	// for certain rather than with high probability.
	f := ngramBlock(16, []byte(`level=info msg="GET /api/v1/users" trace_id=4bf92f3577b34da6a3ce929d0e0e4736`))
	tests := []struct {
		name   string
		groups [][]string
		nil    bool // NewNeedles returns nil: nothing to check
		may    bool
	}{
		{"no groups", nil, true, true},
		{"short needle says nothing", [][]string{{"abc"}}, true, true},
		{"group with a short alternative says nothing", [][]string{{"zzzzzz", "ab"}}, true, true},
		{"present substring crossing tokens", [][]string{{`="GET /api`}}, false, true},
		{"present inside a longer token", [][]string{{"77b34da6"}}, false, true},
		{"absent trace id", [][]string{{"2f1bd0b6b6a951ba3941fc7dd40642a3"}}, false, false},
		{"every group must be met", [][]string{{"level=info"}, {"qqqqqqqqqqqq"}}, false, false},
		{"one alternative suffices", [][]string{{"qqqqqqqqqqqq", "users"}}, false, true},
		{"no alternative present", [][]string{{"qqqqqqqqqqqq", "xxxxxxxxxxxx"}}, false, false},
		{"case-sensitive", [][]string{{"LEVEL=INFO"}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := NewNeedles(tt.groups)
			if (n == nil) != tt.nil {
				t.Fatalf("NewNeedles = %v, want nil %v", n, tt.nil)
			}
			if got := n.mayMatch(f); got != tt.may {
				t.Fatalf("mayMatch = %v, want %v", got, tt.may)
			}
		})
	}
}

func TestNgramFilterLayout(t *testing.T) {
	f := ngramBlock(2, []byte("abcdef"))
	// Three distinct grams want 6 bits: the 8-byte minimum.
	if len(f) != ngramHeader+8 || f[0] != filterKindNgram || f[1] != 4 || string(f[2:6]) != "\x00\x00\x00\x08" {
		t.Fatalf("filter % x", f)
	}
	set := 0
	for _, g := range []string{"abcd", "bcde", "cdef"} {
		x := uint64(ngramSlot(uint64(g[0]) | uint64(g[1])<<8 | uint64(g[2])<<16 | uint64(g[3])<<24))
		b := x * 64 >> ngramScratchLog2
		if f[ngramHeader+b/8]&(1<<(b%8)) == 0 {
			t.Fatalf("bit %d of gram %q not set", b, g)
		}
	}
	for _, b := range f[ngramHeader:] {
		for ; b != 0; b &= b - 1 {
			set++
		}
	}
	if set < 1 || set > 3 {
		t.Fatalf("%d bits set for 3 grams", set)
	}
	if got := ngramBlock(2, []byte("abc"), nil); got != nil {
		t.Fatalf("lines without a gram gave filter % x", got)
	}
}

func TestFilterSequenceToleratesUnknownKinds(t *testing.T) {
	ng := ngramBlock(16, []byte("hello world"))
	absent := NewNeedles([][]string{{"zzzzqqqqxxxx"}})
	for _, f := range [][]byte{
		nil, {}, {filterKindNgram}, {filterKindNgram, 4, 0}, {filterKindNgram, 4, 0, 0, 0, 0}, {filterKindNgram, 4, 0, 0, 0, 1},
		{filterKindNgram, 4, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0}, {filterKindNgram, 4, 0xff, 0xff, 0xff, 0xff, 0},
		{filterKindNgram, 5, 0, 0, 0, 1, 0}, {99, 6, 0, 0, 0, 0, 0, 0, 0, 0}, {filterKindBloom, 1, 0, 0},
		append([]byte{99}, ng...), // a kind this reader does not know comes first
	} {
		if !absent.mayMatch(f) {
			t.Errorf("filter % x ruled a needle out", f)
		}
	}
	if absent.mayMatch(ng) {
		t.Fatal("a well-formed filter admitted an absent needle")
	}
	// A bloom after the n-gram filter still answers token lookups.
	both := appendBloom(ng, 10, func(yield func([]byte)) { yield([]byte("hello world")) })
	if !filterMayContain(both, TokenHash([]byte("hello"))) || filterMayContain(both, TokenHash([]byte("absenttoken"))) {
		t.Fatal("bloom after the n-gram filter misread")
	}
	if absent.mayMatch(both) || !NewNeedles([][]string{{"lo wo"}}).mayMatch(both) {
		t.Fatal("n-gram filter before a bloom misread")
	}
}

func TestChunkNeedleSearchSkipsBlocks(t *testing.T) {
	g := newLogGen(11)
	c := NewMemChunkWithOptions(Options{Encoding: Zstd, BlockSize: 16 << 10, NgramBitsPerGram: 2, BloomBitsPerToken: 10})
	var es []Entry
	for range 3000 {
		es = append(es, g.next(0))
	}
	const needle = "2f1bd0b6b6a951ba3941fc7dd40642a3"
	es[1777].Line = bytes.Replace(es[1777].Line, es[1777].Line[100:132], []byte(needle), 1)
	appendAll(t, c, es)
	n := NewNeedles([][]string{{needle}})

	// The live chunk: sealed blocks are filtered, the head is read.
	var st Stats
	got := drain(t, c.IteratorMatching(bg, math.MinInt64, math.MaxInt64, Forward, &st, n))
	if !containsLine(got, needle) || st.BlocksSkipped < 10 {
		t.Fatalf("live chunk: needle found %v, stats %+v", containsLine(got, needle), st)
	}

	d := encodeDecode(t, c)
	blocks := d.Blocks()
	admitted := 0
	for i := range blocks {
		if d.BlockMayMatch(i, n) {
			admitted++
		}
		if !d.BlockMayContain(i, []byte("info")) {
			t.Fatalf("block %d: bloom lost behind the n-gram filter", i)
		}
	}
	if admitted != 1 || len(blocks) < 10 {
		t.Fatalf("%d of %d blocks admit a needle one holds", admitted, len(blocks))
	}
	got = drain(t, d.FilteredIterator(bg, math.MinInt64, math.MaxInt64, Backward, nil, func(i int) bool { return d.BlockMayMatch(i, n) }))
	if !containsLine(got, needle) {
		t.Fatal("needle not found in the admitted block")
	}
	sameEntries(t, drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)), want(es, math.MinInt64, math.MaxInt64, Forward))
}

func containsLine(es []Entry, s string) bool {
	for _, e := range es {
		if strings.Contains(string(e.Line), s) {
			return true
		}
	}
	return false
}

// TestNgramFalsePositives measures, on generated JSON, nginx and logfmt
// blocks of the default size, the filter's size against the raw text and
// how often it admits needles no line holds: random hex (trace-ID-like)
// and random lowercase needles of 8, 16 and 32 bytes. Run with -v for the
// table; the bounds are loose, to catch a broken hash or sizing.
func TestNgramFalsePositives(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	type needleKind struct {
		len      int
		alphabet string
		bound    float64 // at 1 bit per gram; measured about a third of it
	}
	kinds := []needleKind{
		{8, "0123456789abcdef", 0.5}, {16, "0123456789abcdef", 0.15}, {32, "0123456789abcdef", 0.01},
		{8, "abcdefghijklmnopqrstuvwxyz", 0.4}, {16, "abcdefghijklmnopqrstuvwxyz", 0.02}, {32, "abcdefghijklmnopqrstuvwxyz", 0.001},
	}
	needle := make([]byte, 32)
	for _, bitsPerGram := range []float64{1, 1.5, 2} {
		var raw, filt int
		fp, probes := make([]int, len(kinds)), make([]int, len(kinds))
		for format := range 3 {
			g := newLogGen(uint64(100 + format))
			for range 4 { // blocks of each format
				var lines [][]byte
				size := 0
				for size < DefaultBlockSize {
					l := g.next(format).Line
					lines = append(lines, l)
					size += len(l)
				}
				raw += size
				f := ngramBlock(bitsPerGram, lines...)
				filt += len(f)
				text := bytes.Join(lines, []byte{'\n'})
				for k, nk := range kinds {
					for range 500 {
						nd := needle[:nk.len]
						for i := range nd {
							nd[i] = nk.alphabet[r.IntN(len(nk.alphabet))]
						}
						// Only an admitted needle can be in the block.
						admitted := NewNeedles([][]string{{string(nd)}}).mayMatch(f)
						if admitted && bytes.Contains(text, nd) {
							continue
						}
						probes[k]++
						if admitted {
							fp[k]++
						}
					}
				}
			}
		}
		pct := 100 * float64(filt) / float64(raw)
		t.Logf("%g bits/gram: filters %.2f%% of raw", bitsPerGram, pct)
		if pct > 1.6*bitsPerGram {
			t.Errorf("%g bits/gram: filters are %.2f%% of raw", bitsPerGram, pct)
		}
		for k, nk := range kinds {
			rate := float64(fp[k]) / float64(probes[k])
			t.Logf("  %2d-byte needles of %.6s…: false positives %.4f (%d of %d)", nk.len, nk.alphabet, rate, fp[k], probes[k])
			if rate > nk.bound {
				t.Errorf("%g bits/gram, %d-byte needles of %.6s…: false-positive rate %.4f over %.3f", bitsPerGram, nk.len, nk.alphabet, rate, nk.bound)
			}
		}
	}
}

// FuzzNgramNoFalseNegative: a block's filter admits every substring of
// every line it was built from, alone or in an or-group.
func FuzzNgramNoFalseNegative(f *testing.F) {
	f.Add([]byte("trace_id=4bf92f35 日本\nsecond line"), uint16(3), uint16(9), uint8(2))
	f.Add([]byte("\xff\xfe\x00abcd"), uint16(0), uint16(4), uint8(1))
	f.Fuzz(func(t *testing.T, text []byte, start, length uint16, bitsPerGram uint8) {
		lines := bytes.Split(text, []byte{'\n'})
		f := ngramBlock(float64(bitsPerGram%32+1)/4, lines...)
		l := lines[int(start)%len(lines)]
		if len(l) < NgramLen {
			return
		}
		i := int(start) % (len(l) - NgramLen + 1)
		j := i + NgramLen + int(length)%(len(l)-i-NgramLen+1)
		needle := string(l[i:j])
		if !NewNeedles([][]string{{needle}}).mayMatch(f) {
			t.Fatalf("filter rules out %q, a substring of %q", needle, l)
		}
		if !NewNeedles([][]string{{needle, "\x00\x01\x02\x03\x04"}, {string(l[i : i+NgramLen])}}).mayMatch(f) {
			t.Fatalf("groups with %q ruled out", needle)
		}
	})
}

func BenchmarkAppendWithNgram(b *testing.B) {
	for _, bits := range []int{0, 2} {
		b.Run(fmt.Sprintf("bits=%d", bits), func(b *testing.B) {
			es, raw := benchEntries(benchChunkRaw)
			b.SetBytes(raw)
			b.ReportAllocs()
			start := cpuTime()
			var filterBytes, size int
			for b.Loop() {
				c := NewMemChunkWithOptions(Options{Encoding: Zstd, TargetSize: math.MaxInt, NgramBitsPerGram: float64(bits)})
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
			b.ReportMetric(float64(filterBytes)/float64(raw)*100, "filter-%raw")
			b.ReportMetric(float64(filterBytes)/float64(size)*100, "filter-%chunk")
		})
	}
}

// BenchmarkNgramFilterBuild is the filter's share of ingest: hashing every
// 4-gram of a default-size block and folding the result.
func BenchmarkNgramFilterBuild(b *testing.B) {
	es, raw := benchEntries(DefaultBlockSize)
	b.SetBytes(raw)
	var dst []byte
	for b.Loop() {
		dst = appendNgramFilter(dst[:0], 2, func(yield func([]byte)) {
			for _, e := range es {
				yield(e.Line)
			}
		})
	}
}

// FuzzFilterBytes: readers never panic on arbitrary filter bytes, and
// whatever they make of them, a filter that is not a well-formed kind-2
// filter first admits every needle.
func FuzzFilterBytes(f *testing.F) {
	f.Add(ngramBlock(1, []byte("hello world")))
	f.Add(append(ngramBlock(1, []byte("hello world")), filterKindBloom, 3, 0xff))
	f.Add([]byte{filterKindNgram, 4, 0xff, 0xff, 0xff, 0xff})
	n := NewNeedles([][]string{{"hello", "absent needle"}, {"zzzzqqqq"}})
	f.Fuzz(func(t *testing.T, b []byte) {
		may := n.mayMatch(b)
		_ = filterMayContain(b, 42)
		if _, ok := ngramFilter(b); !ok && !may {
			t.Fatalf("filter % x without a usable n-gram filter ruled a needle out", b)
		}
	})
}

func TestHeadSearchFindsExactlyTheMatchingLines(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	alphabet := []string{"ab", "cd", "abcd", "x", "=", "é", "\n"}
	for round := range 300 {
		c := NewMemChunkWithOptions(Options{Encoding: None, BlockSize: 1 << 20})
		for i := range 1 + r.IntN(60) {
			var sb strings.Builder
			for range r.IntN(12) {
				sb.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			ts := int64(i)
			if round%3 == 0 {
				ts = r.Int64N(30) // out of order: entries leave arena order
			}
			var md []string
			if r.IntN(4) == 0 {
				md = []string{"k", "abcd"} // metadata never matches
			}
			if _, err := c.Append(ent(ts, sb.String(), md...)); err != nil {
				t.Fatal(err)
			}
		}
		groups := [][]string{{[]string{"abcd", "cdab", "abab", "cd=ab"}[r.IntN(4)]}}
		if round%2 == 1 {
			groups = append(groups, []string{"xxxx", "cdcd"})
		}
		if round%4 >= 2 { // alternatives sharing 'b': one pass (anchorSearcher)
			groups[0] = []string{"abcdab", "cd=ab", "éabab", "bxab"}[:2+r.IntN(3)]
		}
		n := NewNeedles(groups)
		if (n.anchor != nil) != (round%4 >= 2) {
			t.Fatalf("round %d, needles %q: anchor %v", round, groups, n.anchor)
		}
		var want, got []string
		all := drain(t, c.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil))
		for _, e := range all {
			if n.matchLine(e.Line) {
				want = append(want, string(e.Line))
			}
		}
		var st Stats
		yielded := drain(t, c.IteratorMatching(bg, math.MinInt64, math.MaxInt64, Forward, &st, n))
		for _, e := range yielded {
			if n.matchLine(e.Line) {
				got = append(got, string(e.Line))
			}
		}
		// Only the head's last entry may be yielded without the needles.
		if !slices.Equal(got, want) || len(yielded) > len(want)+1 || len(yielded)+int(st.LinesLeftOut) != len(all) {
			t.Fatalf("round %d, needles %q: head search gave %q (%d yielded, %d left out), want %q", round, groups, got, len(yielded), st.LinesLeftOut, want)
		}
	}
}

func TestGramSearcherFindsTheFirstOccurrence(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	rare := 0
	for round := range 3000 {
		// Odd rounds: needles may hold a rare byte (m, Q), which index
		// then scans for; even rounds hand over to skipping midway.
		alphabet := []string{"ab0f", "ab0fmQ"}[round%2]
		text := make([]byte, r.IntN(300))
		for i := range text {
			text[i] = alphabet[r.IntN(len(alphabet))]
		}
		var needle []byte
		if len(text) >= 4 && r.IntN(2) == 0 {
			i := r.IntN(len(text) - 3)
			needle = text[i : i+min(4+r.IntN(40), len(text)-i)]
		} else {
			needle = make([]byte, 4+r.IntN(40))
			for i := range needle {
				needle[i] = alphabet[r.IntN(len(alphabet))]
			}
		}
		gs := newGramSearcher(needle)
		if c := needle[gs.rare]; c == 'm' || c == 'Q' {
			rare++
		}
		if got, want := gs.index(text), bytes.Index(text, needle); got != want {
			t.Fatalf("index(%q, %q) = %d, want %d", text, needle, got, want)
		}
	}
	if rare < 100 {
		t.Fatalf("only %d needles were searched by a rare byte", rare)
	}
}

func TestAnchorSearchMarksExactlyTheMatchingLines(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const alphabet = "ab5f:="
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return b
	}
	searched := 0
	for range 3000 {
		var lines []byte
		var ends []uint32
		for range r.IntN(100) {
			lines = append(lines, randBytes(r.IntN(30))...)
			ends = append(ends, uint32(len(lines)))
		}
		var alts []string
		for range 2 + r.IntN(4) {
			nd := randBytes(2 + r.IntN(5))
			if len(lines) > 8 && r.IntN(2) == 0 {
				i := r.IntN(len(lines) - 8)
				nd = lines[i : i+2+r.IntN(6)] // may straddle lines
			}
			// Every needle holds the anchor, at one or more offsets.
			nd = slices.Insert(slices.Clone(nd), r.IntN(len(nd)+1), '5')
			alts = append(alts, string(nd))
		}
		if r.IntN(4) == 0 {
			alts = append(alts, alts[0]+":") // an extension of another
		}
		n := NewNeedles([][]string{alts})
		if n == nil {
			continue // an alternative shorter than NgramLen
		}
		if n.anchor == nil {
			t.Fatalf("needles %q share '5', yet have no anchor", alts)
		}
		keep := make([]bool, len(ends))
		if !n.markLines(lines, ends, keep) {
			continue // judged too dense
		}
		searched++
		start := uint32(0)
		for i, end := range ends {
			if want := n.matchLine(lines[start:end]); keep[i] != want {
				t.Fatalf("needles %q, line %d %q: kept %v, want %v", alts, i, lines[start:end], keep[i], want)
			}
			start = end
		}
	}
	if searched < 1000 {
		t.Fatalf("only %d of 3000 frames searched", searched)
	}
}

// FuzzAnchorSearch: a search for alternatives sharing a rare byte, or for
// one needle, marks exactly the lines that hold them, as a search line by
// line does.
func FuzzAnchorSearch(f *testing.F) {
	f.Add([]byte("a status=500\nHTTP/1.1\" 503 x\nstatus\":200"), "status=5|status\":5|HTTP/1.1\" 5")
	f.Add([]byte("ab5\n5ab\nb5a"), "b5a|5ab")
	f.Add([]byte("time\nout timeout\ntimeou"), "timeout")
	f.Fuzz(func(t *testing.T, text []byte, alts string) {
		var lines []byte
		var ends []uint32
		for l := range bytes.SplitSeq(text, []byte("\n")) {
			lines = append(lines, l...)
			ends = append(ends, uint32(len(lines)))
		}
		n := NewNeedles([][]string{strings.Split(alts, "|")})
		if n == nil || (n.anchor == nil && len(n.searches) != 1) {
			return
		}
		keep := make([]bool, len(ends))
		if !n.markLines(lines, ends, keep) {
			return
		}
		start := uint32(0)
		for i, end := range ends {
			if want := n.matchLine(lines[start:end]); keep[i] != want {
				t.Fatalf("needles %q, line %d %q: kept %v, want %v", alts, i, lines[start:end], keep[i], want)
			}
			start = end
		}
	})
}

func TestAnchorSearchTakesOnlyRareSharedBytes(t *testing.T) {
	for _, tc := range []struct {
		needles []string
		anchor  byte // 0: none
	}{
		{[]string{`status":5`, `status=5`, `HTTP/1.1" 5`}, '5'},
		{[]string{"connection refused", "connection reset"}, 'c'},
		{[]string{"abcdef"}, 0},             // one needle: gramSearcher
		{[]string{"error", "panic"}, 0},     // nothing in common
		{[]string{"the end", "at ease"}, 0}, // only frequent bytes
	} {
		var nds [][]byte
		for _, s := range tc.needles {
			nds = append(nds, []byte(s))
		}
		a := newAnchorSearcher(nds)
		if got := a != nil; got != (tc.anchor != 0) || (a != nil && a.c != tc.anchor) {
			t.Errorf("newAnchorSearcher(%q) = %+v, want anchor %q", tc.needles, a, tc.anchor)
		}
	}
}

// benchLinesFrame is a block's worth of lines of one kind (0 JSON, 1
// access log, 2 logfmt) as a lines frame: the lines back to back, and the
// end offset of each.
func benchLinesFrame(kind int) (lines []byte, ends []uint32) {
	g := newLogGen(7)
	for len(lines) < DefaultBlockSize {
		lines = append(lines, g.next(kind).Line...)
		ends = append(ends, uint32(len(lines)))
	}
	return lines, ends
}

// BenchmarkMarkLines searches a block's lines frame of mixed JSON, access
// and logfmt lines for the alternatives a 5xx regexp requires, and for a
// word in a few % of lines.
func BenchmarkMarkLines(b *testing.B) {
	for kind, name := range []string{"json", "access", "logfmt"} {
		lines, ends := benchLinesFrame(kind)
		keep := make([]bool, len(ends))
		for _, tc := range []struct {
			name   string
			groups [][]string
		}{
			{"5xx", [][]string{{`HTTP/1.1" 5`, `status":5`, `status"=5`, `status:5`, `status=5`}}},
			{"slow", [][]string{{"slow query"}}},
			{"timeout", [][]string{{"timeout"}}}, // short: a scan for 'm'
		} {
			n := NewNeedles(tc.groups)
			b.Run(name+"/"+tc.name, func(b *testing.B) {
				b.SetBytes(int64(len(lines)))
				ok := true
				cpu0 := cpuTime()
				for b.Loop() {
					ok = n.markLines(lines, ends, keep)
				}
				reportCPUThroughput(b, cpu0, int64(len(lines)))
				k := 0
				for _, x := range keep {
					if x {
						k++
					}
				}
				if !ok {
					k = len(keep)
				}
				b.ReportMetric(float64(k)/float64(len(keep)), "kept/line")
			})
		}
	}
}

// TestGramSearcherRareByte checks the search by a needle's rarest byte on
// texts where that byte is sparse, where it is dense enough to hand over
// to skipping midway (short and long needles), and at the ends of the
// text.
func TestGramSearcherRareByte(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, alphabet := range []string{"eeeeeeetrro ", "er", "eeeeeeeeeeeeeeeeeeeeeeeeeeeer", "ab0f"} {
		for range 2000 {
			text := make([]byte, r.IntN(400))
			for i := range text {
				text[i] = alphabet[r.IntN(len(alphabet))]
			}
			needle := make([]byte, 4+r.IntN(12))
			for i := range needle {
				needle[i] = alphabet[r.IntN(len(alphabet))]
			}
			if r.IntN(2) == 0 && len(text) >= len(needle) {
				at := r.IntN(len(text) - len(needle) + 1)
				copy(text[at:], needle)
			}
			if got, want := newGramSearcher(needle).index(text), bytes.Index(text, needle); got != want {
				t.Fatalf("index(%q, %q) = %d, want %d", text, needle, got, want)
			}
		}
	}
}

// FuzzGramSearcher: index agrees with bytes.Index on any text and needle
// of at least 4 bytes (shorter ones never reach a searcher).
func FuzzGramSearcher(f *testing.F) {
	f.Add([]byte("level=error msg=\"timeout\" err=eof"), []byte("error"))
	f.Add([]byte("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeerror"), []byte("error"))
	f.Add([]byte("2f1bd0b6b6a951ba3941fc7dd40642a3"), []byte("d0b6b6a951"))
	f.Fuzz(func(t *testing.T, text, needle []byte) {
		if len(needle) < NgramLen {
			return
		}
		if got, want := newGramSearcher(needle).index(text), bytes.Index(text, needle); got != want {
			t.Fatalf("index(%q, %q) = %d, want %d", text, needle, got, want)
		}
	})
}

func BenchmarkGramSearcher(b *testing.B) {
	es, raw := benchEntries(DefaultBlockSize)
	var text []byte
	for _, e := range es {
		text = append(text, e.Line...)
	}
	// Needles absent from the text: hex IDs, whose rarest byte is b, and
	// words whose first byte is frequent (t) or not (n).
	for _, needle := range []string{"2f1bd0b6b6a951ba3941fc7dd40642a3", "2f1bd0b6b6a951ba", "timeout", "needle"} {
		gs := newGramSearcher([]byte(needle))
		for _, name := range []string{"gram", "bytes.Index"} {
			b.Run(needle+"/"+name, func(b *testing.B) {
				b.SetBytes(raw)
				start := cpuTime()
				for b.Loop() {
					i := -1
					if name == "gram" {
						i = gs.index(text)
					} else {
						i = bytes.Index(text, gs.needle)
					}
					if i >= 0 {
						b.Fatal("found")
					}
				}
				reportCPUThroughput(b, start, raw)
			})
		}
	}
}

// FuzzDecodePartial: on arbitrary bytes and ranges DecodePartial never
// panics, nor does iterating the blocks it holds; on a valid chunk with
// its whole data at hand it yields what Decode does, and it holds exactly
// the blocks lying inside the range it was given.
func FuzzDecodePartial(f *testing.F) {
	c := NewMemChunkWithOptions(Options{Encoding: S2, BlockSize: 40, NgramBitsPerGram: 1, BloomBitsPerToken: 10})
	appendAll(f, c, []Entry{ent(1, "alpha beta"), ent(2, "gamma delta", "k", "v"), ent(3, "epsilon zeta eta"), ent(4, "theta")})
	b, err := c.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b, uint16(0), uint16(len(b)))
	f.Add(b, uint16(len(b)/2), uint16(20))
	f.Add([]byte("PLGC"), uint16(0), uint16(4))
	n := NewNeedles([][]string{{"gamma"}})
	f.Fuzz(func(t *testing.T, b []byte, off, length uint16) {
		lo := min(int(off), len(b))
		hi := min(lo+int(length), len(b))
		p, err := DecodePartial(b, lo, b[lo:hi])
		if err != nil {
			return
		}
		held := func(i int) bool { return len(p.blocks[i].data) > 0 }
		for i, m := range p.Blocks() {
			_ = p.BlockMayMatch(i, n)
			if inside := m.Offset >= lo && m.Offset+m.CompressedLen <= hi; inside != held(i) {
				t.Fatalf("block %d at [%d, %d): held %v with range [%d, %d)", i, m.Offset, m.Offset+m.CompressedLen, held(i), lo, hi)
			}
		}
		got := drainLenient(p.FilteredIterator(bg, math.MinInt64, math.MaxInt64, Forward, nil, held))
		if lo != 0 || hi != len(b) {
			return
		}
		if full, err := Decode(b); err == nil {
			if want := drainLenient(full.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)); len(got) != len(want) {
				t.Fatalf("DecodePartial with every byte yields %d entries, Decode %d", len(got), len(want))
			}
		}
	})
}

// drainLenient counts what an iterator yields before it ends or fails.
func drainLenient(it Iterator) []int64 {
	var ts []int64
	for it.Next() {
		ts = append(ts, it.At().Timestamp)
	}
	_ = it.Close()
	return ts
}

// TestSealedBlocksYieldExactlyTheMatchingLines checks the needle search of
// sealed blocks (lines frame searched whole, hits mapped to entries)
// against a line-by-line filter of the full iteration: same entries, same
// order, in both directions, over sub-ranges, for every codec and both
// format versions, with duplicates across blocks and overlapping blocks.
func TestSealedBlocksYieldExactlyTheMatchingLines(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	alphabet := []string{"ab", "cd", "abcd", "x", "=", "é", "\n", "cdab"}
	for round := range 200 {
		enc := Encodings()[round%len(Encodings())]
		version := []byte{FormatV1, FormatV2, FormatV3}[round/len(Encodings())%3]
		c := NewMemChunkWithOptions(Options{Encoding: enc, BlockSize: 40 + r.IntN(200), version: version})
		for i := range 1 + r.IntN(120) {
			var sb strings.Builder
			for range r.IntN(12) {
				sb.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			ts := int64(i)
			if round%3 == 0 {
				ts = r.Int64N(40) // out of order: blocks overlap, duplicates meet
			}
			var md []string
			if r.IntN(4) == 0 {
				md = []string{"k", "abcd"} // metadata never matches
			}
			if _, err := c.Append(ent(ts, sb.String(), md...)); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		groups := [][]string{{[]string{"abcd", "cdab", "abab", "cd=ab", "xxxxxxxx"}[r.IntN(5)]}}
		switch round % 5 {
		case 1:
			groups = append(groups, []string{"xxxx", "cdcd"})
		case 2:
			groups[0] = append(groups[0], "=abc", "éab")
		case 3: // one pass for all alternatives (anchorSearcher)
			groups[0] = []string{"abcdab", "cd=abcd", "xabxab", "ééab"}[:2+r.IntN(3)]
		case 4:
			groups = [][]string{{"cdabcd", "=cdab=", "abab=x"}, {"xxxx", "cdcd", "ab"}}
		}
		n := NewNeedles(groups)
		matching := func(es []Entry) []Entry {
			var out []Entry
			for _, e := range es {
				if n.matchLine(e.Line) {
					out = append(out, e)
				}
			}
			return out
		}
		d := encodeDecode(t, c)
		lo, hi := d.Bounds()
		from, through := lo+r.Int64N(hi-lo+1), hi+1
		if r.IntN(2) == 0 {
			from, through = lo, lo+r.Int64N(hi-lo+2)
		}
		for _, dir := range []Direction{Forward, Backward} {
			var want []Entry
			for _, e := range drain(t, d.Iterator(bg, from, through, dir, nil)) {
				if n.matchLine(e.Line) {
					want = append(want, e)
				}
			}
			var st Stats
			got := drain(t, d.IteratorMatching(bg, from, through, dir, &st, n, nil))
			// A search may yield lines without the needles (a version 1
			// block whole, a version 2 block's last entry), in order.
			sameEntries(t, matching(got), want)
			var full Stats
			all := drain(t, d.Iterator(bg, from, through, dir, &full))
			// Every entry in range is yielded, left out or dropped as a
			// duplicate of another block's.
			if len(got)+int(st.LinesLeftOut+st.Duplicates) != len(all)+int(full.Duplicates) {
				t.Fatalf("round %d %s: %d entries yielded, %d left out, %d duplicates; full scan %d and %d", round, dir, len(got), st.LinesLeftOut, st.Duplicates, len(all), full.Duplicates)
			}
			sameEntries(t, matching(drain(t, c.IteratorMatching(bg, from, through, dir, nil, n))), want)
		}
	}
}

// TestNeedleSearchLeavesOutLinesAndCountsThem checks that a block search
// yields the matching line and the block's last entry in iteration order,
// and counts what it left out, so a query still reports the lines it
// covered.
func TestNeedleSearchLeavesOutLinesAndCountsThem(t *testing.T) {
	c := NewMemChunkWithOptions(Options{Encoding: Zstd, BlockSize: 1 << 10})
	lines := []string{"alpha beta", "gamma needle", "delta", "epsilon", "zeta", "eta theta", "iota kappa lambda", "mu"}
	var total int64
	for i, l := range lines {
		if _, err := c.Append(ent(int64(i), l)); err != nil {
			t.Fatal(err)
		}
		total += int64(len(l))
	}
	d := encodeDecode(t, c)
	if len(d.Blocks()) != 1 {
		t.Fatalf("%d blocks, want 1", len(d.Blocks()))
	}
	for _, tc := range []struct {
		dir  Direction
		want []string
	}{
		{Forward, []string{"gamma needle", "mu"}},
		{Backward, []string{"gamma needle", "alpha beta"}},
	} {
		var st Stats
		var got []string
		for _, e := range drain(t, d.IteratorMatching(bg, 0, 100, tc.dir, &st, NewNeedles([][]string{{"needle"}}), nil)) {
			got = append(got, string(e.Line))
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("%s: got %q, want %q", tc.dir, got, tc.want)
		}
		// Entries left out count as the iterator passes them: none
		// before the first Next, those newer or older than the match
		// once it is yielded.
		var lazy Stats
		it := d.IteratorMatching(bg, 0, 100, tc.dir, &lazy, NewNeedles([][]string{{"needle"}}), nil)
		before := lazy.LinesLeftOut
		if !it.Next() || string(it.At().Line) != "gamma needle" {
			t.Fatalf("%s: first entry not the match", tc.dir)
		}
		passed := map[Direction]int64{Forward: 1, Backward: 6}[tc.dir]
		if before != 0 || lazy.LinesLeftOut != passed {
			t.Fatalf("%s: %d left out before the first entry, %d after, want 0 and %d", tc.dir, before, lazy.LinesLeftOut, passed)
		}
		_ = it.Close()
		left := total - int64(len(tc.want[0])+len(tc.want[1]))
		if st.LinesLeftOut != int64(len(lines)-2) || st.BytesLeftOut != left || st.DecompressedLines != int64(len(lines)) {
			t.Fatalf("%s: stats %+v, want %d lines and %d bytes left out of %d", tc.dir, st, len(lines)-2, left, len(lines))
		}
	}
}

// TestNeedleSearchYieldsEverythingWhereItDoesNotPay checks that a block
// search gives up, and yields every entry for the query's filter to
// check, when the needle is in most lines or has several alternatives.
func TestNeedleSearchYieldsEverythingWhereItDoesNotPay(t *testing.T) {
	c := NewMemChunkWithOptions(Options{Encoding: S2, BlockSize: 64 << 10})
	for i := range 1000 {
		line := fmt.Sprintf("line %d status=200", i)
		if i%3 == 0 {
			line = fmt.Sprintf("line %d status=500", i)
		}
		if _, err := c.Append(ent(int64(i), line)); err != nil {
			t.Fatal(err)
		}
	}
	d := encodeDecode(t, c)
	for _, tc := range []struct {
		groups   [][]string
		leftOut  bool
		matching int
	}{
		{[][]string{{"status=5"}}, false, 334},             // a third of the lines
		{[][]string{{"status=5", "status:5"}}, false, 334}, // two alternatives, as many lines
		{[][]string{{"line 99", "line 42"}}, true, 22},     // two rare ones, searched at once
		{[][]string{{"line 99"}}, true, 11},                // 99, 990..998
		{[][]string{{"line 99"}, {"status=5"}}, false, 5},  // the longer needle is searched first, and is in a third
	} {
		n := NewNeedles(tc.groups)
		var st Stats
		got := drain(t, d.IteratorMatching(bg, 0, 1000, Forward, &st, n, nil))
		m := 0
		for _, e := range got {
			if n.matchLine(e.Line) {
				m++
			}
		}
		if m != tc.matching || (st.LinesLeftOut > 0) != tc.leftOut || (!tc.leftOut && len(got) != 1000) {
			t.Errorf("%q: %d entries, %d matching, %d left out; want %d matching, lines left out: %v", tc.groups, len(got), m, st.LinesLeftOut, tc.matching, tc.leftOut)
		}
	}
}

// foldReference is the fold written the obvious way, one bit at a time.
func foldReference(s *ngramScratch, out []byte) {
	m := uint64(len(out)) * 8
	for x := uint64(0); x < ngramScratchBits; x++ {
		if s[x>>6]&(1<<(x&63)) != 0 {
			b := x * m >> ngramScratchLog2
			out[b>>3] |= 1 << (b & 7)
		}
	}
}

func TestNgramFoldMatchesTheBitByBitReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	sizes := []int{8, 9, 15, 16, 100, 1001, 4096, 12345, ngramScratchBits/8 - 1, ngramScratchBits / 8}
	for _, fill := range []float64{0, 0.001, 0.3, 0.7, 1} {
		var s ngramScratch
		for x := range ngramScratchBits {
			if r.Float64() < fill {
				s[x>>6] |= 1 << (x & 63)
			}
		}
		for _, n := range sizes {
			got, want := make([]byte, n), make([]byte, n)
			s.fold(got)
			foldReference(&s, want)
			if !bytes.Equal(got, want) {
				t.Fatalf("fill %g, %d bytes: fold differs from the reference", fill, n)
			}
		}
	}
}

// BenchmarkNgramFold is the second half of a filter build: folding the
// scratch of a 64 KiB block (the size the ingester seals heads at under
// memory pressure) to the default 0.8 bits per gram.
func BenchmarkNgramFold(b *testing.B) {
	es, _ := benchEntries(64 << 10)
	s := new(ngramScratch)
	for _, e := range es {
		s.addLine(e.Line)
	}
	set := 0
	for _, w := range s {
		set += bits.OnesCount64(w)
	}
	out := make([]byte, int(-ngramScratchBits*math.Log1p(-float64(set)/ngramScratchBits)*0.8/8))
	b.ReportMetric(float64(set), "set-bits")
	for b.Loop() {
		clear(out)
		s.fold(out)
	}
}
