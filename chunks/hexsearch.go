package chunks

import (
	"bytes"
	"encoding/binary"
	"sort"
)

// A query that wants a few lines of a version 3 block need not unpack the
// hex runs of every line: it searches the packed lines frame, which is
// the text less its long hex runs (trace IDs), and unpacks only the lines
// the search lands in. The packed frame is shorter, and most of the digits
// an anchored search stops at (the 5 of `status=5`, about two in every
// 32-digit trace ID) are gone with the runs. Unpacking every line costs
// more than the search (BenchmarkMarkLinesPacked).
//
// A needle found in the packed text is in the lines, but not every needle
// in the lines is whole in the packed text: its leading or trailing hex
// digits may be the end or the start of a packed run (`status=5` before a
// hex run starting with 5). Searching for such a needle, the reader also
// looks at every escape: text before it ending with the needle's part
// before its trailing digits, or text after it (after at most one odd
// digit the run left as text) starting with the part after its leading
// digits, makes the line a candidate. Every candidate is then unpacked and
// checked whole, so the marks are exact. A needle of hex digits only, a
// needle whose inner hex run is long enough to be packed, and one holding
// a 0x00 (which the packed frame escapes) take the plain path: unpack
// everything, then search.

// hexEsc is one escape of a packed lines frame.
type hexEsc struct {
	p int32 // offset of its 0x00 in the packed frame
	u int32 // offset in the lines of the first byte it stands for
	h int32 // offset in the hex frame of its first packed byte
	n int32 // digit pairs; 0: a literal 0x00
}

// out is how many line bytes e stands for.
func (e hexEsc) out() int32 {
	if e.n == 0 {
		return 1
	}
	return 2 * e.n
}

// packedLines is a version 3 lines frame not yet unpacked into lines,
// whose length is the block's line bytes.
type packedLines struct {
	packed, hex []byte
	esc         []hexEsc // scratch, reused across blocks
}

// index lists the escapes of p, failing as unpackHex does unless the
// frames decode to exactly lineBytes bytes and consume the hex frame.
func (p *packedLines) index(lineBytes int) error {
	esc := p.esc[:0]
	packed := p.packed
	pos, u, h := 0, 0, 0
	for pos < len(packed) {
		k := bytes.IndexByte(packed[pos:], hexEscape)
		if k < 0 {
			u += len(packed) - pos
			break
		}
		u += k
		pos += k
		if pos+1 == len(packed) {
			return errHexPacking
		}
		e := hexEsc{p: int32(pos), u: int32(u), h: int32(h), n: int32(packed[pos+1])}
		if int(e.n) > len(p.hex)-h {
			return errHexPacking
		}
		esc = append(esc, e)
		u += int(e.out())
		h += int(e.n)
		pos += 2
	}
	p.esc = esc
	if u != lineBytes || h != len(p.hex) {
		return errHexPacking
	}
	return nil
}

// hexMapper turns offsets in the packed frame into offsets in the lines
// and back, for offsets that only grow (k is the next escape not passed).
type hexMapper struct {
	esc []hexEsc
	k   int
}

// lineOffset returns the offset in the lines of packed byte q, or false
// if q is part of an escape.
func (m *hexMapper) lineOffset(q int) (int, bool) {
	for m.k < len(m.esc) && int(m.esc[m.k].p)+2 <= q {
		m.k++
	}
	if m.k < len(m.esc) && int(m.esc[m.k].p) <= q {
		return 0, false
	}
	if m.k == 0 {
		return q, true
	}
	e := m.esc[m.k-1]
	return int(e.u+e.out()) + q - int(e.p) - 2, true
}

// packedOffset returns the offset in the packed frame of the text at or
// after line offset u: u itself if it is text, else the end of the escape
// standing for it. u must not be below the last offset lineOffset mapped.
func (m *hexMapper) packedOffset(u int) int {
	for m.k < len(m.esc) && int(m.esc[m.k].u+m.esc[m.k].out()) <= u {
		m.k++
	}
	if m.k < len(m.esc) && int(m.esc[m.k].u) <= u {
		return int(m.esc[m.k].p) + 2
	}
	if m.k == 0 {
		return u
	}
	e := m.esc[m.k-1]
	return int(e.p) + 2 + u - int(e.u+e.out())
}

// unpack writes line bytes [a, b) into dst[a:b]; dst is as long as the
// lines. *k is a hint: no escape before it ends after a.
func (p *packedLines) unpack(dst []byte, a, b int, k *int) {
	esc := p.esc
	i := *k
	if i > len(esc) || (i > 0 && int(esc[i-1].u+esc[i-1].out()) > a) {
		i = sort.Search(len(esc), func(j int) bool { return int(esc[j].u+esc[j].out()) > a })
	}
	for i < len(esc) && int(esc[i].u+esc[i].out()) <= a {
		i++
	}
	for u := a; u < b; {
		// The text before escape i: line bytes [ts, te) from packed ps.
		ts, ps := 0, 0
		if i > 0 {
			e := esc[i-1]
			ts, ps = int(e.u+e.out()), int(e.p)+2
		}
		te := len(dst)
		if i < len(esc) {
			te = int(esc[i].u)
		}
		if u < te {
			end := min(b, te)
			copy(dst[u:end], p.packed[ps+u-ts:])
			u = end
			continue
		}
		e := esc[i]
		end := min(b, int(e.u+e.out()))
		if e.n == 0 {
			dst[u] = hexEscape
		} else {
			writeDigits(dst[u:end], p.hex[e.h:e.h+e.n], u-int(e.u))
		}
		u = end
		i++
	}
	*k = i
}

// writeDigits fills out with the hex digits of packed starting at digit d
// (two a byte, high nibble first).
func writeDigits(out, packed []byte, d int) {
	if len(out) == 0 {
		return
	}
	if d%2 == 1 {
		out[0] = byte(hexDigits[packed[d/2]] >> 8)
		out, d = out[1:], d+1
	}
	src := packed[d/2:]
	j := 0
	for ; j+2 <= len(out); j += 2 {
		binary.LittleEndian.PutUint16(out[j:], hexDigits[src[j/2]])
	}
	if j < len(out) {
		out[j] = byte(hexDigits[src[j/2]])
	}
}

// hexSplit is how a needle may lie across the hex runs a writer packs:
// core is its text from its first to its last byte that is not a lowercase
// hex digit, which is never packed; lead and trail tell whether hex digits
// come before and after it, which may be.
type hexSplit struct {
	core        []byte
	lead, trail bool
}

// splitHex returns the split of needle, or false if a search of a packed
// frame could miss it: it holds no byte but hex digits, an inner run of
// minHexRun digits or more, or a 0x00.
func splitHex(needle []byte) (hexSplit, bool) {
	first, last := -1, -1
	run := 0
	for i, c := range needle {
		if c == hexEscape {
			return hexSplit{}, false
		}
		if hexValue[c] != 0xff {
			run++
			continue
		}
		if first >= 0 && run >= minHexRun {
			return hexSplit{}, false
		}
		run = 0
		if first < 0 {
			first = i
		}
		last = i
	}
	if first < 0 {
		return hexSplit{}, false
	}
	return hexSplit{core: needle[first : last+1], lead: first > 0, trail: last < len(needle)-1}, true
}

// packedSearch is what Needles needs to search packed frames: the cores of
// the best group's alternatives that may end in packed digits (tails) or
// begin after them (heads), and their first bytes.
type packedSearch struct {
	tails   []tailCore
	tailEnd [256]bool // the tails' last bytes
	// tailEnd2 holds the tails' bytes before their last (every byte for
	// a tail of one byte): most escapes after a tailEnd byte follow a
	// key (trace_id=, whose d no 5xx tail has there) or a number.
	tailEnd2  [256]bool
	heads     [][]byte
	headStart [256]bool
}

// tailCore is a core that may end right before an escape. Most escapes
// follow a key (`"trace_id":"`, `trace_id=`), which its last 8 bytes,
// compared as one word, rule out.
type tailCore struct {
	core  []byte
	last  uint64 // the core's last w = min(8, len) bytes, little-endian
	shift uint   // 64 − 8w: a word's top w bytes, shifted down, are its last w
}

// endsBefore reports whether the core ends right before packed[p].
func (t *tailCore) endsBefore(packed []byte, p int) bool {
	if p < 8 {
		return bytes.HasSuffix(packed[:p], t.core)
	}
	if binary.LittleEndian.Uint64(packed[p-8:])>>t.shift != t.last {
		return false
	}
	return len(t.core) <= 8 || bytes.HasSuffix(packed[:p], t.core)
}

// newPackedSearch returns nil unless every alternative can be found in a
// packed frame.
func newPackedSearch(alts [][]byte) *packedSearch {
	ps := &packedSearch{}
	for _, a := range alts {
		s, ok := splitHex(a)
		if !ok {
			return nil
		}
		if s.trail {
			w := min(8, len(s.core))
			var b [8]byte
			copy(b[:], s.core[len(s.core)-w:])
			ps.tails = append(ps.tails, tailCore{core: s.core, last: binary.LittleEndian.Uint64(b[:]), shift: uint(64 - 8*w)})
			ps.tailEnd[s.core[len(s.core)-1]] = true
			if len(s.core) < 2 {
				for b := range ps.tailEnd2 {
					ps.tailEnd2[b] = true
				}
			} else {
				ps.tailEnd2[s.core[len(s.core)-2]] = true
			}
		}
		if s.lead {
			ps.heads = append(ps.heads, s.core)
			ps.headStart[s.core[0]] = true
		}
	}
	return ps
}

// atEscape returns where the needles that may lie across escape e have
// their cores, in the lines, or -1: tail, for one whose core ends with the
// text before e (the needle's digits after it start e's run), and head,
// for one whose core starts the text after e, past at most one digit the
// run left as text (the digits before it end e's run). The needle's line
// holds that offset.
func (ps *packedSearch) atEscape(packed []byte, e hexEsc) (tail, head int) {
	tail, head = -1, -1
	if e.n == 0 {
		return
	}
	if p := int(e.p); p > 0 && ps.tailEnd[packed[p-1]] && (p < 2 || ps.tailEnd2[packed[p-2]]) {
		if p >= 8 {
			// endsBefore, inlined: the last 8 bytes rule most keys
			// out in one comparison.
			w := binary.LittleEndian.Uint64(packed[p-8:])
			for i := range ps.tails {
				t := &ps.tails[i]
				if w>>t.shift == t.last && (len(t.core) <= 8 || bytes.HasSuffix(packed[:p], t.core)) {
					tail = int(e.u)
					break
				}
			}
		} else {
			for i := range ps.tails {
				if ps.tails[i].endsBefore(packed, p) {
					tail = int(e.u)
					break
				}
			}
		}
	}
	if len(ps.heads) == 0 {
		return
	}
	after := packed[e.p+2:]
	if len(after) == 0 {
		return
	}
	end := int(e.u + e.out())
	if ps.headStart[after[0]] {
		for _, h := range ps.heads {
			if bytes.HasPrefix(after, h) {
				return tail, end
			}
		}
	}
	if hexValue[after[0]] != 0xff && len(after) > 1 && ps.headStart[after[1]] {
		for _, h := range ps.heads {
			if bytes.HasPrefix(after[1:], h) {
				return tail, end + 1
			}
		}
	}
	return
}

// scan returns the offset at or after pos of the first anchor byte in
// text with a needle around it (text bounding the needle), or -1.
func (a *anchorSearcher) scan(text []byte, pos int) int {
	for pos < len(text) {
		j := bytes.IndexByte(text[pos:], a.c)
		if j < 0 {
			return -1
		}
		h := pos + j
		if a.mayMatchAt(text, h) && a.matchAt(text, h) {
			return h
		}
		pos = h + 1
	}
	return -1
}

// holds reports whether line holds the needles.
func (n *Needles) holds(line []byte) bool {
	var ok bool
	if len(n.searches) == 1 {
		ok = n.searches[0].index(line) >= 0
	} else {
		ok = n.anchor.scan(line, 0) >= 0
	}
	return ok && (len(n.strs) == 1 || n.matchLine(line))
}

// markPacked is markLines for a packed lines frame: it marks the lines
// holding the needles, as markLines does, and unpacks those lines (only)
// into lines, which is as long as the lines frame decodes to. It reports
// false where markLines would (a search that does not pay) and also where
// the needles cannot be searched in a packed frame; the caller then
// unpacks every line. p.index must have succeeded.
func (n *Needles) markPacked(p *packedLines, lines []byte, ends []uint32, keep []bool) bool {
	ps := n.packed
	if ps == nil {
		return false
	}
	clear(keep)
	// line returns the line holding line offset u, from line i on.
	line := func(i, u int) int {
		for i < len(ends) && int(ends[i]) <= u {
			i++
		}
		return i
	}
	if len(ps.tails)+len(ps.heads) > 0 {
		i := 0
		for _, e := range p.esc {
			tail, head := ps.atEscape(p.packed, e)
			for _, u := range [2]int{tail, head} {
				if u < 0 {
					continue
				}
				if i = line(i, u); i < len(ends) {
					keep[i] = true
				}
			}
		}
	}
	m := hexMapper{esc: p.esc}
	i, kept := 0, 0
	for pos := 0; pos < len(p.packed) && i < len(ends); {
		h := n.nextHit(p.packed, pos)
		if h < 0 {
			break
		}
		u, ok := m.lineOffset(h)
		if !ok { // an escape's count byte
			pos = h + 1
			continue
		}
		if i = line(i, u); i == len(ends) {
			break
		}
		keep[i] = true
		kept++
		if i >= denseCheckLines && kept > (i+1)/4 {
			return false
		}
		pos = m.packedOffset(int(ends[i]))
		i++
	}
	k, start := 0, 0
	for i, end := range ends {
		if keep[i] {
			p.unpack(lines, start, int(end), &k)
			keep[i] = n.holds(lines[start:end])
		}
		start = int(end)
	}
	return true
}
