package chunks

import (
	"math"
	"math/bits"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// Per-block token bloom filters (filter kind 1 in FORMAT.md) let a querier
// skip blocks that cannot contain a rare token, such as a trace or order
// ID, without decompressing them.

const (
	filterKindBloom = 1
	bloomMaxK       = 16
	// bloomMaxBytes caps one block's filter; past it the false-positive
	// rate grows instead of the filter.
	bloomMaxBytes = 256 << 10
)

// tokenByte marks the bytes that make up tokens: ASCII letters, digits,
// '_' and every byte >= 0x80, so UTF-8 text stays whole.
var tokenByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	}
	return t
}()

// AppendTokens appends to dst the tokens of s (maximal runs of token
// bytes, see FORMAT.md) as subslices of s.
func AppendTokens(dst [][]byte, s []byte) [][]byte {
	for i := 0; i < len(s); {
		for i < len(s) && !tokenByte[s[i]] {
			i++
		}
		j := i
		for j < len(s) && tokenByte[s[j]] {
			j++
		}
		if j > i {
			dst = append(dst, s[i:j])
		}
		i = j
	}
	return dst
}

// WholeTokens returns the tokens of a substring needle that any line
// containing the needle must contain as whole tokens: those bounded on
// both sides by a separator inside the needle. A token touching either
// end of the needle may be part of a longer token in the line, so a bloom
// filter cannot rule it out. The result aliases needle.
func WholeTokens(needle []byte) [][]byte {
	var out [][]byte
	for _, t := range AppendTokens(nil, needle) {
		start := cap(needle) - cap(t) // offset of t in needle
		if start > 0 && start+len(t) < len(needle) {
			out = append(out, t)
		}
	}
	return out
}

// TokenHash returns the hash a bloom filter records for token.
func TokenHash(token []byte) uint64 { return xxhash.Sum64(token) }

var tokenHashPool = sync.Pool{New: func() any { return new([]uint64) }}

// appendBloom appends to dst a kind-1 filter over the tokens of lines,
// with about bitsPerToken bits per distinct token.
func appendBloom(dst []byte, bitsPerToken int, forEachLine func(func(line []byte))) []byte {
	hp := tokenHashPool.Get().(*[]uint64)
	defer tokenHashPool.Put(hp)
	hs := (*hp)[:0]
	forEachLine(func(s []byte) {
		for i := 0; i < len(s); {
			for i < len(s) && !tokenByte[s[i]] {
				i++
			}
			j := i
			for j < len(s) && tokenByte[s[j]] {
				j++
			}
			if j > i {
				hs = append(hs, xxhash.Sum64(s[i:j]))
			}
			i = j
		}
	})
	*hp = hs
	if len(hs) == 0 {
		return dst
	}
	nbytes := min(max((distinct(hs)*bitsPerToken+7)/8, 8), bloomMaxBytes)
	// k = ln2 · bits per token minimises false positives.
	k := min(max(int(float64(bitsPerToken)*0.693+0.5), 1), bloomMaxK)
	start := len(dst)
	dst = append(dst, filterKindBloom, byte(k))
	dst = append(dst, make([]byte, nbytes)...)
	set := dst[start+2:]
	m := uint64(nbytes) * 8
	for _, h := range hs {
		step := h>>32 | 1
		x := h
		for range k {
			b := x % m
			set[b>>3] |= 1 << (b & 7)
			x += step
		}
	}
	return dst
}

// distinct estimates the number of distinct values in hs by linear
// counting on a 64 Ki-bit bitmap: a few percent off up to several hundred
// thousand values, and O(n) where sorting would be O(n log n). Only the
// filter's size depends on it; repeated hashes set the same bits.
func distinct(hs []uint64) int {
	const m = 1 << 16
	var bitmap [m / 64]uint64
	for _, h := range hs {
		b := h >> 48
		bitmap[b>>6] |= 1 << (b & 63)
	}
	zeros := 0
	for _, w := range bitmap {
		zeros += 64 - bits.OnesCount64(w)
	}
	if zeros == 0 {
		return len(hs) // saturated: fall back to the upper bound
	}
	return min(int(math.Ceil(-m*math.Log(float64(zeros)/m))), len(hs))
}

// filterMayContain reports whether a block filter admits a token hash. An
// empty filter or one of an unknown kind admits everything.
func filterMayContain(f []byte, h uint64) bool {
	f = skipHist(filterAfterNgram(f))
	if len(f) < 3 || f[0] != filterKindBloom {
		return true
	}
	k, set := int(f[1]), f[2:]
	if k < 1 || k > bloomMaxK {
		return true
	}
	m := uint64(len(set)) * 8
	step := h>>32 | 1
	x := h
	for range k {
		b := x % m
		if set[b>>3]&(1<<(b&7)) == 0 {
			return false
		}
		x += step
	}
	return true
}

// BlockMayContain reports whether block i may contain token as a whole
// token (see WholeTokens). It is false only if the block has a bloom
// filter that rules the token out; blocks without filters always may.
func (c *Chunk) BlockMayContain(i int, token []byte) bool {
	return filterMayContain(c.blocks[i].filter, TokenHash(token))
}

// BlockMayContainHash is BlockMayContain for a token hashed once with
// TokenHash, for checking one token against many blocks.
func (c *Chunk) BlockMayContainHash(i int, h uint64) bool {
	return filterMayContain(c.blocks[i].filter, h)
}

// HasFilters reports whether any block carries a filter.
func (c *Chunk) HasFilters() bool {
	for i := range c.blocks {
		if len(c.blocks[i].filter) > 0 {
			return true
		}
	}
	return false
}
