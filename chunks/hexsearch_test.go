package chunks

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// packLines packs lines (split at '\n', which is dropped) as a writer
// does and returns the lines, their ends and the packed frame.
func packLines(text []byte) (lines []byte, ends []uint32, p packedLines) {
	for l := range bytes.SplitSeq(text, []byte("\n")) {
		lines = append(lines, l...)
		ends = append(ends, uint32(len(lines)))
	}
	p.packed, p.hex = packHex(nil, nil, lines)
	return lines, ends, p
}

// checkMarkPacked checks markPacked against a search line by line: every
// line kept holds the needles and is unpacked exactly, and every line
// holding them is kept. It reports whether markPacked searched at all.
func checkMarkPacked(t *testing.T, text []byte, alts []string) bool {
	t.Helper()
	lines, ends, p := packLines(text)
	n := NewNeedles([][]string{alts})
	if n == nil || len(p.hex) == 0 {
		return false
	}
	if err := p.index(len(lines)); err != nil {
		t.Fatalf("index: %v", err)
	}
	got := bytes.Repeat([]byte{0xee}, len(lines))
	keep := make([]bool, len(ends))
	if !n.markPacked(&p, got, ends, keep) {
		return false
	}
	start := uint32(0)
	for i, end := range ends {
		line := lines[start:end]
		if want := n.matchLine(line); keep[i] != want {
			t.Fatalf("needles %q, line %d %q: kept %v, want %v", alts, i, line, keep[i], want)
		}
		if keep[i] && !bytes.Equal(got[start:end], line) {
			t.Fatalf("needles %q, line %d: unpacked %q, want %q", alts, i, got[start:end], line)
		}
		start = end
	}
	return true
}

func TestMarkPackedFindsNeedlesAcrossHexRuns(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name string
		text string
		alts []string
	}{
		{"whole in the text", `{"trace_id":"` + id + `","status":503}` + "\n" + `{"trace_id":"` + id + `","status":200}`,
			[]string{`status":5`, `status=5`}},
		{"trailing digit packed", "status=5" + id[1:] + " x\nstatus=4" + id + "\nok",
			[]string{`status=5`, `status":5`}},
		{"leading digits packed", "id=" + id + "ff:end\nid=" + id + "ff:nope\nplain ff:end",
			[]string{"ff:end"}},
		{"leading digits packed, odd run", "id=" + id + "f:end\n" + id + "0:end\n:end",
			[]string{"f:end", "0:end"}},
		{"both ends packed", id + "ab:5" + id + "\n" + id + "ab:6" + id,
			[]string{"ab:5", "xx:5"}},
		{"a run spanning two lines", "a " + id[:20] + "\n" + id[20:] + "=5 b\n" + id + " =6",
			[]string{"=5 b", "xc=5"}},
		{"one needle, no hex at its ends", `msg="timeout" trace=` + id + "\nmsg=ok trace=" + id + "\ntimeout",
			[]string{"timeout"}},
		{"one needle ending in a digit", "code=e" + id + "\ncode=d" + id,
			[]string{"code=e"}},
		{"a literal zero byte", "a\x00status=5" + id + "\x00\nstatus=5 " + id,
			[]string{`status=5`, `status":5`}},
		{"count byte equal to the anchor", "x" + strings.Repeat("0", 2*'5') + "5ab c\nz",
			[]string{"5ab c", "q5ab"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !checkMarkPacked(t, []byte(tc.text), tc.alts) {
				t.Fatal("not searched packed")
			}
		})
	}
}

func TestMarkPackedLeavesUnsearchableNeedlesToUnpacking(t *testing.T) {
	for _, alts := range [][]string{
		{"0123456789abcdef"},                       // hex only: it may be packed whole
		{"x0123456789abcdef0y"},                    // an inner run long enough to be packed
		{"a\x00bc", "d\x00bc"},                     // a zero byte is escaped
		{"0123456789abcdef0123", "ff0123456789ab"}, // anchor or not, hex only
	} {
		n := NewNeedles([][]string{alts})
		if n != nil && n.packed != nil {
			t.Errorf("needles %q: searchable in packed frames", alts)
		}
	}
	if n := NewNeedles([][]string{{"x0123456789abcdey"}}); n == nil || n.packed == nil {
		t.Error("needle with a 15-digit inner run: not searchable in packed frames")
	}
}

// TestMarkPackedMatchesLineByLine searches random lines full of hex runs
// for needles cut from them, often at a run's edge.
func TestMarkPackedMatchesLineByLine(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	const alphabet = "0123456789abcdef0123456789abcdef:= \"sx5"
	searched := 0
	for range 3000 {
		var text []byte
		for l := range 1 + r.IntN(80) {
			if l > 0 {
				text = append(text, '\n')
			}
			for range r.IntN(4) {
				if r.IntN(2) == 0 {
					for range 8 + r.IntN(30) {
						text = append(text, "0123456789abcdef"[r.IntN(16)])
					}
				}
				for range r.IntN(8) {
					text = append(text, alphabet[r.IntN(len(alphabet))])
				}
			}
		}
		var alts []string
		for range 1 + r.IntN(3) {
			var nd []byte
			if len(text) > 12 && r.IntN(3) > 0 {
				i := r.IntN(len(text) - 12)
				nd = bytes.ReplaceAll(text[i:i+4+r.IntN(8)], []byte("\n"), []byte(":"))
			} else {
				for range 4 + r.IntN(6) {
					nd = append(nd, alphabet[r.IntN(len(alphabet))])
				}
			}
			if r.IntN(2) == 0 {
				nd = append(nd, '5') // an anchor every needle shares
			}
			alts = append(alts, string(nd))
		}
		if checkMarkPacked(t, text, alts) {
			searched++
		}
	}
	if searched < 500 {
		t.Fatalf("only %d of 3000 frames searched", searched)
	}
}

// FuzzMarkPacked: a search of a packed frame marks exactly the lines that
// hold the needles, as a search line by line does, and unpacks them.
func FuzzMarkPacked(f *testing.F) {
	const id = "0123456789abcdef0123456789abcdef"
	f.Add([]byte("a status=5"+id+"\nHTTP/1.1\" 503 "+id+"\nstatus\":200"), "status=5|status\":5|HTTP/1.1\" 5")
	f.Add([]byte(id+"ff:end\n"+id+"f:end"), "ff:end")
	f.Add([]byte("timeout "+id+"\nx"), "timeout")
	f.Fuzz(func(t *testing.T, text []byte, alts string) {
		checkMarkPacked(t, text, strings.Split(alts, "|"))
	})
}

// TestUnpackRangesMatchUnpackHex unpacks random ranges of packed frames in
// random order.
func TestUnpackRangesMatchUnpackHex(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	for range 500 {
		var text []byte
		for range r.IntN(40) {
			switch r.IntN(4) {
			case 0:
				for range 10 + r.IntN(600) {
					text = append(text, "0123456789abcdef"[r.IntN(16)])
				}
			case 1:
				text = append(text, 0)
			default:
				text = append(text, "some text= "[:1+r.IntN(10)]...)
			}
		}
		lines, _, p := packLines(text)
		if err := p.index(len(lines)); err != nil {
			t.Fatalf("index: %v", err)
		}
		got := make([]byte, len(lines))
		k := 0
		for range 20 {
			a := r.IntN(len(lines) + 1)
			b := a + r.IntN(len(lines)-a+1)
			if r.IntN(3) == 0 {
				k = r.IntN(len(p.esc) + 2)
			}
			clear(got)
			p.unpack(got, a, b, &k)
			if !bytes.Equal(got[a:b], lines[a:b]) {
				t.Fatalf("unpack [%d, %d) of %q: %q", a, b, lines, got[a:b])
			}
		}
	}
}

func TestPackedIndexRejectsBadFrames(t *testing.T) {
	for _, tc := range []struct {
		packed, hex []byte
		lineBytes   int
	}{
		{[]byte("ab\x00"), nil, 3},              // escape cut short
		{[]byte("ab\x00\x02"), []byte{1}, 6},    // run beyond the hex frame
		{[]byte("ab"), []byte{1}, 2},            // hex left over
		{[]byte("ab\x00\x01"), []byte{0x12}, 5}, // lines one byte short
	} {
		p := packedLines{packed: tc.packed, hex: tc.hex}
		if err := p.index(tc.lineBytes); err == nil {
			t.Errorf("index(%q, %x, %d): no error", tc.packed, tc.hex, tc.lineBytes)
		}
	}
}

// BenchmarkMarkLinesPacked marks the lines of a block's packed lines frame
// holding the 5xx alternatives or "timeout": "unpacked" unpacks the frame
// whole and searches the lines (the path before markPacked), "packed"
// searches the packed frame and unpacks the lines found. MB are line bytes.
func BenchmarkMarkLinesPacked(b *testing.B) {
	for kind, name := range []string{"json", "access", "logfmt"} {
		lines, ends := benchLinesFrame(kind)
		packed, hex := packHex(nil, nil, lines)
		if len(hex) == 0 {
			continue // nothing packed: such a block is read as it is
		}
		keep := make([]bool, len(ends))
		dst := make([]byte, len(lines))
		for _, tc := range []struct {
			name   string
			groups [][]string
		}{
			{"5xx", [][]string{{`HTTP/1.1" 5`, `status":5`, `status"=5`, `status:5`, `status=5`}}},
			{"timeout", [][]string{{"timeout"}}},
		} {
			n := NewNeedles(tc.groups)
			for _, way := range []string{"unpacked", "packed"} {
				b.Run(name+"/"+tc.name+"/"+way, func(b *testing.B) {
					b.SetBytes(int64(len(lines)))
					p := packedLines{packed: packed, hex: hex}
					cpu0 := cpuTime()
					for b.Loop() {
						if way == "unpacked" {
							if err := unpackHex(dst, packed, hex); err != nil {
								b.Fatal(err)
							}
							n.markLines(dst, ends, keep)
							continue
						}
						if err := p.index(len(lines)); err != nil {
							b.Fatal(err)
						}
						if !n.markPacked(&p, dst, ends, keep) {
							b.Fatal("not searched")
						}
					}
					reportCPUThroughput(b, cpu0, int64(len(lines)))
				})
			}
		}
	}
}
