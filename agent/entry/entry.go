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

// Ticket identifies the range of source lines an entry carries. The zero
// Ticket is valid and acknowledges nothing.
type Ticket struct {
	acker       Acker
	first, last uint64
}

// NewTicket returns a ticket for the single line seq of a.
func NewTicket(a Acker, seq uint64) Ticket {
	return Ticket{acker: a, first: seq, last: seq}
}

// Done acknowledges every line the ticket covers. Calling Done on the zero
// Ticket does nothing.
func (t Ticket) Done() {
	if t.acker != nil {
		t.acker.Ack(t.first, t.last)
	}
}

// IsZero reports whether the ticket covers no line.
func (t Ticket) IsZero() bool { return t.acker == nil }

// Merge returns a ticket that covers t and later, for entries built from
// several source lines (multiline, CRI partial lines). Both tickets must come
// from the same source; if either is zero the other is returned.
func (t Ticket) Merge(later Ticket) Ticket {
	if t.acker == nil {
		return later
	}
	if later.acker == nil {
		return t
	}
	if later.first < t.first {
		t.first = later.first
	}
	if later.last > t.last {
		t.last = later.last
	}
	return t
}

// Range returns the first and last sequence numbers covered.
func (t Ticket) Range() (first, last uint64) { return t.first, t.last }
