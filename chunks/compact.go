package chunks

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"hash/crc32"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
)

// Compacting chunks.
//
// With thousands of active streams an ingester's memory budget cuts
// chunks of a few KiB, which compress badly and cost a query a read
// each. The compactor (package store) gathers such chunks of one stream
// and builds them again with Compact: their entries, merged in time
// order without exact duplicates, appended to new MemChunks with the
// Options the ingester uses, so a compacted chunk is built the way an
// ingester builds one that saw the same entries.
//
// The output is a function of the set of entries alone, not of the
// inputs' order, number or blocks: entries sharing a timestamp are
// sorted by line, then metadata, and a chunk is cut only between two
// different timestamps. Two compactors that rewrite the same chunks
// (running concurrently, or again after a crash) therefore produce the
// same bytes and the same chunk identities, and rewriting a compacted
// chunk together with the chunks it was built from yields it unchanged.
// Because cuts fall between timestamps, the output chunks never overlap
// in time, so they are never merged again for overlapping.

// CompactInput is one chunk to compact: its persisted bytes and a name
// (typically the object key and offset) that errors about it carry.
type CompactInput struct {
	Name string
	Data []byte
}

// CompactOutput is one chunk Compact built.
type CompactOutput struct {
	Data              []byte
	MinT, MaxT        int64
	Entries           int
	UncompressedBytes int
	// Checksum is the CRC32C (Castagnoli) of Data, as the ingester
	// computes chunk checksums.
	Checksum uint32
}

// Compact merges the entries of inputs, chunks of one stream in any order
// and possibly overlapping in time, into chunks encoded with o, each up to
// o.TargetSize compressed bytes (cut, as an ingester cuts, when the next
// entry would not fit, but never between entries of one timestamp).
// Entries come out in timestamp order; of entries with the same timestamp
// and line only one is kept (the one with the least metadata, so the
// choice does not depend on the inputs' order). Structured metadata is
// kept. A corrupt input fails the call with an error naming it.
func Compact(ctx context.Context, o Options, inputs []CompactInput) ([]CompactOutput, error) {
	type decoded struct {
		name string
		c    *Chunk
		crc  uint32
	}
	ds := make([]decoded, 0, len(inputs))
	for _, in := range inputs {
		c, err := Decode(in.Data)
		if err != nil {
			return nil, fmt.Errorf("compact: chunk %s: %w", in.Name, err)
		}
		ds = append(ds, decoded{in.Name, c, crc32.Checksum(in.Data, castagnoli)})
	}
	// The merge keeps, of duplicates across inputs, the first input's;
	// a canonical input order makes that, too, independent of the caller.
	slices.SortFunc(ds, func(a, b decoded) int {
		if c := cmp.Compare(a.c.minT, b.c.minT); c != 0 {
			return c
		}
		if c := cmp.Compare(a.c.maxT, b.c.maxT); c != 0 {
			return c
		}
		return cmp.Compare(a.crc, b.crc)
	})
	its := make([]Iterator, len(ds))
	for i, d := range ds {
		its[i] = &namedIterator{Iterator: d.c.Iterator(ctx, math.MinInt64, math.MaxInt64, Forward, nil), name: d.name}
	}
	it := NewMergeIterator(Forward, its...)
	defer it.Close()

	b := compactBuilder{o: o}
	for it.Next() {
		e := it.At()
		if err := b.add(e); err != nil {
			return nil, fmt.Errorf("compact: %w", err)
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	if err := b.flushGroup(); err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	if err := b.finish(); err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	return b.out, nil
}

// namedIterator names its chunk in the errors it returns.
type namedIterator struct {
	Iterator
	name string
}

func (n *namedIterator) Err() error {
	if err := n.Iterator.Err(); err != nil {
		return fmt.Errorf("chunk %s: %w", n.name, err)
	}
	return nil
}

// compactBuilder gathers the entries of one timestamp, sorts them and
// appends them to the chunk being built.
type compactBuilder struct {
	o     Options
	cur   *MemChunk
	out   []CompactOutput
	ts    int64
	group []Entry
	arena []byte
}

func (b *compactBuilder) add(e Entry) error {
	if len(b.group) > 0 && e.Timestamp != b.ts {
		if err := b.flushGroup(); err != nil {
			return err
		}
	}
	b.ts = e.Timestamp
	// The iterator's line is valid only until Next.
	off := len(b.arena)
	b.arena = append(b.arena, e.Line...)
	b.group = append(b.group, Entry{Timestamp: e.Timestamp, Line: b.arena[off:len(b.arena):len(b.arena)], Metadata: e.Metadata})
	return nil
}

// flushGroup appends the gathered entries of one timestamp, sorted and
// without duplicates, cutting the chunk first if they would not fit.
func (b *compactBuilder) flushGroup() error {
	if len(b.group) == 0 {
		return nil
	}
	g := b.group
	slices.SortFunc(g, func(x, y Entry) int {
		if c := bytes.Compare(x.Line, y.Line); c != 0 {
			return c
		}
		return labels.Compare(x.Metadata, y.Metadata)
	})
	if b.cur != nil && b.cur.Entries() > 0 && !b.cur.SpaceFor(g[0]) {
		if err := b.finish(); err != nil {
			return err
		}
	}
	if b.cur == nil {
		b.cur = NewMemChunkWithOptions(b.o)
	}
	for i, e := range g {
		if i > 0 && bytes.Equal(e.Line, g[i-1].Line) {
			continue
		}
		if _, err := b.cur.Append(e); err != nil {
			return fmt.Errorf("append entry at %d: %w", e.Timestamp, err)
		}
	}
	b.group, b.arena = b.group[:0], b.arena[:0]
	return nil
}

// finish encodes the chunk being built, if any.
func (b *compactBuilder) finish() error {
	c := b.cur
	if c == nil || c.Entries() == 0 {
		return nil
	}
	b.cur = nil
	data, err := c.Encode()
	if err != nil {
		return err
	}
	minT, maxT := c.Bounds()
	b.out = append(b.out, CompactOutput{
		Data:              data,
		MinT:              minT,
		MaxT:              maxT,
		Entries:           c.Entries(),
		UncompressedBytes: c.UncompressedSize(),
		Checksum:          crc32.Checksum(data, castagnoli),
	})
	return nil
}
