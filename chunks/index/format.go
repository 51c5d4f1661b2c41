package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Segment layout constants; see FORMAT.md.
const (
	// Magic opens every segment: "PLGI".
	Magic uint32 = 0x504C4749
	// Version is the format version written by [Write]. [Open] reads it
	// and every older version down to [MinVersion].
	Version byte = 2
	// MinVersion is the oldest format version [Open] reads.
	MinVersion byte = 1

	headerLen = 5 // magic + version
	crcLen    = 4

	numSections   = 7  // in version 2; version 1 has the first 6
	tocEntryLen   = 16 // offset u64 + length u64
	tocMetaLen    = 24 // minT i64 + maxT i64 + numChunks u64
	tocLen        = numSections*tocEntryLen + tocMetaLen + crcLen
	postingsEntry = 12 // nameRef u32 + valueRef u32 + offset u32

	maxSectionLen = 1<<32 - 1 // offsets inside sections are u32
)

// Section identifiers, in file order.
const (
	secSymbols = iota
	secSymbolOffsets
	secSeries
	secSeriesOffsets
	secPostings
	secPostingsTable
	secPacks // version 2 on
)

var sectionNames = [numSections]string{"symbols", "symbol offsets", "series", "series offsets", "postings", "postings table", "packs"}

// sectionsOf returns the number of sections of a segment of version v.
func sectionsOf(v byte) int {
	if v == 1 {
		return numSections - 1
	}
	return numSections
}

// tocLenOf returns the TOC length, with its CRC, of a segment of version v.
func tocLenOf(v byte) int { return sectionsOf(v)*tocEntryLen + tocMetaLen + crcLen }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by every error that reports a malformed segment.
var ErrCorrupt = errors.New("corrupt index segment")

// ErrUnsupportedVersion is wrapped when a segment has a version this build
// cannot read (for example one written by a newer release).
var ErrUnsupportedVersion = errors.New("unsupported index segment version")

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// decbuf decodes big-endian integers and varints from b. The first failure
// is sticky in err and later reads return zero values, so decoders check err
// once per record instead of after every field.
type decbuf struct {
	b   []byte
	err error
}

func (d *decbuf) fail(what string) {
	if d.err == nil {
		d.err = corruptf("truncated or invalid %s", what)
	}
}

func (d *decbuf) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decbuf) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// uvarint32 reads a uvarint that must fit in 32 bits.
func (d *decbuf) uvarint32(what string) uint32 {
	v := d.uvarint(what)
	if v > 1<<32-1 {
		d.fail(what)
		return 0
	}
	return uint32(v)
}

func (d *decbuf) be32(what string) uint32 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 4 {
		d.fail(what)
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decbuf) be64(what string) uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail(what)
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}
