package index

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestFormatGolden pins the byte layout of every version: segments
// already in object storage must stay readable, so any change to what
// Write emits for the same input must be deliberate (and come with a
// version bump). Version 1 has no chunk locations; version 2's fixture
// puts most chunks in packs.
func TestFormatGolden(t *testing.T) {
	t.Run("v1", func(t *testing.T) { testGolden(t, 1, goldenFixture()) })
	t.Run("v2", func(t *testing.T) { testGolden(t, 2, packed(goldenFixture())) })
}

func testGolden(t *testing.T, v byte, fixture []Series) {
	path := filepath.Join("testdata", fmt.Sprintf("fixture-v%d.idx", v))
	got, err := WriteVersion(fixture, v)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestFormatGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Write output differs from %s: the on-disk format changed", path)
	}
	r := mustOpen(t, want)
	if r.Version() != v {
		t.Errorf("Version() = %d, want %d", r.Version(), v)
	}
	ss, err := r.Select(minTime, maxTime)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffSeries(ss, naiveSelect(fixture, minTime, maxTime)); d != "" {
		t.Errorf("golden segment reads back wrong: %s", d)
	}
}

// goldenFixture is fixture with fingerprints fixed here rather than taken
// from labels.Hash, whose output is not part of our format.
func goldenFixture() []Series {
	ss := fixture()
	for i := range ss {
		fp := uint64(i+1) * 0x9e3779b97f4a7c15
		ss[i].Fingerprint = fp
		for j := range ss[i].Chunks {
			ss[i].Chunks[j].Fingerprint = fp
		}
	}
	return ss
}
