package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// logLine returns a log-like record: repetitive structure, varying values,
// which is what the ingester's records mostly hold.
func logLine(i, size int) []byte {
	var b []byte
	for n := 0; len(b) < size; n++ {
		b = fmt.Appendf(b, `ts=2026-11-22T05:%02d:%02d.%06dZ level=info caller=handler.go:%d msg="request served" path=/api/v1/orders/%d status=200 duration_ms=%d`+"\n",
			n%60, i%60, i*7919%1000000, 100+n%50, i*31+n, n*13%997)
	}
	return b[:size]
}

func randomBytes(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// frameTypes returns the frame type of every record of a segment or
// checkpoint file.
func frameTypes(t *testing.T, path string, kind byte) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	br := newTestReader()
	br.Reset(f)
	r := newRecordReader(br, fi.Size(), kind)
	if err := r.readHeader(); err != nil {
		t.Fatal(err)
	}
	var types []byte
	for {
		if _, err := r.next(); err != nil {
			break
		}
		types = append(types, r.frame[0])
	}
	return types
}

func TestCompressStoresOnlyRecordsThatShrink(t *testing.T) {
	recs := [][]byte{
		logLine(1, 100),               // too small to bother
		logLine(2, 20<<10),            // compressible
		randomBytes(3, 4<<10),         // incompressible
		{},                            // empty
		logLine(4, 3<<20),             // larger than the read buffer
		bytes.Repeat([]byte{0}, 5000), // extremely compressible
	}
	wantTypes := []byte{recFull, recS2, recFull, recFull, recS2, recS2}
	dir := t.TempDir()
	writeWAL(t, dir, Options{}, recs)
	got, _ := replayAll(t, dir)
	equalRecords(t, got, recs)
	seg := filepath.Join(dir, SegmentName(0))
	if types := frameTypes(t, seg, kindSegment); !bytes.Equal(types, wantTypes) {
		t.Fatalf("frame types %v, want %v", types, wantTypes)
	}
	var raw int
	for _, r := range recs {
		raw += recordHeaderSize + len(r)
	}
	fi, _ := os.Stat(seg)
	if fi.Size() > int64(raw)/2 {
		t.Fatalf("compressed segment is %d bytes for %d bytes of frames; log lines should shrink more than 2x", fi.Size(), raw)
	}
}

func TestCompressedAndRawSegmentsReplayTogether(t *testing.T) {
	dir := t.TempDir()
	var want [][]byte
	for run, compress := range []bool{false, true, false, true} {
		w := openTest(t, Options{Dir: dir, NoCompression: !compress, SegmentSize: 16 << 10})
		for i := range 20 {
			r := logLine(run*100+i, 500+i*100)
			if err := w.Log(r); err != nil {
				t.Fatal(err)
			}
			want = append(want, r)
		}
		if run == 2 {
			upto, _ := w.NextSegment()
			state := slices.Clone(want)
			if err := w.Checkpoint(upto, emitAll(state)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got, st := replayAll(t, dir)
	equalRecords(t, got, want)
	if st.Checkpoint < 0 {
		t.Fatal("checkpoint not used")
	}
}

func TestCompressedCheckpointRoundTrips(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir})
	upto, _ := w.NextSegment()
	state := [][]byte{logLine(1, 64<<10), randomBytes(2, 1000), logLine(3, 10)}
	if err := w.Checkpoint(upto, emitAll(state)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if types := frameTypes(t, filepath.Join(dir, CheckpointName(upto)), kindCheckpoint); !bytes.Equal(types, []byte{recS2, recFull, recFull}) {
		t.Fatalf("checkpoint frame types %v", types)
	}
	got, _ := replayAll(t, dir)
	equalRecords(t, got, state)
}

func TestUndecodableCompressedFrameIsCorruption(t *testing.T) {
	garbage := []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3} // claims 4 GiB
	bad := appendFileHeader(nil, kindSegment)
	bad = appendFrame(bad, recS2, garbage, frameCRC(recS2, garbage))
	good := appendFileHeader(nil, kindSegment)
	good = appendRecord(good, []byte("ok"), recordCRC([]byte("ok")))

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, SegmentName(0)), bad, 0o644)
	os.WriteFile(filepath.Join(dir, SegmentName(1)), good, 0o644)
	_, _, err := replayCollect(dir, ReplayOptions{Logger: quiet})
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Offset != fileHeaderSize {
		t.Fatalf("Replay = %v, want corruption at offset %d of segment 0", err, fileHeaderSize)
	}
}
