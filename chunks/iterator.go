package chunks

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
)

// Entry is one log line of a stream.
type Entry struct {
	Timestamp int64 // Unix nanoseconds
	Line      []byte
	// Metadata is the entry's structured metadata, sorted by name.
	Metadata labels.Labels
}

// Direction is the order in which an iterator yields entries.
type Direction int

const (
	// Forward yields the oldest entry first; entries with equal timestamps
	// come in append order.
	Forward Direction = iota
	// Backward yields the newest entry first: exactly the reverse of Forward.
	Backward
)

func (d Direction) String() string {
	switch d {
	case Forward:
		return "forward"
	case Backward:
		return "backward"
	}
	return fmt.Sprintf("direction(%d)", int(d))
}

// Stats counts the work an iterator did, in the terms of Loki's query
// statistics. Block counters grow when a block is decompressed, head
// counters when an in-memory head block is scanned.
type Stats struct {
	CompressedBytes   int64 // compressed bytes of the blocks decompressed
	DecompressedBytes int64 // their uncompressed bytes
	DecompressedLines int64 // entries in those blocks
	HeadBytes         int64 // bytes (line and metadata) of head entries in range
	HeadLines         int64 // head entries in range
	BlocksSkipped     int64 // blocks not read: outside the range, ruled out by a filter, or answered from their index entry
	ColumnBlocks      int64 // blocks answered from their entry columns alone (lines not decompressed; counted in CompressedBytes and DecompressedBytes)
	HistogramBlocks   int64 // blocks answered from their time histogram (filter kind 3), not read (counted in BlocksSkipped too)
	Duplicates        int64 // entries dropped as exact duplicates while merging
	// LinesLeftOut and BytesLeftOut count the entries in range, and their
	// line bytes, that a needle search read but left out because a search
	// of the block's lines (or of the head) found no needle in their lines
	// (see IteratorMatching). They count in DecompressedLines or HeadLines
	// too.
	LinesLeftOut int64
	BytesLeftOut int64
}

// Add accumulates o into s.
func (s *Stats) Add(o Stats) {
	s.CompressedBytes += o.CompressedBytes
	s.DecompressedBytes += o.DecompressedBytes
	s.DecompressedLines += o.DecompressedLines
	s.HeadBytes += o.HeadBytes
	s.HeadLines += o.HeadLines
	s.BlocksSkipped += o.BlocksSkipped
	s.ColumnBlocks += o.ColumnBlocks
	s.HistogramBlocks += o.HistogramBlocks
	s.Duplicates += o.Duplicates
	s.LinesLeftOut += o.LinesLeftOut
	s.BytesLeftOut += o.BytesLeftOut
}

// Iterator yields entries in time order.
//
// Next advances to the next entry and reports whether there is one; At
// returns it. Before the first Next, and after Next returned false, At's
// result is unspecified. The Line At returns stays valid only until the
// next call to Next or Close: a caller that keeps it must copy it
// (Metadata is immutable and may be kept). Err returns the error that
// stopped iteration, if any; Close releases buffers and must be called
// once the caller is done, whether or not iteration finished. An Iterator
// is not safe for concurrent use.
type Iterator interface {
	Next() bool
	At() Entry
	Err() error
	Close() error
}

// cursor is the internal form of an iterator: entry returns a pointer to
// the current entry, so merging copies nothing per entry.
type cursor interface {
	next() bool
	entry() *Entry
	err() error
}

// source is one cursor taking part in a merge, with its current timestamp
// and its rank: on equal timestamps the lower rank comes first going
// forward (and last going backward).
type source struct {
	c    cursor
	rank int
	ts   int64
}

// pendingSource is a source not opened yet, known by the earliest (forward)
// or latest (backward) timestamp it can yield.
type pendingSource struct {
	start int64
	rank  int
}

// merger merges sources into one ordered stream, opening pending sources
// only once the merge reaches their start. An entry is dropped when a
// different source already yielded the same timestamp and line.
//
// The common case — sources that do not overlap, like the blocks of a
// chunk appended in order — costs a few comparisons per entry: top is kept
// out of the heap and nothing else is open. Duplicate tracking starts only
// at a timestamp that two open sources share; the lines yielded at that
// timestamp are then remembered until the merge moves past it.
type merger struct {
	backward bool
	top      *source   // the current entry's source
	heap     []*source // other open sources
	pending  []pendingSource
	open     func(rank int) (cursor, error)
	release  func(cursor) // called for each exhausted source
	stats    *Stats
	fail     error

	tieActive bool
	tieTs     int64
	ties      tieSet
}

// tieSet remembers the lines yielded at one timestamp and the rank of
// the source that yielded each. Tie groups are small (one line per
// replica), so lines are copied into an arena and searched linearly; a
// map takes over if a group grows large.
type tieSet struct {
	arena []byte
	ends  []int // ends[i] is where line i stops in arena
	ranks []int
	big   map[string]int
}

const tieSetLinearMax = 16

func (t *tieSet) reset() {
	t.arena, t.ends, t.ranks = t.arena[:0], t.ends[:0], t.ranks[:0]
	if t.big != nil {
		clear(t.big)
	}
}

// lookup returns the rank that yielded line, if any.
func (t *tieSet) lookup(line []byte) (int, bool) {
	if len(t.ends) > tieSetLinearMax {
		r, ok := t.big[yoloString(line)]
		return r, ok
	}
	start := 0
	for i, end := range t.ends {
		if bytes.Equal(t.arena[start:end], line) {
			return t.ranks[i], true
		}
		start = end
	}
	return 0, false
}

func (t *tieSet) add(line []byte, rank int) {
	t.arena = append(t.arena, line...)
	t.ends = append(t.ends, len(t.arena))
	t.ranks = append(t.ranks, rank)
	switch n := len(t.ends); {
	case n == tieSetLinearMax+1:
		if t.big == nil {
			t.big = make(map[string]int)
		}
		start := 0
		for i, end := range t.ends {
			t.big[string(t.arena[start:end])] = t.ranks[i]
			start = end
		}
	case n > tieSetLinearMax+1:
		t.big[string(line)] = rank
	}
}

func (m *merger) less(a, b *source) bool {
	if a.ts != b.ts {
		return (a.ts < b.ts) != m.backward
	}
	return (a.rank < b.rank) != m.backward
}

// startsAfter reports whether a pending source starting at start cannot
// yield anything at or before ts.
func (m *merger) startsAfter(start, ts int64) bool {
	if m.backward {
		return start < ts
	}
	return start > ts
}

func (m *merger) next() bool {
	for m.fail == nil && m.advance() {
		t := m.top
		if m.tieActive && t.ts == m.tieTs {
			line := t.c.entry().Line
			if r, ok := m.ties.lookup(line); ok {
				if r != t.rank {
					m.stats.Duplicates++
					continue
				}
			} else {
				m.ties.add(line, t.rank)
			}
			return true
		}
		m.tieActive = false
		if len(m.heap) > 0 && m.heap[0].ts == t.ts {
			m.ties.reset()
			m.tieActive, m.tieTs = true, t.ts
			m.ties.add(t.c.entry().Line, t.rank)
		}
		return true
	}
	return false
}

// advance moves past the current entry and makes top the source of the
// next one, opening the pending sources that may precede or tie with it.
func (m *merger) advance() bool {
	if t := m.top; t != nil {
		if t.c.next() {
			t.ts = t.c.entry().Timestamp
			if len(m.heap) > 0 && m.less(m.heap[0], t) {
				m.top, m.heap[0] = m.heap[0], t
				m.down(0)
			}
		} else {
			if !m.exhausted(t) {
				return false
			}
			m.top = nil
		}
	}
	if m.top == nil && len(m.heap) > 0 {
		m.top = m.pop()
	}
	for len(m.pending) > 0 && (m.top == nil || !m.startsAfter(m.pending[0].start, m.top.ts)) {
		p := m.pending[0]
		m.pending = m.pending[1:]
		c, err := m.open(p.rank)
		if err != nil {
			m.fail = err
			return false
		}
		s := &source{c: c, rank: p.rank}
		if !c.next() {
			if !m.exhausted(s) {
				return false
			}
			continue
		}
		s.ts = c.entry().Timestamp
		switch {
		case m.top == nil:
			m.top = s
		case m.less(s, m.top):
			m.push(m.top)
			m.top = s
		default:
			m.push(s)
		}
	}
	return m.top != nil
}

// exhausted retires a source whose cursor returned false, reporting
// false if it stopped on an error.
func (m *merger) exhausted(s *source) bool {
	if err := s.c.err(); err != nil {
		m.fail = err
		return false
	}
	if m.release != nil {
		m.release(s.c)
	}
	return true
}

func (m *merger) push(s *source) {
	m.heap = append(m.heap, s)
	m.up(len(m.heap) - 1)
}

func (m *merger) pop() *source {
	s := m.heap[0]
	n := len(m.heap) - 1
	m.heap[0] = m.heap[n]
	m.heap[n] = nil
	m.heap = m.heap[:n]
	if n > 0 {
		m.down(0)
	}
	return s
}

func (m *merger) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !m.less(m.heap[i], m.heap[p]) {
			return
		}
		m.heap[i], m.heap[p] = m.heap[p], m.heap[i]
		i = p
	}
}

func (m *merger) down(i int) {
	n := len(m.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && m.less(m.heap[r], m.heap[l]) {
			j = r
		}
		if !m.less(m.heap[j], m.heap[i]) {
			return
		}
		m.heap[i], m.heap[j] = m.heap[j], m.heap[i]
		i = j
	}
}

// decompressBuffers recycles block decompression buffers across
// iterators; blocks are similar in size, so buffers fit each other.
var decompressBuffers sync.Pool // *[]byte

// escapeLists recycles the escape lists of packed lines frames (about 32
// KiB a block of trace-ID-bearing lines) across iterators, which would
// otherwise grow one per chunk read.
var escapeLists sync.Pool // *[]hexEsc

// loadBlock verifies and returns block b's payload, decompressed into
// *buf (grown as needed) unless it is stored uncompressed, in which case
// it is read in place. For a version 1 block, data is the whole payload
// and lines is nil. For a version 2 block, data is the entry-columns frame
// and lines the lines frame, which is neither checked nor decompressed
// unless withLines is true.
func (e Encoding) loadBlock(buf *[]byte, b *block, rank int, withLines bool) (data, lines []byte, err error) {
	data, lines, _, _, err = e.loadBlockLazy(buf, b, rank, withLines, false)
	return data, lines, err
}

// loadBlockLazy is loadBlock that, if lazy and block b is packed (version
// 3 with a hex frame), leaves its lines frame packed: it returns the
// decompressed packed lines and hex frames (in *buf, non-nil), and lines
// is where packedLines.unpack writes the lines, holding nothing yet.
func (e Encoding) loadBlockLazy(buf *[]byte, b *block, rank int, withLines, lazy bool) (data, lines, packed, hex []byte, err error) {
	if b.ColumnsLen == 0 { // version 1: one payload under one CRC
		if crc := crc32.Checksum(b.data, castagnoli); crc != b.CRC {
			return nil, nil, nil, nil, blockErr(rank, "crc mismatch: index says %#08x, data has %#08x", b.CRC, crc)
		}
		if e == None {
			if len(b.data) != b.UncompressedLen {
				return nil, nil, nil, nil, blockErr(rank, "%d bytes stored uncompressed, index says %d", len(b.data), b.UncompressedLen)
			}
			return b.data, nil, nil, nil, nil
		}
		data, err := e.decompress(*buf, b.data, b.UncompressedLen)
		if cap(data) > cap(*buf) {
			*buf = data[:0]
		}
		if err != nil {
			return nil, nil, nil, nil, blockErr(rank, "%v", err)
		}
		return data, nil, nil, nil, nil
	}
	// DecodeIndex checked 0 < ColumnsLen <= CompressedLen-4 and
	// LineBytes <= UncompressedLen.
	colsComp, rest := b.data[:b.ColumnsLen], b.data[b.ColumnsLen+crcSize:]
	if crc := crc32.Checksum(colsComp, castagnoli); crc != b.CRC {
		return nil, nil, nil, nil, blockErr(rank, "crc mismatch in the columns frame: index says %#08x, data has %#08x", b.CRC, crc)
	}
	if withLines {
		want := binary.BigEndian.Uint32(b.data[b.ColumnsLen:])
		if crc := crc32.Checksum(rest, castagnoli); crc != want {
			return nil, nil, nil, nil, blockErr(rank, "crc mismatch in the lines frame: stored %#08x, data has %#08x", want, crc)
		}
	}
	colsRaw, lineBytes := b.UncompressedLen-int(b.LineBytes), int(b.LineBytes)
	var hl hexLayout
	if b.hexed && withLines {
		var err error
		if hl, err = parseHexLayout(rest, lineBytes); err != nil {
			return nil, nil, nil, nil, blockErr(rank, "%v", err)
		}
	} else {
		hl.lines = rest
	}
	if e == None {
		if len(colsComp) != colsRaw {
			return nil, nil, nil, nil, blockErr(rank, "columns frame of %d bytes stored uncompressed, index says %d", len(colsComp), colsRaw)
		}
		if !withLines {
			return colsComp, nil, nil, nil, nil
		}
		if hl.hexLen == 0 {
			if len(hl.lines) != lineBytes {
				return nil, nil, nil, nil, blockErr(rank, "lines frame of %d bytes stored uncompressed, index says %d", len(hl.lines), lineBytes)
			}
			return colsComp, hl.lines, nil, nil, nil
		}
	}
	size := colsRaw
	if withLines {
		size += lineBytes
	}
	scratch := 0 // a packed lines frame and its hex frame decode past the lines
	if hl.hexLen > 0 {
		scratch = hl.packedLen + decodeSlack + hl.hexLen
	}
	// Each frame decodes with decodeSlack of room past its end: the
	// columns' spare bytes are overwritten by the lines decoded after them.
	if cap(*buf) < size+scratch+decodeSlack {
		*buf = make([]byte, 0, size+scratch+decodeSlack)
	}
	dst := (*buf)[:size]
	if e != None {
		if _, err := e.decompress(dst[:0:colsRaw+decodeSlack], colsComp, colsRaw); err != nil {
			return nil, nil, nil, nil, blockErr(rank, "columns frame: %v", err)
		}
	}
	if !withLines {
		return dst[:colsRaw:colsRaw], nil, nil, nil, nil
	}
	if hl.hexLen == 0 {
		if _, err := e.decompress(dst[colsRaw:colsRaw:size+decodeSlack], hl.lines, lineBytes); err != nil {
			return nil, nil, nil, nil, blockErr(rank, "lines frame: %v", err)
		}
		return dst[:colsRaw:colsRaw], dst[colsRaw:size:size], nil, nil, nil
	}
	packed, hex = hl.lines, hl.hex
	if e != None {
		sp := (*buf)[size : size : size+hl.packedLen+decodeSlack]
		var err error
		if packed, err = e.decompress(sp, hl.lines, hl.packedLen); err != nil {
			return nil, nil, nil, nil, blockErr(rank, "lines frame: %v", err)
		}
		hp := size + hl.packedLen + decodeSlack
		if hex, err = e.decompress((*buf)[hp:hp:hp+hl.hexLen+decodeSlack], hl.hex, hl.hexLen); err != nil {
			return nil, nil, nil, nil, blockErr(rank, "hex frame: %v", err)
		}
	} else {
		if len(packed) != hl.packedLen || len(hex) != hl.hexLen {
			return nil, nil, nil, nil, blockErr(rank, "lines and hex frames of %d and %d bytes stored uncompressed, header says %d and %d", len(packed), len(hex), hl.packedLen, hl.hexLen)
		}
		copy(dst, colsComp)
	}
	if lazy {
		return dst[:colsRaw:colsRaw], dst[colsRaw:size:size], packed, hex, nil
	}
	if err := unpackHex(dst[colsRaw:size], packed, hex); err != nil {
		return nil, nil, nil, nil, blockErr(rank, "lines frame: %v", err)
	}
	return dst[:colsRaw:colsRaw], dst[colsRaw:size:size], nil, nil, nil
}

// hexLayout is the part of a version 3 block after its columns frame's
// CRC, split (FORMAT.md, "Block payload, version 3").
type hexLayout struct {
	hexLen    int    // bytes the hex frame decodes to; 0: lines is plain, no hex frame
	packedLen int    // bytes the lines frame decodes to, when hexLen > 0
	lines     []byte // the stored lines frame
	hex       []byte // the stored hex frame
}

// parseHexLayout splits rest, checking its lengths against the block's
// lineBytes before anything is allocated for them: a hex byte stands for
// two line bytes, and a writer packs only lines that packing shortens.
func parseHexLayout(rest []byte, lineBytes int) (hexLayout, error) {
	var l hexLayout
	hexLen, p, ok := uvarint(rest, 0)
	if !ok {
		return l, errors.New("truncated hex header")
	}
	if hexLen == 0 {
		l.lines = rest[p:]
		return l, nil
	}
	packedLen, p, ok := uvarint(rest, p)
	if !ok {
		return l, errors.New("truncated hex header")
	}
	frameLen, p, ok := uvarint(rest, p)
	switch {
	case !ok:
		return l, errors.New("truncated hex header")
	case hexLen > uint64(lineBytes)/2:
		return l, fmt.Errorf("%d hex bytes for %d line bytes", hexLen, lineBytes)
	case packedLen > uint64(lineBytes):
		return l, fmt.Errorf("lines frame of %d bytes for %d line bytes", packedLen, lineBytes)
	case frameLen > uint64(len(rest)-p):
		return l, fmt.Errorf("hex frame of %d bytes overruns the block", frameLen)
	}
	split := len(rest) - int(frameLen)
	l.hexLen, l.packedLen = int(hexLen), int(packedLen)
	l.lines, l.hex = rest[p:split:split], rest[split:]
	return l, nil
}

// chunkIterator iterates the sealed blocks of a chunk and, for a MemChunk,
// a head snapshot (ranked after every block, as it was appended last).
type chunkIterator struct {
	ctx           context.Context
	enc           Encoding
	blocks        []block
	head          *headSnapshot
	from, through int64
	backward      bool
	stats         *Stats
	// needles, when not nil, leave out most entries whose lines lack them
	// (see blockCursor.selectLines).
	needles *Needles
	m       merger
	free    []*blockCursor // exhausted cursors, kept with their buffers
	used    []*blockCursor // every cursor made, for Close
	closed  bool
}

func newChunkIterator(ctx context.Context, enc Encoding, blocks []block, head *headSnapshot, from, through int64, dir Direction, stats *Stats, keep func(int) bool) *chunkIterator {
	it := newBareChunkIterator(ctx, enc, blocks, head, from, through, dir, stats)
	if from >= through {
		it.stats.BlocksSkipped += int64(len(blocks))
		return it
	}
	ranks := make([]int, 0, len(blocks))
	for i := range blocks {
		b := &blocks[i].BlockMeta
		if !b.overlaps(from, through) || (keep != nil && !keep(i)) {
			it.stats.BlocksSkipped++
			continue
		}
		ranks = append(ranks, i)
	}
	it.schedule(ranks, head != nil)
	return it
}

// newBareChunkIterator returns an iterator with nothing scheduled.
func newBareChunkIterator(ctx context.Context, enc Encoding, blocks []block, head *headSnapshot, from, through int64, dir Direction, stats *Stats) *chunkIterator {
	if stats == nil {
		stats = new(Stats)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	it := &chunkIterator{ctx: ctx, enc: enc, blocks: blocks, head: head, from: from, through: through, backward: dir == Backward, stats: stats}
	it.m = merger{backward: it.backward, open: it.open, release: it.release, stats: stats}
	return it
}

// schedule makes the iterator read the blocks of ranks (which overlap
// its range) and, if withHead, the head.
func (it *chunkIterator) schedule(ranks []int, withHead bool) {
	from, through, head := it.from, it.through, it.head
	pending := make([]pendingSource, 0, len(ranks)+1)
	for _, i := range ranks {
		b := &it.blocks[i].BlockMeta
		start := b.MinT
		if it.backward {
			start = b.MaxT
		}
		pending = append(pending, pendingSource{start: start, rank: i})
	}
	if withHead && head != nil && from < through {
		lo, hi := head.entries[0].ts, head.entries[len(head.entries)-1].ts
		if hi >= from && lo < through {
			start := lo
			if it.backward {
				start = hi
			}
			pending = append(pending, pendingSource{start: start, rank: len(it.blocks)})
		}
	}
	slices.SortFunc(pending, func(a, b pendingSource) int {
		if a.start != b.start {
			if (a.start < b.start) != it.backward {
				return -1
			}
			return 1
		}
		if (a.rank < b.rank) != it.backward {
			return -1
		}
		return 1
	})
	it.m.pending = pending
}

func (it *chunkIterator) open(rank int) (cursor, error) {
	if err := it.ctx.Err(); err != nil {
		return nil, err
	}
	if rank == len(it.blocks) {
		return newHeadCursor(it.head, it.from, it.through, it.backward, it.stats), nil
	}
	b := &it.blocks[rank]
	var c *blockCursor
	if n := len(it.free); n > 0 {
		c, it.free = it.free[n-1], it.free[:n-1]
	} else {
		c = &blockCursor{}
		it.used = append(it.used, c)
	}
	if c.buf == nil {
		c.buf, _ = decompressBuffers.Get().(*[]byte)
		if c.buf == nil {
			c.buf = new([]byte)
		}
	}
	// Needles that can be searched in a packed lines frame leave the
	// lines they rule out packed (see markPacked).
	lazy := it.needles != nil && it.needles.packed != nil
	data, lines, packed, hex, err := it.enc.loadBlockLazy(c.buf, b, rank, true, lazy)
	if err != nil {
		return nil, err
	}
	if len(hex) > 0 && c.pk.esc == nil {
		if e, ok := escapeLists.Get().(*[]hexEsc); ok {
			c.pk.esc = *e
		}
	}
	it.stats.CompressedBytes += int64(b.CompressedLen)
	it.stats.DecompressedBytes += int64(b.UncompressedLen)
	it.stats.DecompressedLines += int64(b.Entries)
	c.needles, c.stats = it.needles, it.stats
	if err := c.resetPacked(rank, b.BlockMeta, data, lines, packed, hex, it.from, it.through, it.backward, true); err != nil {
		return nil, err
	}
	return c, nil
}

func (it *chunkIterator) release(c cursor) {
	if bc, ok := c.(*blockCursor); ok {
		bc.data = nil
		it.free = append(it.free, bc)
	}
}

func (it *chunkIterator) Next() bool { return !it.closed && it.m.next() }

func (it *chunkIterator) At() Entry { return *it.m.top.c.entry() }

func (it *chunkIterator) Err() error { return it.m.fail }

func (it *chunkIterator) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	for _, c := range it.used {
		if c.buf != nil {
			decompressBuffers.Put(c.buf)
			c.buf, c.data = nil, nil
		}
		if c.pk.esc != nil {
			esc := c.pk.esc[:0]
			escapeLists.Put(&esc)
			c.pk = packedLines{}
		}
	}
	it.m.top, it.m.heap, it.m.pending = nil, nil, nil
	return nil
}

// mergeIterator merges caller-supplied iterators.
type mergeIterator struct {
	its    []Iterator
	m      merger
	stats  Stats
	closed bool
}

// iterCursor adapts an Iterator to a cursor.
type iterCursor struct {
	it  Iterator
	cur Entry
}

func (c *iterCursor) next() bool {
	if !c.it.Next() {
		return false
	}
	c.cur = c.it.At()
	return true
}
func (c *iterCursor) entry() *Entry { return &c.cur }
func (c *iterCursor) err() error    { return c.it.Err() }

// NewMergeIterator merges its into one iterator in time order for dir.
// An entry is dropped when another input already yielded the same
// timestamp and line, so overlapping chunks, replicas and WAL replays
// yield each line once; duplicates within one input are kept (a chunk
// iterator has already removed its own). On equal timestamps, inputs
// earlier in its come first going Forward and last going Backward. Close
// closes every input; the first input error stops the merge.
func NewMergeIterator(dir Direction, its ...Iterator) Iterator {
	return NewMergeIteratorWithStats(dir, nil, its...)
}

// NewMergeIteratorWithStats is NewMergeIterator that also counts the
// duplicates it drops into stats.Duplicates (stats may be nil).
func NewMergeIteratorWithStats(dir Direction, stats *Stats, its ...Iterator) Iterator {
	mi := &mergeIterator{its: its}
	if stats == nil {
		stats = &mi.stats
	}
	mi.m = merger{backward: dir == Backward, stats: stats}
	start := int64(math.MinInt64)
	if dir == Backward {
		start = math.MaxInt64
	}
	mi.m.pending = make([]pendingSource, len(its))
	for i := range its {
		mi.m.pending[i] = pendingSource{start: start, rank: i}
	}
	mi.m.open = func(rank int) (cursor, error) { return &iterCursor{it: its[rank]}, nil }
	return mi
}

func (mi *mergeIterator) Next() bool { return !mi.closed && mi.m.next() }

func (mi *mergeIterator) At() Entry { return *mi.m.top.c.entry() }

func (mi *mergeIterator) Err() error { return mi.m.fail }

// Close closes every input and returns the first error.
func (mi *mergeIterator) Close() error {
	if mi.closed {
		return nil
	}
	mi.closed = true
	var first error
	for _, it := range mi.its {
		if err := it.Close(); err != nil && first == nil {
			first = err
		}
	}
	mi.m.top, mi.m.heap, mi.m.pending = nil, nil, nil
	return first
}
