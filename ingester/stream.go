package ingester

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/index"
	"github.com/plgstack/plg/push"
)

// stream is one tenant's label set and its in-memory chunks.
type stream struct {
	labels       labels.Labels
	labelsString string // canonical form, as written to the WAL
	fp           uint64
	aliases      []string // raw label strings cached in tenant.byRaw; guarded by tenant.mu

	mu sync.Mutex
	// head receives appends; nil until the first entry after a cut.
	head        *chunks.MemChunk
	headCreated time.Time
	lastAppend  time.Time
	// closed chunks wait here for upload, then for their index segment, then
	// for the retain period.
	closed []*chunkDesc
	// newest is the latest timestamp accepted, for the out-of-order window.
	newest int64
	// memUnflushed and memRetained are this stream's share of the
	// ingester's memAccount, as accountLocked last added it.
	memUnflushed, memRetained int64
	// removed is set when the tenant forgets the stream; appends are then
	// refused with errStreamRemoved, since nothing would read or flush them.
	removed bool
}

// errStreamRemoved is append's error for a stream its tenant has
// forgotten; the caller looks the label set up again.
var errStreamRemoved = errors.New("stream was removed")

// chunkDesc tracks a closed chunk through flushing.
type chunkDesc struct {
	chunk    *chunks.MemChunk
	data     []byte // encoded form, kept between upload retries
	ref      index.ChunkRef
	uploaded bool
	// uploadedAt is when its pack landed: a chunk whose index segment
	// still fails packReuploadAge later is uploaded again (flush.go).
	uploadedAt time.Time
	indexedAt  time.Time // zero until the index segment naming it was written
	reason     string    // why it was cut: a flushReason* constant
}

// Why a chunk was cut; the reason label of plg_ingester_chunks_flushed_total.
const (
	flushReasonFull   = "full"   // reached the target size
	flushReasonIdle   = "idle"   // no append for chunk_idle_period
	flushReasonAge    = "age"    // open for max_chunk_age
	flushReasonMemory = "memory" // cut early to keep within max_chunk_memory_mb
	flushReasonForced = "forced" // POST /flush or shutdown
)

// append adds entries that passed validation. It enforces the out-of-order
// window unless replaying, and returns how many entries were appended and how
// many were exact duplicates. The rejected callback hears of refused entries.
//
// acct is the ingester's chunk memory, which append keeps current. If
// sealAt > 0 (memory is over its budget) and the head block holds at least
// sealAt bytes afterwards, append compresses it early (see cutForMemory):
// done here, the pushers share that work and memory stops growing at once,
// instead of waiting for the flush loop.
func (s *stream) append(cfg *Config, entries []push.Entry, replay bool, now time.Time, acct *memAccount, sealAt int,
	rejected func(e *push.Entry, msg string)) (accepted []push.Entry, dups int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return nil, 0, errStreamRemoved
	}
	defer s.accountLocked(acct)
	accepted = entries[:0]
	for i := range entries {
		e := entries[i]
		if !replay && s.newest != 0 && e.Timestamp < s.newest-cfg.OutOfOrderWindow.Nanoseconds() {
			// &entries[i], not &e: taking e's address would move every
			// entry's copy to the heap (4.8M allocations per GB ingested).
			// entries[i] is intact here: accepted has only written below i.
			rejected(&entries[i], "entry too far behind: timestamp "+formatTS(e.Timestamp)+" is older than "+
				formatTS(s.newest-cfg.OutOfOrderWindow.Nanoseconds())+" (the stream's newest entry minus the "+
				cfg.OutOfOrderWindow.String()+" out-of-order window)")
			continue
		}
		ce := chunks.Entry{Timestamp: e.Timestamp, Line: e.Line, Metadata: e.Metadata}
		if s.head != nil && !s.head.SpaceFor(ce) {
			s.cutLocked(flushReasonFull)
		}
		if s.head == nil {
			s.head = newMemChunk(cfg, acct)
			s.headCreated = now
		}
		dup, aerr := s.head.Append(ce)
		if aerr != nil {
			return accepted, dups, aerr
		}
		if dup {
			dups++
			continue
		}
		if e.Timestamp > s.newest {
			s.newest = e.Timestamp
		}
		accepted = append(accepted, e)
	}
	if len(accepted) > 0 {
		s.lastAppend = now
	}
	if sealAt > 0 && s.head != nil && s.head.HeadBytes() >= sealAt {
		if err := s.head.SealHead(); err != nil {
			return accepted, dups, err
		}
		acct.sealed.Add(1)
	}
	return accepted, dups, nil
}

// newMemChunk returns a chunk as cfg configures, following acct's flags
// (acct may be nil).
func newMemChunk(cfg *Config, acct *memAccount) *chunks.MemChunk {
	o := cfg.ChunkOptions()
	if acct != nil {
		o.RunGramsOff, o.ProvisionalSeals = &acct.mergeAtEncode, &acct.provisionalSeals
	}
	return chunks.NewMemChunkWithOptions(o)
}

// ChunkOptions returns the options chunks are built with, for the
// compactor to build its merged chunks as the ingester would.
func (c *Config) ChunkOptions() chunks.Options {
	enc, _ := chunks.ParseEncoding(c.ChunkEncoding) // validated in Config.Validate
	level, _ := chunks.ParseZstdLevel(c.ChunkCompressionLevel)
	merge, _ := chunks.ParseBlockMerge(c.ChunkBlockMerge) // "" (unvalidated): the default
	return chunks.Options{
		Encoding:          enc,
		BlockSize:         c.ChunkBlockSize,
		TargetSize:        c.ChunkTargetSize,
		BloomBitsPerToken: c.ChunkBloomBitsPerToken,
		NgramBitsPerGram:  c.ChunkNgramBitsPerGram,
		ZstdLevel:         level,
		BlockMerge:        merge,
	}
}

// cutLocked closes the head chunk and queues it for flushing. The caller
// must call accountLocked afterwards: sealing changes the chunk's memory.
func (s *stream) cutLocked(reason string) {
	if s.head == nil {
		return
	}
	if s.head.Entries() > 0 {
		_ = s.head.Close()
		s.closed = append(s.closed, &chunkDesc{chunk: s.head, reason: reason})
	}
	s.head = nil
}

// accountLocked measures the memory of the stream's chunks and adds the
// change since the last call to acct. Called with s.mu held after every
// change to the chunks (append, cut, encode, index, forget), so acct stays
// the sum over streams without a walk over all of them.
func (s *stream) accountLocked(acct *memAccount) {
	var unflushed, retained int64
	if s.head != nil {
		unflushed += int64(s.head.MemoryBytes())
	}
	for _, cd := range s.closed {
		if cd.indexedAt.IsZero() {
			unflushed += int64(cd.chunk.MemoryBytes())
		} else {
			retained += int64(cd.chunk.MemoryBytes())
		}
	}
	if d := unflushed - s.memUnflushed; d != 0 {
		s.memUnflushed = unflushed
		acct.unflushed.Add(d)
	}
	if d := retained - s.memRetained; d != 0 {
		s.memRetained = retained
		acct.retained.Add(d)
	}
}

// minBudgetPerStream is the chunk memory budget per stream under which new
// chunks merge their runs of small blocks at Encode rather than as they
// complete: a run merged as it completes holds a 16 KiB bitmap of grams,
// counted in the budget, and with less than this per stream those bitmaps
// made the ingester cut chunks two to three times as often (plgbench 100
// MB over 300 and 500 streams at the default 24 MiB: 0.1 point more of
// the raw text stored, and 5 MiB more RSS at 500). At 200 streams (120
// KiB each) merging as runs complete saved 8-13% of the ingest CPU with
// the same store and RSS. Under it, heads sealed early are also
// compressed fast until Encode compresses them again (provisional blocks,
// chunks/provisional.go), since their runs are compressed again anyway.
const minBudgetPerStream = 96 << 10

// minSealBudgetPerStream is the chunk memory budget per stream under which
// new chunks seal their small blocks provisionally: compressed fast, and
// at the configured level only when Encode merges them
// (chunks.Options.ProvisionalSeals). Under it most runs of small blocks
// are tiny ones that Encode compresses again anyway: at the default 24
// MiB, sealing provisionally cut the ingest CPU by 21% at 875 streams (28
// KiB each), 17% at 1,000 and 24% at 5,000. With more room per stream
// most runs are kept as they are sealed, and it cost 30% more at 750
// streams (33 KiB) and 13% more at 500 (plgbench 300 MB;
// docs/BENCHMARKS.md, "Provisional blocks").
const minSealBudgetPerStream = 30 << 10

// memAccount is the ingester's chunk memory, in bytes, split by whether a
// flush can still free it.
type memAccount struct {
	// unflushed: open chunks and closed ones not yet named by an index
	// segment. The memory budget applies to it.
	unflushed atomic.Int64
	// retained: flushed chunks kept for chunk_retain_period. More flushing
	// cannot free them, so the budget leaves them out.
	retained atomic.Int64
	// sealed counts head blocks append sealed early.
	sealed atomic.Int64
	// mergeAtEncode: runs of small blocks that start while it is set are
	// merged at Encode, and blocks sealed early are provisional
	// (chunks.Options.RunGramsOff); set while the budget leaves each
	// stream under minBudgetPerStream.
	mergeAtEncode atomic.Bool
	// provisionalSeals: new chunks seal small blocks provisionally
	// (chunks.Options.ProvisionalSeals); set while the budget leaves each
	// stream under minSealBudgetPerStream.
	provisionalSeals atomic.Bool
}

// unindexedChunks returns the stream's chunks that are not yet safe in the
// store: what a checkpoint must hold.
func (s *stream) unindexedChunks() []*chunks.MemChunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*chunks.MemChunk
	for _, cd := range s.closed {
		if cd.indexedAt.IsZero() {
			out = append(out, cd.chunk)
		}
	}
	if s.head != nil && s.head.Entries() > 0 {
		out = append(out, s.head)
	}
	return out
}
