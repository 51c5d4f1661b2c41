package querier

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/ingester"
	"github.com/plgstack/plg/push"
	"github.com/plgstack/plg/querier/logql"
)

// TestIngesterSummariesMatchTheEntries checks that count and bytes queries
// answered from an in-process ingester's chunks with summaries (columns of
// sealed blocks, the head's entries) equal the same queries read entry by
// entry (a no-op line filter turns summaries off), with out-of-order
// pushes, structured metadata and several chunks per stream.
func TestIngesterSummariesMatchTheEntries(t *testing.T) {
	cfg := ingester.DefaultConfig()
	cfg.WAL.Enabled = false
	cfg.FlushOnShutdown = false
	cfg.ChunkBlockSize = 2 << 10
	cfg.ChunkTargetSize = 24 << 10
	lim := ingester.DefaultLimits()
	lim.RejectOldSamples = false
	lim.CreationGracePeriod = 0
	ing, err := ingester.New(cfg, &ingester.Overrides{Defaults: lim}, nil, t.TempDir(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ing.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ing.Stop(context.Background()) })
	r := rand.New(rand.NewPCG(5, 6))
	base := time.Now().Add(-time.Hour).Truncate(time.Minute).UnixNano()
	var last int64
	for s := range 6 {
		req := &push.Request{}
		st := push.Stream{Labels: fmt.Sprintf(`{app="a%d", ns="n%d"}`, s, s%2)}
		ts := base
		for k := range 1500 {
			ts += int64(1+r.IntN(80)) * int64(time.Millisecond)
			at := ts
			if s == 3 && k%100 == 0 { // late entries: blocks overlap
				at -= int64(2 * time.Second)
			}
			e := push.Entry{Timestamp: at, Line: []byte(strings.Repeat("z", 1+r.IntN(200)))}
			if s == 4 && k%7 == 0 {
				e.Metadata = labels.FromStrings("ns", "meta")
			}
			st.Entries = append(st.Entries, e)
		}
		last = max(last, ts)
		req.Streams = append(req.Streams, st)
		if err := ing.Push(context.Background(), "fake", req); err != nil {
			t.Fatal(err)
		}
	}
	src := source{q: New(Local{ing}, nil), tenants: []string{"fake"}}
	// The same ingester over the remote protocol, which carries entries
	// only: the querier must not expect summaries from it.
	remote := source{q: New(serveRemote(t, ing), nil), tenants: []string{"fake"}}
	eng := logql.NewEngine(logql.EngineOptions{}, nil)
	var folded int64
	for _, q := range []string{
		`sum(count_over_time({app=~".+"}%s[%s]))`,
		`sum by (ns) (bytes_over_time({app=~".+"}%s[%s]))`,
		`sum without (app) (rate({app=~".+"}%s[%s]))`,
		`sum(bytes_rate({app=~".+"}%s[%s]))`,
	} {
		for _, step := range []time.Duration{time.Second, 7 * time.Second, time.Minute} {
			p := logql.Params{Start: time.Unix(0, base), End: time.Unix(0, last+int64(time.Minute)), Step: step, Limit: 100, Direction: chunks.Forward}
			rng := (3 * step).String()
			p.Query = fmt.Sprintf(q, "", rng)
			fast, err := eng.Query(context.Background(), src, p)
			if err != nil {
				t.Fatal(err)
			}
			p.Query = fmt.Sprintf(q, ` |= ""`, rng)
			slow, err := eng.Query(context.Background(), src, p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fast.Matrix, slow.Matrix) {
				t.Fatalf("%s step %v: summaries gave\n%v\nentries gave\n%v", p.Query, step, fast.Matrix, slow.Matrix)
			}
			p.Query = fmt.Sprintf(q, "", rng)
			viaRemote, err := eng.Query(context.Background(), remote, p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(viaRemote.Matrix, slow.Matrix) {
				t.Fatalf("%s step %v: the remote ingester gave\n%v\nentries gave\n%v", p.Query, step, viaRemote.Matrix, slow.Matrix)
			}
			if fast.Stats.TotalBytesProcessed != slow.Stats.TotalBytesProcessed || fast.Stats.TotalLinesProcessed != slow.Stats.TotalLinesProcessed {
				t.Errorf("%s: %d lines / %d bytes processed with summaries, %d / %d without", p.Query,
					fast.Stats.TotalLinesProcessed, fast.Stats.TotalBytesProcessed, slow.Stats.TotalLinesProcessed, slow.Stats.TotalBytesProcessed)
			}
			if fast.Stats.ColumnBlocks > 0 && fast.Stats.DecompressedBytes >= slow.Stats.DecompressedBytes {
				t.Errorf("%s: decompressed %d bytes with summaries, %d without", p.Query, fast.Stats.DecompressedBytes, slow.Stats.DecompressedBytes)
			}
			folded += fast.Stats.ColumnBlocks
		}
	}
	if folded == 0 {
		t.Fatal("no block was answered from its columns")
	}
}
