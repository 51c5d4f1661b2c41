package logql

import (
	"context"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
)

// Source gives the engine the raw streams a stream selector picks. The
// querier implements it over the ingesters' memory and the object store,
// already merged and deduplicated per stream; tests implement it over slices.
type Source interface {
	// Select returns one iterator per stream matching every matcher with
	// entries in [from, through) (Unix ns), in direction dir. Hints say
	// which entries the query will drop anyway; a Source may leave those
	// out, or ignore the hints (see SelectHints). Stats, when not nil,
	// receives the bytes and lines decompressed and the blocks skipped.
	// The streams must come in the same relative order in every call
	// (the querier sorts them by labels): a range aggregation may select
	// consecutive slices of its range, and breaks ties between streams'
	// equal timestamps by that order.
	Select(ctx context.Context, ms []*labels.Matcher, from, through int64, dir chunks.Direction, hints SelectHints, stats *chunks.Stats) ([]SourceStream, error)
}

// SourceStream is one stream's entries.
type SourceStream struct {
	Labels labels.Labels
	Iter   chunks.Iterator
}

// Params describe one query as the HTTP API received it.
type Params struct {
	Query string
	// Start and End bound a range query; an instant query has Start == End
	// and Instant set.
	Start, End time.Time
	Instant    bool
	// Step is the resolution of a metric range query.
	Step time.Duration
	// Interval, for log queries only, keeps at most one entry per interval.
	Interval  time.Duration
	Limit     int
	Direction chunks.Direction
	// CategorizeLabels (Loki's categorize-labels encoding flag, which
	// Grafana sends) groups a log query's entries by their stream labels
	// only: structured metadata and parsed labels stay on each entry
	// instead of splitting the result into one stream per label set.
	CategorizeLabels bool
}

// ValueType names a result's shape, with Loki's JSON spellings.
type ValueType string

const (
	ValueStreams ValueType = "streams"
	ValueMatrix  ValueType = "matrix"
	ValueVector  ValueType = "vector"
	ValueScalar  ValueType = "scalar"
)

// Result is a query's answer. Exactly one of Streams, Matrix, Vector or
// Scalar is meaningful, as Type says.
type Result struct {
	Type    ValueType
	Streams []Stream
	Matrix  []Series
	Vector  []Sample
	Scalar  Point
	Stats   Stats
}

// Stream is a log query's entries for one label set (stream labels plus
// any labels the pipeline extracted or changed), in the requested direction.
type Stream struct {
	Labels  labels.Labels
	Entries []Entry
}

// Entry is one result line.
type Entry struct {
	Timestamp int64 // Unix ns
	Line      string
	// StructuredMetadata and Parsed are returned as Loki's third value
	// element when present (categorized labels).
	StructuredMetadata labels.Labels
	Parsed             labels.Labels
}

// Series is one metric series of a range query, points ascending in time.
type Series struct {
	Metric labels.Labels
	Points []Point
}

// Sample is one series' value at the instant of an instant query.
type Sample struct {
	Metric labels.Labels
	Point  Point
}

// Point is a value at a time (Unix ms, as Prometheus).
type Point struct {
	T int64
	V float64
}

// Stats are filled from real counters while the query runs.
type Stats struct {
	chunks.Stats
	TotalLinesProcessed int64
	TotalBytesProcessed int64
	ExecTime            time.Duration
	// Streams is the number of streams the selectors picked.
	Streams int64
	// PostFilterLines counts the lines the pipelines kept (Loki's
	// totalPostFilterLines).
	PostFilterLines int64
	// EntriesReturned counts the result's entries: log lines, or samples
	// (points of a matrix) for metric queries (Loki's totalEntriesReturned).
	EntriesReturned int64
}

// add accumulates o into s (ExecTime excepted).
func (s *Stats) add(o Stats) {
	s.Stats.Add(o.Stats)
	s.TotalLinesProcessed += o.TotalLinesProcessed
	s.TotalBytesProcessed += o.TotalBytesProcessed
	s.Streams += o.Streams
	s.PostFilterLines += o.PostFilterLines
	s.EntriesReturned += o.EntriesReturned
}
