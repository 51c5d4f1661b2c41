package client

import (
	"time"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/agent/entry"
	"github.com/plgstack/plg/push"
)

// batch is the pending entries of one tenant, grouped by stream. A batch is
// reused after it is sent: streams that received entries keep their slices
// for the next round (files keep writing to the same streams), streams that
// stayed empty for a whole round are forgotten.
type batch struct {
	tenant  string
	created time.Time // when the first entry of this round was added
	bytes   int
	count   int
	active  int                  // streams with entries this round
	streams map[uint64][]*stream // by label hash; a slice for collisions
	order   []*stream
	tickets []entry.Ticket
}

type stream struct {
	hash    uint64
	labels  labels.Labels
	str     string
	entries []push.Entry
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
	if s == nil || len(s.entries) == 0 {
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
	s.entries = append(s.entries, push.Entry{
		Timestamp: e.Timestamp,
		// The encoder only reads the line; aliasing the string avoids a copy
		// of every line.
		Line:     unsafe.Slice(unsafe.StringData(e.Line), len(e.Line)),
		Metadata: e.Metadata,
	})
	b.bytes += entrySize(e)
	b.count++
	if !e.Ticket.IsZero() {
		b.tickets = append(b.tickets, e.Ticket)
	}
	return true
}

// request fills req (reusing its slices) with the streams that have
// entries.
func (b *batch) request(req *push.Request) {
	req.Streams = req.Streams[:0]
	for _, s := range b.order {
		if len(s.entries) > 0 {
			req.Streams = append(req.Streams, push.Stream{Labels: s.str, Entries: s.entries})
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
		if len(s.entries) == 0 {
			b.forget(s)
			continue
		}
		if cap(s.entries) > 64 && cap(s.entries) > 4*len(s.entries) {
			// A burst left this stream a slice far larger than it now
			// needs: with many streams, keeping every peak adds up.
			s.entries = nil
		} else {
			clear(s.entries)
			s.entries = s.entries[:0]
		}
		keep = append(keep, s)
	}
	clear(b.order[len(keep):])
	b.order = keep
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
