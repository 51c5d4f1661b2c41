package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The harness end to end on a tiny corpus, against the real binary, so CI
// proves the harness and its checks still work.

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// plgBinary builds ./cmd/plg once, for the tests that need it.
func plgBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the plg binary")
	}
	binOnce.Do(func() {
		var root string
		if root, binErr = moduleRoot(); binErr != nil {
			return
		}
		if binDir, binErr = os.MkdirTemp("", "plgbench-test-bin"); binErr != nil {
			return
		}
		binPath, binErr = buildBinary(context.Background(), root, binDir)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func tinyBench(t *testing.T) *benchConfig {
	t.Helper()
	return &benchConfig{
		Size: 3e6, Seed: 11, Streams: 30, Clients: 3, Span: time.Hour, BatchBytes: 256 << 10,
		AgentSize: 1e6, AgentFiles: 8, Bin: plgBinary(t), WorkDir: t.TempDir(), Command: "test",
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestHarnessEndToEndVerifiesEveryAnswer(t *testing.T) {
	cfg := tinyBench(t)
	cfg.Querier = true
	rep, err := runBench(t.Context(), cfg, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ingest.Lines != rep.Corpus.Lines || rep.Corpus.Bytes < cfg.Size {
		t.Errorf("ingested %d of %d lines (%d bytes for a %d byte corpus)", rep.Ingest.Lines, rep.Corpus.Lines, rep.Corpus.Bytes, cfg.Size)
	}
	if rep.Ingest.PeakRSS <= 0 || rep.Ingest.LinesPerSec <= 0 || rep.Storage.StoreBytes <= 0 {
		t.Errorf("ingest figures missing: %+v, store %d bytes", rep.Ingest, rep.Storage.StoreBytes)
	}
	want := len(querySuite(&Truth{}, queryWindow{}))
	if len(rep.QueriesMemory) != want || len(rep.QueriesStore) != want || len(rep.QueriesQuerier) != want {
		t.Errorf("%d queries in memory, %d from the store and %d through -mode=querier, want %d each",
			len(rep.QueriesMemory), len(rep.QueriesStore), len(rep.QueriesQuerier), want)
	}
	for _, q := range slices.Concat(rep.QueriesMemory, rep.QueriesStore, rep.QueriesQuerier) {
		if q.Verified == "" || q.MedianMs <= 0 {
			t.Errorf("query %s: verified %q, median %v ms", q.Name, q.Verified, q.MedianMs)
		}
		if q.StartRSS <= 0 || q.PeakRSS < q.StartRSS {
			t.Errorf("query %s: RSS %d bytes at the start, peak %d", q.Name, q.StartRSS, q.PeakRSS)
		}
	}
	// Resetting the peak before each query must not lose the peak since
	// the start.
	for _, q := range rep.QueriesMemory {
		if q.PeakRSS > rep.Storage.PeakRSSAfterQueries || rep.Ingest.PeakRSS > rep.Storage.PeakRSSAfterQueries {
			t.Errorf("peak RSS after the queries %d, below query %s's %d or the ingest's %d", rep.Storage.PeakRSSAfterQueries, q.Name, q.PeakRSS, rep.Ingest.PeakRSS)
		}
	}
	if len(rep.Agent) != 2 {
		t.Fatalf("%d agent runs, want plain and cri", len(rep.Agent))
	}
	for _, a := range rep.Agent {
		if a.Lines == 0 || a.LinesPerSec <= 0 || a.PeakRSS <= 0 {
			t.Errorf("agent %s: %+v", a.Name, a)
		}
	}
	md := rep.Markdown()
	for _, s := range []string{"lines/s", "rare_token", "| cri |", "of raw", "peak RSS MiB", "/ querier "} {
		if !strings.Contains(md, s) {
			t.Errorf("Markdown report lacks %q", s)
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("JSON report: %v", err)
	}
}

func TestHarnessFailsWhenACountIsWrong(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(*Truth)
		want   string
	}{
		{"one rare line too many", func(tr *Truth) { tr.Rare.Lines++ }, "query rare_token run 1"},
		{"an info line too few", func(tr *Truth) { tr.JSONLevels["info"]-- }, "query json_count_by_level_5m run 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyBench(t)
			cfg.Size = 1e6
			cfg.SkipAgent, cfg.SkipRestart = true, true
			cfg.tamper = tc.tamper
			_, err := runBench(t.Context(), cfg, quietLogger())
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "wrong answer") {
				t.Fatalf("error %v, want a wrong answer from %q", err, tc.want)
			}
		})
	}
}

func TestHarnessExplainsAShortCount(t *testing.T) {
	cfg := tinyBench(t)
	cfg.Size = 1e6
	cfg.SkipAgent, cfg.SkipRestart = true, true
	cfg.queryableWait = time.Second
	var stream string
	cfg.tamper = func(tr *Truth) {
		tr.Lines++
		tr.Streams[3].Lines++
		l := tr.Streams[3].Labels
		stream = l["namespace"] + "/" + l["pod"] + "/" + l["container"]
	}
	_, err := runBench(t.Context(), cfg, quietLogger())
	if err == nil {
		t.Fatal("a run whose truth has one line more than was pushed passed")
	}
	msg := err.Error()
	for _, when := range []string{"before flush", "after flush"} {
		for _, probe := range []string{"summaries", "entries"} {
			line := when + ", " + probe + ": "
			i := strings.Index(msg, line)
			if i < 0 {
				t.Fatalf("no %q in the error:\n%s", line, msg)
			}
			rest := msg[i+len(line):]
			rest = rest[:strings.IndexByte(rest, '\n')]
			if !strings.Contains(rest, "1 streams differ: "+stream+" ") || !strings.Contains(rest, "want ") {
				t.Errorf("%s: %q does not name the one short stream %s", line, rest, stream)
			}
		}
	}
}
