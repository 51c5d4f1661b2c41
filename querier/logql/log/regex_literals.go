package log

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// The literals a regular expression requires serve twice: as the
// prefilter of a regexp line filter (requiredLiteral) and as the hints
// that let block filters skip blocks (querier/logql's
// requiredLineSubstrings).

// BestSubstringGroup picks, of groups that are all required (as
// RegexpSubstrings returns them), the one most likely
// to rule blocks out: the one whose shortest alternative is longest.
func BestSubstringGroup(groups [][]string) []string {
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

// RegexpSubstrings returns groups of literals that every match of re
// contains: for each group, at least one of its strings. Case-folded
// parts, classes and optional parts contribute nothing; a literal
// holding U+FFFD is left out too, since the regexp engine matches it
// against any invalid UTF-8 byte.
func RegexpSubstrings(re *syntax.Regexp) [][]string {
	switch re.Op {
	case syntax.OpLiteral:
		if s, ok := literalString(re); ok {
			return [][]string{{s}}
		}
	case syntax.OpCapture, syntax.OpPlus:
		return RegexpSubstrings(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return RegexpSubstrings(re.Sub[0])
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
			out = append(out, RegexpSubstrings(sub)...)
		}
		flush()
		return out
	case syntax.OpAlternate:
		var alts []string
		for _, sub := range re.Sub {
			best := BestSubstringGroup(RegexpSubstrings(sub))
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
