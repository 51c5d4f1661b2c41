package ingester

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/plgstack/plg/chunks/index"
	"github.com/plgstack/plg/push"
)

// gatedStore holds every PutPack until open is called, like an object
// store that stopped answering.
type gatedStore struct {
	*fakeStore
	gate chan struct{}
	once sync.Once
}

func newGatedStore() *gatedStore {
	return &gatedStore{fakeStore: newFakeStore(), gate: make(chan struct{})}
}

func (g *gatedStore) open() { g.once.Do(func() { close(g.gate) }) }

func (g *gatedStore) PutPack(ctx context.Context, tenant, writer string, refs []index.ChunkRef, data [][]byte) ([]index.ChunkRef, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.fakeStore.PutPack(ctx, tenant, writer, refs, data)
}

// backpressureIngester starts an ingester (flush loop running) with a
// 1 MiB chunk memory budget over a store that accepts nothing until opened.
func backpressureIngester(t *testing.T, maxWait time.Duration) (*Ingester, *gatedStore) {
	t.Helper()
	st := newGatedStore()
	ing, err := New(memTestConfig(), nil, st, t.TempDir(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ing.pushMaxWait = maxWait
	if err := ing.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.open()
		if err := ing.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return ing, st
}

// pusher makes pushes of random lines over 40 streams and remembers them.
type pusher struct {
	r      *rand.Rand
	now    time.Time
	n      int
	pushed []string
}

func newPusher() *pusher {
	return &pusher{r: rand.New(rand.NewPCG(3, 4)), now: time.Now().Add(-time.Hour)}
}

func (p *pusher) next() (*push.Request, []string) {
	var ss []push.Stream
	var lines []string
	for s := 0; s < 40; s++ {
		var es []push.Entry
		for k := 0; k < 20; k++ {
			line := hexLine(p.r, s, p.n)
			es = append(es, entry(p.now.Add(time.Duration(p.n)*time.Millisecond), line))
			lines = append(lines, line)
			p.n++
		}
		ss = append(ss, pstream(fmt.Sprintf(`{job="j%d"}`, s), es...))
	}
	return req(ss...), lines
}

// fillPastWaitLimit pushes until the unflushed chunk memory is over the
// limit at which pushes wait.
func (p *pusher) fillPastWaitLimit(t *testing.T, ing *Ingester) {
	t.Helper()
	limit := ing.pushWaitLimit()
	if limit <= ing.memBudget {
		t.Fatalf("push wait limit %d, budget %d: want a limit above the budget", limit, ing.memBudget)
	}
	for k := 0; ing.mem.unflushed.Load() <= limit; k++ {
		if k == 1000 {
			t.Fatalf("%d bytes unflushed after %d pushes, wait limit %d", ing.mem.unflushed.Load(), k, limit)
		}
		r, lines := p.next()
		if err := ing.Push(context.Background(), "fake", r); err != nil {
			t.Fatal(err)
		}
		p.pushed = append(p.pushed, lines...)
	}
}

func TestPushWaitsWhileChunkMemoryIsOverBudgetUntilAFlushFreesIt(t *testing.T) {
	ing, st := backpressureIngester(t, time.Minute)
	p := newPusher()
	p.fillPastWaitLimit(t, ing)

	r, lines := p.next()
	done := make(chan error, 1)
	go func() { done <- ing.Push(context.Background(), "fake", r) }()
	select {
	case err := <-done:
		t.Fatalf("push returned (%v) with %d bytes unflushed, over the wait limit %d, and the store blocked",
			err, ing.mem.unflushed.Load(), ing.pushWaitLimit())
	case <-time.After(300 * time.Millisecond):
	}
	if got := len(readAll(t, ing, "fake")); got != len(p.pushed) {
		t.Fatalf("%d lines in memory while the push waits, want the %d pushed before it: a waiting push must append nothing", got, len(p.pushed))
	}

	st.open()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("push still waiting 10 s after the store accepted uploads again")
	}
	p.pushed = append(p.pushed, lines...)
	if got := testutil.ToFloat64(ing.m.pushWaitTimeouts); got != 0 {
		t.Fatalf("%g wait timeouts, want 0", got)
	}
	if err := ing.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := st.lines(t), multiset(p.pushed); !maps.Equal(got, want) {
		t.Fatalf("store holds %d distinct lines, want %d", len(got), len(want))
	}
}

func TestPushOverBudgetIsAcceptedAfterTheLongestWait(t *testing.T) {
	const maxWait = 150 * time.Millisecond
	ing, _ := backpressureIngester(t, maxWait)
	p := newPusher()
	p.fillPastWaitLimit(t, ing)
	r, lines := p.next()
	begin := time.Now()
	if err := ing.Push(context.Background(), "fake", r); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(begin); waited < maxWait {
		t.Fatalf("push returned after %s, before the longest wait %s, with the store blocked", waited, maxWait)
	}
	if got := testutil.ToFloat64(ing.m.pushWaitTimeouts); got != 1 {
		t.Fatalf("%g wait timeouts, want 1", got)
	}
	p.pushed = append(p.pushed, lines...)
	if got, want := multiset(readAll(t, ing, "fake")), multiset(p.pushed); !maps.Equal(got, want) {
		t.Fatalf("%d distinct lines in memory, want all %d pushed", len(got), len(want))
	}
}

func TestPushAbandonedWhileWaitingForMemoryAppendsNothing(t *testing.T) {
	ing, _ := backpressureIngester(t, time.Minute)
	p := newPusher()
	p.fillPastWaitLimit(t, ing)
	r, _ := p.next()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := ing.Push(ctx, "fake", r)
	var perr *Error
	if !errors.As(err, &perr) || perr.Status != http.StatusServiceUnavailable {
		t.Fatalf("push whose context ended while waiting: %v, want a 503 *Error", err)
	}
	if got, want := multiset(readAll(t, ing, "fake")), multiset(p.pushed); !maps.Equal(got, want) {
		t.Fatalf("%d distinct lines in memory, want only the %d acknowledged", len(got), len(want))
	}
}

func TestPushWithoutFlushLoopNeverWaits(t *testing.T) {
	// Tests and WAL replay drive flushes themselves: with no flush loop
	// to free memory, waiting could only time out.
	ing := readyIngester(t, memTestConfig(), newFakeStore(), nil)
	if got := ing.pushWaitLimit(); got != 0 {
		t.Fatalf("push wait limit %d without a flush loop, want 0", got)
	}
}

func TestHTTPPushWaitsForADecodeSlotAndHoldsItOnlyUntilTheWALBatch(t *testing.T) {
	cfg := testConfig()
	ing := startIngester(t, cfg, nil, newFakeStore(), t.TempDir())
	t.Cleanup(func() { ing.Stop(context.Background()) })
	gin.SetMode(gin.ReleaseMode)
	router := gin.New()
	ing.RegisterRoutes(router, false)
	now := time.Now()
	send := func(ctx context.Context, line string) int {
		body := push.EncodeBody(req(pstream(`{job="slots"}`, entry(now, line))))
		r := httptest.NewRequest(http.MethodPost, "/loki/api/v1/push", bytes.NewReader(body)).WithContext(ctx)
		r.Header.Set("Content-Type", "application/x-protobuf")
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, r)
		return rec.Code
	}
	// Every slot busy: a push waits, and one whose client gives up is
	// refused with nothing appended.
	for range cap(ing.decodeSlots) {
		ing.decodeSlots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if code := send(ctx, "abandoned"); code != http.StatusServiceUnavailable {
		t.Fatalf("push with every decode slot busy: %d, want 503 once its context ends", code)
	}
	if got := readAll(t, ing, "fake"); len(got) != 0 {
		t.Fatalf("an abandoned push appended %q", got)
	}
	// A slot frees up: the waiting push goes ahead.
	done := make(chan int, 1)
	go func() { done <- send(context.Background(), "waited") }()
	select {
	case code := <-done:
		t.Fatalf("push returned %d with every decode slot busy", code)
	case <-time.After(100 * time.Millisecond):
	}
	<-ing.decodeSlots
	if code := <-done; code != http.StatusNoContent {
		t.Fatalf("push after a slot freed: %d, want 204", code)
	}
	for range cap(ing.decodeSlots) - 1 {
		<-ing.decodeSlots
	}
	// Pushes give their slot back, on success and on failure alike.
	for k := range 3 * cap(ing.decodeSlots) {
		if code := send(context.Background(), fmt.Sprintf("line %d", k)); code != http.StatusNoContent {
			t.Fatalf("push %d: %d", k, code)
		}
	}
	bad := httptest.NewRequest(http.MethodPost, "/loki/api/v1/push", bytes.NewReader([]byte("not snappy")))
	for range 2 * cap(ing.decodeSlots) {
		router.ServeHTTP(httptest.NewRecorder(), bad.Clone(context.Background()))
	}
	if n := len(ing.decodeSlots); n != 0 {
		t.Fatalf("%d decode slots still held after every push returned", n)
	}
	if got := len(readAll(t, ing, "fake")); got != 1+3*cap(ing.decodeSlots) {
		t.Fatalf("%d lines held, want %d", got, 1+3*cap(ing.decodeSlots))
	}
}
