package logql

import (
	"fmt"
	"math"
	"sort"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
)

// A range aggregation whose samples cannot be added up stream by stream
// (quantile, avg, stddev, rate_counter, sums of unwrapped values, min and
// max of them) needs every series' samples in time order. Merging all
// selected streams at once holds an open iterator per stream: a decoded
// block, the chunk it came from and the stream's pipeline, 1 to 5 MiB
// each, so a query over hundreds of streams held hundreds of MiB.
//
// Over more than EngineOptions.SampleStreamBatch streams, the merger instead
// reads the streams a batch at a time, merging each batch in time order
// and closing its iterators before the next batch opens, and spools the
// batch's samples as one run: a timestamp, a value and a series number,
// 20 bytes a sample, instead of the lines they came from. The runs are
// then merged by (timestamp, run), which, as batches are consecutive
// ranges of stream ranks, is exactly the (timestamp, rank) order of the
// merge of every stream at once: the windows see the same samples in the
// same order, so every aggregation gives the same bits. Memory is then
// one batch of open streams plus the samples, not a block per stream.
//
// Samples grow with the data, so the spool reads the query's range in
// slices of time that fit EngineOptions.SampleSpoolBytes. The first slice
// is the whole range: a query whose samples fit is read once, as one
// slice. When the streams read show, scaled up to every stream of the
// slice, that it will not fit (or the spool outgrows its budget within a
// batch), the slice is cut short at the time T where that estimate makes
// three quarters of the budget; the samples from T on are dropped and
// the streams not yet read are read only up to T. Once the slice is
// served, the streams are selected again from T, for a slice sized from
// the last one's density to hold as much. The windows carry over
// from slice to slice, and every sample of a slice comes before the
// next slice's, so the windows see the samples in the order of one merge
// over the whole range, provided the Source ranks the streams alike in
// every Select (see Source). Memory is then the budget (and one page)
// plus a batch of open streams and the windows, however much data the
// range holds; the cost is reading, at each seam, the block that spans it
// twice, and at each cut the samples past T a second time (the query's
// statistics count those lines each time they are read).
//
// min_over_time, max_over_time and first_over_time need not even keep the
// samples: a run keeps, per series and grid cell, one partial bucket
// (count, min, max, first, and where min and max were first seen), and
// the windows merge the runs' partials in the order of their first
// samples to what the samples in time order would have made (see
// window.addPartial). That takes series × cells per run, however many
// lines there are, so every stream is spooled, in one slice.

// spoolRun is the samples of one batch of streams in time order: indexes
// [start, start+n) of the spool's pages, or partial aggregates.
type spoolRun struct {
	start int
	n     int // samples (or partials) in the run
	at    int // the next sample to serve
	// parts are the run's partial aggregates, when the spool keeps them,
	// in the order of their first samples; cur is each series' last.
	parts []spoolPartial
	cur   map[uint32]int
}

// spoolPartial is the aggregate of one series' samples in one grid cell
// within a run, for min, max and first: exact in any grouping of the
// samples, so a run need not keep them (see window.addPartial).
type spoolPartial struct {
	first int64 // the first sample's timestamp
	sid   uint32
	b     bucket
}

// spoolPageLen is the samples of a page: 20 KiB. The runs share the
// pages, one after the other, so a run costs what it holds whatever the
// number of runs, and a page is let go once every run on it is served.
const spoolPageLen = 1024

type spoolPage struct {
	ts  [spoolPageLen]int64
	v   [spoolPageLen]float64
	sid [spoolPageLen]uint32 // index into sampleSpool.series
}

// spoolSampleBytes is what a spooled sample costs in its page.
const spoolSampleBytes = int64(unsafe.Sizeof(spoolPage{})) / spoolPageLen

// runTs is the timestamp of run i's next sample to serve (of a partial:
// of its first sample).
func (s *sampleSpool) runTs(i int) int64 {
	r := &s.runs[i]
	if r.parts != nil {
		return r.parts[r.at].first
	}
	p, j := s.page(r.start + r.at)
	return p.ts[j]
}

func (s *sampleSpool) page(i int) (*spoolPage, int) { return s.pages[i/spoolPageLen], i % spoolPageLen }

// spoolSeries is the label set of spooled samples with one hash.
type spoolSeries struct {
	lbls labels.Labels
	hash uint64
}

// sampleSpool merges the runs of a spooled range aggregation.
type sampleSpool struct {
	runs   []spoolRun
	heap   []int // runs with samples left, by (next timestamp, run)
	series []spoolSeries
	index  map[uint64]uint32
	// cell, when set, gives a sample's grid cell: the runs keep partial
	// aggregates instead of samples.
	cell func(int64) int64
	// pages hold the runs' samples, samples in all.
	pages   []*spoolPage
	samples int
	// free is the merger's pages not in use, kept from slice to slice.
	free *[]*spoolPage
}

func newSampleSpool(free *[]*spoolPage) *sampleSpool {
	return &sampleSpool{index: map[uint64]uint32{}, free: free}
}

// newPage takes a free page or makes one.
func (s *sampleSpool) newPage() *spoolPage {
	if n := len(*s.free); n > 0 {
		p := (*s.free)[n-1]
		(*s.free)[n-1] = nil
		*s.free = (*s.free)[:n-1]
		return p
	}
	return new(spoolPage)
}

// release gives the pages left to the free list.
func (s *sampleSpool) release() {
	for _, p := range s.pages {
		if p != nil {
			*s.free = append(*s.free, p)
		}
	}
	s.pages = nil
}

// add appends a sample of series (lbls, hash) to the last run.
func (s *sampleSpool) add(ts int64, v float64, lbls labels.Labels, hash uint64) {
	id, ok := s.index[hash]
	if !ok {
		// The windows too are keyed by the hash alone.
		id = uint32(len(s.series))
		s.index[hash] = id
		s.series = append(s.series, spoolSeries{lbls: lbls, hash: hash})
	}
	r := &s.runs[len(s.runs)-1]
	if s.cell != nil {
		// As window.addToBucket, in the run's time order.
		end := s.cell(ts)
		at := spoolPos{ts: ts, run: len(s.runs) - 1}
		if i, ok := r.cur[id]; ok && r.parts[i].b.end == end {
			b := &r.parts[i].b
			b.count++
			b.sum += v
			if v < b.min || math.IsNaN(b.min) {
				b.min, b.minAt = v, at
			}
			if v > b.max || math.IsNaN(b.max) {
				b.max, b.maxAt = v, at
			}
			b.last = v
			return
		}
		r.cur[id] = len(r.parts)
		r.parts = append(r.parts, spoolPartial{first: ts, sid: id,
			b: bucket{end: end, count: 1, sum: v, min: v, max: v, first: v, last: v, minAt: at, maxAt: at}})
		r.n++
		return
	}
	if s.samples%spoolPageLen == 0 {
		s.pages = append(s.pages, s.newPage())
	}
	p, i := s.page(s.samples)
	p.ts[i], p.v[i], p.sid[i] = ts, v, id
	r.n++
	s.samples++
}

// startRun begins the run of the next batch.
func (s *sampleSpool) startRun() {
	if n := len(s.runs); n > 0 {
		s.runs[n-1].cur = nil
	}
	s.runs = append(s.runs, spoolRun{start: s.samples})
	if s.cell != nil {
		s.runs[len(s.runs)-1].cur = map[uint32]int{}
	}
}

// startMerge orders the runs for serving.
func (s *sampleSpool) startMerge() {
	for i := range s.runs {
		if s.runs[i].n > 0 {
			s.heap = append(s.heap, i)
		}
	}
	for i := len(s.heap)/2 - 1; i >= 0; i-- {
		s.down(i)
	}
}

func (s *sampleSpool) more() bool { return len(s.heap) > 0 }

// bytes is the memory the spool's samples take.
func (s *sampleSpool) bytes() int64 {
	if s.cell == nil {
		return int64(len(s.pages)) * int64(unsafe.Sizeof(spoolPage{}))
	}
	var n int64
	for _, r := range s.runs {
		n += int64(cap(r.parts)) * int64(unsafe.Sizeof(spoolPartial{}))
	}
	return n
}

// top sets c to the next sample in merge order.
func (s *sampleSpool) top(c *sampleCursor) {
	r := &s.runs[s.heap[0]]
	if s.cell != nil {
		p := &r.parts[r.at]
		se := &s.series[p.sid]
		c.ts, c.v, c.lbls, c.hash, c.n, c.part = p.first, 0, se.lbls, se.hash, 1, &p.b
		return
	}
	p, j := s.page(r.start + r.at)
	se := &s.series[p.sid[j]]
	c.ts, c.v, c.lbls, c.hash, c.n, c.part = p.ts[j], p.v[j], se.lbls, se.hash, 1, nil
}

// advance moves past the next sample; a run served to its end is freed,
// and so is a page the run served that holds no other run's samples (the
// pages runs share go with the slice).
func (s *sampleSpool) advance() {
	i := s.heap[0]
	r := &s.runs[i]
	if r.at++; s.cell == nil && (r.start+r.at)%spoolPageLen == 0 {
		if pg := (r.start+r.at)/spoolPageLen - 1; pg*spoolPageLen >= r.start {
			*s.free = append(*s.free, s.pages[pg])
			s.pages[pg] = nil
		}
	}
	if r.at < r.n {
		s.down(0)
		return
	}
	*r = spoolRun{}
	n := len(s.heap) - 1
	s.heap[0] = s.heap[n]
	s.heap = s.heap[:n]
	if n > 0 {
		s.down(0)
	}
}

func (s *sampleSpool) less(a, b int) bool {
	ta, tb := s.runTs(a), s.runTs(b)
	if ta != tb {
		return ta < tb
	}
	return a < b
}

func (s *sampleSpool) down(i int) {
	h := s.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		j := l
		if r := l + 1; r < len(h) && s.less(h[r], h[l]) {
			j = r
		}
		if !s.less(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

// before is the number of run i's samples before t.
func (s *sampleSpool) before(i int, t int64) int {
	r := &s.runs[i]
	return sort.Search(r.n, func(k int) bool {
		p, j := s.page(r.start + k)
		return p.ts[j] >= t
	})
}

// truncate drops the spooled samples at or after t, moving each run's
// samples left over what the runs before it dropped.
func (s *sampleSpool) truncate(t int64) {
	at := 0
	for i := range s.runs {
		r := &s.runs[i]
		n := s.before(i, t)
		if r.start != at {
			for k := range n {
				src, j := s.page(r.start + k)
				dst, d := s.page(at + k)
				dst.ts[d], dst.v[d], dst.sid[d] = src.ts[j], src.v[j], src.sid[j]
			}
		}
		r.start, r.n = at, n
		at += n
	}
	s.samples = at
	keep := (at + spoolPageLen - 1) / spoolPageLen
	*s.free = append(*s.free, s.pages[keep:]...)
	clear(s.pages[keep:])
	s.pages = s.pages[:keep]
}

// spoolBatches reads the streams batch by batch into m.spool (see above):
// partial aggregates of every stream, or with m.reselect the samples of
// the slice [m.lo, m.hi), cut short when the spool would outgrow
// m.spoolBytes.
func (m *sampleMerger) spoolBatches() {
	s := newSampleSpool(&m.freePages)
	s.cell = m.partialCell
	m.spool = s
	sliced := m.reselect != nil
	for lo := 0; lo < len(m.all); lo += m.batch {
		batch := m.all[lo:min(lo+m.batch, len(m.all))]
		s.startRun()
		m.prime(batch)
		for m.fail == nil && len(m.heap) > 0 {
			c := m.heap[0]
			if c.ts >= m.hi {
				break // the rest of the batch lies past the slice
			}
			if c.n != 1 {
				m.fail = fmt.Errorf("stream %s: a summary of %d entries where single samples were spooled", c.plainLbls, c.n)
				break
			}
			s.add(c.ts, c.v, c.lbls, c.hash)
			if sliced && s.bytes() > m.spoolBytes && c.ts > m.lo {
				m.spoolPeak = max(m.spoolPeak, s.bytes())
				m.cut(c.ts, lo+len(batch))
			}
			m.pop()
		}
		// Release the batch's buffers before the next batch opens.
		for _, c := range batch {
			_ = c.it.Close()
			c.it = nil
		}
		m.heap = m.heap[:0]
		if m.fail != nil {
			return
		}
		// Cut as soon as the streams read show that the slice will not
		// fit, before reading more of it than the next slice takes.
		if k := lo + len(batch); sliced && k < len(m.all) && int64(s.samples)*int64(len(m.all))/int64(k) > m.spoolBytes/spoolSampleBytes && m.hi > m.lo+1 {
			m.cut(m.hi, k)
		}
	}
	m.spoolPeak = max(m.spoolPeak, s.bytes())
	m.slices++
	m.sliceEst = int64(s.samples)
	s.startMerge()
}

// sliceTarget is the samples a slice is sized for: three quarters of the
// spool's budget, as the streams not yet read are estimated from those
// read. Larger slices mean fewer seams, where every stream's block
// spanning the seam is decoded twice.
func (m *sampleMerger) sliceTarget() int64 {
	return max(m.spoolBytes/spoolSampleBytes*3/4, 1)
}

// cut ends the slice early once the spool holds too much: the k first
// streams are read up to ts, so the spool's samples before a time T,
// scaled by len(m.all)/k, estimate the slice [m.lo, T). It moves m.hi to
// the latest T whose estimate fits sliceTarget (m.lo+1 at least, so the
// slices advance) and drops the spooled samples from T on: the next
// slice reads them again.
func (m *sampleMerger) cut(ts int64, k int) {
	s := m.spool
	target := m.sliceTarget()
	est := func(t int64) int64 {
		var n int64
		for i := range s.runs {
			n += int64(s.before(i, t))
		}
		return n * int64(len(m.all)) / int64(k)
	}
	lo, hi := m.lo+1, ts // the answer lies in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if est(mid) <= target {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	m.hi = lo
	s.truncate(lo)
}

// prime fills the cursors and makes m.heap of those with a sample.
func (m *sampleMerger) prime(cs []*sampleCursor) {
	m.heap = m.heap[:0]
	for _, c := range cs {
		if m.fill(c) {
			m.heap = append(m.heap, c)
		}
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
}

// peekSpooled reports whether a sample is left in the spool, in the
// current slice or the next ones, and puts it in m.cur.
func (m *sampleMerger) peekSpooled() bool {
	for m.fail == nil {
		if m.spool.more() {
			m.spool.top(&m.cur)
			return true
		}
		if m.reselect == nil || m.hi >= m.through {
			return false
		}
		m.nextSlice()
	}
	return false
}

// nextSlice selects the streams again over the slice after [m.lo, m.hi),
// sized from the last slice's density to hold sliceTarget samples, and
// spools it.
func (m *sampleMerger) nextSlice() {
	m.close()
	m.spool.release()
	m.spool = nil
	lo, hi := m.hi, m.through
	if span := m.hi - m.lo; m.sliceEst > 0 {
		next := int64(float64(span) * float64(m.sliceTarget()) / float64(m.sliceEst))
		hi = min(m.through, lo+max(next, 1))
	}
	streams, err := m.reselect(lo, hi)
	if err != nil {
		m.fail = err
		return
	}
	m.setStreams(streams)
	m.lo, m.hi = lo, hi
	m.spoolBatches()
}
