package chunks

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"sync"
)

// Per-block n-gram filters (filter kind 2 in FORMAT.md) let a querier skip
// blocks that cannot contain a substring, such as a trace ID searched with
// `|= "…"`. The token bloom (kind 1) cannot answer that: a substring needle
// may sit inside a longer token the bloom only knows whole.
//
// Grams are 4 bytes. Trigrams are useless on hex IDs, the common needle:
// a 256 KiB block of corpus lines holds ~30k hex trigrams of 16^3 = 4096
// possible, so every hex trigram is present. Of 16^4 = 65536 hex 4-grams
// a third to two thirds are present, and a 32-hex needle has 29 of them,
// so the filter still rules it out; and 4 bytes load as one word, so
// hashing is a load and a multiply per byte of text.

const (
	filterKindNgram = 2
	// ngramScratchLog2 is the size of the scratch bitset a block's grams
	// are first hashed into: 2^17 bits, 16 KiB, which stays in L1 while
	// every byte of the block sets a bit at random (2^20 bits in L2 built
	// filters at half the speed). A gram's slot is a 17-bit number, and a
	// stored filter of m bits maps slot x to bit x·m / 2^17, so m is at
	// most 2^17: past ~130k distinct grams per block (blocks of 1 MiB
	// and more) the false-positive rate grows instead of the filter.
	ngramScratchLog2 = 17
	ngramScratchBits = 1 << ngramScratchLog2
	// ngramHashMul is the odd 64-bit multiplier of the gram hash (2^64/φ).
	ngramHashMul = 0x9E3779B97F4A7C15
	// ngramHeader: kind, gram length, 4-byte length of the bits.
	ngramHeader = 6
	// NgramLen is the gram length: a needle shorter than this cannot use
	// the filter.
	NgramLen = 4
)

// ngramSlot is the scratch bit a gram sets: the top 17 bits of the gram's
// bytes, read as a little-endian integer, times ngramHashMul (mod 2^64).
func ngramSlot(g uint64) uint32 {
	return uint32((g * ngramHashMul) >> (64 - ngramScratchLog2))
}

// ngramAt reads the gram at b[i:], which must hold NgramLen bytes.
func ngramAt(b []byte, i int) uint64 { return uint64(binary.LittleEndian.Uint32(b[i:])) }

type ngramScratch [ngramScratchBits / 64]uint64

var ngramScratchPool = sync.Pool{New: func() any { return new(ngramScratch) }}

// addLine sets the scratch bits of every gram of line. Grams never span
// two lines: a needle spanning lines cannot match one line.
func (s *ngramScratch) addLine(line []byte) {
	// One 8-byte load holds 5 grams.
	for len(line) >= 8 {
		w := binary.LittleEndian.Uint64(line)
		x0 := ngramSlot(uint64(uint32(w)))
		x1 := ngramSlot(uint64(uint32(w >> 8)))
		x2 := ngramSlot(uint64(uint32(w >> 16)))
		x3 := ngramSlot(uint64(uint32(w >> 24)))
		x4 := ngramSlot(w >> 32)
		s[x0>>6] |= 1 << (x0 & 63)
		s[x1>>6] |= 1 << (x1 & 63)
		s[x2>>6] |= 1 << (x2 & 63)
		s[x3>>6] |= 1 << (x3 & 63)
		s[x4>>6] |= 1 << (x4 & 63)
		line = line[5:]
	}
	for len(line) >= NgramLen {
		x := ngramSlot(uint64(binary.LittleEndian.Uint32(line)))
		s[x>>6] |= 1 << (x & 63)
		line = line[1:]
	}
}

// appendNgramFilter appends to dst a kind-2 filter over the lines yielded
// by forEachLine, sized at about bitsPerGram bits per distinct gram. With
// no gram (every line shorter than NgramLen) it appends nothing.
func appendNgramFilter(dst []byte, bitsPerGram float64, forEachLine func(func(line []byte))) []byte {
	s := ngramScratchPool.Get().(*ngramScratch)
	defer ngramScratchPool.Put(s)
	clear(s[:])
	forEachLine(s.addLine)
	return s.appendFilter(dst, bitsPerGram)
}

// appendFilter appends to dst the kind-2 filter of the grams set in s,
// sized at about bitsPerGram bits per distinct gram; with none set it
// appends nothing.
func (s *ngramScratch) appendFilter(dst []byte, bitsPerGram float64) []byte {
	set := 0
	for _, w := range s {
		set += bits.OnesCount64(w)
	}
	if set == 0 {
		return dst
	}
	// Linear counting: with set of M bits set, about -M·ln(1 - set/M)
	// distinct grams were hashed. A saturated scratch keeps the largest size.
	const M = ngramScratchBits
	nbytes := M / 8
	if set < M {
		distinct := -M * math.Log1p(-float64(set)/M)
		nbytes = min(max(int(math.Ceil(distinct*bitsPerGram/8)), 8), M/8)
	}
	start := len(dst)
	// Exactly sized: a sealed block keeps its filter until flushed.
	dst = slices.Grow(dst, ngramHeader+nbytes)
	dst = append(dst, filterKindNgram, byte(NgramLen), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[start+2:], uint32(nbytes))
	dst = append(dst, make([]byte, nbytes)...)
	s.fold(dst[start+ngramHeader:])
	return dst
}

// or adds the grams set in t to s.
func (s *ngramScratch) or(t *ngramScratch) {
	for i := range s {
		s[i] |= t[i]
	}
}

// fold sets in out, which must be zero, bit x·m/2^17 for every set
// scratch bit x, m being out's length in bits: slots map in order onto
// the filter, so this is folding the scratch to m bits. Because the
// target bits only ever increase, each 64-bit word of out is assembled in
// a register and stored once; or-ing every bit into its byte in memory
// made each iteration wait on the previous one's store (most set bits
// land in the same byte as the one before), and took as long as hashing
// the block's grams.
func (s *ngramScratch) fold(out []byte) {
	m := uint64(len(out)) * 8
	var word, cur uint64 // out's word being assembled, and its bits
	for wi, w := range s {
		for w != 0 {
			x := uint64(wi<<6 + bits.TrailingZeros64(w))
			w &= w - 1
			b := x * m >> ngramScratchLog2
			if b>>6 != word {
				putFilterWord(out, word, cur)
				word, cur = b>>6, 0
			}
			cur |= 1 << (b & 63)
		}
	}
	putFilterWord(out, word, cur)
}

// putFilterWord stores bits as out's 64-bit word i, little-endian (bit b
// of the filter is bit b&7 of byte b>>3); the last word may be partial.
func putFilterWord(out []byte, i, bits uint64) {
	if bits == 0 {
		return
	}
	if o := i * 8; o+8 <= uint64(len(out)) {
		binary.LittleEndian.PutUint64(out[o:], bits)
		return
	}
	for o := i * 8; o < uint64(len(out)); o++ {
		out[o] = byte(bits)
		bits >>= 8
	}
}

// ngramFilter finds the kind-2 filter in a block's filter bytes. ok is
// false when there is none usable: absent, of another gram length, or
// after a filter of a kind this reader does not know.
func ngramFilter(f []byte) (set []byte, ok bool) {
	if len(f) < ngramHeader || f[0] != filterKindNgram {
		return nil, false
	}
	n := binary.BigEndian.Uint32(f[2:])
	if n == 0 || n > ngramScratchBits/8 || uint64(len(f)-ngramHeader) < uint64(n) || int(f[1]) != NgramLen {
		return nil, false
	}
	return f[ngramHeader : ngramHeader+n], true
}

// filterAfterNgram returns the filters that follow a leading kind-2 filter
// in f (f itself when it does not start with one).
func filterAfterNgram(f []byte) []byte {
	if len(f) == 0 || f[0] != filterKindNgram {
		return f
	}
	if len(f) < ngramHeader {
		return nil
	}
	n := binary.BigEndian.Uint32(f[2:])
	if uint64(len(f)-ngramHeader) < uint64(n) {
		return nil
	}
	return f[ngramHeader+n:]
}

// Needles is what every line a query wants contains: for each group, at
// least one of its strings (case-sensitive substrings). It is built once
// per query with NewNeedles and checked against many blocks.
type Needles struct {
	// groups[g][a] are the distinct gram slots of alternative a of group g,
	// and strs[g][a] the alternative itself.
	groups   [][][]uint32
	strs     [][][]byte
	searches []*gramSearcher // for the best group's alternatives
	anchor   *anchorSearcher // for all of them at once, if they share a rare byte
	// packed, when not nil, lets markPacked search packed lines frames.
	packed *packedSearch
	// best is the group whose shortest alternative is longest: likely the
	// rarest, searched first in head blocks.
	best int
}

// NewNeedles compiles groups of alternative substrings. A group with an
// alternative shorter than NgramLen says nothing a filter can check and is
// dropped. It returns nil when no group is left.
func NewNeedles(groups [][]string) *Needles {
	var n Needles
	for _, alts := range groups {
		if len(alts) == 0 {
			continue // "one of nothing" is never promised by a query
		}
		var g [][]uint32
		var strs [][]byte
		shortest := math.MaxInt
		for _, a := range alts {
			if len(a) < NgramLen {
				g = nil
				break
			}
			b := []byte(a)
			strs = append(strs, b)
			shortest = min(shortest, len(b))
			slots := make([]uint32, 0, len(b)-NgramLen+1)
			for i := 0; i+NgramLen <= len(b); i++ {
				slots = append(slots, ngramSlot(ngramAt(b, i)))
			}
			slices.Sort(slots)
			g = append(g, slices.Compact(slots))
		}
		if g != nil {
			if len(n.groups) == 0 || shortest > len(n.shortestOfBest()) {
				n.best = len(n.groups)
			}
			n.groups = append(n.groups, g)
			n.strs = append(n.strs, strs)
		}
	}
	if len(n.groups) == 0 {
		return nil
	}
	for _, a := range n.strs[n.best] {
		n.searches = append(n.searches, newGramSearcher(a))
	}
	n.anchor = newAnchorSearcher(n.strs[n.best])
	if len(n.searches) == 1 || n.anchor != nil {
		n.packed = newPackedSearch(n.strs[n.best])
	}
	return &n
}

func (n *Needles) shortestOfBest() []byte {
	var s []byte
	for _, a := range n.strs[n.best] {
		if s == nil || len(a) < len(s) {
			s = a
		}
	}
	return s
}

// matchLine reports whether line holds, for every group, one of its
// alternatives.
func (n *Needles) matchLine(line []byte) bool {
	for _, alts := range n.strs {
		found := false
		for _, a := range alts {
			if bytes.Contains(line, a) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// markHead returns, for each entry of a head snapshot, whether its line
// holds the needles. A head block has no filter; searching its arena
// whole for the best group's alternatives, then checking only the lines
// they land in, is several times faster than a search per line (one
// bytes.Index call per line never reaches its fast path on a rare
// needle).
func (n *Needles) markHead(entries []headEntry, arena []byte) []bool {
	keep := make([]bool, len(entries))
	inOrder := true // entries in arena order: appends in time order
	for i := 1; i < len(entries) && inOrder; i++ {
		inOrder = entries[i].off > entries[i-1].off
	}
	if !inOrder {
		for i, e := range entries {
			keep[i] = n.matchLine(arena[e.off : e.off+e.lineLen])
		}
		return keep
	}
	if n.anchor != nil {
		n.anchor.markHead(entries, arena, keep)
	} else {
		n.markHeadEach(entries, arena, keep)
	}
	if len(n.strs) > 1 {
		for i, e := range entries {
			keep[i] = keep[i] && n.matchLine(arena[e.off:e.off+e.lineLen])
		}
	}
	return keep
}

// markHeadEach is markHead searching for each alternative in turn.
func (n *Needles) markHeadEach(entries []headEntry, arena []byte, keep []bool) {
	for _, gs := range n.searches {
		a := gs.needle
		i := 0
		for pos := 0; pos < len(arena) && i < len(entries); {
			j := gs.index(arena[pos:])
			if j < 0 {
				break
			}
			p := uint32(pos + j)
			for i < len(entries) && entries[i].off+entries[i].lineLen < p+uint32(len(a)) {
				i++
			}
			if i == len(entries) {
				break
			}
			if e := entries[i]; p >= e.off {
				keep[i] = true
				pos = int(e.off + e.lineLen + e.metaLen)
				i++
			} else {
				pos = int(e.off) // the match straddled the previous line's end
			}
		}
	}
}

// mayMatch reports whether a block with filter bytes f may hold a wanted
// line: false only if its n-gram filter rules out every alternative of
// some group.
func (n *Needles) mayMatch(f []byte) bool {
	if n == nil {
		return true
	}
	set, ok := ngramFilter(f)
	if !ok {
		return true
	}
	m := uint64(len(set)) * 8
	for _, alts := range n.groups {
		found := false
		for _, slots := range alts {
			all := true
			for _, x := range slots {
				b := uint64(x) * m >> ngramScratchLog2
				if set[b>>3]&(1<<(b&7)) == 0 {
					all = false
					break
				}
			}
			if all {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// BlockMayMatch reports whether block i may hold a line containing the
// needles. It is false only if the block's n-gram filter rules them out;
// blocks without one always may.
func (c *Chunk) BlockMayMatch(i int, n *Needles) bool {
	return n.mayMatch(c.blocks[i].filter)
}

// IteratorMatching is Iterator without the sealed blocks whose n-gram
// filters rule the needles out (counted in stats.BlocksSkipped) and
// without most entries whose lines lack them: the head, which has no
// filter, and each version 2 block read have their lines searched whole
// once (see markHead and blockCursor.selectLines), and only the entries
// the search lands in are yielded, with the head's and each block's last
// entry in iteration order (entries left out are counted in
// stats.LinesLeftOut). Version 1 blocks are yielded whole. With nil
// needles it is Iterator.
func (c *MemChunk) IteratorMatching(ctx context.Context, from, through int64, dir Direction, stats *Stats, n *Needles) Iterator {
	if n == nil {
		return c.Iterator(ctx, from, through, dir, stats)
	}
	blocks, head := c.snapshot()
	if head != nil {
		head.keep = n.markHead(head.entries, head.arena)
	}
	keep := func(i int) bool { return n.mayMatch(blocks[i].filter) }
	it := newChunkIterator(ctx, c.enc, blocks, head, from, through, dir, stats, keep)
	it.needles = n
	return it
}

// IteratorMatching is FilteredIterator (keep may be nil: every block)
// without the blocks whose n-gram filters rule the needles out and
// without the entries whose lines lack them, as MemChunk.IteratorMatching.
// With nil needles it is FilteredIterator.
func (c *Chunk) IteratorMatching(ctx context.Context, from, through int64, dir Direction, stats *Stats, n *Needles, keep func(block int) bool) Iterator {
	if n == nil {
		return newChunkIterator(ctx, c.enc, c.blocks, nil, from, through, dir, stats, keep)
	}
	admit := func(i int) bool { return n.mayMatch(c.blocks[i].filter) && (keep == nil || keep(i)) }
	it := newChunkIterator(ctx, c.enc, c.blocks, nil, from, through, dir, stats, admit)
	it.needles = n
	return it
}
