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
// contains: for each group, at least one of its strings. Neighbouring
// parts that match only a few exact strings (literals, classes of a few
// characters, optional parts, alternations of those) join into one group
// of their concatenations; case-folded parts, large classes and
// repetitions without a minimum contribute nothing; a literal holding
// U+FFFD is left out too, since the regexp engine matches it against any
// invalid UTF-8 byte.
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
		// Adjacent parts that match a few exact strings join into one
		// group of longer, rarer strings: `status"?[:=]5` requires one of
		// status:5, status=5, status":5 and status"=5, where the parts
		// alone require only "status" (in every JSON line) and "5".
		var out [][]string
		run := []string{""}
		flush := func() {
			if g := reduceAlternatives(run); g != nil {
				out = append(out, g)
			}
			run = []string{""}
		}
		for _, sub := range re.Sub {
			if set, ok := exactStrings(sub); ok {
				if prod, ok := crossProduct(run, set); ok {
					run = prod
					continue
				}
				flush()
				run = set
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

// maxExactStrings bounds the strings a part of a regexp may expand to
// (exactStrings): each is one more alternative for a search to look for.
const maxExactStrings = 8

// exactStrings returns every string re can match, if there are at most
// maxExactStrings and re matches nothing else: case-sensitive literals,
// small classes, optional parts, alternations and concatenations of
// those.
func exactStrings(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if s, ok := literalString(re); ok {
			return []string{s}, true
		}
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if hi-lo >= maxExactStrings || len(out)+int(hi-lo)+1 > maxExactStrings {
				return nil, false
			}
			for r := lo; r <= hi; r++ {
				if r == utf8.RuneError || !utf8.ValidRune(r) {
					return nil, false
				}
				out = append(out, string(r))
			}
		}
		return out, len(out) > 0
	case syntax.OpCapture:
		return exactStrings(re.Sub[0])
	case syntax.OpQuest:
		if set, ok := exactStrings(re.Sub[0]); ok && len(set) < maxExactStrings {
			return append([]string{""}, set...), true
		}
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			set, ok := exactStrings(sub)
			if !ok || len(out)+len(set) > maxExactStrings {
				return nil, false
			}
			out = append(out, set...)
		}
		return out, true
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			set, ok := exactStrings(sub)
			if !ok {
				return nil, false
			}
			if out, ok = crossProduct(out, set); !ok {
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}

// crossProduct returns every a+b for a in as and b in bs, if there are
// at most maxExactStrings.
func crossProduct(as, bs []string) ([]string, bool) {
	if len(as)*len(bs) > maxExactStrings {
		return nil, false
	}
	out := make([]string, 0, len(as)*len(bs))
	for _, a := range as {
		for _, b := range bs {
			out = append(out, a+b)
		}
	}
	return out, true
}

// reduceAlternatives turns the strings a part may match into a group of
// required alternatives: sorted, without repeats and without any string
// that contains another (a line holding it holds the other). It returns
// nil when one of them is empty: the part then requires nothing.
func reduceAlternatives(alts []string) []string {
	if slices.Contains(alts, "") {
		return nil
	}
	var out []string
	for i, a := range alts {
		redundant := false
		for j, b := range alts {
			if j != i && strings.Contains(a, b) && (len(b) < len(a) || j < i) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}
