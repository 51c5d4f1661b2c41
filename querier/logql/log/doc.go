// Package log owns what happens to one log line inside a LogQL query: line
// filters (|=, !=, |~, !~, |>, !>, ip()), parsers (json, logfmt, regexp,
// pattern, unpack), label filters, line_format and label_format, drop/keep,
// decolorize, and extracting a sample value for metric queries.
//
// A Pipeline is a list of Stages. Each Stage sees one line at a time together
// with a LabelsBuilder holding the stream labels, the entry's structured
// metadata and the labels earlier stages added; it returns the (possibly
// rewritten) line and whether to keep it. Pipeline.ForStream caches the
// per-stream state (label builder, derived names, final label sets), so that
// filtering allocates nothing per line and parsing allocates only when a new
// label set is seen.
//
// Semantics follow Loki's pkg/logql/log: parsed labels colliding with stream
// labels get the "_extracted" suffix, failures set __error__ and
// __error_details__ and keep the line, and numeric label filters skip lines
// that already carry an error.
//
// This package must not parse LogQL text (the engine maps the AST onto the
// constructors here), must not know about chunks, storage or HTTP, and must
// not import querier/logql/syntax. Pipelines, StreamPipelines and Stages keep
// per-line scratch state and are not safe for concurrent use: build one
// Pipeline per goroutine.
package log
