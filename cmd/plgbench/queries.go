package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// querySpec is one benchmark query and how to check its answer.
type querySpec struct {
	Name   string
	Query  string // LogQL, or the endpoint for metadata queries
	path   string
	params url.Values
	check  func(*apiResult) (string, error) // a summary of what was verified
}

// apiResult is a decoded API answer.
type apiResult struct {
	ResultType string
	Streams    []streamResult
	Samples    []sampleSeries // matrix or vector (one point per series)
	Strings    []string       // labels, label values
	Series     []map[string]string
	Stats      statsSummary
}

type streamResult struct {
	Stream map[string]string `json:"stream"`
	Values [][]any           `json:"values"`
}

type sampleSeries struct {
	Metric map[string]string
	Values []float64
}

type statsSummary struct {
	TotalBytesProcessed int64   `json:"totalBytesProcessed"`
	TotalLinesProcessed int64   `json:"totalLinesProcessed"`
	ExecTime            float64 `json:"execTime"`
}

// queryWindow is the time range every query covers: (Start, End], aligned
// to alignStep, holding every line of the corpus.
type queryWindow struct {
	Start, End int64 // ns
}

func windowFor(t *Truth, cfg corpusConfig) queryWindow {
	start := cfg.End.Add(-cfg.Span).UnixNano()
	end := cfg.End.UnixNano()
	step := alignStep.Nanoseconds()
	if t.LastTs > end { // the estimate fell short; stretch to cover
		end += (t.LastTs - end + step - 1) / step * step
	}
	return queryWindow{Start: start, End: end}
}

func (w queryWindow) rangeStr() string {
	return strconv.FormatInt((w.End-w.Start)/int64(time.Minute), 10) + "m"
}

func nsStr(ns int64) string { return strconv.FormatInt(ns, 10) }

// logParams: entries with Start < ts <= End (Loki's end is exclusive).
func (w queryWindow) logParams(q string, limit int) url.Values {
	return url.Values{"query": {q}, "start": {nsStr(w.Start + 1)}, "end": {nsStr(w.End + 1)},
		"limit": {strconv.Itoa(limit)}, "direction": {"backward"}}
}

// rangeParams: points at Start+step ... End, so windows of length step
// tile (Start, End].
func (w queryWindow) rangeParams(q string, step time.Duration) url.Values {
	return url.Values{"query": {q}, "start": {nsStr(w.Start + step.Nanoseconds())}, "end": {nsStr(w.End)},
		"step": {strconv.FormatInt(int64(step/time.Second), 10) + "s"}, "limit": {"1000"}}
}

func (w queryWindow) instantParams(q string) url.Values {
	return url.Values{"query": {q}, "time": {nsStr(w.End)}}
}

func (w queryWindow) metaParams() url.Values {
	return url.Values{"start": {nsStr(w.Start + 1)}, "end": {nsStr(w.End + 1)}}
}

const allStreams = `{namespace=~".+"}`

// querySuite is every benchmark query, with its check against t.
func querySuite(t *Truth, w queryWindow) []querySpec {
	var qs []querySpec
	logQ := func(name, q string, limit int, m *MatchTruth, substr string) {
		qs = append(qs, querySpec{Name: name, Query: q, path: "/loki/api/v1/query_range", params: w.logParams(q, limit),
			check: func(r *apiResult) (string, error) { return checkNewest(r, m, limit, substr) }})
	}
	rangeQ := func(name, q string, step time.Duration, by string, want map[string]int64) {
		qs = append(qs, querySpec{Name: name, Query: q, path: "/loki/api/v1/query_range", params: w.rangeParams(q, step),
			check: func(r *apiResult) (string, error) { return checkSums(r, "matrix", by, want) }})
	}
	countQ := func(name, q string, want int64) {
		qs = append(qs, querySpec{Name: name, Query: q, path: "/loki/api/v1/query", params: w.instantParams(q),
			check: func(r *apiResult) (string, error) { return checkSums(r, "vector", "", map[string]int64{"": want}) }})
	}
	R := w.rangeStr()

	logQ("rare_token", fmt.Sprintf(`%s |= %q`, allStreams, t.Rare.Pattern), 1000, &t.Rare, t.Rare.Pattern)
	logQ("common_word_limit100", fmt.Sprintf(`%s |= %q`, allStreams, commonWord), 100, &t.Common, commonWord)
	logQ("regex_5xx_limit100", fmt.Sprintf("%s |~ `%s`", allStreams, regex5xx), 100, &t.Regex, "")
	countQ("regex_5xx_count", fmt.Sprintf("sum(count_over_time(%s |~ `%s` [%s]))", allStreams, regex5xx, R), t.Regex.Lines)
	logQ("json_status_5xx_limit100", `{container="app"} | json | status >= 500`, 100, &t.JSON5xx, "")
	countQ("logfmt_duration_gt_250ms", fmt.Sprintf(`sum(count_over_time({container="worker"} | logfmt | duration > 250ms [%s]))`, R), t.Logfmt["250ms"])
	rangeQ("json_count_by_level_5m", `sum by (level) (count_over_time({container="app"} | json [5m]))`, 5*time.Minute, "level", t.JSONLevels)
	rangeQ("count_all_1m", fmt.Sprintf(`sum(count_over_time(%s [1m]))`, allStreams), time.Minute, "", map[string]int64{"": t.Lines})
	nsBytes := map[string]int64{}
	for ns, v := range t.Namespaces {
		if v.Lines > 0 {
			nsBytes[ns] = v.Bytes
		}
	}
	rangeQ("bytes_by_namespace_5m", fmt.Sprintf(`sum by (namespace) (bytes_over_time(%s [5m]))`, allStreams), 5*time.Minute, "namespace", nsBytes)

	// An unwrap aggregation grouped by a label: its samples cannot be
	// added up stream by stream like counts, so it reads every worker
	// stream (30% of them) at once, a decoded block each, unless the
	// engine bounds that. Windows of 5m tile the range, so the largest
	// point of a namespace is its longest duration.
	maxQ := `max_over_time({container="worker"} | logfmt | unwrap duration(duration) [5m]) by (namespace)`
	qs = append(qs, querySpec{Name: "logfmt_max_duration_by_namespace_5m", Query: maxQ, path: "/loki/api/v1/query_range", params: w.rangeParams(maxQ, 5*time.Minute),
		check: func(r *apiResult) (string, error) { return checkMax(r, "namespace", t.LogfmtMaxDuration) }})
	// The same maximum as the 100th percentile, which keeps every sample
	// of a window (a percentile's rank n-1 interpolates with weight 0), so
	// it is checked exactly too.
	p100Q := `quantile_over_time(1, {container="worker"} | logfmt | unwrap duration(duration) [5m]) by (namespace)`
	qs = append(qs, querySpec{Name: "logfmt_p100_duration_by_namespace_5m", Query: p100Q, path: "/loki/api/v1/query_range", params: w.rangeParams(p100Q, 5*time.Minute),
		check: func(r *apiResult) (string, error) { return checkMax(r, "namespace", t.LogfmtMaxDuration) }})

	topQ := fmt.Sprintf(`topk(3, sum by (app) (rate(%s |= %q [%s])))`, allStreams, timeoutWord, R)
	rangeSecs := float64(w.End-w.Start) / 1e9
	qs = append(qs, querySpec{Name: "topk_apps_by_timeout_rate", Query: topQ, path: "/loki/api/v1/query", params: w.instantParams(topQ),
		check: func(r *apiResult) (string, error) { return checkTopK(r, 3, t.TimeoutApp, rangeSecs) }})

	qs = append(qs, querySpec{Name: "labels", Query: "GET /loki/api/v1/labels", path: "/loki/api/v1/labels", params: w.metaParams(),
		check: func(r *apiResult) (string, error) {
			return checkStrings(r.Strings, []string{"app", "container", "namespace", "pod", "service_name"})
		}})
	var nsNames []string
	for ns := range nsBytes {
		nsNames = append(nsNames, ns)
	}
	qs = append(qs, querySpec{Name: "label_values_namespace", Query: "GET /loki/api/v1/label/namespace/values", path: "/loki/api/v1/label/namespace/values", params: w.metaParams(),
		check: func(r *apiResult) (string, error) { return checkStrings(r.Strings, nsNames) }})
	sp := w.metaParams()
	sp.Set("match[]", allStreams)
	qs = append(qs, querySpec{Name: "series", Query: "GET /loki/api/v1/series?match[]=" + allStreams, path: "/loki/api/v1/series", params: sp,
		check: func(r *apiResult) (string, error) { return checkSeries(r.Series, t.Streams) }})
	return qs
}

// checkNewest checks a backward log query with a limit: it must return the
// newest min(limit, matches) matching lines, each containing substr.
func checkNewest(r *apiResult, m *MatchTruth, limit int, substr string) (string, error) {
	if r.ResultType != "streams" {
		return "", fmt.Errorf("resultType %q, want streams", r.ResultType)
	}
	var got []int64
	for _, s := range r.Streams {
		for _, v := range s.Values {
			if len(v) < 2 {
				return "", fmt.Errorf("entry %v: want [ts, line]", v)
			}
			tsStr, _ := v[0].(string)
			line, _ := v[1].(string)
			ts, err := strconv.ParseInt(tsStr, 10, 64)
			if err != nil {
				return "", fmt.Errorf("entry timestamp %v: %w", v[0], err)
			}
			if substr != "" && !strings.Contains(line, substr) {
				return "", fmt.Errorf("line %q does not contain %q", line, substr)
			}
			got = append(got, ts)
		}
	}
	want := min(int64(limit), m.Lines)
	if int64(len(got)) != want {
		return "", fmt.Errorf("%d lines returned, want %d (%d lines of the corpus match, limit %d)", len(got), want, m.Lines, limit)
	}
	slices.Sort(got)
	slices.Reverse(got)
	if int64(len(m.Newest)) >= want { // always, unless limit > newestKept
		for i := range got {
			if got[i] != m.Newest[i] {
				return "", fmt.Errorf("match %d (newest first) has timestamp %d, want %d: not the newest matches", i, got[i], m.Newest[i])
			}
		}
	}
	return fmt.Sprintf("%d of %d matching lines, the newest", len(got), m.Lines), nil
}

// checkSums adds up every point of every series by the value of the
// grouping label and compares with want. by "" means a single total.
func checkSums(r *apiResult, resultType, by string, want map[string]int64) (string, error) {
	if r.ResultType != resultType {
		return "", fmt.Errorf("resultType %q, want %s", r.ResultType, resultType)
	}
	got := map[string]float64{}
	for _, s := range r.Samples {
		key := ""
		if by != "" {
			key = s.Metric[by]
		} else if len(s.Metric) > 0 {
			return "", fmt.Errorf("series %v: want no labels", s.Metric)
		}
		for _, v := range s.Values {
			got[key] += v
		}
	}
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var total int64
	var diffs []string
	for _, k := range keys {
		if got[k] != float64(want[k]) {
			diffs = append(diffs, fmt.Sprintf("%s=%q: got %v, want %d", orTotal(by), k, got[k], want[k]))
		}
		total += want[k]
	}
	if len(diffs) > 0 {
		return "", fmt.Errorf("sums differ from the corpus: %s", strings.Join(diffs, "; "))
	}
	if by == "" {
		return fmt.Sprintf("total %d", total), nil
	}
	return fmt.Sprintf("%d %s values, total %d", len(want), by, total), nil
}

func orTotal(by string) string {
	if by == "" {
		return "total"
	}
	return by
}

// checkMax takes the largest point of every series by the value of the
// grouping label and compares with want, which must name every series.
func checkMax(r *apiResult, by string, want map[string]float64) (string, error) {
	if r.ResultType != "matrix" {
		return "", fmt.Errorf("resultType %q, want matrix", r.ResultType)
	}
	got := map[string]float64{}
	for _, s := range r.Samples {
		key := s.Metric[by]
		if _, dup := got[key]; dup {
			return "", fmt.Errorf("%s=%q: two series", by, key)
		}
		if len(s.Values) == 0 {
			return "", fmt.Errorf("%s=%q: no points", by, key)
		}
		got[key] = slices.Max(s.Values)
	}
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s=%q: missing, want %v", by, k, want[k]))
		} else if g != want[k] {
			diffs = append(diffs, fmt.Sprintf("%s=%q: got %v, want %v", by, k, g, want[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s=%q: got %v, want no series", by, k, got[k]))
		}
	}
	if len(diffs) > 0 {
		return "", fmt.Errorf("maxima differ from the corpus: %s", strings.Join(diffs, "; "))
	}
	return fmt.Sprintf("the largest of %d %s values", len(want), by), nil
}

// checkTopK checks topk(k, sum by (app) (rate(...[R]))) against the counts
// per app: each value is count/R, and no app left out has a higher count
// than one returned.
func checkTopK(r *apiResult, k int, counts map[string]int64, rangeSecs float64) (string, error) {
	if r.ResultType != "vector" {
		return "", fmt.Errorf("resultType %q, want vector", r.ResultType)
	}
	nonZero := 0
	for _, c := range counts {
		if c > 0 {
			nonZero++
		}
	}
	if len(r.Samples) != min(k, nonZero) {
		return "", fmt.Errorf("%d series, want %d", len(r.Samples), min(k, nonZero))
	}
	in := map[string]bool{}
	minIn := int64(math.MaxInt64)
	for _, s := range r.Samples {
		app := s.Metric["app"]
		if len(s.Values) != 1 {
			return "", fmt.Errorf("app %q: %d values, want 1", app, len(s.Values))
		}
		want := float64(counts[app]) / rangeSecs
		if math.Abs(s.Values[0]-want) > 1e-9*want {
			return "", fmt.Errorf("app %q: rate %v, want %v (%d lines over %gs)", app, s.Values[0], want, counts[app], rangeSecs)
		}
		in[app] = true
		minIn = min(minIn, counts[app])
	}
	for app, c := range counts {
		if !in[app] && c > minIn {
			return "", fmt.Errorf("app %q (%d lines) left out of the top %d for one with %d", app, c, k, minIn)
		}
	}
	return fmt.Sprintf("top %d of %d apps", len(r.Samples), nonZero), nil
}

func checkStrings(got, want []string) (string, error) {
	g := slices.Sorted(slices.Values(got))
	w := slices.Sorted(slices.Values(want))
	if !slices.Equal(g, w) {
		return "", fmt.Errorf("got %q, want %q", g, w)
	}
	return fmt.Sprintf("%d values", len(g)), nil
}

func checkSeries(got []map[string]string, streams []StreamTruth) (string, error) {
	key := func(m map[string]string) string {
		var b strings.Builder
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(&b, "%s=%q,", k, m[k])
		}
		return b.String()
	}
	want := map[string]bool{}
	for _, s := range streams {
		if s.Lines > 0 {
			// The server adds service_name from the app label, as Loki does.
			lbs := maps.Clone(s.Labels)
			lbs["service_name"] = lbs["app"]
			want[key(lbs)] = true
		}
	}
	seen := map[string]bool{}
	for _, m := range got {
		k := key(m)
		if !want[k] {
			return "", fmt.Errorf("series {%s} is not a stream of the corpus", k)
		}
		if seen[k] {
			return "", fmt.Errorf("series {%s} returned twice", k)
		}
		seen[k] = true
	}
	if len(seen) != len(want) {
		return "", fmt.Errorf("%d series, want %d", len(seen), len(want))
	}
	return fmt.Sprintf("%d series", len(seen)), nil
}

// fetch runs one query and decodes the answer.
func fetch(ctx context.Context, hc *http.Client, base string, q *querySpec) (*apiResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+q.path+"?"+q.params.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, clip(body, 300))
	}
	return decodeAPIResult(body)
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// decodeAPIResult decodes a Loki API answer: a query result, a list of
// strings or a list of label sets.
func decodeAPIResult(body []byte) (*apiResult, error) {
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("decoding the answer %s: %w", clip(body, 200), err)
	}
	if env.Status != "success" {
		return nil, fmt.Errorf("status %q: %s", env.Status, clip(body, 300))
	}
	r := &apiResult{}
	d := env.Data
	if len(d) == 0 || string(d) == "null" {
		return r, nil
	}
	if d[0] == '[' {
		if err := json.Unmarshal(d, &r.Strings); err == nil {
			return r, nil
		}
		if err := json.Unmarshal(d, &r.Series); err != nil {
			return nil, fmt.Errorf("decoding data: neither strings nor label sets: %w", err)
		}
		return r, nil
	}
	var qd struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
		Stats      struct {
			Summary statsSummary `json:"summary"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(d, &qd); err != nil {
		return nil, fmt.Errorf("decoding data: %w", err)
	}
	r.ResultType = qd.ResultType
	r.Stats = qd.Stats.Summary
	var err error
	switch qd.ResultType {
	case "streams":
		err = json.Unmarshal(qd.Result, &r.Streams)
	case "matrix":
		var m []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		}
		if err = json.Unmarshal(qd.Result, &m); err == nil {
			for _, s := range m {
				ss := sampleSeries{Metric: s.Metric}
				for _, p := range s.Values {
					v, perr := sampleValue(p)
					if perr != nil {
						return nil, perr
					}
					ss.Values = append(ss.Values, v)
				}
				r.Samples = append(r.Samples, ss)
			}
		}
	case "vector":
		var m []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err = json.Unmarshal(qd.Result, &m); err == nil {
			for _, s := range m {
				v, perr := sampleValue(s.Value)
				if perr != nil {
					return nil, perr
				}
				r.Samples = append(r.Samples, sampleSeries{Metric: s.Metric, Values: []float64{v}})
			}
		}
	case "scalar":
		var p [2]any
		if err = json.Unmarshal(qd.Result, &p); err == nil {
			v, perr := sampleValue(p)
			if perr != nil {
				return nil, perr
			}
			r.Samples = []sampleSeries{{Values: []float64{v}}}
		}
	default:
		return nil, fmt.Errorf("unknown resultType %q", qd.ResultType)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s result: %w", qd.ResultType, err)
	}
	return r, nil
}

func sampleValue(p [2]any) (float64, error) {
	s, ok := p[1].(string)
	if !ok {
		return 0, fmt.Errorf("sample value %v: want a string", p[1])
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("sample value %q: %w", s, err)
	}
	return v, nil
}

// QueryResult is one query's figures over its six runs.
type QueryResult struct {
	Name           string  `json:"name"`
	Query          string  `json:"query"`
	Verified       string  `json:"verified"`
	ColdMs         float64 `json:"cold_ms"`
	MedianMs       float64 `json:"median_ms"` // of runs 2-6, as the client saw them
	ServerMedianMs float64 `json:"server_median_ms"`
	BytesProcessed int64   `json:"bytes_processed"`
	LinesProcessed int64   `json:"lines_processed"`
	BytesPerSec    float64 `json:"bytes_processed_per_sec"`
	BytesPerCPUSec float64 `json:"bytes_processed_per_cpu_sec"` // server CPU over the warm runs
	// StartRSS is the server's resident set before the query's first
	// run, PeakRSS its high-water mark over all its runs (VmHWM, reset
	// before the first): at least StartRSS, since the Go runtime returns
	// freed memory to the kernel only gradually.
	StartRSS int64 `json:"start_rss_bytes"`
	PeakRSS  int64 `json:"peak_rss_bytes"`
}

const queryRuns = 6

// runQueries runs each query queryRuns times, checking every answer.
// perf, when not nil, profiles the server over each query's warm runs, as
// <phase>-<query>; heapDir, when not empty, receives the server's heap
// profile after each query's runs (see saveHeap).
func runQueries(ctx context.Context, srv *process, suite []querySpec, logger *slog.Logger, perf *perfRecorder, heapDir, phase string) ([]QueryResult, error) {
	hc := &http.Client{Timeout: 10 * time.Minute}
	defer hc.CloseIdleConnections()
	var out []QueryResult
	for i := range suite {
		q := &suite[i]
		res := QueryResult{Name: q.Name, Query: q.Query}
		var wall, exec []float64
		var cpu0 procSample
		var warmBytes int64
		stopPerf := func() error { return nil }
		if err := srv.resetPeakRSS(); err != nil {
			return out, fmt.Errorf("resetting the server's peak RSS: %w", err)
		}
		s0, err := srv.sample()
		if err != nil {
			return out, err
		}
		res.StartRSS = s0.RSS
		for run := range queryRuns {
			if run == 1 {
				stopPerf = perf.start(phase + "-" + q.Name)
				s, err := srv.sample()
				if err != nil {
					return out, err
				}
				cpu0 = s
			}
			t0 := time.Now()
			r, err := fetch(ctx, hc, "http://"+srv.addr, q)
			ms := float64(time.Since(t0)) / float64(time.Millisecond)
			if err != nil {
				return out, fmt.Errorf("query %s run %d (%s): %w", q.Name, run+1, q.Query, err)
			}
			summary, err := q.check(r)
			if err != nil {
				return out, fmt.Errorf("query %s run %d (%s): wrong answer: %w", q.Name, run+1, q.Query, err)
			}
			res.Verified = summary
			res.BytesProcessed = r.Stats.TotalBytesProcessed
			res.LinesProcessed = r.Stats.TotalLinesProcessed
			if run == 0 {
				res.ColdMs = ms
				continue
			}
			wall = append(wall, ms)
			exec = append(exec, r.Stats.ExecTime*1000)
			warmBytes += r.Stats.TotalBytesProcessed
		}
		s, err := srv.sample()
		if err != nil {
			return out, err
		}
		if err := stopPerf(); err != nil {
			logger.Warn("profiling", "query", q.Name, "err", err)
		}
		res.PeakRSS = max(s.PeakSinceReset, res.StartRSS) // see sample
		if err := saveHeap(ctx, srv, heapDir, fmt.Sprintf("%s-%02d-%s", phase, i+1, q.Name)); err != nil {
			logger.Warn("saving a heap profile", "query", q.Name, "err", err)
		}
		res.MedianMs = median(wall)
		res.ServerMedianMs = median(exec)
		if res.ServerMedianMs > 0 {
			res.BytesPerSec = float64(res.BytesProcessed) / (res.ServerMedianMs / 1000)
		}
		if cpu := (s.CPU - cpu0.CPU).Seconds(); cpu > 0 {
			res.BytesPerCPUSec = float64(warmBytes) / cpu
		}
		logger.Info("query", "name", q.Name, "cold_ms", res.ColdMs, "median_ms", res.MedianMs,
			"peak_rss_mib", res.PeakRSS>>20, "verified", res.Verified)
		out = append(out, res)
	}
	return out, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
