package log

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func TestLogfmtParser(t *testing.T) {
	tests := []struct {
		name              string
		strict, keepEmpty bool
		stream            labels.Labels
		line              string
		want              labels.Labels
	}{
		{"pairs", false, false, labels.EmptyLabels(), `level=info duration=12ms msg="hello world"`,
			labels.FromStrings("duration", "12ms", "level", "info", "msg", "hello world")},
		{"quoted escapes", false, false, labels.EmptyLabels(), `msg="a \"b\" \\ \n c"`,
			labels.FromStrings("msg", "a \"b\" \\ \n c")},
		{"empty values dropped by default", false, false, labels.EmptyLabels(), `a= b="" c standalone=x`,
			labels.FromStrings("standalone", "x")},
		{"keep empty keeps empty and standalone keys", false, true, labels.EmptyLabels(), `a= b="" c d=x`,
			labels.FromStrings("a", "", "b", "", "c", "", "d", "x")},
		{"keys sanitized", false, false, labels.EmptyLabels(), `http.status=200 1x=y`,
			labels.FromStrings("_1x", "y", "http_status", "200")},
		{"collision gets _extracted", false, false, labels.FromStrings("level", "stream"), `level=debug`,
			labels.FromStrings("level", "stream", "level_extracted", "debug")},
		{"first duplicate wins", false, false, labels.EmptyLabels(), `a=1 a=2`,
			labels.FromStrings("a", "1")},
		{"lenient skips malformed token", false, false, labels.EmptyLabels(), `a=1 =bad b=2 c="x"y d=4`,
			labels.FromStrings("a", "1", "b", "2", "d", "4")},
		{"strict stops at malformed token", true, false, labels.EmptyLabels(), `a=1 =bad b=2`,
			labels.FromStrings("__error__", ErrLogfmt, "__error_details__", "logfmt syntax error at pos 5 : unexpected '='", "a", "1")},
		{"strict unterminated quote", true, false, labels.EmptyLabels(), `a=1 b="x`,
			labels.FromStrings("__error__", ErrLogfmt, "__error_details__", "logfmt syntax error at pos 7 : unterminated quoted value", "a", "1")},
		{"value may contain equals", false, false, labels.EmptyLabels(), `q=a=b`,
			labels.FromStrings("q", "a=b")},
		{"invalid utf8 value dropped", false, false, labels.EmptyLabels(), "a=\xff b=1",
			labels.FromStrings("b", "1")},
		{"unicode escape", false, false, labels.EmptyLabels(), `a="\u00e9"`,
			labels.FromStrings("a", "é")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, got, keep := runStages(t, []Stage{NewLogfmtParser(tt.strict, tt.keepEmpty)}, tt.stream, tt.line)
			if !keep || out != tt.line {
				t.Fatalf("line changed or dropped: %q %v", out, keep)
			}
			if !labels.Equal(got, tt.want) {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestLogfmtExpressionParser(t *testing.T) {
	tests := []struct {
		name   string
		stream labels.Labels
		exprs  []LogfmtExpr
		line   string
		want   labels.Labels
	}{
		{"selected keys only", labels.EmptyLabels(), []LogfmtExpr{{"host", "host"}, {"ip", "fwd"}},
			`host=h1 fwd=10.0.0.1 other=x`, labels.FromStrings("host", "h1", "ip", "10.0.0.1")},
		{"missing key yields empty label", labels.EmptyLabels(), []LogfmtExpr{{"host", "host"}},
			`other=x`, labels.FromStrings("host", "")},
		{"collision gets _extracted", labels.FromStrings("host", "s"), []LogfmtExpr{{"host", "host"}},
			`host=h1`, labels.FromStrings("host", "s", "host_extracted", "h1")},
		{"missing colliding key adds nothing", labels.FromStrings("host", "s"), []LogfmtExpr{{"host", "host"}},
			`x=1`, labels.FromStrings("host", "s")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewLogfmtExpressionParser(tt.exprs, false, false)
			if err != nil {
				t.Fatal(err)
			}
			_, got, _ := runStages(t, []Stage{p}, tt.stream, tt.line)
			if !labels.Equal(got, tt.want) {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	if _, err := NewLogfmtExpressionParser([]LogfmtExpr{{"bad-name", "x"}}, false, false); err == nil {
		t.Fatal("invalid label name accepted")
	}
}
