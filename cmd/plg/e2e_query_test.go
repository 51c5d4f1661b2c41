package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/plgstack/plg/push"
)

func getJSON(t *testing.T, s *server, path string, out any) {
	t.Helper()
	resp, err := http.Get(s.url(path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

type vectorResponse struct {
	Data struct {
		ResultType string
		Result     []struct {
			Metric map[string]string
			Value  []any
		}
	}
}

type matrixResponse struct {
	Data struct {
		ResultType string
		Result     []struct {
			Metric map[string]string
			Values [][]any
		}
	}
}

func sampleValue(t *testing.T, v any) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(v.(string), 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestQueryAPIAnswersFromMemoryAndFromTheStore pushes a corpus whose counts
// are known, and checks metric, label, series, stats and tail answers of the
// real binary, first from the ingester's memory, then after a restart from
// the object store.
func TestQueryAPIAnswersFromMemoryAndFromTheStore(t *testing.T) {
	dataDir := t.TempDir()
	srv := startServer(t, dataDir)
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	want := map[string]int{"api": 0, "web": 0, "db": 0}
	wantErrors := 0
	req := &push.Request{}
	for app, n := range map[string]int{"api": 120, "web": 45, "db": 7} {
		st := push.Stream{Labels: fmt.Sprintf(`{env="qe2e", app=%q}`, app)}
		for i := 0; i < n; i++ {
			level := "info"
			if i%5 == 0 {
				level = "error"
				wantErrors++
			}
			line := fmt.Sprintf(`level=%s app=%s n=%d latency=%dms`, level, app, i, i*10)
			st.Entries = append(st.Entries, push.Entry{Timestamp: base.Add(time.Duration(i) * time.Second).UnixNano(), Line: []byte(line)})
		}
		want[app] = n
		req.Streams = append(req.Streams, st)
	}
	if code, body := srv.post("/loki/api/v1/push", "application/x-protobuf", "", push.EncodeBody(req)); code != http.StatusNoContent {
		t.Fatalf("push: %d %s", code, body)
	}
	now := time.Now()
	rangeParams := "&start=" + fmt.Sprint(base.Add(-time.Minute).UnixNano()) + "&end=" + fmt.Sprint(now.UnixNano())

	check := func(phase string) {
		// Instant vector: lines per app over the whole corpus.
		var vec vectorResponse
		getJSON(t, srv, "/loki/api/v1/query?time="+fmt.Sprint(now.UnixNano())+"&query="+
			url.QueryEscape(`sum by (app) (count_over_time({env="qe2e"}[30m]))`), &vec)
		got := map[string]int{}
		for _, r := range vec.Data.Result {
			got[r.Metric["app"]] = int(sampleValue(t, r.Value[1]))
		}
		if vec.Data.ResultType != "vector" || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: counts %v (%s), want %v", phase, got, vec.Data.ResultType, want)
		}
		// Range matrix: errors per minute sum to the number of error lines.
		var mat matrixResponse
		getJSON(t, srv, "/loki/api/v1/query_range?step=60&query="+
			url.QueryEscape(`sum(count_over_time({env="qe2e"} | logfmt | level="error" [1m]))`)+
			"&start="+fmt.Sprint(base.Add(time.Minute).UnixNano())+"&end="+fmt.Sprint(base.Add(4*time.Minute).UnixNano()), &mat)
		total := 0.0
		for _, r := range mat.Data.Result {
			for _, v := range r.Values {
				total += sampleValue(t, v[1])
			}
		}
		// The steps cover (base, base+4m]; every line lies in (base, base+2m].
		// The three error lines at exactly base (i=0) fall outside (base, ...].
		if mat.Data.ResultType != "matrix" || int(total) != wantErrors-3 {
			t.Fatalf("%s: %v error lines in the matrix, want %d", phase, total, wantErrors-3)
		}
		// Unwrap: the largest latency per app.
		getJSON(t, srv, "/loki/api/v1/query?time="+fmt.Sprint(now.UnixNano())+"&query="+
			url.QueryEscape(`max by (app) (max_over_time({env="qe2e"} | logfmt | unwrap duration(latency) [30m]))`), &vec)
		for _, r := range vec.Data.Result {
			if got, want := sampleValue(t, r.Value[1]), float64(want[r.Metric["app"]]-1)*0.01; got < want-1e-9 || got > want+1e-9 {
				t.Fatalf("%s: max latency of %s = %v, want %v", phase, r.Metric["app"], got, want)
			}
		}
		// Label APIs and series.
		var strs struct{ Data []string }
		getJSON(t, srv, "/loki/api/v1/label/app/values?query="+url.QueryEscape(`{env="qe2e"}`)+rangeParams, &strs)
		sort.Strings(strs.Data)
		if strings.Join(strs.Data, ",") != "api,db,web" {
			t.Fatalf("%s: app values %v", phase, strs.Data)
		}
		getJSON(t, srv, "/loki/api/v1/labels?"+rangeParams[1:], &strs)
		if !strings.Contains(strings.Join(strs.Data, ","), "app") || !strings.Contains(strings.Join(strs.Data, ","), "env") {
			t.Fatalf("%s: labels %v", phase, strs.Data)
		}
		var series struct{ Data []map[string]string }
		getJSON(t, srv, "/loki/api/v1/series?match[]="+url.QueryEscape(`{app=~"a.*|d.*"}`)+rangeParams, &series)
		if len(series.Data) != 2 {
			t.Fatalf("%s: series %v", phase, series.Data)
		}
		var stats struct{ Streams, Entries int }
		getJSON(t, srv, "/loki/api/v1/index/stats?query="+url.QueryEscape(`{env="qe2e"}`)+rangeParams, &stats)
		if stats.Streams < 3 || stats.Entries < 172 {
			t.Fatalf("%s: index stats %+v", phase, stats)
		}
		// Grafana's health check.
		getJSON(t, srv, "/loki/api/v1/query?time=4000000000&query="+url.QueryEscape("vector(1)+vector(1)"), &vec)
		if len(vec.Data.Result) != 1 || vec.Data.Result[0].Value[1] != "2" {
			t.Fatalf("%s: health check %+v", phase, vec)
		}
	}
	check("from memory")

	// Live tail sees a line pushed after it connects.
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+srv.addr+"/loki/api/v1/tail?query="+url.QueryEscape(`{env="qe2e", app="tail"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	tailLine := "tailed line " + fmt.Sprint(time.Now().UnixNano())
	if code, body := srv.post("/loki/api/v1/push", "application/x-protobuf", "", push.EncodeBody(&push.Request{Streams: []push.Stream{
		{Labels: `{env="qe2e", app="tail"}`, Entries: []push.Entry{{Timestamp: time.Now().UnixNano(), Line: []byte(tailLine)}}},
	}})); code != http.StatusNoContent {
		t.Fatalf("push: %d %s", code, body)
	}
	ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, frame, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("tail: %v", err)
	}
	if !strings.Contains(string(frame), tailLine) || !strings.Contains(string(frame), `"dropped_entries"`) {
		t.Fatalf("tail frame %s", frame)
	}
	ws.Close()
	// The tailed line is newer than `now`, so the checks below still see
	// exactly the original corpus.

	srv.stop()
	srv = startServer(t, dataDir)
	check("from the store after a restart")
	srv.stop()
}
