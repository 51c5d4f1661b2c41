// Package log owns what happens to one log line inside a LogQL query: line
// filters (|=, !=, |~, !~, |>, !>, ip()), parsers (json, logfmt, regexp,
// pattern, unpack), label filters, line_format and label_format, drop/keep,
// decolorize, and extracting a sample value for metric queries.
//
// A Pipeline is a list of Stages. Each Stage sees one line at a time together
// with a LabelsBuilder holding the stream labels, the entry's structured
// metadata and the labels earlier stages added; it returns the (possibly
// rewritten) line and whether to keep it. Pipeline.ForStream caches the
// per-stream state (label builder, key-to-name caches, final label sets), so
// that filtering allocates nothing per line and parsing allocates only when a
// line produces a label set the stream has not produced before.
//
// Semantics follow Loki's pkg/logql/log: parsed labels colliding with stream
// labels get the "_extracted" suffix, the first occurrence of a duplicate key
// wins, failures set __error__ and __error_details__ and keep the line,
// numeric label filters let lines that already carry an error pass, and
// templates use Go text/template with Loki's function set.
//
// Lifetimes: parsed label values may point into the line being processed
// (the caller's buffer or a stage's output buffer), so they are valid only
// until the next line; the labels.Labels that Process returns are copies and
// stay valid. The caller must not modify a line while it is processed.
//
// Metric queries: a SampleExtractor grouping by a few labels tells the json
// and logfmt parsers in its pipeline which labels are read afterwards, and
// they skip the rest. An extractor therefore owns its Pipeline.
//
// This package must not parse LogQL text (the engine maps the AST onto the
// constructors here), must not know about chunks, storage or HTTP, and must
// not import querier/logql/syntax. Pipelines, StreamPipelines, extractors and
// Stages keep per-line scratch state and are not safe for concurrent use:
// build one per goroutine.
package log
