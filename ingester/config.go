package ingester

import (
	"flag"
	"fmt"
	"time"

	"github.com/plgstack/plg/chunks"
)

// Config holds the ingester's settings. Zero values are replaced by defaults
// in Validate, so a Config decoded from a sparse YAML file is usable.
type Config struct {
	// Name identifies this ingester in index segment names; in Kubernetes it
	// is the pod name (${POD_NAME} in the config file).
	Name string `yaml:"name"`

	ChunkEncoding string `yaml:"chunk_encoding"`
	// ChunkCompressionLevel is the zstd level blocks are sealed at:
	// fastest, default, better (the default) or best. On the plgbench
	// corpus (chunks/FORMAT.md) better stores about 1.3% of the raw text
	// less than fastest for about 1 more CPU-s per 1M lines ingested, and
	// its blocks are searched faster; default is no smaller than fastest.
	ChunkCompressionLevel string `yaml:"chunk_compression_level"`
	// ChunkBlockMerge says how a flushed chunk's runs of small blocks,
	// which the memory budget sealed early, are merged into blocks of
	// about ChunkBlockSize: recompress (decompress and compress them again
	// in the flush goroutine), concat (keep their compressed lines, build
	// new columns and n-gram filters: zstd only, else recompress) or off.
	// plgbench at 200 MB, where most blocks were sealed early: off stores
	// 24.9% of the raw text at 2.4 server CPU-s per 1M lines ingested,
	// concat (the default) 24.4% at 3.0, recompress 24.2% at 3.7
	// (chunks/FORMAT.md).
	ChunkBlockMerge string        `yaml:"chunk_block_merge"`
	ChunkBlockSize  int           `yaml:"chunk_block_size"`
	ChunkTargetSize int           `yaml:"chunk_target_size"`
	MaxChunkAge     time.Duration `yaml:"max_chunk_age"`
	ChunkIdlePeriod time.Duration `yaml:"chunk_idle_period"`
	// ChunkBloomBitsPerToken, when > 0, gives every sealed block a token
	// bloom filter of about this many bits per distinct token (10: about 1%
	// false positives), so a query whose line filter names a whole token
	// (`|= "trace_id=4bf92f35 "`) skips blocks without it. 0 disables it,
	// the default: on realistic logs a filter costs about 6% of the chunk
	// size and roughly doubles the CPU of building a zstd chunk, while a
	// bare needle (`|= "4bf92f35"`) can never use it, as it may match
	// inside a longer token.
	ChunkBloomBitsPerToken int `yaml:"chunk_bloom_bits_per_token"`
	// ChunkNgramBitsPerGram sizes the per-block n-gram filters: about this
	// many bits per distinct 4-byte substring of the block's lines. They
	// let any `|= "needle"` of 4 bytes or more (and regexps with literal
	// parts) skip blocks that cannot hold it, trace IDs inside longer
	// tokens included. 0.8, the default, costs about 1.6% of the raw
	// text on the plgbench corpus (2.0% at 1; a 256 KiB block of lines
	// with a random trace ID each holds some 40,000 distinct grams) and
	// 0.3 CPU-s per 1M lines at ingest. Its bits are 71% set (63% at 1),
	// so a random absent 32-hex needle passes about 0.5% of blocks
	// (0.1–0.3% at 1): plgbench's rare-token search read 4 more blocks
	// of 875; at 0.6 it read 49 more, for 0.4 points of store. 2 halves
	// the rates of 1 for twice the bytes. 0 writes none.
	ChunkNgramBitsPerGram float64 `yaml:"chunk_ngram_bits_per_gram"`
	// ChunkRetainPeriod keeps flushed chunks queryable from memory after their
	// index segment was written, so queriers that list the store only every
	// few seconds never miss them.
	ChunkRetainPeriod time.Duration `yaml:"chunk_retain_period"`

	// MaxChunkMemoryMB bounds the unflushed chunk data held in memory, in
	// MiB: sealed compressed blocks, uncompressed head blocks and encoded
	// chunks awaiting upload. Past it, head blocks of a quarter block or
	// more are compressed early and then the largest open chunks are cut
	// and flushed (reason "memory") until the open chunks fit in three
	// quarters of it. Negative disables it. See cutForMemory for the
	// policy. The default, 24 MiB, holds chunks of up to about 2 x budget
	// / streams (240 KiB for 200 busy streams), and with the soft memory
	// limit derived from it (2 x budget + 64 MiB) keeps an all-in-one plg
	// under 150 MiB RSS while ingesting. 32 MiB made chunks a third larger
	// (fewer store objects; the same store size within 0.1 point of the
	// raw text) and cost about 25 MiB more RSS.
	MaxChunkMemoryMB int `yaml:"max_chunk_memory_mb"`

	FlushCheckPeriod  time.Duration `yaml:"flush_check_period"`
	ConcurrentFlushes int           `yaml:"concurrent_flushes"`
	FlushMinBackoff   time.Duration `yaml:"flush_min_backoff"`
	FlushMaxBackoff   time.Duration `yaml:"flush_max_backoff"`
	FlushMaxRetries   int           `yaml:"flush_max_retries"`
	FlushOnShutdown   bool          `yaml:"flush_on_shutdown"`

	WAL WALConfig `yaml:"wal"`

	// OutOfOrderWindow is how far behind the newest entry of a stream an
	// entry may be and still be accepted.
	OutOfOrderWindow time.Duration `yaml:"out_of_order_window"`
}

// WALConfig configures the write-ahead log.
type WALConfig struct {
	Enabled            bool          `yaml:"enabled"`
	Dir                string        `yaml:"dir"`
	Sync               string        `yaml:"sync"` // always | interval | never
	SyncInterval       time.Duration `yaml:"sync_interval"`
	SegmentSize        int64         `yaml:"segment_size"`
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// ReplaySkipCorrupt lets a start continue past corruption in an older
	// WAL segment or checkpoint, dropping the rest of that file. It loses
	// data; it exists for an operator who has read the error.
	ReplaySkipCorrupt bool `yaml:"replay_skip_corrupt"`
}

// DefaultConfig returns the settings plg runs with when nothing is set.
func DefaultConfig() Config {
	return Config{
		Name:                  "ingester",
		ChunkEncoding:         "zstd",
		ChunkCompressionLevel: "better",
		ChunkBlockMerge:       chunks.DefaultBlockMerge.String(),
		ChunkBlockSize:        256 << 10,
		ChunkTargetSize:       1536 << 10,
		MaxChunkAge:           2 * time.Hour,
		ChunkIdlePeriod:       30 * time.Minute,
		ChunkRetainPeriod:     30 * time.Second,
		MaxChunkMemoryMB:      24,
		FlushCheckPeriod:      30 * time.Second,
		ConcurrentFlushes:     8,
		FlushMinBackoff:       time.Second,
		FlushMaxBackoff:       time.Minute,
		FlushMaxRetries:       10,
		FlushOnShutdown:       true,
		WAL: WALConfig{
			Enabled:            true,
			Dir:                "wal",
			Sync:               "always",
			SyncInterval:       100 * time.Millisecond,
			SegmentSize:        128 << 20,
			CheckpointInterval: 5 * time.Minute,
		},
		OutOfOrderWindow: time.Hour,

		// See ChunkNgramBitsPerGram for the figures behind 0.8.
		ChunkNgramBitsPerGram: 0.8,
	}
}

// RegisterFlags adds the commonly changed settings to fs, defaulting to the
// values already in c.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Name, "ingester.name", c.Name, "Name of this ingester; index segments it writes carry it.")
	fs.StringVar(&c.ChunkEncoding, "ingester.chunk-encoding", c.ChunkEncoding, "Chunk codec: none, snappy, s2, zstd or gzip.")
	fs.StringVar(&c.ChunkCompressionLevel, "ingester.chunk-compression-level", c.ChunkCompressionLevel, "zstd level chunk blocks are compressed at: fastest, default, better or best. better (the default) stores about 6% less than fastest and is searched faster, for about a third more ingest CPU.")
	fs.StringVar(&c.ChunkBlockMerge, "ingester.chunk-block-merge", c.ChunkBlockMerge, "How a flushed chunk's small blocks (sealed early under the memory budget) are merged: concat (new filters and columns, lines kept compressed; zstd), recompress (smallest store, compresses them twice) or off.")
	fs.IntVar(&c.ChunkBloomBitsPerToken, "ingester.chunk-bloom-bits-per-token", c.ChunkBloomBitsPerToken, "Bits per distinct token of the per-block token bloom filters (10 gives about 1% false positives); 0 writes none. They let searches for delimited tokens skip blocks, at about 6% chunk size and more ingest CPU.")
	fs.Float64Var(&c.ChunkNgramBitsPerGram, "ingester.chunk-ngram-bits-per-gram", c.ChunkNgramBitsPerGram, "Bits per distinct 4-byte substring of the per-block n-gram filters, which let substring searches (|= \"needle\") skip blocks; 0 writes none. 0.8 costs about 1.6% of the raw text.")
	fs.DurationVar(&c.MaxChunkAge, "ingester.max-chunk-age", c.MaxChunkAge, "Cut a chunk once it spans this much time.")
	fs.DurationVar(&c.ChunkIdlePeriod, "ingester.chunk-idle-period", c.ChunkIdlePeriod, "Cut a chunk whose stream received nothing for this long.")
	fs.IntVar(&c.MaxChunkMemoryMB, "ingester.max-chunk-memory-mb", c.MaxChunkMemoryMB, "Memory budget in MiB for unflushed chunk data; past it head blocks are compressed early, then the largest open chunks are flushed early. Negative disables it.")
	fs.DurationVar(&c.FlushCheckPeriod, "ingester.flush-check-period", c.FlushCheckPeriod, "How often to look for chunks to cut and flush.")
	fs.BoolVar(&c.FlushOnShutdown, "ingester.flush-on-shutdown", c.FlushOnShutdown, "Flush every in-memory chunk on graceful shutdown; turn off for rolling restarts that rely on the WAL.")
	fs.StringVar(&c.WAL.Sync, "ingester.wal-sync", c.WAL.Sync, "WAL fsync policy: always (fsync before acknowledging, group commit), interval, or never.")
	fs.BoolVar(&c.WAL.Enabled, "ingester.wal-enabled", c.WAL.Enabled, "Write every accepted entry to the write-ahead log before acknowledging it.")
	fs.BoolVar(&c.WAL.ReplaySkipCorrupt, "ingester.wal-replay-skip-corrupt", c.WAL.ReplaySkipCorrupt, "Start even if an older WAL segment or checkpoint is corrupt, dropping the rest of that file. LOSES DATA: use only after reading the replay error.")
}

// Validate fills defaults for unset fields and rejects impossible settings.
func (c *Config) Validate() error {
	d := DefaultConfig()
	if c.Name == "" {
		c.Name = d.Name
	}
	if c.ChunkEncoding == "" {
		c.ChunkEncoding = d.ChunkEncoding
	}
	if _, err := chunks.ParseEncoding(c.ChunkEncoding); err != nil {
		return fmt.Errorf("ingester.chunk_encoding: %w", err)
	}
	if c.ChunkCompressionLevel == "" {
		c.ChunkCompressionLevel = d.ChunkCompressionLevel
	}
	if _, err := chunks.ParseZstdLevel(c.ChunkCompressionLevel); err != nil {
		return fmt.Errorf("ingester.chunk_compression_level: %w", err)
	}
	if c.ChunkBlockMerge == "" {
		c.ChunkBlockMerge = d.ChunkBlockMerge
	}
	if _, err := chunks.ParseBlockMerge(c.ChunkBlockMerge); err != nil {
		return fmt.Errorf("ingester.chunk_block_merge: %w", err)
	}
	setDefault(&c.ChunkBlockSize, d.ChunkBlockSize)
	setDefault(&c.ChunkTargetSize, d.ChunkTargetSize)
	setDefault(&c.MaxChunkAge, d.MaxChunkAge)
	setDefault(&c.ChunkIdlePeriod, d.ChunkIdlePeriod)
	setDefault(&c.MaxChunkMemoryMB, d.MaxChunkMemoryMB)
	setDefault(&c.FlushCheckPeriod, d.FlushCheckPeriod)
	setDefault(&c.ConcurrentFlushes, d.ConcurrentFlushes)
	setDefault(&c.FlushMinBackoff, d.FlushMinBackoff)
	setDefault(&c.FlushMaxBackoff, d.FlushMaxBackoff)
	setDefault(&c.FlushMaxRetries, d.FlushMaxRetries)
	setDefault(&c.OutOfOrderWindow, d.OutOfOrderWindow)
	if c.WAL.Dir == "" {
		c.WAL.Dir = d.WAL.Dir
	}
	if c.WAL.Sync == "" {
		c.WAL.Sync = d.WAL.Sync
	}
	setDefault(&c.WAL.SyncInterval, d.WAL.SyncInterval)
	setDefault(&c.WAL.SegmentSize, d.WAL.SegmentSize)
	setDefault(&c.WAL.CheckpointInterval, d.WAL.CheckpointInterval)
	if c.ChunkBloomBitsPerToken < 0 || c.ChunkBloomBitsPerToken > maxBloomBitsPerToken {
		return fmt.Errorf("ingester.chunk_bloom_bits_per_token %d: want 0 (off) to %d", c.ChunkBloomBitsPerToken, maxBloomBitsPerToken)
	}
	if !(c.ChunkNgramBitsPerGram >= 0 && c.ChunkNgramBitsPerGram <= maxNgramBitsPerGram) {
		return fmt.Errorf("ingester.chunk_ngram_bits_per_gram %g: want 0 (off) to %d", c.ChunkNgramBitsPerGram, maxNgramBitsPerGram)
	}
	if c.ChunkBlockSize > c.ChunkTargetSize*8 {
		return fmt.Errorf("ingester.chunk_block_size %d is larger than the compressed target size allows", c.ChunkBlockSize)
	}
	return nil
}

// ChunkMemoryBudget returns the chunk memory budget in bytes, 0 when
// disabled.
func (c *Config) ChunkMemoryBudget() int64 {
	if c.MaxChunkMemoryMB <= 0 {
		return 0
	}
	return int64(c.MaxChunkMemoryMB) << 20
}

// maxBloomBitsPerToken bounds the bloom filter setting: past about 24 bits
// a token the false-positive rate is already below 0.01%.
const maxBloomBitsPerToken = 32

// maxNgramBitsPerGram bounds the n-gram filter setting: at 8 bits a gram
// the filter is about a tenth of the raw text and rules out 8-byte needles
// in almost every block already.
const maxNgramBitsPerGram = 8

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
