// Package syntax owns the LogQL language: it lexes and parses query text
// into a typed AST and prints that AST back as canonical LogQL, so that
// parse → String → parse yields an equal tree (format_query serves String).
//
// It covers stream selectors, line filters (including or-chains, pattern
// and ip filters), the json/logfmt/regexp/pattern/unpack parsers, label
// filters with Loki's and/or/","/juxtaposition grouping, line_format,
// label_format, drop, keep, decolorize, log ranges with offset and unwrap,
// range and vector aggregations, binary operators with vector matching,
// literals, vector() and label_replace(). Errors are *ParseError values
// whose text reads like Loki's ("parse error at line 1, col 14: syntax
// error: unexpected IDENTIFIER, expecting STRING"); semantic errors (bad
// regexps, unwrap misuse, selectors matching every stream) are reported at
// parse time with a position where one exists.
//
// It must not evaluate anything or touch storage: building pipelines from
// stages is the job of querier/logql/log, and evaluating expressions the
// engine's. In particular it does not fold constant expressions, and
// line_format/label_format templates are kept as text, unvalidated.
package syntax
