package push

import "github.com/prometheus/prometheus/model/labels"

// Request is one push: what a client sends to /loki/api/v1/push.
//
// Decoding into a Request reuses its slices (and the Entries slices of its
// streams), so one Request per worker makes decoding allocation-free in the
// steady state. After a decoding error its contents are unspecified.
type Request struct {
	Streams []Stream
}

// Stream is one label set and its entries, as sent. Labels is the
// Prometheus-style label string (`{app="api", env="prod"}`) exactly as the
// client wrote it; the ingester parses and validates it.
type Stream struct {
	Labels  string
	Entries []Entry
}

// Entry is one log line.
//
// Line is not a copy: it aliases the body it was decoded from (see the
// package documentation, "Memory"). From DecodeProto and DecodeJSON it is
// valid as long as their input is; from a Decoder's methods, only until that
// Decoder's next call. A receiver that keeps a line beyond that must copy it,
// and must not write to it.
type Entry struct {
	Timestamp int64 // Unix nanoseconds
	Line      []byte
	// Metadata is the entry's structured metadata, sorted by name.
	Metadata labels.Labels
}
