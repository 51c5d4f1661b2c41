package index

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"sort"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
)

// Reader answers queries from one segment. It holds the segment bytes
// without copying them; the caller must not modify them after [Open]. A
// Reader is safe for concurrent use.
type Reader struct {
	b []byte

	symbols       []byte
	symbolOffsets []byte
	series        []byte
	seriesOffsets []byte
	postings      []byte
	table         []byte

	version byte
	// packs is the pack table (version 2), decoded and copied at Open:
	// chunk references share these strings rather than alias the segment.
	packs []string

	numSymbols int
	numSeries  int
	numChunks  uint64
	minT, maxT int64
}

// Open validates a segment and returns a Reader over it. It checks magic,
// version, the TOC and every section's CRC32C, and the structure of the
// fixed-width tables (refs in range, strictly sorted). Series and postings
// lists are decoded lazily with bounds checks, so a segment that passes the
// checksums but is malformed yields errors from queries, never a panic.
// Errors wrap [ErrCorrupt] or [ErrUnsupportedVersion].
func Open(b []byte) (*Reader, error) {
	if len(b) < headerLen {
		return nil, corruptf("%d bytes is shorter than the segment header", len(b))
	}
	if m := binary.BigEndian.Uint32(b); m != Magic {
		return nil, corruptf("bad magic %08x", m)
	}
	v := b[4]
	if v < MinVersion || v > Version {
		return nil, fmt.Errorf("%w: %d (this build reads %d to %d)", ErrUnsupportedVersion, v, MinVersion, Version)
	}
	tl := tocLenOf(v)
	if len(b) < headerLen+tl {
		return nil, corruptf("%d bytes is shorter than the minimum segment size %d", len(b), headerLen+tl)
	}
	tocStart := len(b) - tl
	toc := b[tocStart : len(b)-crcLen]
	if want, got := binary.BigEndian.Uint32(b[len(b)-crcLen:]), crc32.Checksum(toc, castagnoli); want != got {
		return nil, corruptf("TOC checksum %08x, want %08x", got, want)
	}

	r := &Reader{b: b, version: v}
	var secs [numSections][]byte
	next := uint64(headerLen)
	d := decbuf{b: toc}
	for i := range secs[:sectionsOf(v)] {
		off, n := d.be64("TOC"), d.be64("TOC")
		if off != next || n > maxSectionLen || n+crcLen > uint64(tocStart)-off {
			return nil, corruptf("%s section at offset %d length %d does not fit the layout", sectionNames[i], off, n)
		}
		sec := b[off : off+n]
		want := binary.BigEndian.Uint32(b[off+n:])
		if got := crc32.Checksum(sec, castagnoli); got != want {
			return nil, corruptf("%s section checksum %08x, want %08x", sectionNames[i], got, want)
		}
		secs[i] = sec
		next = off + n + crcLen
	}
	if next != uint64(tocStart) {
		return nil, corruptf("%d unaccounted bytes before the TOC", uint64(tocStart)-next)
	}
	r.minT, r.maxT = int64(d.be64("TOC")), int64(d.be64("TOC"))
	r.numChunks = d.be64("TOC")
	r.symbols, r.symbolOffsets, r.series = secs[secSymbols], secs[secSymbolOffsets], secs[secSeries]
	r.seriesOffsets, r.postings, r.table = secs[secSeriesOffsets], secs[secPostings], secs[secPostingsTable]

	if err := r.validateTables(); err != nil {
		return nil, err
	}
	if err := r.decodePacks(secs[secPacks]); err != nil {
		return nil, err
	}
	return r, nil
}

// decodePacks reads the pack table: names non-empty and strictly
// increasing, as Write sorts them.
func (r *Reader) decodePacks(sec []byte) error {
	d := decbuf{b: sec}
	for len(d.b) > 0 {
		n := d.uvarint("pack name length")
		if d.err != nil {
			return d.err
		}
		if n == 0 || n > uint64(len(d.b)) {
			return corruptf("pack %d: name length %d out of range", len(r.packs), n)
		}
		name := string(d.b[:n])
		d.b = d.b[n:]
		if k := len(r.packs); k > 0 && name <= r.packs[k-1] {
			return corruptf("pack %d not in strictly increasing order", k)
		}
		r.packs = append(r.packs, name)
	}
	return nil
}

// validateTables checks the fixed-width tables so that lookups can rely on
// their order: symbols strictly increasing, series offsets strictly
// increasing, postings table entries strictly increasing by (name, value)
// with refs and offsets in range.
func (r *Reader) validateTables() error {
	if len(r.symbolOffsets)%4 != 0 || len(r.seriesOffsets)%4 != 0 || len(r.table)%postingsEntry != 0 {
		return corruptf("table length not a multiple of its entry size")
	}
	r.numSymbols = len(r.symbolOffsets) / 4
	r.numSeries = len(r.seriesOffsets) / 4
	if (r.numSeries == 0) != (r.numChunks == 0) || (r.numChunks > 0 && r.minT > r.maxT) {
		return corruptf("TOC metadata inconsistent: %d series, %d chunks, time range [%d, %d]", r.numSeries, r.numChunks, r.minT, r.maxT)
	}
	var prev string
	for i := range r.numSymbols {
		s, err := r.symbol(uint32(i))
		if err != nil {
			return err
		}
		if i > 0 && s <= prev {
			return corruptf("symbol %d not in strictly increasing order", i)
		}
		prev = s
	}
	last := -1
	for i := range r.numSeries {
		off := int(binary.BigEndian.Uint32(r.seriesOffsets[4*i:]))
		if off <= last || off >= len(r.series) {
			return corruptf("series %d offset %d out of order or range", i, off)
		}
		last = off
	}
	var prevKey uint64
	for i := 0; i < len(r.table); i += postingsEntry {
		n, v, off := r.tableEntry(i / postingsEntry)
		key := uint64(n)<<32 | uint64(v)
		if int(n) >= r.numSymbols || int(v) >= r.numSymbols || int(off) >= len(r.postings) || (i > 0 && key <= prevKey) {
			return corruptf("postings table entry %d (%d, %d, %d) out of order or range", i/postingsEntry, n, v, off)
		}
		prevKey = key
	}
	return nil
}

// NumSeries returns the number of series in the segment.
func (r *Reader) NumSeries() int { return r.numSeries }

// NumChunks returns the number of chunk references in the segment.
func (r *Reader) NumChunks() uint64 { return r.numChunks }

// Bounds returns the smallest MinT and largest MaxT of all chunks. For an
// empty segment mint > maxt.
func (r *Reader) Bounds() (mint, maxt int64) { return r.minT, r.maxT }

// Size returns the segment's size in bytes.
func (r *Reader) Size() int { return len(r.b) }

// Version returns the segment's format version.
func (r *Reader) Version() byte { return r.version }

// Packs returns the names of the pack objects the segment's chunk
// references point into, sorted. The caller must not modify the slice.
func (r *Reader) Packs() []string { return r.packs }

func (r *Reader) overlaps(mint, maxt int64) bool {
	return r.numSeries > 0 && r.minT <= maxt && r.maxT >= mint
}

// symbol returns symbol ref as a string aliasing the segment bytes; callers
// that hand it out must clone it.
func (r *Reader) symbol(ref uint32) (string, error) {
	if int(ref) >= r.numSymbols {
		return "", corruptf("symbol ref %d out of range (%d symbols)", ref, r.numSymbols)
	}
	off := binary.BigEndian.Uint32(r.symbolOffsets[4*ref:])
	if int(off) >= len(r.symbols) {
		return "", corruptf("symbol %d offset %d out of range", ref, off)
	}
	d := decbuf{b: r.symbols[off:]}
	n := d.uvarint("symbol length")
	if d.err != nil || n > uint64(len(d.b)) {
		return "", corruptf("symbol %d length exceeds section", ref)
	}
	return yolo(d.b[:n]), nil
}

func yolo(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// lookupSymbol returns the ref of s, if the segment has it.
func (r *Reader) lookupSymbol(s string) (uint32, bool) {
	var err error
	i := sort.Search(r.numSymbols, func(i int) bool {
		sym, e := r.symbol(uint32(i))
		if e != nil {
			err = e
			return true
		}
		return sym >= s
	})
	if err != nil || i == r.numSymbols {
		return 0, false
	}
	sym, _ := r.symbol(uint32(i))
	return uint32(i), sym == s
}

func (r *Reader) tableEntry(i int) (name, value, off uint32) {
	e := r.table[i*postingsEntry:]
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:]), binary.BigEndian.Uint32(e[8:])
}

func (r *Reader) numTableEntries() int { return len(r.table) / postingsEntry }

// nameRange returns the half-open range of postings table entries for the
// label name ref.
func (r *Reader) nameRange(name uint32) (lo, hi int) {
	n := r.numTableEntries()
	lo = sort.Search(n, func(i int) bool { nr, _, _ := r.tableEntry(i); return nr >= name })
	hi = lo + sort.Search(n-lo, func(i int) bool { nr, _, _ := r.tableEntry(lo + i); return nr > name })
	return lo, hi
}

// valueEntry returns the table entry of value within [lo, hi), if present.
func (r *Reader) valueEntry(lo, hi int, value string) (int, bool) {
	ref, ok := r.lookupSymbol(value)
	if !ok {
		return 0, false
	}
	i := lo + sort.Search(hi-lo, func(i int) bool { _, vr, _ := r.tableEntry(lo + i); return vr >= ref })
	if i == hi {
		return 0, false
	}
	_, vr, _ := r.tableEntry(i)
	return i, vr == ref
}

// prefixStart returns the first entry in [lo, hi) whose value is >= prefix.
func (r *Reader) prefixStart(lo, hi int, prefix string) int {
	return lo + sort.Search(hi-lo, func(i int) bool {
		_, vr, _ := r.tableEntry(lo + i)
		v, err := r.symbol(vr)
		return err != nil || v >= prefix
	})
}

// forEachPosting calls f with each series ID of the postings list of table
// entry i, in increasing order.
func (r *Reader) forEachPosting(i int, f func(id uint32)) error {
	_, _, off := r.tableEntry(i)
	d := decbuf{b: r.postings[off:]}
	n := d.uvarint("postings length")
	if d.err == nil && n > uint64(r.numSeries) {
		return corruptf("postings list %d has %d entries for %d series", i, n, r.numSeries)
	}
	var id uint64
	for k := uint64(0); k < n && d.err == nil; k++ {
		delta := d.uvarint("posting")
		if k > 0 && delta == 0 {
			return corruptf("postings list %d not strictly increasing", i)
		}
		id += delta
		if id >= uint64(r.numSeries) {
			return corruptf("postings list %d: series ID %d out of range", i, id)
		}
		f(uint32(id))
	}
	if d.err != nil {
		return fmt.Errorf("postings list %d: %w", i, d.err)
	}
	return nil
}

// postingsOf decodes the postings list of table entry i, appending to buf.
func (r *Reader) postingsOf(i int, buf []uint32) ([]uint32, error) {
	err := r.forEachPosting(i, func(id uint32) { buf = append(buf, id) })
	return buf, err
}

// seriesDecoder decodes series entries into reusable scratch space.
type seriesDecoder struct {
	r       *Reader
	builder labels.ScratchBuilder
	refs    []uint32 // label name/value refs of the current series
}

// decode decodes series id: its fingerprint and label refs into sd.refs, and
// appends the chunks overlapping [mint, maxt] to chunks.
func (sd *seriesDecoder) decode(id uint32, mint, maxt int64, chunks []ChunkRef) (fp uint64, _ []ChunkRef, err error) {
	r := sd.r
	if int(id) >= r.numSeries {
		return 0, chunks, corruptf("series ID %d out of range", id)
	}
	off := binary.BigEndian.Uint32(r.seriesOffsets[4*id:])
	d := decbuf{b: r.series[off:]}
	fp = d.be64("series fingerprint")
	nl := d.uvarint("label count")
	if nl > uint64(len(d.b)) {
		return 0, chunks, corruptf("series %d: label count %d exceeds section", id, nl)
	}
	sd.refs = sd.refs[:0]
	for range 2 * nl {
		sd.refs = append(sd.refs, d.uvarint32("label ref"))
	}
	nc := d.uvarint("chunk count")
	if nc > uint64(len(d.b)) {
		return 0, chunks, corruptf("series %d: chunk count %d exceeds section", id, nc)
	}
	var t int64
	for k := uint64(0); k < nc && d.err == nil; k++ {
		if k == 0 {
			t = d.varint("chunk MinT")
		} else {
			delta := d.uvarint("chunk MinT delta")
			if delta > math.MaxInt64 || t > math.MaxInt64-int64(delta) {
				return 0, chunks, corruptf("series %d chunk %d: MinT overflows", id, k)
			}
			t += int64(delta)
		}
		span := d.uvarint("chunk span")
		if span > math.MaxInt64 || t > math.MaxInt64-int64(span) {
			return 0, chunks, corruptf("series %d chunk %d: MaxT overflows", id, k)
		}
		c := ChunkRef{
			Fingerprint: fp,
			MinT:        t,
			MaxT:        t + int64(span),
			Checksum:    d.be32("chunk checksum"),
		}
		c.Size = d.uvarint32("chunk size")
		c.Entries = d.uvarint32("chunk entries")
		c.UncompressedBytes = d.uvarint32("chunk uncompressed bytes")
		if r.version >= 2 {
			if p := d.uvarint("chunk pack"); p > 0 {
				if p > uint64(len(r.packs)) {
					return 0, chunks, corruptf("series %d chunk %d: pack %d out of range (%d packs)", id, k, p, len(r.packs))
				}
				c.Pack = r.packs[p-1]
				c.Offset = d.uvarint("chunk offset")
				if c.Offset > math.MaxInt64-uint64(c.Size) {
					return 0, chunks, corruptf("series %d chunk %d: offset %d overflows", id, k, c.Offset)
				}
			}
		}
		if d.err == nil && c.Overlaps(mint, maxt) {
			chunks = append(chunks, c)
		}
	}
	if d.err != nil {
		return 0, chunks, fmt.Errorf("series %d: %w", id, d.err)
	}
	return fp, chunks, nil
}

// labels builds the label set of the series last decoded.
func (sd *seriesDecoder) labels() (labels.Labels, error) {
	sd.builder.Reset()
	for i := 0; i < len(sd.refs); i += 2 {
		n, err := sd.r.symbol(sd.refs[i])
		if err != nil {
			return labels.EmptyLabels(), err
		}
		v, err := sd.r.symbol(sd.refs[i+1])
		if err != nil {
			return labels.EmptyLabels(), err
		}
		// Under the default stringlabels build Labels() copies; under
		// slicelabels the strings alias the immutable segment bytes.
		sd.builder.Add(n, v)
	}
	sd.builder.Sort()
	return sd.builder.Labels(), nil
}

// labelValue returns the value of name ref in the series last decoded.
func (sd *seriesDecoder) labelValue(name uint32) (uint32, bool) {
	for i := 0; i < len(sd.refs); i += 2 {
		if sd.refs[i] == name {
			return sd.refs[i+1], true
		}
	}
	return 0, false
}
