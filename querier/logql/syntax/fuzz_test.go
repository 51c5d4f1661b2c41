package syntax

import (
	"testing"
)

// FuzzParseExpr checks that parsing never panics and that whatever parses
// prints to a canonical form that parses again to the same form and tree.
// Normal `go test` runs only the seed corpus.
func FuzzParseExpr(f *testing.F) {
	for _, tc := range validQueries {
		f.Add(tc.in)
	}
	for _, tc := range malformedQueries {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, q string) {
		e, err := ParseExpr(q)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("ParseExpr(%q) returned %T, want *ParseError", q, err)
			}
			return
		}
		s1 := e.String()
		if len(s1) > MaxQueryLength {
			return // canonical form may quote bytes the input wrote raw
		}
		e2, err := ParseExpr(s1)
		if err != nil {
			t.Fatalf("ParseExpr(%q) printed %q which fails to parse: %v", q, s1, err)
		}
		if s2 := e2.String(); s2 != s1 {
			t.Fatalf("canonical form not stable for %q:\n first: %s\nsecond: %s", q, s1, s2)
		}
		if !equalNodes(e, e2) {
			t.Fatalf("re-parsed tree differs for %q (printed %q)", q, s1)
		}
	})
}
