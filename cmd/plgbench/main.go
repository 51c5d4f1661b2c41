package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := mainErr(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "plgbench:", err)
		os.Exit(1)
	}
}

func mainErr(ctx context.Context, args []string) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	rep, err := runBench(ctx, cfg, logger)
	if err != nil {
		return err
	}
	md := rep.Markdown()
	fmt.Print(md)
	if cfg.OutMD != "" {
		if err := os.WriteFile(cfg.OutMD, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if cfg.OutJSON != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.OutJSON, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// benchConfig is the harness's configuration, from its flags.
type benchConfig struct {
	Size        int64
	Seed        uint64
	Streams     int
	Clients     int
	Span        time.Duration
	BatchBytes  int
	AgentSize   int64 // 0: derived from Size
	AgentFiles  int
	SkipAgent   bool
	SkipRestart bool
	Querier     bool // also query a -mode=querier process over the store
	KeepDir     bool
	WorkDir     string // parent of the temporary directory
	Bin         string
	AgentBin    string
	ServerArgs  []string
	OutJSON     string
	OutMD       string
	PerfDir     string         // profile the server with perf into this directory
	HeapDir     string         // save the server's heap profile after each query here
	Queries     *regexp.Regexp // runs only the queries whose names match
	Command     string

	// tamper, for tests, changes the truth before the queries check
	// against it.
	tamper func(*Truth)
	// queryableWait bounds the wait for every pushed line to be counted
	// (default 2m).
	queryableWait time.Duration
}

func parseFlags(args []string) (*benchConfig, error) {
	c := &benchConfig{}
	fs := flag.NewFlagSet("plgbench", flag.ContinueOnError)
	size := fs.String("size", "1GB", "Log text to generate and push (KB, MB, GB: powers of 1000; KiB, MiB, GiB: of 1024).")
	agentSize := fs.String("agent-size", "", "Log text written to files for the agent runs (default: a fifth of -size, at most 200MB).")
	queries := fs.String("queries", "", "Run only the queries whose names match this regular expression (default: all).")
	serverArgs := fs.String("server-args", "", "Extra flags for the plg server, space-separated; they override the harness's.")
	fs.Uint64Var(&c.Seed, "seed", 1, "Seed of the corpus generator; the same seed gives the same lines.")
	fs.IntVar(&c.Streams, "streams", 200, "Number of streams (pods).")
	fs.IntVar(&c.Clients, "clients", 4, "Concurrent push clients; each owns a share of the streams.")
	fs.DurationVar(&c.Span, "span", 3*time.Hour, "Time range the corpus covers, ending now (a multiple of 5m).")
	fs.IntVar(&c.BatchBytes, "batch-bytes", 1<<20, "Log text per push request.")
	fs.IntVar(&c.AgentFiles, "agent-files", 100, "Files the agent tails.")
	fs.BoolVar(&c.SkipAgent, "skip-agent", false, "Skip the agent runs.")
	fs.BoolVar(&c.SkipRestart, "skip-restart", false, "Skip restarting the server and querying from the store after the flush.")
	fs.BoolVar(&c.Querier, "querier", false, "After the store queries, also start plg -mode=querier on the same store (the restarted server as its ingester) and run the queries against it, to measure the querier's memory alone.")
	fs.BoolVar(&c.KeepDir, "keep-dir", false, "Keep the temporary directory (corpus, data, configs) and print its path.")
	fs.StringVar(&c.WorkDir, "work-dir", "", "Where to make the temporary directory (default: the system's).")
	fs.StringVar(&c.Bin, "bin", "", "plg binary to measure (default: build ./cmd/plg of this module into the temporary directory).")
	fs.StringVar(&c.AgentBin, "agent-bin", "", "plg binary for the agent runs (default: -bin; `make bench-e2e` passes the nogcs build the DaemonSet runs).")
	fs.StringVar(&c.OutJSON, "out-json", "", "Also write the results as JSON to this file.")
	fs.StringVar(&c.OutMD, "out-md", "", "Also write the Markdown report to this file.")
	fs.StringVar(&c.PerfDir, "perf-dir", "", "Profile the server with Linux perf during the ingest and each query's warm runs, writing <phase>.perf.data and a flat profile <phase>.txt here (needs perf).")
	fs.StringVar(&c.HeapDir, "heap-dir", "", "Serve the server's Go profiles (-http.pprof) and save its heap profile after the ingest and after each query's runs as <phase>-<nn>-<query>.heap.pb.gz here; `go tool pprof -sample_index=alloc_space -base <previous> <file>` shows what one query allocated.")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if c.Size, err = parseSize(*size); err != nil {
		return nil, fmt.Errorf("-size: %w", err)
	}
	if *agentSize != "" {
		if c.AgentSize, err = parseSize(*agentSize); err != nil {
			return nil, fmt.Errorf("-agent-size: %w", err)
		}
	}
	c.ServerArgs = strings.Fields(*serverArgs)
	if *queries != "" {
		if c.Queries, err = regexp.Compile(*queries); err != nil {
			return nil, fmt.Errorf("-queries: %w", err)
		}
		var names []string
		for _, q := range querySuite(&Truth{}, queryWindow{}) {
			names = append(names, q.Name)
		}
		if !slices.ContainsFunc(names, c.Queries.MatchString) {
			return nil, fmt.Errorf("-queries=%s: matches none of %s", *queries, strings.Join(names, ", "))
		}
	}
	switch {
	case c.Streams < 1:
		return nil, fmt.Errorf("-streams=%d: must be at least 1", c.Streams)
	case c.Clients < 1 || c.Clients > c.Streams:
		return nil, fmt.Errorf("-clients=%d: must be between 1 and -streams", c.Clients)
	case c.BatchBytes < 1024 || c.BatchBytes > 32<<20:
		return nil, fmt.Errorf("-batch-bytes=%d: must be between 1KiB and 32MiB", c.BatchBytes)
	case c.AgentFiles < 1:
		return nil, fmt.Errorf("-agent-files=%d: must be at least 1", c.AgentFiles)
	case c.Span < alignStep || c.Span%alignStep != 0:
		return nil, fmt.Errorf("-span=%s: must be a positive multiple of %s", c.Span, alignStep)
	}
	c.Command = "go run ./cmd/plgbench " + strings.Join(args, " ")
	return c, nil
}

// parseSize parses "1GB", "200MB", "512KiB", "1.5GiB" or a byte count.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r < '0' || r > '9' && r != '.' })
	unit := strings.ToUpper(strings.TrimSpace(t[len(num):]))
	mult := map[string]float64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit %q", s, unit)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" || strings.ContainsAny(num, "eE+-") {
		return 0, fmt.Errorf("size %q: not a number", s)
	}
	n := v * mult
	if n < 1 || n > 1<<50 {
		return 0, fmt.Errorf("size %q: out of range (1 byte to 1 PiB)", s)
	}
	return int64(n), nil
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the plg module or pass -bin")
		}
		dir = parent
	}
}

// runBench runs the whole benchmark and returns its report. It fails when a
// query's answer disagrees with the corpus.
func runBench(ctx context.Context, cfg *benchConfig, logger *slog.Logger) (*Report, error) {
	work, err := os.MkdirTemp(cfg.WorkDir, "plgbench-")
	if err != nil {
		return nil, err
	}
	if cfg.KeepDir {
		logger.Info("keeping the work directory", "dir", work)
	} else {
		defer os.RemoveAll(work)
	}
	for _, dir := range []string{cfg.PerfDir, cfg.HeapDir} {
		if dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
		}
	}
	rep := &Report{Started: time.Now().UTC(), Command: cfg.Command, Machine: readMachine()}
	root, rootErr := moduleRoot()
	if rootErr == nil {
		rep.Revision = gitRevision(root)
	}
	bin := cfg.Bin
	if bin == "" {
		if rootErr != nil {
			return nil, rootErr
		}
		logger.Info("building plg", "module", root)
		if bin, err = buildBinary(ctx, root, work); err != nil {
			return nil, err
		}
	}

	// The corpus ends at the last 5-minute boundary: all of it in the past.
	ccfg := corpusConfig{Size: cfg.Size, Seed: cfg.Seed, Streams: cfg.Streams,
		End: time.Now().Truncate(alignStep), Span: cfg.Span}
	rep.Config = ReportConfig{Size: cfg.Size, Seed: cfg.Seed, Streams: cfg.Streams, Clients: cfg.Clients,
		Span: cfg.Span.String(), BatchBytes: cfg.BatchBytes, ServerArgs: cfg.ServerArgs}
	logger.Info("generating the corpus", "bytes", cfg.Size, "streams", cfg.Streams, "clients", cfg.Clients)
	corpusDir := filepath.Join(work, "corpus")
	if err := os.MkdirAll(corpusDir, 0o755); err != nil {
		return nil, err
	}
	gen, err := writeBatchFiles(ccfg, corpusDir, cfg.Clients, cfg.BatchBytes)
	if err != nil {
		return nil, fmt.Errorf("generating the corpus: %w", err)
	}
	truth := gen.Truth
	rep.Corpus = corpusSummary(truth, gen)
	logger.Info("corpus ready", "lines", truth.Lines, "bytes", truth.Bytes, "seconds", gen.Duration.Seconds())
	if cfg.tamper != nil {
		cfg.tamper(truth)
	}
	win := windowFor(truth, ccfg)
	suite := querySuite(truth, win)
	if cfg.Queries != nil {
		suite = slices.DeleteFunc(suite, func(q querySpec) bool { return !cfg.Queries.MatchString(q.Name) })
		if len(suite) == 0 {
			return nil, fmt.Errorf("-queries=%s: matches none of the queries", cfg.Queries)
		}
	}

	dataDir := filepath.Join(work, "data")
	args := append([]string{"-mode=all", "-data.dir=" + dataDir, "-http.addr=127.0.0.1:0", "-log.level=info",
		"-limits.ingestion-rate-mb=0", "-limits.max-streams-per-tenant=0",
		// The harness times queries; it must not be the server that gives
		// up first on a 10 GB corpus or a loaded machine.
		"-querier.query-timeout=10m"}, cfg.ServerArgs...)
	if cfg.HeapDir != "" {
		args = append(args, "-http.pprof")
	}
	rep.Config.ServerCommand = "plg " + strings.Join(args, " ")
	srv, err := startProcess(ctx, bin, args, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	defer srv.Kill()

	// Ingest.
	logger.Info("pushing", "clients", cfg.Clients)
	before, err := srv.sample()
	if err != nil {
		return nil, err
	}
	stopPerf := perfFor(cfg, srv).start("ingest")
	t0 := time.Now()
	lines, raw, bodies, batches, retries, lat, err := pushAll(ctx, srv.URL("/loki/api/v1/push"), gen.Files)
	pushSecs := time.Since(t0).Seconds()
	if err != nil {
		return nil, fmt.Errorf("pushing: %w\nserver log:\n%s", err, srv.Logs())
	}
	after, err := srv.sample()
	if err != nil {
		return nil, err
	}
	if err := stopPerf(); err != nil {
		logger.Warn("profiling", "phase", "ingest", "err", err)
	}
	if lines != rep.Corpus.Lines || raw != rep.Corpus.Bytes {
		return nil, fmt.Errorf("pushed %d lines (%d bytes), the corpus has %d (%d bytes)", lines, raw, rep.Corpus.Lines, rep.Corpus.Bytes)
	}
	in := IngestResult{Lines: lines, Bytes: raw, BodyBytes: bodies, Batches: batches, Clients: cfg.Clients,
		Seconds: pushSecs, Retries: retries, CPUSeconds: (after.CPU - before.CPU).Seconds(), PeakRSS: after.HWM,
		PushP50Ms: percentileMs(lat, 0.5), PushP99Ms: percentileMs(lat, 0.99)}
	in.LinesPerSec = float64(lines) / pushSecs
	in.MBPerSec = float64(raw) / 1e6 / pushSecs
	in.CPUSecPerGB = in.CPUSeconds / (float64(raw) / 1e9)
	in.CPUSecPer1M = in.CPUSeconds / (float64(lines) / 1e6)
	queryable, polls, err := waitQueryable(ctx, srv, truth, win, cmp.Or(cfg.queryableWait, 2*time.Minute))
	if err != nil {
		return nil, fmt.Errorf("%w\nper-stream counts:\n%s", err, diagnoseCount(ctx, srv, truth, win))
	}
	in.QueryableAfter = queryable.Sub(t0).Seconds()
	in.QueryablePolls = polls
	if in.WALBytes, err = dirSize(filepath.Join(dataDir, "wal")); err != nil {
		return nil, err
	}
	rep.Ingest = in
	rep.Metrics = map[string]map[string]float64{}
	scrape := func(when string) {
		if m, err := srv.scrapeMetrics(serverMetrics); err != nil {
			logger.Warn("scraping /metrics", "err", err)
		} else {
			rep.Metrics[when] = m
		}
	}
	scrape("after_ingest")
	logger.Info("ingested", "lines_per_sec", int64(in.LinesPerSec), "mb_per_sec", in.MBPerSec, "peak_rss_mib", in.PeakRSS>>20)

	if err := saveHeap(ctx, srv, cfg.HeapDir, "memory-00-ingest"); err != nil {
		logger.Warn("saving a heap profile", "err", err)
	}

	// Queries while the data is in the ingester's memory.
	logger.Info("querying (ingester memory)", "queries", len(suite))
	if rep.QueriesMemory, err = runQueries(ctx, srv, suite, logger, perfFor(cfg, srv), cfg.HeapDir, "memory"); err != nil {
		return nil, err
	}
	s, err := srv.sample()
	if err != nil {
		return nil, err
	}
	rep.Storage.PeakRSSAfterQueries = s.HWM

	// Flush, then measure the store.
	t1 := time.Now()
	if err := postFlush(ctx, srv); err != nil {
		return nil, err
	}
	rep.Storage.FlushSeconds = time.Since(t1).Seconds()
	if rep.Storage.StoreBytes, err = dirSize(filepath.Join(dataDir, "store")); err != nil {
		return nil, err
	}
	rep.Storage.StorePctOfRaw = 100 * float64(rep.Storage.StoreBytes) / float64(truth.Bytes)
	if rep.Storage.WALBytesAfterFlush, err = dirSize(filepath.Join(dataDir, "wal")); err != nil {
		return nil, err
	}
	if s, err = srv.sample(); err != nil {
		return nil, err
	}
	rep.Storage.PeakRSSAfterFlush = s.HWM
	scrape("after_flush")
	logger.Info("flushed", "store_bytes", rep.Storage.StoreBytes, "pct_of_raw", rep.Storage.StorePctOfRaw)

	if !cfg.SkipRestart {
		if err := srv.Stop(10 * time.Minute); err != nil {
			return nil, fmt.Errorf("stopping the server: %w", err)
		}
		t2 := time.Now()
		srv, err = startProcess(ctx, bin, args, 10*time.Minute)
		if err != nil {
			return nil, fmt.Errorf("restarting the server: %w", err)
		}
		defer srv.Kill()
		rep.Storage.RestartReadySeconds = time.Since(t2).Seconds()
		scrape("after_restart")
		logger.Info("querying (after flush and restart)", "queries", len(suite))
		if err := saveHeap(ctx, srv, cfg.HeapDir, "store-00-restart"); err != nil {
			logger.Warn("saving a heap profile", "err", err)
		}
		if rep.QueriesStore, err = runQueries(ctx, srv, suite, logger, perfFor(cfg, srv), cfg.HeapDir, "store"); err != nil {
			return nil, fmt.Errorf("after restart: %w", err)
		}
		if s, err = srv.sample(); err != nil {
			return nil, err
		}
		rep.Storage.PeakRSSRestartQueries = s.HWM
		if cfg.Querier {
			if rep.QueriesQuerier, err = runQuerier(ctx, cfg, bin, dataDir, srv, suite, logger); err != nil {
				return nil, err
			}
		}
	}
	if err := srv.Stop(10 * time.Minute); err != nil {
		return nil, fmt.Errorf("stopping the server: %w", err)
	}

	if !cfg.SkipAgent {
		asize := cfg.AgentSize
		if asize == 0 {
			asize = min(max(cfg.Size/5, 1<<20), 200e6)
		}
		acfg := ccfg
		acfg.Size = asize
		for _, cri := range []bool{false, true} {
			name := "plain"
			if cri {
				name = "cri"
			}
			logger.Info("agent run", "format", name, "bytes", asize, "files", cfg.AgentFiles)
			ac, err := writeAgentFiles(acfg, filepath.Join(work, "agent-"+name+"-logs"), cfg.AgentFiles, cri)
			if err != nil {
				return nil, fmt.Errorf("writing the agent's files: %w", err)
			}
			agentBin := cmp.Or(cfg.AgentBin, bin)
			r, err := runAgent(ctx, agentBin, work, name, ac, cri, 10*time.Minute)
			if err != nil {
				return nil, err
			}
			rep.Agent = append(rep.Agent, *r)
			if err := os.RemoveAll(ac.Dir); err != nil {
				return nil, err
			}
		}
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	return rep, nil
}

// runQuerier runs the suite against a plg -mode=querier process reading
// the store in dataDir and srv as its ingester.
func runQuerier(ctx context.Context, cfg *benchConfig, bin, dataDir string, srv *process, suite []querySpec, logger *slog.Logger) ([]QueryResult, error) {
	args := append([]string{"-mode=querier", "-data.dir=" + dataDir, "-http.addr=127.0.0.1:0", "-log.level=info",
		"-querier.ingesters=" + srv.addr, "-querier.query-timeout=10m"}, cfg.ServerArgs...)
	if cfg.HeapDir != "" {
		args = append(args, "-http.pprof")
	}
	qr, err := startProcess(ctx, bin, args, 2*time.Minute)
	if err != nil {
		return nil, fmt.Errorf("starting the querier: %w", err)
	}
	defer qr.Kill()
	logger.Info("querying (-mode=querier over the store)", "queries", len(suite))
	res, err := runQueries(ctx, qr, suite, logger, perfFor(cfg, qr), cfg.HeapDir, "querier")
	if err != nil {
		return nil, fmt.Errorf("-mode=querier: %w", err)
	}
	if err := qr.Stop(time.Minute); err != nil {
		return nil, fmt.Errorf("stopping the querier: %w", err)
	}
	return res, nil
}

func perfFor(cfg *benchConfig, srv *process) *perfRecorder {
	if cfg.PerfDir == "" {
		return nil
	}
	return &perfRecorder{dir: cfg.PerfDir, pid: srv.Pid()}
}

// waitQueryable waits until a count of everything equals the corpus and
// returns when the first such count was asked for, and the counts asked
// before it (each with what was wrong).
func waitQueryable(ctx context.Context, srv *process, t *Truth, w queryWindow, wait time.Duration) (time.Time, []string, error) {
	q := fmt.Sprintf("sum(count_over_time(%s [%s]))", allStreams, w.rangeStr())
	spec := querySpec{Name: "queryable", Query: q, path: "/loki/api/v1/query", params: w.instantParams(q)}
	hc := &http.Client{Timeout: 5 * time.Minute}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(wait)
	var polls []string
	for {
		asked := time.Now()
		r, err := fetch(ctx, hc, "http://"+srv.addr, &spec)
		if err == nil {
			if _, err = checkSums(r, "vector", "", map[string]int64{"": t.Lines}); err == nil {
				return asked, polls, nil
			}
		}
		polls = append(polls, fmt.Sprintf("%.2fs: %v", time.Since(asked).Seconds(), err))
		if time.Now().After(deadline) {
			return time.Time{}, polls, fmt.Errorf("the pushed lines were not all queryable within %s: %w", wait, err)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, polls, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// saveHeap writes the server's heap profile to dir/name.heap.pb.gz; it
// does nothing when dir is empty.
func saveHeap(ctx context.Context, srv *process, dir, name string) error {
	if dir == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL("/debug/pprof/heap"), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /debug/pprof/heap: HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".heap.pb.gz"), b, 0o644)
}

func postFlush(ctx context.Context, srv *process) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL("/flush"), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("POST /flush: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST /flush: HTTP %d", resp.StatusCode)
	}
	return nil
}

func gitRevision(dir string) string {
	out, err := exec.Command("git", "-C", dir, "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
