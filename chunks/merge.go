package chunks

import (
	"fmt"
	"math"
	"strings"
)

// Merging small blocks at Encode.
//
// Under memory pressure the ingester seals head blocks early (SealHead),
// at a quarter of the block size or more, to hold their entries
// compressed. Such blocks compress worse and their n-gram filters cost
// more per byte of text (the distinct grams of a block grow slower than
// its size): on the plgbench corpus 64 KiB blocks store 25.4% of the raw
// text where 256 KiB blocks store 24.1%. Encoding is the last moment the
// chunk is written, and memory no longer matters then, so runs of
// consecutive small blocks become one block of at most mergeLimit, with
// new columns and a new filter, their lines either kept compressed
// (MergeConcat) or compressed again (MergeRecompress). Provisional blocks
// (provisional.go) are always compressed again, in a run or alone.
//
// Only blocks in strict time order are merged (each starts after the
// previous one's last timestamp): their entries concatenated are sorted,
// and no entry of one can duplicate an entry of another (iterators drop
// such duplicates across blocks, not within one), so a merged chunk yields
// exactly what the unmerged one did and holds as many entries. Blocks that
// overlap or touch in time (out-of-order appends, equal timestamps) are
// left as they are.

// BlockMerge says how Encode merges runs of small blocks.
type BlockMerge byte

const (
	// MergeDefault (the zero value) means DefaultBlockMerge.
	MergeDefault BlockMerge = iota
	// MergeRecompress decompresses the run and seals its entries again as
	// one block: the best ratio, for compressing those lines twice.
	MergeRecompress
	// MergeConcat keeps the run's compressed lines frames as they are,
	// back to back, as the merged block's lines frame (zstd decodes
	// concatenated frames as one stream; FORMAT.md), and builds only a new
	// entry-columns frame and filter: most of the filters' saving for a
	// fraction of the CPU. Other codecs and version 1 merge by
	// recompressing.
	MergeConcat
	// MergeOff keeps small blocks as they are.
	MergeOff

	// DefaultBlockMerge is concat: on the plgbench corpus it saves two
	// thirds of what recompress does for 40% of its CPU (FORMAT.md).
	DefaultBlockMerge = MergeConcat
)

var blockMergeNames = [...]string{MergeDefault: "", MergeRecompress: "recompress", MergeConcat: "concat", MergeOff: "off"}

// String returns the mode's configuration name.
func (m BlockMerge) String() string {
	if int(m) < len(blockMergeNames) && m != MergeDefault {
		return blockMergeNames[m]
	}
	if m == MergeDefault {
		return DefaultBlockMerge.String()
	}
	return fmt.Sprintf("merge(%d)", byte(m))
}

// ParseBlockMerge maps a configuration name (recompress, concat, off;
// case-insensitive) to a mode.
func ParseBlockMerge(s string) (BlockMerge, error) {
	for i, n := range blockMergeNames {
		if n != "" && strings.EqualFold(s, n) {
			return BlockMerge(i), nil
		}
	}
	return 0, fmt.Errorf("unknown block merge mode %q (want one of recompress, concat, off)", s)
}

// mergeLimit is the largest uncompressed payload a merged block may
// have: a little over a block, so that four quarter blocks, each a few
// entries over a quarter, still become one.
func mergeLimit(blockSize int) int { return blockSize + blockSize/4 }

// mergeSmallBlocks returns blocks with every run of two or more
// consecutive, time-ordered blocks smaller than the block size, whose
// payloads add up to at most mergeLimit, sealed again as one block, and
// every provisional block in no such run sealed again on its own; nil if
// there is nothing to seal again. blocks are not modified.
func (c *MemChunk) mergeSmallBlocks(blocks []block) ([]block, error) {
	if (c.merge == MergeOff || len(blocks) < 2) && !hasProvisional(blocks) {
		return nil, nil
	}
	limit := mergeLimit(c.blockSize)
	var out []block
	merged := false
	for i := 0; i < len(blocks); {
		j, size := i+1, blocks[i].UncompressedLen
		if size < c.blockSize {
			for j < len(blocks) && blocks[j].UncompressedLen < c.blockSize &&
				blocks[j].MinT > blocks[j-1].MaxT && size+blocks[j].UncompressedLen <= limit {
				size += blocks[j].UncompressedLen
				j++
			}
		}
		if j-i < 2 && !blocks[i].provisional {
			out = append(out, blocks[i])
			i++
			continue
		}
		b, err := c.mergeRun(blocks[i:j], i)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
		merged = true
		i = j
	}
	if !merged {
		return nil, nil
	}
	return out, nil
}

// mergeRun decodes the blocks of run (the first being block first of the
// chunk) and seals their entries as one block.
func (c *MemChunk) mergeRun(run []block, first int) (block, error) {
	var (
		h    headBlock
		n    int
		raw  int
		meta []byte
	)
	for _, b := range run {
		n += b.Entries
		raw += b.UncompressedLen
	}
	// Pooled like a head's buffers: every flushed chunk of a busy ingester
	// may merge, and fresh buffers would be garbage after the seal.
	h.entries = entriesPool.grow(nil, n, false)
	h.arena = arenaPool.grow(nil, raw, false)
	defer h.release()
	buf, _ := decompressBuffers.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	defer decompressBuffers.Put(buf)
	var cur blockCursor
	for k := range run {
		b := &run[k]
		data, lines, err := c.enc.loadBlock(buf, b, first+k, true)
		if err != nil {
			return block{}, fmt.Errorf("merge blocks: %w", err)
		}
		if err := cur.reset(first+k, b.BlockMeta, data, lines, math.MinInt64, math.MaxInt64, false, true); err != nil {
			return block{}, fmt.Errorf("merge blocks: %w", err)
		}
		for cur.next() {
			e := cur.entry()
			meta = appendMetadata(meta[:0], e.Metadata)
			h.entries = append(h.entries, headEntry{ts: e.Timestamp, off: uint32(len(h.arena)), lineLen: uint32(len(e.Line)), metaLen: uint32(len(meta))})
			h.arena = append(h.arena, e.Line...)
			h.arena = append(h.arena, meta...)
			h.lineBytes += int64(len(e.Line))
		}
		if err := cur.err(); err != nil {
			return block{}, fmt.Errorf("merge blocks: %w", err)
		}
	}
	if len(h.entries) != n {
		return block{}, fmt.Errorf("merge blocks %d..%d: decoded %d entries, index says %d", first, first+len(run)-1, len(h.entries), n)
	}
	b, err := c.seal(&h, c.concatFrames(run), nil, false, false)
	if err != nil {
		return block{}, fmt.Errorf("merge blocks %d..%d: %w", first, first+len(run)-1, err)
	}
	return b, nil
}

// A run of blocks whose payloads average under 1/tinyBlockDivisor of the
// block size (16 KiB of 256 KiB) is compressed again even under
// MergeConcat. The ingester seals heads of a few KiB when thousands of
// streams share its memory budget; a zstd frame that small starts with an
// empty history and carries its own tables, so kept as they are such
// blocks stored 33% of the raw text on plgbench's corpus over 5,000
// streams (28.6% recompressed; docs/BENCHMARKS.md, "Many streams"), and
// compressing a few KiB again costs little.
const tinyBlockDivisor = 16

// concatFrames returns run's compressed lines (and hex) frames to be
// stored back to back as the merged block's, or nil if they must be
// compressed again: when merging recompresses, for codecs whose frames do
// not concatenate, for runs of tiny blocks (tinyBlockDivisor) or with a
// provisional block, and for a version 3 run mixing plain and packed
// lines, whose lines frames mean different things.
func (c *MemChunk) concatFrames(run []block) *sealedLines {
	if c.merge != MergeConcat || c.version == FormatV1 || (c.enc != Zstd && c.enc != None) || hasProvisional(run) {
		return nil
	}
	if c.enc == Zstd {
		raw := 0
		for k := range run {
			raw += run[k].UncompressedLen
		}
		if raw < len(run)*c.blockSize/tinyBlockDivisor {
			return nil
		}
	}
	pre := &sealedLines{}
	for k := range run {
		rest := run[k].data[run[k].ColumnsLen+crcSize:]
		if c.version == FormatV2 {
			pre.lines = append(pre.lines, rest)
			continue
		}
		l, err := parseHexLayout(rest, int(run[k].LineBytes))
		if err != nil || (k > 0 && (l.hexLen > 0) != (pre.hexLen > 0)) {
			return nil
		}
		pre.lines = append(pre.lines, l.lines)
		if l.hexLen > 0 {
			pre.hex = append(pre.hex, l.hex)
		}
		pre.hexLen += l.hexLen
		pre.packedLen += l.packedLen
	}
	return pre
}

// Merging as blocks are sealed.
//
// Merging a run at Encode must decompress its lines, only to hash their
// grams again for the merged block's n-gram filter: on plgbench (200
// streams, heads sealed at 64 KiB under the memory budget) that was an
// eighth of the ingest CPU, on top of hashing every line when its small
// block was sealed. With MergeConcat, a chunk instead follows runs as its
// blocks are sealed: the run open at the chunk's end gathers the grams of
// its blocks in one scratch bitmap (16 KiB, counted in MemoryBytes; only
// runs that start with a quarter block, see minGramsBlock), and
// when the next block cannot join it (or the chunk closes) the run is
// merged at once, from its columns frames, its compressed lines frames and
// those grams, without reading a line. The runs are those
// mergeSmallBlocks forms, in the same order and by the same rules, and the
// merged block is the one it would build, byte for byte; Encode then finds
// nothing left to merge but runs without grams. Queries see a run's blocks merged a little sooner.

// blockRun is the run of small blocks at the end of a chunk's blocks that
// the next sealed block may join.
type blockRun struct {
	open  bool
	start int           // index of its first block in MemChunk.blocks
	size  int           // its blocks' uncompressed payload bytes
	grams *ngramScratch // its blocks' grams; nil without n-gram filters
	// atEncode: the run started with a block under minGramsBlock, so it
	// holds no grams and is left for Encode to merge.
	atEncode bool
}

// A run holds its blocks' grams only if it starts with a block of at
// least minGramsBlock: a quarter block, as the ingester seals heads when
// pushes find its memory over budget. With thousands of streams it seals
// heads of a few KiB instead, and a 16 KiB bitmap per stream would take
// much of the memory those streams share; such runs are merged at Encode,
// as before.
func (c *MemChunk) minGramsBlock() int { return c.blockSize / 4 }

// mergesEagerly reports whether runs are merged as blocks are sealed:
// under MergeConcat, for the codecs whose frames concatenate, and without
// a bloom filter, which would need the lines.
func (c *MemChunk) mergesEagerly() bool {
	return !c.lazyMerge && c.merge == MergeConcat && c.version != FormatV1 && (c.enc == Zstd || c.enc == None) && c.bloomBits == 0
}

func putGrams(g *ngramScratch) {
	if g != nil {
		ngramScratchPool.Put(g)
	}
}

// addToRun adds the block just sealed, last in c.blocks, to the open run
// if mergeSmallBlocks would, or else merges that run and opens one with
// the new block if it is small. grams are the new block's (nil without
// n-gram filters); addToRun takes them over. Called with mu held.
func (c *MemChunk) addToRun(grams *ngramScratch) {
	k := len(c.blocks) - 1
	b := &c.blocks[k]
	if r := &c.run; r.open && b.UncompressedLen < c.blockSize && b.MinT > c.blocks[k-1].MaxT &&
		r.size+b.UncompressedLen <= mergeLimit(c.blockSize) {
		r.size += b.UncompressedLen
		if grams != nil && r.grams != nil {
			r.grams.or(grams)
		}
		putGrams(grams)
		return
	}
	c.finishRun(k)
	if k = len(c.blocks) - 1; c.blocks[k].UncompressedLen < c.blockSize {
		atEncode := c.blocks[k].UncompressedLen < c.minGramsBlock() || c.gramsOff != nil && c.gramsOff.Load()
		if atEncode {
			putGrams(grams)
			grams = nil
		}
		c.run = blockRun{open: true, start: k, size: c.blocks[k].UncompressedLen, grams: grams, atEncode: atEncode}
		return
	}
	putGrams(grams)
}

// finishRun closes the open run, which ends before block end, merging it
// if it has two blocks or more and its lines frames can be kept. If they
// cannot (a run of tiny blocks) or the merge fails, the blocks stay as
// they are and Encode merges them, or reports the error. Called with mu
// held.
func (c *MemChunk) finishRun(end int) {
	r := c.run
	c.run = blockRun{}
	defer putGrams(r.grams)
	if !r.open || end-r.start < 2 || r.atEncode {
		return
	}
	run := c.blocks[r.start:end]
	pre := c.concatFrames(run)
	if pre == nil {
		return
	}
	b, err := c.mergeColumns(run, r.start, pre, r.grams)
	if err != nil {
		return
	}
	// A new slice: iterators' snapshots share the old one.
	blocks := make([]block, 0, len(c.blocks)-len(run)+1)
	blocks = append(blocks, c.blocks[:r.start]...)
	blocks = append(blocks, b)
	blocks = append(blocks, c.blocks[end:]...)
	for i := range run {
		c.compressed -= run[i].CompressedLen
		c.uncompressed -= run[i].UncompressedLen
	}
	c.compressed += b.CompressedLen
	c.uncompressed += b.UncompressedLen
	c.blocks = blocks
}

// mergeColumns is mergeRun for a run whose lines frames pre keeps and
// whose grams are known (nil without n-gram filters): it decodes only the
// blocks' columns frames.
func (c *MemChunk) mergeColumns(run []block, first int, pre *sealedLines, grams *ngramScratch) (block, error) {
	h := headBlock{linesAbsent: true}
	n := 0
	for i := range run {
		n += run[i].Entries
	}
	h.entries = entriesPool.grow(nil, n, false)
	defer h.release()
	buf, _ := decompressBuffers.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	defer decompressBuffers.Put(buf)
	var (
		cur  blockCursor
		meta []byte
	)
	for k := range run {
		b := &run[k]
		data, _, err := c.enc.loadBlock(buf, b, first+k, false)
		if err != nil {
			return block{}, fmt.Errorf("merge blocks: %w", err)
		}
		if err := cur.reset(first+k, b.BlockMeta, data, nil, math.MinInt64, math.MaxInt64, false, false); err != nil {
			return block{}, fmt.Errorf("merge blocks: %w", err)
		}
		for cur.next() {
			e := cur.entry()
			meta = appendMetadata(meta[:0], e.Metadata)
			h.entries = append(h.entries, headEntry{ts: e.Timestamp, off: uint32(len(h.arena)), lineLen: uint32(cur.lineLen), metaLen: uint32(len(meta))})
			h.arena = append(h.arena, meta...)
			h.lineBytes += int64(cur.lineLen)
		}
		if err := cur.err(); err != nil {
			return block{}, fmt.Errorf("merge blocks: %w", err)
		}
	}
	if len(h.entries) != n {
		return block{}, fmt.Errorf("merge blocks %d..%d: decoded %d entries, index says %d", first, first+len(run)-1, len(h.entries), n)
	}
	b, err := c.seal(&h, pre, grams, true, false)
	if err != nil {
		return block{}, fmt.Errorf("merge blocks %d..%d: %w", first, first+len(run)-1, err)
	}
	return b, nil
}
