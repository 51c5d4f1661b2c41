package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func emitAll(recs [][]byte) func(emit func([]byte) error) error {
	return func(emit func([]byte) error) error {
		for _, r := range recs {
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	}
}

func checkpointFiles(t *testing.T, dir string) []string {
	t.Helper()
	l, err := listDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range l.checkpoints {
		names = append(names, c.name)
	}
	return names
}

func TestCheckpointThenLaterSegmentsReplayInOrderAndOldSegmentsAreGone(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir, SegmentSize: 4 << 10})
	for i := range 40 { // several segments
		if err := w.Log(testRecord(uint64(i), 300)); err != nil {
			t.Fatal(err)
		}
	}
	upto, err := w.NextSegment()
	if err != nil {
		t.Fatal(err)
	}
	if upto < 2 {
		t.Fatalf("expected rotation before NextSegment, closed segment %d", upto)
	}
	state := [][]byte{[]byte("state-a"), bytes.Repeat([]byte("b"), 3<<20), {}}
	if err := w.Checkpoint(upto, emitAll(state)); err != nil {
		t.Fatal(err)
	}
	var after [][]byte
	for i := range 5 {
		r := testRecord(uint64(1000+i), 100)
		if err := w.Log(r); err != nil {
			t.Fatal(err)
		}
		after = append(after, r)
	}
	w.Close()

	for _, s := range segmentFiles(t, dir) {
		i, _ := parseIndex(s)
		if i <= upto {
			t.Errorf("segment %s <= checkpoint %d still on disk", s, upto)
		}
	}
	if got := checkpointFiles(t, dir); len(got) != 1 || got[0] != CheckpointName(upto) {
		t.Fatalf("checkpoints on disk %v, want [%s]", got, CheckpointName(upto))
	}
	got, st := replayAll(t, dir)
	equalRecords(t, got, append(slices.Clone(state), after...))
	if st.Checkpoint != upto || st.CheckpointRecords != len(state) || st.FirstSegment != upto+1 {
		t.Fatalf("stats %+v, want checkpoint %d with %d records, first segment %d", st, upto, len(state), upto+1)
	}
}

func TestNewerCheckpointDeletesOlderOne(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir})
	for round := range 3 {
		if err := w.Log(testRecord(uint64(round), 10)); err != nil {
			t.Fatal(err)
		}
		upto, _ := w.NextSegment()
		if err := w.Checkpoint(upto, emitAll([][]byte{[]byte(fmt.Sprint("cp", round))})); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if got := checkpointFiles(t, dir); len(got) != 1 || got[0] != CheckpointName(2) {
		t.Fatalf("checkpoints %v, want only %s", got, CheckpointName(2))
	}
	got, _ := replayAll(t, dir)
	equalRecords(t, got, [][]byte{[]byte("cp2")})
}

func TestCheckpointRefusesTheSegmentBeingWritten(t *testing.T) {
	w := openTest(t, Options{Dir: t.TempDir()})
	if err := w.Checkpoint(0, emitAll(nil)); err == nil {
		t.Fatal("Checkpoint of the current segment succeeded")
	}
	if err := w.Truncate(0); err == nil {
		t.Fatal("Truncate of the current segment succeeded")
	}
	if err := w.Checkpoint(-1, emitAll(nil)); err == nil {
		t.Fatal("Checkpoint(-1) succeeded")
	}
}

func TestCheckpointRefusesToGoBackwards(t *testing.T) {
	w := openTest(t, Options{Dir: t.TempDir()})
	w.NextSegment()
	w.NextSegment()
	if err := w.Checkpoint(1, emitAll(nil)); err != nil {
		t.Fatal(err)
	}
	if err := w.Checkpoint(0, emitAll(nil)); err == nil {
		t.Fatal("Checkpoint(0) after Checkpoint(1) succeeded")
	}
}

func TestFailedCheckpointLeavesNoTraceAndKeepsSegments(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir})
	rec := testRecord(1, 50)
	w.Log(rec)
	upto, _ := w.NextSegment()
	boom := errors.New("state snapshot failed")
	err := w.Checkpoint(upto, func(emit func([]byte) error) error {
		emit([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Checkpoint = %v, want the callback's error", err)
	}
	w.Close()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != lockName && !isSegmentName(e.Name()) {
			t.Errorf("unexpected file %s after failed checkpoint", e.Name())
		}
	}
	got, _ := replayAll(t, dir)
	equalRecords(t, got, [][]byte{rec})
}

func isSegmentName(s string) bool { _, ok := parseIndex(s); return ok }

func TestEmitAfterWriteReturnedFails(t *testing.T) {
	w := openTest(t, Options{Dir: t.TempDir()})
	w.NextSegment()
	var kept func([]byte) error
	if err := w.Checkpoint(0, func(emit func([]byte) error) error { kept = emit; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := kept([]byte("late")); err == nil {
		t.Fatal("emit after the callback returned succeeded")
	}
}

// Crash windows of Checkpoint, simulated by leaving the files a crash at
// each point would leave. FORMAT.md explains why each is safe.
func TestCheckpointCrashWindowsLoseNothing(t *testing.T) {
	seg := func(i int, ids ...uint64) [][]byte {
		var recs [][]byte
		for _, id := range ids {
			recs = append(recs, testRecord(uint64(i)*100+id, 40))
		}
		return recs
	}
	state := [][]byte{[]byte("state of segments 0..1")}
	tests := []struct {
		name string
		// build leaves the directory as the crash would
		build func(t *testing.T, dir string)
		want  [][]byte
	}{
		{
			name: "crash while writing the tmp file: replay ignores it",
			build: func(t *testing.T, dir string) {
				writeSegments(t, dir, seg(0, 1, 2), seg(1, 1), seg(2, 1))
				writeCheckpointFile(t, dir, CheckpointName(1)+tmpSuffix, state, true)
			},
			want: slices.Concat(seg(0, 1, 2), seg(1, 1), seg(2, 1)),
		},
		{
			name: "crash after fsync of tmp, before rename: replay ignores it",
			build: func(t *testing.T, dir string) {
				writeSegments(t, dir, seg(0, 1, 2), seg(1, 1), seg(2, 1))
				writeCheckpointFile(t, dir, CheckpointName(1)+tmpSuffix, state, false)
			},
			want: slices.Concat(seg(0, 1, 2), seg(1, 1), seg(2, 1)),
		},
		{
			name: "crash after rename, before deleting segments: old segments are ignored",
			build: func(t *testing.T, dir string) {
				writeSegments(t, dir, seg(0, 1, 2), seg(1, 1), seg(2, 1))
				writeCheckpointFile(t, dir, CheckpointName(1), state, false)
			},
			want: slices.Concat(state, seg(2, 1)),
		},
		{
			name: "crash midway through deleting segments",
			build: func(t *testing.T, dir string) {
				writeSegments(t, dir, seg(0, 1, 2), seg(1, 1), seg(2, 1))
				os.Remove(filepath.Join(dir, SegmentName(0)))
				writeCheckpointFile(t, dir, CheckpointName(1), state, false)
			},
			want: slices.Concat(state, seg(2, 1)),
		},
		{
			name: "crash before deleting the older checkpoint: newest wins",
			build: func(t *testing.T, dir string) {
				writeSegments(t, dir, nil, nil, seg(2, 1), seg(3, 1))
				writeCheckpointFile(t, dir, CheckpointName(0), [][]byte{[]byte("old state")}, false)
				writeCheckpointFile(t, dir, CheckpointName(1), state, false)
			},
			want: slices.Concat(state, seg(2, 1), seg(3, 1)),
		},
		{
			name: "everything after the checkpoint truncated away",
			build: func(t *testing.T, dir string) {
				writeCheckpointFile(t, dir, CheckpointName(1), state, false)
			},
			want: state,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.build(t, dir)
			got, _ := replayAll(t, dir)
			equalRecords(t, got, tc.want)

			// Open cleans up and continues after everything on disk; a new
			// record replays after the old ones.
			w := openTest(t, Options{Dir: dir})
			more := []byte("after restart")
			if err := w.Log(more); err != nil {
				t.Fatal(err)
			}
			w.Close()
			got, _ = replayAll(t, dir)
			equalRecords(t, got, append(slices.Clone(tc.want), more))
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if filepath.Ext(e.Name()) == tmpSuffix {
					t.Errorf("Open left %s behind", e.Name())
				}
			}
		})
	}
}

// writeSegments writes segment i with segs[i] (nil: no file).
func writeSegments(t *testing.T, dir string, segs ...[][]byte) {
	t.Helper()
	for i, recs := range segs {
		if recs == nil {
			continue
		}
		b := appendFileHeader(nil, kindSegment)
		for _, r := range recs {
			b = appendRecord(b, r, recordCRC(r))
		}
		if err := os.WriteFile(filepath.Join(dir, SegmentName(i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeCheckpointFile(t *testing.T, dir, name string, recs [][]byte, torn bool) {
	t.Helper()
	b := appendFileHeader(nil, kindCheckpoint)
	for _, r := range recs {
		b = appendRecord(b, r, recordCRC(r))
	}
	if torn {
		b = b[:len(b)-3]
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptCheckpointIsAnError(t *testing.T) {
	dir := t.TempDir()
	writeCheckpointFile(t, dir, CheckpointName(0), [][]byte{[]byte("aaaa"), []byte("bbbb")}, true)
	writeSegments(t, dir, nil, [][]byte{[]byte("x")})
	_, _, err := replayCollect(dir, ReplayOptions{Logger: quiet})
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Path != filepath.Join(dir, CheckpointName(0)) {
		t.Fatalf("Replay = %v, want a CorruptionError naming the checkpoint", err)
	}
	got, st, err := replayCollect(dir, ReplayOptions{Logger: quiet, SkipCorrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	equalRecords(t, got, [][]byte{[]byte("aaaa"), []byte("x")})
	if st.Corruptions != 1 {
		t.Fatalf("Corruptions = %d, want 1", st.Corruptions)
	}
}

func TestTruncateDeletesOnlyTheGivenSegments(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir})
	for i := range 4 {
		w.Log(testRecord(uint64(i), 10))
		w.NextSegment()
	}
	if err := w.Truncate(1); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got, want := segmentFiles(t, dir), []string{"00000002", "00000003", "00000004"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
	got, _ := replayAll(t, dir)
	equalRecords(t, got, [][]byte{testRecord(2, 10), testRecord(3, 10)})
}

// Checkpoint, NextSegment and Truncate run while loggers keep appending;
// with the stop-the-world snapshot pattern every acknowledged record is
// replayed exactly once.
func TestCheckpointWhileLoggingReplaysEveryRecordOnce(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{Dir: dir, SegmentSize: 8 << 10})
	var (
		barrier sync.RWMutex
		stateMu sync.Mutex
		state   = map[uint64][]byte{}
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for g := range 4 {
		wg.Go(func() {
			for seq := uint64(0); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				id := uint64(g)<<32 | seq
				rec := testRecord(id, 50+int(seq%700))
				barrier.RLock()
				err := w.Log(rec)
				if err == nil {
					stateMu.Lock()
					state[id] = rec
					stateMu.Unlock()
				}
				barrier.RUnlock()
				if err != nil {
					t.Errorf("Log: %v", err)
					return
				}
			}
		})
	}
	for range 8 {
		time.Sleep(5 * time.Millisecond)
		barrier.Lock()
		upto, err := w.NextSegment()
		snap := make([][]byte, 0, len(state))
		for _, r := range state {
			snap = append(snap, r)
		}
		barrier.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Checkpoint(upto, emitAll(snap)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	if _, err := Replay(dir, func(rec []byte) error {
		id := binary.LittleEndian.Uint64(rec)
		if seen[id] {
			return fmt.Errorf("record %x replayed twice", id)
		}
		seen[id] = true
		if !bytes.Equal(rec, state[id]) {
			return fmt.Errorf("record %x: content differs from what was logged", id)
		}
		return nil
	}, quiet); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(state) {
		t.Fatalf("replayed %d records, %d were acknowledged", len(seen), len(state))
	}
	if len(checkpointFiles(t, dir)) != 1 {
		t.Fatalf("checkpoints on disk: %v, want one", checkpointFiles(t, dir))
	}
}
