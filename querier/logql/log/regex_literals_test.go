package log

import (
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
)

// TestRegexpSubstringsAreRequired checks the extractor's promise on random
// regexps built from the parts it expands (literals, small and large
// classes, optional parts, alternations, repetitions) and random lines:
// every line the regexp matches holds, for every group, one of its
// strings.
func TestRegexpSubstringsAreRequired(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	parts := []string{"ab", "b", `"?`, "[:=]", "[0-9]", `\d`, "(ab|ba)", "(a|)", "c?", "a+", "(ab){2}", ".*", "x", "(?i:ab)", "[a-c]"}
	alphabet := []string{"a", "b", "c", "x", `"`, ":", "=", "1", "ab", "ba", "abab", "A"}
	checked := 0
	for range 3000 {
		var expr strings.Builder
		for range 1 + r.IntN(5) {
			expr.WriteString(parts[r.IntN(len(parts))])
		}
		re := regexp.MustCompile(expr.String())
		parsed, err := syntax.Parse(expr.String(), syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		groups := RegexpSubstrings(parsed.Simplify())
		for _, g := range groups {
			if len(g) == 0 || len(g) > maxExactStrings {
				t.Fatalf("%s: group %q", expr.String(), g)
			}
		}
		for range 200 {
			var line strings.Builder
			for range r.IntN(12) {
				line.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			if !re.MatchString(line.String()) {
				continue
			}
			checked++
			for _, g := range groups {
				found := false
				for _, a := range g {
					found = found || strings.Contains(line.String(), a)
				}
				if !found {
					t.Fatalf("%s matches %q, which holds none of %q (groups %q)", expr.String(), line.String(), g, groups)
				}
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d matching lines checked", checked)
	}
}

func TestReduceAlternativesDropsImpliedStrings(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
	}{
		{[]string{"abc", "abcd"}, []string{"abc"}},
		{[]string{"x", "abcdx"}, []string{"x"}},
		{[]string{"ab", "ab", "cd"}, []string{"ab", "cd"}},
		{[]string{"ab", ""}, nil},
		{[]string{"status=5", "status:5"}, []string{"status:5", "status=5"}},
	} {
		got := reduceAlternatives(tc.in)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || (got == nil) != (tc.want == nil) {
			t.Errorf("reduceAlternatives(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
