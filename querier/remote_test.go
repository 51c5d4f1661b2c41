package querier

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
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
	f.Add(seed, byte(1))
	f.Add(seed, byte(0))
	f.Add(seed[:len(seed)-7], byte(2))
	f.Fuzz(func(t *testing.T, data []byte, closeMask byte) {
		d := &demux{addr: "fuzz", body: io.NopCloser(bytes.NewReader(nil)), r: bufio.NewReader(bytes.NewReader(data))}
		streams, err := d.readHeaders()
		if err != nil {
			return
		}
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
			for id, q := range d.queues {
				if d.closed[id] && len(q) > 0 {
					t.Fatalf("stream %d: %d entries queued after its iterator was closed", id, len(q))
				}
			}
		}
	})
}
