package logql

import (
	"regexp/syntax"
	"slices"

	"github.com/plgstack/plg/querier/logql/log"
	lsyntax "github.com/plgstack/plg/querier/logql/syntax"
)

// requiredLineSubstrings returns what every line kept by stages contains,
// as groups of alternatives: a kept line contains, for every group, at
// least one of its strings (case-sensitive substrings of the line as
// stored). It scans the same stages as requiredLineTokens, stopping at
// the first that may rewrite the line. `|= "a" or "b"` gives the group
// {a, b}; `|~ "re"` gives the groups of literals every match of re
// contains (see log.RegexpSubstrings); negations, patterns and ip() give
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
		groups := log.RegexpSubstrings(re.Simplify())
		if len(f.Values) == 1 {
			return groups
		}
		best := log.BestSubstringGroup(groups)
		if best == nil {
			return nil
		}
		alts = append(alts, best...)
	}
	slices.Sort(alts)
	return [][]string{slices.Compact(alts)}
}
