// Package wal is the ingester's write-ahead log: it frames, checksums,
// stores, fsyncs and replays opaque byte records, so that an acknowledged
// push survives a crash.
//
// It owns the on-disk layout of the WAL directory (numbered segment files
// and checkpoint files, see FORMAT.md), durability (fsync policy with group
// commit: concurrent Log calls share one fsync), crash repair (a torn tail
// of the newest segment is truncated; corruption anywhere else is reported
// with file and offset; ReplayWithOptions can skip it for an operator, at
// the cost of the data), atomic checkpoints, deletion of segments that a
// checkpoint or a flush to object storage superseded, optional per-record
// S2 compression, and the plg_wal_* metrics.
//
// It must not know about streams, tenants, labels or log entries: records
// are opaque bytes encoded and decoded by the ingester. It does not decide
// when to checkpoint or truncate, and it never drops or reorders an
// acknowledged record.
//
// Typical use by the ingester:
//
//	stats, err := wal.Replay(dir, applyRecord, logger) // before /ready
//	w, err := wal.Open(wal.Options{Dir: dir, Registerer: reg})
//	err = w.Log(rec1, rec2)                             // then acknowledge
//	upto, err := w.NextSegment()                        // periodically:
//	err = w.Checkpoint(upto, emitInMemoryState)         //   replaces segments <= upto
package wal
