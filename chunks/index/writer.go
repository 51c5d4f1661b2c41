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
// object store derives the chunk's key from; the remaining fields are sizes
// used for query planning and index stats.
type ChunkRef struct {
	Fingerprint       uint64
	MinT, MaxT        int64  // inclusive, Unix nanoseconds
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

func compareChunks(a, b ChunkRef) int {
	if c := cmp.Compare(a.MinT, b.MinT); c != 0 {
		return c
	}
	if c := cmp.Compare(a.MaxT, b.MaxT); c != 0 {
		return c
	}
	return cmp.Compare(a.Checksum, b.Checksum)
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
// dropped. It fails on invalid input: no labels, an empty label name or
// value, duplicate label names, MaxT < MinT, or a chunk fingerprint that
// differs from its series'.
func Write(series []Series) ([]byte, error) {
	ss, err := normalize(series)
	if err != nil {
		return nil, err
	}
	return encode(ss)
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

// encode writes normalized series in the segment format.
func encode(ss []Series) ([]byte, error) {
	if uint64(len(ss)) > math.MaxUint32 {
		return nil, fmt.Errorf("index segment: %d series exceed the format limit", len(ss))
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

	sections := [numSections][]byte{symbols, symOffsets, series, seriesOffsets, postings, table}
	size := headerLen + tocLen
	for i, s := range sections {
		if len(s) > maxSectionLen {
			return nil, fmt.Errorf("index segment: %s section exceeds %d bytes", sectionNames[i], maxSectionLen)
		}
		size += len(s) + crcLen
	}
	out := make([]byte, 0, size)
	out = binary.BigEndian.AppendUint32(out, Magic)
	out = append(out, Version)
	var toc [numSections][2]uint64
	for i, s := range sections {
		toc[i] = [2]uint64{uint64(len(out)), uint64(len(s))}
		out = append(out, s...)
		out = binary.BigEndian.AppendUint32(out, crc32.Checksum(s, castagnoli))
	}
	tocStart := len(out)
	for _, e := range toc {
		out = binary.BigEndian.AppendUint64(out, e[0])
		out = binary.BigEndian.AppendUint64(out, e[1])
	}
	out = binary.BigEndian.AppendUint64(out, uint64(minT))
	out = binary.BigEndian.AppendUint64(out, uint64(maxT))
	out = binary.BigEndian.AppendUint64(out, numChunks)
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(out[tocStart:], castagnoli))
	return out, nil
}
