package querier

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/ingester"
	"github.com/plgstack/plg/push"
)

// serveRemote serves ing's internal query API on loopback for the test's
// duration and returns a Remote reading it.
func serveRemote(t testing.TB, ing *ingester.Ingester) *Remote {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	ing.RegisterInternalRoutes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return NewRemote([]string{srv.URL}, srv.Client())
}

func startIngester(t testing.TB) *ingester.Ingester {
	t.Helper()
	cfg := ingester.DefaultConfig()
	cfg.WAL.Enabled = false
	cfg.FlushOnShutdown = false
	ing, err := ingester.New(cfg, nil, nil, t.TempDir(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ing.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ing.Stop(context.Background()) })
	return ing
}

func drain(t *testing.T, streams []ingester.StreamIterator) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, s := range streams {
		k := s.Labels.String()
		for s.Iter.Next() {
			e := s.Iter.At()
			out[k] = append(out[k], fmt.Sprintf("%d %s %s", e.Timestamp, e.Line, e.Metadata))
		}
		if err := s.Iter.Err(); err != nil {
			t.Fatal(err)
		}
		s.Iter.Close()
	}
	return out
}

func TestRemoteSelectEqualsInProcessSelect(t *testing.T) {
	ing := startIngester(t)
	now := time.Now()
	req := &push.Request{}
	for s := 0; s < 5; s++ {
		st := push.Stream{Labels: fmt.Sprintf(`{app="a%d", team="x"}`, s)}
		for i := 0; i < 200; i++ {
			e := push.Entry{Timestamp: now.Add(time.Duration(i*5+s) * time.Millisecond).UnixNano(), Line: []byte(fmt.Sprintf("stream %d line %d", s, i))}
			if i%50 == 0 {
				e.Metadata = labels.FromStrings("trace_id", fmt.Sprint(i))
			}
			st.Entries = append(st.Entries, e)
		}
		req.Streams = append(req.Streams, st)
	}
	if err := ing.Push(context.Background(), "t1", req); err != nil {
		t.Fatal(err)
	}
	remote := serveRemote(t, ing)

	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "team", "x"), labels.MustNewMatcher(labels.MatchNotEqual, "app", "a3")}
	from, through := now.Add(100*time.Millisecond).UnixNano(), now.Add(900*time.Millisecond).UnixNano()
	for _, dir := range []chunks.Direction{chunks.Forward, chunks.Backward} {
		local := drain(t, ing.Select(context.Background(), "t1", from, through, dir, ms, nil))
		rs, err := remote.Select(context.Background(), "t1", from, through, dir, ms, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := drain(t, rs)
		if len(local) != 4 || fmt.Sprint(got) != fmt.Sprint(local) {
			t.Fatalf("direction %v: remote select differs from in-process select:\nremote %v\nlocal  %v", dir, got, local)
		}
	}
	// Other tenants see nothing; series and stats agree.
	if rs, err := remote.Select(context.Background(), "t2", from, through, chunks.Forward, ms, nil, nil); err != nil || len(rs) != 0 {
		t.Fatalf("tenant t2 sees %d streams, err %v", len(rs), err)
	}
	series, err := remote.Series(context.Background(), "t1", 0, through, ms)
	if err != nil || len(series) != 4 {
		t.Fatalf("series = %v, %v", series, err)
	}
	st, err := remote.Stats(context.Background(), "t1", 0, through+int64(time.Hour), ms)
	if err != nil || st.Streams != 4 || st.Entries != 800 {
		t.Fatalf("stats = %+v, %v", st, err)
	}
}

func TestRemoteDropsTheEntriesOfClosedStreams(t *testing.T) {
	ing := startIngester(t)
	now := time.Now()
	req := &push.Request{}
	for s := range 4 {
		st := push.Stream{Labels: fmt.Sprintf(`{app="a%d"}`, s)}
		for i := range 300 {
			e := push.Entry{Timestamp: now.Add(time.Duration(i*4+s) * time.Millisecond).UnixNano(), Line: []byte(fmt.Sprintf("stream %d line %d", s, i))}
			if i%7 == 0 {
				e.Metadata = labels.FromStrings("trace_id", fmt.Sprint(i), "span", "x")
			}
			st.Entries = append(st.Entries, e)
		}
		req.Streams = append(req.Streams, st)
	}
	if err := ing.Push(context.Background(), "t1", req); err != nil {
		t.Fatal(err)
	}
	remote := serveRemote(t, ing)
	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "app", "a.*")}
	rs, err := remote.Select(context.Background(), "t1", 0, now.Add(time.Hour).UnixNano(), chunks.Backward, ms, nil, nil)
	if err != nil || len(rs) != 4 {
		t.Fatalf("%d streams, err %v", len(rs), err)
	}
	// The entries of all four streams come interleaved in one response:
	// reading one stream to its end reads past every other's. Those of
	// the closed streams must not be kept, those of the open one must.
	var last ingester.StreamIterator
	for _, s := range rs {
		if s.Labels.Get("app") == "a2" {
			last = s
			continue
		}
		s.Iter.Close()
	}
	got := drain(t, []ingester.StreamIterator{rs[0], rs[1], rs[2], rs[3]})
	if n := len(got[last.Labels.String()]); n != 300 || len(got) != 1 {
		t.Fatalf("read %d entries of the open stream (want 300) and %d streams (want 1)", n, len(got))
	}
	d := last.Iter.(*remoteIterator).d
	for id, q := range d.queues {
		if len(q) != 0 {
			t.Errorf("stream %d: %d entries queued after its iterator was closed", id, len(q))
		}
	}
}

// TestRemoteBoundsTheQueuesOfStreamsNotBeingRead reads a select response
// stream by stream, as a log query's batches and counts do, and at random
// across streams: the entries held for streams not being read stay within
// the budget (the queues dropped are fetched again, from where each
// stream was read to), and every stream still yields exactly what the
// ingester's own select does, equal timestamps included.
func TestRemoteBoundsTheQueuesOfStreamsNotBeingRead(t *testing.T) {
	ing := startIngester(t)
	now := time.Now()
	req := &push.Request{}
	for s := range 6 {
		st := push.Stream{Labels: fmt.Sprintf(`{app="a%d"}`, s)}
		for i := range 3000 {
			// Three entries per timestamp in each stream, and the same
			// timestamps across streams.
			e := push.Entry{Timestamp: now.Add(time.Duration(i/3) * time.Millisecond).UnixNano(),
				Line: []byte(fmt.Sprintf("stream %d line %d padding padding padding padding padding padding", s, i))}
			if i%11 == 0 {
				e.Metadata = labels.FromStrings("trace_id", fmt.Sprint(i))
			}
			st.Entries = append(st.Entries, e)
		}
		req.Streams = append(req.Streams, st)
	}
	// A stream whose labels hold another's: a refetch of {app="a1"} by
	// equality matchers selects it too, and must not read it.
	req.Streams = append(req.Streams, push.Stream{Labels: `{app="a1", extra="x"}`, Entries: []push.Entry{{Timestamp: now.UnixNano(), Line: []byte("superset")}}})
	if err := ing.Push(context.Background(), "t1", req); err != nil {
		t.Fatal(err)
	}
	remote := serveRemote(t, ing)
	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "app", "a.*")}
	through := now.Add(time.Hour).UnixNano()
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		budget int64
		order  string
	}{{0, "stream by stream"}, {32 << 10, "stream by stream"}, {32 << 10, "at random"}, {4 << 10, "at random"}} {
		for _, dir := range []chunks.Direction{chunks.Forward, chunks.Backward} {
			remote.queueBytes = tc.budget
			rs, err := remote.Select(context.Background(), "t1", 0, through, dir, ms, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			shared := rs[0].Iter.(*remoteIterator).d
			var peak int64
			got := map[string][]string{}
			read := func(s ingester.StreamIterator, n int) bool {
				for range n {
					if !s.Iter.Next() {
						return false
					}
					e := s.Iter.At()
					got[s.Labels.String()] = append(got[s.Labels.String()], fmt.Sprintf("%d %s %s", e.Timestamp, e.Line, e.Metadata))
					shared.mu.Lock()
					peak = max(peak, shared.queued)
					shared.mu.Unlock()
				}
				return true
			}
			if tc.order == "stream by stream" {
				for _, s := range rs {
					read(s, math.MaxInt)
				}
			} else {
				live := slices.Clone(rs)
				for len(live) > 0 {
					i := r.IntN(len(live))
					if !read(live[i], r.IntN(400)) {
						live = slices.Delete(live, i, i+1)
					}
				}
			}
			for _, s := range rs {
				if err := s.Iter.Err(); err != nil {
					t.Fatal(err)
				}
				s.Iter.Close()
			}
			want := drain(t, ing.Select(context.Background(), "t1", 0, through, dir, ms, nil))
			what := fmt.Sprintf("%s, budget %d, %s", dir, tc.budget, tc.order)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				for k := range want {
					if fmt.Sprint(got[k]) != fmt.Sprint(want[k]) {
						t.Fatalf("%s: stream %s: %d entries differ from the ingester's %d", what, k, len(got[k]), len(want[k]))
					}
				}
				t.Fatalf("%s: streams %d, want %d", what, len(got), len(want))
			}
			t.Logf("%s: at most %d bytes of entries queued", what, peak)
			switch {
			case tc.budget == 0 && peak < 1<<20:
				t.Errorf("%s: at most %d bytes queued without a budget: the test does not make queues grow", what, peak)
			case tc.budget > 0 && peak > tc.budget+256:
				t.Errorf("%s: %d bytes queued, over the budget of %d", what, peak, tc.budget)
			}
		}
	}
}

func TestRemoteReportsAnUnreachableIngester(t *testing.T) {
	remote := NewRemote([]string{"127.0.0.1:1"}, nil)
	_, err := remote.Select(context.Background(), "t", 0, 1, chunks.Forward, nil, nil, nil)
	if err == nil {
		t.Fatal("select against a closed port succeeded")
	}
}

// FuzzDemux feeds the select response reader arbitrary frames, with some
// streams closed before reading: it must fail cleanly, never panic, and
// never queue an entry for a closed stream.
func FuzzDemux(f *testing.F) {
	var seed []byte
	for id, lbs := range []string{`{app="a"}`, `{app="b"}`} {
		seed = append(seed, ingester.FrameStream)
		seed = binary.AppendUvarint(seed, uint64(id))
		seed = binary.AppendUvarint(seed, uint64(len(lbs)))
		seed = append(seed, lbs...)
	}
	seed = append(seed, ingester.FrameHeadersEnd)
	for i := range 6 {
		seed = append(seed, ingester.FrameEntry)
		seed = binary.AppendUvarint(seed, uint64(i%2))
		seed = binary.AppendVarint(seed, int64(100-i))
		seed = binary.AppendUvarint(seed, 4)
		seed = append(seed, "line"...)
		seed = binary.AppendUvarint(seed, uint64(i%3))
		for range i % 3 {
			seed = append(seed, 1, 'k', 1, 'v')
		}
	}
	seed = append(seed, ingester.FrameEnd, 0)
	f.Add(seed, byte(1), uint16(0))
	f.Add(seed, byte(0), uint16(0))
	f.Add(seed[:len(seed)-7], byte(2), uint16(0))
	f.Add(seed, byte(0), uint16(60))
	f.Fuzz(func(t *testing.T, data []byte, closeMask byte, budget uint16) {
		// With a budget, queues are shed; without a Remote to ask again,
		// a shed stream ends with an error.
		d := &demux{addr: "fuzz", body: io.NopCloser(bytes.NewReader(nil)), r: bufio.NewReader(bytes.NewReader(data)), budget: int64(budget)}
		streams, err := d.readHeaders()
		if err != nil {
			return
		}
		d.streams = streams
		its := make([]*remoteIterator, len(streams))
		for id := range streams {
			its[id] = &remoteIterator{d: d, id: id}
		}
		for id, it := range its {
			if id < 8 && closeMask&(1<<id) != 0 {
				it.Close()
			}
		}
		for _, it := range its {
			for it.Next() {
			}
			var queued int64
			for id, q := range d.queues {
				if d.closed[id] && len(q) > 0 {
					t.Fatalf("stream %d: %d entries queued after its iterator was closed", id, len(q))
				}
				for _, e := range q {
					queued += entrySize(e)
				}
			}
			if queued != d.queued {
				t.Fatalf("%d bytes queued, the count says %d", queued, d.queued)
			}
			if d.budget > 0 && d.queued > d.budget+entrySize(chunks.Entry{Line: make([]byte, 64<<20)}) {
				t.Fatalf("%d bytes queued, over the budget of %d", d.queued, d.budget)
			}
		}
	})
}
