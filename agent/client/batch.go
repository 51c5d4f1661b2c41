package client

import (
	"time"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/agent/entry"
	"github.com/plgstack/plg/push"
)

// batch is the pending entries of one tenant, grouped by stream.
type batch struct {
	tenant  string
	created time.Time
	bytes   int
	count   int
	streams map[uint64][]*stream // by label hash; a slice for collisions
	order   []*stream
	tickets []entry.Ticket
}

type stream struct {
	labels  labels.Labels
	str     string
	entries []push.Entry
}

func newBatch(tenant string, now time.Time) *batch {
	return &batch{tenant: tenant, created: now, streams: map[uint64][]*stream{}}
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
func (b *batch) add(e *entry.Entry, lbls labels.Labels, maxStreams int) bool {
	h := lbls.Hash()
	var s *stream
	for _, c := range b.streams[h] {
		if labels.Equal(c.labels, lbls) {
			s = c
			break
		}
	}
	if s == nil {
		if maxStreams > 0 && len(b.order) >= maxStreams {
			return false
		}
		s = &stream{labels: lbls, str: lbls.String()}
		b.streams[h] = append(b.streams[h], s)
		b.order = append(b.order, s)
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

// request fills req (reusing its slices) with the batch's streams.
func (b *batch) request(req *push.Request) {
	req.Streams = req.Streams[:0]
	for _, s := range b.order {
		req.Streams = append(req.Streams, push.Stream{Labels: s.str, Entries: s.entries})
	}
}

// done acknowledges every entry of the batch.
func (b *batch) done() {
	for _, t := range b.tickets {
		t.Done()
	}
}
