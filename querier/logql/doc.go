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
// It must not know where entries come from: storage, ingesters and tests
// plug in behind the Source interface. It must not render HTTP responses
// (the API layer serializes Result) and must not implement line-level
// semantics (filters, parsers, formatters live in package log). Errors the
// client caused satisfy errors.Is(err, ErrBadRequest).
package logql
