package chunks

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/prometheus/model/labels"
)

// ErrChunkClosed is returned by Append on a chunk that was closed or encoded.
var ErrChunkClosed = errors.New("chunk is closed")

// ErrEntryTooLarge is returned by Append for an entry over MaxEntrySize.
var ErrEntryTooLarge = errors.New("entry too large")

// MemChunk is a chunk being appended to: sealed, compressed blocks plus a
// head block of recent entries kept uncompressed.
//
// Concurrency: Append, Close and Encode change the chunk and must be
// serialized by the caller (the ingester's per-stream lock). Iterator,
// Bounds, Entries, UncompressedSize, CompressedSize and SpaceFor may run
// concurrently with them and with each other: an internal RWMutex guards
// the state, and Iterator takes a consistent snapshot in O(1) — sealed
// blocks are immutable and the head is append-only, so the snapshot shares
// memory instead of copying entries; an out-of-order Append that must
// shift head entries copies them first if a snapshot is live.
type MemChunk struct {
	mu         sync.RWMutex
	enc        Encoding
	blockSize  int
	targetSize int
	bloomBits  int
	version    byte
	ngramBits  float64
	level      zstd.EncoderLevel
	merge      BlockMerge
	lazyMerge  bool         // Options.MergeAtEncode
	gramsOff   *atomic.Bool // Options.RunGramsOff
	provSeals  *atomic.Bool // Options.ProvisionalSeals

	blocks       []block
	head         headBlock
	headShared   atomic.Bool // set by snapshots taken under the read lock
	compressed   int         // bytes of the sealed blocks
	uncompressed int         // their uncompressed bytes
	entries      int
	minT, maxT   int64
	closed       bool
	encoded      []byte
	metaBuf      []byte // scratch for the raw metadata of one Append
	run          blockRun
}

// NewMemChunk returns an empty chunk. blockSize is the uncompressed size at
// which the head block is cut (DefaultBlockSize if <= 0); targetSize is the
// compressed size at which SpaceFor reports the chunk full (if 0, a chunk
// is full at 10 blocks; if < 0, DefaultTargetSize).
func NewMemChunk(enc Encoding, blockSize, targetSize int) *MemChunk {
	return NewMemChunkWithOptions(Options{Encoding: enc, BlockSize: blockSize, TargetSize: targetSize})
}

// Options configures a MemChunk; see NewMemChunk for the sizes.
type Options struct {
	Encoding   Encoding
	BlockSize  int
	TargetSize int
	// BloomBitsPerToken, if > 0, gives every sealed block a token bloom
	// filter with about this many bits per distinct token (10 gives a
	// false-positive rate near 1%). It costs ingest CPU (tokenising and
	// hashing every line) and roughly BloomBitsPerToken/8 bytes per
	// distinct token per block.
	BloomBitsPerToken int
	// NgramBitsPerGram, if > 0, gives every sealed block an n-gram filter
	// (kind 2 in FORMAT.md) with about this many bits per distinct 4-byte
	// gram, so substring searches skip blocks.
	NgramBitsPerGram float64
	// BlockMerge says how Encode merges runs of small blocks (see
	// mergeSmallBlocks); the zero value is DefaultBlockMerge.
	BlockMerge BlockMerge
	// ZstdLevel is the level zstd blocks are sealed at; 0
	// means DefaultZstdLevel. Readers do not depend on it.
	ZstdLevel zstd.EncoderLevel
	// MergeAtEncode merges runs of small blocks only at Encode, as before
	// concat merged them as they complete (see blockRun): no open run
	// holds a 16 KiB bitmap of its grams, and Encode decompresses the
	// runs' lines to hash them again. The chunks are the same.
	MergeAtEncode bool
	// RunGramsOff, if not nil, is read as each run of small blocks starts
	// and as each block is sealed: while it is true, runs start without a
	// bitmap of grams and are merged at Encode, as with MergeAtEncode, and
	// zstd blocks sealed before they reach the block size are provisional,
	// compressed fast until Encode compresses them again at ZstdLevel
	// (provisional.go). The ingester sets it while its memory budget
	// leaves each stream little room.
	RunGramsOff *atomic.Bool
	// ProvisionalSeals, if not nil, is read as each head is sealed: while
	// it is true, zstd blocks sealed before they reach the block size are
	// provisional, compressed fast until Encode compresses them again at
	// ZstdLevel (provisional.go). The ingester sets it while its memory
	// budget leaves each stream so little room that most runs of small
	// blocks are compressed again at Encode anyway.
	ProvisionalSeals *atomic.Bool

	// version is the format to write; tests set FormatV1 to produce the
	// previous layout. 0 means FormatVersion.
	version byte
}

// NewMemChunkWithOptions returns an empty chunk configured by o.
func NewMemChunkWithOptions(o Options) *MemChunk {
	if o.BlockSize <= 0 {
		o.BlockSize = DefaultBlockSize
	}
	o.BlockSize = min(o.BlockSize, maxHeadRaw)
	if o.TargetSize < 0 {
		o.TargetSize = DefaultTargetSize
	}
	if o.version == 0 {
		o.version = FormatVersion
	}
	if o.BlockMerge == MergeDefault {
		o.BlockMerge = DefaultBlockMerge
	}
	return &MemChunk{enc: o.Encoding, blockSize: o.BlockSize, targetSize: o.TargetSize, bloomBits: max(o.BloomBitsPerToken, 0),
		ngramBits: max(o.NgramBitsPerGram, 0), version: o.version, level: o.ZstdLevel, merge: o.BlockMerge,
		lazyMerge: o.MergeAtEncode, gramsOff: o.RunGramsOff, provSeals: o.ProvisionalSeals}
}

// newMemChunkFromBlocks returns a chunk configured by o that holds blocks,
// sealed blocks of a decoded chunk in time order, as if it had sealed them
// itself; Encode writes them byte for byte. They must have been sealed in
// o's format version and codec, and be full (no open run of small blocks
// starts with them). Their bytes are aliased, not copied.
func newMemChunkFromBlocks(o Options, blocks []block) *MemChunk {
	c := NewMemChunkWithOptions(o)
	c.blocks = slices.Clone(blocks)
	for i := range c.blocks {
		b := &c.blocks[i]
		b.Offset = 0 // as in a MemChunk until encoded
		if c.entries == 0 || b.MinT < c.minT {
			c.minT = b.MinT
		}
		if c.entries == 0 || b.MaxT > c.maxT {
			c.maxT = b.MaxT
		}
		c.entries += b.Entries
		c.compressed += b.CompressedLen
		c.uncompressed += b.UncompressedLen
	}
	return c
}

// Encoding returns the chunk's codec.
func (c *MemChunk) Encoding() Encoding { return c.enc }

// Append adds e, copying its line and metadata. Timestamps may arrive out
// of order. An entry with the same timestamp and line as one already in
// the head block is dropped and reported with dup=true (entries already
// sealed into blocks are not searched; iterators drop such duplicates).
func (c *MemChunk) Append(e Entry) (dup bool, err error) {
	if !c.enc.valid() {
		return false, fmt.Errorf("append: unknown encoding %d", byte(c.enc))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false, ErrChunkClosed
	}
	c.metaBuf = appendMetadata(c.metaBuf[:0], e.Metadata)
	if n := len(e.Line) + len(c.metaBuf); n > MaxEntrySize {
		return false, fmt.Errorf("%w: %d bytes, limit %d", ErrEntryTooLarge, n, MaxEntrySize)
	}
	if c.headShared.Load() {
		c.head.shared, c.head.snapshotted = true, true
		c.headShared.Store(false)
	}
	if !c.head.append(e.Timestamp, e.Line, c.metaBuf) {
		return true, nil
	}
	if c.entries == 0 || e.Timestamp < c.minT {
		c.minT = e.Timestamp
	}
	if c.entries == 0 || e.Timestamp > c.maxT {
		c.maxT = e.Timestamp
	}
	c.entries++
	// The block size counts line and metadata bytes, like Loki's. The
	// second rule bounds the framing of very many tiny entries so a block
	// never outgrows MaxBlockSize.
	if c.head.size() >= c.blockSize || c.head.size()+maxFraming*len(c.head.entries) >= maxHeadRaw {
		return false, c.cut()
	}
	return false, nil
}

const (
	// maxFraming bounds the bytes a block adds per entry beyond its line
	// and raw metadata: a timestamp delta and a line length, as uvarints.
	maxFraming = binary.MaxVarintLen64 + binary.MaxVarintLen32
	// maxHeadRaw is the largest serialised head that leaves room for one
	// more entry under MaxBlockSize.
	maxHeadRaw = MaxBlockSize - MaxEntrySize - 1024
)

// sealBuffers recycles the scratch space used to serialise and compress a
// head block, so idle streams do not each hold one.
var sealBuffers sync.Pool // *sealBuffer

type sealBuffer struct {
	raw, lines, comp      []byte
	packed, hex, hexFrame []byte // version 3
	cols                  columnScratch
}

// sealedLines is a block's lines frame, and in version 3 its hex frame,
// already compressed: Encode's concat merge stores them as they are.
type sealedLines struct {
	lines, hex [][]byte // frames, back to back
	// packedLen and hexLen are, in version 3, the bytes the lines and hex
	// frames decode to; hexLen 0 means plain lines and no hex frame.
	packedLen, hexLen int
}

// sealLines appends to comp what follows the columns frame's CRC: the
// lines frame (version 2), or the hex header, lines frame and hex frame
// (version 3; FORMAT.md).
func (c *MemChunk) sealLines(comp []byte, sb *sealBuffer, pre *sealedLines, level zstd.EncoderLevel) ([]byte, error) {
	if c.version == FormatV2 {
		if pre != nil {
			for _, f := range pre.lines {
				comp = append(comp, f...)
			}
			return comp, nil
		}
		return c.enc.compressLevel(comp, sb.lines, level)
	}
	if pre != nil {
		comp = binary.AppendUvarint(comp, uint64(pre.hexLen))
		if pre.hexLen > 0 {
			hexFrame := 0
			for _, f := range pre.hex {
				hexFrame += len(f)
			}
			comp = binary.AppendUvarint(comp, uint64(pre.packedLen))
			comp = binary.AppendUvarint(comp, uint64(hexFrame))
		}
		for _, f := range pre.lines {
			comp = append(comp, f...)
		}
		for _, f := range pre.hex {
			comp = append(comp, f...)
		}
		return comp, nil
	}
	sb.packed, sb.hex = packHex(sb.packed[:0], sb.hex[:0], sb.lines)
	if len(sb.hex) == 0 || len(sb.packed)+len(sb.hex) >= len(sb.lines) {
		comp = append(comp, 0) // hex_len 0: plain lines, read in place
		return c.enc.compressLevel(comp, sb.lines, level)
	}
	var err error
	sb.hexFrame, err = c.enc.compressLevel(sb.hexFrame[:0], sb.hex, level)
	if err != nil {
		return comp, err
	}
	comp = binary.AppendUvarint(comp, uint64(len(sb.hex)))
	comp = binary.AppendUvarint(comp, uint64(len(sb.packed)))
	comp = binary.AppendUvarint(comp, uint64(len(sb.hexFrame)))
	if comp, err = c.enc.compressLevel(comp, sb.packed, level); err != nil {
		return comp, err
	}
	return append(comp, sb.hexFrame...), nil
}

// cut seals the head into a compressed block. Called with mu held.
func (c *MemChunk) cut() error {
	h := &c.head
	if h.empty() {
		return nil
	}
	eager := c.mergesEagerly()
	var grams *ngramScratch
	if eager && c.ngramBits > 0 {
		grams = ngramScratchPool.Get().(*ngramScratch)
		clear(grams[:])
	}
	b, err := c.seal(h, nil, grams, false, c.sealsProvisionally(h))
	if err != nil {
		putGrams(grams)
		return fmt.Errorf("seal block %d: %w", len(c.blocks), err)
	}
	c.blocks = append(c.blocks, b)
	c.compressed += b.CompressedLen
	c.uncompressed += b.UncompressedLen
	c.resetHead()
	if eager {
		c.addToRun(grams)
	}
	return nil
}

// seal compresses the entries of h (non-empty) into a block with its
// filters. It reads only h and the chunk's immutable settings. If pre is
// not nil (version 2 or later, zstd or none only), the lines frame (and
// the hex frame) are pre's already compressed frames back to back, which
// must decode to h's lines, instead of h's lines compressed.
//
// grams, if not nil, is where the n-gram filter's grams are hashed (it
// must be clear), for the caller to keep; with hashed, it already holds
// the grams of h's lines, which are then not read for the filter. h may
// lack its lines (linesAbsent) only with pre, hashed grams or no n-gram
// filter, and no bloom filter.
//
// provisional compresses at provisionalLevel instead of the chunk's level
// and marks the block so that Encode compresses it again (see
// sealsProvisionally); only without pre.
func (c *MemChunk) seal(h *headBlock, pre *sealedLines, grams *ngramScratch, hashed, provisional bool) (block, error) {
	sb, _ := sealBuffers.Get().(*sealBuffer)
	if sb == nil {
		sb = &sealBuffer{}
	}
	defer sealBuffers.Put(sb)
	minT, maxT := h.bounds()
	var (
		comp    []byte
		err     error
		rawLen  int
		colsLen int
		level   = c.level
	)
	if provisional {
		level = provisionalLevel
	}
	if c.version == FormatV1 {
		raw := sb.raw[:0]
		prev := minT
		for _, e := range h.entries {
			end := e.off + e.lineLen
			raw = appendEntry(raw, uint64(e.ts)-uint64(prev), h.arena[e.off:end], h.arena[end:end+e.metaLen])
			prev = e.ts
		}
		sb.raw, rawLen = raw, len(raw)
		comp, err = c.enc.compressLevel(sb.comp[:0], raw, level)
	} else {
		sb.raw, sb.lines = appendColumns(sb.raw[:0], sb.lines[:0], h, &sb.cols)
		rawLen = len(sb.raw) + int(h.lineBytes)
		comp, err = c.enc.compressLevel(sb.comp[:0], sb.raw, level)
		colsLen = len(comp)
		comp = append(comp, 0, 0, 0, 0) // the CRC32C of the rest of the block
		if err == nil {
			comp, err = c.sealLines(comp, sb, pre, level)
		}
		if err == nil {
			binary.BigEndian.PutUint32(comp[colsLen:], crc32.Checksum(comp[colsLen+crcSize:], castagnoli))
		}
	}
	if err != nil {
		return block{}, err
	}
	sb.comp = comp
	data := make([]byte, len(comp)) // exact size: the block lives until flush
	copy(data, comp)
	// The n-gram filter and the time histogram say their own length; the
	// bloom runs to the end of the block's filter, so it comes last
	// (FORMAT.md).
	var filter []byte
	lines := func(yield func([]byte)) {
		for _, e := range h.entries {
			yield(h.line(e))
		}
	}
	if c.ngramBits > 0 {
		if grams == nil {
			filter = appendNgramFilter(filter, c.ngramBits, lines)
		} else {
			if !hashed {
				lines(grams.addLine)
			}
			filter = grams.appendFilter(filter, c.ngramBits)
		}
	}
	if c.version != FormatV1 {
		filter = appendHistogram(filter, h)
	}
	if c.bloomBits > 0 {
		filter = appendBloom(filter, c.bloomBits, lines)
	}
	return block{
		BlockMeta: BlockMeta{
			MinT:            minT,
			MaxT:            maxT,
			Entries:         len(h.entries),
			LineBytes:       h.lineBytes,
			CompressedLen:   len(data),
			UncompressedLen: rawLen,
			CRC:             blockCRC(data, colsLen),
			FilterLen:       len(filter),
			ColumnsLen:      colsLen,
		},
		data:        data,
		filter:      filter,
		hexed:       c.version >= FormatV3,
		provisional: provisional,
	}, nil
}

// blockCRC is the CRC32C an index entry holds: of the whole block in
// version 1 (colsLen 0), of the entry-columns frame in version 2.
func blockCRC(data []byte, colsLen int) uint32 {
	if colsLen > 0 {
		data = data[:colsLen]
	}
	return crc32.Checksum(data, castagnoli)
}

// resetHead empties the head after a cut, recycling its arena unless an
// iterator's snapshot may still read it.
func (c *MemChunk) resetHead() {
	h := &c.head
	if c.headShared.Load() {
		h.snapshotted = true
	}
	h.release()
	*h = headBlock{}
	c.headShared.Store(false)
}

// SpaceFor reports whether e fits without the chunk passing its target
// size; false means the caller should cut the chunk and start a new one.
// The head block's compressed size is estimated from the ratio the
// sealed blocks achieved.
func (c *MemChunk) SpaceFor(e Entry) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.targetSize == 0 {
		return len(c.blocks) < blocksPerChunkWithoutTarget
	}
	pending := c.head.rawSize() + len(e.Line) + entryOverhead(len(e.Line)) + 1
	e.Metadata.Range(func(l labels.Label) { pending += len(l.Name) + len(l.Value) + 2 })
	est := pending
	if c.uncompressed > 0 {
		est = int(int64(pending) * int64(c.compressed) / int64(c.uncompressed))
	}
	return c.compressed+est < c.targetSize
}

// Close seals the head block. Further appends fail with ErrChunkClosed.
func (c *MemChunk) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.close()
}

func (c *MemChunk) close() error {
	if c.closed {
		return nil
	}
	c.closed = true // before cut, so the head's memory is released
	if err := c.cut(); err != nil {
		c.closed = false
		return err
	}
	c.finishRun(len(c.blocks))
	c.head = headBlock{}
	return nil
}

// Bounds returns the first and last entry timestamps (ns, inclusive);
// both are 0 while the chunk is empty.
func (c *MemChunk) Bounds() (minT, maxT int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.minT, c.maxT
}

// Entries returns the number of entries stored: duplicates Append
// dropped are excluded, duplicates in different blocks (which iterators
// yield once) are counted.
func (c *MemChunk) Entries() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.entries
}

// UncompressedSize returns the uncompressed bytes of all entries: sealed
// blocks' payloads plus the head's lines and metadata.
func (c *MemChunk) UncompressedSize() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.uncompressed + c.head.size()
}

// CompressedSize returns the bytes of the sealed blocks (the head is not
// compressed until it is cut).
func (c *MemChunk) CompressedSize() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.compressed
}

// Blocks returns the sealed blocks' index entries (Offset is 0 until
// encoded).
func (c *MemChunk) Blocks() []BlockMeta {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]BlockMeta, len(c.blocks))
	for i := range c.blocks {
		out[i] = c.blocks[i].BlockMeta
	}
	return out
}

// Encode closes the chunk and returns its persisted form (see FORMAT.md).
// Runs of small blocks (SealHead's, under memory pressure) are merged into
// blocks of about the block size first, as Options.BlockMerge says; the
// merge runs outside the chunk's lock, so iterators are not held up by it
// and those already open keep reading the blocks they saw. The result is
// cached: later calls return the same bytes, which the caller must not
// modify.
func (c *MemChunk) Encode() ([]byte, error) {
	c.mu.Lock()
	if c.encoded != nil {
		defer c.mu.Unlock()
		return c.encoded, nil
	}
	if err := c.close(); err != nil {
		c.mu.Unlock()
		return nil, err
	}
	blocks := c.blocks // a closed chunk's blocks change only here
	c.mu.Unlock()

	merged, err := c.mergeSmallBlocks(blocks)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.encoded != nil { // a concurrent Encode won
		return c.encoded, nil
	}
	if merged != nil {
		c.blocks = merged
		c.compressed, c.uncompressed = 0, 0
		for i := range merged {
			c.compressed += merged[i].CompressedLen
			c.uncompressed += merged[i].UncompressedLen
		}
	}
	b, err := encodeChunk(c.version, c.enc, c.blocks)
	if err != nil {
		return nil, err
	}
	c.encoded = b
	// The encoded form holds every block's bytes verbatim; pointing the
	// blocks into it frees their own buffers, so a chunk awaiting upload
	// and its index segment costs its size once, not twice. A fresh slice,
	// since iterators' snapshots share the old one.
	c.blocks = aliasBlocks(c.blocks, b)
	return b, nil
}

// Iterator returns the entries with timestamps in [from, through), in
// time order for dir, as of the call: entries appended later are not
// seen. It may run concurrently with Append. stats, if not nil, receives
// the work done and must not be shared with a concurrent iterator.
func (c *MemChunk) Iterator(ctx context.Context, from, through int64, dir Direction, stats *Stats) Iterator {
	blocks, head := c.snapshot()
	return newChunkIterator(ctx, c.enc, blocks, head, from, through, dir, stats, nil)
}

// snapshot returns the sealed blocks and a view of the head (nil if
// empty) as of the call; both stay valid while appends go on.
func (c *MemChunk) snapshot() ([]block, *headSnapshot) {
	c.mu.RLock()
	blocks := c.blocks[:len(c.blocks):len(c.blocks)]
	var head *headSnapshot
	if !c.head.empty() {
		head = &headSnapshot{
			entries: c.head.entries[:len(c.head.entries):len(c.head.entries)],
			arena:   c.head.arena[:len(c.head.arena):len(c.head.arena)],
		}
		c.headShared.Store(true)
	}
	c.mu.RUnlock()
	return blocks, head
}
