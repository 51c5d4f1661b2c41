package logql

import (
	"testing"

	"github.com/plgstack/plg/querier/logql/syntax"
)

func TestHoistLineFiltersAheadOfParsers(t *testing.T) {
	tests := []struct {
		name, query, want string
	}{
		{"filter after a parser and a label filter moves first",
			`{a="b"} | json | level="error" |= "timeout"`,
			`{a="b"} |= "timeout" | json | level="error"`},
		{"filters keep their relative order",
			`{a="b"} |= "x" | logfmt != "y" | regexp "(?P<z>.)" |~ "w"`,
			`{a="b"} |= "x" != "y" |~ "w" | logfmt | regexp "(?P<z>.)"`},
		{"line_format rewrites the line: no move past it",
			`{a="b"} | logfmt | line_format "{{.msg}}" | drop msg |= "x"`,
			`{a="b"} | logfmt | line_format "{{.msg}}" |= "x" | drop msg`},
		{"unpack rewrites the line: no move past it",
			`{a="b"} | unpack | keep c |= "x"`,
			`{a="b"} | unpack |= "x" | keep c`},
		{"decolorize rewrites the line: no move past it",
			`{a="b"} | decolorize | pattern "<x> <_>" |> "<_> y"`,
			`{a="b"} | decolorize |> "<_> y" | pattern "<x> <_>"`},
		{"label_format moves aside", `{a="b"} | logfmt | label_format c=d |= "x"`, `{a="b"} |= "x" | logfmt | label_format c=d`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := syntax.ParseLogSelector(tt.query, true)
			if err != nil {
				t.Fatal(err)
			}
			got := &syntax.LogSelectorExpr{Matchers: sel.Matchers, Stages: hoistLineFilters(sel.Stages)}
			if got.String() != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
