package index

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
)

// ChunkRef identifies one chunk of one stream without its contents. Its
// identity is (Fingerprint, MinT, MaxT, Checksum), which is also what the
// object store derives a standalone chunk's key from; Pack and Offset say
// where the bytes are when the chunk was written into a pack object with
// other chunks; the remaining fields are sizes used for query planning and
// index stats.
type ChunkRef struct {
	Fingerprint uint64
	MinT, MaxT  int64 // inclusive, Unix nanoseconds
	// Pack names the pack object holding the chunk's Size bytes from
	// Offset; empty for a chunk stored as an object of its own (every
	// chunk of a version 1 segment), whose Offset is 0. The name is
	// opaque here: package store turns it into a key.
	Pack              string
	Offset            uint64
	Checksum          uint32 // checksum of the chunk bytes, as computed by package chunks
	Size              uint32 // compressed bytes
	Entries           uint32
	UncompressedBytes uint32
}

// Overlaps reports whether the chunk's [MinT, MaxT] intersects the
// inclusive range [mint, maxt].
func (c ChunkRef) Overlaps(mint, maxt int64) bool { return c.MinT <= maxt && c.MaxT >= mint }

// sameChunk reports whether a and b name the same chunk object.
func sameChunk(a, b ChunkRef) bool {
	return a.Fingerprint == b.Fingerprint && a.MinT == b.MinT && a.MaxT == b.MaxT && a.Checksum == b.Checksum
}

// compareChunks orders chunks by identity, then by location, so that of
// several references to one chunk in different places (two replicas that
// flushed it into their own packs, or a pack and a standalone object)
// deduplication keeps the same one whatever the input order: the first,
// a standalone object before any pack.
func compareChunks(a, b ChunkRef) int {
	if c := cmp.Compare(a.MinT, b.MinT); c != 0 {
		return c
	}
	if c := cmp.Compare(a.MaxT, b.MaxT); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Checksum, b.Checksum); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Pack, b.Pack); c != 0 {
		return c
	}
	return cmp.Compare(a.Offset, b.Offset)
}

// Series is a stream (label set) and the chunks that hold its entries.
// Fingerprint must be a deterministic function of Labels (the ingester uses
// labels.Labels.Hash); every chunk's Fingerprint must equal it.
type Series struct {
	Labels      labels.Labels
	Fingerprint uint64
	Chunks      []ChunkRef
}

// Write builds one immutable segment from series. The input need not be
// sorted and is not modified. Series with identical labels are merged,
// identical chunk references are stored once, and series without chunks are
// dropped; of references to one chunk in different locations one is kept
// (see compareChunks). It fails on invalid input: no labels, an empty label
// name or value, duplicate label names, MaxT < MinT, a chunk fingerprint
// that differs from its series', or an Offset without a Pack.
func Write(series []Series) ([]byte, error) {
	return WriteVersion(series, Version)
}

// WriteVersion is [Write] in format version v, from [MinVersion] to
// [Version]. Version 1 has no chunk locations, so it fails for a chunk
// with a Pack. It exists to test that old segments stay readable.
func WriteVersion(series []Series, v byte) ([]byte, error) {
	if v < MinVersion || v > Version {
		return nil, fmt.Errorf("%w: cannot write version %d", ErrUnsupportedVersion, v)
	}
	ss, err := normalize(series)
	if err != nil {
		return nil, err
	}
	return encode(ss, v)
}

// normalize validates series and returns them sorted by labels, merged by
// label set, with chunks sorted by (MinT, MaxT, Checksum) and deduplicated.
// It copies chunk slices so the caller's data is never reordered.
func normalize(series []Series) ([]Series, error) {
	ss := make([]Series, 0, len(series))
	for i, s := range series {
		if len(s.Chunks) == 0 {
			continue
		}
		if err := validateLabels(s.Labels); err != nil {
			return nil, fmt.Errorf("series %d %s: %w", i, s.Labels, err)
		}
		for j, c := range s.Chunks {
			if c.Fingerprint != s.Fingerprint {
				return nil, fmt.Errorf("series %d %s chunk %d: fingerprint %016x differs from series fingerprint %016x", i, s.Labels, j, c.Fingerprint, s.Fingerprint)
			}
			if c.MaxT < c.MinT {
				return nil, fmt.Errorf("series %d %s chunk %d: MaxT %d before MinT %d", i, s.Labels, j, c.MaxT, c.MinT)
			}
			if c.Pack == "" && c.Offset != 0 {
				return nil, fmt.Errorf("series %d %s chunk %d: offset %d without a pack", i, s.Labels, j, c.Offset)
			}
		}
		ss = append(ss, Series{Labels: s.Labels, Fingerprint: s.Fingerprint, Chunks: slices.Clone(s.Chunks)})
	}
	slices.SortFunc(ss, func(a, b Series) int { return labels.Compare(a.Labels, b.Labels) })

	out := ss[:0]
	for _, s := range ss {
		if n := len(out); n > 0 && labels.Equal(out[n-1].Labels, s.Labels) {
			if out[n-1].Fingerprint != s.Fingerprint {
				return nil, fmt.Errorf("series %s: conflicting fingerprints %016x and %016x", s.Labels, out[n-1].Fingerprint, s.Fingerprint)
			}
			out[n-1].Chunks = append(out[n-1].Chunks, s.Chunks...)
			continue
		}
		out = append(out, s)
	}
	for i := range out {
		out[i].Chunks = sortDedupChunks(out[i].Chunks)
	}
	return out, nil
}

// sortDedupChunks sorts cs by (MinT, MaxT, Checksum) and drops repeated
// references to the same chunk object, in place.
func sortDedupChunks(cs []ChunkRef) []ChunkRef {
	slices.SortFunc(cs, compareChunks)
	return slices.CompactFunc(cs, sameChunk)
}

func validateLabels(ls labels.Labels) error {
	if ls.IsEmpty() {
		return fmt.Errorf("no labels")
	}
	if name, dup := ls.HasDuplicateLabelNames(); dup {
		return fmt.Errorf("duplicate label name %q", name)
	}
	return ls.Validate(func(l labels.Label) error {
		if l.Name == "" {
			return fmt.Errorf("empty label name")
		}
		if l.Value == "" {
			return fmt.Errorf("label %q has an empty value", l.Name)
		}
		return nil
	})
}

// encode writes normalized series in the segment format of version v.
func encode(ss []Series, v byte) ([]byte, error) {
	if uint64(len(ss)) > math.MaxUint32 {
		return nil, fmt.Errorf("index segment: %d series exceed the format limit", len(ss))
	}

	// Pack table (version 2): every pack name, sorted, numbered from 1 so
	// that 0 can mean a standalone chunk object.
	packSet := make(map[string]uint64)
	for _, s := range ss {
		for _, c := range s.Chunks {
			if c.Pack != "" {
				packSet[c.Pack] = 0
			}
		}
	}
	if v < 2 && len(packSet) > 0 {
		return nil, fmt.Errorf("index segment version %d cannot hold chunks in packs", v)
	}
	packNames := make([]string, 0, len(packSet))
	for p := range packSet {
		packNames = append(packNames, p)
	}
	slices.Sort(packNames)
	var packs []byte
	for i, p := range packNames {
		packSet[p] = uint64(i + 1)
		packs = binary.AppendUvarint(packs, uint64(len(p)))
		packs = append(packs, p...)
	}

	// Symbol table: every label name and value, sorted, so comparing refs
	// compares strings.
	symSet := make(map[string]struct{})
	for _, s := range ss {
		s.Labels.Range(func(l labels.Label) {
			symSet[l.Name] = struct{}{}
			symSet[l.Value] = struct{}{}
		})
	}
	syms := make([]string, 0, len(symSet))
	for s := range symSet {
		syms = append(syms, s)
	}
	slices.Sort(syms)
	symRef := make(map[string]uint32, len(syms))
	var symbols, symOffsets []byte
	for i, s := range syms {
		symRef[s] = uint32(i)
		symOffsets = binary.BigEndian.AppendUint32(symOffsets, uint32(len(symbols)))
		symbols = binary.AppendUvarint(symbols, uint64(len(s)))
		symbols = append(symbols, s...)
	}

	// Series, with their postings collected on the way.
	var (
		series, seriesOffsets []byte
		postingsByPair        = make(map[uint64][]uint32)
		minT, maxT            = int64(math.MaxInt64), int64(math.MinInt64)
		numChunks             uint64
	)
	for id, s := range ss {
		seriesOffsets = binary.BigEndian.AppendUint32(seriesOffsets, uint32(len(series)))
		series = binary.BigEndian.AppendUint64(series, s.Fingerprint)
		series = binary.AppendUvarint(series, uint64(s.Labels.Len()))
		s.Labels.Range(func(l labels.Label) {
			n, v := symRef[l.Name], symRef[l.Value]
			series = binary.AppendUvarint(series, uint64(n))
			series = binary.AppendUvarint(series, uint64(v))
			key := uint64(n)<<32 | uint64(v)
			postingsByPair[key] = append(postingsByPair[key], uint32(id))
		})
		series = binary.AppendUvarint(series, uint64(len(s.Chunks)))
		prevMinT := int64(0)
		for i, c := range s.Chunks {
			if i == 0 {
				series = binary.AppendVarint(series, c.MinT)
			} else {
				series = binary.AppendUvarint(series, uint64(c.MinT-prevMinT))
			}
			prevMinT = c.MinT
			series = binary.AppendUvarint(series, uint64(c.MaxT-c.MinT))
			series = binary.BigEndian.AppendUint32(series, c.Checksum)
			series = binary.AppendUvarint(series, uint64(c.Size))
			series = binary.AppendUvarint(series, uint64(c.Entries))
			series = binary.AppendUvarint(series, uint64(c.UncompressedBytes))
			if v >= 2 {
				if c.Pack == "" {
					series = append(series, 0)
				} else {
					series = binary.AppendUvarint(series, packSet[c.Pack])
					series = binary.AppendUvarint(series, c.Offset)
				}
			}
			minT, maxT = min(minT, c.MinT), max(maxT, c.MaxT)
		}
		numChunks += uint64(len(s.Chunks))
		if len(series) > maxSectionLen {
			return nil, fmt.Errorf("index segment: series section exceeds %d bytes", maxSectionLen)
		}
	}

	// Postings lists in (name, value) order, and the table pointing at them.
	pairs := make([]uint64, 0, len(postingsByPair))
	for k := range postingsByPair {
		pairs = append(pairs, k)
	}
	slices.Sort(pairs)
	var postings, table []byte
	for _, k := range pairs {
		ids := postingsByPair[k]
		table = binary.BigEndian.AppendUint32(table, uint32(k>>32))
		table = binary.BigEndian.AppendUint32(table, uint32(k))
		table = binary.BigEndian.AppendUint32(table, uint32(len(postings)))
		postings = binary.AppendUvarint(postings, uint64(len(ids)))
		prev := uint32(0)
		for i, id := range ids {
			if i == 0 {
				postings = binary.AppendUvarint(postings, uint64(id))
			} else {
				postings = binary.AppendUvarint(postings, uint64(id-prev))
			}
			prev = id
		}
	}

	sections := [numSections][]byte{symbols, symOffsets, series, seriesOffsets, postings, table, packs}
	nsec := sectionsOf(v)
	size := headerLen + tocLenOf(v)
	for i, s := range sections[:nsec] {
		if len(s) > maxSectionLen {
			return nil, fmt.Errorf("index segment: %s section exceeds %d bytes", sectionNames[i], maxSectionLen)
		}
		size += len(s) + crcLen
	}
	out := make([]byte, 0, size)
	out = binary.BigEndian.AppendUint32(out, Magic)
	out = append(out, v)
	var toc [numSections][2]uint64
	for i, s := range sections[:nsec] {
		toc[i] = [2]uint64{uint64(len(out)), uint64(len(s))}
		out = append(out, s...)
		out = binary.BigEndian.AppendUint32(out, crc32.Checksum(s, castagnoli))
	}
	tocStart := len(out)
	for _, e := range toc[:nsec] {
		out = binary.BigEndian.AppendUint64(out, e[0])
		out = binary.BigEndian.AppendUint64(out, e[1])
	}
	out = binary.BigEndian.AppendUint64(out, uint64(minT))
	out = binary.BigEndian.AppendUint64(out, uint64(maxT))
	out = binary.BigEndian.AppendUint64(out, numChunks)
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(out[tocStart:], castagnoli))
	return out, nil
}
