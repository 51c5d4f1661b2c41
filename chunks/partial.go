package chunks

import (
	"encoding/binary"
	"hash/crc32"
)

// A reader that searches for a needle reads a chunk in two steps: the
// header, index and filter section first (HeaderIndexFiltersSize bytes),
// then only the byte range of the blocks the filters admit, so blocks it
// skips are never transferred (DecodePartial).

// HeaderIndexFiltersSize returns how many leading bytes of a chunk hold
// the header, block index and filter section with their checksums, given
// the first HeaderSize bytes.
func HeaderIndexFiltersSize(prefix []byte) (int, error) {
	h, err := parseHeader(prefix)
	if err != nil {
		return 0, err
	}
	return HeaderSize + int(h.blocks)*IndexEntrySize + crcSize + int(h.filtersLen) + crcSize, nil
}

// DecodePartial is Decode for a chunk of which only the first
// HeaderIndexFiltersSize bytes (prefix; more are ignored) and the bytes
// [off, off+len(data)) are at hand. Blocks lying wholly inside that range
// can be iterated; the others hold no data, so an iterator must be told
// to skip them (FilteredIterator), and one that reaches such a block
// fails its checksum. Filters are available for every block.
func DecodePartial(prefix []byte, off int, data []byte) (*Chunk, error) {
	ix, err := DecodeIndex(prefix)
	if err != nil {
		return nil, err
	}
	fStart := HeaderSize + len(ix.Blocks)*IndexEntrySize + crcSize
	fEnd := fStart + ix.FiltersLen
	if len(prefix) < fEnd+crcSize {
		return nil, headerErr("truncated at byte %d: filter section ends at %d", len(prefix), fEnd+crcSize)
	}
	if want, got := binary.BigEndian.Uint32(prefix[fEnd:]), crc32.Checksum(prefix[fStart:fEnd], castagnoli); want != got {
		return nil, headerErr("filter section crc mismatch: stored %#08x, computed %#08x", want, got)
	}
	c := &Chunk{version: ix.Version, enc: ix.Encoding, minT: ix.MinT, maxT: ix.MaxT, entries: ix.Entries, metas: ix.Blocks}
	c.blocks = make([]block, len(ix.Blocks))
	fOff := fStart
	for i, m := range ix.Blocks {
		c.blocks[i] = block{BlockMeta: m, filter: prefix[fOff : fOff+m.FilterLen : fOff+m.FilterLen], hexed: ix.Version >= FormatV3}
		if m.Offset >= off && m.Offset+m.CompressedLen <= off+len(data) {
			s, e := m.Offset-off, m.Offset-off+m.CompressedLen
			c.blocks[i].data = data[s:e:e]
		}
		fOff += m.FilterLen
	}
	return c, nil
}
