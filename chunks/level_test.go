package chunks

import (
	"bytes"
	"context"
	"math"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestZstdLevelChangesSizeNotContent(t *testing.T) {
	es, _ := benchEntries(1 << 20)
	size := map[zstd.EncoderLevel]int{}
	for _, level := range []zstd.EncoderLevel{0, zstd.SpeedFastest, zstd.SpeedBetterCompression} {
		c := NewMemChunkWithOptions(Options{Encoding: Zstd, TargetSize: math.MaxInt, ZstdLevel: level})
		appendAll(t, c, es)
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		size[level] = len(b)
		dec, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		got := drain(t, dec.Iterator(context.Background(), math.MinInt64, math.MaxInt64, Forward, nil))
		sameEntries(t, got, want(es, math.MinInt64, math.MaxInt64, Forward))
	}
	if size[0] != size[DefaultZstdLevel] {
		t.Errorf("unset level wrote %d bytes, DefaultZstdLevel %d", size[0], size[DefaultZstdLevel])
	}
	if size[zstd.SpeedBetterCompression] >= size[zstd.SpeedFastest] {
		t.Errorf("better wrote %d bytes, fastest %d: the level is not applied", size[zstd.SpeedBetterCompression], size[zstd.SpeedFastest])
	}
}

func TestParseZstdLevel(t *testing.T) {
	for s, want := range map[string]zstd.EncoderLevel{"fastest": zstd.SpeedFastest, "Default": zstd.SpeedDefault, "better": zstd.SpeedBetterCompression, "BEST": zstd.SpeedBestCompression} {
		if got, err := ParseZstdLevel(s); err != nil || got != want {
			t.Errorf("ParseZstdLevel(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "3", "fast", "invalid"} {
		if _, err := ParseZstdLevel(s); err == nil {
			t.Errorf("ParseZstdLevel(%q) accepted", s)
		}
	}
}

// The shared encoders live as long as the process, and an ingester's
// memory limit leaves room in proportion to them: a level's pool must
// stay within its per-encoder allowance (match tables plus a history of
// the window and one zstd block, block buffers) times its concurrency.
// With a 1 MiB window and the default history (twice the window) it was
// 6.5 MiB an encoder at better, 2.6 at fastest.
func TestZstdEncoderPoolMemoryIsBounded(t *testing.T) {
	src, _ := benchEntries(256 << 10)
	var text []byte
	for _, e := range src {
		text = append(text, e.Line...)
	}
	text = text[:256<<10]
	for _, tc := range []struct {
		level   zstd.EncoderLevel
		perEnc  uint64
		maxConc int
	}{
		{zstd.SpeedFastest, 1536 << 10, runtime.GOMAXPROCS(0)},
		{zstd.SpeedBetterCompression, 5632 << 10, runtime.GOMAXPROCS(0)},
	} {
		if got := zstdConcurrency(); got != tc.maxConc {
			t.Errorf("%v: concurrency %d, want %d", tc.level, got, tc.maxConc)
		}
		var before, after runtime.MemStats
		out := make([]byte, 0, len(text))
		runtime.ReadMemStats(&before)
		enc := newZstdEncoder(tc.level)
		// Calls take the pool's encoders in turn: each is built and has
		// compressed a full block.
		for range 2 * tc.maxConc {
			out = enc.EncodeAll(text, out[:0])
		}
		runtime.ReadMemStats(&after)
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(tc.maxConc)*tc.perEnc; got > limit {
			t.Errorf("%v: the encoder pool allocated %d KiB, want at most %d KiB (%d encoders)", tc.level, got>>10, limit>>10, tc.maxConc)
		}
		dec, err := Zstd.decompress(nil, out, len(text))
		if err != nil || !bytes.Equal(dec, text) {
			t.Fatalf("%v: round trip failed: %v", tc.level, err)
		}
	}
}

// A block larger than the encoders' window (possible with a configured
// block size over 512 KiB) is still one frame that decodes exactly.
func TestZstdBlockLargerThanWindowRoundTrips(t *testing.T) {
	es, _ := benchEntries(3 << 20)
	for _, level := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedBetterCompression} {
		c := NewMemChunkWithOptions(Options{Encoding: Zstd, BlockSize: 2 << 20, TargetSize: math.MaxInt, ZstdLevel: level})
		appendAll(t, c, es)
		dec := encodeDecode(t, c)
		if n := len(dec.Blocks()); n > 2 {
			t.Fatalf("%v: %d blocks, want blocks of 2 MiB", level, n)
		}
		got := drain(t, dec.Iterator(context.Background(), math.MinInt64, math.MaxInt64, Forward, nil))
		sameEntries(t, got, want(es, math.MinInt64, math.MaxInt64, Forward))
	}
}
