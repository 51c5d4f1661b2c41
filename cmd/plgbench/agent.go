package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plgstack/plg/push"
)

// The agent phase writes part of the corpus to files, as container runtimes
// do, and runs `plg -mode=agent` over them, pushing to a sink in this
// process that only decodes and counts. The server is not involved, so the
// figures are the agent's alone.

// AgentResult is one agent run.
type AgentResult struct {
	Name           string  `json:"name"` // "plain" or "cri"
	Files          int     `json:"files"`
	Lines          int64   `json:"lines"`
	Bytes          int64   `json:"bytes"` // log text shipped (without CRI prefixes)
	FileBytes      int64   `json:"file_bytes"`
	Seconds        float64 `json:"seconds"` // agent start to the last line received
	LinesPerSec    float64 `json:"lines_per_sec"`
	MBPerSec       float64 `json:"mb_per_sec"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	LinesPerCPU    float64 `json:"lines_per_cpu_sec"`
	CPUSecPerGB    float64 `json:"cpu_seconds_per_gb"`
	PeakRSS        int64   `json:"peak_rss_bytes"`
	RSSPerMBPerSec float64 `json:"rss_mib_per_mb_per_sec"`
}

// agentCorpus is what was written for the agent.
type agentCorpus struct {
	Dir       string
	Files     int
	Lines     int64
	Bytes     int64 // log text
	FileBytes int64
}

// writeAgentFiles writes size bytes of corpus text over files log files in
// dir, a stream per file (round robin), as plain lines or CRI lines.
func writeAgentFiles(cfg corpusConfig, dir string, files int, cri bool) (*agentCorpus, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	g, err := newGenerator(cfg)
	if err != nil {
		return nil, err
	}
	ac := &agentCorpus{Dir: dir, Files: files}
	ws := make([]*bufio.Writer, files)
	fs := make([]*os.File, files)
	defer func() {
		for _, f := range fs {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i := range fs {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("pod-%03d.log", i)))
		if err != nil {
			return nil, err
		}
		fs[i], ws[i] = f, bufio.NewWriterSize(f, 64<<10)
	}
	var pre []byte
	for !g.done() {
		s, ts, line := g.next()
		w := ws[s%files]
		n := 0
		if cri {
			pre = time.Unix(0, ts).UTC().AppendFormat(pre[:0], time.RFC3339Nano)
			pre = append(pre, " stdout F "...)
			w.Write(pre)
			n += len(pre)
		}
		w.Write(line)
		w.WriteByte('\n')
		n += len(line) + 1
		ac.Lines++
		ac.Bytes += int64(len(line))
		ac.FileBytes += int64(n)
	}
	for i, w := range ws {
		if err := w.Flush(); err != nil {
			return nil, fmt.Errorf("writing %s: %w", fs[i].Name(), err)
		}
		if err := fs[i].Close(); err != nil {
			return nil, err
		}
	}
	fs = nil
	return ac, nil
}

// sink is a push endpoint that counts what it receives.
type sink struct {
	srv    *http.Server
	ln     net.Listener
	lines  atomic.Int64
	bytes  atomic.Int64
	last   atomic.Int64 // unix ns of the last push
	errors atomic.Int64
	pool   sync.Pool
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{ln: ln}
	s.pool.New = func() any { return &sinkDecoder{} }
	s.srv = &http.Server{Handler: http.HandlerFunc(s.push), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

type sinkDecoder struct {
	d   push.Decoder
	req push.Request
}

func (s *sink) push(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/loki/api/v1/push" {
		http.NotFound(w, r)
		return
	}
	d := s.pool.Get().(*sinkDecoder)
	defer s.pool.Put(d)
	if err := d.d.ReadHTTP(r, 0, &d.req); err != nil {
		s.errors.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var n, b int64
	for _, st := range d.req.Streams {
		n += int64(len(st.Entries))
		for _, e := range st.Entries {
			b += int64(len(e.Line))
		}
	}
	s.lines.Add(n)
	s.bytes.Add(b)
	s.last.Store(time.Now().UnixNano())
	w.WriteHeader(http.StatusNoContent)
}

func (s *sink) url() string { return "http://" + s.ln.Addr().String() + "/loki/api/v1/push" }

func (s *sink) close() { _ = s.srv.Close() }

// agentConfigYAML is a Promtail configuration tailing dir/*.log.
func agentConfigYAML(sinkURL, dir string, cri bool) string {
	stages := ""
	if cri {
		stages = "    pipeline_stages:\n      - cri: {}\n"
	}
	return fmt.Sprintf(`clients:
  - url: %s
    batchwait: 1s
    batchsize: 1048576
scrape_configs:
  - job_name: bench
%s    static_configs:
      - targets: [localhost]
        labels:
          job: bench
          __path__: %s/*.log
`, sinkURL, stages, dir)
}

// runAgent runs `plg -mode=agent` over the files of ac until the sink has
// every line.
func runAgent(ctx context.Context, bin, workDir, name string, ac *agentCorpus, cri bool, timeout time.Duration) (*AgentResult, error) {
	sk, err := startSink()
	if err != nil {
		return nil, err
	}
	defer sk.close()
	dataDir := filepath.Join(workDir, "agent-"+name+"-data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(workDir, "agent-"+name+".yaml")
	if err := os.WriteFile(cfgFile, []byte(agentConfigYAML(sk.url(), ac.Dir, cri)), 0o644); err != nil {
		return nil, err
	}
	p, err := startProcess(ctx, bin, []string{"-mode=agent", "-config.file=" + cfgFile, "-data.dir=" + dataDir,
		"-http.addr=127.0.0.1:0", "-log.level=info"}, 60*time.Second)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", name, err)
	}
	defer p.Kill()
	deadline := time.Now().Add(timeout)
	for sk.lines.Load() < ac.Lines {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("agent %s: %d of %d lines shipped after %s:\n%s", name, sk.lines.Load(), ac.Lines, timeout, p.Logs())
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	ps, err := p.sample()
	if err != nil {
		return nil, err
	}
	// A moment more would reveal duplicates.
	time.Sleep(200 * time.Millisecond)
	if got := sk.lines.Load(); got != ac.Lines {
		return nil, fmt.Errorf("agent %s: the sink received %d lines, %d were written", name, got, ac.Lines)
	}
	if got := sk.bytes.Load(); got != ac.Bytes {
		return nil, fmt.Errorf("agent %s: the sink received %d bytes of log text, %d were written", name, got, ac.Bytes)
	}
	if e := sk.errors.Load(); e > 0 {
		return nil, fmt.Errorf("agent %s: %d pushes could not be decoded", name, e)
	}
	if err := p.Stop(30 * time.Second); err != nil {
		return nil, fmt.Errorf("agent %s: %w", name, err)
	}
	secs := time.Unix(0, sk.last.Load()).Sub(p.Started).Seconds()
	r := &AgentResult{
		Name: name, Files: ac.Files, Lines: ac.Lines, Bytes: ac.Bytes, FileBytes: ac.FileBytes,
		Seconds: secs, CPUSeconds: ps.CPU.Seconds(), PeakRSS: ps.HWM,
	}
	if secs > 0 {
		r.LinesPerSec = float64(ac.Lines) / secs
		r.MBPerSec = float64(ac.Bytes) / 1e6 / secs
	}
	if r.CPUSeconds > 0 {
		r.LinesPerCPU = float64(ac.Lines) / r.CPUSeconds
		r.CPUSecPerGB = r.CPUSeconds / (float64(ac.Bytes) / 1e9)
	}
	if r.MBPerSec > 0 {
		r.RSSPerMBPerSec = float64(r.PeakRSS) / (1 << 20) / r.MBPerSec
	}
	return r, nil
}
