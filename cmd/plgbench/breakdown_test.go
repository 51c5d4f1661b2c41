package main

import (
	"encoding/binary"
	"fmt"
)

// storeParts is where a chunk's bytes go (chunks/FORMAT.md's layout), for
// BenchmarkStoreRatio's breakdown.
type storeParts struct {
	header, lines, columns, crcs, ngram, hist, other int64
}

func (p *storeParts) total() int64 {
	return p.header + p.lines + p.columns + p.crcs + p.ngram + p.hist + p.other
}

// add splits an encoded chunk (version 2 or 3) into its parts: the lines
// part of a block is everything after its columns frame's CRC.
func (p *storeParts) add(c []byte) error {
	if len(c) < 40 {
		return fmt.Errorf("chunk of %d bytes", len(c))
	}
	blocks := int(binary.BigEndian.Uint32(c[28:]))
	filtersLen := int(binary.BigEndian.Uint32(c[32:]))
	f := 44 + 48*blocks
	p.header += int64(f + 4)
	for i := 0; i < blocks; i++ {
		e := c[40+48*i:]
		comp := int64(binary.BigEndian.Uint32(e[28:]))
		cols := int64(binary.BigEndian.Uint32(e[44:]))
		p.columns += cols
		p.crcs += 4
		p.lines += comp - cols - 4
	}
	fs := c[f : f+filtersLen]
	for len(fs) > 0 {
		switch fs[0] {
		case 2:
			n := 6 + int(binary.BigEndian.Uint32(fs[2:]))
			p.ngram += int64(n)
			fs = fs[n:]
		case 3:
			l, k := binary.Uvarint(fs[1:])
			n := 1 + k + int(l)
			p.hist += int64(n)
			fs = fs[n:]
		default:
			p.other += int64(len(fs))
			fs = nil
		}
	}
	return nil
}

func (p *storeParts) String() string {
	return fmt.Sprintf("lines %d columns %d crcs %d ngram %d hist %d header+index %d other %d total %d",
		p.lines, p.columns, p.crcs, p.ngram, p.hist, p.header, p.other, p.total())
}
