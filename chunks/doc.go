// Package chunks owns the chunk format: how the entries of one stream
// (one tenant and label set) over a time range become compressed bytes,
// and how they are read back.
//
// A chunk is a sequence of blocks. While it is being written it is a
// MemChunk: a head block of recent entries kept uncompressed (accepting
// out-of-order timestamps and dropping exact duplicates) plus sealed
// blocks, each compressed once the head reaches the block size. Encode
// produces the persisted form documented byte by byte in FORMAT.md: a
// fixed header and a block index at the front, so one ranged read returns
// everything needed to plan a scan, then the compressed blocks. Decode
// validates the header and index without decompressing anything; blocks
// are checked (CRC32C) and decompressed lazily as iterators reach them,
// and blocks outside a query's time range are never read.
//
// A version 2 block keeps its entries' timestamps, line lengths and
// metadata in an entry-columns frame apart from the lines, with its own
// checksum, so SummaryIterator can fold entries into per-cell counts and
// line bytes (for count_over_time and bytes_over_time) without reading or
// decompressing any line.
//
// Iterators yield entries in time order in either direction, merging
// blocks that overlap in time; NewMergeIterator merges many iterators
// (chunks of a stream, replicas, WAL overlap) and drops exact duplicates.
// Each sealed block may carry filters (Options): an n-gram filter of its
// lines' 4-byte substrings, which a querier consults through
// Chunk.BlockMayMatch to skip blocks in substring searches, and a token
// bloom filter (Chunk.BlockMayContain) for whole tokens. DecodePartial
// lets a reader fetch the header, index and filters first and then only
// the blocks they admit. IteratorMatching (of a Chunk or a MemChunk) skips
// the blocks the n-gram filters rule out and searches the lines of each
// block it reads whole, once, yielding little more than the entries whose
// lines hold the needles.
//
// Compact builds chunks again from several chunks of one stream (the
// compactor's merging of small chunks): their entries in time order, exact
// duplicates dropped, encoded with the ingester's Options, as a function
// of the entries alone so that concurrent or repeated compactions agree
// byte for byte. Extending a chunk with later ones keeps its full blocks
// when they are the ones a rebuild would seal, so the bytes are the same.
//
// This package must not do storage (no object store, files or caching of
// chunks), indexing across chunks or labels (see chunks/index), networking,
// or query evaluation beyond time-range selection: it turns entries into
// bytes and bytes into entries, fast and without trusting its input.
package chunks
