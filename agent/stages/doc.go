// Package stages implements Promtail's pipeline stages: parsing (cri,
// docker, json, logfmt, regex, replace, multiline), transforming (template,
// pack, decolorize), acting on the entry (timestamp, output, labels,
// static_labels, labeldrop, labelallow, structured_metadata, tenant) and
// filtering (match, drop, limit).
//
// It owns the pipeline_stages configuration (strict decoding: unknown fields
// are errors naming the stage and the field) and running entries through a
// pipeline. Stages share an entry's Extracted map. A stage turns one entry
// into at most one entry; stages that merge lines (cri partials, multiline)
// hold entries and release them later, merging their tickets so a merged
// line is acknowledged for all of its source lines.
//
// It must not read files, send entries, or keep state across files: each
// tailed file gets its own Pipeline from a compiled Template.
package stages
