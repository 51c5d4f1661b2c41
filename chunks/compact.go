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
//
// The compactor extends the chunk it wrote last with the small chunks
// flushed since, every run of the current period; rebuilding it would
// compress each entry again on every run. When the inputs are one chunk
// followed by chunks that start after it and after each other, and that
// chunk's blocks are the ones a rebuild would seal first (extendBlocks:
// same format, codec and filter kinds, entries in the rebuild's order,
// blocks cut where Append cuts), its blocks but the last are kept byte
// for byte and only the rest is appended. The output is then the
// rebuild's, so it still depends on the entries alone, except that the
// n-gram and bloom densities and the zstd level of kept blocks are not
// recorded in a chunk and are not checked: a chunk written under other
// settings of those keeps them, and a rebuild of the same entries
// (after a crash: inputs overlapping their output take the rebuild)
// then differs from it in bytes, not entries. A chunk the compactor
// wrote with the same Options is never such a chunk.

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
// kept. A corrupt input fails the call with an error naming it. An
// input extended by later ones keeps its full blocks (see above).
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
	b := compactBuilder{o: o}
	its := make([]Iterator, len(ds))
	for i, d := range ds {
		its[i] = &namedIterator{Iterator: d.c.Iterator(ctx, math.MinInt64, math.MaxInt64, Forward, nil), name: d.name}
	}
	if len(ds) < 2 || compactRebuildOnly {
		// No extension: rebuild.
	} else if keep := extendBlocks(ctx, o, ds[0].c, func(yield func(*Chunk) bool) {
		for _, d := range ds[1:] {
			if !yield(d.c) {
				return
			}
		}
	}); keep > 0 {
		a := ds[0].c
		b.cur = newMemChunkFromBlocks(o, a.blocks[:keep])
		b.cont, b.contT = true, a.blocks[keep-1].MaxT
		its[0].Close()
		its[0] = &namedIterator{Iterator: a.FilteredIterator(ctx, math.MinInt64, math.MaxInt64, Forward, nil, func(i int) bool { return i >= keep }), name: ds[0].name}
	}
	it := NewMergeIterator(Forward, its...)
	defer it.Close()

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
	o Options
	// cont is set while cur holds an extended chunk's kept blocks and no
	// group was appended yet; contT is the last kept block's MaxT.
	cont  bool
	contT int64
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
	// The first group of an extension may continue the last kept block's
	// timestamp, whose entries a rebuild would append without a check.
	cont := b.cont && g[0].Timestamp == b.contT
	b.cont = false
	if b.cur != nil && b.cur.Entries() > 0 && !cont && !b.cur.SpaceFor(g[0]) {
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

// compactRebuildOnly disables the extend path, for tests comparing it
// with a full rebuild.
var compactRebuildOnly bool

// extendBlocks returns how many leading blocks of a, the earliest input,
// Compact keeps byte for byte (0: rebuild everything). It keeps all but
// a's last block when the rest inputs all start after a ends and after
// each other (so no entry of theirs falls among a's, or duplicates one),
// a is canonical (see canonical) and a's blocks are what o would seal: same format version and codec,
// every kept block full (at least the block size, at most twice it: a
// block a rebuild would neither merge nor have cut elsewhere) and with
// the filter kinds o builds. Filter densities and the zstd level are not
// recorded in a chunk, so a chunk written under other settings of those
// keeps its blocks; its entries read the same.
//
// A chunk Compact built from its entries under o is cut into blocks the
// way a rebuild cuts the same entries, so for such an a the output is the
// full rebuild's, byte for byte: the kept blocks are the ones the rebuild
// seals first, the rest is appended from the same state.
func extendBlocks(ctx context.Context, o Options, a *Chunk, rest func(func(*Chunk) bool)) int {
	n := len(a.blocks)
	version := o.version
	if version == 0 {
		version = FormatVersion
	}
	if n < 2 || a.version != version || a.enc != o.Encoding || a.entries == 0 {
		return 0
	}
	prev, ok := a.maxT, false
	for c := range rest {
		if c.entries == 0 || c.minT <= prev {
			return 0
		}
		prev, ok = c.maxT, true
	}
	if !ok {
		return 0
	}
	bs := o.BlockSize
	if bs <= 0 {
		bs = DefaultBlockSize
	}
	bs = min(bs, maxHeadRaw)
	for i := range n - 1 {
		b := &a.blocks[i]
		if b.UncompressedLen < bs || !filterKindsMatch(o, version, b.filter) {
			return 0
		}
		if i > 0 && b.MinT < a.blocks[i-1].MaxT {
			return 0 // out-of-order blocks: not a rebuild's
		}
	}
	if a.blocks[n-1].MinT < a.blocks[n-2].MaxT || !canonical(ctx, a, o, bs) {
		return 0
	}
	return n - 1
}

// canonical reports whether a holds its entries as a rebuild of them
// under block size bs would: entries of one timestamp in strictly
// increasing line order (so none repeats, within a block or across a
// cut), and every block but the last cut where MemChunk.Append cuts, at
// the first entry that brings the block to bs, with no chunk cut (the
// SpaceFor checks a rebuild makes under o) among them. Only then is the output
// of an extension the rebuild's, a function of the entries. It
// decompresses a's blocks, which costs a fraction of compressing them
// again.
func canonical(ctx context.Context, a *Chunk, o Options, bs int) bool {
	var (
		prevT int64
		prev  []byte
		seen  bool
	)
	// cuts is Append's rule for a head of size bytes and n entries.
	cuts := func(size, n int) bool { return size >= bs || size+maxFraming*n >= maxHeadRaw }
	target := o.TargetSize
	if target < 0 {
		target = DefaultTargetSize
	}
	var compressed, uncompressed int // of the blocks before block i
	for i := range a.blocks {
		it := a.FilteredIterator(ctx, math.MinInt64, math.MaxInt64, Forward, nil, func(b int) bool { return b == i })
		size, last, n, raw := 0, 0, 0, 0
		for it.Next() {
			e := it.At()
			if seen && e.Timestamp == prevT && bytes.Compare(e.Line, prev) <= 0 {
				it.Close()
				return false
			}
			// A rebuild checks SpaceFor as each timestamp starts: it must
			// not have cut the chunk inside the kept blocks.
			if seen && e.Timestamp != prevT && i < len(a.blocks)-1 {
				var fits bool
				if target == 0 {
					fits = i < blocksPerChunkWithoutTarget
				} else {
					pending := raw + len(e.Line) + entryOverhead(len(e.Line)) + 1
					e.Metadata.Range(func(l labels.Label) { pending += len(l.Name) + len(l.Value) + 2 })
					est := pending
					if uncompressed > 0 {
						est = int(int64(pending) * int64(compressed) / int64(uncompressed))
					}
					fits = compressed+est < target
				}
				if !fits {
					it.Close()
					return false
				}
			}
			prevT, prev, seen = e.Timestamp, append(prev[:0], e.Line...), true
			last = len(e.Line) + rawMetadataLen(e.Metadata)
			size += last
			raw += last + entryOverhead(len(e.Line))
			n++
		}
		compressed += a.blocks[i].CompressedLen
		uncompressed += a.blocks[i].UncompressedLen
		ok := it.Err() == nil && n == a.blocks[i].Entries
		it.Close()
		if !ok || i < len(a.blocks)-1 && (!cuts(size, n) || cuts(size-last, n-1)) {
			return false
		}
	}
	return true
}

// rawMetadataLen is len(appendMetadata(nil, ls)).
func rawMetadataLen(ls labels.Labels) int {
	n := uvarintLen(uint64(ls.Len()))
	ls.Range(func(l labels.Label) {
		n += uvarintLen(uint64(len(l.Name))) + len(l.Name) + uvarintLen(uint64(len(l.Value))) + len(l.Value)
	})
	return n
}

// filterKindsMatch reports whether a block filter holds the kinds o
// builds, in order: n-gram, histogram (version 2 and later, if the
// entries fill its buckets), bloom. A
// block whose lines yield no gram has no n-gram filter even under o, and
// then falls back to a rebuild.
func filterKindsMatch(o Options, version byte, f []byte) bool {
	hasNgram := len(f) > 0 && f[0] == filterKindNgram
	if hasNgram != (o.NgramBitsPerGram > 0) {
		return false
	}
	f = filterAfterNgram(f)
	if version == FormatV1 && len(f) > 0 && f[0] == filterKindHist {
		return false
	}
	f = skipHist(f) // absent from a block of few entries per bucket
	if o.BloomBitsPerToken > 0 {
		return len(f) > 0 && f[0] == filterKindBloom
	}
	return len(f) == 0
}
