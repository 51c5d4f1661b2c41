package chunks

import (
	"bytes"
	"encoding/binary"
)

// gramSearcher finds a needle of 8 bytes or more in a long text by
// skipping: it looks at the last 4 bytes of the window where the needle
// could end, and when that gram is not one of the needle's, the needle
// cannot overlap it, so the window moves by up to len(needle) − 3 bytes
// (Horspool's rule on 4-byte grams). A rare hex ID, whose bytes are all
// frequent, is found at several GB/s, where bytes.Index stops at every
// occurrence of its first byte.
type gramSearcher struct {
	needle []byte
	// shift[h] is how far the window may move when the gram at its end
	// hashes to h: the distance from the last gram of the needle hashing
	// to h to the needle's end (0: compare), or len(needle) − 3 if none.
	shift [1 << gramSearchBits]uint8
}

const gramSearchBits = 12

func gramSearchHash(g uint32) uint32 {
	return uint32((uint64(g) * ngramHashMul) >> (64 - gramSearchBits))
}

func newGramSearcher(needle []byte) *gramSearcher {
	s := &gramSearcher{needle: needle}
	n := len(needle)
	def := uint8(min(n-3, 255))
	for i := range s.shift {
		s.shift[i] = def
	}
	for j := 0; j+4 <= n; j++ {
		// Later grams overwrite earlier ones: the smallest distance wins.
		s.shift[gramSearchHash(binary.LittleEndian.Uint32(needle[j:]))] = uint8(min(n-4-j, 255))
	}
	return s
}

// index returns the first index of the needle in text, or -1.
func (s *gramSearcher) index(text []byte) int {
	n := len(s.needle)
	if n < 8 {
		return bytes.Index(text, s.needle)
	}
	for pos := 0; pos+n <= len(text); {
		sh := s.shift[gramSearchHash(binary.LittleEndian.Uint32(text[pos+n-4:]))]
		if sh == 0 {
			if bytes.Equal(text[pos:pos+n], s.needle) {
				return pos
			}
			sh = 1
		}
		pos += int(sh)
	}
	return -1
}

// markLines sets keep[i] for every line i of a lines frame that holds the
// needles, and clears it for the others; line i is lines[ends[i-1]:ends[i]]
// (ends[-1] = 0), and ends must be non-decreasing and end at len(lines).
// It searches the frame whole for the best group's alternative, as
// markHead does the head's arena, and checks the other groups only on
// the lines found.
//
// It reports false, having marked nothing useful, where a search of the
// whole frame does not pay: when the best group has several alternatives
// (a pass each, or a multi-needle search, costs more than the query's
// own filter on every line: `status` and `HTTP/1.1" ` of the 5xx regexp
// match nearly every line) and when more than a quarter of the lines
// searched so far hold the needle (then nearly every line is searched
// twice, here and by the filter).
func (n *Needles) markLines(lines []byte, ends []uint32, keep []bool) bool {
	if len(n.searches) != 1 {
		return false
	}
	clear(keep)
	gs := n.searches[0]
	a := len(gs.needle)
	i, kept := 0, 0
	for pos := 0; pos < len(lines) && i < len(ends); {
		j := gs.index(lines[pos:])
		if j < 0 {
			break
		}
		p := pos + j
		for i < len(ends) && int(ends[i]) <= p {
			i++
		}
		if i == len(ends) {
			break
		}
		// Line i holds p. A match straddling its end means no match
		// starts in line i at all: later ones end later.
		if p+a <= int(ends[i]) {
			keep[i] = true
			kept++
			if i >= denseCheckLines && kept > (i+1)/4 {
				return false
			}
		}
		pos = int(ends[i])
		i++
	}
	n.checkOtherGroups(lines, ends, keep)
	return true
}

// denseCheckLines is how many lines markLines searches before it may
// judge the needle too frequent to be worth searching for.
const denseCheckLines = 64

// checkOtherGroups clears keep[i] for the lines the best group's search
// kept that lack another group.
func (n *Needles) checkOtherGroups(lines []byte, ends []uint32, keep []bool) {
	if len(n.strs) == 1 {
		return
	}
	start := uint32(0)
	for i, end := range ends {
		if keep[i] && !n.matchLine(lines[start:end]) {
			keep[i] = false
		}
		start = end
	}
}
