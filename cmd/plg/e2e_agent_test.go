package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/agent/positions"
)

// The agent's end-to-end test: a real `plg -mode=agent` tails files that a
// writer appends to and rotates, and pushes to a real `plg -mode=ingester`;
// both are restarted gracefully and killed along the way. Afterwards every
// line written must be in the store exactly once, in order per file.

const (
	e2eFiles        = 4
	e2eBurst        = 10                   // lines per write
	e2eWriteEvery   = 5 * time.Millisecond // ≈2000 lines/s per file
	e2eRotateEvery  = 700 * time.Millisecond
	e2eConditionFor = 20 * time.Second // bound on every wait for the agent
)

// freePort returns a loopback port nothing listens on, so an ingester
// restarted on it keeps the address the agent pushes to.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// agentPositions reads the agent's positions file; a missing file (before
// the first save) is an empty map.
func agentPositions(t *testing.T, path string) map[string]positions.Position {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	pos, err := positions.Decode(b)
	if err != nil {
		t.Errorf("positions file %s: %v", path, err)
		return nil
	}
	return pos
}

func fileID(t *testing.T, path string) (dev, ino uint64, size int64) {
	fi, err := os.Stat(path)
	if err != nil {
		t.Errorf("stat %s: %v", path, err)
		return 0, 0, 0
	}
	st := fi.Sys().(*syscall.Stat_t)
	return uint64(st.Dev), uint64(st.Ino), fi.Size() //nolint:unconvert // types differ across platforms
}

// logWriter appends numbered CRI lines to one file and rotates it.
type logWriter struct {
	t       *testing.T
	path    string
	name    string
	posFile string
	// restarts is held (read) across a copytruncate, during which the agent
	// must stay up; restarts take it for writing.
	restarts *sync.RWMutex
	base     time.Time
	f        *os.File
	seq      int
	rotated  int
	kinds    map[string]int
}

func (w *logWriter) open() {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		panic(err) // the test's own temporary directory
	}
	w.f = f
}

func (w *logWriter) writeBurst() {
	var sb strings.Builder
	for range e2eBurst {
		// The CRI timestamp is the line's identity for the ingester's
		// duplicate check: a line sent again after a SIGKILL carries the same
		// timestamp and is dropped there.
		ts := w.base.Add(time.Duration(w.seq) * time.Microsecond).UTC().Format(time.RFC3339Nano)
		fmt.Fprintf(&sb, "%s stdout F %s %07d some payload to make the line look like a log line\n", ts, w.name, w.seq)
		w.seq++
	}
	if _, err := w.f.WriteString(sb.String()); err != nil {
		w.t.Error(err)
	}
}

// waitPosition waits until the agent's saved position for the file
// satisfies ok, and reports whether it did in time.
func (w *logWriter) waitPosition(what string, ok func(p positions.Position, have bool) bool) bool {
	deadline := time.Now().Add(e2eConditionFor)
	for time.Now().Before(deadline) {
		p, have := agentPositions(w.t, w.posFile)[w.path]
		if ok(p, have) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.t.Errorf("%s: agent did not %s within %s", w.path, what, e2eConditionFor)
	return false
}

// rotateRename renames the file away and creates a new one. The agent
// follows one rotated generation (as Promtail does: it finds the old file by
// device and inode after a restart); a file rotated twice while the agent
// had not reached it would lose the middle generation in any tailer, so the
// writer first waits until the agent's position is in the current file.
func (w *logWriter) rotateRename() {
	dev, ino, _ := fileID(w.t, w.path)
	if !w.waitPosition("reach the current file", func(p positions.Position, have bool) bool {
		return have && p.Dev == dev && p.Inode == ino
	}) {
		return
	}
	w.f.Close()
	w.rotated++
	if err := os.Rename(w.path, fmt.Sprintf("%s.%d", w.path, w.rotated)); err != nil {
		w.t.Error(err)
	}
	w.open()
	w.kinds["rename"]++
}

// rotateCopyTruncate copies the file and truncates it. Lines written between
// the agent's last read and the truncation are lost by every tailer,
// Promtail included, so the writer stops writing to the file, waits until
// the agent's saved position says everything is shipped, truncates, and
// waits until the agent noticed the truncation before writing again (a
// writer that refilled the file past the old offset first would make the
// truncation invisible). The agent is kept up meanwhile.
func (w *logWriter) rotateCopyTruncate() {
	w.restarts.RLock()
	defer w.restarts.RUnlock()
	dev, ino, size := fileID(w.t, w.path)
	if !w.waitPosition("ship the whole file", func(p positions.Position, have bool) bool {
		return have && p.Dev == dev && p.Inode == ino && p.Offset == size
	}) {
		return
	}
	w.rotated++
	data, err := os.ReadFile(w.path)
	if err == nil {
		err = os.WriteFile(fmt.Sprintf("%s.%d", w.path, w.rotated), data, 0o644)
	}
	if err == nil {
		err = w.f.Truncate(0)
	}
	if err != nil {
		w.t.Error(err)
		return
	}
	w.waitPosition("see the truncation", func(p positions.Position, have bool) bool {
		return have && p.Inode == ino && p.Offset < size
	})
	w.kinds["copytruncate"]++
}

// run writes bursts until stop is closed, rotating every e2eRotateEvery,
// alternating rename and copytruncate.
func (w *logWriter) run(stop <-chan struct{}, offset time.Duration) {
	w.open()
	defer func() { w.f.Close() }()
	tick := time.NewTicker(e2eWriteEvery)
	defer tick.Stop()
	nextRotate := time.Now().Add(e2eRotateEvery + offset)
	for n := 0; ; {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			w.writeBurst()
			if now.After(nextRotate) {
				if n%2 == 0 {
					w.rotateRename()
				} else {
					w.rotateCopyTruncate()
				}
				n++
				nextRotate = time.Now().Add(e2eRotateEvery)
			}
		}
	}
}

// storedStreams reads every entry of the tenant from the store, merging each
// stream's chunks (an entry stored twice is returned once, as the querier
// does), and returns each stream's lines in timestamp order by filename.
func storedStreams(t *testing.T, dataDir, tenant, job string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	readStore(t, dataDir, tenant, labels.MustNewMatcher(labels.MatchEqual, "job", job), func(lbs labels.Labels, line string) {
		out[lbs.Get("filename")] = append(out[lbs.Get("filename")], line)
	})
	return out
}

func TestAgentShipsRotatedFilesExactlyOnceThroughAgentAndIngesterRestarts(t *testing.T) {
	ingDir, agentDir, logDir := t.TempDir(), t.TempDir(), t.TempDir()
	ingArgs := []string{"-mode=ingester", "-http.addr=127.0.0.1:" + freePort(t)}
	ing := startServer(t, ingDir, ingArgs...)

	posFile := filepath.Join(agentDir, "positions.yaml")
	cfgFile := filepath.Join(agentDir, "promtail.yaml")
	cfg := fmt.Sprintf(`server: {http_listen_port: 0}
positions: {filename: %s, sync_period: 100ms}
clients:
- url: http://%s/loki/api/v1/push
  batchwait: 50ms
  backoff_config: {min_period: 50ms, max_period: 500ms}
target_config: {sync_period: 200ms}
global: {file_watch_config: {min_poll_frequency: 10ms, max_poll_frequency: 50ms}}
scrape_configs:
- job_name: e2e
  static_configs: [{labels: {job: agent-e2e, __path__: %s/*.log}}]
  pipeline_stages: [{cri: {}}]
`, posFile, ing.addr, logDir)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var restarts sync.RWMutex
	writers := make([]*logWriter, e2eFiles)
	base := time.Now().Add(-time.Minute)
	for i := range writers {
		writers[i] = &logWriter{
			t: t, path: filepath.Join(logDir, fmt.Sprintf("app%d.log", i)), name: fmt.Sprintf("f%d", i),
			posFile: posFile, restarts: &restarts, base: base, kinds: map[string]int{},
		}
		if err := os.WriteFile(writers[i].path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	agentArgs := []string{"-mode=agent", "-config.file=" + cfgFile}
	ag := startServer(t, agentDir, agentArgs...)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, w := range writers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(stop, time.Duration(i)*e2eRotateEvery/e2eFiles) }()
	}
	steps := []struct {
		name string
		do   func()
	}{
		{"agent SIGTERM", func() { ag.stop(); ag = startServer(t, agentDir, agentArgs...) }},
		{"agent SIGKILL", func() { ag.kill(); ag = startServer(t, agentDir, agentArgs...) }},
		{"ingester SIGTERM", func() { ing.stop(); time.Sleep(300 * time.Millisecond); ing = startServer(t, ingDir, ingArgs...) }},
		{"ingester SIGKILL", func() { ing.kill(); time.Sleep(300 * time.Millisecond); ing = startServer(t, ingDir, ingArgs...) }},
		{"both SIGKILL", func() {
			ag.kill()
			ing.kill()
			ing = startServer(t, ingDir, ingArgs...)
			ag = startServer(t, agentDir, agentArgs...)
		}},
	}
	for _, s := range steps {
		time.Sleep(1200 * time.Millisecond)
		restarts.Lock()
		s.do()
		restarts.Unlock()
		t.Logf("%s done", s.name)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Wait until the agent has shipped every file to its end.
	written := 0
	for _, w := range writers {
		written += w.seq
		dev, ino, size := fileID(t, w.path)
		w.waitPosition("ship everything", func(p positions.Position, have bool) bool {
			return have && p.Dev == dev && p.Inode == ino && p.Offset == size
		})
		t.Logf("%s: %d lines, rotations %v", w.path, w.seq, w.kinds)
		if w.kinds["rename"] == 0 || w.kinds["copytruncate"] == 0 {
			t.Errorf("%s was not rotated both ways: %v", w.path, w.kinds)
		}
	}
	// The last agent gave up on nothing (its counters start at its restart).
	resp, err := http.Get(ag.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, l := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(l, "plg_agent_dropped_entries_total{") && !strings.HasSuffix(l, " 0") {
			t.Errorf("agent dropped entries: %s", l)
		}
	}
	ag.stop()
	ing.stop() // flushes every chunk to the store
	if t.Failed() {
		t.FailNow()
	}

	streams := storedStreams(t, ingDir, "fake", "agent-e2e")
	stored := 0
	for _, w := range writers {
		lines := streams[w.path]
		stored += len(lines)
		for i, l := range lines {
			want := fmt.Sprintf("%s %07d ", w.name, i)
			if !strings.HasPrefix(l, want) {
				t.Fatalf("%s: stored line %d is %q, want %q...: a line lost, duplicated or out of order (%d stored, %d written)",
					w.path, i, l, want, len(lines), w.seq)
			}
		}
		if len(lines) != w.seq {
			t.Errorf("%s: %d lines stored, %d written", w.path, len(lines), w.seq)
		}
	}
	if len(streams) != e2eFiles {
		t.Errorf("%d streams stored, want %d: %v", len(streams), e2eFiles, keys(streams))
	}
	t.Logf("%d lines written, %d stored", written, stored)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// procStatus returns fields of /proc/<pid>/status in KiB (VmHWM, VmRSS,
// RssAnon, RssFile).
func procStatus(t *testing.T, pid int) map[string]int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[2] == "kB" {
			n, _ := strconv.Atoi(f[1])
			out[strings.TrimSuffix(f[0], ":")] = n
		}
	}
	return out
}

// TestAgentRSSTailing100Files is a measurement harness, run on demand with
// PLG_AGENT_RSS=1: the agent tails 100 files (1 MiB of CRI lines each at
// start, then 100 lines/s each) pushing to a real ingester. It logs the
// peak RSS (VmHWM) and its parts at the end: RssFile is the binary's code
// and read-only data mapped from the page cache (shared and reclaimable,
// about 38 MiB for the whole plg binary), RssAnon the agent's own memory,
// which must stay under 48 MiB.
func TestAgentRSSTailing100Files(t *testing.T) {
	if os.Getenv("PLG_AGENT_RSS") == "" {
		t.Skip("measurement harness: run with PLG_AGENT_RSS=1")
	}
	const files = 100
	ingDir, agentDir, logDir := t.TempDir(), t.TempDir(), t.TempDir()
	ing := startServer(t, ingDir, "-mode=ingester")
	base := time.Now().Add(-time.Hour)
	line := func(f, i int) string {
		return fmt.Sprintf("%s stdout F level=info caller=main.go:42 msg=\"request served\" file=%d seq=%d status=200 duration=1.2ms\n",
			base.Add(time.Duration(i)*time.Microsecond).UTC().Format(time.RFC3339Nano), f, i)
	}
	seq := make([]int, files)
	for f := range files {
		var sb strings.Builder
		for sb.Len() < 1<<20 {
			sb.WriteString(line(f, seq[f]))
			seq[f]++
		}
		if err := os.WriteFile(filepath.Join(logDir, fmt.Sprintf("pod%03d.log", f)), []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfgFile := filepath.Join(agentDir, "promtail.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf(`clients: [{url: "http://%s/loki/api/v1/push"}]
scrape_configs:
- job_name: rss
  static_configs: [{labels: {job: rss, __path__: %s/*.log}}]
  pipeline_stages: [{cri: {}}]
`, ing.addr, logDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	ag := startServer(t, agentDir, "-mode=agent", "-config.file="+cfgFile)
	for range 100 { // 10 s at 100 lines/s per file
		for f := range files {
			var sb strings.Builder
			for range 10 {
				sb.WriteString(line(f, seq[f]))
				seq[f]++
			}
			fh, err := os.OpenFile(filepath.Join(logDir, fmt.Sprintf("pod%03d.log", f)), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			fh.WriteString(sb.String())
			fh.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := procStatus(t, ag.cmd.Process.Pid)
	mib := func(k string) float64 { return float64(st[k]) / 1024 }
	t.Logf("agent tailing %d files: VmHWM %.1f MiB; now VmRSS %.1f MiB = RssAnon %.1f + RssFile %.1f (+ RssShmem)",
		files, mib("VmHWM"), mib("VmRSS"), mib("RssAnon"), mib("RssFile"))
	ag.stop()
	ing.stop()
	if st["RssAnon"] > 48<<10 {
		t.Errorf("agent anonymous RSS %.1f MiB, above 48 MiB", mib("RssAnon"))
	}
}
