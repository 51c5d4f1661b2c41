package index

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestFormatGolden pins the version 1 byte layout: segments already in
// object storage must stay readable, so any change to what Write emits for
// the same input must be deliberate (and come with a version bump).
func TestFormatGolden(t *testing.T) {
	path := filepath.Join("testdata", "fixture-v1.idx")
	got := mustWrite(t, goldenFixture()...)
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
	ss, err := mustOpen(t, want).Select(minTime, maxTime)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffSeries(ss, naiveSelect(goldenFixture(), minTime, maxTime)); d != "" {
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
