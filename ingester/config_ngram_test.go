package ingester

import (
	"math"
	"testing"

	"github.com/plgstack/plg/chunks"
)

func TestNgramFiltersAreOnByDefaultAndBounded(t *testing.T) {
	if got := DefaultConfig().ChunkNgramBitsPerGram; got != 1 {
		t.Fatalf("default chunk_ngram_bits_per_gram = %g, want 1", got)
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
		c := newMemChunk(&cfg)
		for i := range 3000 {
			if _, err := c.Append(chunks.Entry{Timestamp: int64(i), Line: []byte("level=info trace_id=4bf92f3577b34da6a3ce929d0e0e4736 msg=ok")}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		hasFilter := c.Blocks()[0].FilterLen > 0
		if hasFilter != (bits > 0) {
			t.Errorf("bits %g: block filter written %v", bits, hasFilter)
		}
	}
}
