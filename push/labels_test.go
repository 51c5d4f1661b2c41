package push

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

func TestParseLabelsAcceptsPrometheusLabelStrings(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want labels.Labels
	}{
		{"canonical form", `{app="api", env="prod"}`, labels.FromStrings("app", "api", "env", "prod")},
		{"unsorted input comes out sorted", `{z="1",a="2",m="3"}`, labels.FromStrings("a", "2", "m", "3", "z", "1")},
		{"empty set", `{}`, labels.EmptyLabels()},
		{"empty set with spaces", ` { } `, labels.EmptyLabels()},
		{"whitespace everywhere", "\t{ a = \"b\" ,\n c=\"d\" }\n", labels.FromStrings("a", "b", "c", "d")},
		{"trailing comma", `{a="b",}`, labels.FromStrings("a", "b")},
		{"empty value", `{a=""}`, labels.FromStrings("a", "")},
		{"escaped quote and backslash", `{a="say \"hi\" \\o/"}`, labels.FromStrings("a", `say "hi" \o/`)},
		{"Go escapes", `{a="tab\there\nnl \u00e9 \x41 \101"}`, labels.FromStrings("a", "tab\there\nnl é A A")},
		{"single-quoted value", `{a='it"s'}`, labels.FromStrings("a", `it"s`)},
		{"single-quoted value with escaped quote", `{a='it\'s'}`, labels.FromStrings("a", `it's`)},
		{"backquoted value is raw", "{a=`raw \\n`}", labels.FromStrings("a", `raw \n`)},
		{"unicode value", `{a="日本語 ✓"}`, labels.FromStrings("a", "日本語 ✓")},
		{"value with braces, commas and equals", `{a="{x=1, y=2}"}`, labels.FromStrings("a", "{x=1, y=2}")},
		{"underscore names and digits", `{_a1="x", __name__="y", B_2="z"}`, labels.FromStrings("B_2", "z", "__name__", "y", "_a1", "x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLabels(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !labels.Equal(got, tt.want) {
				t.Fatalf("ParseLabels(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseLabelsRejectsMalformedStrings(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // substring of the error
	}{
		{"empty string", ``, "byte 0: expected '{', got end of input"},
		{"metric name prefix", `up{a="b"}`, "byte 0: expected '{', got 'u'"},
		{"missing closing brace", `{a="b"`, `byte 6: expected ',' or '}' after the value of label "a", got end of input`},
		{"missing comma", `{a="b" c="d"}`, `byte 7: expected ',' or '}' after the value of label "a", got 'c'`},
		{"missing equals", `{a "b"}`, `byte 3: expected '=' after label name "a"`},
		{"unquoted value", `{a=b}`, `byte 3: expected a quoted value for label "a", got 'b'`},
		{"unterminated value", `{a="b}`, `byte 3: unterminated value of label "a"`},
		{"escape at the end", `{a="b\`, `unterminated value of label "a"`},
		{"name starting with a digit", `{1a="b"}`, "byte 1: expected a label name matching [a-zA-Z_][a-zA-Z0-9_]*, got '1'"},
		{"name with a dot", `{a.b="c"}`, `byte 2: expected '=' after label name "a", got '.'`},
		{"quoted UTF-8 name", `{"a.b"="c"}`, "quoted label names are not supported"},
		{"duplicate name", `{a="1", b="2", a="3"}`, `duplicate label name "a"`},
		{"invalid escape", `{a="\q"}`, `value of label "a": invalid escape sequence at "\\q"`},
		{"escape producing invalid UTF-8", `{a="\xff"}`, `value of label "a": escape sequences make it invalid UTF-8`},
		{"raw invalid UTF-8", "{a=\"\xff\"}", `value of label "a" is not valid UTF-8`},
		{"newline in value", "{a=\"x\ny\"}", `newline in the value of label "a"`},
		{"text after the closing brace", `{a="b"} x`, "byte 8: unexpected text after '}', got 'x'"},
		{"two commas", `{a="b",,}`, "byte 7: expected a label name"},
		{"leading comma", `{,a="b"}`, "byte 1: expected a label name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLabels(tt.in)
			if err == nil {
				t.Fatalf("ParseLabels(%q) = %s, want an error containing %q", tt.in, got, tt.want)
			}
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("error %v does not match ErrBadRequest", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseLabelsAgreesWithPrometheusParser(t *testing.T) {
	for _, in := range []string{
		`{app="api", env="prod"}`,
		`{z="1",a="2",m="3"}`,
		`{a="say \"hi\" \\o/", b="\u00e9\t"}`,
		`{a='single', b="x",}`,
		`{namespace="kube-system", pod="coredns-5d78c9869d-7xk2p", container="coredns", stream="stderr"}`,
	} {
		want, err := parser.NewParser(parser.Options{}).ParseMetric(in)
		if err != nil {
			t.Fatalf("promql parser rejects %q: %v", in, err)
		}
		got, err := ParseLabels(in)
		if err != nil {
			t.Fatalf("ParseLabels(%q): %v", in, err)
		}
		if !labels.Equal(got, want) {
			t.Errorf("ParseLabels(%q) = %s, promql parser gives %s", in, got, want)
		}
	}
}

func TestAppendLabelStringIsWhatPrometheusPrintsAndParsesBack(t *testing.T) {
	for _, ls := range []labels.Labels{
		labels.EmptyLabels(),
		labels.FromStrings("a", "b"),
		labels.FromStrings("app", "api", "msg", "quote \" backslash \\ newline \n tab \t bell \a é 日"),
	} {
		var pairs []labels.Label
		ls.Range(func(l labels.Label) { pairs = append(pairs, l) })
		s := string(appendLabelString(nil, pairs))
		if s != ls.String() {
			t.Errorf("appendLabelString = %s, labels.String = %s", s, ls.String())
		}
		back, err := ParseLabels(s)
		if err != nil {
			t.Fatalf("ParseLabels(%q): %v", s, err)
		}
		if !labels.Equal(back, ls) {
			t.Errorf("ParseLabels(%q) = %s, want %s", s, back, ls)
		}
	}
}

func TestParseLabelsAllocatesOnlyTheResult(t *testing.T) {
	if labels.ImplementationName != "stringlabels" {
		t.Skip("only the default labels implementation builds labels in one allocation")
	}
	in := `{app="api", container="main", namespace="prod", pod="api-7d9f8b6c5-x0001", stream="stdout"}`
	if allocs := testing.AllocsPerRun(100, func() { _, _ = ParseLabels(in) }); allocs > 1 {
		t.Errorf("ParseLabels allocates %.0f times, want 1", allocs)
	}
}
