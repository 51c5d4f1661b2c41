package log

import (
	"regexp/syntax"
	"testing"
)

func mustParseFold(t *testing.T, lit string) *syntax.Regexp {
	t.Helper()
	r, err := syntax.Parse("(?i)"+lit, syntax.Perl)
	if err != nil {
		t.Fatal(err)
	}
	return r.Simplify()
}
