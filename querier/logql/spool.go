package logql

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
)

// A range aggregation whose samples cannot be added up stream by stream
// (quantile, avg, stddev, rate_counter, sums of unwrapped values, min and
// max of them) needs every series' samples in time order. Merging all
// selected streams at once holds an open iterator per stream: a decoded
// block, the chunk it came from and the stream's pipeline, 1 to 3 MiB
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
// Samples cost memory in proportion to the lines read, open streams in
// proportion to the streams: over few streams with many lines each the
// spool would cost more than it saves. So it stops once the batches read
// took more than spoolStreamCost a stream, or at
// EngineOptions.SampleSpoolBytes, and the streams not yet read are merged
// live with the runs (a run's samples come first on equal timestamps: it
// holds streams of lower rank), as many open streams as before but fewer.
//
// min_over_time, max_over_time and first_over_time need not even keep the
// samples: a run keeps, per series and grid cell, one partial bucket
// (count, min, max, first, and where min and max were first seen), and
// the windows merge the runs' partials in the order of their first
// samples to what the samples in time order would have made (see
// window.addPartial). That takes series × cells per run, however many
// lines there are, so every stream is spooled.

// spoolRun is the samples of one batch of streams in time order, in
// pages of columns: a page costs exactly what it holds (no slack of a
// doubling slice, no garbage of its copies) and is let go once served.
type spoolRun struct {
	pages []*spoolPage
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

// spoolPageLen is the samples of a page: 20 KiB.
const spoolPageLen = 1024

type spoolPage struct {
	ts  [spoolPageLen]int64
	v   [spoolPageLen]float64
	sid [spoolPageLen]uint32 // index into sampleSpool.series
}

// ts is the timestamp of the next sample to serve (of a partial: of its
// first sample).
func (r *spoolRun) ts() int64 {
	if r.parts != nil {
		return r.parts[r.at].first
	}
	p, j := r.page(r.at)
	return p.ts[j]
}

func (r *spoolRun) page(i int) (*spoolPage, int) { return r.pages[i/spoolPageLen], i % spoolPageLen }

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
}

func newSampleSpool() *sampleSpool {
	return &sampleSpool{index: map[uint64]uint32{}}
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
	if r.n%spoolPageLen == 0 {
		r.pages = append(r.pages, new(spoolPage))
	}
	p, i := r.page(r.n)
	p.ts[i], p.v[i], p.sid[i] = ts, v, id
	r.n++
}

// startRun begins the run of the next batch.
func (s *sampleSpool) startRun() {
	if n := len(s.runs); n > 0 {
		s.runs[n-1].cur = nil
	}
	s.runs = append(s.runs, spoolRun{})
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
	var n int64
	for _, r := range s.runs {
		n += int64(len(r.pages))*int64(unsafe.Sizeof(spoolPage{})) + int64(cap(r.parts))*int64(unsafe.Sizeof(spoolPartial{}))
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
	p, j := r.page(r.at)
	se := &s.series[p.sid[j]]
	c.ts, c.v, c.lbls, c.hash, c.n, c.part = p.ts[j], p.v[j], se.lbls, se.hash, 1, nil
}

// advance moves past the next sample; a run served to its end is freed.
func (s *sampleSpool) advance() {
	i := s.heap[0]
	r := &s.runs[i]
	if r.at++; s.cell == nil && r.at%spoolPageLen == 0 {
		r.pages[r.at/spoolPageLen-1] = nil
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
	ta, tb := s.runs[a].ts(), s.runs[b].ts()
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

// spoolStreamCost is about what a stream being read holds: a decoded
// block (256 KiB of lines and their entries), the chunk it came from and
// its pipeline, measured at 0.7 to 1 MiB; a low guess. Spooling pays
// while the streams read so far took less than that each in samples:
// for streams alike, reading k of N into the spool costs k·S + (N-k)·C,
// least at k = N when S < C and at k = 0 otherwise.
const spoolStreamCost = 512 << 10

// spoolBatches reads the streams batch by batch into m.spool (see above)
// until the spool holds m.spoolBytes; the streams left are then merged
// live, as without a spool, and m.heap holds them primed.
func (m *sampleMerger) spoolBatches() {
	s := newSampleSpool()
	s.cell = m.partialCell
	m.spool = s
	lo := 0
	// Partials are merged with partials only: every stream is spooled.
	for ; lo < len(m.all) && (s.cell != nil || s.bytes() < m.spoolBytes && (lo == 0 || s.bytes()/int64(lo) < spoolStreamCost)); lo += m.batch {
		batch := m.all[lo:min(lo+m.batch, len(m.all))]
		s.startRun()
		m.prime(batch)
		for m.fail == nil && len(m.heap) > 0 {
			c := m.heap[0]
			if c.n != 1 {
				m.fail = fmt.Errorf("stream %s: a summary of %d entries where single samples were spooled", c.plainLbls, c.n)
				break
			}
			s.add(c.ts, c.v, c.lbls, c.hash)
			m.pop()
		}
		// Release the batch's buffers before the next batch opens.
		for _, c := range batch {
			_ = c.it.Close()
			c.it = nil
		}
		if m.fail != nil {
			return
		}
	}
	m.prime(m.all[min(lo, len(m.all)):])
	s.startMerge()
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

// peekSpooled reports whether a sample is left, from the spool or the
// streams merged live, and chooses which comes first: the spool's on
// equal timestamps, as its runs hold the streams of lower rank.
func (m *sampleMerger) peekSpooled() bool {
	if m.fail != nil {
		return false
	}
	s := m.spool
	switch {
	case s.more() && (len(m.heap) == 0 || s.runs[s.heap[0]].ts() <= m.heap[0].ts):
		m.fromSpool = true
		s.top(&m.cur)
		return true
	case len(m.heap) > 0:
		m.fromSpool = false
		return true
	}
	return false
}
