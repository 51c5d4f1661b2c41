package stages

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

var testNow = time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)

func compile(t testing.TB, src string) (*Template, *prometheus.CounterVec) {
	t.Helper()
	var cfg Config
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "d"}, []string{"reason"})
	tpl, err := Compile(cfg, Options{Dropped: dropped, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return tpl, dropped
}

type in struct {
	line   string
	labels labels.Labels
	ts     int64
}

type out struct {
	line     string
	labels   string // labels.String(), "" = {}
	ts       int64  // 0 = not checked
	metadata string
	tenant   string
}

// acker counts acknowledged lines.
type acker struct{ n int }

func (a *acker) Ack(first, last uint64) { a.n += int(last - first + 1) }

func runLines(t *testing.T, p *Pipeline, a *acker, ins []in) []entry.Entry {
	t.Helper()
	var got []entry.Entry
	for i, x := range ins {
		e := entry.Entry{Line: x.line, Labels: x.labels, Timestamp: x.ts, Ticket: entry.NewTicket(a, uint64(i))}
		if e.Timestamp == 0 {
			e.Timestamp = testNow.UnixNano()
		}
		p.Process(&e, func(e *entry.Entry) { got = append(got, *e) })
	}
	return got
}

func check(t *testing.T, got []entry.Entry, want []out) {
	t.Helper()
	if len(got) != len(want) {
		var lines []string
		for _, g := range got {
			lines = append(lines, g.Line)
		}
		t.Fatalf("got %d entries %q, want %d", len(got), lines, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Line != w.line {
			t.Errorf("entry %d line %q, want %q", i, g.Line, w.line)
		}
		wl := w.labels
		if wl == "" {
			wl = "{}"
		}
		if g.Labels.String() != wl {
			t.Errorf("entry %d labels %s, want %s", i, g.Labels, wl)
		}
		if w.ts != 0 && g.Timestamp != w.ts {
			t.Errorf("entry %d ts %s, want %s", i, time.Unix(0, g.Timestamp).UTC(), time.Unix(0, w.ts).UTC())
		}
		wm := w.metadata
		if wm == "" {
			wm = "{}"
		}
		if g.Metadata.String() != wm {
			t.Errorf("entry %d metadata %s, want %s", i, g.Metadata, wm)
		}
		if g.Tenant != w.tenant {
			t.Errorf("entry %d tenant %q, want %q", i, g.Tenant, w.tenant)
		}
	}
}

func ts(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

func lbl(kv ...string) labels.Labels { return labels.FromStrings(kv...) }

func TestStages(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		in   []in
		want []out
	}{
		{
			name: "cri parses time stream and content",
			cfg:  "- cri: {}",
			in:   []in{{line: "2019-04-30T02:12:41.8443515Z stdout F message one"}},
			want: []out{{line: "message one", labels: `{stream="stdout"}`, ts: ts("2019-04-30T02:12:41.8443515Z")}},
		},
		{
			name: "cri joins partial lines per stream",
			cfg:  "- cri: {}",
			in: []in{
				{line: "2019-04-30T02:12:41Z stdout P part1 "},
				{line: "2019-04-30T02:12:42Z stderr F err"},
				{line: "2019-04-30T02:12:43Z stdout P part2 "},
				{line: "2019-04-30T02:12:44Z stdout F end"},
			},
			want: []out{
				{line: "err", labels: `{stream="stderr"}`},
				{line: "part1 part2 end", labels: `{stream="stdout"}`, ts: ts("2019-04-30T02:12:41Z")},
			},
		},
		{
			name: "cri sends partials at max_partial_lines",
			cfg:  "- cri: {max_partial_lines: 2}",
			in: []in{
				{line: "2019-04-30T02:12:41Z stdout P a"},
				{line: "2019-04-30T02:12:41Z stdout P b"},
				{line: "2019-04-30T02:12:41Z stdout F c"},
			},
			want: []out{{line: "ab", labels: `{stream="stdout"}`}, {line: "c", labels: `{stream="stdout"}`}},
		},
		{
			name: "cri truncates joined line at max_partial_line_size",
			cfg:  "- cri: {max_partial_line_size: 4, max_partial_line_size_truncate: true}",
			in: []in{
				{line: "2019-04-30T02:12:41Z stdout P abc"},
				{line: "2019-04-30T02:12:41Z stdout F def"},
			},
			want: []out{{line: "abcd", labels: `{stream="stdout"}`}},
		},
		{
			name: "cri fills the extracted map for later stages",
			cfg:  "- cri: {}\n- labels: {flags: }\n- template: {source: content, template: '{{ ToUpper .Value }}'}\n- output: {source: content}",
			in:   []in{{line: "2019-04-30T02:12:41Z stderr F msg"}},
			want: []out{{line: "MSG", labels: `{flags="F", stream="stderr"}`}},
		},
		{
			name: "cri leaves non-CRI lines alone",
			cfg:  "- cri: {}",
			in:   []in{{line: "plain text line", ts: 7}},
			want: []out{{line: "plain text line", ts: 7}},
		},
		{
			name: "docker parses log stream time and strips the newline",
			cfg:  "- docker: {}",
			in:   []in{{line: `{"log":"hello \"w\"\n","stream":"stderr","time":"2019-04-30T02:12:41.8443515Z"}`}},
			want: []out{{line: `hello "w"`, labels: `{stream="stderr"}`, ts: ts("2019-04-30T02:12:41.8443515Z")}},
		},
		{
			name: "docker joins lines split at 16 KiB",
			cfg:  "- docker: {}",
			in: []in{
				{line: `{"log":"abc","stream":"stdout","time":"2019-04-30T02:12:41Z"}`},
				{line: `{"log":"def\n","stream":"stdout","time":"2019-04-30T02:12:42Z"}`},
			},
			want: []out{{line: "abcdef", labels: `{stream="stdout"}`, ts: ts("2019-04-30T02:12:41Z")}},
		},
		{
			name: "docker with attrs uses the slow path",
			cfg:  "- docker: {}",
			in:   []in{{line: `{"log":"x\n","stream":"stdout","attrs":{"tag":"t"},"time":"2019-04-30T02:12:41Z"}`}},
			want: []out{{line: "x", labels: `{stream="stdout"}`}},
		},
		{
			name: "json nested fields, arrays and quoted keys to labels and output",
			cfg: `
- json:
    expressions:
      level: log.level
      first: items[0].name
      ua: headers."User-Agent"
      ts: '"@timestamp"'
      msg:
- labels: {level: , first: }
- structured_metadata: {ua: }
- timestamp: {source: ts, format: RFC3339}
- output: {source: msg}`,
			in:   []in{{line: `{"log":{"level":"warn"},"items":[{"name":"a"},{"name":"b"}],"headers":{"User-Agent":"curl"},"@timestamp":"2020-01-02T03:04:05Z","msg":"hi"}`}},
			want: []out{{line: "hi", labels: `{first="a", level="warn"}`, metadata: `{ua="curl"}`, ts: ts("2020-01-02T03:04:05Z")}},
		},
		{
			name: "json drop_malformed drops non-JSON",
			cfg:  "- json: {expressions: {a: }, drop_malformed: true}",
			in:   []in{{line: "not json"}, {line: `{"a":1}`}},
			want: []out{{line: `{"a":1}`}},
		},
		{
			name: "json numbers and objects become label strings",
			cfg:  "- json: {expressions: {code: , obj: }}\n- labels: {code: , obj: }",
			in:   []in{{line: `{"code":404,"obj":{"k":true}}`}},
			want: []out{{line: `{"code":404,"obj":{"k":true}}`, labels: `{code="404", obj="{\"k\":true}"}`}},
		},
		{
			name: "logfmt mapping with quoted values",
			cfg:  "- logfmt: {mapping: {lvl: level, msg: }}\n- labels: {lvl: }\n- output: {source: msg}",
			in:   []in{{line: `ts=1 level=error msg="disk \"sda\" full" bare`}},
			want: []out{{line: `disk "sda" full`, labels: `{lvl="error"}`}},
		},
		{
			name: "regex named groups to labels and template",
			cfg: `
- regex: {expression: '^(?P<method>\w+) (?P<path>\S+) (?P<status>\d+)$'}
- template: {source: method, template: '{{ ToLower .Value }}'}
- labels: {method: , status: }`,
			in:   []in{{line: "GET /x 200"}, {line: "no match"}},
			want: []out{{line: "GET /x 200", labels: `{method="get", status="200"}`}, {line: "no match"}},
		},
		{
			name: "regex on an extracted source",
			cfg:  "- json: {expressions: {msg: }}\n- regex: {source: msg, expression: 'user=(?P<user>\\w+)'}\n- labels: {user: }",
			in:   []in{{line: `{"msg":"login user=bob"}`}},
			want: []out{{line: `{"msg":"login user=bob"}`, labels: `{user="bob"}`}},
		},
		{
			name: "replace masks captured text in the line",
			cfg:  `- replace: {expression: 'password=(\S+)', replace: '****'}`,
			in:   []in{{line: "login password=hunter2 ok password=x"}},
			want: []out{{line: "login password=**** ok password=****"}},
		},
		{
			name: "replace without groups replaces the whole match using .Value",
			cfg:  `- replace: {expression: '\d+', replace: '<{{ .Value }}>'}`,
			in:   []in{{line: "a 12 b 3"}},
			want: []out{{line: "a <12> b <3>"}},
		},
		{
			name: "static_labels labeldrop labelallow",
			cfg:  "- static_labels: {env: prod, team: core}\n- labeldrop: [team]\n- labelallow: [env, app]",
			in:   []in{{line: "x", labels: lbl("app", "a", "pod", "p")}},
			want: []out{{line: "x", labels: `{app="a", env="prod"}`}},
		},
		{
			name: "tenant from value and from extracted",
			cfg:  "- regex: {expression: 'tenant=(?P<t>\\w+)'}\n- tenant: {source: t}",
			in:   []in{{line: "tenant=acme"}, {line: "no tenant"}},
			want: []out{{line: "tenant=acme", tenant: "acme"}, {line: "no tenant"}},
		},
		{
			name: "timestamp formats and fudge on failure",
			cfg:  "- regex: {expression: '^(?P<t>\\S+)'}\n- timestamp: {source: t, format: UnixMs, fallback_formats: ['2006-01-02T15:04:05']}",
			in:   []in{{line: "1562708916414 a"}, {line: "2020-01-02T03:04:05 b"}, {line: "garbage c"}},
			want: []out{
				{line: "1562708916414 a", ts: 1562708916414 * int64(time.Millisecond)},
				{line: "2020-01-02T03:04:05 b", ts: ts("2020-01-02T03:04:05Z")},
				{line: "garbage c", ts: ts("2020-01-02T03:04:05Z") + 1},
			},
		},
		{
			name: "timestamp skip keeps the read time",
			cfg:  "- regex: {expression: '^(?P<t>\\S+)'}\n- timestamp: {source: t, format: RFC3339, action_on_failure: skip}",
			in:   []in{{line: "2020-01-02T03:04:05Z a"}, {line: "bad b", ts: 99}},
			want: []out{{line: "2020-01-02T03:04:05Z a", ts: ts("2020-01-02T03:04:05Z")}, {line: "bad b", ts: 99}},
		},
		{
			name: "timestamp with location and no year",
			cfg:  "- regex: {expression: '^(?P<t>\\w+ +\\d+ [\\d:]+)'}\n- timestamp: {source: t, format: Stamp, location: America/New_York}",
			in:   []in{{line: "Nov 21 10:00:00 host x"}},
			want: []out{{line: "Nov 21 10:00:00 host x", ts: ts("2026-11-21T15:00:00Z")}},
		},
		{
			name: "match runs nested stages only for matching streams and lines",
			cfg: `
- match:
    selector: '{app="api"} |= "error" != "debug"'
    stages:
    - static_labels: {matched: "yes"}`,
			in: []in{
				{line: "an error", labels: lbl("app", "api")},
				{line: "an error debug", labels: lbl("app", "api")},
				{line: "an error", labels: lbl("app", "web")},
			},
			want: []out{
				{line: "an error", labels: `{app="api", matched="yes"}`},
				{line: "an error debug", labels: `{app="api"}`},
				{line: "an error", labels: `{app="web"}`},
			},
		},
		{
			name: "match drop action with regex filter",
			cfg:  "- match: {selector: '{app=~\"a.*\"} |~ \"GET /health\"', action: drop}",
			in:   []in{{line: "GET /healthz", labels: lbl("app", "api")}, {line: "GET /x", labels: lbl("app", "api")}},
			want: []out{{line: "GET /x", labels: `{app="api"}`}},
		},
		{
			name: "drop by expression, value and length",
			cfg: `
- drop: {expression: 'DEBUG'}
- regex: {expression: 'level=(?P<level>\w+)'}
- drop: {source: level, value: trace}
- drop: {longer_than: 5B}`,
			in:   []in{{line: "DEBUG x"}, {line: "level=trace"}, {line: "level=info"}, {line: "short"}},
			want: []out{{line: "short"}},
		},
		{
			name: "drop older_than",
			cfg:  "- drop: {older_than: 1h}",
			in:   []in{{line: "old", ts: testNow.Add(-2 * time.Hour).UnixNano()}, {line: "new"}},
			want: []out{{line: "new"}},
		},
		{
			name: "drop with several sources joined by separator",
			cfg:  "- regex: {expression: '(?P<a>\\w) (?P<b>\\w)'}\n- drop: {source: [a, b], separator: '-', value: x-y}",
			in:   []in{{line: "x y"}, {line: "x z"}},
			want: []out{{line: "x z"}},
		},
		{
			name: "multiline joins continuation lines into the first line's block",
			cfg:  "- multiline: {firstline: '^\\d{4}-'}",
			in: []in{
				{line: "orphan"},
				{line: "2026-01-01 panic"},
				{line: "  at a"},
				{line: "  at b"},
				{line: "2026-01-01 next"},
			},
			want: []out{{line: "orphan"}, {line: "2026-01-01 panic\n  at a\n  at b"}},
		},
		{
			name: "multiline max_lines sends a long block early",
			cfg:  "- multiline: {firstline: '^start', max_lines: 2}",
			in:   []in{{line: "start"}, {line: "a"}, {line: "b"}},
			want: []out{{line: "start\na"}, {line: "b"}},
		},
		{
			name: "pack wraps labels and line into JSON",
			cfg:  "- pack: {labels: [pod, container], ingest_timestamp: false}",
			in:   []in{{line: `say "hi"`, labels: lbl("container", "c", "pod", "p", "ns", "n"), ts: 5}},
			want: []out{{line: `{"container":"c","pod":"p","_entry":"say \"hi\""}`, labels: `{ns="n"}`, ts: 5}},
		},
		{
			name: "decolorize strips ANSI colours",
			cfg:  "- decolorize: {}",
			in:   []in{{line: "\x1b[31mred\x1b[0m plain \x1b[1;32mbold\x1b[m"}},
			want: []out{{line: "red plain bold"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, _ := compile(t, tc.cfg)
			a := &acker{}
			got := runLines(t, tpl.New(), a, tc.in)
			check(t, got, tc.want)
		})
	}
}

func TestPipelineAcksDroppedLinesAndMergedLinesOnceEach(t *testing.T) {
	tpl, dropped := compile(t, "- drop: {expression: skip}\n- multiline: {firstline: '^S'}")
	p := tpl.New()
	a := &acker{}
	var got []entry.Entry
	emit := func(e *entry.Entry) { got = append(got, *e) }
	lines := []string{"S1", "c1", "skip me", "c2", "S2", "c3"}
	for i, l := range lines {
		e := entry.Entry{Line: l, Ticket: entry.NewTicket(a, uint64(i))}
		p.Process(&e, emit)
	}
	if a.n != 1 {
		t.Fatalf("acked %d lines inside the pipeline, want 1 (the dropped one)", a.n)
	}
	if v := testutil.ToFloat64(dropped.WithLabelValues("drop_stage")); v != 1 {
		t.Fatalf("drop counter %v, want 1", v)
	}
	p.Flush(testNow, true, emit)
	if len(got) != 2 || got[0].Line != "S1\nc1\nc2" || got[1].Line != "S2\nc3" {
		t.Fatalf("got %+v", got)
	}
	for _, e := range got {
		e.Ticket.Done()
	}
	if a.n != len(lines) {
		t.Fatalf("acked %d lines, want every one of %d", a.n, len(lines))
	}
}

func TestMultilineFlushesAfterMaxWaitTime(t *testing.T) {
	now := testNow
	var cfg Config
	if err := yaml.Unmarshal([]byte("- multiline: {firstline: '^S', max_wait_time: 2s}\n- static_labels: {after: flush}"), &cfg); err != nil {
		t.Fatal(err)
	}
	tpl, err := Compile(cfg, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	p := tpl.New()
	var got []entry.Entry
	emit := func(e *entry.Entry) { got = append(got, *e) }
	for _, l := range []string{"S", "x"} {
		e := entry.Entry{Line: l}
		p.Process(&e, emit)
	}
	p.Flush(now.Add(time.Second), false, emit)
	if len(got) != 0 {
		t.Fatal("flushed before max_wait_time")
	}
	p.Flush(now.Add(2*time.Second), false, emit)
	if len(got) != 1 || got[0].Line != "S\nx" || got[0].Labels.Get("after") != "flush" {
		t.Fatalf("after max_wait_time got %+v; want the block, through the later stages", got)
	}
}

func TestLimitStage(t *testing.T) {
	tests := []struct {
		name      string
		cfg       string
		lines     int
		wantKept  int
		wantSleep bool
	}{
		{name: "drop over burst", cfg: "- limit: {rate: 1, burst: 3, drop: true}", lines: 10, wantKept: 3},
		{name: "wait over burst keeps every line", cfg: "- limit: {rate: 100, burst: 2}", lines: 5, wantKept: 5, wantSleep: true},
		{name: "by_label_name limits each value apart", cfg: "- limit: {rate: 1, burst: 1, drop: true, by_label_name: app}", lines: 4, wantKept: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tpl, _ := compile(t, tc.cfg)
			p := tpl.New()
			ls := p.stages[0].(*limitStage)
			slept := false
			ls.sleep = func(context.Context, time.Duration) bool { slept = true; return true }
			kept := 0
			for i := 0; i < tc.lines; i++ {
				e := entry.Entry{Line: "x", Labels: lbl("app", []string{"a", "b"}[i%2])}
				p.Process(&e, func(*entry.Entry) { kept++ })
			}
			if kept != tc.wantKept {
				t.Fatalf("kept %d, want %d", kept, tc.wantKept)
			}
			if slept != tc.wantSleep {
				t.Fatalf("slept %v, want %v", slept, tc.wantSleep)
			}
		})
	}
}

func TestSamplingKeepsAboutRate(t *testing.T) {
	tpl, dropped := compile(t, "- sampling: {rate: 0.25}")
	p := tpl.New()
	i := 0
	seq := []float64{0.1, 0.3, 0.2, 0.9, 0.24999, 0.25}
	p.stages[0].(*samplingStage).random = func() float64 { v := seq[i%len(seq)]; i++; return v }
	kept := 0
	for range seq {
		e := entry.Entry{Line: "x"}
		p.Process(&e, func(*entry.Entry) { kept++ })
	}
	if kept != 3 {
		t.Fatalf("kept %d, want the 3 draws below 0.25", kept)
	}
	if v := testutil.ToFloat64(dropped.WithLabelValues("sampling_stage")); v != 3 {
		t.Fatalf("dropped %v, want 3", v)
	}
}

func TestLimitWaitStopsWithoutAcknowledgingWhenContextEnds(t *testing.T) {
	tpl, _ := compile(t, "- limit: {rate: 0.001, burst: 1}")
	p := tpl.New()
	ctx, cancel := context.WithCancel(context.Background())
	p.SetContext(ctx)
	a := &acker{}
	emitted := 0
	e := entry.Entry{Line: "first", Ticket: entry.NewTicket(a, 0)}
	p.Process(&e, func(*entry.Entry) { emitted++ })
	cancel()
	e = entry.Entry{Line: "waits", Ticket: entry.NewTicket(a, 1)}
	done := make(chan struct{})
	go func() { p.Process(&e, func(*entry.Entry) { emitted++ }); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("limit stage kept waiting after the context ended")
	}
	if emitted != 1 || a.n != 0 {
		t.Fatalf("emitted %d acked %d; want the first emitted and the abandoned one not acknowledged", emitted, a.n)
	}
}

func TestConfigErrorsNameStageAndField(t *testing.T) {
	tests := []struct {
		name string
		cfg  string
		want []string
	}{
		{name: "unknown stage", cfg: "- jsonn: {}", want: []string{"stage 0", "jsonn"}},
		{name: "unknown field", cfg: "- cri: {}\n- json: {expresions: {a: }}", want: []string{"stage 1 (json)", "expresions"}},
		{name: "bad regex", cfg: "- regex: {expression: '(?P<a>'}", want: []string{"regex", "expression"}},
		{name: "regex without names", cfg: "- regex: {expression: 'a+'}", want: []string{"named capture"}},
		{name: "bad json expression", cfg: "- json: {expressions: {a: 'b..c'}}", want: []string{"expressions.a"}},
		{name: "bad timestamp action", cfg: "- timestamp: {source: t, format: RFC3339, action_on_failure: explode}", want: []string{"timestamp", "action_on_failure"}},
		{name: "bad timestamp location", cfg: "- timestamp: {source: t, format: RFC3339, location: Mars/Base}", want: []string{"location"}},
		{name: "bad match selector", cfg: "- match: {selector: 'app=x', stages: [{cri: {}}]}", want: []string{"match", "selector"}},
		{name: "nested stage error", cfg: "- match: {selector: '{a=\"b\"}', stages: [{regex: {expresion: x}}]}", want: []string{"stage 0 (match)", "stage 0 (regex)", "expresion"}},
		{name: "drop needs a condition", cfg: "- drop: {}", want: []string{"drop", "at least one"}},
		{name: "bad longer_than", cfg: "- drop: {longer_than: lots}", want: []string{"longer_than"}},
		{name: "limit needs rate", cfg: "- limit: {burst: 1}", want: []string{"limit", "rate"}},
		{name: "multiline needs firstline", cfg: "- multiline: {max_lines: 3}", want: []string{"firstline"}},
		{name: "known but unsupported stage", cfg: "- metrics: {}", want: []string{"metrics", "not supported"}},
		{name: "sampling rate out of range", cfg: "- sampling: {rate: 2}", want: []string{"sampling", "rate"}},
		{name: "invalid label name", cfg: "- static_labels: {'bad-name': x}", want: []string{"bad-name"}},
		{name: "stage item with two keys", cfg: "- cri: {}\n  docker: {}", want: []string{"exactly one key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cfg Config
			err := yaml.Unmarshal([]byte(tc.cfg), &cfg)
			if err == nil {
				_, err = Compile(cfg, Options{})
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
