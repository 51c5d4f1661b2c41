package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// countProbe is one way of asking the server for every stream's line count.
// The plain count is answered from block metadata where it can be; the
// line filter that matches every line makes the server decode every entry,
// so the two disagree only if one of those read paths is wrong.
type countProbe struct {
	name  string
	query string
}

func countProbes(w queryWindow) []countProbe {
	r := w.rangeStr()
	return []countProbe{
		{"summaries", fmt.Sprintf("count_over_time(%s [%s])", allStreams, r)},
		{"entries", fmt.Sprintf("count_over_time(%s != %q [%s])", allStreams, "plgbench-matches-no-line", r)},
	}
}

// diagnoseCount explains a count of everything that differs from the
// corpus: per stream, what each probe counted against what was pushed, and
// again after POST /flush has moved everything to the store. It returns a
// report for the error message; it never fails the run itself.
func diagnoseCount(ctx context.Context, srv *process, t *Truth, w queryWindow) string {
	var b strings.Builder
	hc := &http.Client{Timeout: 5 * time.Minute}
	defer hc.CloseIdleConnections()
	probe := func(when string) {
		for _, p := range countProbes(w) {
			spec := querySpec{Name: p.name, Query: p.query, path: "/loki/api/v1/query", params: w.instantParams(p.query)}
			r, err := fetch(ctx, hc, "http://"+srv.addr, &spec)
			if err != nil {
				fmt.Fprintf(&b, "%s, %s: %v\n", when, p.name, err)
				continue
			}
			fmt.Fprintf(&b, "%s, %s: %s\n", when, p.name, streamCountDiff(t, r))
		}
	}
	probe("before flush")
	if err := postFlush(ctx, srv); err != nil {
		fmt.Fprintf(&b, "flush: %v\n", err)
		return b.String()
	}
	probe("after flush")
	return b.String()
}

// streamCountDiff compares a per-stream count result with the truth and
// lists the streams whose counts differ.
func streamCountDiff(t *Truth, r *apiResult) string {
	key := func(m map[string]string) string {
		return m["namespace"] + "/" + m["pod"] + "/" + m["container"]
	}
	got := map[string]int64{}
	for _, s := range r.Samples {
		if len(s.Values) > 0 {
			got[key(s.Metric)] += int64(s.Values[len(s.Values)-1])
		}
	}
	var diffs []string
	var total, want int64
	for _, st := range t.Streams {
		k := key(st.Labels)
		total += got[k]
		want += st.Lines
		if got[k] != st.Lines {
			diffs = append(diffs, fmt.Sprintf("%s %d (want %d)", k, got[k], st.Lines))
		}
		delete(got, k)
	}
	for k, n := range got {
		diffs = append(diffs, fmt.Sprintf("%s %d (unknown stream)", k, n))
	}
	sort.Strings(diffs)
	if len(diffs) == 0 {
		return fmt.Sprintf("all %d streams right (%d lines)", len(t.Streams), total)
	}
	const shown = 20
	n, more := len(diffs), ""
	if len(diffs) > shown {
		more = fmt.Sprintf(" and %d more", len(diffs)-shown)
		diffs = diffs[:shown]
	}
	return fmt.Sprintf("%d lines of %d; %d streams differ: %s%s", total, want, n, strings.Join(diffs, ", "), more)
}
