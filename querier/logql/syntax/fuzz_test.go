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

// FuzzParseDuration checks that durations never panic and that every
// accepted duration prints to text that parses back to the same value.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"5m", "1h30m", "250ms", "1.5h", "10µs", "-5m", "1y2w3d", "0s", "9223372036854775807ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		back, err := ParseDuration(formatDuration(d))
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v; formatDuration = %q reparses to %v, %v", s, d, formatDuration(d), back, err)
		}
	})
}

// FuzzParseBytes checks that sizes never panic and that every accepted size
// prints to text that parses back to the same value.
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"20MB", "1.5KiB", "42B", "3k", "1PiB", "18446744073709551615B", "0.5GB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseBytes(s)
		if err != nil {
			return
		}
		back, err := ParseBytes(formatBytes(b))
		if err != nil || back != b {
			t.Fatalf("ParseBytes(%q) = %d; formatBytes = %q reparses to %d, %v", s, b, formatBytes(b), back, err)
		}
	})
}
