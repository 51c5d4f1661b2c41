package chunks

import (
	"bytes"
	"encoding/binary"

	"github.com/plgstack/plg/internal/logbytes"
)

// gramSearcher finds a needle (of 4 bytes or more) in a long text. It
// scans for the needle's rarest byte (by logbytes.Order) with bytes.IndexByte,
// which is vectorised, and compares the needle around each hit:
// bytes.Index scans for the first byte, but IndexByte costs a call per
// hit and the first byte of a word is often among the most frequent
// letters (the t of "timeout"), and every byte of a hex ID is frequent,
// its rarest less so (BenchmarkGramSearcher).
//
// Where even the rarest byte comes every few bytes it switches to
// skipping for the rest of the text: it looks at the last 4 bytes of the
// window where the needle could end, and when that gram is not one of
// the needle's, the needle cannot overlap it, so the window moves by up
// to len(needle) − 3 bytes (Horspool's rule on 4-byte grams). A needle
// shorter than 8 bytes moves the window too little and takes
// bytes.Index instead.
type gramSearcher struct {
	needle []byte
	// rare is the offset of the needle's rarest byte; check is another
	// offset, compared before the whole needle.
	rare, check int
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
	s.rare = logbytes.RarestInOrder(needle)
	if s.rare == 0 {
		s.check = max(n-1, 0)
	}
	if n < 8 {
		return s
	}
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
	n, off := len(s.needle), s.rare
	if off == 0 && n < 8 {
		// bytes.Index scans for the first byte too, with its own
		// vectorised loop once hits are dense.
		return bytes.Index(text, s.needle)
	}
	c := s.needle[off]
	end := len(text) - n + 1 // the needle starts before end
	for i, fails := 0, 0; i < end; {
		// The rare byte at i+off+j: the needle may start at i+j.
		j := bytes.IndexByte(text[i+off:end+off], c)
		if j < 0 {
			return -1
		}
		i += j
		if text[i+s.check] == s.needle[s.check] && bytes.Equal(text[i:i+n], s.needle) {
			return i
		}
		i++
		// More than one miss per 8 bytes (bytes.Index's cutover): a call
		// per hit costs more than skipping.
		if fails++; fails > (i+16)/8 {
			if j := s.skipIndex(text[i:]); j >= 0 {
				return i + j
			}
			return -1
		}
	}
	return -1
}

// skipIndex is index by Horspool's rule on 4-byte grams (bytes.Index for
// a needle shorter than 8 bytes).
func (s *gramSearcher) skipIndex(text []byte) int {
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

// anchorSearcher finds the lines holding one of several needles that all
// contain one byte that is rare in logs: it scans for that byte with
// bytes.IndexByte, which is vectorised, and compares the needles around
// each occurrence. The alternatives a regexp requires (`status":5`,
// `status=5`, `HTTP/1.1" 5`, ...) are found in one pass over the lines,
// where a search for each would cost more than a regexp on every line.
type anchorSearcher struct {
	c       byte
	needles [][]byte
	offs    [][]int // offs[k]: the offsets of c in needles[k]
	// prev[b] tells whether some needle has b right before an anchor
	// byte (every b when some needle starts with it): most occurrences
	// of a digit follow another digit, and are dismissed with one look.
	// prev2 is the same for the byte two before (every b when some
	// needle has its anchor at offset 0 or 1): the digits that follow a
	// ':', '=' or ' ' in a timestamp ("19:5"), a logfmt value
	// (duration=5) or a number list ("200 5120") pass prev for the 5xx
	// needles, but not prev2, which holds only '"' and 's'.
	prev, prev2 [256]bool
}

// maxAnchorRank is the most frequent logbytes.Rank an anchor may have: a digit
// is rare enough, a vowel or a space is not.
const maxAnchorRank = 8

// newAnchorSearcher returns nil unless needles are at least two and share
// a byte no more frequent than maxAnchorRank.
func newAnchorSearcher(needles [][]byte) *anchorSearcher {
	if len(needles) < 2 {
		return nil
	}
	var in [256]int // in[c]: how many needles hold c
	for _, nd := range needles {
		var seen [256]bool
		for _, c := range nd {
			if !seen[c] {
				seen[c] = true
				in[c]++
			}
		}
	}
	best, bestRank := -1, maxAnchorRank+1
	for c := range in {
		if r := logbytes.Rank(byte(c)); in[c] == len(needles) && r < bestRank {
			best, bestRank = c, r
		}
	}
	if best < 0 {
		return nil
	}
	a := &anchorSearcher{c: byte(best), needles: needles, offs: make([][]int, len(needles))}
	for k, nd := range needles {
		for o, c := range nd {
			if c != a.c {
				continue
			}
			a.offs[k] = append(a.offs[k], o)
			switch o {
			case 0:
				for b := range a.prev {
					a.prev[b], a.prev2[b] = true, true
				}
			case 1:
				a.prev[nd[0]] = true
				for b := range a.prev2 {
					a.prev2[b] = true
				}
			default:
				a.prev[nd[o-1]], a.prev2[nd[o-2]] = true, true
			}
		}
	}
	return a
}

// mayMatchAt reports whether the bytes before line[k], an anchor byte,
// let a needle hold it; most anchors found are dismissed here, inlined.
func (a *anchorSearcher) mayMatchAt(line []byte, k int) bool {
	return k < 2 || (a.prev[line[k-1]] && a.prev2[line[k-2]])
}

// matchAt reports whether a needle holds line[k], an anchor byte.
func (a *anchorSearcher) matchAt(line []byte, k int) bool {
	if k > 0 && !a.prev[line[k-1]] || k > 1 && !a.prev2[line[k-2]] {
		return false
	}
	for i, nd := range a.needles {
		for _, o := range a.offs[i] {
			s := k - o
			if s < 0 || s+len(nd) > len(line) || (o > 0 && line[k-1] != nd[o-1]) {
				continue
			}
			if bytes.Equal(line[s:s+len(nd)], nd) {
				return true
			}
		}
	}
	return false
}

// markHead is Needles.markHead for the alternatives of a's needles, over
// entries in arena order: one pass for them all.
func (a *anchorSearcher) markHead(entries []headEntry, arena []byte, keep []bool) {
	i := 0
	for pos := 0; pos < len(arena) && i < len(entries); {
		j := bytes.IndexByte(arena[pos:], a.c)
		if j < 0 {
			return
		}
		h := uint32(pos + j)
		for i < len(entries) && entries[i].off+entries[i].lineLen <= h {
			i++
		}
		if i == len(entries) {
			return
		}
		e := entries[i]
		if h < e.off { // in the metadata before line i
			pos = int(e.off)
			continue
		}
		if a.matchAt(arena[e.off:e.off+e.lineLen], int(h-e.off)) {
			keep[i] = true
			pos = int(e.off + e.lineLen + e.metaLen)
			i++
			continue
		}
		pos = int(h) + 1
	}
}

// markLines sets keep[i] for every line i of a lines frame that holds the
// needles, and clears it for the others; line i is lines[ends[i-1]:ends[i]]
// (ends[-1] = 0), and ends must be non-decreasing and end at len(lines).
// It searches the frame whole for the best group's alternatives, as
// markHead does the head's arena, and checks the other groups only on
// the lines found.
//
// It reports false, having marked nothing useful, where a search of the
// whole frame does not pay: when the best group has several alternatives
// without a rare byte in common (a pass each costs more than the query's
// own filter on every line), and when more than a quarter of the lines
// searched so far hold the needle (then nearly every line is searched
// twice, here and by the filter).
func (n *Needles) markLines(lines []byte, ends []uint32, keep []bool) bool {
	if len(n.searches) != 1 && n.anchor == nil {
		return false
	}
	clear(keep)
	i, kept := 0, 0
	for pos := 0; pos < len(lines) && i < len(ends); {
		h := n.nextHit(lines, pos)
		if h < 0 {
			break
		}
		for i < len(ends) && int(ends[i]) <= h {
			i++
		}
		if i == len(ends) {
			break
		}
		start := 0
		if i > 0 {
			start = int(ends[i-1])
		}
		// The hit was checked against the whole frame; a needle found
		// there may straddle line i's end.
		if !n.hitInLine(lines[start:ends[i]], h-start) {
			pos = h + 1
			continue
		}
		keep[i] = true
		kept++
		if i >= denseCheckLines && kept > (i+1)/4 {
			return false
		}
		pos = int(ends[i])
		i++
	}
	n.checkOtherGroups(lines, ends, keep)
	return true
}

// nextHit returns the offset in text at or after pos of something the
// best group's search stops at (a needle's start, or an anchor byte with
// one around it, text bounding both), or -1: the line holding a needle
// found there holds that offset.
func (n *Needles) nextHit(text []byte, pos int) int {
	if len(n.searches) == 1 {
		j := n.searches[0].index(text[pos:])
		if j < 0 {
			return -1
		}
		return pos + j
	}
	return n.anchor.scan(text, pos)
}

// hitInLine reports whether a needle that nextHit found at line[k] lies
// within line.
func (n *Needles) hitInLine(line []byte, k int) bool {
	if len(n.searches) == 1 {
		return k+len(n.searches[0].needle) <= len(line)
	}
	return n.anchor.matchAt(line, k)
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
