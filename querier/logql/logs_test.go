package logql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/querier/logql/syntax"
)

const s = time.Second

// logData is the data set of the log query tests.
func logData(t testing.TB) *memSource {
	return newSource(t, map[string][]testEntry{
		`{app="api", env="prod"}`: {
			e(1*s, `level=info msg="request done" status=200 duration=15ms size=1KB`),
			e(2*s, `level=error msg="db timeout" status=500 duration=2s size=512B`),
			e(3*s, `level=info msg="request done" status=404 duration=30ms size=2KB`),
			e(4*s, `level=warn msg="slow" status=200 duration=1.5s size=4KB`),
		},
		`{app="web", env="prod"}`: {
			e(1500*time.Millisecond, `{"level":"info","method":"GET","status":200,"latency":"10ms"}`),
			e(2500*time.Millisecond, `{"level":"error","method":"POST","status":503,"latency":"250ms"}`),
			e(3500*time.Millisecond, `{"level":"info","method":"GET","status":200,"latency":"20ms"}`),
		},
		`{app="proxy", env="dev"}`: {
			e(1*s, "\x1b[32mclient\x1b[0m 10.0.0.5 GET /a"),
			e(2*s, "\x1b[32mclient\x1b[0m 192.168.1.9 GET /b"),
		},
		`{app="packed", env="test"}`: {
			e(1*s, `{"_entry":"original line","container":"c1"}`),
		},
		`{app="meta", env="dev"}`: {
			{off: 1 * s, line: "with trace", md: labels.FromStrings("trace_id", "abc")},
			{off: 2 * s, line: "other trace", md: labels.FromStrings("trace_id", "def")},
		},
	})
}

// flatten renders a streams result as "labels +offset line", stream by
// stream in result order.
func flatten(res Result) []string {
	var out []string
	for _, st := range res.Streams {
		for _, en := range st.Entries {
			out = append(out, fmt.Sprintf("%s +%s %s", st.Labels, time.Duration(en.Timestamp-t0.UnixNano()), en.Line))
		}
	}
	return out
}

func runLogQuery(t *testing.T, src Source, p Params) Result {
	t.Helper()
	res, err := newTestEngine().Query(context.Background(), src, p)
	if err != nil {
		t.Fatalf("query %s: %v", p.Query, err)
	}
	if res.Type != ValueStreams {
		t.Fatalf("query %s: result type %s, want streams", p.Query, res.Type)
	}
	return res
}

func logParams(q string) Params {
	return Params{Query: q, Start: at(0), End: at(10 * s), Limit: 100, Direction: chunks.Backward}
}

func TestLogQueryFiltersLines(t *testing.T) {
	api := `{app="api", env="prod"}`
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"contains keeps lines with the substring", `{app="api"} |= "error"`, []string{
			api + ` +2s level=error msg="db timeout" status=500 duration=2s size=512B`,
		}},
		{"not contains drops lines with the substring, newest first", `{app="api"} != "info"`, []string{
			api + ` +4s level=warn msg="slow" status=200 duration=1.5s size=4KB`,
			api + ` +2s level=error msg="db timeout" status=500 duration=2s size=512B`,
		}},
		{"regexp is unanchored", `{app="api"} |~ "status=(404|500)"`, []string{
			api + ` +3s level=info msg="request done" status=404 duration=30ms size=2KB`,
			api + ` +2s level=error msg="db timeout" status=500 duration=2s size=512B`,
		}},
		{"negated regexp", `{app="api"} !~ "level=(info|warn)"`, []string{
			api + ` +2s level=error msg="db timeout" status=500 duration=2s size=512B`,
		}},
		{"or-chain keeps lines matching any value", `{app="api"} |= "slow" or "db timeout"`, []string{
			api + ` +4s level=warn msg="slow" status=200 duration=1.5s size=4KB`,
			api + ` +2s level=error msg="db timeout" status=500 duration=2s size=512B`,
		}},
		{"negated or-chain keeps lines matching no value", `{app="api"} != "slow" or "db timeout"`, []string{
			api + ` +3s level=info msg="request done" status=404 duration=30ms size=2KB`,
			api + ` +1s level=info msg="request done" status=200 duration=15ms size=1KB`,
		}},
		{"chained filters all apply", `{app="api"} |= "info" != "404"`, []string{
			api + ` +1s level=info msg="request done" status=200 duration=15ms size=1KB`,
		}},
		{"pattern filter", `{app="api"} |> "<_> status=500 <_>"`, []string{
			api + ` +2s level=error msg="db timeout" status=500 duration=2s size=512B`,
		}},
		{"ip filter matches a CIDR", `{app="proxy"} |= ip("10.0.0.0/8")`, []string{
			`{app="proxy", env="dev"} +1s ` + "\x1b[32mclient\x1b[0m 10.0.0.5 GET /a",
		}},
		{"decolorize strips ANSI escapes", `{app="proxy"} |= "/b" | decolorize`, []string{
			`{app="proxy", env="dev"} +2s client 192.168.1.9 GET /b`,
		}},
		{"selector matchers all apply", `{env="dev", app=~"pro.*"} |= "GET /a"`, []string{
			`{app="proxy", env="dev"} +1s ` + "\x1b[32mclient\x1b[0m 10.0.0.5 GET /a",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := flatten(runLogQuery(t, logData(t), logParams(tt.query)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestLogQueryParsersAndLabels(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"logfmt and numeric filter split results by parsed labels", `{app="api"} | logfmt | status >= 400`, []string{
			`{app="api", duration="2s", env="prod", level="error", msg="db timeout", size="512B", status="500"} +2s level=error msg="db timeout" status=500 duration=2s size=512B`,
			`{app="api", duration="30ms", env="prod", level="info", msg="request done", size="2KB", status="404"} +3s level=info msg="request done" status=404 duration=30ms size=2KB`,
		}},
		{"duration filter", `{app="api"} | logfmt | duration > 1s | keep app`, []string{
			`{app="api"} +4s level=warn msg="slow" status=200 duration=1.5s size=4KB`,
			`{app="api"} +2s level=error msg="db timeout" status=500 duration=2s size=512B`,
		}},
		{"bytes filter", `{app="api"} | logfmt | size > 1KB | keep size`, []string{
			`{size="2KB"} +3s level=info msg="request done" status=404 duration=30ms size=2KB`,
			`{size="4KB"} +4s level=warn msg="slow" status=200 duration=1.5s size=4KB`,
		}},
		{"or between label filters", `{app="api"} | logfmt | status="404" or level="warn" | keep level`, []string{
			`{level="info"} +3s level=info msg="request done" status=404 duration=30ms size=2KB`,
			`{level="warn"} +4s level=warn msg="slow" status=200 duration=1.5s size=4KB`,
		}},
		{"json parser and string filter", `{app="web"} | json | method="POST"`, []string{
			`{app="web", env="prod", latency="250ms", level="error", method="POST", status="503"} +2.5s {"level":"error","method":"POST","status":503,"latency":"250ms"}`,
		}},
		{"json with expressions", `{app="web"} | json m="method", code="status" | code=200 | keep m`, []string{
			`{m="GET"} +3.5s {"level":"info","method":"GET","status":200,"latency":"20ms"}`,
			`{m="GET"} +1.5s {"level":"info","method":"GET","status":200,"latency":"10ms"}`,
		}},
		{"regexp parser", "{app=\"api\"} | regexp `status=(?P<code>\\d+)` | code=\"404\" | keep code", []string{
			`{code="404"} +3s level=info msg="request done" status=404 duration=30ms size=2KB`,
		}},
		{"pattern parser", `{app="proxy"} | decolorize | pattern "client <ip> <method> <path>" | keep ip, path`, []string{
			`{ip="10.0.0.5", path="/a"} +1s client 10.0.0.5 GET /a`,
			`{ip="192.168.1.9", path="/b"} +2s client 192.168.1.9 GET /b`,
		}},
		{"ip label filter", `{app="proxy"} | decolorize | pattern "client <ip> <_>" | ip = ip("192.168.0.0/16") | keep ip`, []string{
			`{ip="192.168.1.9"} +2s client 192.168.1.9 GET /b`,
		}},
		{"drop with a matcher drops only matching values", `{app="web"} | json | drop level="info" | keep level, method`, []string{
			`{level="error", method="POST"} +2.5s {"level":"error","method":"POST","status":503,"latency":"250ms"}`,
			`{method="GET"} +3.5s {"level":"info","method":"GET","status":200,"latency":"20ms"}`,
			`{method="GET"} +1.5s {"level":"info","method":"GET","status":200,"latency":"10ms"}`,
		}},
		{"line_format rewrites the line", `{app="api"} | logfmt | status="500" | line_format "{{.level}}:{{.status}}" | keep app`, []string{
			`{app="api"} +2s error:500`,
		}},
		{"label_format renames a label", `{app="api"} |= "slow" | logfmt | label_format code=status | keep app, code`, []string{
			`{app="api", code="200"} +4s level=warn msg="slow" status=200 duration=1.5s size=4KB`,
		}},
		{"label_format template", `{app="api"} |= "slow" | logfmt | label_format tag="{{.level}}-{{.status}}" | keep tag`, []string{
			`{tag="warn-200"} +4s level=warn msg="slow" status=200 duration=1.5s size=4KB`,
		}},
		{"drop removes labels", `{app="api"} |= "slow" | logfmt | drop msg, duration, size, level`, []string{
			`{app="api", env="prod", status="200"} +4s level=warn msg="slow" status=200 duration=1.5s size=4KB`,
		}},
		{"keep groups lines by the kept labels only", `{app="web"} | json | keep level`, []string{
			`{level="error"} +2.5s {"level":"error","method":"POST","status":503,"latency":"250ms"}`,
			`{level="info"} +3.5s {"level":"info","method":"GET","status":200,"latency":"20ms"}`,
			`{level="info"} +1.5s {"level":"info","method":"GET","status":200,"latency":"10ms"}`,
		}},
		{"unpack restores the packed line and labels", `{app="packed"} | unpack`, []string{
			`{app="packed", container="c1", env="test"} +1s original line`,
		}},
		{"structured metadata can be filtered", `{app="meta"} | trace_id="abc"`, []string{
			`{app="meta", env="dev", trace_id="abc"} +1s with trace`,
		}},
		{"parser errors are labelled and can be filtered; keep keeps them", `{app="api"} | json | __error__!="" | keep app`, []string{
			`{__error__="JSONParserErr", __error_details__="json: line is not a JSON object", app="api"} +4s level=warn msg="slow" status=200 duration=1.5s size=4KB`,
			`{__error__="JSONParserErr", __error_details__="json: line is not a JSON object", app="api"} +3s level=info msg="request done" status=404 duration=30ms size=2KB`,
			`{__error__="JSONParserErr", __error_details__="json: line is not a JSON object", app="api"} +2s level=error msg="db timeout" status=500 duration=2s size=512B`,
			`{__error__="JSONParserErr", __error_details__="json: line is not a JSON object", app="api"} +1s level=info msg="request done" status=200 duration=15ms size=1KB`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := flatten(runLogQuery(t, logData(t), logParams(tt.query)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestLogQueryCategorizedLabelsGroupByStreamLabels(t *testing.T) {
	p := logParams(`{app="web"} | json | keep app, level`)
	p.CategorizeLabels = true
	res := runLogQuery(t, logData(t), p)
	if len(res.Streams) != 1 || res.Streams[0].Labels.String() != `{app="web"}` {
		t.Fatalf("got streams %q, want one stream {app=\"web\"}", flatten(res))
	}
	var levels []string
	for _, en := range res.Streams[0].Entries {
		levels = append(levels, en.Parsed.String())
	}
	want := []string{`{level="info"}`, `{level="error"}`, `{level="info"}`}
	if !slices.Equal(levels, want) {
		t.Errorf("parsed labels %q, want %q (newest first)", levels, want)
	}
}

func TestLogQueryEntriesCarryMetadataAndParsedLabels(t *testing.T) {
	res := runLogQuery(t, logData(t), logParams(`{app="meta"} |= "with" | label_format x="1"`))
	if len(res.Streams) != 1 || len(res.Streams[0].Entries) != 1 {
		t.Fatalf("got %v", flatten(res))
	}
	en := res.Streams[0].Entries[0]
	if want := labels.FromStrings("trace_id", "abc"); !labels.Equal(en.StructuredMetadata, want) {
		t.Errorf("structured metadata %s, want %s", en.StructuredMetadata, want)
	}
	if want := labels.FromStrings("x", "1"); !labels.Equal(en.Parsed, want) {
		t.Errorf("parsed %s, want %s", en.Parsed, want)
	}
}

func TestLogQueryLimitDirectionIntervalAndRange(t *testing.T) {
	api := `{app="api", env="prod"}`
	web := `{app="web", env="prod"}`
	tests := []struct {
		name string
		p    Params
		want []string
	}{
		{"backward limit keeps the newest entries across streams",
			Params{Query: `{env="prod"} | line_format "x"`, Start: at(0), End: at(10 * s), Limit: 3, Direction: chunks.Backward},
			[]string{api + " +4s x", api + " +3s x", web + " +3.5s x"}},
		{"forward limit keeps the oldest entries across streams",
			Params{Query: `{env="prod"} | line_format "x"`, Start: at(0), End: at(10 * s), Limit: 3, Direction: chunks.Forward},
			[]string{api + " +1s x", api + " +2s x", web + " +1.5s x"}},
		{"range includes start and excludes end",
			Params{Query: `{app="api"} | line_format "x"`, Start: at(2 * s), End: at(4 * s), Limit: 100, Direction: chunks.Forward},
			[]string{api + " +2s x", api + " +3s x"}},
		{"forward interval keeps one entry per interval from the first",
			Params{Query: `{app="api"} | line_format "x"`, Start: at(0), End: at(10 * s), Limit: 100, Direction: chunks.Forward, Interval: 2 * s},
			[]string{api + " +1s x", api + " +3s x"}},
		{"backward interval counts back from the newest",
			Params{Query: `{app="api"} | line_format "x"`, Start: at(0), End: at(10 * s), Limit: 100, Direction: chunks.Backward, Interval: 2 * s},
			[]string{api + " +4s x", api + " +2s x"}},
		// 1s kept; 1.5s, 2s < 1s+1.2s; 2.5s kept; 3s, 3.5s < 3.7s; 4s kept.
		{"interval spans streams",
			Params{Query: `{env="prod"} | line_format "x"`, Start: at(0), End: at(10 * s), Limit: 100, Direction: chunks.Forward, Interval: 1200 * time.Millisecond},
			[]string{api + " +1s x", api + " +4s x", web + " +2.5s x"}},
		{"interval and limit together",
			Params{Query: `{env="prod"} | line_format "x"`, Start: at(0), End: at(10 * s), Limit: 2, Direction: chunks.Forward, Interval: 1200 * time.Millisecond},
			[]string{api + " +1s x", web + " +2.5s x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := flatten(runLogQuery(t, logData(t), tt.p))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestLogQueryStopsReadingAtTheLimit(t *testing.T) {
	var entries []testEntry
	for i := range 10000 {
		entries = append(entries, e(time.Duration(i)*time.Millisecond, fmt.Sprintf("line %d with some padding to fill blocks", i)))
	}
	src := newSource(t, map[string][]testEntry{`{app="big"}`: entries})
	res := runLogQuery(t, src, Params{Query: `{app="big"}`, Start: at(0), End: at(time.Hour), Limit: 5, Direction: chunks.Forward})
	if got := len(res.Streams[0].Entries); got != 5 {
		t.Fatalf("got %d entries, want 5", got)
	}
	if res.Stats.TotalLinesProcessed >= 1000 {
		t.Errorf("processed %d lines for a limit of 5; the merge should stop early", res.Stats.TotalLinesProcessed)
	}
	if res.Stats.DecompressedLines == 0 && res.Stats.HeadLines == 0 {
		t.Errorf("stats count no chunk work: %+v", res.Stats.Stats)
	}
}

func TestLogQueryErrorsAreBadRequests(t *testing.T) {
	tests := []struct {
		name   string
		p      Params
		target error
	}{
		{"instant log query", Params{Query: `{app="api"}`, Start: at(s), End: at(s), Instant: true, Limit: 10}, ErrInstantLogQuery},
		{"limit above the maximum", Params{Query: `{app="api"}`, Start: at(0), End: at(s), Limit: 5001}, ErrLimit},
		{"parse error", Params{Query: `{app="api"`, Start: at(0), End: at(s), Limit: 10}, syntax.ErrParse},
		{"bad regexp in a filter", Params{Query: `{app="api"} |~ "("`, Start: at(0), End: at(s), Limit: 10}, ErrBadRequest},
		{"log query ending before it starts", Params{Query: `{app="api"}`, Start: at(s), End: at(0), Limit: 10}, ErrBadRequest},
		{"metric query ending before it starts", Params{Query: `count_over_time({app="api"}[1m])`, Start: at(s), End: at(0), Step: s}, ErrBadRequest},
		{"negative step", Params{Query: `count_over_time({app="api"}[1m])`, Start: at(0), End: at(s), Step: -s}, ErrBadRequest},
		{"too many points", Params{Query: `count_over_time({app="api"}[1m])`, Start: at(0), End: at(time.Hour), Step: time.Millisecond}, ErrLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newTestEngine().Query(context.Background(), logData(t), tt.p)
			if !errors.Is(err, tt.target) {
				t.Fatalf("error %v, want %v", err, tt.target)
			}
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("error %v does not match ErrBadRequest", err)
			}
		})
	}
	_, err := newTestEngine().Query(context.Background(), logData(t), Params{Query: `{app="api"`, Start: at(0), End: at(s), Limit: 10})
	var pe *syntax.ParseError
	if !errors.As(err, &pe) {
		t.Errorf("parse error %v does not unwrap to *syntax.ParseError", err)
	}
}

func TestQueryTimeout(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newTestEngine().Query(ctx, logData(t), logParams(`{app="api"}`))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestEngineMetricsCountQueriesByOutcome(t *testing.T) {
	reg := prometheus.NewRegistry()
	eng := NewEngine(EngineOptions{Registerer: reg}, nil)
	NewEngine(EngineOptions{Registerer: reg}, nil) // a second engine shares the metrics
	src := logData(t)
	if _, err := eng.Query(context.Background(), src, logParams(`{app="api"} |= "error"`)); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Query(context.Background(), src, logParams(`{app="api"`)); err == nil {
		t.Fatal("parse error expected")
	}
	if got := testutil.ToFloat64(eng.metrics.queries.WithLabelValues("log", "ok")); got != 1 {
		t.Errorf("log/ok queries = %v, want 1", got)
	}
	if got := testutil.ToFloat64(eng.metrics.queries.WithLabelValues("invalid", "bad_request")); got != 1 {
		t.Errorf("invalid/bad_request queries = %v, want 1", got)
	}
	if got := testutil.ToFloat64(eng.metrics.lines); got != 4 {
		t.Errorf("lines processed = %v, want the 4 lines of the api stream", got)
	}
}

func TestQueryStatsCountTheWorkDone(t *testing.T) {
	lines := []string{"first line", "second, longer line", "third"}
	var entries []testEntry
	var bytes int64
	for i, l := range lines {
		entries = append(entries, e(time.Duration(i+1)*s, l))
		bytes += int64(len(l))
	}
	src := newSource(t, map[string][]testEntry{`{app="s"}`: entries, `{app="other"}`: {e(s, "not selected")}})
	for _, q := range []string{`{app="s"} |= "line"`, `count_over_time({app="s"}[1m])`} {
		p := logParams(q)
		p.Step = s
		res := runQuery(t, src, p)
		st := res.Stats
		if st.TotalLinesProcessed != 3 || st.TotalBytesProcessed != bytes || st.Streams != 1 {
			t.Errorf("%s: lines %d bytes %d streams %d, want 3, %d, 1", q, st.TotalLinesProcessed, st.TotalBytesProcessed, st.Streams, bytes)
		}
		// The filter keeps 2 lines, which the log query returns; the
		// metric query keeps all 3 and returns one point per step from
		// 1s to 10s (the window (-60s, 0s] is empty).
		wantKept, wantReturned := int64(3), int64(10)
		if q[0] == '{' {
			wantKept, wantReturned = 2, 2
		}
		if st.PostFilterLines != wantKept || st.EntriesReturned != wantReturned {
			t.Errorf("%s: post-filter lines %d, entries returned %d, want %d, %d", q, st.PostFilterLines, st.EntriesReturned, wantKept, wantReturned)
		}
		if st.DecompressedLines+st.HeadLines < 3 {
			t.Errorf("%s: chunk stats %+v count fewer than the 3 lines read", q, st.Stats)
		}
		if st.ExecTime <= 0 {
			t.Errorf("%s: exec time %v", q, st.ExecTime)
		}
	}
}

func TestQueryTimeoutStopsEvaluation(t *testing.T) {
	eng := NewEngine(EngineOptions{QueryTimeout: time.Nanosecond}, nil)
	for _, q := range []string{`{app="api"}`, `count_over_time({app="api"}[1m])`} {
		p := logParams(q)
		p.Step = s
		_, err := eng.Query(context.Background(), logData(t), p)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: error %v, want a deadline error that is not a bad request", q, err)
		}
	}
}

// failingSource fails Select, or yields one entry and then an iterator error.
type failingSource struct{ failSelect bool }

var errStorage = errors.New("object store unavailable")

func (f failingSource) Select(context.Context, []*labels.Matcher, int64, int64, chunks.Direction, SelectHints, *chunks.Stats) ([]SourceStream, error) {
	if f.failSelect {
		return nil, errStorage
	}
	return []SourceStream{{Labels: labels.FromStrings("app", "f"), Iter: &failingIter{}}}, nil
}

type failingIter struct{ n int }

func (it *failingIter) Next() bool { it.n++; return it.n == 1 }
func (it *failingIter) At() chunks.Entry {
	return chunks.Entry{Timestamp: ns(time.Second), Line: []byte("only line")}
}
func (it *failingIter) Err() error {
	if it.n > 1 {
		return errStorage
	}
	return nil
}
func (it *failingIter) Close() error { return nil }

func TestStorageErrorsFailTheQueryAsServerErrors(t *testing.T) {
	for _, src := range []failingSource{{failSelect: true}, {}} {
		for _, q := range []string{`{app="f"}`, `count_over_time({app="f"}[1m])`} {
			p := logParams(q)
			p.Step = s
			_, err := newTestEngine().Query(context.Background(), src, p)
			if !errors.Is(err, errStorage) || errors.Is(err, ErrBadRequest) {
				t.Errorf("select fails=%v %s: error %v, want the storage error, not a bad request", src.failSelect, q, err)
			}
		}
	}
}

func TestLogQueryTiesGoToTheSmallerLabels(t *testing.T) {
	// Loki's heaps order entries with equal timestamps by their labels,
	// ascending, in both directions.
	src := newSource(t, map[string][]testEntry{
		`{app="t", pod="b"}`: {e(s, "from b")},
		`{app="t", pod="a"}`: {e(s, "from a")},
		`{app="t", pod="c"}`: {e(s, "from c")},
	})
	for _, dir := range []chunks.Direction{chunks.Forward, chunks.Backward} {
		p := Params{Query: `{app="t"}`, Start: at(0), End: at(10 * s), Limit: 2, Direction: dir}
		got := flatten(runLogQuery(t, src, p))
		want := []string{`{app="t", pod="a"} +1s from a`, `{app="t", pod="b"} +1s from b`}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", dir, got, want)
		}
	}
}
