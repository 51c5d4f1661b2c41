package main

import (
	"os"
	"strings"
	"testing"
)

func osGetpid() int { return os.Getpid() }

func TestDecodeAPIResult(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		check      func(*apiResult) bool
		err        bool
	}{
		{"streams", `{"status":"success","data":{"resultType":"streams","result":[{"stream":{"a":"b"},"values":[["2","x"],["1","y",{"k":"v"}]]}],"stats":{"summary":{"totalBytesProcessed":10,"execTime":0.5}}}}`,
			func(r *apiResult) bool {
				return r.ResultType == "streams" && len(r.Streams) == 1 && len(r.Streams[0].Values) == 2 && r.Stats.TotalBytesProcessed == 10 && r.Stats.ExecTime == 0.5
			}, false},
		{"matrix", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"level":"info"},"values":[[1,"2"],[2,"3.5"]]}]}}`,
			func(r *apiResult) bool {
				return len(r.Samples) == 1 && r.Samples[0].Metric["level"] == "info" && r.Samples[0].Values[1] == 3.5
			}, false},
		{"vector", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"42"]}]}}`,
			func(r *apiResult) bool { return len(r.Samples) == 1 && r.Samples[0].Values[0] == 42 }, false},
		{"strings", `{"status":"success","data":["app","pod"]}`,
			func(r *apiResult) bool { return len(r.Strings) == 2 && r.Strings[1] == "pod" }, false},
		{"label sets", `{"status":"success","data":[{"app":"x"}]}`,
			func(r *apiResult) bool { return len(r.Series) == 1 && r.Series[0]["app"] == "x" }, false},
		{"error status", `{"status":"error","error":"bad"}`, nil, true},
		{"value not a string", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,42]}]}}`, nil, true},
		{"unknown type", `{"status":"success","data":{"resultType":"tensor","result":[]}}`, nil, true},
		{"not JSON", `<html>`, nil, true},
	} {
		r, err := decodeAPIResult([]byte(tc.body))
		if (err != nil) != tc.err {
			t.Errorf("%s: error %v, want error %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && !tc.check(r) {
			t.Errorf("%s: decoded %+v", tc.name, r)
		}
	}
}

func streamsAnswer(ts ...string) *apiResult {
	var vals [][]any
	for _, t := range ts {
		vals = append(vals, []any{t, "an error here"})
	}
	return &apiResult{ResultType: "streams", Streams: []streamResult{{Values: vals}}}
}

func TestCheckNewest(t *testing.T) {
	m := &MatchTruth{Lines: 5, Newest: []int64{50, 40, 30, 20, 10}}
	for _, tc := range []struct {
		name  string
		r     *apiResult
		limit int
		err   string
	}{
		{"all matches", streamsAnswer("10", "20", "30", "40", "50"), 100, ""},
		{"the newest three under limit 3", streamsAnswer("50", "40", "30"), 3, ""},
		{"one missing", streamsAnswer("50", "40", "30", "20"), 100, "4 lines returned, want 5"},
		{"not the newest", streamsAnswer("50", "40", "20"), 3, "not the newest"},
		{"wrong type", &apiResult{ResultType: "matrix"}, 100, "resultType"},
	} {
		_, err := checkNewest(tc.r, m, tc.limit, "error")
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
	if _, err := checkNewest(streamsAnswer("50"), &MatchTruth{Lines: 1, Newest: []int64{50}}, 10, "timeout"); err == nil {
		t.Error("a line without the searched word passed")
	}
}

func TestCheckSums(t *testing.T) {
	matrix := &apiResult{ResultType: "matrix", Samples: []sampleSeries{
		{Metric: map[string]string{"level": "info"}, Values: []float64{3, 4}},
		{Metric: map[string]string{"level": "error"}, Values: []float64{1}},
	}}
	for _, tc := range []struct {
		name string
		want map[string]int64
		err  string
	}{
		{"sums match", map[string]int64{"info": 7, "error": 1}, ""},
		{"a count off by one", map[string]int64{"info": 8, "error": 1}, `level="info": got 7, want 8`},
		{"a group missing from the answer", map[string]int64{"info": 7, "error": 1, "warn": 2}, `level="warn": got 0, want 2`},
		{"a group the corpus lacks", map[string]int64{"info": 7}, `level="error": got 1, want 0`},
	} {
		_, err := checkSums(matrix, "matrix", "level", tc.want)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
	if _, err := checkSums(matrix, "vector", "level", map[string]int64{"info": 7, "error": 1}); err == nil {
		t.Error("a matrix passed for a vector")
	}
	if _, err := checkSums(&apiResult{ResultType: "vector"}, "vector", "", map[string]int64{"": 0}); err != nil {
		t.Errorf("an empty vector for a count of 0: %v", err)
	}
}

func TestCheckMax(t *testing.T) {
	matrix := &apiResult{ResultType: "matrix", Samples: []sampleSeries{
		{Metric: map[string]string{"namespace": "shop"}, Values: []float64{0.25, 1.5, 0.75}},
		{Metric: map[string]string{"namespace": "auth"}, Values: []float64{0.02}},
	}}
	for _, tc := range []struct {
		name string
		want map[string]float64
		err  string
	}{
		{"maxima match", map[string]float64{"shop": 1.5, "auth": 0.02}, ""},
		{"a smaller maximum", map[string]float64{"shop": 1.25, "auth": 0.02}, `namespace="shop": got 1.5, want 1.25`},
		{"a namespace missing from the answer", map[string]float64{"shop": 1.5, "auth": 0.02, "orders": 1}, `namespace="orders": missing`},
		{"a namespace the corpus lacks", map[string]float64{"shop": 1.5}, `namespace="auth": got 0.02, want no series`},
	} {
		_, err := checkMax(matrix, "namespace", tc.want)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
	if _, err := checkMax(&apiResult{ResultType: "vector"}, "namespace", nil); err == nil {
		t.Error("a vector passed for a matrix")
	}
}

func TestCheckTopK(t *testing.T) {
	counts := map[string]int64{"a": 30, "b": 20, "c": 20, "d": 5, "e": 0}
	vec := func(kv ...any) *apiResult {
		r := &apiResult{ResultType: "vector"}
		for i := 0; i < len(kv); i += 2 {
			r.Samples = append(r.Samples, sampleSeries{Metric: map[string]string{"app": kv[i].(string)}, Values: []float64{kv[i+1].(float64)}})
		}
		return r
	}
	for _, tc := range []struct {
		name string
		r    *apiResult
		err  string
	}{
		{"the top two, either of a tie", vec("a", 3.0, "c", 2.0), ""},
		{"the top two, the other of the tie", vec("a", 3.0, "b", 2.0), ""},
		{"a lower app in the top", vec("a", 3.0, "d", 0.5), "left out of the top 2 for one with 5"},
		{"a wrong rate", vec("a", 3.1, "b", 2.0), "rate"},
		{"too few", vec("a", 3.0), "1 series, want 2"},
	} {
		_, err := checkTopK(tc.r, 2, counts, 10)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
}

func TestCheckSeries(t *testing.T) {
	streams := []StreamTruth{
		{Labels: map[string]string{"app": "a", "pod": "1"}, Volume: Volume{Lines: 1}},
		{Labels: map[string]string{"app": "b", "pod": "2"}, Volume: Volume{Lines: 3}},
		{Labels: map[string]string{"app": "c", "pod": "3"}}, // received nothing
	}
	// The server adds service_name, from app.
	a := map[string]string{"app": "a", "pod": "1", "service_name": "a"}
	b := map[string]string{"pod": "2", "app": "b", "service_name": "b"}
	for _, tc := range []struct {
		name string
		got  []map[string]string
		err  string
	}{
		{"every stream with lines", []map[string]string{b, a}, ""},
		{"one missing", []map[string]string{a}, "1 series, want 2"},
		{"a duplicate", []map[string]string{a, a, b}, "twice"},
		{"a stranger", []map[string]string{a, b, {"app": "c", "pod": "3", "service_name": "c"}}, "not a stream"},
		{"no service_name", []map[string]string{{"app": "a", "pod": "1"}, b}, "not a stream"},
	} {
		_, err := checkSeries(tc.got, streams)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
}

func TestQueryWindowTilesTheCorpus(t *testing.T) {
	cfg := testCorpus(100_000, 1)
	_, tr := generateAll(t, cfg)
	w := windowFor(tr, cfg)
	if tr.FirstTs <= w.Start || tr.LastTs > w.End {
		t.Fatalf("lines span [%d, %d], window (%d, %d]", tr.FirstTs, tr.LastTs, w.Start, w.End)
	}
	if (w.End-w.Start)%int64(alignStep) != 0 {
		t.Errorf("window of %d ns is not a multiple of %s", w.End-w.Start, alignStep)
	}
	if got := w.rangeStr(); got != "60m" {
		t.Errorf("range %q, want 60m", got)
	}
}
