package logql

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/querier/logql/syntax"
)

func TestRequiredLineSubstrings(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  [][]string
	}{
		{"bare needle", `{a="b"} |= "2f1bd0b6"`, [][]string{{"2f1bd0b6"}}},
		{"every positive filter is a group", `{a="b"} |= "abcd" |= "efgh"`, [][]string{{"abcd"}, {"efgh"}}},
		{"repeats once", `{a="b"} |= "abcd" |= "abcd"`, [][]string{{"abcd"}}},
		{"or-chain is one group", `{a="b"} |= "abcd" or "efgh"`, [][]string{{"abcd", "efgh"}}},
		{"or-chain with an empty needle says nothing", `{a="b"} |= "abcd" or ""`, nil},
		{"negation says nothing", `{a="b"} != "abcd"`, nil},
		{"literal regexp", `{a="b"} |~ "x\\.yz"`, [][]string{{"x.yz"}}},
		{"regexp: every required literal", `{a="b"} |~ "ab.*cdefg[0-9]+hi"`, [][]string{{"ab"}, {"cdefg"}, {"hi"}}},
		{"regexp: alternatives in the middle join their neighbours", `{a="b"} |~ "trace_id=(feedface|deadbeef)cafe"`, [][]string{{"trace_id=deadbeefcafe", "trace_id=feedfacecafe"}}},
		{"regexp alternation", `{a="b"} |~ "(status\"?[:=]|HTTP/1\\.1\" )5\\d\\d"`, [][]string{{"HTTP/1.1\" 5", "status\":5", "status\"=5", "status:5", "status=5"}}},
		{"regexp: a large class splits", `{a="b"} |~ "ab[0-9]cd"`, [][]string{{"ab"}, {"cd"}}},
		{"regexp: a small class joins", `{a="b"} |~ "ab[xy]cd"`, [][]string{{"abxcd", "abycd"}}},
		{"regexp: an optional part joins", `{a="b"} |~ "ab\"?cd"`, [][]string{{"ab\"cd", "abcd"}}},
		{"regexp alternation with an empty branch", `{a="b"} |~ "(abcd|)x"`, [][]string{{"x"}}},
		{"regexp or-chain: the best group of each", `{a="b"} |~ "ab.*cdefg" or "(xy|zw)"`, [][]string{{"cdefg", "xy", "zw"}}},
		{"regexp or-chain", `{a="b"} |~ "abcd.*" or "xyzw"`, [][]string{{"abcd", "xyzw"}}},
		{"regexp repetition", `{a="b"} |~ "(abcd)+x" |~ "(efgh){2,3}" |~ "(ijkl)*"`, [][]string{{"abcd"}, {"x"}, {"efghefgh"}}},
		{"optional part", `{a="b"} |~ "abcd?"`, [][]string{{"abc"}}},
		{"case-insensitive regexp with a literal part", `{a="b"} |~ "(?i)abc(?-i)defg"`, [][]string{{"defg"}}},
		{"case-insensitive regexp says nothing", `{a="b"} |~ "(?i)abcdef"`, nil},
		{"case-insensitive part is skipped", `{a="b"} |~ "(?i:abc)defg"`, [][]string{{"defg"}}},
		{"a literal with the replacement character says nothing", `{a="b"} |~ "\\x{FFFD}abc"`, nil},
		{"pattern says nothing", `{a="b"} |> "<_> abcd <_>"`, nil},
		{"ip says nothing", `{a="b"} |= ip("10.0.0.1")`, nil},
		{"after a parser", `{a="b"} | logfmt | level="error" |= "abcd"`, [][]string{{"abcd"}}},
		{"after line_format nothing counts", `{a="b"} |= "abcd" | line_format "{{.a}}" |= "efgh"`, [][]string{{"abcd"}}},
		{"UTF-8 needle", `{a="b"} |= "日本語"`, [][]string{{"日本語"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := syntax.ParseLogSelector(tt.query, true)
			if err != nil {
				t.Fatal(err)
			}
			if got := requiredLineSubstrings(sel.Stages); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("substrings of %s = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
}

// substringSource honours LineSubstrings strictly, as a Source with
// perfect filters would: it drops every entry whose line misses a group.
type substringSource struct{ *memSource }

func (s substringSource) Select(ctx context.Context, ms []*labels.Matcher, from, through int64, dir chunks.Direction, hints SelectHints, stats *chunks.Stats) ([]SourceStream, error) {
	streams, err := s.memSource.Select(ctx, ms, from, through, dir, hints, stats)
	for i := range streams {
		streams[i].Iter = &substringIter{Iterator: streams[i].Iter, groups: hints.LineSubstrings}
	}
	return streams, err
}

type substringIter struct {
	chunks.Iterator
	groups [][]string
}

func (it *substringIter) Next() bool {
	for it.Iterator.Next() {
		if lineHasGroups(string(it.At().Line), it.groups) {
			return true
		}
	}
	return false
}

func lineHasGroups(line string, groups [][]string) bool {
	for _, g := range groups {
		found := false
		for _, a := range g {
			found = found || strings.Contains(line, a)
		}
		if !found {
			return false
		}
	}
	return true
}

func TestQueriesAnswerTheSameWhenTheSourceDropsLinesWithoutHintedSubstrings(t *testing.T) {
	data := map[string][]testEntry{
		`{app="api"}`: {
			e(1*time.Second, `level=info trace_id=2f1bd0b6b6a951ba msg="ok"`),
			e(2*time.Second, `level=error trace_id=x2f1bd0b6b6a951bay msg="x.y failed" status=503`),
			e(3*time.Second, `level=error trace_id=abc msg="retry"`),
			e(4*time.Second, `{"order":"ORD-1","msg":"paid","status":500}`),
		},
		`{app="web"}`: {
			e(1500*time.Millisecond, `GET /2f1bd0b6b6a951ba HTTP/1.1" 502 12`),
			e(2500*time.Millisecond, `GET /x.y HTTP/1.1" 200 13`),
		},
	}
	queries := []string{
		`{app=~".+"} |= "2f1bd0b6b6a951ba"`,
		`{app=~".+"} |= "2f1bd0b6" or "ORD-1"`,
		`{app=~".+"} |~ "(status\"?[:=]|HTTP/1\\.1\" )5\\d\\d"`,
		`{app=~".+"} |= "x.y" | logfmt | level="error"`,
		`sum by (app) (count_over_time({app=~".+"} |= "trace_id" [10s]))`,
		`{app=~".+"} |~ "(?i)ORD-1"`,
	}
	eng := newTestEngine()
	for _, q := range queries {
		t.Run(q, func(t *testing.T) {
			p := instantParams(q, 10*time.Second)
			if _, err := syntax.ParseLogSelector(q, true); err == nil {
				p = Params{Query: q, Start: at(0), End: at(10 * time.Second), Limit: 100, Direction: chunks.Forward}
			}
			plain := newSource(t, data)
			want, err := eng.Query(context.Background(), plain, p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := eng.Query(context.Background(), substringSource{newSource(t, data)}, p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Streams, want.Streams) || !reflect.DeepEqual(got.Vector, want.Vector) {
				t.Errorf("with hints %+v:\n got %+v %+v\nwant %+v %+v", plain.hints, got.Streams, got.Vector, want.Streams, want.Vector)
			}
			if len(plain.hints) == 0 || (len(plain.hints[0].LineSubstrings) == 0 && !strings.Contains(q, "(?i)")) {
				t.Errorf("no substrings hinted: %+v", plain.hints)
			}
		})
	}
}

// FuzzRequiredLineSubstrings checks the hints' promise on arbitrary
// pipelines and lines: a line the pipeline keeps contains, for every
// hinted group, one of its strings.
func FuzzRequiredLineSubstrings(f *testing.F) {
	for _, s := range []struct{ stages, line string }{
		{`|= "trace_id=abc"`, `level=info trace_id=abc msg=ok`},
		{`|= "abcd" or "efgh"`, `xxefghxx`},
		{`|~ "(status\"?[:=]|HTTP/1\\.1\" )5\\d\\d"`, `GET / HTTP/1.1" 503 1`},
		{`|~ "(ab|cd)+ef?g"`, `cdabeg`},
		{`|~ "(?i)abc(?-i)def"`, `ABCdef`},
		{`|~ "\\x{FFFD}abc"`, "\xffabc"},
		{`| logfmt | level="error" |= "=y "`, `level=error k=y z`},
		{`| json |~ "é+x"`, `{"a":"b"} ééx`},
	} {
		f.Add(s.stages, s.line)
	}
	lbs := labels.FromStrings("a", "b")
	f.Fuzz(func(t *testing.T, stages, line string) {
		sel, err := syntax.ParseLogSelector(`{a="b"} `+stages, true)
		if err != nil {
			return
		}
		groups := requiredLineSubstrings(sel.Stages)
		if len(groups) == 0 {
			return
		}
		p, err := buildPipeline(sel)
		if err != nil {
			return
		}
		if _, _, _, keep := p.ForStream(lbs).Process(1, []byte(line), labels.EmptyLabels()); keep && !lineHasGroups(line, groups) {
			t.Fatalf("pipeline %s keeps %q, which misses a group of %q", sel, line, groups)
		}
	})
}
