package index

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// recrc recomputes every section CRC and the TOC CRC of b in place, so a
// test can plant structural damage that checksums do not catch. Sections
// whose TOC entry points outside b are left alone.
func recrc(b []byte) {
	if len(b) < headerLen {
		return
	}
	tl := tocLenOf(b[4])
	if len(b) < tl {
		return
	}
	tocStart := len(b) - tl
	for i := range sectionsOf(b[4]) {
		off := binary.BigEndian.Uint64(b[tocStart+i*tocEntryLen:])
		n := binary.BigEndian.Uint64(b[tocStart+i*tocEntryLen+8:])
		if off > uint64(tocStart) || n > uint64(tocStart)-off || uint64(tocStart)-off-n < crcLen {
			continue
		}
		binary.BigEndian.PutUint32(b[off+n:], crc32.Checksum(b[off:off+n], castagnoli))
	}
	binary.BigEndian.PutUint32(b[len(b)-crcLen:], crc32.Checksum(b[tocStart:len(b)-crcLen], castagnoli))
}

func sectionBounds(b []byte, sec int) (off, n int) {
	tocStart := len(b) - tocLenOf(b[4])
	return int(binary.BigEndian.Uint64(b[tocStart+sec*tocEntryLen:])), int(binary.BigEndian.Uint64(b[tocStart+sec*tocEntryLen+8:]))
}

func TestOpenRejectsCorruptSegments(t *testing.T) {
	v1, err := WriteVersion(fixture(), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("v1", func(t *testing.T) { testOpenRejectsCorrupt(t, v1) })
	t.Run("v2", func(t *testing.T) { testOpenRejectsCorrupt(t, mustWrite(t, packed(fixture())...)) })
}

func testOpenRejectsCorrupt(t *testing.T, good []byte) {
	tests := []struct {
		name    string
		mutate  func([]byte) []byte
		wantErr error
	}{
		{"empty input", func([]byte) []byte { return nil }, ErrCorrupt},
		{"truncated to the header", func(b []byte) []byte { return b[:headerLen] }, ErrCorrupt},
		{"truncated TOC", func(b []byte) []byte { return b[:len(b)-1] }, ErrCorrupt},
		{"bad magic", func(b []byte) []byte { b[0] ^= 0xff; return b }, ErrCorrupt},
		{"future version", func(b []byte) []byte { b[4] = Version + 1; return b }, ErrUnsupportedVersion},
		{"flipped bit in symbols", func(b []byte) []byte { off, _ := sectionBounds(b, secSymbols); b[off+1] ^= 1; return b }, ErrCorrupt},
		{"flipped bit in series", func(b []byte) []byte { off, _ := sectionBounds(b, secSeries); b[off+3] ^= 1; return b }, ErrCorrupt},
		{"flipped bit in postings table", func(b []byte) []byte { off, _ := sectionBounds(b, secPostingsTable); b[off] ^= 1; return b }, ErrCorrupt},
		{"flipped bit in TOC metadata", func(b []byte) []byte { b[len(b)-crcLen-1] ^= 1; return b }, ErrCorrupt},
		{"version 0", func(b []byte) []byte { b[4] = 0; return b }, ErrUnsupportedVersion},
		{"other version's TOC size", func(b []byte) []byte { b[4] = 3 - b[4]; return b }, ErrCorrupt},
		{"extra byte before the TOC", func(b []byte) []byte {
			tocStart := len(b) - tocLenOf(b[4])
			out := append(append(append([]byte{}, b[:tocStart]...), 0), b[tocStart:]...)
			recrc(out)
			return out
		}, ErrCorrupt},
		{"unsorted symbols with valid checksums", func(b []byte) []byte {
			off, _ := sectionBounds(b, secSymbols)
			// First symbol is "api"; make it sort after the second ("app").
			b[off+1] = 'z'
			recrc(b)
			return b
		}, ErrCorrupt},
		{"postings table ref out of range with valid checksums", func(b []byte) []byte {
			off, _ := sectionBounds(b, secPostingsTable)
			binary.BigEndian.PutUint32(b[off+4:], 1<<30)
			recrc(b)
			return b
		}, ErrCorrupt},
		{"series offset out of range with valid checksums", func(b []byte) []byte {
			off, _ := sectionBounds(b, secSeriesOffsets)
			binary.BigEndian.PutUint32(b[off:], 1<<30)
			recrc(b)
			return b
		}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mutate(append([]byte(nil), good...))
			if _, err := Open(b); !errors.Is(err, tt.wantErr) {
				t.Errorf("Open = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestOpenDetectsEverySingleByteCorruption(t *testing.T) {
	v1, err := WriteVersion(fixture(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, good := range [][]byte{v1, mustWrite(t, packed(fixture())...)} {
		detectEverySingleByteCorruption(t, good)
	}
}

func detectEverySingleByteCorruption(t *testing.T, good []byte) {
	for i := range good {
		b := append([]byte(nil), good...)
		b[i] ^= 0x5a
		if _, err := Open(b); err == nil {
			t.Fatalf("corrupting byte %d of %d went unnoticed", i, len(good))
		}
	}
}

func TestQueriesReportDamageBehindValidChecksums(t *testing.T) {
	good := mustWrite(t, packed(fixture())...)
	tests := []struct {
		name   string
		mutate func([]byte)
	}{
		{"postings list longer than the series count", func(b []byte) {
			off, _ := sectionBounds(b, secPostings)
			b[off] = 0x7f
		}},
		{"series label ref out of range", func(b []byte) {
			off, _ := sectionBounds(b, secSeries)
			b[off+8+1] = 0x7f // first label name ref of series 0
		}},
		{"series chunk count beyond the section", func(b []byte) {
			off, _ := sectionBounds(b, secSeries)
			nl := int(b[off+8])
			b[off+8+1+2*nl] = 0x7f
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			tt.mutate(b)
			recrc(b)
			r, err := Open(b)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open = %v, want ErrCorrupt", err)
				}
				return
			}
			// Postings are read only when a matcher needs them.
			_, err = r.Select(minTime, maxTime, mustMatcher(t, labels.MatchRegexp, "app", ".+"))
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Select = %v, want ErrCorrupt", err)
			}
		})
	}
}
