package chunks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
)

// Layout constants; FORMAT.md documents every byte.
const (
	// Magic opens every chunk: "PLGC" read as a big-endian uint32.
	Magic uint32 = 0x504C4743
	// FormatVersion is the version this package writes: version 2 with
	// long hex runs packed into a frame of their own (FORMAT.md). Versions
	// 1 and 2 are still read.
	FormatVersion byte = FormatV3
	// FormatV3 packs long hex runs of the lines into a hex frame.
	FormatV3 byte = 3
	// FormatV2 splits blocks into an entry-columns frame and a lines frame.
	FormatV2 byte = 2
	// FormatV1 is the original, row-wise block layout.
	FormatV1 byte = 1

	// HeaderSize is the fixed size of the chunk header.
	HeaderSize = 40
	// IndexEntrySize is the fixed size of one block's index entry.
	IndexEntrySize = 48
	crcSize        = 4
	// minEntryBytes is the smallest encoded entry: three one-byte uvarints
	// (timestamp delta, line length 0, metadata count 0). In version 2
	// the first entry has no delta, but the columns frame opens with three
	// uvarints, so the bound holds for the columns frame alone.
	minEntryBytes = 3

	// MaxBlockSize bounds one block's uncompressed size. Decoders refuse
	// anything larger, which bounds the memory a corrupt chunk can claim.
	MaxBlockSize = 64 << 20
	// MaxEntrySize bounds one entry (line plus structured metadata).
	MaxEntrySize = 16 << 20

	// DefaultBlockSize and DefaultTargetSize match Loki's chunk_block_size
	// and chunk_target_size.
	DefaultBlockSize  = 256 << 10
	DefaultTargetSize = 1536 << 10
	// blocksPerChunkWithoutTarget is the cut rule when targetSize is 0.
	blocksPerChunkWithoutTarget = 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by every error about malformed chunk bytes, so
// callers can tell bad data (quarantine the object) from I/O failures.
var ErrCorrupt = errors.New("corrupt chunk")

// CorruptError says where a chunk failed validation. Block is -1 for the
// header, index and filter sections.
type CorruptError struct {
	Block  int
	Reason string
}

func (e *CorruptError) Error() string {
	if e.Block < 0 {
		return "header: " + e.Reason
	}
	return fmt.Sprintf("block %d: %s", e.Block, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

func headerErr(format string, args ...any) error {
	return &CorruptError{Block: -1, Reason: fmt.Sprintf(format, args...)}
}

func blockErr(i int, format string, args ...any) error {
	return &CorruptError{Block: i, Reason: fmt.Sprintf(format, args...)}
}

// BlockMeta describes one sealed block, as recorded in the chunk's index.
// Counts (Entries, LineBytes) are exact for the block, so a querier can
// answer count_over_time and bytes_over_time for a block lying wholly
// inside a step without decompressing it. (An exact duplicate of an entry
// in another block is counted in both blocks; iterators yield it once.
// Appends drop duplicates within the head, so this needs the same line
// and timestamp to straddle a block cut.)
type BlockMeta struct {
	MinT, MaxT      int64  // first and last entry timestamp, ns, inclusive
	Entries         int    // number of entries
	LineBytes       int64  // sum of len(Line) over the entries
	Offset          int    // byte offset of the compressed block from the chunk start (0 while in a MemChunk)
	CompressedLen   int    // bytes of compressed block
	UncompressedLen int    // bytes of the block after decompression
	CRC             uint32 // CRC32C (Castagnoli) of the compressed bytes
	FilterLen       int    // bytes of the block's filter in the filter section; 0 = no filter
	// ColumnsLen is, in a version 2 chunk, the bytes of the block's
	// compressed entry-columns frame, which starts the block; the lines
	// frame follows. 0 in a version 1 chunk (one row-wise payload).
	ColumnsLen int
}

// block is a sealed block: its metadata, compressed bytes and filter.
type block struct {
	BlockMeta
	data   []byte
	filter []byte
	// hexed: a version 3 block, whose lines frame follows a hex header
	// (FORMAT.md, "Block payload, version 3").
	hexed bool
	// provisional: compressed at provisionalLevel, only to hold it in
	// memory; Encode compresses it again at the chunk's level
	// (sealsProvisionally). Never set on a decoded or encoded block.
	provisional bool
}

// overlaps reports whether the block may hold entries in [from, through).
func (m *BlockMeta) overlaps(from, through int64) bool {
	return m.MaxT >= from && m.MinT < through
}

// header is the decoded fixed header.
type header struct {
	version    byte
	enc        Encoding
	minT, maxT int64
	entries    uint32
	blocks     uint32
	filtersLen uint32
	dataLen    uint32
}

func putHeader(b []byte, h header) {
	_ = b[HeaderSize-1]
	binary.BigEndian.PutUint32(b[0:], Magic)
	b[4] = h.version
	b[5] = byte(h.enc)
	b[6], b[7] = 0, 0
	binary.BigEndian.PutUint64(b[8:], uint64(h.minT))
	binary.BigEndian.PutUint64(b[16:], uint64(h.maxT))
	binary.BigEndian.PutUint32(b[24:], h.entries)
	binary.BigEndian.PutUint32(b[28:], h.blocks)
	binary.BigEndian.PutUint32(b[32:], h.filtersLen)
	binary.BigEndian.PutUint32(b[36:], h.dataLen)
}

func putIndexEntry(b []byte, m *BlockMeta) {
	_ = b[IndexEntrySize-1]
	binary.BigEndian.PutUint64(b[0:], uint64(m.MinT))
	binary.BigEndian.PutUint64(b[8:], uint64(m.MaxT))
	binary.BigEndian.PutUint32(b[16:], uint32(m.Entries))
	binary.BigEndian.PutUint32(b[20:], uint32(m.LineBytes))
	binary.BigEndian.PutUint32(b[24:], uint32(m.Offset))
	binary.BigEndian.PutUint32(b[28:], uint32(m.CompressedLen))
	binary.BigEndian.PutUint32(b[32:], uint32(m.UncompressedLen))
	binary.BigEndian.PutUint32(b[36:], m.CRC)
	binary.BigEndian.PutUint32(b[40:], uint32(m.FilterLen))
	binary.BigEndian.PutUint32(b[44:], uint32(m.ColumnsLen))
}

// HeaderAndIndexSize returns how many leading bytes of a chunk hold the
// header, block index and its CRC, given the first HeaderSize bytes. A
// reader doing ranged GETs fetches HeaderSize (or a few KiB) first, then
// the rest of this prefix if it was not already covered.
func HeaderAndIndexSize(prefix []byte) (int, error) {
	h, err := parseHeader(prefix)
	if err != nil {
		return 0, err
	}
	return HeaderSize + int(h.blocks)*IndexEntrySize + crcSize, nil
}

func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < HeaderSize {
		return h, headerErr("truncated at byte %d (header is %d bytes)", len(b), HeaderSize)
	}
	if m := binary.BigEndian.Uint32(b); m != Magic {
		return h, headerErr("bad magic %#08x", m)
	}
	if v := b[4]; v != FormatVersion && v != FormatV2 && v != FormatV1 {
		return h, headerErr("unsupported format version %d", v)
	}
	h.version = b[4]
	h.enc = Encoding(b[5])
	if !h.enc.valid() {
		return h, headerErr("unknown encoding %d", b[5])
	}
	if b[6] != 0 || b[7] != 0 {
		return h, headerErr("reserved flags %#02x%02x set", b[6], b[7])
	}
	h.minT = int64(binary.BigEndian.Uint64(b[8:]))
	h.maxT = int64(binary.BigEndian.Uint64(b[16:]))
	h.entries = binary.BigEndian.Uint32(b[24:])
	h.blocks = binary.BigEndian.Uint32(b[28:])
	h.filtersLen = binary.BigEndian.Uint32(b[32:])
	h.dataLen = binary.BigEndian.Uint32(b[36:])
	if h.minT > h.maxT {
		return h, headerErr("min time %d after max time %d", h.minT, h.maxT)
	}
	if (h.blocks == 0) != (h.entries == 0) {
		return h, headerErr("%d blocks but %d entries", h.blocks, h.entries)
	}
	return h, nil
}

// encodeChunk writes the persisted form of blocks. Block offsets in the
// returned index are absolute.
func encodeChunk(version byte, enc Encoding, blocks []block) ([]byte, error) {
	h := header{version: version, enc: enc, blocks: uint32(len(blocks))}
	filters, data := 0, 0
	var entries int
	for i := range blocks {
		b := &blocks[i]
		if i == 0 || b.MinT < h.minT {
			h.minT = b.MinT
		}
		if i == 0 || b.MaxT > h.maxT {
			h.maxT = b.MaxT
		}
		entries += b.Entries
		filters += len(b.filter)
		data += len(b.data)
	}
	dataStart := HeaderSize + len(blocks)*IndexEntrySize + crcSize + filters + crcSize
	if uint64(dataStart)+uint64(data) > math.MaxUint32 || entries > math.MaxUint32 {
		return nil, fmt.Errorf("chunk too large: %d blocks, %d entries, %d bytes", len(blocks), entries, dataStart+data)
	}
	h.entries, h.filtersLen, h.dataLen = uint32(entries), uint32(filters), uint32(data)

	out := make([]byte, dataStart+data)
	putHeader(out, h)
	idx := out[HeaderSize:]
	filterSec := out[HeaderSize+len(blocks)*IndexEntrySize+crcSize:]
	off := dataStart
	for i := range blocks {
		b := &blocks[i]
		m := b.BlockMeta
		m.Offset = off
		m.FilterLen = len(b.filter)
		putIndexEntry(idx[i*IndexEntrySize:], &m)
		copy(out[off:], b.data)
		off += len(b.data)
		filterSec = filterSec[copy(filterSec, b.filter):]
	}
	indexEnd := HeaderSize + len(blocks)*IndexEntrySize
	binary.BigEndian.PutUint32(out[indexEnd:], crc32.Checksum(out[:indexEnd], castagnoli))
	fStart := indexEnd + crcSize
	binary.BigEndian.PutUint32(out[fStart+filters:], crc32.Checksum(out[fStart:fStart+filters], castagnoli))
	return out, nil
}

// aliasBlocks returns a copy of blocks whose data and filters are the
// (capacity-limited) slices of out, the chunk encodeChunk made of them,
// that hold the same bytes.
func aliasBlocks(blocks []block, out []byte) []block {
	nb := make([]block, len(blocks))
	filters := 0
	for i := range blocks {
		filters += len(blocks[i].filter)
	}
	fOff := HeaderSize + len(blocks)*IndexEntrySize + crcSize
	off := fOff + filters + crcSize
	for i := range blocks {
		b := blocks[i]
		fEnd, end := fOff+len(b.filter), off+len(b.data)
		b.filter = out[fOff:fEnd:fEnd]
		b.data = out[off:end:end]
		fOff, off = fEnd, end
		nb[i] = b
	}
	return nb
}
