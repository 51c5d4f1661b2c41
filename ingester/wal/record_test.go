package wal

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readHexGolden(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var digits strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSegmentBytesMatchTheDocumentedFormat(t *testing.T) {
	dir := t.TempDir()
	writeWAL(t, dir, Options{}, [][]byte{[]byte("hi"), {}})
	got, err := os.ReadFile(filepath.Join(dir, SegmentName(0)))
	if err != nil {
		t.Fatal(err)
	}
	if want := readHexGolden(t, "segment-v1.hex"); !bytes.Equal(got, want) {
		t.Fatalf("segment bytes\n got %x\nwant %x", got, want)
	}
}

func TestCompressedSegmentFromTheDocumentedFormatDecodes(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, SegmentName(0)), readHexGolden(t, "segment-v1-s2.hex"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, st := replayAll(t, dir)
	equalRecords(t, got, [][]byte{bytes.Repeat([]byte("plg "), 100)})
	if st.TruncatedBytes != 0 {
		t.Fatalf("golden segment needed repair: %+v", st)
	}
}
