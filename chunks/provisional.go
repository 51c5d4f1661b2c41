package chunks

import "github.com/klauspost/compress/zstd"

// Provisional blocks.
//
// When the ingester's memory budget leaves each stream very little room
// (Options.ProvisionalSeals: under 30 KiB, from about 820 streams at the
// default budget), heads are sealed at a few KiB, and Encode merges most of their
// runs by compressing their lines again (runs of tiny blocks, see
// concatFrames). Compressing such a block at the chunk's level when it is
// sealed then only holds it in memory, at the price of compressing it
// twice at that level: with 1,000 streams zstd's "better" encoder took
// half of the ingester's CPU, mostly cache misses in its 4 MiB match
// table.
//
// So in that regime a block sealed before it reaches the block size is
// provisional: compressed at provisionalLevel, whose tables fit in the L2
// cache. On 4-64 KiB blocks of log text SpeedFastest costs a quarter to
// a third of the CPU of SpeedBetterCompression and holds 2.5% more bytes;
// s2 costs a third of that again but holds 60-77% more, which would fill
// the budget sooner and cut smaller chunks (FORMAT.md).
//
// Encode never stores a provisional frame: a run holding one is merged by
// compressing it again (concatFrames), and a provisional block in no run
// is sealed again on its own, so the stored chunk is byte for byte the
// one MergeRecompress makes of the same blocks sealed at the chunk's
// level. Runs that concat would have kept (small blocks averaging over a
// sixteenth of the block size) are thus compressed again too, which
// stores less and costs more: with more budget per stream most runs are
// such, and sealing provisionally cost 13-30% more CPU at 500 and 750
// streams, so the ingester asks for it only with less
// (docs/BENCHMARKS.md, "Provisional blocks"). Making only tiny heads
// provisional, and compressing their frames again one by one in runs
// concat keeps, stored what sealing at the level stores, but saved less
// at 1,000 streams and still cost more at 500.
//
// In memory, provisional blocks are ordinary zstd frames: iterators,
// filters and MemoryBytes read them like any other.

// provisionalLevel is the zstd level provisional blocks are sealed at.
const provisionalLevel = zstd.SpeedFastest

// sealsProvisionally reports whether the head h, about to be sealed, is
// sealed as a provisional block: while Options.ProvisionalSeals is set,
// for a head sealed before it reached the block size (SealHead or Close),
// in zstd chunks whose level is above provisionalLevel and whose small
// blocks Encode merges. Called with mu held.
func (c *MemChunk) sealsProvisionally(h *headBlock) bool {
	return c.enc == Zstd && c.merge != MergeOff && c.provSeals != nil && c.provSeals.Load() &&
		c.zstdLevel() > provisionalLevel && h.size() < c.blockSize
}

// zstdLevel is the level the chunk's zstd blocks are stored at.
func (c *MemChunk) zstdLevel() zstd.EncoderLevel {
	if c.level <= 0 || c.level > zstd.SpeedBestCompression {
		return DefaultZstdLevel
	}
	return c.level
}

// hasProvisional reports whether any of blocks is provisional.
func hasProvisional(blocks []block) bool {
	for i := range blocks {
		if blocks[i].provisional {
			return true
		}
	}
	return false
}
