package wal

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/s2"
)

func fuzzSeeds() [][]byte {
	valid := appendFileHeader(nil, kindSegment)
	for _, r := range [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte{0xAB}, 300), testRecord(3, 40)} {
		valid = appendRecord(valid, r, recordCRC(r))
	}
	if c, ok := compressInto(nil, bytes.Repeat([]byte("compressible "), 40)); ok {
		valid = appendFrame(valid, recS2, c, frameCRC(recS2, c))
	}
	flipped := bytes.Clone(valid)
	flipped[len(flipped)/2] ^= 0x10
	return [][]byte{
		nil,
		valid,
		valid[:len(valid)-1],
		valid[:fileHeaderSize+4],
		append(bytes.Clone(valid), make([]byte, 20)...),
		flipped,
		appendFileHeader(nil, kindSegment),
		[]byte("PLGW\x01\x01\x00\x00\x01\xff\xff\xff\xff\x00\x00\x00\x00"),
		[]byte("PLGW\x02\x01\x00\x00"),
	}
}

// FuzzDecode checks the decoder on arbitrary bytes: it never panics, never
// reads past the data, every record it returns is what its frame stores
// (raw or S2-decoded), and the accepted frames are exactly the valid prefix
// it reports, so nothing is invented or dropped.
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	br := bufio.NewReaderSize(nil, 4096) // small, to exercise the copy path too
	f.Fuzz(func(t *testing.T, data []byte) {
		var frames [][]byte
		br.Reset(bytes.NewReader(data))
		r := newRecordReader(br, int64(len(data)), kindSegment)
		err := r.readHeader()
		for err == nil {
			var rec []byte
			if rec, err = r.next(); err != nil {
				break
			}
			frame := r.frame
			want := frame[recordHeaderSize:]
			if frame[0] == recS2 {
				d, derr := s2.Decode(nil, want)
				if derr != nil {
					t.Fatalf("accepted an undecodable S2 frame: %v", derr)
				}
				want = d
			}
			if !bytes.Equal(rec, want) {
				t.Fatalf("record %d differs from what its frame stores", len(frames))
			}
			frames = append(frames, bytes.Clone(frame))
		}
		if err == io.EOF {
			err = nil
		}
		end := int64(len(data))
		var fe *frameError
		switch {
		case err == nil:
		case errors.As(err, &fe):
			end = fe.Offset
			if end < 0 || end > int64(len(data)) {
				t.Fatalf("invalid frame reported at %d of %d bytes", end, len(data))
			}
		case errors.Is(err, ErrUnknownFormat):
			if len(frames) > 0 {
				t.Fatal("records decoded from a file with a bad header")
			}
			return
		default:
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
		if end == 0 {
			if len(frames) > 0 {
				t.Fatal("records decoded before the header")
			}
			return
		}
		re := appendFileHeader(nil, kindSegment)
		for _, fr := range frames {
			re = append(re, fr...)
		}
		if !bytes.Equal(re, data[:end]) {
			t.Fatalf("%d accepted frames = %d bytes, differ from the %d-byte valid prefix", len(frames), len(re), end)
		}
	})
}

// FuzzReplay writes arbitrary bytes as the newest segment after a valid
// one and replays the directory: the valid segment always comes back,
// replay either repairs the tail or refuses an unknown format, and a second
// replay sees exactly the same records with nothing left to repair.
func FuzzReplay(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	first := appendFileHeader(nil, kindSegment)
	firstRec := []byte("first segment record")
	first = appendRecord(first, firstRec, recordCRC(firstRec))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, SegmentName(0)), first, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, SegmentName(1)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		recs, st, err := replayCollect(dir, ReplayOptions{Logger: quiet})
		if err != nil {
			if !errors.Is(err, ErrUnknownFormat) {
				t.Fatalf("Replay of a damaged newest segment failed: %v", err)
			}
			return
		}
		if len(recs) == 0 || !bytes.Equal(recs[0], firstRec) {
			t.Fatal("record of the intact first segment lost")
		}
		again, st2, err := replayCollect(dir, ReplayOptions{Logger: quiet})
		if err != nil {
			t.Fatalf("second Replay: %v", err)
		}
		if st2.TruncatedBytes != 0 {
			t.Fatalf("second Replay repaired again: first %+v, second %+v", st, st2)
		}
		if len(again) != len(recs) {
			t.Fatalf("second Replay saw %d records, first %d", len(again), len(recs))
		}
		for i := range recs {
			if !bytes.Equal(recs[i], again[i]) {
				t.Fatalf("record %d differs between replays", i)
			}
		}
	})
}
