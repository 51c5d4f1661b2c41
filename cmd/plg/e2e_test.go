package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/store"
	"github.com/plgstack/plg/push"
)

// The end-to-end tests build the real binary once and run it on loopback.

var plgBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "plg-e2e-bin")
	if err != nil {
		panic(err)
	}
	plgBinary = filepath.Join(dir, "plg")
	build := exec.Command("go", "build", "-o", plgBinary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building plg:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running plg process.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	dir  string
	logs *bytes.Buffer
	mu   *sync.Mutex
	done chan error
}

var startedRe = regexp.MustCompile(`plg started.* http=(\S+)`)

func startServer(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	args := append([]string{"-mode=all", "-http.addr=127.0.0.1:0", "-data.dir=" + dataDir, "-log.level=info"}, extra...) // later flags win
	cmd := exec.Command(plgBinary, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, dir: dataDir, logs: new(bytes.Buffer), mu: new(sync.Mutex), done: make(chan error, 1)}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.logs.WriteString(line + "\n")
			s.mu.Unlock()
			if m := startedRe.FindStringSubmatch(line); m != nil {
				addrCh <- m[1]
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case s.addr = <-addrCh:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("plg did not start:\n%s", s.logText())
	}
	s.waitReady()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

func (s *server) waitReady() {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.url("/ready"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("plg never became ready:\n%s", s.logText())
}

// stop sends SIGTERM (a graceful stop that flushes) and waits.
func (s *server) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Fatalf("plg exited with %v:\n%s", err, s.logText())
		}
	case <-time.After(60 * time.Second):
		s.t.Fatalf("plg did not stop after SIGTERM:\n%s", s.logText())
	}
}

// kill sends SIGKILL: no flush, no clean WAL close.
func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.done
}

func (s *server) post(path, contentType, encoding string, body []byte) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url(path), bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// readStore reads back, through the store's read path (index, then
// chunks), every entry of the tenant's streams matching m in the last day,
// merging each stream's chunks so an entry stored twice comes back once, as
// the querier returns it. fn sees each entry in time order per stream.
func readStore(t *testing.T, dataDir, tenant string, m *labels.Matcher, fn func(lbs labels.Labels, line string)) {
	t.Helper()
	cfg := store.DefaultConfig()
	cfg.Filesystem.Dir = filepath.Join(dataDir, "store")
	bkt, err := store.NewBucket(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bkt.Close()
	st := store.New(bkt, cfg, nil, nil)
	ctx := context.Background()
	from, through := time.Now().Add(-24*time.Hour).UnixNano(), time.Now().Add(24*time.Hour).UnixNano()
	idx, err := st.Index(ctx, tenant, from, through)
	if err != nil {
		t.Fatal(err)
	}
	series, err := idx.Select(from, through, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, sr := range series {
		var its []chunks.Iterator
		for _, ref := range sr.Chunks {
			data, err := st.GetChunk(ctx, tenant, ref)
			if err != nil {
				t.Fatal(err)
			}
			c, err := chunks.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			its = append(its, c.Iterator(ctx, from, through, chunks.Forward, nil))
		}
		it := chunks.NewMergeIterator(chunks.Forward, its...)
		for it.Next() {
			fn(sr.Labels, string(it.At().Line))
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		it.Close()
	}
}

// storedLines counts the tenant's stored lines, keyed "<job> <line>".
func storedLines(t *testing.T, dataDir, tenant string) map[string]int {
	t.Helper()
	out := map[string]int{}
	readStore(t, dataDir, tenant, labels.MustNewMatcher(labels.MatchRegexp, "job", ".+"), func(lbs labels.Labels, line string) {
		out[lbs.Get("job")+" "+line]++
	})
	return out
}

func protoBody(job string, ts time.Time, lines ...string) []byte {
	s := push.Stream{Labels: fmt.Sprintf(`{job=%q, env="e2e"}`, job)}
	for i, l := range lines {
		s.Entries = append(s.Entries, push.Entry{Timestamp: ts.Add(time.Duration(i) * time.Microsecond).UnixNano(), Line: []byte(l)})
	}
	return push.EncodeBody(&push.Request{Streams: []push.Stream{s}})
}

func jsonBody(job string, ts time.Time, lines ...string) []byte {
	var vals []string
	for i, l := range lines {
		vals = append(vals, fmt.Sprintf(`["%d", %q, {"trace_id": "t%d"}]`, ts.Add(time.Duration(i)*time.Microsecond).UnixNano(), l, i))
	}
	return []byte(fmt.Sprintf(`{"streams":[{"stream":{"job":%q},"values":[%s]}]}`, job, strings.Join(vals, ",")))
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestEndToEndPushFormatsSurviveGracefulAndHardRestarts(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir)
	now := time.Now()

	want := map[string]int{}
	expect := func(job string, lines ...string) {
		for _, l := range lines {
			want[job+" "+l] = 1
		}
	}
	if code, body := srv.post("/loki/api/v1/push", "application/x-protobuf", "", protoBody("proto", now, "p1", "p2", "p3")); code != http.StatusNoContent {
		t.Fatalf("protobuf push: %d %s", code, body)
	}
	expect("proto", "p1", "p2", "p3")
	if code, body := srv.post("/loki/api/v1/push", "application/json", "", jsonBody("json", now, "j1", "j2")); code != http.StatusNoContent {
		t.Fatalf("json push: %d %s", code, body)
	}
	expect("json", "j1", "j2")
	if code, body := srv.post("/loki/api/v1/push", "application/json", "gzip", gzipped(jsonBody("gzip", now, "g1"))); code != http.StatusNoContent {
		t.Fatalf("gzip json push: %d %s", code, body)
	}
	expect("gzip", "g1")

	// Bad input: a 400 that says what and where, and nothing accepted is lost.
	code, body := srv.post("/loki/api/v1/push", "application/json", "", []byte(`{"streams":[{"stream":{"job":"bad"},"values":[[123,"x"]]}]}`))
	if code != http.StatusBadRequest || !strings.Contains(body, "stream 0") {
		t.Fatalf("bad JSON push: %d %q, want 400 naming the stream", code, body)
	}

	// Graceful restart: SIGTERM flushes everything to the store.
	srv.stop()
	if got := storedLines(t, dataDir, "fake"); !equalCounts(got, want) {
		t.Fatalf("after graceful stop the store holds %v, want %v", got, want)
	}

	// Hard restart: entries acknowledged before SIGKILL come back from the WAL.
	srv = startServer(t, dataDir)
	if code, body := srv.post("/loki/api/v1/push", "", "", protoBody("killed", time.Now(), "k1", "k2")); code != http.StatusNoContent {
		t.Fatalf("push before kill: %d %s", code, body)
	}
	expect("killed", "k1", "k2")
	srv.kill()
	srv = startServer(t, dataDir)
	if code, body := srv.post("/flush", "", "", nil); code != http.StatusNoContent {
		t.Fatalf("/flush: %d %s", code, body)
	}
	srv.stop()
	if got := storedLines(t, dataDir, "fake"); !equalCounts(got, want) {
		t.Fatalf("after SIGKILL and restart the store holds %v, want %v", got, want)
	}
	// And the same entries through the query API, from the store.
	srv = startServer(t, dataDir)
	lines := queryLines(t, srv, `{job=~".+"}`)
	if len(lines) != len(want) {
		t.Fatalf("query API returned %d lines, want %d: %v", len(lines), len(want), lines)
	}
	for _, l := range lines {
		if want[l] != 1 {
			t.Fatalf("query API returned unexpected line %q", l)
		}
	}
	srv.stop()
}

// TestSIGKILLDuringPushStreamLosesNoAcknowledgedEntry pushes continuously
// from several clients, kills the server mid-stream, restarts it, lets the
// clients retry what was in flight, and checks that every acknowledged entry
// is stored exactly once.
func TestSIGKILLDuringPushStreamLosesNoAcknowledgedEntry(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir)
	var (
		mu    sync.Mutex
		acked = map[string]int{}
		addr  = srv.addr
	)
	const clients, batches, perBatch = 4, 60, 50
	killAfter := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	base := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for b := 0; b < batches; b++ {
				lines := make([]string, perBatch)
				for i := range lines {
					lines[i] = fmt.Sprintf("client %d batch %d line %d", c, b, i)
				}
				body := protoBody(fmt.Sprintf("client%d", c), base.Add(time.Duration(b)*time.Millisecond), lines...)
				// Retry until acknowledged, as Promtail does.
				for attempt := 0; ; attempt++ {
					mu.Lock()
					a := addr
					mu.Unlock()
					resp, err := client.Post("http://"+a+"/loki/api/v1/push", "application/x-protobuf", bytes.NewReader(body))
					if err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode == http.StatusNoContent {
							break
						}
						if resp.StatusCode < 500 {
							t.Errorf("push refused with %d", resp.StatusCode)
							return
						}
					}
					if attempt > 600 {
						t.Errorf("client %d batch %d never acknowledged", c, b)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				mu.Lock()
				for _, l := range lines {
					acked[fmt.Sprintf("client%d %s", c, l)]++
				}
				n := len(acked)
				mu.Unlock()
				if n >= clients*batches*perBatch/3 {
					once.Do(func() { close(killAfter) })
				}
			}
		}()
	}
	<-killAfter
	srv.kill()
	srv = startServer(t, dataDir)
	mu.Lock()
	addr = srv.addr
	mu.Unlock()
	wg.Wait()
	srv.stop()

	got := storedLines(t, dataDir, "fake")
	if len(acked) != clients*batches*perBatch {
		t.Fatalf("only %d entries were acknowledged", len(acked))
	}
	lost, dup := 0, 0
	for k := range acked {
		switch got[k] {
		case 0:
			lost++
		case 1:
		default:
			dup++
		}
	}
	if lost > 0 || dup > 0 || len(got) != len(acked) {
		t.Fatalf("of %d acknowledged entries %d were lost and %d duplicated; store has %d distinct", len(acked), lost, dup, len(got))
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// queryLines runs a log query through the HTTP API and returns the lines,
// in the order returned, prefixed by their job label.
func queryLines(t *testing.T, s *server, query string) []string {
	t.Helper()
	u := s.url("/loki/api/v1/query_range?direction=forward&limit=5000&start=" +
		fmt.Sprint(time.Now().Add(-time.Hour).UnixNano()) + "&end=" + fmt.Sprint(time.Now().Add(time.Minute).UnixNano()) +
		"&query=" + url.QueryEscape(query))
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("query %s: %d %s", query, resp.StatusCode, body)
	}
	var out struct {
		Status string
		Data   struct {
			ResultType string
			Result     []struct {
				Stream map[string]string
				Values [][]string
			}
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("query %s: %v in %s", query, err, body)
	}
	if out.Status != "success" || out.Data.ResultType != "streams" {
		t.Fatalf("query %s: %s", query, body)
	}
	var lines []string
	for _, r := range out.Data.Result {
		for _, v := range r.Values {
			lines = append(lines, r.Stream["job"]+" "+v[1])
		}
	}
	sort.Strings(lines)
	return lines
}

func TestQuerierProcessReadsIngesterMemoryAndTheStore(t *testing.T) {
	ingDir, qDir := t.TempDir(), t.TempDir()
	storeDir := filepath.Join(ingDir, "store")
	ing := startServer(t, ingDir, "-mode=ingester")
	q := startServer(t, qDir, "-mode=querier", "-store.filesystem.dir="+storeDir, "-querier.ingesters="+ing.addr)

	now := time.Now()
	if code, body := ing.post("/loki/api/v1/push", "", "", protoBody("split", now, "a", "b", "c")); code != http.StatusNoContent {
		t.Fatalf("push: %d %s", code, body)
	}
	want := "split a|split b|split c"
	if got := strings.Join(queryLines(t, q, `{job="split"}`), "|"); got != want {
		t.Fatalf("from ingester memory: got %q, want %q", got, want)
	}
	// After a flush the chunks are in the store and, for the retain period,
	// still in memory: the querier must return each entry once.
	if code, body := ing.post("/flush", "", "", nil); code != http.StatusNoContent {
		t.Fatalf("/flush: %d %s", code, body)
	}
	if got := strings.Join(queryLines(t, q, `{job="split"}`), "|"); got != want {
		t.Fatalf("from memory and store: got %q, want %q", got, want)
	}
	ing.stop()
	q.stop()
	storeOnly := startServer(t, qDir, "-mode=querier", "-store.filesystem.dir="+storeDir)
	if got := strings.Join(queryLines(t, storeOnly, `{job="split"} |= "b" or "c"`), "|"); got != "split b|split c" {
		t.Fatalf("from the store alone: got %q", got)
	}
	storeOnly.stop()
}
