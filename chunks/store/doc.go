// Package store owns the object storage layout of chunks and index
// segments: which key each object lives under, how buckets are configured
// (filesystem, S3 and Azure through thanos-io/objstore; GCS through an
// objstore.Bucket over Google's JSON API client, gcs.go), and how queriers
// find a tenant's index segments for a time range, with a bounded cache of
// downloaded segments and a short-lived cache of segment listings.
// Chunks of a filesystem bucket are read with positioned reads of their
// files ([Store.OpenChunk]), not through objstore, whose per-read
// overhead dominated queries that read a prefix of every chunk.
//
// Index segments are split by index period (default 24h, aligned to the Unix
// epoch): [Store.PutIndex] writes one immutable segment per period a flush
// touches, and [Store.Index] returns an [index.MultiReader] over every
// segment of the periods a query overlaps. A flush writes its chunks into
// pack objects ([Store.PutPack]), many chunks back to back, and the index
// says where each is; chunks written before packs are objects of their own
// at keys derived from their identity, still read. The key layout is
// specified in FORMAT.md beside this file. [Store.CompactIndex] merges a
// period's segments, [Store.CompactChunks] also merges each stream's small
// chunks (chunkcompact.go; the chunks themselves are rebuilt by a
// [ChunkMerger] the caller passes, package chunks' Compact), and
// [Store.CollectPacks] deletes the packs nothing references after a grace
// period (packgc.go); [Store.ApplyRetention] deletes a tenant's expired
// data (retention.go); with [Store.SetRetention], [Store.Index] also stops
// at each tenant's cutoff.
//
// The package must not know about LogQL or the contents of chunks: chunks
// are opaque bytes, and queries are label matchers answered by package
// chunks/index. Retrying failed writes is the caller's job; errors name the
// object key involved.
package store
