package querier

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/ingester"
	"github.com/plgstack/plg/push"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// base is the time of the first test entry: a fixed instant, so responses
// are byte-for-byte stable.
var base = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// newTestAPI runs the query API over a real in-process ingester holding a
// small known corpus.
func newTestAPI(t *testing.T) http.Handler {
	t.Helper()
	return newTestAPIWith(t, Config{MaxQueryParallelism: 1})
}

func newTestAPIWith(t *testing.T, qcfg Config) http.Handler {
	t.Helper()
	cfg := ingester.DefaultConfig()
	cfg.WAL.Enabled = false
	cfg.FlushOnShutdown = false
	lim := ingester.DefaultLimits()
	lim.RejectOldSamples = false
	lim.CreationGracePeriod = 0
	logger := slog.New(slog.DiscardHandler)
	ing, err := ingester.New(cfg, &ingester.Overrides{Defaults: lim}, nil, t.TempDir(), logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ing.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ing.Stop(context.Background()) })
	at := func(sec int) int64 { return base.Add(time.Duration(sec) * time.Second).UnixNano() }
	req := &push.Request{Streams: []push.Stream{
		{Labels: `{app="api", namespace="prod"}`, Entries: []push.Entry{
			{Timestamp: at(0), Line: []byte(`{"level":"info","status":200,"path":"/users","duration":"12ms"}`)},
			{Timestamp: at(10), Line: []byte(`{"level":"error","status":500,"path":"/orders","duration":"340ms"}`)},
			{Timestamp: at(20), Line: []byte(`{"level":"info","status":200,"path":"/orders","duration":"25ms"}`)},
			{Timestamp: at(70), Line: []byte(`{"level":"warn","status":404,"path":"/missing","duration":"3ms"}`)},
		}},
		{Labels: `{app="web", namespace="prod"}`, Entries: []push.Entry{
			{Timestamp: at(5), Line: []byte(`level=info msg="GET /" status=200 latency=120ms`)},
			{Timestamp: at(65), Line: []byte(`level=error msg="GET /cart" status=502 latency=900ms`),
				Metadata: mustLabels(t, `{trace_id="abc123"}`)},
		}},
		{Labels: `{app="batch", namespace="jobs"}`, Entries: []push.Entry{
			{Timestamp: at(30), Line: []byte("job started <script>alert(1)</script>\ttab")},
		}},
	}}
	if err := ing.Push(context.Background(), "fake", req); err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	api := NewAPI(qcfg, New(Local{ing}, nil), false, logger)
	api.now = func() time.Time { return base.Add(5 * time.Minute) }
	api.RegisterRoutes(r)
	return r
}

func mustLabels(t *testing.T, s string) labels.Labels {
	t.Helper()
	l, err := push.ParseLabels(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// unixNS returns base+sec as a Unix-nanosecond parameter.
func unixNS(sec int) string {
	return strconv.FormatInt(base.Add(time.Duration(sec)*time.Second).UnixNano(), 10)
}

// normalize drops the parts of a response that vary run to run (timings in
// stats) and indents it, so golden files are stable and readable.
func normalize(t *testing.T, body []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return body // plain-text error bodies are compared as they are
	}
	if m, ok := v.(map[string]any); ok {
		if d, ok := m["data"].(map[string]any); ok {
			if st, ok := d["stats"].(map[string]any); ok {
				if s, ok := st["summary"].(map[string]any); ok {
					for _, k := range []string{"execTime", "bytesProcessedPerSecond", "linesProcessedPerSecond"} {
						if _, ok := s[k]; ok {
							s[k] = "<varies>"
						}
					}
				}
			}
		}
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func TestAPIGolden(t *testing.T) {
	h := newTestAPI(t)
	rng := "&start=" + unixNS(-1) + "&end=" + unixNS(120)
	for _, tc := range []struct {
		name   string
		path   string
		status int
	}{
		{"query_range_streams_backward", "/loki/api/v1/query_range?query=" + url.QueryEscape(`{namespace="prod"}`) + rng, 200},
		{"query_range_streams_forward_limit", "/loki/api/v1/query_range?direction=FORWARD&limit=2&query=" + url.QueryEscape(`{namespace="prod"}`) + rng, 200},
		{"query_range_json_filter", "/loki/api/v1/query_range?query=" + url.QueryEscape(`{app="api"} | json | status >= 400 | line_format "{{.path}} {{.status}}"`) + rng, 200},
		{"query_range_escaping", "/loki/api/v1/query_range?query=" + url.QueryEscape(`{app="batch"}`) + rng, 200},
		{"query_range_matrix", "/loki/api/v1/query_range?step=60000ms&query=" + url.QueryEscape(`sum by (app) (count_over_time({namespace="prod"}[1m]))`) + "&start=" + unixNS(0) + "&end=" + unixNS(120), 200},
		{"query_range_volume_histogram", "/loki/api/v1/query_range?step=60&query=" + url.QueryEscape(`sum by (level) (count_over_time({app="api"} | json [1m]))`) + "&start=" + unixNS(0) + "&end=" + unixNS(120), 200},
		{"query_instant_vector", "/loki/api/v1/query?time=" + unixNS(60) + "&query=" + url.QueryEscape(`sum(count_over_time({namespace="prod"}[5m]))`), 200},
		{"query_grafana_health_check", "/loki/api/v1/query?time=4000000000&query=" + url.QueryEscape(`vector(1)+vector(1)`), 200},
		{"query_scalar", "/loki/api/v1/query?time=" + unixNS(60) + "&query=" + url.QueryEscape(`1 + 1`), 200},
		{"labels", "/loki/api/v1/labels?" + rng[1:], 200},
		{"label_values", "/loki/api/v1/label/app/values?" + rng[1:], 200},
		{"label_values_with_selector", "/loki/api/v1/label/app/values?query=" + url.QueryEscape(`{namespace="prod"}`) + rng, 200},
		{"series", "/loki/api/v1/series?match[]=" + url.QueryEscape(`{namespace="prod"}`) + rng, 200},
		{"series_logcli_match", "/loki/api/v1/series?match=" + url.QueryEscape(`{app="batch"}`) + rng, 200},
		{"index_stats", "/loki/api/v1/index/stats?query=" + url.QueryEscape(`{namespace="prod"}`) + rng, 200},
		{"index_volume", "/loki/api/v1/index/volume?query=" + url.QueryEscape(`{namespace="prod"}`) + rng, 200},
		{"index_volume_target_labels", "/loki/api/v1/index/volume?targetLabels=app&query=" + url.QueryEscape(`{namespace=~".+"}`) + rng, 200},
		{"index_volume_range", "/loki/api/v1/index/volume_range?step=60&targetLabels=app&query=" + url.QueryEscape(`{namespace="prod"}`) + "&start=" + unixNS(0) + "&end=" + unixNS(120), 200},
		{"detected_labels", "/loki/api/v1/detected_labels?query=" + url.QueryEscape(`{namespace=~".+"}`) + rng, 200},
		{"detected_fields", "/loki/api/v1/detected_fields?query=" + url.QueryEscape(`{namespace="prod"}`) + rng, 200},
		{"detected_field_values", "/loki/api/v1/detected_field/status/values?query=" + url.QueryEscape(`{namespace="prod"}`) + rng, 200},
		{"patterns", "/loki/api/v1/patterns?query=" + url.QueryEscape(`{namespace="prod"}`) + rng, 200},
		{"format_query", "/loki/api/v1/format_query?query=" + url.QueryEscape(`sum by(app)(rate({app="api"}|="x"[5m]))`), 200},
		{"error_parse", "/loki/api/v1/query_range?query=" + url.QueryEscape(`{app="api"} |= `) + rng, 400},
		{"error_bad_time", "/loki/api/v1/query_range?query=" + url.QueryEscape(`{app="api"}`) + "&start=yesterday", 400},
		{"error_bad_step", "/loki/api/v1/query_range?step=-1&query=" + url.QueryEscape(`rate({app="api"}[1m])`) + rng, 400},
		{"error_missing_match", "/loki/api/v1/series?" + rng[1:], 400},
		{"error_empty_matcher", "/loki/api/v1/query_range?query=" + url.QueryEscape(`{app=~".*"}`) + rng, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, body)
			}
			got := normalize(t, body)
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./querier -run TestAPIGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("response differs from %s:\n%s", golden, got)
			}
		})
	}
}

func TestAPIPostFormEqualsGet(t *testing.T) {
	h := newTestAPI(t)
	form := url.Values{"query": {`{app="web"}`}, "start": {unixNS(0)}, "end": {unixNS(120)}}
	get := httptest.NewRecorder()
	h.ServeHTTP(get, httptest.NewRequest(http.MethodGet, "/loki/api/v1/query_range?"+form.Encode(), nil))
	post := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/loki/api/v1/query_range", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(post, r)
	if get.Code != 200 || post.Code != 200 {
		t.Fatalf("GET %d, POST %d", get.Code, post.Code)
	}
	if !bytes.Equal(normalize(t, get.Body.Bytes()), normalize(t, post.Body.Bytes())) {
		t.Fatalf("POST answer differs from GET:\n%s\n%s", get.Body, post.Body)
	}
}

func TestAPICategorizedLabelsCarryStructuredMetadata(t *testing.T) {
	h := newTestAPI(t)
	r := httptest.NewRequest(http.MethodGet, "/loki/api/v1/query_range?query="+url.QueryEscape(`{app="web"} |= "cart"`)+"&start="+unixNS(0)+"&end="+unixNS(120), nil)
	r.Header.Set("X-Loki-Response-Encoding-Flags", "categorize-labels")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if !strings.Contains(rec.Body.String(), `"structuredMetadata":{"trace_id":"abc123"}`) {
		t.Fatalf("categorized response lacks structured metadata: %s", rec.Body)
	}
}

func TestAPIMultiTenantQueriesLabelEachTenant(t *testing.T) {
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
	defer ing.Stop(context.Background())
	now := time.Now()
	for _, tenant := range []string{"a", "b", "c"} {
		if err := ing.Push(context.Background(), tenant, &push.Request{Streams: []push.Stream{
			{Labels: `{app="x"}`, Entries: []push.Entry{{Timestamp: now.Add(-time.Minute).UnixNano(), Line: []byte("from " + tenant)}}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	NewAPI(Config{}, New(Local{ing}, nil), true, slog.New(slog.DiscardHandler)).RegisterRoutes(r)
	query := func(orgID, q string) (int, string) {
		req := httptest.NewRequest(http.MethodGet, "/loki/api/v1/query_range?direction=forward&query="+url.QueryEscape(q), nil)
		if orgID != "" {
			req.Header.Set("X-Scope-OrgID", orgID)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	code, body := query("a|b", `{app="x"}`)
	if code != 200 || !strings.Contains(body, `"__tenant_id__":"a"`) || !strings.Contains(body, `"__tenant_id__":"b"`) ||
		strings.Contains(body, "from c") {
		t.Fatalf("a|b: %d %s", code, body)
	}
	if code, body = query("a|b", `{app="x", __tenant_id__="b"}`); code != 200 || strings.Contains(body, "from a") || !strings.Contains(body, "from b") {
		t.Fatalf("a|b restricted to b: %d %s", code, body)
	}
	if code, body = query("a", `{app="x"}`); code != 200 || strings.Contains(body, "__tenant_id__") || !strings.Contains(body, "from a") {
		t.Fatalf("single tenant: %d %s", code, body)
	}
	if code, _ = query("", `{app="x"}`); code != http.StatusUnauthorized {
		t.Fatalf("no tenant with auth enabled: %d", code)
	}
	if code, body = query("../etc", `{app="x"}`); code != http.StatusBadRequest {
		t.Fatalf("bad tenant: %d %s", code, body)
	}
}

func TestAPILimitsAnswer400WithTheLimit(t *testing.T) {
	h := newTestAPI(t)
	for _, tc := range []struct{ path, want string }{
		{"/loki/api/v1/query_range?limit=6000&query=" + url.QueryEscape(`{app="api"}`) + "&start=" + unixNS(0) + "&end=" + unixNS(120), "max_entries_limit"},
		{"/loki/api/v1/query_range?query=" + url.QueryEscape(`{app="api"}`) + "&start=" + unixNS(-31*24*3600) + "&end=" + unixNS(0), "max_query_length"},
		{"/loki/api/v1/query_range?step=1ms&query=" + url.QueryEscape(`rate({app="api"}[1m])`) + "&start=" + unixNS(0) + "&end=" + unixNS(3600), "11,000 points"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %q, want 400 mentioning %q", tc.path, rec.Code, rec.Body.String(), tc.want)
		}
	}
}

func TestAPIParallelRangeQueryEqualsSerial(t *testing.T) {
	h := newTestAPI(t)
	gin.SetMode(gin.ReleaseMode)
	path := "/loki/api/v1/query_range?step=10&query=" + url.QueryEscape(`sum by (app) (count_over_time({namespace="prod"}[30s]))`) +
		"&start=" + unixNS(0) + "&end=" + unixNS(120)
	serialRec := httptest.NewRecorder()
	h.ServeHTTP(serialRec, httptest.NewRequest(http.MethodGet, path, nil))

	// The same corpus behind an API that splits the steps into 4 parts.
	parallel := newTestAPIWith(t, Config{MaxQueryParallelism: 4})
	parRec := httptest.NewRecorder()
	parallel.ServeHTTP(parRec, httptest.NewRequest(http.MethodGet, path, nil))
	if serialRec.Code != 200 || parRec.Code != 200 {
		t.Fatalf("serial %d, parallel %d", serialRec.Code, parRec.Code)
	}
	// Results must be equal; stats differ, since windows overlapping a
	// split point are read by both parts.
	result := func(b []byte) string {
		var v struct {
			Data struct {
				Result json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return string(v.Data.Result)
	}
	if s, p := result(serialRec.Body.Bytes()), result(parRec.Body.Bytes()); s != p || len(s) < 50 {
		t.Fatalf("parallel answer differs:\n%s\n%s", s, p)
	}
}
