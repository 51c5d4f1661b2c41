// Package logql evaluates LogQL queries the way Loki does, so that Grafana
// and logcli read the same numbers from plg as from Loki over the same data.
//
// It owns the evaluation: parsing the query text (through package syntax),
// turning the AST into log pipelines and sample extractors (pipeline.go, the
// one place that maps stages), merging streams for log queries with the
// limit, direction and interval rules of Loki, sliding range windows step by
// step for metric queries, vector aggregations, binary operations with
// Prometheus matching semantics, the series and entries limits, and the
// query statistics.
//
// Evaluation model. A log query merges the selected streams with a heap in
// the requested direction and stops reading once limit entries are taken.
// Streams are read lazily: one not holding a kept entry is keyed by the
// last timestamp it read (a bound on the rest) and read only while that
// bound comes first, so a stream a filter never matches is read back only
// to the oldest entry returned, not through the whole range.
// A metric query is a tree of step evaluators; a range aggregation reads
// its streams once, in time order, and keeps per output series only what
// lies inside the current window: the samples, or for mergeable
// aggregations (count, rate, bytes, sum, min, max, first, last) one partial
// aggregate per cell of the step grid. A `sum` over an additive range
// aggregation applies its grouping while extracting samples, as Loki does.
// Counts and byte counts (count_over_time, rate, bytes_over_time,
// bytes_rate) do not merge the streams in time order at all: the streams
// are read one after the other and their samples added up per series and
// cell, so a query holds one stream's decoded block, not one per stream;
// the sums are then served in cell order. Other range aggregations over
// more than EngineOptions.SampleStreamBatch streams read them a batch at a
// time too, each batch merged in time order into a run of spooled samples
// (timestamp, value, series), and merge the runs: the same samples in the
// same order as merging every stream at once, for a batch's open streams
// plus 20 bytes a sample, or for min, max and first one aggregate per
// series and cell (spool.go). Samples past EngineOptions.SampleSpoolBytes
// are read in slices of time, the streams selected again for each, so the
// spool's memory does not grow with the data. In an instant query, a sum of
// those, wherever it appears (under topk, in a binary operation), is split
// across parallel parts by stream, rates as counts divided once at the end;
// each part takes the next stream no part has started, so the parts finish
// together (split.go).
//
// Loki behaviours kept on purpose: windows are (t-range, t] and log ranges
// [start, end); rate_counter reproduces Loki's arithmetic exactly; lines
// without the unwrapped label are skipped, not errors; a sample carrying
// __error__ fails a metric query with Loki's message; instant log queries
// are rejected with Loki's message.
//
// Pushdown. Select receives SelectHints: the whole tokens every kept line
// must contain, from positive single-value line filters that see the stored
// line (hints.go), and the substrings it must contain, as groups of
// alternatives, from positive substring filters and the literals of
// regexp filters (substrings.go). A Source may use them to skip blocks
// whose token bloom or n-gram filters rule them out; the engine still
// applies every filter, so a Source that ignores them is correct too. For
// count_over_time, rate, bytes_over_time and bytes_rate without stages,
// inside a sum (with or without grouping labels), the hints also carry the
// step grid's cells (SelectHints.Cell): a Source may then answer a span of
// entries within one cell with a Summarizer summary (entries and line
// bytes, e.g. from a chunk's block index or entry columns), which the
// range evaluator adds to that cell's bucket at once. Under grouping
// labels, CellPlainOnly keeps entries with structured metadata out of
// summaries.
//
// It must not know where entries come from: storage, ingesters and tests
// plug in behind the Source interface. It must not render HTTP responses
// (the API layer serializes Result) and must not implement line-level
// semantics (filters, parsers, formatters live in package log). Errors the
// client caused satisfy errors.Is(err, ErrBadRequest).
package logql
