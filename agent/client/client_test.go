package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
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
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
	if len(slept) != len(want) {
		t.Fatalf("slept %v, want %v", slept, want)
	}
	for i := range want {
		if slept[i] != want[i] {
			t.Fatalf("slept %v, want %v", slept, want)
		}
	}
}

func TestClientConnectionErrorIsRetried(t *testing.T) {
	in := newIngester(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // connection refused
	cfg := testConfig(dead.URL + "/loki/api/v1/push")
	c, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tries := 0
	c.sleep = func(context.Context, time.Duration) bool {
		tries++
		if tries == 2 { // the ingester comes back
			c.cfg.URL = in.url()
		}
		return true
	}
	a := &acks{}
	stop := runClient(c, context.Background())
	c.Handle(context.Background(), ent(a, 0, "x", "a", "b"))
	stop()
	if _, s, _ := in.snapshot(); len(s[`{a="b"}`]) != 1 {
		t.Fatalf("entry not delivered after connection errors: %v", s)
	}
	if a.count() != 1 {
		t.Fatal("entry not acknowledged")
	}
}

func TestClientShutdownDuringRetriesLeavesEntriesUnacknowledged(t *testing.T) {
	in := newIngester(t, 503)
	c, err := New(testConfig(in.url()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.sleep = func(ctx context.Context, d time.Duration) bool { cancel(); return sleepCtx(ctx, d) }
	a := &acks{}
	stop := runClient(c, ctx)
	c.Handle(context.Background(), ent(a, 0, "x", "a", "b"))
	stop()
	if a.count() != 0 {
		t.Fatal("an entry that never reached an ingester was acknowledged")
	}
}

func TestClientFlushesAtBatchSize(t *testing.T) {
	in := newIngester(t)
	cfg := testConfig(in.url())
	cfg.BatchWait = time.Hour
	cfg.BatchSize = 10
	c, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runClient(c, context.Background())
	a := &acks{}
	for i, l := range []string{"123456", "789012", "345"} {
		c.Handle(context.Background(), ent(a, uint64(i), l, "a", "b"))
	}
	// The first entry's batch is sent when the second would overflow it,
	// long before batchwait.
	deadline := time.Now().Add(5 * time.Second)
	for a.count() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if a.count() != 1 {
		t.Fatalf("acked %d before batchwait, want 1", a.count())
	}
	stop()
	if attempts, _, _ := in.snapshot(); attempts != 2 {
		t.Fatalf("requests %d, want 2", attempts)
	}
}

func TestClientMaxStreamsDropsEntriesOfExtraStreams(t *testing.T) {
	in := newIngester(t)
	cfg := testConfig(in.url())
	cfg.MaxStreams = 2
	m := NewMetrics(prometheus.NewRegistry())
	c, err := New(cfg, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runClient(c, context.Background())
	a := &acks{}
	for i, app := range []string{"a", "b", "c", "a"} {
		c.Handle(context.Background(), ent(a, uint64(i), "l"+app, "app", app))
	}
	stop()
	_, s, _ := in.snapshot()
	if len(s) != 2 || len(s[`{app="a"}`]) != 2 || len(s[`{app="c"}`]) != 0 {
		t.Fatalf("streams %v: want a and b only", s)
	}
	if v := testutil.ToFloat64(m.DroppedEntries.WithLabelValues(ReasonStreamLimited)); v != 1 {
		t.Fatalf("stream_limited drops %v, want 1", v)
	}
	if a.count() != 4 {
		t.Fatalf("acked %d, want 4 (dropped entries are acknowledged)", a.count())
	}
}

func TestClientExternalLabels(t *testing.T) {
	in := newIngester(t)
	cfg := testConfig(in.url())
	cfg.ExternalLabels = map[string]string{"cluster": "prod", "app": "ext"}
	c, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runClient(c, context.Background())
	c.Handle(context.Background(), ent(&acks{}, 0, "x", "app", "mine"))
	stop()
	if _, s, _ := in.snapshot(); len(s[`{app="mine", cluster="prod"}`]) != 1 {
		t.Fatalf("streams %v: want external label added and entry label kept", s)
	}
}

func TestMultiSendsAStreamAlwaysToTheSameClient(t *testing.T) {
	var clients []*Client
	for i := 0; i < 3; i++ {
		c, err := New(testConfig("http://ingester-"+string(rune('a'+i))+":3100/loki/api/v1/push"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	m := NewMulti(clients...)
	seen := map[int]bool{}
	for i := 0; i < 50; i++ {
		e := entry.Entry{Labels: labels.FromStrings("pod", "p"+string(rune('a'+i%26)), "n", string(rune('a'+i/26)))}
		first := m.Pick(&e)
		for j := 0; j < 3; j++ {
			e2 := entry.Entry{Labels: labels.FromStrings("pod", "p"+string(rune('a'+i%26)), "n", string(rune('a'+i/26))), Line: "other"}
			if m.Pick(&e2) != first {
				t.Fatal("the same stream went to different clients")
			}
		}
		seen[first] = true
	}
	if len(seen) != 3 {
		t.Fatalf("50 streams used %d of 3 clients", len(seen))
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{name: "defaults are valid", mod: func(*Config) {}},
		{name: "url is required", mod: func(c *Config) { c.URL = "" }, wantErr: "url"},
		{name: "url must be http", mod: func(c *Config) { c.URL = "ftp://x" }, wantErr: "url"},
		{name: "max below min backoff", mod: func(c *Config) { c.BackoffConfig.MaxPeriod = time.Millisecond }, wantErr: "max_period"},
		{name: "negative retries", mod: func(c *Config) { c.BackoffConfig.MaxRetries = -1 }, wantErr: "max_retries"},
		{name: "two bearer sources", mod: func(c *Config) { c.BearerToken, c.BearerTokenFile = "a", "b" }, wantErr: "bearer_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig("http://localhost:3100/loki/api/v1/push")
			tc.mod(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
}
