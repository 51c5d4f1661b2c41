package chunks

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
)

// SummaryOptions says how a SummaryIterator may fold entries.
type SummaryOptions struct {
	// Cell maps a timestamp to the last timestamp of the cell it counts
	// in (a query's step cell): every t with ts <= t <= Cell(ts) is in the
	// same cell, so a run of entries is folded while their timestamps do
	// not pass the first one's Cell.
	Cell func(ts int64) int64
	// NoMetadata keeps entries that carry structured metadata out of
	// summaries: they are yielded whole, for callers whose grouping may
	// depend on it.
	NoMetadata bool
}

// SummaryIterator yields a chunk's entries in [from, through), forward,
// folding runs of entries into summaries where that needs nothing but
// their timestamps and line lengths: for a version 2 block, only the
// entry-columns frame is decompressed, never the lines; a block whose
// entries all lie in one cell is answered from its index entry, and one
// whose time histogram's buckets each lie in one cell from the histogram
// (filter kind 3), without reading it. Blocks (and the head) that share any instant with another
// one are iterated entry by entry and merged, since only a line comparison
// can drop the duplicates they may hold.
//
// After Next, Summary reports whether the current item is a summary: it
// then stands for entries entries with lineBytes bytes of lines, all
// mapped by Cell to the value of At's Timestamp, which is no earlier than
// the newest of them (and is its timestamp, unless the summary comes from
// a histogram) and no later than the next item's; At's Line and Metadata
// are empty. Otherwise At is an ordinary entry. It
// implements the querier's Summarizer.
type SummaryIterator struct {
	ctx           context.Context
	enc           Encoding
	blocks        []block
	head          *headSnapshot
	from, through int64
	opts          SummaryOptions
	stats         *Stats

	segs []segment
	seg  *segment // the current segment, nil before the first

	full Iterator    // the current segment's entries, when iterated whole
	f    columnsWalk // the current block's columns, when folded
	buf  *[]byte     // f's decompression buffer
	hi   int         // head walk: next entry index
	hEnd int         // head walk: end of the in-range entries
	mdec metaDecoder

	runs *[]summaryRun // histogram summaries (from runPool); segments of kind segHist index it

	cur     Entry
	inSum   bool
	sumN    int64
	sumB    int64
	fail    error
	closed  bool
	onBlock bool // a block summary is the current item
}

// runPool recycles the summaries iterators fold from histograms: a query
// opens an iterator per chunk, each holding a few hundred of them.
var runPool sync.Pool // *[]summaryRun

// segment is a span of the chunk, in time order: one block or the head
// alone in its time span, or a cluster of blocks (and maybe the head)
// whose time ranges overlap.
type segment struct {
	minT, maxT int64
	ranks      []int // blocks, in chunk order; len(blocks) stands for the head
	kind       segmentKind
	lo, hi     int // segHist: its summaries, runs[lo:hi]
}

type segmentKind uint8

const (
	segEntries segmentKind = iota // iterate entry by entry (and merge)
	segIndex                      // one summary from the block's index entry
	segColumns                    // fold from the block's columns
	segHead                       // fold from the head's entries
	segHist                       // summaries folded from the block's histogram
)

// SummaryIterator returns the chunk's entries in [from, through), forward,
// folded into summaries where possible (see SummaryIterator).
func (c *Chunk) SummaryIterator(ctx context.Context, from, through int64, opts SummaryOptions, stats *Stats) *SummaryIterator {
	return newSummaryIterator(ctx, c.enc, c.blocks, nil, from, through, opts, stats)
}

// SummaryIterator is Chunk.SummaryIterator over the chunk as of the call.
func (c *MemChunk) SummaryIterator(ctx context.Context, from, through int64, opts SummaryOptions, stats *Stats) *SummaryIterator {
	blocks, head := c.snapshot()
	return newSummaryIterator(ctx, c.enc, blocks, head, from, through, opts, stats)
}

func newSummaryIterator(ctx context.Context, enc Encoding, blocks []block, head *headSnapshot, from, through int64, opts SummaryOptions, stats *Stats) *SummaryIterator {
	if stats == nil {
		stats = new(Stats)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	it := &SummaryIterator{ctx: ctx, enc: enc, blocks: blocks, head: head, from: from, through: through, opts: opts, stats: stats}
	// Spans of the blocks and the head in range, sorted by start. Each
	// span's ranks is one element of a shared array, capped so that
	// merging clusters copies instead of overwriting a neighbour.
	spans := make([]segment, 0, len(blocks)+1)
	ranks := make([]int, len(blocks)+1)
	for i := range blocks {
		b := &blocks[i].BlockMeta
		if from >= through || !b.overlaps(from, through) {
			stats.BlocksSkipped++
			continue
		}
		ranks[i] = i
		spans = append(spans, segment{minT: b.MinT, maxT: b.MaxT, ranks: ranks[i : i+1 : i+1]})
	}
	if head != nil && from < through {
		lo, hi := head.entries[0].ts, head.entries[len(head.entries)-1].ts
		if hi >= from && lo < through {
			n := len(blocks)
			ranks[n] = n
			spans = append(spans, segment{minT: lo, maxT: hi, ranks: ranks[n : n+1 : n+1]})
		}
	}
	if !slices.IsSortedFunc(spans, func(a, b segment) int { return cmpInt64(a.minT, b.minT) }) {
		slices.SortStableFunc(spans, func(a, b segment) int { return cmpInt64(a.minT, b.minT) })
	}
	// Merge spans sharing an instant into clusters.
	it.segs = spans[:0] // merging only ever shrinks: reuse the array
	for _, s := range spans {
		if n := len(it.segs); n > 0 && s.minT <= it.segs[n-1].maxT {
			last := &it.segs[n-1]
			last.ranks = append(last.ranks, s.ranks...)
			last.maxT = max(last.maxT, s.maxT)
			continue
		}
		it.segs = append(it.segs, s)
	}
	for i := range it.segs {
		s := &it.segs[i]
		if len(s.ranks) > 1 {
			slices.Sort(s.ranks) // chunk order decides ties while merging
			continue
		}
		r := s.ranks[0]
		if r == len(blocks) {
			s.kind = segHead
			continue
		}
		if opts.Cell == nil {
			continue
		}
		b := &blocks[r].BlockMeta
		h, hasHist := histFilter(blocks[r].filter)
		plain := !opts.NoMetadata || (hasHist && len(h) > 0 && h[0] == 0)
		if plain && b.MinT >= from && b.MaxT < through && opts.Cell(b.MinT) == opts.Cell(b.MaxT) {
			s.kind = segIndex
			continue
		}
		if hasHist {
			if it.runs == nil {
				it.runs, _ = runPool.Get().(*[]summaryRun)
				if it.runs == nil {
					it.runs = new([]summaryRun)
				}
			}
			lo := len(*it.runs)
			var ok bool
			if *it.runs, ok = foldHistogram(*it.runs, h, b, from, through, opts.Cell, opts.NoMetadata); ok {
				s.kind, s.lo, s.hi = segHist, lo, len(*it.runs)
				continue
			}
		}
		if b.ColumnsLen > 0 {
			s.kind = segColumns
		}
	}
	return it
}

// Reads returns the byte range of a Chunk's object that the iterator will
// read: it spans the blocks that cannot be answered from their index
// entries or histograms. hi is 0 when it reads no block, so a reader
// holding only the chunk's header, index and filter section
// (DecodePartial) can iterate it as it is; otherwise it fetches the range
// and hands it over with ReadFrom. Only a Chunk's iterator has offsets.
func (it *SummaryIterator) Reads() (lo, hi int) {
	lo = math.MaxInt
	for _, s := range it.segs {
		if s.kind == segIndex || s.kind == segHist {
			continue
		}
		for _, r := range s.ranks {
			if r == len(it.blocks) {
				continue // the head
			}
			b := &it.blocks[r].BlockMeta
			lo, hi = min(lo, b.Offset), max(hi, b.Offset+b.CompressedLen)
		}
	}
	if hi == 0 {
		return 0, 0
	}
	return lo, hi
}

// ReadFrom makes the iterator read block data from d: the same chunk
// decoded again (DecodePartial) with the range Reads returned readable.
// It must be called before the first Next.
func (it *SummaryIterator) ReadFrom(d *Chunk) error {
	if len(d.blocks) != len(it.blocks) {
		return fmt.Errorf("reading from a chunk of %d blocks, not %d", len(d.blocks), len(it.blocks))
	}
	it.blocks = d.blocks
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Next advances to the next entry or summary.
func (it *SummaryIterator) Next() bool {
	it.inSum = false
	for !it.closed && it.fail == nil {
		if it.seg != nil {
			var ok bool
			switch it.seg.kind {
			case segEntries:
				ok = it.nextFull()
			case segIndex:
				ok, it.onBlock = it.onBlock, false
				it.inSum = ok
			case segColumns:
				ok = it.nextColumns()
			case segHist:
				if ok = it.seg.lo < it.seg.hi; ok {
					r := (*it.runs)[it.seg.lo]
					it.seg.lo++
					it.inSum, it.sumN, it.sumB = true, r.n, r.b
					it.cur = Entry{Timestamp: r.ts}
				}
			case segHead:
				ok = it.nextHead()
			}
			if ok {
				return true
			}
			if it.fail != nil {
				return false
			}
		}
		if len(it.segs) == 0 {
			return false
		}
		it.seg, it.segs = &it.segs[0], it.segs[1:]
		if err := it.ctx.Err(); err != nil {
			it.fail = err
			return false
		}
		it.openSegment()
	}
	return false
}

func (it *SummaryIterator) openSegment() {
	s := it.seg
	switch s.kind {
	case segEntries:
		var head *headSnapshot
		ranks := s.ranks
		if n := len(ranks); ranks[n-1] == len(it.blocks) {
			head, ranks = it.head, ranks[:n-1]
		}
		ci := newBareChunkIterator(it.ctx, it.enc, it.blocks, head, it.from, it.through, Forward, it.stats)
		ci.schedule(ranks, head != nil)
		it.full = ci
	case segHist:
		it.stats.BlocksSkipped++
		it.stats.HistogramBlocks++
	case segIndex:
		b := &it.blocks[s.ranks[0]].BlockMeta
		it.stats.BlocksSkipped++
		it.onBlock = true
		it.sumN, it.sumB = int64(b.Entries), b.LineBytes
		it.cur = Entry{Timestamp: b.MaxT}
	case segColumns:
		r := s.ranks[0]
		b := &it.blocks[r]
		if it.buf == nil {
			it.buf, _ = decompressBuffers.Get().(*[]byte)
			if it.buf == nil {
				it.buf = new([]byte)
			}
		}
		data, _, err := it.enc.loadBlock(it.buf, b, r, false)
		if err != nil {
			it.fail = err
			return
		}
		cols, err := parseColumns(data)
		if err != nil {
			it.fail = blockErr(r, "columns: %v", err)
			return
		}
		// Each entry without metadata takes one byte (a zero count) of the
		// metadata column, any with metadata more.
		if it.opts.NoMetadata && len(cols.meta) != b.Entries {
			// Some entry carries metadata: its line is needed after all.
			s.kind = segEntries
			it.openSegment()
			return
		}
		it.stats.ColumnBlocks++
		it.stats.CompressedBytes += int64(b.ColumnsLen)
		it.stats.DecompressedBytes += int64(b.UncompressedLen) - b.LineBytes
		it.f = columnsWalk{idx: r, meta: b.BlockMeta, cols: cols, ts: b.MinT}
	case segHead:
		h := it.head
		it.hi, it.hEnd = lower(h.entries, it.from), lower(h.entries, it.through)
		var n int64
		for _, e := range h.entries[it.hi:it.hEnd] {
			n += int64(e.lineLen) + int64(e.metaLen)
		}
		it.stats.HeadLines += int64(it.hEnd - it.hi)
		it.stats.HeadBytes += n
	}
}

func (it *SummaryIterator) nextFull() bool {
	if it.full.Next() {
		it.cur = it.full.At()
		return true
	}
	it.fail = it.full.Err()
	it.full.Close()
	it.full = nil
	return false
}

// columnsWalk reads a version 2 block's timestamp and length columns,
// checking them as the full decoder does (the metadata column is not
// read: nothing here depends on it).
type columnsWalk struct {
	idx    int
	meta   BlockMeta
	cols   columns
	i      int   // entries decoded
	ts     int64 // the last decoded entry's timestamp
	pt, pl int   // positions in the timestamp and length columns
	lo     int64 // line bytes decoded
	held   bool  // the last decoded entry is not consumed yet
	n      int   // its line length
	done   bool  // no entry left in range
}

// next decodes the next entry; false at the end of the block (its totals
// then checked) or on corrupt data (err set).
func (f *columnsWalk) next() (ok bool, err error) {
	m := &f.meta
	if f.i == m.Entries {
		switch {
		case f.pt != len(f.cols.ts) || f.pl != len(f.cols.lens):
			return false, blockErr(f.idx, "columns hold more than the %d entries the index says", m.Entries)
		case f.lo != m.LineBytes:
			return false, blockErr(f.idx, "line lengths add up to %d, index says %d", f.lo, m.LineBytes)
		case f.ts != m.MaxT:
			return false, blockErr(f.idx, "last timestamp %d, index says %d", f.ts, m.MaxT)
		}
		return false, nil
	}
	if f.i > 0 {
		var d uint64
		if p := f.pt; p < len(f.cols.ts) && f.cols.ts[p] < 0x80 {
			d, f.pt = uint64(f.cols.ts[p]), p+1
		} else if d, f.pt, ok = uvarint(f.cols.ts, p); !ok {
			return false, blockErr(f.idx, "timestamp column ends at entry %d of %d", f.i, m.Entries)
		}
		if d > (uint64(m.MaxT)-uint64(f.ts))/f.cols.unit {
			return false, blockErr(f.idx, "entry %d: timestamp beyond the block's max time", f.i)
		}
		f.ts = int64(uint64(f.ts) + d*f.cols.unit)
	}
	var n uint64
	if p := f.pl; p < len(f.cols.lens) && f.cols.lens[p] < 0x80 {
		n, f.pl = uint64(f.cols.lens[p]), p+1
	} else if n, f.pl, ok = uvarint(f.cols.lens, p); !ok {
		return false, blockErr(f.idx, "length column ends at entry %d of %d", f.i, m.Entries)
	}
	if n > uint64(m.LineBytes-f.lo) {
		return false, blockErr(f.idx, "entry %d: line length overruns the lines frame", f.i)
	}
	f.lo += int64(n)
	f.n = int(n)
	f.i++
	return true, nil
}

// nextColumns folds the next run of one cell from the current block.
func (it *SummaryIterator) nextColumns() bool {
	f := &it.f
	for !f.done {
		if !f.held {
			ok, err := f.next()
			if !ok {
				it.fail, f.done = err, true
				return false
			}
		}
		f.held = false
		if f.ts < it.from {
			continue
		}
		if f.ts >= it.through {
			f.done = true
			return false
		}
		end := it.opts.Cell(f.ts)
		n, b, last := int64(1), int64(f.n), f.ts
		for {
			ok, err := f.next()
			if !ok {
				it.fail, f.done = err, true
				break
			}
			if f.ts >= it.through {
				f.done = true
				break
			}
			if f.ts > end {
				f.held = true
				break
			}
			n++
			b += int64(f.n)
			last = f.ts
		}
		if it.fail != nil {
			return false
		}
		it.inSum, it.sumN, it.sumB = true, n, b
		it.cur = Entry{Timestamp: last}
		return true
	}
	return false
}

// nextHead folds the next run of one cell from the head, yielding entries
// with metadata whole when asked to.
func (it *SummaryIterator) nextHead() bool {
	h := it.head
	if it.hi >= it.hEnd {
		return false
	}
	e := h.entries[it.hi]
	if it.opts.Cell == nil || (it.opts.NoMetadata && e.metaLen > 1) {
		it.hi++
		end := e.off + e.lineLen
		it.cur = Entry{Timestamp: e.ts, Line: h.arena[e.off:end:end], Metadata: it.mdec.decode(h.arena[end : end+e.metaLen])}
		return true
	}
	end := it.opts.Cell(e.ts)
	n, b, last := int64(0), int64(0), e.ts
	for ; it.hi < it.hEnd; it.hi++ {
		e := h.entries[it.hi]
		if (it.opts.NoMetadata && e.metaLen > 1) || e.ts > end {
			break
		}
		n++
		b += int64(e.lineLen)
		last = e.ts
	}
	it.inSum, it.sumN, it.sumB = true, n, b
	it.cur = Entry{Timestamp: last, Metadata: labels.EmptyLabels()}
	return true
}

// Unfold turns folding off, so the iterator yields every entry whole (for
// a caller that must merge it with other sources); it must be called
// before the first Next.
func (it *SummaryIterator) Unfold() {
	it.opts.Cell = nil
	for i := range it.segs {
		if s := &it.segs[i]; s.kind == segIndex || s.kind == segColumns || s.kind == segHist {
			s.kind = segEntries
		}
	}
}

// At returns the current entry, or the newest timestamp of a summary.
func (it *SummaryIterator) At() Entry { return it.cur }

// Summary reports whether the current item is a summary, and of what.
func (it *SummaryIterator) Summary() (entries, lineBytes int64, ok bool) {
	if it.inSum {
		return it.sumN, it.sumB, true
	}
	return 0, 0, false
}

// Err returns the error that stopped iteration, if any.
func (it *SummaryIterator) Err() error { return it.fail }

// Close releases the iterator's buffers.
func (it *SummaryIterator) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	if it.full != nil {
		it.full.Close()
		it.full = nil
	}
	if it.buf != nil {
		decompressBuffers.Put(it.buf)
		it.buf, it.f = nil, columnsWalk{}
	}
	if it.runs != nil {
		*it.runs = (*it.runs)[:0]
		runPool.Put(it.runs)
		it.runs = nil
	}
	it.segs = nil
	return nil
}
