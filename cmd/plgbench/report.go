package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Report is everything one run measured.
type Report struct {
	Started  time.Time     `json:"started"`
	Seconds  float64       `json:"seconds"`
	Command  string        `json:"command"`
	Revision string        `json:"revision"`
	Machine  Machine       `json:"machine"`
	Config   ReportConfig  `json:"config"`
	Corpus   CorpusReport  `json:"corpus"`
	Ingest   IngestResult  `json:"ingest"`
	Storage  StorageReport `json:"storage"`
	// Queries while the lines are in the ingester's memory, and after a
	// flush and a restart (from the store).
	QueriesMemory []QueryResult `json:"queries_memory"`
	QueriesStore  []QueryResult `json:"queries_store,omitempty"`
	// QueriesQuerier are the store's queries again, through a separate
	// -mode=querier process (plgbench -querier).
	QueriesQuerier []QueryResult `json:"queries_querier,omitempty"`
	Agent          []AgentResult `json:"agent,omitempty"`
	// Metrics are some of the server's own, by moment (after_ingest,
	// after_flush, after_restart).
	Metrics map[string]map[string]float64 `json:"server_metrics,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	MemTotal int64  `json:"mem_total_bytes"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
}

// ReportConfig is the run's configuration.
type ReportConfig struct {
	Size          int64    `json:"size"`
	Seed          uint64   `json:"seed"`
	Streams       int      `json:"streams"`
	Clients       int      `json:"clients"`
	Span          string   `json:"span"`
	BatchBytes    int      `json:"batch_bytes"`
	ServerArgs    []string `json:"server_args,omitempty"`
	ServerCommand string   `json:"server_command"`
}

// CorpusReport summarizes the generated corpus.
type CorpusReport struct {
	Lines           int64              `json:"lines"`
	Bytes           int64              `json:"bytes"`
	Streams         int                `json:"streams"`
	Formats         map[string]*Volume `json:"formats"`
	Levels          map[string]int64   `json:"levels"`
	RareLines       int64              `json:"rare_token_lines"`
	CommonLines     int64              `json:"common_word_lines"`
	RegexLines      int64              `json:"regex_lines"`
	GenerateSeconds float64            `json:"generate_seconds"`
	BodyBytes       int64              `json:"push_body_bytes"`
	Batches         int                `json:"batches"`
}

// StorageReport is what the server kept, and its memory around the flush.
type StorageReport struct {
	FlushSeconds          float64 `json:"flush_seconds"`
	StoreBytes            int64   `json:"store_bytes"`
	StorePctOfRaw         float64 `json:"store_pct_of_raw"`
	WALBytesAfterFlush    int64   `json:"wal_bytes_after_flush"`
	PeakRSSAfterQueries   int64   `json:"peak_rss_after_memory_queries_bytes"`
	PeakRSSAfterFlush     int64   `json:"peak_rss_after_flush_bytes"`
	RestartReadySeconds   float64 `json:"restart_ready_seconds,omitempty"`
	PeakRSSRestartQueries int64   `json:"peak_rss_restarted_after_queries_bytes,omitempty"`
}

func corpusSummary(t *Truth, g *genResult) CorpusReport {
	n := 0
	for _, s := range t.Streams {
		if s.Lines > 0 {
			n++
		}
	}
	return CorpusReport{Lines: t.Lines, Bytes: t.Bytes, Streams: n, Formats: t.Formats, Levels: t.Levels,
		RareLines: t.Rare.Lines, CommonLines: t.Common.Lines, RegexLines: t.Regex.Lines,
		GenerateSeconds: g.Duration.Seconds(), BodyBytes: g.Bodies, Batches: g.Batches}
}

func readMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal, _ = parseStatusKB(b, "MemTotal:")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// Targets from issue 5, per 1M lines for queries (scaled linearly to the
// corpus).
var queryTargetMsPer1M = map[string]float64{
	"rare_token":               15,
	"common_word_limit100":     30,
	"count_all_1m":             10,
	"bytes_by_namespace_5m":    10,
	"regex_5xx_count":          200,
	"json_count_by_level_5m":   250,
	"logfmt_duration_gt_250ms": 120,
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// rssMiB is a resident set size in MiB, without the unit, "—" if unknown.
func rssMiB(b int64) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", float64(b)/(1<<20))
}

func humanBytes(b int64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(b)/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(b)/1e6)
	default:
		return fmt.Sprintf("%.1f kB", float64(b)/1e3)
	}
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// Markdown renders the report as tables.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.Machine
	p("### Run of %s (plg %s)\n\n", r.Started.Format(time.RFC3339), r.Revision)
	p("- Machine: %d CPUs, %s, %s memory, Linux %s, %s\n", m.CPUs, m.CPUModel, mib(m.MemTotal), m.Kernel, m.Go)
	p("- Command: `%s`\n", r.Command)
	p("- Server: `%s`\n", r.Config.ServerCommand)
	c := r.Corpus
	p("- Corpus: %d lines, %s of log text, %d streams, seed %d, spread over %s; ", c.Lines, humanBytes(c.Bytes), c.Streams, r.Config.Seed, r.Config.Span)
	var fs []string
	for _, k := range sortedKeys(c.Formats) {
		fs = append(fs, fmt.Sprintf("%s %.0f%%", k, 100*float64(c.Formats[k].Lines)/float64(max(c.Lines, 1))))
	}
	p("formats %s; generated in %.1f s\n", strings.Join(fs, ", "), c.GenerateSeconds)
	p("- Whole run: %.0f s\n\n", r.Seconds)

	in := r.Ingest
	scale := float64(c.Lines) / 1e6
	p("#### Ingest (push API, protobuf+snappy, %d clients, ~%s batches)\n\n", in.Clients, humanBytes(int64(r.Config.BatchBytes)))
	p("| measure | value | target |\n|---|---:|---:|\n")
	p("| lines/s (push to acknowledged) | %.0f | ≥ 400000 |\n", in.LinesPerSec)
	p("| MB/s of log text | %.1f | |\n", in.MBPerSec)
	p("| time until queryable (first push to asking the first complete count) | %.2f s (pushing took %.2f s) | |\n", in.QueryableAfter, in.Seconds)
	if len(in.QueryablePolls) > 0 {
		p("| incomplete counts before that | %s | |\n", strings.ReplaceAll(strings.Join(in.QueryablePolls, "; "), "|", `\|`))
	}
	p("| server CPU-seconds per 1M lines | %.2f | < 5 |\n", in.CPUSecPer1M)
	p("| server CPU-seconds per GB | %.1f | |\n", in.CPUSecPerGB)
	p("| server peak RSS after ingest (VmHWM) | %s | < 150 MiB for 1 GB |\n", mib(in.PeakRSS))
	p("| push latency p50 / p99 | %.1f / %.1f ms | |\n", in.PushP50Ms, in.PushP99Ms)
	p("| retries (429/5xx) | %d | |\n", in.Retries)
	p("| WAL after ingest | %s (%.0f%% of raw) | |\n", humanBytes(in.WALBytes), 100*float64(in.WALBytes)/float64(max(c.Bytes, 1)))
	st := r.Storage
	p("| store after POST /flush | %s = **%.1f%% of raw** (flush took %.2f s) | ≤ 18%% |\n", humanBytes(st.StoreBytes), st.StorePctOfRaw, st.FlushSeconds)
	p("| WAL after flush | %s | |\n", humanBytes(st.WALBytesAfterFlush))
	p("| server peak RSS after the in-memory queries / after flush | %s / %s | |\n", mib(st.PeakRSSAfterQueries), mib(st.PeakRSSAfterFlush))
	if st.RestartReadySeconds > 0 {
		p("| restart: time to /ready / peak RSS after the store queries | %.2f s / %s | |\n", st.RestartReadySeconds, mib(st.PeakRSSRestartQueries))
	}
	if len(r.Metrics) > 0 {
		p("\nServer metrics (plg_ingester_*): ")
		var parts []string
		for _, when := range []string{"after_ingest", "after_flush", "after_restart"} {
			m, ok := r.Metrics[when]
			if !ok {
				continue
			}
			var kv []string
			for _, k := range sortedKeys(m) {
				kv = append(kv, fmt.Sprintf("%s %.0f", strings.TrimPrefix(k, "plg_ingester_"), m[k]))
			}
			parts = append(parts, fmt.Sprintf("%s: %s", strings.ReplaceAll(when, "_", " "), strings.Join(kv, ", ")))
		}
		p("%s.\n", strings.Join(parts, "; "))
	}
	p("\n#### Queries over the whole corpus (every answer checked against the generator's counts)\n\n")
	p("Cold = first run; median = of the next 5 (client wall time, ms). Target = issue 5's per-1M-lines target × %.2f (the corpus's millions of lines). Scan rate = bytes processed (query stats) per server CPU-second. Peak RSS = the whole server's VmHWM over the query's six runs (reset before them; it starts at the RSS the previous query left), in memory / from the store.\n\n", scale)
	if len(r.QueriesQuerier) > 0 {
		p("With -querier, a plg -mode=querier process on the same store (the restarted server as its ingester) ran the queries too: its own peak RSS and median follow.\n\n")
	}
	store, querier := map[string]QueryResult{}, map[string]QueryResult{}
	for _, q := range r.QueriesStore {
		store[q.Name] = q
	}
	for _, q := range r.QueriesQuerier {
		querier[q.Name] = q
	}
	p("| query | verified | memory cold | memory median | store cold | store median | target | bytes processed | scan MB per CPU-s | peak RSS MiB |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, q := range r.QueriesMemory {
		sc, sm := "—", "—"
		scan := q.BytesPerCPUSec
		peak := rssMiB(q.PeakRSS) + " / —"
		if s, ok := store[q.Name]; ok {
			sc, sm = ms(s.ColdMs), ms(s.MedianMs)
			scan = s.BytesPerCPUSec
			peak = rssMiB(q.PeakRSS) + " / " + rssMiB(s.PeakRSS)
		}
		if qr, ok := querier[q.Name]; ok {
			peak += " / querier " + rssMiB(qr.PeakRSS) + " (" + ms(qr.MedianMs) + " ms)"
		}
		target := "—"
		if t, ok := queryTargetMsPer1M[q.Name]; ok {
			target = "< " + ms(t*scale)
		}
		scanS := "—"
		if scan > 0 {
			scanS = fmt.Sprintf("%.0f", scan/1e6)
		}
		p("| %s: `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", q.Name, strings.ReplaceAll(q.Query, "|", `\|`), q.Verified,
			ms(q.ColdMs), ms(q.MedianMs), sc, sm, target, humanBytes(q.BytesProcessed), scanS, peak)
	}
	if len(r.Agent) > 0 {
		p("\n#### Agent (`plg -mode=agent` tailing files, shipping to a counting sink)\n\n")
		p("| run | files | lines | lines/s | MB/s | lines per CPU-s | CPU-s per GB | peak RSS | RSS MiB per MB/s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, a := range r.Agent {
			p("| %s | %d | %d | %.0f | %.1f | %.0f | %.1f | %s | %.2f |\n", a.Name, a.Files, a.Lines, a.LinesPerSec, a.MBPerSec,
				a.LinesPerCPU, a.CPUSecPerGB, mib(a.PeakRSS), a.RSSPerMBPerSec)
		}
		p("\nTargets: 250000 lines per CPU-second; RSS under 48 MiB while tailing 100 files.\n")
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
