package chunks

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
)

// Version 3 takes long runs of lowercase hex digits (trace and span IDs,
// request IDs, hashes) out of a block's lines and stores them packed two
// digits a byte in a hex frame of their own (FORMAT.md, "Block payload,
// version 3"). zstd codes a random hex digit in about 4.4 bits, mixed
// into the Huffman table of every other literal; packed, the digits cost
// 4 bits and leave the lines' literal table to the text. On the plgbench
// corpus (a random 128-bit trace ID per line) the lines frames shrink
// from 20.9% to 19.5% of the raw text, and compress faster.

const (
	// hexEscape opens every escape in a packed lines frame: 0x00 is rare
	// in log text, and bytes.IndexByte finds it at memchr speed.
	hexEscape = 0x00
	// minHexRun is the shortest run the writer packs: 16 digits (a 64-bit
	// ID) save 6 bytes against a two-byte escape; shorter runs (years,
	// ports, durations) stay text the codec compresses anyway.
	minHexRun = 16
	// maxHexPairs is the longest run one escape holds, in digit pairs;
	// longer runs take several escapes back to back.
	maxHexPairs = 255
)

// hexValue maps a lowercase hex digit to its value; every other byte to 0xff.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c] = c - 'a' + 10
	}
	return t
}()

// hexDigits maps a packed byte to its two digits, the first in the low
// byte, for one little-endian 16-bit store.
var hexDigits = func() (t [256]uint16) {
	const d = "0123456789abcdef"
	for i := range t {
		t[i] = uint16(d[i>>4]) | uint16(d[i&15])<<8
	}
	return t
}()

// packHex appends to packed the lines with every run of minHexRun or more
// lowercase hex digits replaced by escapes, and to hex those digits, two
// a byte, high nibble first. An odd run's last digit stays text. A
// literal 0x00 becomes the escape 0x00 0x00. The lines are concatenated,
// so a run may span two of them; unpackHex restores the concatenation,
// which is all a reader needs. If hex comes back empty, no run was long
// enough and the caller stores the lines as they are.
//
// Every run of minHexRun digits covers a multiple of minHexRun, so only
// those bytes are probed, and a run is measured only around a probe that
// lands on a digit: sealing reads about one byte in sixteen of text.
func packHex(packed, hex, lines []byte) ([]byte, []byte) {
	lit := 0 // start of the text not yet copied
	for p := 0; p < len(lines); p += minHexRun {
		if hexValue[lines[p]] == 0xff {
			continue
		}
		i, j := p, p+1
		for i > lit && hexValue[lines[i-1]] != 0xff {
			i--
		}
		for j < len(lines) && hexValue[lines[j]] != 0xff {
			j++
		}
		if j-i >= minHexRun {
			packed = appendEscaped(packed, lines[lit:i])
			for pairs := (j - i) / 2; pairs > 0; {
				n := min(pairs, maxHexPairs)
				packed = append(packed, hexEscape, byte(n))
				hex = slices.Grow(hex, n)
				dst, run := hex[len(hex):len(hex)+n], lines[i:i+2*n]
				for k := range dst {
					dst[k] = hexValue[run[2*k]]<<4 | hexValue[run[2*k+1]]
				}
				hex = hex[:len(hex)+n]
				i += 2 * n
				pairs -= n
			}
			lit = i // an odd run's last digit stays text
		}
		p = j - j%minHexRun // the next probe is the first multiple past j
	}
	return appendEscaped(packed, lines[lit:]), hex
}

// appendEscaped appends text to packed, each 0x00 as the escape 0x00 0x00.
func appendEscaped(packed, text []byte) []byte {
	for {
		k := bytes.IndexByte(text, hexEscape)
		if k < 0 {
			return append(packed, text...)
		}
		packed = append(packed, text[:k+1]...)
		packed = append(packed, 0)
		text = text[k+1:]
	}
}

var errHexPacking = errors.New("bad hex packing")

// unpackHex writes into dst, which must be exactly as long as the lines,
// the lines that packed and hex encode; it fails unless they fill dst
// exactly and consume hex exactly.
func unpackHex(dst, packed, hex []byte) error {
	o := 0
	for len(packed) > 0 {
		k := bytes.IndexByte(packed, hexEscape)
		if k < 0 {
			k = len(packed)
		}
		if k > len(dst)-o {
			return errHexPacking
		}
		o += copy(dst[o:], packed[:k])
		if k == len(packed) {
			break
		}
		if k+1 == len(packed) {
			return errHexPacking
		}
		n := int(packed[k+1])
		packed = packed[k+2:]
		if n == 0 {
			if o == len(dst) {
				return errHexPacking
			}
			dst[o] = hexEscape
			o++
			continue
		}
		if n > len(hex) || 2*n > len(dst)-o {
			return errHexPacking
		}
		out := dst[o : o+2*n]
		for k, b := range hex[:n] {
			binary.LittleEndian.PutUint16(out[2*k:], hexDigits[b])
		}
		o += 2 * n
		hex = hex[n:]
	}
	if o != len(dst) || len(hex) != 0 {
		return errHexPacking
	}
	return nil
}
