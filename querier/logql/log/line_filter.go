package log

import (
	"bytes"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// LineFilterOp is the operator of a line filter.
type LineFilterOp int

// Line filter operators: |=, !=, |~, !~, |>, !>.
const (
	LineContains LineFilterOp = iota
	LineNotContains
	LineRegex
	LineNotRegex
	LinePattern
	LineNotPattern
)

func (op LineFilterOp) String() string {
	switch op {
	case LineContains:
		return "|="
	case LineNotContains:
		return "!="
	case LineRegex:
		return "|~"
	case LineNotRegex:
		return "!~"
	case LinePattern:
		return "|>"
	case LineNotPattern:
		return "!>"
	}
	return fmt.Sprintf("LineFilterOp(%d)", int(op))
}

func (op LineFilterOp) negated() bool {
	return op == LineNotContains || op == LineNotRegex || op == LineNotPattern
}

// matcher tests raw line bytes.
type matcher interface {
	match(line []byte) bool
}

// LineFilter keeps lines that match (or, for the negated operators, do not
// match) any of its values. It runs on raw bytes and never allocates.
type LineFilter struct {
	m      matcher
	negate bool
}

// NewLineFilter returns a line filter. Several values form an or-chain:
// `|= "a" or "b"` keeps lines containing a or b, `!= "a" or "b"` keeps lines
// containing neither. Regular expressions are RE2, unanchored; those that are
// plain literals (including (?i) ones and `.*lit.*`) run as substring
// searches; those whose matches start with one of a few literals are
// searched for those literals and matched, anchored, only there
// (prefixRegex); others are prefiltered on a literal they require.
func NewLineFilter(op LineFilterOp, values ...string) (*LineFilter, error) {
	if len(values) == 0 {
		return nil, fmt.Errorf("line filter %s: no value", op)
	}
	ms := make([]matcher, 0, len(values))
	for _, v := range values {
		var (
			m   matcher
			err error
		)
		switch op {
		case LineContains, LineNotContains:
			m = containsMatcher(v)
		case LineRegex, LineNotRegex:
			m, err = regexMatcher(v)
		case LinePattern, LineNotPattern:
			var p *patternExpr
			p, err = parsePattern(v, false)
			m = p
		default:
			err = fmt.Errorf("unknown operator %d", int(op))
		}
		if err != nil {
			return nil, fmt.Errorf("line filter %s %q: %w", op, v, err)
		}
		ms = append(ms, m)
	}
	f := &LineFilter{negate: op.negated()}
	if len(ms) == 1 {
		f.m = ms[0]
	} else {
		f.m = orMatcher(ms)
	}
	return f, nil
}

// Process implements Stage.
func (f *LineFilter) Process(_ int64, line []byte, _ *LabelsBuilder) ([]byte, bool) {
	return line, f.m.match(line) != f.negate
}

// Match reports whether the filter keeps line; the engine can use it to
// filter before building labels.
func (f *LineFilter) Match(line []byte) bool { return f.m.match(line) != f.negate }

type orMatcher []matcher

func (o orMatcher) match(line []byte) bool {
	for _, m := range o {
		if m.match(line) {
			return true
		}
	}
	return false
}

type literalMatcher []byte

func (l literalMatcher) match(line []byte) bool { return bytes.Contains(line, l) }

type trueMatcher struct{}

func (trueMatcher) match([]byte) bool { return true }

func containsMatcher(s string) matcher {
	if s == "" {
		return trueMatcher{}
	}
	return literalMatcher(s)
}

// foldMatcher is a case-insensitive substring search for an ASCII needle
// held in lower case.
type foldMatcher struct {
	lower []byte
}

func toLowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func toUpperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

func (f foldMatcher) match(line []byte) bool {
	n := len(f.lower)
	if n == 0 {
		return true
	}
	lo, up := f.lower[0], toUpperASCII(f.lower[0])
	if lo == up {
		for i := 0; i+n <= len(line); {
			j := bytes.IndexByte(line[i:len(line)-n+1], lo)
			if j < 0 {
				return false
			}
			i += j
			if equalFoldTail(line[i+1:i+n], f.lower[1:]) {
				return true
			}
			i++
		}
		return false
	}
	// Track the next occurrence of each case of the first byte so that a
	// frequent one does not make the rare one rescan the line.
	limit := len(line) - n + 1
	if limit <= 0 {
		return false
	}
	nextLo, nextUp := -2, -2
	for i := 0; i < limit; {
		if nextLo != -1 && nextLo < i {
			nextLo = indexFrom(line[:limit], lo, i)
		}
		if nextUp != -1 && nextUp < i {
			nextUp = indexFrom(line[:limit], up, i)
		}
		var k int
		switch {
		case nextLo < 0 && nextUp < 0:
			return false
		case nextLo < 0:
			k = nextUp
		case nextUp < 0:
			k = nextLo
		default:
			k = min(nextLo, nextUp)
		}
		if equalFoldTail(line[k+1:k+n], f.lower[1:]) {
			return true
		}
		i = k + 1
	}
	return false
}

func indexFrom(b []byte, c byte, from int) int {
	j := bytes.IndexByte(b[from:], c)
	if j < 0 {
		return -1
	}
	return from + j
}

func equalFoldTail(b, lower []byte) bool {
	for i := range lower {
		if toLowerASCII(b[i]) != lower[i] {
			return false
		}
	}
	return true
}

// re is a compiled regular expression prefiltered on a literal every match
// must contain.
type re struct {
	re       *regexp.Regexp
	required []byte
}

func (r re) match(line []byte) bool {
	if len(r.required) > 0 && !bytes.Contains(line, r.required) {
		return false
	}
	return r.re.Match(line)
}

func regexMatcher(expr string) (matcher, error) {
	compiled, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	parsed = parsed.Simplify()
	if m, ok := simplify(parsed); ok {
		return m, nil
	}
	if p, ok := newPrefixRegex(expr, dropLeadingStars(parsed)); ok {
		return p, nil
	}
	return re{re: compiled, required: []byte(requiredLiteral(parsed))}, nil
}

// simplify turns regular expressions that are literals, (?i) literals,
// `.*lit.*` or alternations of those into substring searches.
func simplify(r *syntax.Regexp) (matcher, bool) {
	switch r.Op {
	case syntax.OpCapture:
		return simplify(r.Sub[0])
	case syntax.OpLiteral:
		return literalOf(r)
	case syntax.OpEmptyMatch:
		return trueMatcher{}, true
	case syntax.OpConcat:
		// .*lit.* and variants: leading and trailing "match anything"
		// stars do not change an unanchored search.
		subs := r.Sub
		for len(subs) > 0 && isAnyStar(subs[0]) {
			subs = subs[1:]
		}
		for len(subs) > 0 && isAnyStar(subs[len(subs)-1]) {
			subs = subs[:len(subs)-1]
		}
		switch len(subs) {
		case 0:
			return trueMatcher{}, true
		case 1:
			return simplify(subs[0])
		}
		return nil, false
	case syntax.OpAlternate:
		ms := make(orMatcher, 0, len(r.Sub))
		for _, s := range r.Sub {
			m, ok := simplify(s)
			if !ok {
				return nil, false
			}
			ms = append(ms, m)
		}
		return ms, true
	case syntax.OpStar:
		if isAnyStar(r) {
			return trueMatcher{}, true
		}
	}
	return nil, false
}

// dropLeadingStars removes leading `.*` from a concatenation: in an
// unanchored search they can match the empty string, so they change no
// answer, and they would hide the literal prefix.
func dropLeadingStars(r *syntax.Regexp) *syntax.Regexp {
	if r.Op != syntax.OpConcat {
		return r
	}
	subs := r.Sub
	for len(subs) > 1 && isAnyStar(subs[0]) {
		subs = subs[1:]
	}
	if len(subs) == len(r.Sub) {
		return r
	}
	c := *r
	c.Sub = subs
	return &c
}

func isAnyStar(r *syntax.Regexp) bool {
	return r.Op == syntax.OpStar && len(r.Sub) == 1 &&
		(r.Sub[0].Op == syntax.OpAnyChar || r.Sub[0].Op == syntax.OpAnyCharNotNL)
}

func literalOf(r *syntax.Regexp) (matcher, bool) {
	s := string(r.Rune)
	if r.Flags&syntax.FoldCase == 0 {
		return containsMatcher(s), true
	}
	// ASCII case folding is exact only when no rune of the needle has a
	// non-ASCII fold partner (k: Kelvin sign, s: long s).
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || c == 'k' || c == 'K' || c == 's' || c == 'S' {
			return nil, false
		}
	}
	return foldMatcher{lower: []byte(strings.ToLower(s))}, true
}

// requiredLiteral returns the longest case-sensitive literal every match of
// r contains, or "".
func requiredLiteral(r *syntax.Regexp) string {
	best := ""
	for _, g := range RegexpSubstrings(r) {
		if len(g) == 1 && len(g[0]) > len(best) {
			best = g[0]
		}
	}
	return best
}

// filterSet combines whole line filters (each with its own negation).
type filterSet struct {
	fs  []*LineFilter
	all bool
}

func (s filterSet) match(line []byte) bool {
	for _, f := range s.fs {
		if f.Match(line) != s.all {
			return !s.all
		}
	}
	return s.all
}

// NewLineFilterAny keeps lines that any of fs keeps, e.g. an or-chain
// mixing strings and ip() values: `|= "a" or ip("10.0.0.0/8")`.
func NewLineFilterAny(fs ...*LineFilter) *LineFilter {
	return &LineFilter{m: filterSet{fs: fs}}
}

// NewLineFilterAll keeps lines that every one of fs keeps, e.g. a negated
// or-chain mixing strings and ip() values: `!= "a" or ip("10.0.0.0/8")`.
func NewLineFilterAll(fs ...*LineFilter) *LineFilter {
	return &LineFilter{m: filterSet{fs: fs, all: true}}
}
