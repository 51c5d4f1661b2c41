package logql

import (
	"regexp/syntax"
	"slices"

	"github.com/plgstack/plg/chunks"
	lsyntax "github.com/plgstack/plg/querier/logql/syntax"
)

// SelectHints tell a Source what the query does with the entries it gets,
// so the Source may avoid reading entries the query would drop anyway.
// They are advisory: a Source may ignore any of them, and the engine still
// applies every filter to what it receives.
type SelectHints struct {
	// LineTokens are tokens (maximal runs of token bytes, as
	// chunks.AppendTokens splits lines) that every line the query keeps
	// contains as a whole token, compared case-sensitively. A Source may
	// leave out entries whose line lacks one of them, typically by skipping
	// blocks whose token bloom filter rules the token out. Empty means no
	// such knowledge.
	LineTokens []string
	// LineSubstrings are groups of alternatives: every line the query
	// keeps contains, for every group, at least one of the group's strings
	// as a substring, compared case-sensitively. A Source may leave out
	// entries whose line does not, typically by skipping blocks whose
	// n-gram filter rules out every alternative of a group (see
	// chunks.NewNeedles). Empty means no such knowledge.
	LineSubstrings [][]string
	// Cell, when not nil, lets the Source answer a span of a stream's
	// entries that Cell maps to one value with one summary instead of the
	// entries (see Summarizer); the engine sets it only where the count
	// and line bytes of the entries are all it reads. The Source must
	// count each entry once: a span it summarises must hold no entry that
	// it also yields, or that another of its copies (an ingester's memory,
	// an overlapping chunk) yields. Cell(ts) is the last instant of ts's
	// cell: every t with ts <= t <= Cell(ts) maps to Cell(ts).
	Cell func(ts int64) int64
	// CellPlainOnly, with Cell, keeps entries that carry structured
	// metadata out of summaries: the query's grouping may read labels that
	// metadata sets, so such entries must reach the engine whole.
	CellPlainOnly bool
}

// Summarizer is implemented by the iterator of a SourceStream selected with
// SelectHints.Cell when it may yield summaries. After Next, Summary reports
// whether the current item stands for entries entries holding lineBytes
// bytes of lines, all of which Cell maps to the value it maps At's
// Timestamp to; At's Line and Metadata are then empty. At's Timestamp is
// no earlier than the newest of the entries (a summary from a histogram
// bucket may report the bucket's end) and no later than the next item's.
// Summaries come in time order with the entries, forward only.
type Summarizer interface {
	Summary() (entries, lineBytes int64, ok bool)
}

// selectHints derives the hints of a log selector.
func selectHints(sel *lsyntax.LogSelectorExpr) SelectHints {
	return SelectHints{LineTokens: requiredLineTokens(sel.Stages), LineSubstrings: requiredLineSubstrings(sel.Stages)}
}

// requiredLineTokens returns the whole tokens that every line kept by
// stages must contain, in first-seen order without repeats. Only line
// filters that see the line as stored count: the scan stops at the first
// stage that may rewrite the line (line_format, decolorize, unpack, or any
// stage it does not know). A filter contributes only if it is a single
// positive, case-sensitive substring: `|= "s"`, or `|~ "re"` whose regexp
// is a plain literal. Or-chains, negations, patterns and ip() filters say
// nothing certain about one token, and contribute nothing.
func requiredLineTokens(stages []lsyntax.Stage) []string {
	var out []string
	for _, s := range stages {
		lf, ok := s.(*lsyntax.LineFilter)
		if !ok {
			if keepsLine(s) {
				continue
			}
			break
		}
		needle, ok := literalNeedle(lf)
		if !ok {
			continue
		}
		for _, t := range chunks.WholeTokens([]byte(needle)) {
			if !slices.Contains(out, string(t)) {
				out = append(out, string(t))
			}
		}
	}
	return out
}

// literalNeedle returns the substring every line kept by f contains, if f
// is a single positive substring or literal-regexp filter.
func literalNeedle(f *lsyntax.LineFilter) (string, bool) {
	if len(f.Values) != 1 || f.Values[0].IP {
		return "", false
	}
	v := f.Values[0].Value
	switch f.Op {
	case lsyntax.LineContains:
		return v, true
	case lsyntax.LineMatchRegexp:
		return regexpLiteral(v)
	}
	return "", false
}

// regexpLiteral reports the literal an unanchored regexp matches when it
// matches nothing but that literal, case-sensitively ("foo bar", "a\.b").
func regexpLiteral(expr string) (string, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return "", false
	}
	re = re.Simplify()
	if re.Op != syntax.OpLiteral || re.Flags&syntax.FoldCase != 0 {
		return "", false
	}
	return string(re.Rune), true
}
