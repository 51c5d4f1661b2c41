package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
	"github.com/plgstack/plg/agent/stages"
	"github.com/plgstack/plg/agent/tail"
)

// benchHandler runs a pipeline over each line and counts what comes out,
// acknowledging at once: the cost of tailing plus parsing, without sending.
type benchHandler struct {
	p      *stages.Pipeline
	n      int
	want   int
	cancel context.CancelFunc
	emit   func(*entry.Entry)
	e      entry.Entry
}

func (h *benchHandler) Line(line []byte, t entry.Ticket) {
	h.e = entry.Entry{Line: string(line), Timestamp: time.Now().UnixNano(), Ticket: t}
	h.p.Process(&h.e, h.emit)
}

func (h *benchHandler) Idle(time.Time) {}

func writeBenchFile(b *testing.B, lines int, format func(i int) string) (string, int64) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.log")
	var sb strings.Builder
	for i := 0; i < lines; i++ {
		sb.WriteString(format(i))
		sb.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path, int64(sb.Len())
}

func benchTailPipeline(b *testing.B, stageYAML string, format func(i int) string) {
	const lines = 100_000
	path, size := writeBenchFile(b, lines, format)
	var cfg stages.Config
	if err := yaml.Unmarshal([]byte(stageYAML), &cfg); err != nil {
		b.Fatal(err)
	}
	tpl, err := stages.Compile(cfg, stages.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		h := &benchHandler{p: tpl.New(), want: lines, cancel: cancel}
		h.emit = func(e *entry.Entry) {
			e.Ticket.Done()
			h.n++
			if h.n == h.want {
				h.cancel()
			}
		}
		tl := tail.New(tail.Config{Path: path, MinPoll: time.Millisecond, MaxPoll: time.Millisecond})
		if err := tl.Run(ctx, h); err != nil {
			b.Fatal(err)
		}
		if h.n != lines {
			b.Fatalf("got %d lines", h.n)
		}
	}
	b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkTailPlain(b *testing.B) {
	benchTailPipeline(b, "[]", func(i int) string {
		return fmt.Sprintf(`level=info ts=2026-11-22T05:00:00Z caller=main.go:42 msg="request served" path=/api/v1/items/%d status=200 duration=1.2ms`, i)
	})
}

func BenchmarkTailCRI(b *testing.B) {
	benchTailPipeline(b, "[{cri: {}}]", func(i int) string {
		return fmt.Sprintf(`2026-11-22T05:00:00.%09dZ stdout F level=info caller=main.go:42 msg="request served" path=/api/v1/items/%d status=200 duration=1.2ms`, i, i)
	})
}

func BenchmarkTailDocker(b *testing.B) {
	benchTailPipeline(b, "[{docker: {}}]", func(i int) string {
		return fmt.Sprintf(`{"log":"level=info caller=main.go:42 msg=\"request served\" path=/api/v1/items/%d status=200\n","stream":"stdout","time":"2026-11-22T05:00:00.%09dZ"}`, i, i)
	})
}

func BenchmarkTailCRIJSONLabels(b *testing.B) {
	benchTailPipeline(b, "[{cri: {}}, {json: {expressions: {level: , msg: }}}, {labels: {level: }}]", func(i int) string {
		return fmt.Sprintf(`2026-11-22T05:00:00.%09dZ stdout F {"level":"info","msg":"request served","path":"/api/v1/items/%d","status":200}`, i, i)
	})
}
