package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/agent/entry"
	"github.com/plgstack/plg/push"
)

// acks records acknowledged sequence numbers.
type acks struct {
	mu   sync.Mutex
	seqs []uint64
}

func (a *acks) Ack(first, last uint64) {
	a.mu.Lock()
	for s := first; s <= last; s++ {
		a.seqs = append(a.seqs, s)
	}
	a.mu.Unlock()
}

func (a *acks) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seqs)
}

// ingester is an httptest push endpoint answering with scripted statuses
// (the last one repeats) and recording what it accepted.
type ingester struct {
	mu       sync.Mutex
	statuses []int
	attempts int
	tenants  []string
	streams  map[string][]string // labels -> lines, accepted only
	srv      *httptest.Server
}

func newIngester(t *testing.T, statuses ...int) *ingester {
	in := &ingester{statuses: statuses, streams: map[string][]string{}}
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/loki/api/v1/push" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "bad path or content type", http.StatusNotFound)
			return
		}
		var req push.Request
		if err := push.ReadHTTP(r, 0, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		in.mu.Lock()
		defer in.mu.Unlock()
		status := http.StatusNoContent
		if len(in.statuses) > 0 {
			status = in.statuses[min(in.attempts, len(in.statuses)-1)]
		}
		in.attempts++
		if status/100 == 2 {
			tenant := r.Header.Get("X-Scope-OrgID")
			in.tenants = append(in.tenants, tenant)
			for _, s := range req.Streams {
				key := s.Labels
				if tenant != "" {
					key = tenant + " " + key
				}
				for _, e := range s.Entries {
					in.streams[key] = append(in.streams[key], string(e.Line))
				}
			}
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(in.srv.Close)
	return in
}

func (in *ingester) url() string { return in.srv.URL + "/loki/api/v1/push" }

func (in *ingester) snapshot() (int, map[string][]string, []string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	m := map[string][]string{}
	for k, v := range in.streams {
		m[k] = append([]string(nil), v...)
	}
	return in.attempts, m, append([]string(nil), in.tenants...)
}

func testConfig(url string) Config {
	var c Config
	_ = c.UnmarshalYAML(func(any) error { return nil }) // defaults
	c.URL = url
	c.BatchWait = 20 * time.Millisecond
	return c
}

// runClient runs c and returns a function that closes it and waits.
func runClient(c *Client, ctx context.Context) func() {
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	return func() { c.Close(); <-done }
}

func ent(a *acks, seq uint64, line string, lbls ...string) entry.Entry {
	return entry.Entry{
		Labels:    labels.FromStrings(lbls...),
		Timestamp: int64(seq) + 1,
		Line:      line,
		Ticket:    entry.NewTicket(a, seq),
	}
}

func TestClientGroupsStreamsPerTenantAndAcks(t *testing.T) {
	in := newIngester(t)
	c, err := New(testConfig(in.url()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runClient(c, context.Background())
	a := &acks{}
	ctx := context.Background()
	c.Handle(ctx, ent(a, 0, "a1", "app", "a"))
	c.Handle(ctx, ent(a, 1, "b1", "app", "b"))
	c.Handle(ctx, ent(a, 2, "a2", "app", "a"))
	e := ent(a, 3, "t1", "app", "a")
	e.Tenant = "team-x"
	c.Handle(ctx, e)
	stop()

	_, streams, tenants := in.snapshot()
	want := map[string][]string{`{app="a"}`: {"a1", "a2"}, `{app="b"}`: {"b1"}, `team-x {app="a"}`: {"t1"}}
	for k, v := range want {
		if strings.Join(streams[k], ",") != strings.Join(v, ",") {
			t.Errorf("stream %s: got %v, want %v", k, streams[k], v)
		}
	}
	sort.Strings(tenants)
	if strings.Join(tenants, ",") != ",team-x" {
		t.Errorf("tenants %q, want one push without and one with team-x", tenants)
	}
	if a.count() != 4 {
		t.Errorf("acked %d entries, want 4", a.count())
	}
}

func TestClientRetries(t *testing.T) {
	tests := []struct {
		name         string
		statuses     []int
		maxRetries   int
		dropLimited  bool
		wantAttempts int
		wantSent     int
		wantDropped  map[string]float64
	}{
		{name: "429 and 500 are retried until 2xx", statuses: []int{429, 500, 503, 204}, maxRetries: 10, wantAttempts: 4, wantSent: 2},
		{name: "400 is dropped without retry", statuses: []int{400}, maxRetries: 10, wantAttempts: 1, wantDropped: map[string]float64{ReasonRejected: 2}},
		{name: "413 is dropped without retry", statuses: []int{413}, maxRetries: 10, wantAttempts: 1, wantDropped: map[string]float64{ReasonRejected: 2}},
		{name: "5xx forever is dropped after max_retries", statuses: []int{500}, maxRetries: 3, wantAttempts: 4, wantDropped: map[string]float64{ReasonRetriesExhausted: 2}},
		{name: "429 dropped at once with drop_rate_limited_batches", statuses: []int{429}, maxRetries: 3, dropLimited: true, wantAttempts: 1, wantDropped: map[string]float64{ReasonRateLimited: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := newIngester(t, tc.statuses...)
			cfg := testConfig(in.url())
			cfg.BackoffConfig.MaxRetries = tc.maxRetries
			cfg.DropRateLimitedBatches = tc.dropLimited
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			c, err := New(cfg, m, nil)
			if err != nil {
				t.Fatal(err)
			}
			var slept []time.Duration
			c.sleep = func(_ context.Context, d time.Duration) bool { slept = append(slept, d); return true }
			stop := runClient(c, context.Background())
			a := &acks{}
			c.Handle(context.Background(), ent(a, 0, "x", "app", "a"))
			c.Handle(context.Background(), ent(a, 1, "y", "app", "a"))
			stop()

			attempts, _, _ := in.snapshot()
			if attempts != tc.wantAttempts {
				t.Errorf("attempts %d, want %d", attempts, tc.wantAttempts)
			}
			if got := testutil.ToFloat64(m.SentEntries); got != float64(tc.wantSent) {
				t.Errorf("sent %v, want %d", got, tc.wantSent)
			}
			for reason, want := range tc.wantDropped {
				if got := testutil.ToFloat64(m.DroppedEntries.WithLabelValues(reason)); got != want {
					t.Errorf("dropped{%s} = %v, want %v", reason, got, want)
				}
			}
			if a.count() != 2 {
				t.Errorf("acked %d, want 2: a batch is acknowledged when sent or given up", a.count())
			}
			if len(slept) != tc.wantAttempts-1 {
				t.Errorf("slept %d times, want %d", len(slept), tc.wantAttempts-1)
			}
		})
	}
}

func TestClientBackoffDoublesUpToMax(t *testing.T) {
	in := newIngester(t, 500)
	cfg := testConfig(in.url())
	cfg.BackoffConfig = BackoffConfig{MinPeriod: 500 * time.Millisecond, MaxPeriod: 3 * time.Second, MaxRetries: 5}
	c, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var slept []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) bool { slept = append(slept, d); return true }
	stop := runClient(c, context.Background())
	c.Handle(context.Background(), ent(&acks{}, 0, "x", "a", "b"))
	stop()
	// Each wait is jittered within [d/2, d] of the doubling backoff d.
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
	if len(slept) != len(want) {
		t.Fatalf("slept %v, want jittered %v", slept, want)
	}
	for i := range want {
		if slept[i] < want[i]/2 || slept[i] > want[i] {
			t.Fatalf("slept %v, want each within [d/2, d] of %v", slept, want)
		}
	}
}

func TestJitterSpreadsWaitsOverTheUpperHalf(t *testing.T) {
	d := time.Second
	seen := map[time.Duration]bool{}
	for range 200 {
		j := jitter(d)
		if j < d/2 || j > d {
			t.Fatalf("jitter(%v) = %v, outside [d/2, d]", d, j)
		}
		seen[j] = true
	}
	if len(seen) < 100 {
		t.Fatalf("jitter gave only %d distinct waits in 200 draws", len(seen))
	}
}

func TestClientGivesUpAfterMaxElapsedWithAFinalAttemptAtTheBound(t *testing.T) {
	tests := []struct {
		name        string
		backoff     BackoffConfig
		wantElapsed time.Duration
	}{
		// Not DefaultMaxRetries: its 10 jittered waits add up to between
		// 4m16s and 8m32s, so they may end first.
		{"default max_elapsed: five minutes although max_retries would allow more",
			BackoffConfig{MinPeriod: DefaultMinBackoff, MaxPeriod: DefaultMaxBackoff, MaxRetries: 20, MaxElapsed: DefaultMaxElapsed}, 5 * time.Minute},
		{"max_retries 0: the time bound alone",
			BackoffConfig{MinPeriod: time.Second, MaxPeriod: 10 * time.Second, MaxElapsed: time.Minute}, time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := newIngester(t, 503)
			cfg := testConfig(in.url())
			cfg.BackoffConfig = tc.backoff
			m := NewMetrics(nil)
			c, err := New(cfg, m, nil)
			if err != nil {
				t.Fatal(err)
			}
			clock := time.Unix(1e9, 0)
			c.now = func() time.Time { return clock }
			c.sleep = func(_ context.Context, d time.Duration) bool { clock = clock.Add(d); return true }
			start := clock
			a := &acks{}
			stop := runClient(c, context.Background())
			c.Handle(context.Background(), ent(a, 0, "x", "a", "b"))
			stop()
			lastAttempt := clock.Sub(start)
			if lastAttempt != tc.wantElapsed {
				t.Errorf("last attempt %v after the first, want exactly %v", lastAttempt, tc.wantElapsed)
			}
			if got := testutil.ToFloat64(m.DroppedEntries.WithLabelValues(ReasonRetriesExhausted)); got != 1 {
				t.Errorf("dropped{retries_exhausted} = %v, want 1", got)
			}
			if a.count() != 1 {
				t.Error("a batch given up must be acknowledged")
			}
		})
	}
}

func TestClientMaxElapsedZeroWithMaxRetriesZeroRetriesUntilSuccess(t *testing.T) {
	statuses := make([]int, 200)
	for i := range statuses {
		statuses[i] = 503
	}
	in := newIngester(t, append(statuses, 204)...)
	cfg := testConfig(in.url())
	cfg.BackoffConfig = BackoffConfig{MinPeriod: time.Second, MaxPeriod: time.Hour}
	c, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1e9, 0)
	c.now = func() time.Time { return clock }
	c.sleep = func(_ context.Context, d time.Duration) bool { clock = clock.Add(d); return true }
	stop := runClient(c, context.Background())
	c.Handle(context.Background(), ent(&acks{}, 0, "x", "a", "b"))
	stop()
	if _, s, _ := in.snapshot(); len(s[`{a="b"}`]) != 1 {
		t.Fatalf("entry not delivered after 200 failures with no retry bound: %v", s)
	}
}

func TestClientBackPressureBoundsPendingBytesAndLosesNothing(t *testing.T) {
	// The ingester refuses everything until open is set.
	var mu sync.Mutex
	refusing := true
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req push.Request
		if err := push.ReadHTTP(r, 0, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if refusing {
			http.Error(w, "ingester down", http.StatusServiceUnavailable)
			return
		}
		for _, s := range req.Streams {
			for _, e := range s.Entries {
				got = append(got, string(e.Line))
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	const lineSize, limit, total = 1000, 64 << 10, 2000
	cfg := testConfig(srv.URL + "/loki/api/v1/push")
	cfg.BatchWait = 5 * time.Millisecond
	cfg.BatchSize = 16 << 10
	cfg.MaxPendingBytes = limit
	cfg.BackoffConfig = BackoffConfig{MinPeriod: time.Millisecond, MaxPeriod: 10 * time.Millisecond}
	m := NewMetrics(nil)
	c, err := New(cfg, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runClient(c, context.Background())
	a := &acks{}
	var handed sync.WaitGroup
	handed.Add(1)
	var n atomic.Int64
	go func() {
		defer handed.Done()
		pad := strings.Repeat("x", lineSize-5)
		for i := range total {
			c.Handle(context.Background(), ent(a, uint64(i), fmt.Sprintf("%05d", i)+pad, "app", "a"))
			n.Add(1)
		}
	}()

	// While refused, the producer stalls and the held bytes stay bounded.
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(m.Retries) < 20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stalled := n.Load()
	time.Sleep(50 * time.Millisecond)
	if now := n.Load(); now != stalled || now >= total {
		t.Fatalf("producer not paused while the ingester refuses: %d then %d of %d handed", stalled, now, total)
	}
	if held := c.pending.held(); held > limit {
		t.Fatalf("holding %d bytes, above max_pending_bytes %d", held, limit)
	}
	if g := testutil.ToFloat64(m.PendingBytes); g <= 0 || g > limit {
		t.Fatalf("plg_agent_pending_bytes = %v, want in (0, %d]", g, limit)
	}
	if a.count() != 0 {
		t.Fatalf("%d entries acknowledged while the ingester refused", a.count())
	}

	mu.Lock()
	refusing = false
	mu.Unlock()
	handed.Wait()
	stop()

	mu.Lock()
	defer mu.Unlock()
	if len(got) != total {
		t.Fatalf("ingester received %d entries, want %d", len(got), total)
	}
	for i, l := range got {
		if want := fmt.Sprintf("%05d", i); l[:5] != want {
			t.Fatalf("entry %d is %q..., want %s...: lost, duplicated or reordered", i, l[:5], want)
		}
	}
	if a.count() != total {
		t.Fatalf("acknowledged %d, want %d", a.count(), total)
	}
	if held := c.pending.held(); held != 0 {
		t.Fatalf("%d bytes still held after everything was acknowledged", held)
	}
	if got := testutil.ToFloat64(m.DroppedEntries.WithLabelValues(ReasonRetriesExhausted)); got != 0 {
		t.Fatalf("%v entries dropped", got)
	}
}
