// Package index owns the immutable label index segment: the on-disk format
// that maps a tenant's streams (label sets) to the chunks holding their logs
// within one index period, and the queries a querier asks of it.
//
// A segment is built once with [Write] from a batch of [Series] (one ingester
// flush cycle), opened with [Open] (which verifies magic, version and a
// CRC32C per section and never panics on corrupt input) and queried through
// a [Reader]. Because many ingesters flush on their own schedules, a period
// holds many small segments; [MultiReader] answers queries over all of them,
// deduplicating identical chunk references, and [Merge] rewrites several
// segments into one for the compactor. The byte layout is specified in
// FORMAT.md beside this file.
//
// Queries take Prometheus label matchers (=, !=, =~, !~) and are answered
// from postings lists: sorted series IDs per label pair that are intersected
// and subtracted, so a selector never scans every series when a label value
// lookup can answer it. A matcher that matches the empty string also selects
// series lacking that label, as in Prometheus.
//
// The package must not know what a chunk contains: a [ChunkRef] is an opaque
// handle (fingerprint, time range, checksum, sizes). It must not know about
// object storage, tenants, index periods or LogQL beyond label matchers;
// those belong to the chunks/store and logql packages.
package index
