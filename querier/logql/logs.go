package logql

import (
	"errors"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/querier/logql/log"
	"github.com/plgstack/plg/querier/logql/syntax"
)

// ctxCheckEvery is how many entries are read between two checks of the
// query's context.
const ctxCheckEvery = 4096

// logCursor is one stream's entries after the pipeline: the next kept
// entry, copied out of the iterator's and the stages' buffers (other
// streams run through the same stages before this entry is consumed).
type logCursor struct {
	it     chunks.Iterator
	sp     *log.StreamPipeline
	stream labels.Labels
	rank   int

	// key orders the cursor: its entry's timestamp when filled, else a
	// bound on the timestamps it has left (the last one it read, as
	// iterators are ordered; before the first read, the start of time in
	// the query's direction).
	key      int64
	filled   bool
	done     bool // the stream ended while priming
	part     int  // the parallel part that selected the stream
	ts       int64
	line     []byte
	lbls     labels.Labels
	lblsStr  string // lbls.String(), computed on ties only
	metadata labels.Labels
}

// evalLogs answers a log query over [start, end): the pipeline's output
// lines grouped by their final labels, at most limit entries in the
// requested direction, optionally one per interval.
func (q *query) evalLogs(sel *syntax.LogSelectorExpr) (Result, error) {
	if q.p.Instant {
		return Result{}, &badRequest{err: ErrInstantLogQuery}
	}
	limit := q.p.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > q.opts.MaxEntriesLimit {
		return Result{}, newEntriesLimitError(limit, q.opts.MaxEntriesLimit)
	}
	if q.p.End.Before(q.p.Start) {
		return Result{}, badRequestf("end timestamp must not be before or equal to start time")
	}
	dir := q.p.Direction
	backward := dir == chunks.Backward
	cursors, subs, err := q.openLogCursors(sel, dir)
	defer func() {
		for _, c := range cursors {
			c.close()
		}
		// The parts' iterators count into their statistics until closed.
		for _, sub := range subs {
			q.stats.add(sub.stats)
		}
	}()
	if err != nil {
		return Result{}, err
	}
	interval := q.p.Interval.Nanoseconds()
	if interval > 0 {
		// One entry per interval depends on every entry before it: the
		// streams are merged all at once.
		return q.mergeLogsByInterval(cursors, subs, backward, limit, interval)
	}
	// The streams are read a batch at a time, each batch's streams merged
	// lazily and closed before the next batch opens: a stream being read
	// holds a decoded block (and the chunk bytes it came from), so a
	// query over thousands of streams holds LogStreamBatch of them, not
	// all. Every batch but the first is read only as far as its entries
	// beat the limit-th entry found so far.
	top := &topEntries{k: limit, backward: backward, categorize: q.p.CategorizeLabels}
	n := q.opts.LogStreamBatch
	for lo := 0; lo < len(cursors); lo += n {
		batch := cursors[lo:min(lo+n, len(cursors))]
		m := &logMerger{q: q, backward: backward}
		if subs != nil {
			// Every stream is read at least once, so its first block is
			// decoded in any case: do that in parallel, per part.
			m.prime(batch, subs)
			if m.fail != nil {
				return Result{}, m.fail
			}
		}
		m.heap = slices.Clone(batch)
		m.init()
		top.pull(m)
		if m.fail != nil {
			return Result{}, m.fail
		}
		top.endBatch()
		for _, c := range batch {
			c.close()
		}
	}
	var (
		out    []Stream
		byHash = map[uint64]int{}
	)
	for _, k := range top.acc {
		h := k.key.Hash()
		i, ok := byHash[h]
		if !ok {
			i = len(out)
			byHash[h] = i
			out = append(out, Stream{Labels: k.key})
		}
		out[i].Entries = append(out[i].Entries, k.en)
	}
	q.stats.EntriesReturned += int64(len(top.acc))
	return logsResult(out), nil
}

func logsResult(out []Stream) Result {
	slices.SortFunc(out, func(a, b Stream) int { return strings.Compare(a.Labels.String(), b.Labels.String()) })
	if out == nil {
		out = []Stream{}
	}
	return Result{Type: ValueStreams, Streams: out}
}

// mergeLogsByInterval merges all cursors at once, returning at most limit
// entries at least interval apart.
func (q *query) mergeLogsByInterval(cursors []*logCursor, subs []*query, backward bool, limit int, interval int64) (Result, error) {
	m := &logMerger{q: q, backward: backward}
	if subs != nil {
		m.prime(cursors, subs)
		if m.fail != nil {
			return Result{}, m.fail
		}
	}
	m.heap = slices.Clone(cursors)
	m.init()
	var (
		out     []Stream
		byHash  = map[uint64]int{}
		last    int64
		emitted int
	)
	for emitted < limit && len(m.heap) > 0 {
		c := m.heap[0]
		if !c.filled {
			m.step()
			if m.fail != nil {
				return Result{}, m.fail
			}
			continue
		}
		if emitted == 0 || (!m.backward && c.ts >= last+interval) || (m.backward && c.ts <= last-interval) {
			key, en := c.entry(q.p.CategorizeLabels)
			h := key.Hash()
			i, ok := byHash[h]
			if !ok {
				i = len(out)
				byHash[h] = i
				out = append(out, Stream{Labels: key})
			}
			out[i].Entries = append(out[i].Entries, en)
			last = c.ts
			emitted++
		}
		// The entry's timestamp stays the cursor's key, now as a bound;
		// an unfilled cursor goes before filled ones at its key.
		c.filled = false
		m.down(0)
	}
	q.stats.EntriesReturned += int64(emitted)
	return logsResult(out), nil
}

// close closes the cursor's iterator, once, and lets its buffers go.
func (c *logCursor) close() {
	if c.it != nil {
		_ = c.it.Close()
		c.it = nil
	}
	c.line = nil
}

// keptEntry is an entry a log query may return, with what orders it.
type keptEntry struct {
	ts      int64
	lblsStr string // the pipeline's output labels, as a string
	rank    int    // the stream's
	seq     int    // order of reading, for entries of one stream at one instant
	key     labels.Labels
	en      Entry
}

// topEntries keeps the first k entries of a log query, in its order (time
// in its direction, then output labels, then stream, then the stream's own
// order), as batches of streams yield them in that order.
type topEntries struct {
	k          int
	backward   bool
	categorize bool
	acc        []keptEntry // the first k of the batches done, in order
	pulled     []keptEntry // the current batch's, in order
	seq        int
}

// ahead reports whether a comes before b.
func (t *topEntries) ahead(a, b *keptEntry) bool {
	if a.ts != b.ts {
		return (a.ts > b.ts) == t.backward
	}
	if a.lblsStr != b.lblsStr {
		return a.lblsStr < b.lblsStr
	}
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.seq < b.seq
}

// threshold is the k-th of acc and pulled together, or nil while they
// hold fewer. Every entry pulled so far is among their first k (pull
// takes none that is not), so those are pulled and acc's first k-p.
func (t *topEntries) threshold() *keptEntry {
	p := len(t.pulled)
	if len(t.acc)+p < t.k {
		return nil
	}
	var th *keptEntry
	if j := t.k - 1 - p; j >= 0 {
		th = &t.acc[j]
	}
	if p > 0 && (th == nil || t.ahead(th, &t.pulled[p-1])) {
		th = &t.pulled[p-1]
	}
	return th
}

// pull takes the batch's entries, in order, while they are among the first
// k so far. Once k are known, a sentinel cursor holding the k-th goes into
// the heap: a stream is then read only while it may still beat it.
func (t *topEntries) pull(m *logMerger) {
	var sent *logCursor
	raise := func() {
		th := t.threshold()
		if th == nil {
			return
		}
		if sent == nil {
			sent = &logCursor{filled: true, lbls: labels.EmptyLabels()}
			m.heap = append(m.heap, sent)
		}
		// The threshold only moves ahead: the sentinel only rises.
		sent.key, sent.ts, sent.lblsStr, sent.rank = th.ts, th.ts, th.lblsStr, th.rank
		m.up(slices.Index(m.heap, sent))
	}
	raise()
	for len(m.heap) > 0 && len(t.pulled) < t.k {
		c := m.heap[0]
		if c == sent {
			return
		}
		if !c.filled {
			m.step()
			if m.fail != nil {
				return
			}
			continue
		}
		if c.lblsStr == "" {
			c.lblsStr = c.lbls.String()
		}
		t.seq++
		e := keptEntry{ts: c.ts, lblsStr: c.lblsStr, rank: c.rank, seq: t.seq}
		if th := t.threshold(); th != nil && !t.ahead(&e, th) {
			return
		}
		e.key, e.en = c.entry(t.categorize)
		t.pulled = append(t.pulled, e)
		c.filled = false
		m.down(0)
		raise()
	}
}

// endBatch merges the batch's entries into acc, keeping the first k.
func (t *topEntries) endBatch() {
	if len(t.pulled) == 0 {
		return
	}
	merged := make([]keptEntry, 0, min(t.k, len(t.acc)+len(t.pulled)))
	i, j := 0, 0
	for len(merged) < t.k && (i < len(t.acc) || j < len(t.pulled)) {
		if j == len(t.pulled) || (i < len(t.acc) && t.ahead(&t.acc[i], &t.pulled[j])) {
			merged = append(merged, t.acc[i])
			i++
		} else {
			merged = append(merged, t.pulled[j])
			j++
		}
	}
	t.acc, t.pulled = merged, t.pulled[:0]
}

// openLogCursors selects the streams and makes their cursors, ranked by
// stream labels. With Parallelism > 1 each of that many parts selects its
// share of the streams, with its own pipeline and statistics, so that the
// parts can be read concurrently (see prime); subs are then their queries.
func (q *query) openLogCursors(sel *syntax.LogSelectorExpr, dir chunks.Direction) ([]*logCursor, []*query, error) {
	unread := int64(math.MinInt64)
	if dir == chunks.Backward {
		unread = math.MaxInt64
	}
	parts := q.opts.Parallelism
	var subs []*query
	if parts > 1 {
		subs = make([]*query, parts)
		for i := range subs {
			subs[i] = &query{ctx: q.ctx, src: partSource{src: q.src, i: uint64(i), n: uint64(parts)}, p: q.p, opts: q.opts}
		}
	} else {
		subs = []*query{q}
	}
	var cursors []*logCursor
	for i, sub := range subs {
		p, err := buildPipeline(sel)
		if err != nil {
			return cursors, nil, err
		}
		streams, err := sub.src.Select(q.ctx, sel.Matchers, q.p.Start.UnixNano(), q.p.End.UnixNano(), dir, selectHints(sel), &sub.stats.Stats)
		if err != nil {
			return cursors, nil, err
		}
		q.stats.Streams += int64(len(streams))
		for _, s := range streams {
			cursors = append(cursors, &logCursor{it: s.Iter, sp: p.ForStream(s.Labels), stream: s.Labels, key: unread, part: i})
		}
	}
	slices.SortStableFunc(cursors, func(a, b *logCursor) int { return labels.Compare(a.stream, b.stream) })
	for i, c := range cursors {
		c.rank = i
	}
	if parts <= 1 {
		return cursors, nil, nil
	}
	return cursors, subs, nil
}

// prime reads each cursor's first entry, the cursors of each part in a
// goroutine of their own, counting into the part's statistics.
func (m *logMerger) prime(cursors []*logCursor, subs []*query) {
	unread := int64(math.MinInt64)
	if m.backward {
		unread = math.MaxInt64
	}
	// A cursor keyed at the start of time comes first forever: fill
	// stops after one entry, kept or not.
	stop := &logCursor{key: unread}
	fails := make([]error, len(subs))
	var wg sync.WaitGroup
	for i, sub := range subs {
		wg.Go(func() {
			pm := &logMerger{q: sub, backward: m.backward}
			for _, c := range cursors {
				if c.part != i {
					continue
				}
				if !pm.fill(c, stop) && pm.fail == nil {
					c.done = true
				}
				if pm.fail != nil {
					fails[i] = pm.fail
					return
				}
			}
		})
	}
	wg.Wait()
	m.fail = errors.Join(fails...)
}

// entry returns the cursor's current entry and the labels of the result
// stream it belongs to. The pipeline's output labels split into the
// stream's own labels, the entry's structured metadata, and the labels
// the pipeline added or changed (Parsed). Uncategorized results (Loki's
// default) are grouped by all of them; categorized ones by the first.
func (c *logCursor) entry(categorize bool) (labels.Labels, Entry) {
	e := Entry{Timestamp: c.ts, Line: string(c.line)}
	if labels.Equal(c.lbls, c.stream) {
		return c.lbls, e
	}
	var own, meta, parsed []labels.Label
	c.lbls.Range(func(l labels.Label) {
		switch {
		case c.stream.Has(l.Name) && c.stream.Get(l.Name) == l.Value:
			own = append(own, l)
		case c.metadata.Has(l.Name) && c.metadata.Get(l.Name) == l.Value:
			meta = append(meta, l)
		default:
			parsed = append(parsed, l)
		}
	})
	if len(meta) > 0 {
		e.StructuredMetadata = labels.New(meta...)
	}
	if len(parsed) > 0 {
		e.Parsed = labels.New(parsed...)
	}
	if categorize {
		return labels.New(own...), e
	}
	return c.lbls, e
}

// logMerger orders stream cursors by their next entry in the query's
// direction; equal timestamps are ordered by labels, then stream.
//
// It reads streams lazily, so that a log query with a limit reads only
// about the entries it returns: a cursor not holding an entry is keyed by a
// bound on the timestamps it has left, and is read only when that bound
// comes first, and only as long as it still does. A stream with few or no
// kept entries (a filter it never matches) is thus read back only to the
// oldest entry returned, not to the end of the range.
type logMerger struct {
	q        *query
	backward bool
	heap     []*logCursor
	fail     error
	sinceCtx int
}

// step reads the top cursor, which is not filled, until it holds a kept
// entry, falls behind the next cursor, or ends (then it leaves the heap).
func (m *logMerger) step() {
	c := m.heap[0]
	var next *logCursor
	if h := m.heap; len(h) > 1 {
		next = h[1]
		if len(h) > 2 && m.less(h[2], next) {
			next = h[2]
		}
	}
	if m.fill(c, next) {
		m.down(0)
		return
	}
	if m.fail != nil {
		return
	}
	n := len(m.heap) - 1
	m.heap[0] = m.heap[n]
	m.heap[n] = nil
	m.heap = m.heap[:n]
	if n > 0 {
		m.down(0)
	}
}

// fill reads c until it holds a kept entry or, when next is not nil, its
// key falls behind next's. It reports false when c has no entries left.
func (m *logMerger) fill(c *logCursor, next *logCursor) bool {
	for c.it.Next() {
		e := c.it.At()
		c.key = e.Timestamp
		m.q.stats.TotalLinesProcessed++
		m.q.stats.TotalBytesProcessed += int64(len(e.Line))
		if m.sinceCtx++; m.sinceCtx >= ctxCheckEvery {
			m.sinceCtx = 0
			if err := m.q.ctx.Err(); err != nil {
				m.fail = err
				return false
			}
		}
		out, lbls, _, keep := c.sp.Process(e.Timestamp, e.Line, e.Metadata)
		if !keep {
			if next != nil && m.ahead(next.key, c.key) {
				return true
			}
			continue
		}
		m.q.stats.PostFilterLines++
		c.filled = true
		c.ts = e.Timestamp
		c.line = append(c.line[:0], out...)
		if !labels.Equal(lbls, c.lbls) {
			c.lbls, c.lblsStr = lbls, ""
		}
		c.metadata = e.Metadata
		return true
	}
	if err := c.it.Err(); err != nil && m.fail == nil {
		m.fail = err
	}
	return false
}

// ahead reports whether timestamp a comes strictly before b in the
// query's direction.
func (m *logMerger) ahead(a, b int64) bool {
	if m.backward {
		return a > b
	}
	return a < b
}

func (m *logMerger) less(a, b *logCursor) bool {
	if a.key != b.key {
		return m.ahead(a.key, b.key)
	}
	// A cursor that may still hold an entry at this instant is read
	// before one at it is returned, so ties are ordered by labels.
	if a.filled != b.filled {
		return !a.filled
	}
	if !a.filled {
		return a.rank < b.rank
	}
	if a.lblsStr == "" {
		a.lblsStr = a.lbls.String()
	}
	if b.lblsStr == "" {
		b.lblsStr = b.lbls.String()
	}
	if c := strings.Compare(a.lblsStr, b.lblsStr); c != 0 {
		return c < 0
	}
	return a.rank < b.rank
}

func (m *logMerger) up(i int) {
	h := m.heap
	for i > 0 {
		parent := (i - 1) / 2
		if !m.less(h[i], h[parent]) {
			return
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (m *logMerger) down(i int) {
	h := m.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		j := l
		if r := l + 1; r < len(h) && m.less(h[r], h[l]) {
			j = r
		}
		if !m.less(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

// init makes the heap of the cursors not done.
func (m *logMerger) init() {
	h := m.heap[:0]
	for _, c := range m.heap {
		if !c.done {
			h = append(h, c)
		}
	}
	m.heap = h
	for i := len(h)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
}
