// Package entry defines the log entry that flows from a tailed file through
// the pipeline stages to a client, and the acknowledgement ticket that lets
// the source learn when the entry is durably handled.
//
// It owns only these data types. It must not read files, encode wire
// formats or know about configuration.
package entry

import "github.com/prometheus/prometheus/model/labels"

// Entry is one log line on its way to an ingester.
//
// An Entry is owned by exactly one goroutine at a time: a source creates it,
// the pipeline mutates it in place, and the client takes it over when it is
// handed on. Extracted is scratch space for stages and is not sent.
type Entry struct {
	// Labels is the stream label set. Labels starting with "__" are never sent.
	Labels labels.Labels
	// Timestamp in Unix nanoseconds.
	Timestamp int64
	Line      string
	// Metadata is structured metadata, sent with the entry but not indexed.
	Metadata labels.Labels
	// Tenant overrides the client's tenant_id when not empty.
	Tenant string
	// Extracted holds values extracted by parsing stages for later stages.
	Extracted map[string]any
	// Ticket must be completed exactly once: when the entry was accepted by
	// an ingester, rejected for good, or dropped on purpose.
	Ticket Ticket
}

// Acker is implemented by sources that need to know when entries are done.
// Sequence numbers are assigned by the source, one per line read.
type Acker interface {
	Ack(first, last uint64)
}

// Ticket identifies the source lines an entry carries. The zero Ticket is
// valid and acknowledges nothing.
type Ticket struct {
	acker       Acker
	first, last uint64
	// seqs lists the lines when they are not one contiguous range (a merge
	// skipped lines that went elsewhere, e.g. a stderr line between stdout
	// partials). Then first and last are unused.
	seqs []uint64
}

// NewTicket returns a ticket for the single line seq of a.
func NewTicket(a Acker, seq uint64) Ticket {
	return Ticket{acker: a, first: seq, last: seq}
}

// Done acknowledges every line the ticket covers. Calling Done on the zero
// Ticket does nothing.
func (t Ticket) Done() {
	if t.acker == nil {
		return
	}
	if t.seqs == nil {
		t.acker.Ack(t.first, t.last)
		return
	}
	for _, s := range t.seqs {
		t.acker.Ack(s, s)
	}
}

// IsZero reports whether the ticket covers no line.
func (t Ticket) IsZero() bool { return t.acker == nil }

// Merge returns a ticket that covers the lines of both, for entries built
// from several source lines (multiline, CRI partial lines). Both tickets
// must come from the same source; if either is zero the other is returned.
// Merging a ticket that directly follows t (the common case) allocates
// nothing; lines in between are never covered.
func (t Ticket) Merge(later Ticket) Ticket {
	if t.acker == nil {
		return later
	}
	if later.acker == nil {
		return t
	}
	if t.seqs == nil && later.seqs == nil && later.first == t.last+1 {
		t.last = later.last
		return t
	}
	seqs := t.list(nil)
	seqs = later.list(seqs)
	return Ticket{acker: t.acker, seqs: seqs}
}

func (t Ticket) list(dst []uint64) []uint64 {
	if t.seqs != nil {
		return append(dst, t.seqs...)
	}
	for s := t.first; s <= t.last; s++ {
		dst = append(dst, s)
	}
	return dst
}

// Lines returns how many source lines the ticket covers.
func (t Ticket) Lines() int {
	switch {
	case t.acker == nil:
		return 0
	case t.seqs != nil:
		return len(t.seqs)
	}
	return int(t.last - t.first + 1)
}
