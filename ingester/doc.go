// Package ingester is plg's write path: it accepts pushes, validates them
// against per-tenant limits, makes them durable in a write-ahead log, keeps
// each stream's recent entries in in-memory chunks, and flushes closed chunks
// and their index entries to object storage.
//
// Data flow of a push:
//
//	(wait while chunk memory is over budget: backpressure.go) →
//	HTTP body → push.ReadHTTP → validate (labels, sizes, ages, rate) →
//	append to the stream's head chunk (under the stream lock) →
//	WAL record (group-committed fsync) → 204
//
// An entry is acknowledged only after its WAL record is durable. Entries are
// appended to memory before the WAL write, so a query may see an entry a
// moment before it is acknowledged; if the WAL write fails the client gets a
// 5xx, retries, and the retry is dropped as an exact duplicate.
//
// A background loop cuts chunks that reached their target size, maximum age
// or idle period, or, when unflushed chunk memory passes its budget, the
// largest open chunks (flush.go, cutForMemory); it uploads them with retries,
// writes one index segment per tenant per flush cycle, and then forgets
// chunks once they are visible in the store. Checkpoints of the in-memory state let old WAL segments be deleted.
//
// The ingester owns streams, limits and durability. It does not evaluate
// LogQL: queriers read its in-memory chunks through Select and the label
// methods, in-process or over the internal HTTP query API.
package ingester
