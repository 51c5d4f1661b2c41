package push

import "github.com/prometheus/prometheus/model/labels"

// Request is one push: what a client sends to /loki/api/v1/push.
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
// Line aliases the decoded request buffer when it came from DecodeProto: it is
// valid only as long as that buffer is, and a receiver that keeps it must copy.
type Entry struct {
	Timestamp int64 // Unix nanoseconds
	Line      []byte
	// Metadata is the entry's structured metadata, sorted by name.
	Metadata labels.Labels
}
