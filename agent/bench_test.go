package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
	"github.com/plgstack/plg/agent/stages"
	"github.com/plgstack/plg/agent/tail"
	"github.com/plgstack/plg/push"
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

// BenchmarkAgentTailCRIPush runs the whole agent (discovery, tailer, cri
// stage, batching, protobuf+snappy push) over a file of CRI lines against an
// httptest ingester that decodes every push. lines/cpu-s divides the lines
// by the CPU time of the whole process, the decoding sink included, so it
// understates the agent's own throughput per core.
func BenchmarkAgentTailCRIPush(b *testing.B) {
	const lines = 200_000
	path, size := writeBenchFile(b, lines, func(i int) string {
		return fmt.Sprintf(`2026-11-22T05:00:00.%09dZ stdout F level=info caller=main.go:42 msg="request served" path=/api/v1/items/%d status=200 duration=1.2ms`, i, i)
	})
	var got atomic.Int64
	done := make(chan struct{}, 1)
	var req push.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := push.ReadHTTP(r, 0, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n := 0
		for _, s := range req.Streams {
			n += len(s.Entries)
		}
		if got.Add(int64(n)) == lines {
			done <- struct{}{}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	b.SetBytes(size)
	b.ReportAllocs()
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		got.Store(0)
		cfgText := fmt.Sprintf(`
positions: {filename: %s/positions-%d.yaml}
clients: [{url: %s/loki/api/v1/push, batchwait: 100ms}]
target_config: {sync_period: 1h}
scrape_configs:
- job_name: bench
  static_configs: [{labels: {job: bench, __path__: %q}}]
  pipeline_stages: [{cri: {}}]
`, b.TempDir(), i, srv.URL, path)
		cfg, err := LoadConfig([]byte(cfgText))
		if err != nil {
			b.Fatal(err)
		}
		a, err := New(cfg, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		runDone := make(chan error, 1)
		before := cpuTime()
		b.StartTimer()
		go func() { runDone <- a.Run(ctx) }()
		<-done
		b.StopTimer()
		cpu += cpuTime() - before
		cancel()
		if err := <-runDone; err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(lines*b.N)/cpu.Seconds(), "lines/cpu-s")
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
