package client

import (
	"slices"
	"time"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/agent/entry"
	"github.com/plgstack/plg/push"
)

// batch is the pending entries of one tenant, grouped by stream. A batch is
// reused after it is sent: its entry slices keep their capacity for the
// next round, so a steady flow of lines appends into memory that is already
// there; streams that stayed empty for a whole round are forgotten.
type batch struct {
	tenant  string
	created time.Time // when the first entry of this round was added
	bytes   int
	count   int
	active  int                  // streams with entries this round
	streams map[uint64][]*stream // by label hash; a slice for collisions
	order   []*stream
	// ents are this round's entries in arrival order; request copies them
	// into grouped, each stream's entries together, in order. One slice for
	// the batch rather than one per stream: per-stream slices were
	// reallocated whenever a stream skipped a round, a quarter of the bytes
	// the agent allocated reading a backlog over 100 files.
	ents    []streamEntry
	grouped []push.Entry
	tickets []entry.Ticket
}

type streamEntry struct {
	s *stream
	e push.Entry
}

type stream struct {
	hash   uint64
	labels labels.Labels
	str    string
	n      int // entries this round
	off    int // where its entries start in grouped
}

func newBatch(tenant string) *batch {
	return &batch{tenant: tenant, streams: map[uint64][]*stream{}}
}

// entrySize is how much an entry counts toward batchsize: line and metadata
// bytes, as Promtail counts them.
func entrySize(e *entry.Entry) int {
	n := len(e.Line)
	e.Metadata.Range(func(l labels.Label) { n += len(l.Name) + len(l.Value) })
	return n
}

// add appends e to its stream; it returns false, without taking e, when e
// would start a stream beyond maxStreams (0: unlimited).
func (b *batch) add(e *entry.Entry, lbls labels.Labels, maxStreams int, now time.Time) bool {
	h := lbls.Hash()
	var s *stream
	for _, c := range b.streams[h] {
		if labels.Equal(c.labels, lbls) {
			s = c
			break
		}
	}
	if s == nil || s.n == 0 {
		if maxStreams > 0 && b.active >= maxStreams {
			return false
		}
		if s == nil {
			s = &stream{hash: h, labels: lbls, str: lbls.String()}
			b.streams[h] = append(b.streams[h], s)
			b.order = append(b.order, s)
		}
		b.active++
	}
	if b.count == 0 {
		b.created = now
	}
	s.n++
	b.ents = append(b.ents, streamEntry{s: s, e: push.Entry{
		Timestamp: e.Timestamp,
		// The encoder only reads the line; aliasing the string avoids a copy
		// of every line.
		Line:     unsafe.Slice(unsafe.StringData(e.Line), len(e.Line)),
		Metadata: e.Metadata,
	}})
	b.bytes += entrySize(e)
	b.count++
	if !e.Ticket.IsZero() {
		b.tickets = append(b.tickets, e.Ticket)
	}
	return true
}

// request fills req (reusing its slices) with the streams that have
// entries, each stream's entries in the order they were added.
func (b *batch) request(req *push.Request) {
	off := 0
	for _, s := range b.order {
		s.off = off
		off += s.n
	}
	b.grouped = slices.Grow(b.grouped[:0], len(b.ents))[:len(b.ents)]
	for i := range b.ents {
		se := &b.ents[i]
		b.grouped[se.s.off] = se.e
		se.s.off++
	}
	req.Streams = req.Streams[:0]
	for _, s := range b.order {
		if s.n > 0 {
			s.off -= s.n // back to its first entry
			req.Streams = append(req.Streams, push.Stream{Labels: s.str, Entries: b.grouped[s.off : s.off+s.n]})
		}
	}
}

// done acknowledges every entry of the batch.
func (b *batch) done() {
	for _, t := range b.tickets {
		t.Done()
	}
}

// reset empties the batch for reuse, dropping references to the sent lines
// and forgetting streams that were idle this round.
func (b *batch) reset() {
	keep := b.order[:0]
	for _, s := range b.order {
		if s.n == 0 {
			b.forget(s)
			continue
		}
		s.n = 0
		keep = append(keep, s)
	}
	clear(b.order[len(keep):])
	b.order = keep
	n := len(b.ents)
	clear(b.ents)
	clear(b.grouped)
	if c := cap(b.ents); c > 1024 && c > 4*n {
		// A burst left slices far larger than this round needed: with a
		// client per ingester and a batch per tenant, keeping every peak
		// adds up.
		b.ents, b.grouped = nil, nil
	} else {
		b.ents, b.grouped = b.ents[:0], b.grouped[:0]
	}
	clear(b.tickets)
	b.tickets = b.tickets[:0]
	b.bytes, b.count, b.active = 0, 0, 0
}

func (b *batch) forget(s *stream) {
	list := b.streams[s.hash]
	for i, c := range list {
		if c == s {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(b.streams, s.hash)
	} else {
		b.streams[s.hash] = list
	}
}
