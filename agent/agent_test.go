package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/plgstack/plg/agent/positions"
	"github.com/plgstack/plg/push"
)

// recorder is an httptest ingester that records accepted entries in order.
// While down is set it answers 503.
type recorder struct {
	mu      sync.Mutex
	entries []recEntry
	down    bool
	srv     *httptest.Server
}

type recEntry struct {
	labels string
	line   string
	ts     int64
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var pr push.Request
		if err := push.ReadHTTP(req, 0, &pr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.down {
			http.Error(w, "ingester down", http.StatusServiceUnavailable)
			return
		}
		for _, s := range pr.Streams {
			for _, e := range s.Entries {
				r.entries = append(r.entries, recEntry{labels: s.Labels, line: string(e.Line), ts: e.Timestamp})
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) setDown(v bool) {
	r.mu.Lock()
	r.down = v
	r.mu.Unlock()
}

func (r *recorder) snapshot() []recEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recEntry(nil), r.entries...)
}

func (r *recorder) waitLines(t *testing.T, n int, timeout time.Duration) []recEntry {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if e := r.snapshot(); len(e) >= n {
			return e
		}
		time.Sleep(10 * time.Millisecond)
	}
	e := r.snapshot()
	t.Fatalf("timed out with %d of %d entries", len(e), n)
	return nil
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// fastConfig is an agent config with short periods for tests.
func fastConfig(dir, url, scrape string) string {
	return fmt.Sprintf(`
server: {http_listen_port: 0}
positions: {filename: %s/positions.yaml, sync_period: 100ms}
clients:
- url: %s/loki/api/v1/push
  batchwait: 20ms
  backoff_config: {min_period: 20ms, max_period: 100ms, max_retries: 0}
target_config: {sync_period: 100ms}
global: {file_watch_config: {min_poll_frequency: 5ms, max_poll_frequency: 20ms}}
scrape_configs:
%s`, dir, url, scrape)
}

func startAgent(t *testing.T, cfgText string, reg prometheus.Registerer) (*Agent, func() error) {
	t.Helper()
	cfg, err := LoadConfig([]byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return a, stop
}

func TestAgentShipsFilesWithLabelsAndDetectedFormats(t *testing.T) {
	dir := t.TempDir()
	rec := newRecorder(t)
	writeFile(t, filepath.Join(dir, "logs/cri.log"), "2026-11-22T05:00:00.000000001Z stdout F hello cri\n2026-11-22T05:00:01Z stderr P part \n2026-11-22T05:00:01Z stderr F end\n")
	writeFile(t, filepath.Join(dir, "logs/docker.log"), `{"log":"hello docker\n","stream":"stdout","time":"2026-11-22T05:00:02Z"}`+"\n")
	writeFile(t, filepath.Join(dir, "logs/sub/plain.log"), "level=info hello plain\n")
	writeFile(t, filepath.Join(dir, "logs/skip.txt"), "not matched\n")
	scrape := fmt.Sprintf(`
- job_name: files
  static_configs:
  - targets: [localhost]
    labels: {job: files, __path__: "%s/logs/**/*.log"}
`, dir)
	reg := prometheus.NewRegistry()
	a, stop := startAgent(t, fastConfig(dir, rec.srv.URL, scrape), reg)
	got := rec.waitLines(t, 4, 10*time.Second)
	if !a.Ready() {
		t.Error("agent not ready while running")
	}
	want := map[string]string{
		"hello cri":              fmt.Sprintf(`{filename="%s/logs/cri.log", job="files", stream="stdout"}`, dir),
		"part end":               fmt.Sprintf(`{filename="%s/logs/cri.log", job="files", stream="stderr"}`, dir),
		"hello docker":           fmt.Sprintf(`{filename="%s/logs/docker.log", job="files", stream="stdout"}`, dir),
		"level=info hello plain": fmt.Sprintf(`{filename="%s/logs/sub/plain.log", job="files"}`, dir),
	}
	for _, e := range got {
		w, ok := want[e.line]
		if !ok {
			t.Errorf("unexpected line %q", e.line)
			continue
		}
		if e.labels != w {
			t.Errorf("line %q labels %s, want %s", e.line, e.labels, w)
		}
		if e.line == "hello cri" && e.ts != time.Date(2026, 11, 22, 5, 0, 0, 1, time.UTC).UnixNano() {
			t.Errorf("cri timestamp not applied: %d", e.ts)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if a.Ready() {
		t.Error("ready after shutdown")
	}
	if v := testutil.ToFloat64(a.tailM.ReadLines); v != 5 {
		t.Errorf("read lines %v, want 5", v)
	}
	// Positions were flushed at shutdown and cover every file completely.
	b, err := os.ReadFile(filepath.Join(dir, "positions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pos, err := positions.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"logs/cri.log", "logs/docker.log", "logs/sub/plain.log"} {
		p := filepath.Join(dir, f)
		fi, _ := os.Stat(p)
		if pos[p].Offset != fi.Size() {
			t.Errorf("position of %s = %d, want %d", f, pos[p].Offset, fi.Size())
		}
	}
}

func TestAgentPipelineStagesDisableFormatDetection(t *testing.T) {
	dir := t.TempDir()
	rec := newRecorder(t)
	path := filepath.Join(dir, "cri.log")
	writeFile(t, path, "2026-11-22T05:00:00Z stdout F keep me\n2026-11-22T05:00:01Z stdout F debug noise\n")
	// A Promtail pipeline that parses the raw CRI line itself must see it raw.
	scrape := fmt.Sprintf(`
- job_name: raw
  static_configs: [{labels: {job: raw, __path__: %q}}]
  pipeline_stages:
  - match: {selector: '{job="raw"} |= "debug"', action: drop, drop_counter_reason: noise}
  - regex: {expression: '^\S+ (?P<s>\S+) \S+ (?P<msg>.*)$'}
  - output: {source: msg}
`, path)
	a, stop := startAgent(t, fastConfig(dir, rec.srv.URL, scrape), prometheus.NewRegistry())
	rec.waitLines(t, 1, 10*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := rec.snapshot()
	if len(got) != 1 || got[0].line != "keep me" || strings.Contains(got[0].labels, "stream") {
		t.Fatalf("got %+v, want only the regex-parsed line without a detected stream label", got)
	}
	if v := testutil.ToFloat64(a.drops.WithLabelValues("noise")); v != 1 {
		t.Errorf("drops{noise} = %v, want 1", v)
	}
}

func TestAgentOutageDelaysButLosesNothing(t *testing.T) {
	dir := t.TempDir()
	rec := newRecorder(t)
	rec.setDown(true)
	path := filepath.Join(dir, "app.log")
	var sb strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&sb, "line %d\n", i)
	}
	writeFile(t, path, sb.String())
	scrape := fmt.Sprintf("- job_name: app\n  static_configs: [{labels: {__path__: %q}}]\n", path)
	_, stop := startAgent(t, fastConfig(dir, rec.srv.URL, scrape), nil)
	time.Sleep(300 * time.Millisecond)
	// Nothing acknowledged: the position must not have moved.
	if b, err := os.ReadFile(filepath.Join(dir, "positions.yaml")); err == nil {
		pos, _ := positions.Decode(b)
		if pos[path].Offset != 0 {
			t.Fatalf("position %d during an outage, want 0", pos[path].Offset)
		}
	}
	rec.setDown(false)
	got := rec.waitLines(t, 200, 10*time.Second)
	seen := map[string]int{}
	for _, e := range got {
		seen[e.line]++
	}
	for i := 0; i < 200; i++ {
		if n := seen[fmt.Sprintf("line %d", i)]; n != 1 {
			t.Fatalf("line %d arrived %d times", i, n)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// metricValue returns the value of an unlabelled gauge or counter, or the
// sample count of a histogram, from reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var v float64
		for _, m := range mf.GetMetric() {
			switch {
			case m.Gauge != nil:
				v += m.GetGauge().GetValue()
			case m.Counter != nil:
				v += m.GetCounter().GetValue()
			case m.Histogram != nil:
				v += float64(m.GetHistogram().GetSampleCount())
			}
		}
		return v
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func waitMetric(t *testing.T, reg *prometheus.Registry, name string, ok func(float64) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ok(metricValue(t, reg, name)) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s = %v, want %s", name, metricValue(t, reg, name), what)
}

func TestAgentMetricsShowPositionsLagDuringAnOutageAndNoneAfter(t *testing.T) {
	dir := t.TempDir()
	rec := newRecorder(t)
	rec.setDown(true)
	paths := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")}
	var size int64
	for _, p := range paths {
		writeFile(t, p, strings.Repeat("0123456789 line\n", 50))
		size += 16 * 50
	}
	scrape := fmt.Sprintf("- job_name: app\n  static_configs: [{labels: {__path__: %q}}]\n", filepath.Join(dir, "*.log"))
	reg := prometheus.NewRegistry()
	_, stop := startAgent(t, fastConfig(dir, rec.srv.URL, scrape), reg)

	waitMetric(t, reg, "plg_agent_batch_retries_total", func(v float64) bool { return v >= 2 }, "retries while the ingester is down")
	if v := metricValue(t, reg, "plg_agent_files_active"); v != 2 {
		t.Errorf("files_active = %v, want 2", v)
	}
	if v := metricValue(t, reg, "plg_agent_positions_lag_bytes"); v != float64(size) {
		t.Errorf("lag bytes during the outage = %v, want both files' %d", v, size)
	}
	waitMetric(t, reg, "plg_agent_positions_lag_seconds", func(v float64) bool { return v >= 0.05 }, "the age of the unacknowledged lines")
	if v := metricValue(t, reg, "plg_agent_pending_bytes"); v <= 0 {
		t.Errorf("pending bytes = %v during the outage, want > 0", v)
	}

	rec.setDown(false)
	rec.waitLines(t, 100, 10*time.Second)
	waitMetric(t, reg, "plg_agent_positions_lag_bytes", func(v float64) bool { return v == 0 }, "0 once everything is acknowledged")
	checks := []struct {
		name string
		want func(float64) bool
	}{
		{"plg_agent_positions_lag_seconds", func(v float64) bool { return v == 0 }},
		{"plg_agent_pending_bytes", func(v float64) bool { return v == 0 }},
		{"plg_agent_sent_entries_total", func(v float64) bool { return v == 100 }},
		{"plg_agent_read_lines_total", func(v float64) bool { return v == 100 }},
		{"plg_agent_read_bytes_total", func(v float64) bool { return v == float64(size) }},
		{"plg_agent_batch_entries", func(v float64) bool { return v >= 1 }},
		{"plg_agent_batch_bytes", func(v float64) bool { return v >= 1 }},
		{"plg_agent_request_duration_seconds", func(v float64) bool { return v >= 3 }},
	}
	for _, c := range checks {
		if v := metricValue(t, reg, c.name); !c.want(v) {
			t.Errorf("%s = %v after recovery", c.name, v)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestAgentIsReadyOnlyOnceATargetSyncSucceeded(t *testing.T) {
	dir := t.TempDir()
	rec := newRecorder(t)
	podsDir := filepath.Join(dir, "pods")
	writeFile(t, podsDir, "a file where the pod log directory should be\n") // discovery fails
	scrape := fmt.Sprintf("- job_name: pods\n  kubernetes_sd_configs: [{role: pod, pod_logs_dir: %q}]\n", podsDir)
	a, stop := startAgent(t, fastConfig(dir, rec.srv.URL, scrape), nil)
	time.Sleep(300 * time.Millisecond) // three target syncs
	if a.Ready() {
		t.Fatal("ready although no target sync succeeded")
	}
	if err := os.Remove(podsDir); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(podsDir, "ns_pod_0123/app/0.log"), "2026-11-22T05:00:00Z stdout F hi\n")
	deadline := time.Now().Add(5 * time.Second)
	for !a.Ready() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !a.Ready() {
		t.Fatal("not ready after the pod log directory appeared")
	}
	if got := rec.waitLines(t, 1, 5*time.Second); got[0].line != "hi" {
		t.Fatalf("got %+v", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
