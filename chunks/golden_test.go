package chunks

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata golden chunks")

// goldenEntries is the chunk FORMAT.md walks through byte by byte: two
// blocks, one entry with structured metadata.
func goldenEntries() []Entry {
	return []Entry{
		ent(1000, "hello"),
		ent(1005, "world", "trace", "ab"),
		ent(2000, "bye"),
	}
}

// TestGoldenChunk pins the persisted formats: encoding the golden entries
// must give exactly the bytes in testdata, and those bytes must decode to
// the same entries. A failure here means the format changed; that needs
// a new FormatVersion, not a regenerated golden file. Versions 1 and 2
// are still pinned because stores hold chunks written in them.
func TestGoldenChunk(t *testing.T) {
	for _, v := range []byte{FormatV1, FormatV2, FormatV3} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) { testGolden(t, v) })
	}
}

func testGolden(t *testing.T, version byte) {
	c := NewMemChunkWithOptions(Options{Encoding: None, BlockSize: 15, version: version})
	appendAll(t, c, goldenEntries())
	got, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d := checkGolden(t, fmt.Sprintf("golden-v%d-none.hex", version), got, goldenEntries())
	if !bytes.Equal(got[:4], []byte("PLGC")) || got[4] != version || d.Version() != version {
		t.Fatalf("magic %q, version %d (decoded %d)", got[:4], got[4], d.Version())
	}
}

// TestGoldenNgramChunk pins filter kind 2: a one-block chunk whose filter
// FORMAT.md decodes by hand.
func TestGoldenNgramChunk(t *testing.T) {
	c := NewMemChunkWithOptions(Options{Encoding: None, NgramBitsPerGram: 1, version: FormatV2})
	es := []Entry{ent(1000, "hello world"), ent(2000, "id=2f1bd0b6")}
	appendAll(t, c, es)
	got, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d := checkGolden(t, "golden-ngram.hex", got, es)
	if !d.BlockMayMatch(0, NewNeedles([][]string{{"2f1bd0b6"}})) || d.BlockMayMatch(0, NewNeedles([][]string{{"2f1bd0b7"}})) {
		t.Fatal("golden filter answers wrongly")
	}
}

// checkGolden compares the encoded chunk got with testdata/name (rewritten
// with -update), decodes it and checks that it yields want.
func checkGolden(t *testing.T, name string, got []byte, want []Entry) *Chunk {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, []byte(hex.Dump(got)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if dump := hex.Dump(got); dump != string(golden) {
		t.Fatalf("encoded chunk differs from %s:\ngot:\n%s\nwant:\n%s", path, dump, golden)
	}
	d, err := Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	sameEntries(t, drain(t, d.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)), want)
	return d
}

// TestGoldenHexChunk pins version 3's hex frame: a one-block chunk whose
// line holds a 32-digit trace ID, an odd 17-digit run, a short run and a
// literal 0x00, which FORMAT.md decodes by hand.
func TestGoldenHexChunk(t *testing.T) {
	c := NewMemChunkWithOptions(Options{Encoding: None})
	es := []Entry{ent(1000, "id=2f1bd0b6b6a951ba3941fc7dd40642a3 n=0123456789abcdef0 x=beef\x00")}
	appendAll(t, c, es)
	got, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if d := checkGolden(t, "golden-v3-hex.hex", got, es); d.Version() != FormatV3 {
		t.Fatalf("version %d", d.Version())
	}
}
