package chunks

import (
	"context"
	"math"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestZstdLevelChangesSizeNotContent(t *testing.T) {
	es, _ := benchEntries(1 << 20)
	size := map[zstd.EncoderLevel]int{}
	for _, level := range []zstd.EncoderLevel{0, zstd.SpeedFastest, zstd.SpeedBetterCompression} {
		c := NewMemChunkWithOptions(Options{Encoding: Zstd, TargetSize: math.MaxInt, ZstdLevel: level})
		for _, e := range es {
			if _, err := c.Append(e); err != nil {
				t.Fatal(err)
			}
		}
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
