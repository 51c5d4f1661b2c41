package chunks

import (
	"context"
	"encoding/binary"
	"hash/crc32"
)

// Chunk is a decoded, immutable chunk, typically downloaded from object
// storage. It aliases the bytes given to Decode, which must not be
// modified while the Chunk or any of its iterators is in use. A Chunk is
// safe for concurrent use by any number of iterators.
type Chunk struct {
	version    byte
	enc        Encoding
	minT, maxT int64
	entries    int
	blocks     []block
	metas      []BlockMeta
}

// Decode validates a chunk's header, block index and filter section and
// returns it. It decompresses nothing and does not read block data: block
// checksums are verified and blocks decompressed lazily, during iteration.
// Errors wrap ErrCorrupt and name the part that failed (a *CorruptError);
// callers add the object key.
func Decode(b []byte) (*Chunk, error) {
	ix, err := DecodeIndex(b)
	if err != nil {
		return nil, err
	}
	if ix.Size != len(b) {
		if ix.Size > len(b) {
			return nil, headerErr("truncated at byte %d: chunk is %d bytes", len(b), ix.Size)
		}
		return nil, headerErr("%d trailing bytes after the last block", len(b)-ix.Size)
	}
	fStart := HeaderSize + len(ix.Blocks)*IndexEntrySize + crcSize
	fEnd := fStart + ix.FiltersLen
	if want, got := binary.BigEndian.Uint32(b[fEnd:]), crc32.Checksum(b[fStart:fEnd], castagnoli); want != got {
		return nil, headerErr("filter section crc mismatch: stored %#08x, computed %#08x", want, got)
	}
	c := &Chunk{version: ix.Version, enc: ix.Encoding, minT: ix.MinT, maxT: ix.MaxT, entries: ix.Entries, metas: ix.Blocks}
	c.blocks = make([]block, len(ix.Blocks))
	fOff := fStart
	for i, m := range ix.Blocks {
		c.blocks[i] = block{
			BlockMeta: m,
			data:      b[m.Offset : m.Offset+m.CompressedLen : m.Offset+m.CompressedLen],
			filter:    b[fOff : fOff+m.FilterLen : fOff+m.FilterLen],
			hexed:     ix.Version >= FormatV3,
		}
		fOff += m.FilterLen
	}
	return c, nil
}

// Index is a chunk's header and block index: everything needed to plan a
// scan (which blocks, at which byte ranges) without the block data.
type Index struct {
	Version    byte // FormatVersion or FormatV1
	Encoding   Encoding
	MinT, MaxT int64
	Entries    int
	Blocks     []BlockMeta // Offset and CompressedLen give each block's byte range
	FiltersLen int         // bytes of the filter section, which follows the index
	Size       int         // total length of the chunk in bytes
}

// DecodeIndex validates and decodes the header and block index from the
// first bytes of a chunk: at least HeaderAndIndexSize bytes, which a
// reader gets with one ranged read (a few KiB cover typical chunks).
// Bytes beyond the index are ignored.
func DecodeIndex(prefix []byte) (*Index, error) {
	b := prefix
	h, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	n := int(h.blocks)
	indexEnd := HeaderSize + n*IndexEntrySize
	if uint64(HeaderSize)+uint64(h.blocks)*IndexEntrySize+crcSize > uint64(len(b)) {
		return nil, headerErr("truncated at byte %d: %d-block index needs %d bytes", len(b), n, indexEnd+crcSize)
	}
	if want, got := binary.BigEndian.Uint32(b[indexEnd:]), crc32.Checksum(b[:indexEnd], castagnoli); want != got {
		return nil, headerErr("index crc mismatch: stored %#08x, computed %#08x", want, got)
	}
	dataStart := indexEnd + crcSize + int(h.filtersLen) + crcSize
	ix := &Index{
		Version:    h.version,
		Encoding:   h.enc,
		MinT:       h.minT,
		MaxT:       h.maxT,
		Entries:    int(h.entries),
		Blocks:     make([]BlockMeta, n),
		FiltersLen: int(h.filtersLen),
		Size:       dataStart + int(h.dataLen),
	}
	off, filters, entries := dataStart, 0, 0
	for i := range n {
		e := b[HeaderSize+i*IndexEntrySize:]
		m := BlockMeta{
			MinT:            int64(binary.BigEndian.Uint64(e[0:])),
			MaxT:            int64(binary.BigEndian.Uint64(e[8:])),
			Entries:         int(binary.BigEndian.Uint32(e[16:])),
			LineBytes:       int64(binary.BigEndian.Uint32(e[20:])),
			Offset:          int(binary.BigEndian.Uint32(e[24:])),
			CompressedLen:   int(binary.BigEndian.Uint32(e[28:])),
			UncompressedLen: int(binary.BigEndian.Uint32(e[32:])),
			CRC:             binary.BigEndian.Uint32(e[36:]),
			FilterLen:       int(binary.BigEndian.Uint32(e[40:])),
			ColumnsLen:      int(binary.BigEndian.Uint32(e[44:])),
		}
		switch {
		case h.version == FormatV1 && m.ColumnsLen != 0:
			return nil, headerErr("index entry %d: reserved field set", i)
		case h.version != FormatV1 && (m.ColumnsLen == 0 || m.ColumnsLen > m.CompressedLen-crcSize):
			return nil, headerErr("index entry %d: columns frame of %d bytes in a %d-byte block", i, m.ColumnsLen, m.CompressedLen)
		case h.version != FormatV1 && (m.LineBytes > int64(m.UncompressedLen) || m.Entries > (m.UncompressedLen-int(m.LineBytes))/minEntryBytes):
			return nil, headerErr("index entry %d: %d entries with %d line bytes cannot fit %d bytes", i, m.Entries, m.LineBytes, m.UncompressedLen)
		case m.MinT > m.MaxT:
			return nil, headerErr("index entry %d: min time %d after max time %d", i, m.MinT, m.MaxT)
		case m.MinT < h.minT || m.MaxT > h.maxT:
			return nil, headerErr("index entry %d: time range [%d, %d] outside chunk [%d, %d]", i, m.MinT, m.MaxT, h.minT, h.maxT)
		case m.Entries == 0:
			return nil, headerErr("index entry %d: no entries", i)
		case m.Offset != off:
			return nil, headerErr("index entry %d: offset %d, want %d", i, m.Offset, off)
		case m.CompressedLen > ix.Size-off:
			return nil, headerErr("index entry %d: %d compressed bytes overrun the chunk", i, m.CompressedLen)
		case m.UncompressedLen > MaxBlockSize:
			return nil, headerErr("index entry %d: uncompressed length %d over the %d limit", i, m.UncompressedLen, MaxBlockSize)
		case m.LineBytes > int64(m.UncompressedLen) || m.Entries > m.UncompressedLen/minEntryBytes:
			return nil, headerErr("index entry %d: %d entries with %d line bytes cannot fit %d bytes", i, m.Entries, m.LineBytes, m.UncompressedLen)
		case m.FilterLen > ix.FiltersLen-filters:
			return nil, headerErr("index entry %d: filter of %d bytes overruns the filter section", i, m.FilterLen)
		}
		ix.Blocks[i] = m
		off += m.CompressedLen
		filters += m.FilterLen
		entries += m.Entries
	}
	if off != ix.Size {
		return nil, headerErr("blocks cover %d of %d data bytes", off-dataStart, h.dataLen)
	}
	if filters != ix.FiltersLen {
		return nil, headerErr("block filters cover %d of %d filter bytes", filters, h.filtersLen)
	}
	if entries != ix.Entries {
		return nil, headerErr("blocks hold %d entries, header says %d", entries, ix.Entries)
	}
	if n > 0 {
		lo, hi := ix.Blocks[0].MinT, ix.Blocks[0].MaxT
		for _, m := range ix.Blocks {
			lo, hi = min(lo, m.MinT), max(hi, m.MaxT)
		}
		if lo != h.minT || hi != h.maxT {
			return nil, headerErr("blocks span [%d, %d], header says [%d, %d]", lo, hi, h.minT, h.maxT)
		}
	}
	return ix, nil
}

// Bounds returns the first and last entry timestamps (ns, inclusive); both
// are 0 for an empty chunk.
func (c *Chunk) Bounds() (minT, maxT int64) { return c.minT, c.maxT }

// Entries returns the number of entries stored in the chunk. Exact
// duplicates in different blocks are counted here but yielded once.
func (c *Chunk) Entries() int { return c.entries }

// Encoding returns the codec the chunk's blocks are compressed with.
func (c *Chunk) Encoding() Encoding { return c.enc }

// Version returns the chunk's format version (FormatVersion or FormatV1).
func (c *Chunk) Version() byte { return c.version }

// Blocks returns the block index. The slice is shared: do not modify it.
func (c *Chunk) Blocks() []BlockMeta { return c.metas }

// Iterator returns the chunk's entries with timestamps in [from, through),
// in time order for dir. Blocks outside the range are skipped without
// being read. stats, if not nil, receives the work done; it must not be
// shared with a concurrently running iterator.
func (c *Chunk) Iterator(ctx context.Context, from, through int64, dir Direction, stats *Stats) Iterator {
	return newChunkIterator(ctx, c.enc, c.blocks, nil, from, through, dir, stats, nil)
}

// FilteredIterator is Iterator restricted to the blocks for which keep
// returns true; the others are skipped unread and counted in
// stats.BlocksSkipped. A querier passes a keep that consults
// BlockMayContain to skip blocks in a needle search, or one that drops
// blocks it already answered from their BlockMeta counts.
func (c *Chunk) FilteredIterator(ctx context.Context, from, through int64, dir Direction, stats *Stats, keep func(block int) bool) Iterator {
	return newChunkIterator(ctx, c.enc, c.blocks, nil, from, through, dir, stats, keep)
}
