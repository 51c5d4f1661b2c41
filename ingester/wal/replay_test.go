package wal

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTestReader() *bufio.Reader { return bufio.NewReaderSize(nil, readBufferSize) }

// writeWAL logs recs (one Log call each) into a fresh WAL in dir and closes it.
func writeWAL(t testing.TB, dir string, opts Options, recs [][]byte) {
	t.Helper()
	opts.Dir = dir
	w := openTest(t, opts)
	for _, r := range recs {
		if err := w.Log(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func makeRecords(n, size int) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = testRecord(uint64(i), size+i)
	}
	return recs
}

func TestTornTailAtEveryByteOfTheLastRecordIsTruncated(t *testing.T) {
	t.Run("raw frame", func(t *testing.T) { tornTailAtEveryByte(t, makeRecords(5, 120)) })
	t.Run("compressed frame", func(t *testing.T) {
		recs := makeRecords(4, 120)
		tornTailAtEveryByte(t, append(recs, logLine(9, 1500)))
	})
}

func tornTailAtEveryByte(t *testing.T, recs [][]byte) {
	src := t.TempDir()
	writeWAL(t, src, Options{}, recs)
	seg := filepath.Join(src, SegmentName(0))
	full, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// Find where the last frame starts: after the frames of recs[:4].
	br := newTestReader()
	br.Reset(bytes.NewReader(full))
	r := newRecordReader(br, int64(len(full)), kindSegment)
	if err := r.readHeader(); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := r.next(); err != nil {
			t.Fatal(err)
		}
	}
	lastStart := int(r.off)
	t.Logf("last frame: type %d, %d bytes", full[lastStart], len(full)-lastStart)

	for cut := lastStart; cut < len(full); cut++ {
		dir := t.TempDir()
		path := filepath.Join(dir, SegmentName(0))
		if err := os.WriteFile(path, full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		got, st, err := replayCollect(dir, ReplayOptions{Logger: quiet})
		if err != nil {
			t.Fatalf("cut at %d: Replay: %v", cut, err)
		}
		equalRecords(t, got, recs[:4])
		if st.TruncatedBytes != int64(cut-lastStart) {
			t.Fatalf("cut at %d: TruncatedBytes = %d, want %d", cut, st.TruncatedBytes, cut-lastStart)
		}
		fi, _ := os.Stat(path)
		if fi.Size() != int64(lastStart) {
			t.Fatalf("cut at %d: segment left at %d bytes, want truncated to %d", cut, fi.Size(), lastStart)
		}
		// The WAL continues in a new segment, and the repaired one replays
		// cleanly before it. (Checked at a sample of offsets: it costs
		// several fsyncs.)
		if cut != lastStart && cut != len(full)-1 && (cut-lastStart)%16 != 5 {
			continue
		}
		more := testRecord(99, 10)
		writeWAL(t, dir, Options{}, [][]byte{more})
		got, st = replayAll(t, dir)
		equalRecords(t, got, append(append([][]byte{}, recs[:4]...), more))
		if st.TruncatedBytes != 0 {
			t.Fatalf("cut at %d: second replay truncated again: %+v", cut, st)
		}
	}
}

func TestOpenRepairsATornTailWithoutReplay(t *testing.T) {
	dir := t.TempDir()
	recs := makeRecords(3, 50)
	writeWAL(t, dir, Options{}, recs)
	seg := filepath.Join(dir, SegmentName(0))
	full, _ := os.ReadFile(seg)
	if err := os.WriteFile(seg, full[:len(full)-7], 0o644); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	w := openTest(t, Options{Dir: dir, Registerer: reg})
	more := testRecord(7, 30)
	if err := w.Log(more); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got := testutil.ToFloat64(w.m.corruptions.WithLabelValues(corruptionTornTail)); got != 1 {
		t.Fatalf("plg_wal_corruptions_total{kind=torn_tail} = %v, want 1", got)
	}
	// Without the repair in Open, segment 0 would now be a corrupt
	// non-newest segment and this replay would fail.
	got, _ := replayAll(t, dir)
	equalRecords(t, got, append(append([][]byte{}, recs[:2]...), more))
}

func TestInvalidTailsOfTheNewestSegmentAreRepaired(t *testing.T) {
	recs := makeRecords(4, 64)
	tests := []struct {
		name   string
		damage func(b []byte) []byte
		keep   int // records that must survive
	}{
		{name: "zero-filled tail after a crash", damage: func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, keep: 4},
		{name: "garbage appended", damage: func(b []byte) []byte { return append(b, []byte("not a record at all")...) }, keep: 4},
		{name: "last payload bit flip", damage: func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, keep: 3},
		{name: "last header length inflated", damage: func(b []byte) []byte {
			b[len(b)-len(recs[3])-recordHeaderSize+1] = 0xff
			return b
		}, keep: 3},
		{name: "header cut short", damage: func(b []byte) []byte { return b[:5] }, keep: 0},
		{name: "zero-filled header", damage: func(b []byte) []byte { return make([]byte, 64) }, keep: 0},
		{name: "empty file", damage: func(b []byte) []byte { return nil }, keep: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeWAL(t, dir, Options{}, recs)
			seg := filepath.Join(dir, SegmentName(0))
			b, _ := os.ReadFile(seg)
			if err := os.WriteFile(seg, tc.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			got, _ := replayAll(t, dir)
			equalRecords(t, got, recs[:tc.keep])
			got, st := replayAll(t, dir)
			equalRecords(t, got, recs[:tc.keep])
			if st.TruncatedBytes != 0 {
				t.Fatalf("second replay still found damage: %+v", st)
			}
		})
	}
}

func TestUnknownFormatIsNeverTruncated(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []byte
	}{
		{name: "newer version", header: []byte{'P', 'L', 'G', 'W', formatVersion + 1, kindSegment, 0, 0}},
		{name: "foreign file", header: []byte("#!/bin/sh\n")},
		{name: "checkpoint named as segment", header: []byte{'P', 'L', 'G', 'W', formatVersion, kindCheckpoint, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, SegmentName(0))
			content := append(bytes.Clone(tc.header), "whatever follows"...)
			os.WriteFile(path, content, 0o644)
			_, _, err := replayCollect(dir, ReplayOptions{Logger: quiet, SkipCorrupt: true})
			if !errors.Is(err, ErrUnknownFormat) {
				t.Fatalf("Replay = %v, want an unsupported-format error", err)
			}
			if _, err := Open(Options{Dir: dir, Logger: quiet}); !errors.Is(err, ErrUnknownFormat) {
				t.Fatalf("Open = %v, want an unsupported-format error", err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, content) {
				t.Fatal("file of unknown format was modified")
			}
		})
	}
}

// threeSegments writes 3 records into each of segments 0, 1 and 2.
func threeSegments(t *testing.T, dir string) [][]byte {
	t.Helper()
	w := openTest(t, Options{Dir: dir})
	var all [][]byte
	for s := range 3 {
		for i := range 3 {
			r := testRecord(uint64(s*10+i), 200)
			if err := w.Log(r); err != nil {
				t.Fatal(err)
			}
			all = append(all, r)
		}
		if s < 2 {
			if _, err := w.NextSegment(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return all
}

func TestCorruptionOutsideTheNewestSegmentIsAnErrorNamingFileAndOffset(t *testing.T) {
	dir := t.TempDir()
	all := threeSegments(t, dir)
	seg1 := filepath.Join(dir, SegmentName(1))
	b, _ := os.ReadFile(seg1)
	secondRecord := fileHeaderSize + recordHeaderSize + 200
	b[secondRecord+recordHeaderSize+50] ^= 0x40 // payload of record 2 of segment 1
	os.WriteFile(seg1, b, 0o644)

	reg := prometheus.NewRegistry()
	_, _, err := replayCollect(dir, ReplayOptions{Logger: quiet, Registerer: reg})
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		t.Fatalf("Replay = %v, want *CorruptionError", err)
	}
	if ce.Path != seg1 || ce.Offset != int64(secondRecord) {
		t.Fatalf("corruption reported at %s:%d, want %s:%d", ce.Path, ce.Offset, seg1, secondRecord)
	}
	if fi, _ := os.Stat(seg1); fi.Size() != int64(len(b)) {
		t.Fatal("corrupt middle segment was modified")
	}

	got, st, err := replayCollect(dir, ReplayOptions{Logger: quiet, SkipCorrupt: true, Registerer: reg})
	if err != nil {
		t.Fatalf("Replay with SkipCorrupt: %v", err)
	}
	// Segment 1 keeps only its first record; segment 2 is intact.
	want := append(append([][]byte{}, all[:4]...), all[6:]...)
	equalRecords(t, got, want)
	if st.Corruptions != 1 || st.SkippedBytes != int64(len(b)-secondRecord) {
		t.Fatalf("stats %+v, want 1 corruption and %d skipped bytes", st, len(b)-secondRecord)
	}
	if c := testutil.ToFloat64(newMetrics(reg).corruptions.WithLabelValues(corruptionCorrupt)); c != 2 {
		t.Fatalf("plg_wal_corruptions_total{kind=corrupt} = %v, want 2 (one per replay)", c)
	}
}

func TestMissingSegmentInTheMiddleIsAnError(t *testing.T) {
	dir := t.TempDir()
	all := threeSegments(t, dir)
	os.Remove(filepath.Join(dir, SegmentName(1)))
	_, _, err := replayCollect(dir, ReplayOptions{Logger: quiet})
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Path != filepath.Join(dir, SegmentName(1)) {
		t.Fatalf("Replay = %v, want a CorruptionError naming segment 1", err)
	}
	got, st, err := replayCollect(dir, ReplayOptions{Logger: quiet, SkipCorrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	equalRecords(t, got, append(append([][]byte{}, all[:3]...), all[6:]...))
	if st.Corruptions != 1 {
		t.Fatalf("Corruptions = %d, want 1", st.Corruptions)
	}
}

func TestReplayStopsAtTheCallbacksError(t *testing.T) {
	dir := t.TempDir()
	writeWAL(t, dir, Options{}, makeRecords(5, 10))
	stop := errors.New("stop")
	n := 0
	st, err := Replay(dir, func([]byte) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	}, quiet)
	if !errors.Is(err, stop) {
		t.Fatalf("Replay = %v, want the callback's error", err)
	}
	var ce *CorruptionError
	if errors.As(err, &ce) {
		t.Fatal("a callback error was reported as corruption")
	}
	if n != 3 || st.Records != 2 {
		t.Fatalf("callback ran %d times, %d records counted; want 3 and 2", n, st.Records)
	}
}

func TestReplayOfAMissingDirectoryIsEmpty(t *testing.T) {
	st, err := Replay(filepath.Join(t.TempDir(), "nope"), func([]byte) error { return nil }, quiet)
	if err != nil || st.Records != 0 || st.Checkpoint != -1 || st.FirstSegment != -1 {
		t.Fatalf("Replay of missing dir = %+v, %v", st, err)
	}
}

func TestReplayWhileTheWALIsOpenNeverTruncatesTheLiveSegment(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir})
	recs := makeRecords(2, 30)
	for _, r := range recs {
		if err := w.Log(r); err != nil {
			t.Fatal(err)
		}
	}
	// An incomplete frame at the end of the live segment, as a write in
	// flight would look.
	path := filepath.Join(dir, SegmentName(0))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{recFull, 200, 0, 0, 0, 1, 2})
	f.Close()
	before, _ := os.Stat(path)
	got, st := replayAll(t, dir)
	equalRecords(t, got, recs)
	after, _ := os.Stat(path)
	if after.Size() != before.Size() || st.TruncatedBytes != 0 {
		t.Fatalf("live segment truncated from %d to %d bytes (stats %+v)", before.Size(), after.Size(), st)
	}
}
