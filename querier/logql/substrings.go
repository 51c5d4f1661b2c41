package logql

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"

	lsyntax "github.com/plgstack/plg/querier/logql/syntax"
)

// requiredLineSubstrings returns what every line kept by stages contains,
// as groups of alternatives: a kept line contains, for every group, at
// least one of its strings (case-sensitive substrings of the line as
// stored). It scans the same stages as requiredLineTokens, stopping at
// the first that may rewrite the line. `|= "a" or "b"` gives the group
// {a, b}; `|~ "re"` gives the groups of literals every match of re
// contains (see regexpSubstrings); negations, patterns and ip() give
// nothing. Groups holding an empty string say nothing and are left out.
func requiredLineSubstrings(stages []lsyntax.Stage) [][]string {
	var out [][]string
	for _, s := range stages {
		lf, ok := s.(*lsyntax.LineFilter)
		if !ok {
			if keepsLine(s) {
				continue
			}
			break
		}
		for _, g := range filterSubstrings(lf) {
			if !slices.ContainsFunc(out, func(o []string) bool { return slices.Equal(o, g) }) {
				out = append(out, g)
			}
		}
	}
	return out
}

// filterSubstrings returns the groups every line f keeps satisfies: one
// group for a substring filter, every group its regexp requires for a
// single `|~`, and one group of the most telling alternatives for an
// or-chain of regexps.
func filterSubstrings(f *lsyntax.LineFilter) [][]string {
	if f.Op != lsyntax.LineContains && f.Op != lsyntax.LineMatchRegexp {
		return nil
	}
	var alts []string
	for _, v := range f.Values {
		if v.IP {
			return nil
		}
		if f.Op == lsyntax.LineContains {
			if v.Value == "" {
				return nil
			}
			alts = append(alts, v.Value)
			continue
		}
		re, err := syntax.Parse(v.Value, syntax.Perl)
		if err != nil {
			return nil
		}
		groups := regexpSubstrings(re.Simplify())
		if len(f.Values) == 1 {
			return groups
		}
		best := bestGroup(groups)
		if best == nil {
			return nil
		}
		alts = append(alts, best...)
	}
	slices.Sort(alts)
	return [][]string{slices.Compact(alts)}
}

// bestGroup picks, of groups that are all required, the one most likely
// to rule blocks out: the one whose shortest alternative is longest.
func bestGroup(groups [][]string) []string {
	var best []string
	bestLen := 0
	for _, g := range groups {
		shortest := len(g[0])
		for _, a := range g[1:] {
			shortest = min(shortest, len(a))
		}
		if shortest > bestLen {
			best, bestLen = g, shortest
		}
	}
	return best
}

// regexpSubstrings returns groups of literals that every match of re
// contains: for each group, at least one of its strings. Case-folded
// parts, classes and optional parts contribute nothing; a literal
// holding U+FFFD is left out too, since the regexp engine matches it
// against any invalid UTF-8 byte.
func regexpSubstrings(re *syntax.Regexp) [][]string {
	switch re.Op {
	case syntax.OpLiteral:
		if s, ok := literalString(re); ok {
			return [][]string{{s}}
		}
	case syntax.OpCapture, syntax.OpPlus:
		return regexpSubstrings(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return regexpSubstrings(re.Sub[0])
		}
	case syntax.OpConcat:
		// Adjacent literals join into one longer, rarer string.
		var out [][]string
		var run strings.Builder
		flush := func() {
			if run.Len() > 0 {
				out = append(out, []string{run.String()})
				run.Reset()
			}
		}
		for _, sub := range re.Sub {
			if s, ok := literalString(sub); ok {
				run.WriteString(s)
				continue
			}
			flush()
			out = append(out, regexpSubstrings(sub)...)
		}
		flush()
		return out
	case syntax.OpAlternate:
		var alts []string
		for _, sub := range re.Sub {
			best := bestGroup(regexpSubstrings(sub))
			if best == nil {
				return nil
			}
			alts = append(alts, best...)
		}
		slices.Sort(alts)
		return [][]string{slices.Compact(alts)}
	}
	return nil
}

// literalString returns the text a case-sensitive literal node matches.
func literalString(re *syntax.Regexp) (string, bool) {
	if re.Op != syntax.OpLiteral || re.Flags&syntax.FoldCase != 0 || slices.Contains(re.Rune, utf8.RuneError) {
		return "", false
	}
	return string(re.Rune), true
}
