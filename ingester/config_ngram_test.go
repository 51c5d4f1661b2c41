package ingester

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/plgstack/plg/chunks"
)

func TestNgramFiltersAreOnByDefaultAndBounded(t *testing.T) {
	if got := DefaultConfig().ChunkNgramBitsPerGram; got != 0.8 {
		t.Fatalf("default chunk_ngram_bits_per_gram = %g, want 0.8", got)
	}
	for _, tc := range []struct {
		bits float64
		ok   bool
	}{{0, true}, {0.5, true}, {1, true}, {8, true}, {-1, false}, {8.5, false}, {math.NaN(), false}, {math.Inf(1), false}} {
		cfg := DefaultConfig()
		cfg.ChunkNgramBitsPerGram = tc.bits
		err := cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("chunk_ngram_bits_per_gram %g: Validate = %v, want ok %v", tc.bits, err, tc.ok)
		}
		if tc.ok && cfg.ChunkNgramBitsPerGram != tc.bits {
			t.Errorf("Validate changed chunk_ngram_bits_per_gram %g to %g (0 must stay off)", tc.bits, cfg.ChunkNgramBitsPerGram)
		}
	}
	for _, bits := range []float64{0, 1} {
		cfg := DefaultConfig()
		cfg.ChunkNgramBitsPerGram = bits
		c := newMemChunk(&cfg, nil)
		for i := range 3000 {
			if _, err := c.Append(chunks.Entry{Timestamp: int64(i), Line: []byte("level=info trace_id=4bf92f3577b34da6a3ce929d0e0e4736 msg=ok")}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		// A needle absent from every line skips the block only if it has
		// an n-gram filter (its filter section also holds a histogram).
		var st chunks.Stats
		it := c.IteratorMatching(context.Background(), 0, 3000, chunks.Forward, &st, chunks.NewNeedles([][]string{{"no-such-needle"}}))
		for it.Next() {
		}
		_ = it.Close()
		if hasFilter := st.BlocksSkipped > 0; hasFilter != (bits > 0) {
			t.Errorf("bits %g: block filter written %v", bits, hasFilter)
		}
	}
}

func TestChunkCompressionLevelIsValidatedAndApplied(t *testing.T) {
	for _, tc := range []struct {
		level, after string
		ok           bool
	}{{"", "better", true}, {"fastest", "fastest", true}, {"better", "better", true}, {"Best", "Best", true}, {"9", "", false}, {"fast", "", false}} {
		cfg := DefaultConfig()
		cfg.ChunkCompressionLevel = tc.level
		err := cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("chunk_compression_level %q: Validate = %v, want ok %v", tc.level, err, tc.ok)
		}
		if tc.ok && cfg.ChunkCompressionLevel != tc.after {
			t.Errorf("chunk_compression_level %q became %q, want %q", tc.level, cfg.ChunkCompressionLevel, tc.after)
		}
	}
	size := map[string]int{}
	for _, level := range []string{"fastest", "better"} {
		cfg := DefaultConfig()
		cfg.ChunkCompressionLevel = level
		c := newMemChunk(&cfg, nil)
		for i := range 3000 {
			line := fmt.Sprintf("level=info trace_id=%032x msg=%q n=%d", uint64(i)*0x9E3779B97F4A7C15, "request served", i%97)
			if _, err := c.Append(chunks.Entry{Timestamp: int64(i), Line: []byte(line)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		size[level] = c.CompressedSize()
	}
	// Whether better is smaller depends on the text (chunks tests that on
	// realistic logs); here it only has to differ to show the setting
	// reaches the chunk.
	if size["better"] == size["fastest"] {
		t.Errorf("compressed bytes: better %d, fastest %d; the level is not passed to the chunk", size["better"], size["fastest"])
	}
}

func TestFlushedChunksMergeSmallBlocksAsConfigured(t *testing.T) {
	for _, tc := range []struct {
		mode string
		ok   bool
	}{{"nonsense", false}, {"recompress", true}, {"concat", true}, {"off", true}} {
		cfg := DefaultConfig()
		cfg.ChunkBlockMerge = tc.mode
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("chunk_block_merge %q: Validate = %v, want ok %v", tc.mode, err, tc.ok)
		}
	}
	if cfg := (Config{}); cfg.Validate() != nil || cfg.ChunkBlockMerge != chunks.DefaultBlockMerge.String() {
		t.Errorf("unset chunk_block_merge became %q, want %q", cfg.ChunkBlockMerge, chunks.DefaultBlockMerge)
	}
	for _, mode := range []string{"recompress", "concat", "off"} {
		keep := mode == "off"
		cfg := DefaultConfig()
		cfg.ChunkBlockMerge = mode
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		c := newMemChunk(&cfg, nil)
		sealed := 1 // the head Close seals
		for i := range 8000 {
			line := fmt.Sprintf("level=info trace_id=%032x msg=%q n=%d", uint64(i)*0x9E3779B97F4A7C15, "request served", i%97)
			if _, err := c.Append(chunks.Entry{Timestamp: int64(i), Line: []byte(line)}); err != nil {
				t.Fatal(err)
			}
			if c.HeadBytes() >= cfg.ChunkBlockSize/4 { // as sealAt does over the memory budget
				if err := c.SealHead(); err != nil {
					t.Fatal(err)
				}
				sealed++
			}
		}
		// Concat merges as blocks are sealed, so the count is taken at the
		// seals, not from the closed chunk.
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		d, err := chunks.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if merged := len(d.Blocks()) < sealed; merged == keep {
			t.Errorf("chunk_block_merge %s: %d blocks sealed, %d flushed", mode, sealed, len(d.Blocks()))
		}
	}
}
