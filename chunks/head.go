package chunks

import (
	"bytes"
	"sort"
	"sync"
	"unsafe"

	"github.com/plgstack/plg/internal/freelist"
)

// headEntry locates one appended entry in the head's arena: the line
// followed by its raw metadata.
type headEntry struct {
	ts      int64
	off     uint32
	lineLen uint32
	metaLen uint32
}

// headBlock holds the entries appended since the last cut, uncompressed.
//
// entries is kept sorted by timestamp (ties in append order), so sealing,
// duplicate detection and iteration need no sort. Both slices are
// append-only between cuts, which is what makes snapshots cheap: a
// snapshot keeps the slice headers it saw, and bytes below those lengths
// are never rewritten — except by an out-of-order insert, which first
// copies entries if a snapshot may be sharing them (shared).
type headBlock struct {
	entries   []headEntry
	arena     []byte
	lineBytes int64
	overhead  int  // sum of entryOverhead over entries
	shared    bool // a snapshot references entries; copy before shifting
	// snapshotted: some snapshot has seen this head, so its memory must
	// not be reused after the cut.
	snapshotted bool
	// linesAbsent: the arena holds only each entry's metadata, at off
	// (mergeColumns builds such heads to seal a run whose lines are kept
	// compressed).
	linesAbsent bool
}

// size is the head's uncompressed size as counted against the block size:
// lines and metadata.
func (h *headBlock) size() int { return len(h.arena) }

// entryOverhead bounds the framing a sealed block adds per entry beyond
// its line and metadata: the timestamp delta (a few bytes for typical
// gaps) and the line length.
func entryOverhead(lineLen int) int { return 3 + uvarintLen(uint64(lineLen)) }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// rawSize estimates the head's size once serialised into a block.
func (h *headBlock) rawSize() int { return len(h.arena) + h.overhead }

func (h *headBlock) empty() bool { return len(h.entries) == 0 }

func (h *headBlock) bounds() (int64, int64) {
	return h.entries[0].ts, h.entries[len(h.entries)-1].ts
}

func (h *headBlock) line(e headEntry) []byte {
	return h.arena[e.off : e.off+e.lineLen]
}

// upper returns the index of the first entry with a timestamp > ts.
func upper(es []headEntry, ts int64) int {
	if n := len(es); n == 0 || es[n-1].ts <= ts {
		return n // in-order append: the fast path
	}
	return sort.Search(len(es), func(i int) bool { return es[i].ts > ts })
}

// lower returns the index of the first entry with a timestamp >= ts.
func lower(es []headEntry, ts int64) int {
	if n := len(es); n == 0 || es[n-1].ts < ts {
		return n
	}
	return sort.Search(len(es), func(i int) bool { return es[i].ts >= ts })
}

// append adds an entry, copying line and the raw metadata. It reports
// false without adding anything if an entry with the same timestamp and
// line is already in the head.
func (h *headBlock) append(ts int64, line, rawMeta []byte) bool {
	at := upper(h.entries, ts)
	for i := at - 1; i >= 0 && h.entries[i].ts == ts; i-- {
		if bytes.Equal(h.line(h.entries[i]), line) {
			return false
		}
	}
	e := headEntry{ts: ts, off: uint32(len(h.arena)), lineLen: uint32(len(line)), metaLen: uint32(len(rawMeta))}
	if n := len(line) + len(rawMeta); cap(h.arena)-len(h.arena) < n {
		h.arena = arenaPool.grow(h.arena, n, !h.snapshotted)
	}
	if len(h.entries) == cap(h.entries) {
		// A live snapshot shares entries; the copy made here also serves
		// as the copy-on-write an insert below would need.
		h.entries = entriesPool.grow(h.entries, 1, !h.snapshotted)
		h.shared = false
	}
	h.arena = append(h.arena, line...)
	h.arena = append(h.arena, rawMeta...)
	h.lineBytes += int64(len(line))
	h.overhead += entryOverhead(len(line))
	if at == len(h.entries) {
		h.entries = append(h.entries, e)
		return true
	}
	if h.shared {
		h.entries = entriesPool.grow(h.entries, 1, false)
		h.shared = false
	}
	h.entries = append(h.entries, headEntry{})
	copy(h.entries[at+1:], h.entries[at:])
	h.entries[at] = e
	return true
}

// Head memory (the arena and the entries slice) comes from size-classed
// free lists shared by all chunks: a head grows by doubling like append,
// but the buffers it outgrows, and those of a sealed head, go back to the
// lists instead of becoming garbage. Busy streams append without
// allocating; slow streams hold memory in proportion to their data.
// Buffers a snapshot may read are never recycled.
//
// The lists are bounded (freeListLen buffers and freeListBytes per class;
// at most about 3 MiB of arenas and 2.5 MiB of entries slices), and let go
// of what two collections found unused, as sync.Pools do. They were
// sync.Pools, which keep every buffer put back until the next two
// collections: with 200 streams sealing heads under memory pressure, about
// 13 MiB of free arenas at the peak of a 1 GB plgbench ingest. Pooled
// buffers are live to the collector, and the soft memory limit leaves the
// live heap half its size again to grow into (cmd/plg), so each of those
// MiB cost 1.5 MiB of RSS. A buffer put back to a full list is garbage; a
// class that needs more allocates.
//
// The smallest class is 16 elements: a head's first entries slice is 384
// bytes, not the 6 KiB of 256 entries it was, which with 5,000 streams
// sharing a 24 MiB chunk budget had taken more of it than their lines.
const (
	minPoolClass  = 4  // 16 elements
	maxPoolClass  = 26 // 64 Mi elements
	freeListLen   = 16
	freeListBytes = 512 << 10 // one 512 KiB arena: a 256 KiB head crossing the block size
)

// slicePool holds free slices with a capacity of exactly 1<<class, in a
// free list per class (internal/freelist: bounded, and emptied of what
// two collections found unused, so an idle ingester lets them go).
type slicePool[T any] struct {
	once  sync.Once
	lists [maxPoolClass + 1]*freelist.List[[]T] // nil for classes not kept
}

var (
	arenaPool   slicePool[byte]
	entriesPool slicePool[headEntry]
)

func poolClass(n int) int {
	c := minPoolClass
	for 1<<c < n {
		c++
	}
	return c
}

// keep returns how many free slices of class c the pool keeps.
func (p *slicePool[T]) keep(c int) int {
	var zero T
	return min(freeListLen, freeListBytes/((1<<c)*int(unsafe.Sizeof(zero))))
}

// list returns class c's free list, nil if the class keeps nothing.
func (p *slicePool[T]) list(c int) *freelist.List[[]T] {
	p.once.Do(func() {
		for k := minPoolClass; k <= maxPoolClass; k++ {
			if n := p.keep(k); n > 0 {
				p.lists[k] = freelist.New(n, func() []T { return nil })
			}
		}
	})
	return p.lists[c]
}

// grow returns s moved to a pooled slice with room for n more elements,
// recycling s's backing array if recycle is true.
func (p *slicePool[T]) grow(s []T, n int, recycle bool) []T {
	need := len(s) + n
	c := poolClass(max(need, 2*cap(s)))
	var ns []T
	if c > maxPoolClass {
		ns = make([]T, 0, need)
	} else {
		ns = p.get(c)
	}
	ns = append(ns, s...)
	if recycle {
		p.put(s)
	}
	return ns
}

// get returns an empty slice of capacity 1<<c, from the free list if it
// has one.
func (p *slicePool[T]) get(c int) []T {
	if l := p.list(c); l != nil {
		if s := l.Get(); s != nil {
			return s
		}
	}
	return make([]T, 0, 1<<c)
}

// put recycles s's backing array if it came from the pool and its class's
// free list has room.
func (p *slicePool[T]) put(s []T) {
	c := poolClass(cap(s))
	if cap(s) == 0 || c > maxPoolClass || cap(s) != 1<<c {
		return
	}
	if l := p.list(c); l != nil {
		l.Put(s[:0])
	}
}

// freeBytes returns the bytes the pool's free lists hold.
func (p *slicePool[T]) freeBytes() int {
	var zero T
	n := 0
	for c := minPoolClass; c <= maxPoolClass; c++ {
		if l := p.list(c); l != nil {
			l.Each(func(s []T) { n += cap(s) * int(unsafe.Sizeof(zero)) })
		}
	}
	return n
}

// release recycles the head's memory unless a snapshot may still read it.
func (h *headBlock) release() {
	if !h.snapshotted {
		arenaPool.put(h.arena)
		entriesPool.put(h.entries)
	}
	h.arena, h.entries = nil, nil
}

// headSnapshot is an immutable view of a head block.
type headSnapshot struct {
	entries []headEntry
	arena   []byte
	// keep, when not nil, tells which entries a needle search found the
	// needles in; the others are left out but for the last in iteration
	// order (see blockCursor.selectLines for why).
	keep []bool
}

// headCursor walks a snapshot's entries in [from, through).
type headCursor struct {
	s         *headSnapshot
	i, lo, hi int
	backward  bool
	cur       Entry
	mdec      metaDecoder
	stats     *Stats
}

func newHeadCursor(s *headSnapshot, from, through int64, backward bool, stats *Stats) *headCursor {
	lo, hi := lower(s.entries, from), lower(s.entries, through)
	c := &headCursor{s: s, lo: lo, hi: hi, backward: backward, stats: stats}
	c.i = lo - 1
	if backward {
		c.i = hi
	}
	var n int64
	for _, e := range s.entries[lo:hi] {
		n += int64(e.lineLen) + int64(e.metaLen)
	}
	stats.HeadLines += int64(hi - lo)
	stats.HeadBytes += n
	return c
}

func (c *headCursor) next() bool {
	for {
		if c.backward {
			if c.i <= c.lo {
				return false
			}
			c.i--
		} else {
			if c.i+1 >= c.hi {
				return false
			}
			c.i++
		}
		last := (c.backward && c.i == c.lo) || (!c.backward && c.i == c.hi-1)
		if c.s.keep == nil || c.s.keep[c.i] || last {
			break
		}
		c.stats.LinesLeftOut++
		c.stats.BytesLeftOut += int64(c.s.entries[c.i].lineLen)
	}
	e := c.s.entries[c.i]
	c.cur.Timestamp = e.ts
	end := e.off + e.lineLen
	c.cur.Line = c.s.arena[e.off:end:end]
	c.cur.Metadata = c.mdec.decode(c.s.arena[end : end+e.metaLen])
	return true
}

func (c *headCursor) entry() *Entry { return &c.cur }
func (c *headCursor) err() error    { return nil }
