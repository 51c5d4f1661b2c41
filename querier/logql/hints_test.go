package logql

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/querier/logql/syntax"
)

func TestRequiredLineTokens(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"bare needle may sit inside a longer token", `{a="b"} |= "4bf92f35"`, nil},
		{"needle bounded inside itself", `{a="b"} |= "trace_id=4bf92f35 "`, []string{"4bf92f35"}},
		{"quoted json value", `{a="b"} |= "\"order\":\"ORD-1\""`, []string{"order", "ORD", "1"}},
		{"every positive filter contributes", `{a="b"} |= " x " |= " y "`, []string{"x", "y"}},
		{"repeats once", `{a="b"} |= " x " |= " x "`, []string{"x"}},
		{"or-chain contributes nothing", `{a="b"} |= " x " or " y "`, nil},
		{"negation contributes nothing", `{a="b"} != " x "`, nil},
		{"literal regexp counts", `{a="b"} |~ " x\\.y "`, []string{"x", "y"}},
		{"case-insensitive regexp does not", `{a="b"} |~ "(?i) x "`, nil},
		{"regexp with alternation does not", `{a="b"} |~ " x | y "`, nil},
		{"regexp with wildcard does not", `{a="b"} |~ " x.y "`, nil},
		{"pattern does not", `{a="b"} |> "<_> x <_>"`, nil},
		{"ip filter does not", `{a="b"} |= ip("10.0.0.1")`, nil},
		{"filter after a parser still sees the stored line", `{a="b"} | logfmt | level="error" |= " x "`, []string{"x"}},
		{"filter after line_format sees another line", `{a="b"} | line_format "{{.a}}" |= " x "`, nil},
		{"filter before line_format counts", `{a="b"} |= " x " | line_format "{{.a}}" |= " y "`, []string{"x"}},
		{"filter after unpack sees another line", `{a="b"} | unpack |= " x "`, nil},
		{"filter after decolorize sees another line", `{a="b"} | decolorize |= " x "`, nil},
		{"empty needle", `{a="b"} |= ""`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := syntax.ParseLogSelector(tt.query, true)
			if err != nil {
				t.Fatal(err)
			}
			if got := requiredLineTokens(sel.Stages); !slices.Equal(got, tt.want) {
				t.Errorf("tokens of %s = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
}

// tokenSource honours LineTokens strictly: it drops every entry whose line
// lacks one of them as a whole token, as a Source with perfect filters
// would.
type tokenSource struct{ *memSource }

func (s tokenSource) Select(ctx context.Context, ms []*labels.Matcher, from, through int64, dir chunks.Direction, hints SelectHints, stats *chunks.Stats) ([]SourceStream, error) {
	streams, err := s.memSource.Select(ctx, ms, from, through, dir, hints, stats)
	for i := range streams {
		streams[i].Iter = &tokenIter{Iterator: streams[i].Iter, want: hints.LineTokens}
	}
	return streams, err
}

type tokenIter struct {
	chunks.Iterator
	want []string
	toks [][]byte
}

func (it *tokenIter) Next() bool {
next:
	for it.Iterator.Next() {
		it.toks = chunks.AppendTokens(it.toks[:0], it.At().Line)
		for _, w := range it.want {
			if !slices.ContainsFunc(it.toks, func(t []byte) bool { return string(t) == w }) {
				continue next
			}
		}
		return true
	}
	return false
}

func TestQueriesAnswerTheSameWhenTheSourceDropsLinesWithoutHintedTokens(t *testing.T) {
	data := map[string][]testEntry{
		`{app="api"}`: {
			e(1*time.Second, `level=info trace_id=abc123 msg="ok"`),
			e(2*time.Second, `level=error trace_id=abc1234 msg="x.y failed"`),
			e(3*time.Second, `level=error trace_id=xabc123 msg="retry"`),
			e(4*time.Second, `{"order":"ORD-1","msg":"paid"}`),
			e(5*time.Second, `{"order":"ORD-12","msg":"x.y"}`),
			e(6*time.Second, `level=info trace_id=abc123 msg="done x.y"`),
		},
		`{app="web"}`: {
			e(1500*time.Millisecond, `GET /abc123 200`),
			e(2500*time.Millisecond, `GET /x.y 500 trace_id=abc123 `),
		},
	}
	queries := []string{
		`{app=~".+"} |= "abc123"`,
		`{app=~".+"} |= "trace_id=abc123 "`,
		`{app=~".+"} |= "\"order\":\"ORD-1\""`,
		`{app=~".+"} |~ " x\\.y "`,
		`{app=~".+"} |= "x.y" | logfmt | level="error"`,
		`{app=~".+"} |= "=abc123 " | line_format "{{.app}}" |= "api"`,
		`sum by (app) (count_over_time({app=~".+"} |= "trace_id=abc123 " [10s]))`,
		`sum(bytes_over_time({app=~".+"} |= "/x.y " [10s]))`,
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
			got, err := eng.Query(context.Background(), tokenSource{newSource(t, data)}, p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Streams, want.Streams) || !reflect.DeepEqual(got.Vector, want.Vector) {
				t.Errorf("with hints %+v:\n got %+v %+v\nwant %+v %+v", plain.hints, got.Streams, got.Vector, want.Streams, want.Vector)
			}
		})
	}
}

func TestEnginePassesLineTokensToSelect(t *testing.T) {
	tests := []struct {
		query   string
		instant bool
		want    []string
	}{
		{`{app="api"} |= "trace_id=abc123 "`, false, []string{"abc123"}},
		{`count_over_time({app="api"} |= " abc123 " [1m])`, true, []string{"abc123"}},
		{`sum(rate({app="api"} |= " a " [1m])) / sum(rate({app="api"} |= " b " [1m]))`, true, []string{"a", "b"}},
		{`{app="api"} |= "abc123"`, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			src := newSource(t, map[string][]testEntry{`{app="api"}`: {e(time.Second, "x")}})
			p := Params{Query: tt.query, Start: at(0), End: at(time.Minute), Limit: 10, Direction: chunks.Forward}
			if tt.instant {
				p = instantParams(tt.query, time.Minute)
			}
			if _, err := newTestEngine().Query(context.Background(), src, p); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range src.hints {
				got = append(got, h.LineTokens...)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Select saw tokens %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzRequiredLineTokens checks the hints' one promise on arbitrary
// pipelines and lines: a line the pipeline keeps contains every hinted
// token as a whole token.
func FuzzRequiredLineTokens(f *testing.F) {
	for _, s := range []struct{ stages, line string }{
		{`|= "trace_id=abc "`, `level=info trace_id=abc msg=ok`},
		{`|= "trace_id=abc "`, `level=info trace_id=abcd msg=ok`},
		{`|~ " x\\.y "`, `a x.y b`},
		{`|~ "(?i) X "`, `a x b`},
		{`| logfmt | level="error" |= "=y "`, `level=error k=y z`},
		{`| line_format "{{.a}} x " |= " x "`, `anything`},
		{`|= "\"order\":\"ORD-1\"" != "paid"`, `{"order":"ORD-1","msg":"new"}`},
		{`| json |= " é "`, `{"a":"b"} é `},
	} {
		f.Add(s.stages, s.line)
	}
	lbs := labels.FromStrings("a", "b")
	f.Fuzz(func(t *testing.T, stages, line string) {
		sel, err := syntax.ParseLogSelector(`{a="b"} `+stages, true)
		if err != nil {
			return
		}
		tokens := requiredLineTokens(sel.Stages)
		if len(tokens) == 0 {
			return
		}
		p, err := buildPipeline(sel)
		if err != nil {
			return
		}
		if _, _, _, keep := p.ForStream(lbs).Process(1, []byte(line), labels.EmptyLabels()); !keep {
			return
		}
		have := chunks.AppendTokens(nil, []byte(line))
		for _, tok := range tokens {
			if !slices.ContainsFunc(have, func(h []byte) bool { return string(h) == tok }) {
				t.Fatalf("pipeline %s keeps %q, which lacks hinted token %q", sel, line, tok)
			}
		}
	})
}
