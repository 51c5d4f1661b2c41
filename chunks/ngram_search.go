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
