package chunks

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestPackHexRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		name, lines string
		hex         int // packed hex bytes
	}{
		{"no run", "level=info msg=ok", 0},
		{"run of 15 stays text", "id=0123456789abcde end", 0},
		{"run of 16", "id=0123456789abcdef end", 8},
		{"odd run keeps its last digit", "id=0123456789abcdef0 end", 8},
		{"trace and span", `{"trace_id":"2f1bd0b6b6a951ba3941fc7dd40642a3","span_id":"b6a951ba3941fc7d"}`, 24},
		{"uppercase is not packed", "id=0123456789ABCDEF0123", 0},
		{"run at the start and the end", "0123456789abcdef x 0123456789abcdef", 16},
		{"literal zero bytes", "a\x00b\x00\x000123456789abcdef\x00", 8},
		{"run longer than one escape", strings.Repeat("ab", 300) + "c", 300},
		{"runs across a line boundary", "x=01234567" + "89abcdef y", 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			packed, hex := packHex(nil, nil, []byte(tc.lines))
			if len(hex) != tc.hex {
				t.Errorf("%d hex bytes, want %d", len(hex), tc.hex)
			}
			out := make([]byte, len(tc.lines))
			if err := unpackHex(out, packed, hex); err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.lines {
				t.Fatalf("round trip gave %q", out)
			}
			// The packing is exact: a byte more or less room, or a hex byte
			// more or less, is an error rather than a silent truncation.
			if err := unpackHex(make([]byte, len(tc.lines)+1), packed, hex); err == nil {
				t.Error("unpacked into a buffer one byte too long")
			}
			if len(tc.lines) > 0 {
				if err := unpackHex(make([]byte, len(tc.lines)-1), packed, hex); err == nil {
					t.Error("unpacked into a buffer one byte too short")
				}
			}
			if err := unpackHex(out, packed, append(hex, 0)); err == nil {
				t.Error("accepted a trailing hex byte")
			}
		})
	}
}

func TestUnpackHexRejectsBadEscapes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		packed, hex string
		size        int
	}{
		{"escape at the end", "ab\x00", "", 3},
		{"run past the hex frame", "\x00\x02", "\x01", 4},
		{"run past the lines", "\x00\x02", "\x01\x02", 3},
		{"zero past the lines", "ab\x00\x00", "", 2},
	} {
		if err := unpackHex(make([]byte, tc.size), []byte(tc.packed), []byte(tc.hex)); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// hexChunk encodes entries whose lines carry trace IDs (plus a literal
// 0x00), sealed in small blocks for Encode to merge as merge says.
func hexChunk(t testing.TB, enc Encoding, merge BlockMerge) []byte {
	c := NewMemChunkWithOptions(Options{Encoding: enc, BlockSize: 300, BlockMerge: merge})
	for i := range 12 {
		line := fmt.Sprintf("n=%d trace_id=%016x%016x\x00", i, uint64(i)*0x9E3779B97F4A7C15, uint64(i)*0xC2B2AE3D27D4EB4F)
		appendAll(t, c, []Entry{ent(int64(i), line)})
		if i%3 == 2 {
			if err := c.SealHead(); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVersion3PacksHexAndReadsItBack encodes lines full of hex IDs in
// every codec and merge mode, and checks that the blocks carry hex frames
// and yield the lines exactly, through full scans, needle searches and
// summaries.
func TestVersion3PacksHexAndReadsItBack(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	var es []Entry
	for i := range 3000 {
		var line string
		switch i % 4 {
		case 0:
			line = fmt.Sprintf(`{"level":"info","trace_id":"%016x%016x","n":%d}`, r.Uint64(), r.Uint64(), i)
		case 1:
			line = fmt.Sprintf("ts=%d sha=%016x%016x%08x odd=%016x0", i, r.Uint64(), r.Uint64(), r.Uint32(), r.Uint64())
		case 2:
			line = fmt.Sprintf("plain line %d with a zero \x00 byte", i)
		default:
			line = fmt.Sprintf("UPPER=%016X lower=%016x", r.Uint64(), r.Uint64())
		}
		es = append(es, ent(int64(i)*1000, line))
	}
	for _, enc := range Encodings() {
		for _, merge := range []BlockMerge{MergeRecompress, MergeConcat, MergeOff} {
			t.Run(fmt.Sprintf("%s/%s", enc, merge), func(t *testing.T) {
				c := NewMemChunkWithOptions(Options{Encoding: enc, BlockSize: 16 << 10, TargetSize: math.MaxInt, BlockMerge: merge, NgramBitsPerGram: 1})
				for i, e := range es {
					appendAll(t, c, []Entry{e})
					if i%100 == 99 {
						if err := c.SealHead(); err != nil {
							t.Fatal(err)
						}
					}
				}
				b, err := c.Encode()
				if err != nil {
					t.Fatal(err)
				}
				d, err := Decode(b)
				if err != nil {
					t.Fatal(err)
				}
				if d.Version() != FormatV3 {
					t.Fatalf("version %d", d.Version())
				}
				packed := 0
				for i := range d.blocks {
					l, err := parseHexLayout(d.blocks[i].data[d.blocks[i].ColumnsLen+crcSize:], int(d.blocks[i].LineBytes))
					if err != nil {
						t.Fatal(err)
					}
					if l.hexLen > 0 {
						packed++
					}
				}
				if packed != len(d.blocks) {
					t.Errorf("%d of %d blocks have a hex frame", packed, len(d.blocks))
				}
				for _, dir := range []Direction{Forward, Backward} {
					sameEntries(t, drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)), want(es, math.MinInt64, math.MaxInt64, dir))
				}
				needle := string(es[1001].Line[12:40])
				it := d.IteratorMatching(bg, math.MinInt64, math.MaxInt64, Forward, nil, NewNeedles([][]string{{needle}}), nil)
				found := 0
				for it.Next() {
					if bytes.Contains(it.At().Line, []byte(needle)) {
						found++
					}
				}
				if err := it.Err(); err != nil || found != 1 {
					t.Errorf("needle search found %d lines, %v", found, err)
				}
			})
		}
	}
}

// packHexReference is packHex written the obvious way, byte by byte: the
// specification packHex's probing must match exactly.
func packHexReference(lines []byte) (packed, hex []byte) {
	for i := 0; i < len(lines); {
		if hexValue[lines[i]] == 0xff {
			if lines[i] == hexEscape {
				packed = append(packed, hexEscape, 0)
			} else {
				packed = append(packed, lines[i])
			}
			i++
			continue
		}
		j := i
		for j < len(lines) && hexValue[lines[j]] != 0xff {
			j++
		}
		if j-i < minHexRun {
			packed = append(packed, lines[i:j]...)
			i = j
			continue
		}
		for pairs := (j - i) / 2; pairs > 0; {
			n := min(pairs, maxHexPairs)
			packed = append(packed, hexEscape, byte(n))
			for k := range n {
				hex = append(hex, hexValue[lines[i+2*k]]<<4|hexValue[lines[i+2*k+1]])
			}
			i += 2 * n
			pairs -= n
		}
		packed = append(packed, lines[i:j]...)
		i = j
	}
	return packed, hex
}

func TestPackHexMatchesTheByteByByteReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	alphabet := []byte("0123456789abcdef0123456789abcdefxyz =\"\x00ABCDEF")
	for round := range 2000 {
		n := r.IntN(700)
		lines := make([]byte, n)
		for i := range lines {
			lines[i] = alphabet[r.IntN(len(alphabet))]
			if round%3 == 0 && r.IntN(40) == 0 { // long runs now and then
				for k := 0; k < 20+r.IntN(600) && i < n-1; k++ {
					i++
					lines[i] = "0123456789abcdef"[r.IntN(16)]
				}
			}
		}
		p1, h1 := packHex(nil, nil, lines)
		p2, h2 := packHexReference(lines)
		if !bytes.Equal(p1, p2) || !bytes.Equal(h1, h2) {
			t.Fatalf("round %d: packHex differs from the reference for %q:\n%q %x\n%q %x", round, lines, p1, h1, p2, h2)
		}
		out := make([]byte, len(lines))
		if err := unpackHex(out, p1, h1); err != nil || !bytes.Equal(out, lines) {
			t.Fatalf("round %d: round trip: %v", round, err)
		}
	}
}

func BenchmarkPackHex(b *testing.B) {
	es, _ := benchEntries(benchChunkRaw)
	var lines []byte
	for _, e := range es {
		lines = append(lines, e.Line...)
	}
	b.SetBytes(int64(len(lines)))
	var packed, hex []byte
	for b.Loop() {
		packed, hex = packHex(packed[:0], hex[:0], lines)
	}
}

func BenchmarkPackHexReference(b *testing.B) {
	es, _ := benchEntries(benchChunkRaw)
	var lines []byte
	for _, e := range es {
		lines = append(lines, e.Line...)
	}
	b.SetBytes(int64(len(lines)))
	for b.Loop() {
		packHexReference(lines)
	}
}

func BenchmarkUnpackHex(b *testing.B) {
	es, _ := benchEntries(benchChunkRaw)
	var lines []byte
	for _, e := range es {
		lines = append(lines, e.Line...)
	}
	packed, hex := packHex(nil, nil, lines)
	out := make([]byte, len(lines))
	b.SetBytes(int64(len(lines)))
	for b.Loop() {
		if err := unpackHex(out, packed, hex); err != nil {
			b.Fatal(err)
		}
	}
}
