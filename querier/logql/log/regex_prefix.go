package log

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/plgstack/plg/internal/logbytes"
)

// Go's regexp searches an unanchored expression without a literal prefix
// (a leading alternation, a character class) by running its NFA from every
// byte of the line, some 30 MB/s. prefixRegex instead finds the few places a
// match can start with substring searches over the literals every match
// starts with, and runs the expression there only, anchored.
//
// The literals come from regexp/syntax: each alternative contributes the
// strings it must begin with (literals, small classes and optional parts
// expanded into all their combinations, up to maxPrefixLits). Literals
// sharing a long common prefix are searched as that prefix and told apart
// with a comparison at the hit, so that `(status"?[:=]|HTTP/1\.1" )5\d\d`
// costs two substring scans per line plus an anchored match on the rare
// candidates.

// maxPrefixLits bounds the literal set: more literals cost more scans per
// line than they save.
const maxPrefixLits = 16

// maxPrefixGroups bounds the substring scans per line.
const maxPrefixGroups = 6

// prefixLit is a string every match (of some alternative) starts with;
// complete means that alternative's part so far is exactly this string, so
// what follows it may extend it.
type prefixLit struct {
	s        string
	complete bool
}

// prefixGroup is one substring scan: lead is searched, and a hit is a
// candidate when the line continues with one of lits there (nil: lead
// alone suffices).
type prefixGroup struct {
	lead []byte
	rare int // the offset in lead of the byte to scan for
	lits [][]byte
}

type prefixRegex struct {
	groups []prefixGroup
	// anchored is the expression with `^` prepended: a match starting at
	// the candidate, which is all the original needs there because the
	// expression has no assertion looking before its start.
	anchored *regexp.Regexp
}

func (p *prefixRegex) match(line []byte) bool {
	var next [maxPrefixGroups]int
	groups := p.groups
	for i := range groups {
		next[i] = -2 // not searched yet
	}
	pos := 0
	for {
		k := -1
		for i := range groups {
			if next[i] == -1 {
				continue
			}
			if next[i] < pos {
				j := indexRare(line[pos:], groups[i].lead, groups[i].rare)
				if j < 0 {
					next[i] = -1
					continue
				}
				next[i] = pos + j
			}
			if k < 0 || next[i] < k {
				k = next[i]
			}
		}
		if k < 0 {
			return false
		}
		if p.candidate(line[k:], next[:len(groups)], k) && p.anchored.Match(line[k:]) {
			return true
		}
		pos = k + 1
	}
}

// candidate reports whether one of the groups found at k continues with
// one of its literals.
func (p *prefixRegex) candidate(rest []byte, next []int, k int) bool {
	for i, g := range p.groups {
		if next[i] != k {
			continue
		}
		if g.lits == nil {
			return true
		}
		for _, l := range g.lits {
			if bytes.HasPrefix(rest, l) {
				return true
			}
		}
	}
	return false
}

// newPrefixRegex returns a prefixRegex for the parsed expression expr, or
// false when some match may start with an empty or unknown literal, or the
// expression looks at what precedes its match (^, \b, \B).
func newPrefixRegex(expr string, parsed *syntax.Regexp) (*prefixRegex, bool) {
	if looksBehind(parsed) {
		return nil, false
	}
	lits, ok := prefixLits(parsed)
	if !ok || len(lits) == 0 {
		return nil, false
	}
	set := make([]string, 0, len(lits))
	for _, l := range lits {
		if l.s == "" {
			return nil, false
		}
		set = append(set, l.s)
	}
	groups := groupPrefixes(set)
	if len(groups) > maxPrefixGroups {
		return nil, false
	}
	for i := range groups {
		groups[i].rare = logbytes.Rarest(groups[i].lead)
	}
	anchored, err := regexp.Compile(`^(?:` + expr + `)`)
	if err != nil {
		return nil, false
	}
	return &prefixRegex{groups: groups, anchored: anchored}, true
}

// groupPrefixes drops literals that have another one as prefix (its hits
// include theirs), then gathers the literals sharing a first byte into one
// scan for their common prefix, when that prefix is long enough to be
// selective or there are too many literals to scan for one by one.
func groupPrefixes(set []string) []prefixGroup {
	slices.Sort(set)
	set = slices.Compact(set)
	var kept []string
	for _, s := range set {
		// Sorted: a prefix of s sorts right before s or its siblings,
		// and is the last kept one if any is.
		if len(kept) > 0 && strings.HasPrefix(s, kept[len(kept)-1]) {
			continue
		}
		kept = append(kept, s)
	}
	var groups []prefixGroup
	for i := 0; i < len(kept); {
		j := i + 1
		lcp := kept[i]
		for j < len(kept) && kept[j][0] == kept[i][0] {
			lcp = commonPrefix(lcp, kept[j])
			j++
		}
		if j-i > 1 && (len(lcp) >= 3 || len(kept) > maxPrefixGroups) {
			g := prefixGroup{lead: []byte(lcp)}
			for _, s := range kept[i:j] {
				g.lits = append(g.lits, []byte(s))
			}
			groups = append(groups, g)
		} else {
			for _, s := range kept[i:j] {
				groups = append(groups, prefixGroup{lead: []byte(s)})
			}
		}
		i = j
	}
	return groups
}

func commonPrefix(a, b string) string {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return a[:i]
		}
	}
	return a[:n]
}

// looksBehind reports whether r has an assertion that depends on the text
// before the position it is tested at.
func looksBehind(r *syntax.Regexp) bool {
	switch r.Op {
	case syntax.OpBeginLine, syntax.OpBeginText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	for _, s := range r.Sub {
		if looksBehind(s) {
			return true
		}
	}
	return false
}

var (
	emptyComplete   = []prefixLit{{complete: true}}
	emptyIncomplete = []prefixLit{{}}
)

// prefixLits returns the literals that every match of r starts with; a
// literal "" that is not complete means nothing is known. ok is false when
// the set would exceed maxPrefixLits.
func prefixLits(r *syntax.Regexp) ([]prefixLit, bool) {
	switch r.Op {
	case syntax.OpEmptyMatch, syntax.OpEndLine, syntax.OpEndText:
		// End assertions consume nothing; stopping the literal there
		// keeps the set a prefix of every match.
		if r.Op == syntax.OpEmptyMatch {
			return emptyComplete, true
		}
		return emptyIncomplete, true
	case syntax.OpLiteral:
		set := emptyComplete
		for _, c := range r.Rune {
			alts, ok := runeAlternatives(c, r.Flags&syntax.FoldCase != 0)
			if !ok {
				return markIncomplete(set), true
			}
			next, ok := cross(set, alts)
			if !ok {
				return markIncomplete(set), true
			}
			set = next
		}
		return set, true
	case syntax.OpCharClass:
		var alts []prefixLit
		for i := 0; i+1 < len(r.Rune); i += 2 {
			lo, hi := r.Rune[i], r.Rune[i+1]
			if hi-lo >= maxPrefixLits || len(alts)+int(hi-lo)+1 > maxPrefixLits {
				return emptyIncomplete, true
			}
			for c := lo; c <= hi; c++ {
				if c == utf8.RuneError || c > unicode.MaxRune || (c >= 0xD800 && c <= 0xDFFF) {
					return emptyIncomplete, true
				}
				alts = append(alts, prefixLit{s: string(c), complete: true})
			}
		}
		if len(alts) == 0 {
			return emptyIncomplete, true
		}
		return alts, true
	case syntax.OpCapture:
		return prefixLits(r.Sub[0])
	case syntax.OpConcat:
		set := emptyComplete
		for _, s := range r.Sub {
			if !anyComplete(set) {
				break
			}
			sub, ok := prefixLits(s)
			if !ok {
				return markIncomplete(set), true
			}
			next, ok := cross(set, sub)
			if !ok {
				return markIncomplete(set), true
			}
			set = next
		}
		return set, true
	case syntax.OpAlternate:
		var set []prefixLit
		for _, s := range r.Sub {
			sub, ok := prefixLits(s)
			if !ok {
				return nil, false
			}
			set = append(set, sub...)
			if len(set) > maxPrefixLits {
				return nil, false
			}
		}
		return set, true
	case syntax.OpQuest:
		sub, ok := prefixLits(r.Sub[0])
		if !ok || len(sub) >= maxPrefixLits {
			return nil, false
		}
		return append(slices.Clone(sub), prefixLit{complete: true}), true
	case syntax.OpStar:
		sub, ok := prefixLits(r.Sub[0])
		if !ok || len(sub) >= maxPrefixLits {
			return nil, false
		}
		return append(markIncomplete(sub), prefixLit{complete: true}), true
	case syntax.OpPlus:
		sub, ok := prefixLits(r.Sub[0])
		if !ok {
			return nil, false
		}
		return markIncomplete(sub), true
	case syntax.OpRepeat:
		sub, ok := prefixLits(r.Sub[0])
		if !ok {
			return nil, false
		}
		if r.Min == 0 {
			if len(sub) >= maxPrefixLits {
				return nil, false
			}
			return append(markIncomplete(sub), prefixLit{complete: true}), true
		}
		return markIncomplete(sub), true
	}
	return emptyIncomplete, true
}

// runeAlternatives returns the strings matching rune c: itself, or with
// fold its whole case-folding orbit (k also matches the Kelvin sign).
// U+FFFD is refused: regexp matches it against invalid UTF-8 too, which
// no substring search for its encoding finds.
func runeAlternatives(c rune, fold bool) ([]prefixLit, bool) {
	if c == utf8.RuneError {
		return nil, false
	}
	alts := []prefixLit{{s: string(c), complete: true}}
	if fold {
		for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
			if f == utf8.RuneError {
				return nil, false
			}
			alts = append(alts, prefixLit{s: string(f), complete: true})
		}
	}
	return alts, true
}

// cross extends each complete literal of a with each literal of b; false
// when the result would have more than maxPrefixLits literals.
func cross(a, b []prefixLit) ([]prefixLit, bool) {
	n := 0
	for _, x := range a {
		if x.complete {
			n += len(b)
		} else {
			n++
		}
	}
	if n > maxPrefixLits {
		return nil, false
	}
	out := make([]prefixLit, 0, n)
	for _, x := range a {
		if !x.complete {
			out = append(out, x)
			continue
		}
		for _, y := range b {
			out = append(out, prefixLit{s: x.s + y.s, complete: y.complete})
		}
	}
	return out, true
}

func markIncomplete(set []prefixLit) []prefixLit {
	out := make([]prefixLit, len(set))
	for i, l := range set {
		out[i] = prefixLit{s: l.s}
	}
	return out
}

func anyComplete(set []prefixLit) bool {
	for _, l := range set {
		if l.complete {
			return true
		}
	}
	return false
}

// indexRare is bytes.Index that looks for needle's byte at off, chosen to
// be rare in log text, and compares the needle around each hit: a needle
// starting with a common letter ("status") would otherwise stop
// bytes.Index at most words of the line.
func indexRare(hay, needle []byte, off int) int {
	n := len(needle)
	last := len(hay) - n + off // the last position of the rare byte
	c := needle[off]
	for i := off; i <= last; {
		j := bytes.IndexByte(hay[i:last+1], c)
		if j < 0 {
			return -1
		}
		i += j
		if bytes.Equal(hay[i-off:i-off+n], needle) {
			return i - off
		}
		i++
	}
	return -1
}
