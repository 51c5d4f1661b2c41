package tail

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plgstack/plg/agent/entry"
)

type countHandler struct {
	n, want int
	cancel  context.CancelFunc
}

func (h *countHandler) Line(_ []byte, t entry.Ticket) {
	t.Done()
	h.n++
	if h.n == h.want {
		h.cancel()
	}
}

func (h *countHandler) Idle(time.Time) {}

// BenchmarkTailerRead measures reading, splitting and tracking lines of a
// 100k-line file (no parsing).
func BenchmarkTailerRead(b *testing.B) {
	const lines = 100_000
	var sb strings.Builder
	for i := 0; i < lines; i++ {
		fmt.Fprintf(&sb, "level=info msg=\"request served\" path=/api/v1/items/%d status=200 duration=1.2ms\n", i)
	}
	path := filepath.Join(b.TempDir(), "bench.log")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		h := &countHandler{want: lines, cancel: cancel}
		if err := New(Config{Path: path, MinPoll: time.Millisecond, MaxPoll: time.Millisecond}).Run(ctx, h); err != nil {
			b.Fatal(err)
		}
		if h.n != lines {
			b.Fatalf("read %d lines", h.n)
		}
	}
	b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
}
