package syntax

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
)

// MaxQueryLength is the longest query accepted, in bytes (Loki's limit).
const MaxQueryLength = 5120

const errEmptyCompatible = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"

// ErrNotMatchers is returned by ParseMatchers for anything but a bare
// selector. It is a *ParseError, so errors.Is(err, ErrParse) holds too.
var ErrNotMatchers error = &ParseError{Msg: "only label matchers are supported"}

// ParseExpr parses a LogQL query into a log query (*LogSelectorExpr) or a
// metric query (SampleExpr). Every stream selector must contain a matcher
// that does not match the empty string.
func ParseExpr(q string) (Expr, error) {
	return parse(q, true)
}

// ParseSampleExpr parses a metric query; a log query is an error.
func ParseSampleExpr(q string) (SampleExpr, error) {
	e, err := ParseExpr(q)
	if err != nil {
		return nil, err
	}
	s, ok := e.(SampleExpr)
	if !ok {
		return nil, &ParseError{Msg: "only sample expression supported"}
	}
	return s, nil
}

// ParseLogSelector parses a log query (`{...} | pipeline`). With validate
// false, selectors that match every stream (`{}`, `{a=~".*"}`) are allowed.
func ParseLogSelector(q string, validate bool) (*LogSelectorExpr, error) {
	e, err := parse(q, validate)
	if err != nil {
		return nil, err
	}
	s, ok := e.(*LogSelectorExpr)
	if !ok {
		return nil, &ParseError{Msg: "only log selector is supported"}
	}
	return s, nil
}

// ParseMatchers parses a bare stream selector such as the series API's
// match[] parameter. Pipelines and metric queries yield ErrNotMatchers.
func ParseMatchers(q string) ([]*labels.Matcher, error) {
	e, err := ParseExpr(q)
	if err != nil {
		return nil, err
	}
	s, ok := e.(*LogSelectorExpr)
	if !ok || len(s.Stages) > 0 {
		return nil, ErrNotMatchers
	}
	return s.Matchers, nil
}

type selectorAt struct {
	pos int
	ms  []*labels.Matcher
}

type parser struct {
	q         string
	toks      []token
	i         int
	selectors []selectorAt
}

var parserPool = sync.Pool{New: func() any { return &parser{} }}

func parse(q string, validate bool) (Expr, error) {
	if len(q) > MaxQueryLength {
		return nil, &ParseError{Msg: fmt.Sprintf("input size too long (%d > %d)", len(q), MaxQueryLength)}
	}
	p := parserPool.Get().(*parser)
	defer func() {
		clear(p.selectors)
		clear(p.toks) // drop references into q
		p.q, p.selectors, p.toks, p.i = "", p.selectors[:0], p.toks[:0], 0
		parserPool.Put(p)
	}()
	p.q = q
	p.toks = lex(q, p.toks)
	e, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.unexpected(t)
	}
	if validate {
		for _, s := range p.selectors {
			if !hasNonEmptyMatcher(s.ms) {
				return nil, newParseError(q, s.pos, errEmptyCompatible)
			}
		}
	}
	return e, nil
}

func hasNonEmptyMatcher(ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches("") {
			return true
		}
	}
	return false
}

// --- token helpers ---

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}

// unexpected builds Loki's "syntax error: unexpected X[, expecting A or B]".
// Like goyacc, it names the expected tokens only when there are at most four.
func (p *parser) unexpected(t token, expected ...tokenKind) *ParseError {
	if t.kind == tokError {
		return newParseError(p.q, t.pos, t.str)
	}
	var sb strings.Builder
	sb.WriteString("syntax error: unexpected ")
	sb.WriteString(t.kind.String())
	if len(expected) > 0 && len(expected) <= 4 {
		slices.Sort(expected)
		for i, k := range expected {
			if i == 0 {
				sb.WriteString(", expecting ")
			} else {
				sb.WriteString(" or ")
			}
			sb.WriteString(k.String())
		}
	}
	return newParseError(p.q, t.pos, sb.String())
}

func (p *parser) expect(k tokenKind) (token, error) {
	t := p.peek()
	if t.kind != k {
		return t, p.unexpected(t, k)
	}
	return p.next(), nil
}

// closeAfterExpr consumes the ")" ending a parenthesised expression. The
// error names no expected token: after an expression Loki's grammar also
// allows operators or pipeline stages, too many for goyacc to list.
func (p *parser) closeAfterExpr() error {
	if t := p.peek(); t.kind != tokCloseParen {
		return p.unexpected(t)
	}
	p.next()
	return nil
}

func (p *parser) errorf(pos int, format string, args ...any) *ParseError {
	return newParseError(p.q, pos, fmt.Sprintf(format, args...))
}

// --- expressions ---

var binOps = map[tokenKind]BinOp{
	tokOr: BinOr, tokAnd: BinAnd, tokUnless: BinUnless,
	tokAdd: BinAdd, tokSub: BinSub, tokMul: BinMul, tokDiv: BinDiv, tokMod: BinMod, tokPow: BinPow,
	tokCmpEQ: BinEQ, tokNEQ: BinNEQ, tokGT: BinGT, tokGTE: BinGTE, tokLT: BinLT, tokLTE: BinLTE,
}

// parseExpr is precedence climbing over binary operators (Go/PromQL
// precedence, all left-associative except ^).
func (p *parser) parseExpr(minPrec int) (Expr, error) {
	lhs, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	for {
		opTok := p.peek()
		op, ok := binOps[opTok.kind]
		if !ok || op.Precedence() < minPrec {
			return lhs, nil
		}
		p.next()
		e := &BinOpExpr{Op: op}
		if err := p.parseBinOpModifiers(e); err != nil {
			return nil, err
		}
		nextMin := op.Precedence() + 1
		if op.rightAssoc() {
			nextMin = op.Precedence()
		}
		rhs, err := p.parseExpr(nextMin)
		if err != nil {
			return nil, err
		}
		if lhs, err = p.checkBinOp(e, lhs, rhs, opTok.pos); err != nil {
			return nil, err
		}
	}
}

func (p *parser) parseBinOpModifiers(e *BinOpExpr) error {
	if p.peek().kind == tokBool {
		p.next()
		e.ReturnBool = true
	}
	switch p.peek().kind {
	case tokOn, tokIgnoring:
	default:
		return nil
	}
	m := &VectorMatching{On: p.next().kind == tokOn, Card: CardOneToOne}
	ls, err := p.parseLabelList()
	if err != nil {
		return err
	}
	m.MatchingLabels = ls
	e.Matching = m
	switch p.peek().kind {
	case tokGroupLeft:
		m.Card = CardManyToOne
	case tokGroupRight:
		m.Card = CardOneToMany
	default:
		return nil
	}
	p.next()
	// A "(" after group_left starts the include list only if it reads as
	// one; otherwise it opens the right operand.
	if p.peek().kind == tokOpenParen {
		t1, t2 := p.peekAt(1), p.peekAt(2)
		if t1.kind == tokCloseParen || (t1.kind == tokIdentifier && (t2.kind == tokComma || t2.kind == tokCloseParen)) {
			if m.Include, err = p.parseLabelList(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *parser) checkBinOp(e *BinOpExpr, lhs, rhs Expr, pos int) (Expr, error) {
	l, ok := lhs.(SampleExpr)
	if !ok {
		return nil, p.errorf(pos, "unexpected type for left leg of binary operation (%s): %T", e.Op, lhs)
	}
	r, ok := rhs.(SampleExpr)
	if !ok {
		return nil, p.errorf(pos, "unexpected type for right leg of binary operation (%s): %T", e.Op, rhs)
	}
	if e.Op.IsSetOperator() {
		if lit, ok := l.(*LiteralExpr); ok {
			return nil, p.errorf(pos, "unexpected literal for left leg of logical/set binary operation (%s): %f", e.Op, lit.Val)
		}
		if lit, ok := r.(*LiteralExpr); ok {
			return nil, p.errorf(pos, "unexpected literal for right leg of logical/set binary operation (%s): %f", e.Op, lit.Val)
		}
		if e.Matching != nil && e.Matching.Card != CardOneToOne {
			return nil, p.errorf(pos, "no grouping allowed for %q operation", string(e.Op))
		}
	}
	if e.ReturnBool && !e.Op.IsComparison() {
		return nil, p.errorf(pos, "bool modifier can only be used on comparison operators")
	}
	e.LHS, e.RHS = l, r
	return e, nil
}

func (p *parser) parsePrimary() (Expr, error) {
	t := p.peek()
	switch t.kind {
	case tokOpenBrace:
		return p.parseLogSelector()
	case tokOpenParen:
		p.next()
		e, err := p.parseExpr(0)
		if err != nil {
			return nil, err
		}
		if err := p.closeAfterExpr(); err != nil {
			return nil, err
		}
		return e, nil
	case tokNumber, tokAdd, tokSub:
		v, err := p.parseSignedNumber()
		if err != nil {
			return nil, err
		}
		return &LiteralExpr{Val: v}, nil
	case tokVector:
		return p.parseVector()
	case tokLabelReplace:
		return p.parseLabelReplace()
	}
	if _, ok := rangeOps[t.kind]; ok {
		return p.parseRangeAggregation()
	}
	if _, ok := vectorOps[t.kind]; ok {
		return p.parseVectorAggregation()
	}
	return nil, p.unexpected(t)
}

// parseSignedNumber reads NUMBER, +NUMBER or -NUMBER.
func (p *parser) parseSignedNumber() (float64, error) {
	neg := false
	switch p.peek().kind {
	case tokAdd:
		p.next()
	case tokSub:
		p.next()
		neg = true
	}
	t, err := p.expect(tokNumber)
	if err != nil {
		return 0, err
	}
	v, perr := parseNumber(t.str)
	if perr != nil {
		return 0, p.errorf(t.pos, "unable to parse literal as a float: %s", perr)
	}
	if neg {
		v = -v
	}
	return v, nil
}

func (p *parser) parseVector() (Expr, error) {
	p.next()
	if _, err := p.expect(tokOpenParen); err != nil {
		return nil, err
	}
	t, err := p.expect(tokNumber)
	if err != nil {
		return nil, err
	}
	v, perr := parseNumber(t.str)
	if perr != nil {
		return nil, p.errorf(t.pos, "unable to parse vector literal as a float: %s", perr)
	}
	if _, err := p.expect(tokCloseParen); err != nil {
		return nil, err
	}
	return &VectorExpr{Val: v}, nil
}

var legacyLabelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func (p *parser) parseLabelReplace() (Expr, error) {
	start := p.next()
	if _, err := p.expect(tokOpenParen); err != nil {
		return nil, err
	}
	arg, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	left, ok := arg.(SampleExpr)
	if !ok {
		return nil, p.unexpected(p.peek())
	}
	var strs [4]string
	for i := range strs {
		if _, err := p.expect(tokComma); err != nil {
			return nil, err
		}
		t, err := p.expect(tokString)
		if err != nil {
			return nil, err
		}
		strs[i] = t.str
	}
	if _, err := p.expect(tokCloseParen); err != nil {
		return nil, err
	}
	e := &LabelReplaceExpr{Left: left, Dst: strs[0], Replacement: strs[1], Src: strs[2], Regex: strs[3]}
	if _, err := regexp.Compile("^(?s:" + e.Regex + ")$"); err != nil {
		return nil, p.errorf(start.pos, "invalid regex in label_replace: %s", err)
	}
	if !legacyLabelName.MatchString(e.Dst) {
		return nil, p.errorf(start.pos, "invalid destination label name in label_replace: %s", e.Dst)
	}
	return e, nil
}

// --- aggregations ---

var rangeOps = map[tokenKind]RangeOp{
	tokCountOverTime: RangeCount, tokRate: RangeRate, tokRateCounter: RangeRateCounter,
	tokBytesOverTime: RangeBytes, tokBytesRate: RangeBytesRate, tokAvgOverTime: RangeAvg,
	tokSumOverTime: RangeSum, tokMinOverTime: RangeMin, tokMaxOverTime: RangeMax,
	tokStdvarOverTime: RangeStdvar, tokStddevOverTime: RangeStddev,
	tokQuantileOverTime: RangeQuantile, tokFirstOverTime: RangeFirst,
	tokLastOverTime: RangeLast, tokAbsentOverTime: RangeAbsent,
}

var vectorOps = map[tokenKind]VectorOp{
	tokSum: VectorSum, tokAvg: VectorAvg, tokMin: VectorMin, tokMax: VectorMax,
	tokCount: VectorCount, tokStddev: VectorStddev, tokStdvar: VectorStdvar,
	tokTopK: VectorTopK, tokBottomK: VectorBottomK, tokSort: VectorSort, tokSortDesc: VectorSortDesc,
}

func (p *parser) parseRangeAggregation() (Expr, error) {
	opTok := p.next()
	e := &RangeAggregationExpr{Op: rangeOps[opTok.kind]}
	if _, err := p.expect(tokOpenParen); err != nil {
		return nil, err
	}
	var paramTok token
	hasParam := p.peek().kind == tokNumber && p.peekAt(1).kind == tokComma
	if hasParam {
		paramTok = p.next()
		p.next()
	} else if k := p.peek().kind; k == tokNumber {
		p.next()
		return nil, p.unexpected(p.peek(), tokComma)
	} else if k != tokOpenBrace && k != tokOpenParen {
		return nil, p.unexpected(p.peek(), tokNumber, tokOpenBrace, tokOpenParen)
	}
	r, err := p.parseLogRange()
	if err != nil {
		return nil, err
	}
	e.Left = r
	if _, err := p.expect(tokCloseParen); err != nil {
		return nil, err
	}
	if k := p.peek().kind; k == tokBy || k == tokWithout {
		if e.Grouping, err = p.parseGrouping(); err != nil {
			return nil, err
		}
	}
	if hasParam {
		if e.Op != RangeQuantile {
			return nil, p.errorf(opTok.pos, "parameter %s not supported for operation %s", paramTok.str, e.Op)
		}
		v, perr := parseNumber(paramTok.str)
		if perr != nil {
			return nil, p.errorf(paramTok.pos, "invalid parameter for operation %s: %s", e.Op, perr)
		}
		e.Param = &v
	} else if e.Op == RangeQuantile {
		return nil, p.errorf(opTok.pos, "parameter required for operation %s", e.Op)
	}
	if err := validateRangeAggregation(e); err != nil {
		return nil, p.errorf(opTok.pos, "%s", err)
	}
	return e, nil
}

// validateRangeAggregation enforces Loki's rules: grouping only on the
// unwrapped aggregations that keep per-series values, unwrap only on
// functions that read sample values, and no unwrap on counting functions.
func validateRangeAggregation(e *RangeAggregationExpr) error {
	if e.Grouping != nil {
		switch e.Op {
		case RangeAvg, RangeStddev, RangeStdvar, RangeQuantile, RangeMax, RangeMin, RangeFirst, RangeLast:
		default:
			return fmt.Errorf("grouping not allowed for %s aggregation", e.Op)
		}
	}
	if e.Left.Unwrap != nil {
		switch e.Op {
		case RangeAvg, RangeSum, RangeMax, RangeMin, RangeStddev, RangeStdvar, RangeQuantile,
			RangeRate, RangeRateCounter, RangeAbsent, RangeFirst, RangeLast:
			return nil
		}
		return fmt.Errorf("invalid aggregation %s with unwrap", e.Op)
	}
	switch e.Op {
	case RangeBytes, RangeBytesRate, RangeCount, RangeRate, RangeAbsent:
		return nil
	}
	return fmt.Errorf("invalid aggregation %s without unwrap", e.Op)
}

func (p *parser) parseVectorAggregation() (Expr, error) {
	opTok := p.next()
	e := &VectorAggregationExpr{Op: vectorOps[opTok.kind]}
	var err error
	if k := p.peek().kind; k == tokBy || k == tokWithout {
		if e.Grouping, err = p.parseGrouping(); err != nil {
			return nil, err
		}
	}
	if _, err := p.expect(tokOpenParen); err != nil {
		return nil, err
	}
	var paramTok token
	hasParam := p.peek().kind == tokNumber && p.peekAt(1).kind == tokComma
	if hasParam {
		paramTok = p.next()
		p.next()
	}
	arg, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	left, ok := arg.(SampleExpr)
	if !ok {
		return nil, p.unexpected(p.peek())
	}
	e.Left = left
	if err := p.closeAfterExpr(); err != nil {
		return nil, err
	}
	if k := p.peek().kind; e.Grouping == nil && (k == tokBy || k == tokWithout) {
		if e.Grouping, err = p.parseGrouping(); err != nil {
			return nil, err
		}
	}
	switch e.Op {
	case VectorTopK, VectorBottomK:
		if !hasParam {
			return nil, p.errorf(opTok.pos, "parameter required for operation %s", e.Op)
		}
		k, perr := strconv.Atoi(paramTok.str)
		if perr != nil {
			return nil, p.errorf(paramTok.pos, "invalid parameter %s(%s,", e.Op, paramTok.str)
		}
		if k <= 0 {
			return nil, p.errorf(paramTok.pos, "invalid parameter (must be greater than 0) %s(%s,", e.Op, paramTok.str)
		}
		e.Param = k
	default:
		if hasParam {
			return nil, p.errorf(opTok.pos, "unsupported parameter for operation %s(%s,", e.Op, paramTok.str)
		}
	}
	if (e.Op == VectorSort || e.Op == VectorSortDesc) && e.Grouping != nil && len(e.Grouping.Groups) > 0 {
		return nil, p.errorf(opTok.pos, "sort and sort_desc doesn't allow grouping by ")
	}
	return e, nil
}

func (p *parser) parseGrouping() (*Grouping, error) {
	g := &Grouping{Without: p.next().kind == tokWithout}
	ls, err := p.parseLabelList()
	if err != nil {
		return nil, err
	}
	g.Groups = ls
	return g, nil
}

// parseLabelList reads `(a, b)` or `()`; an empty list is nil.
func (p *parser) parseLabelList() ([]string, error) {
	if _, err := p.expect(tokOpenParen); err != nil {
		return nil, err
	}
	if p.peek().kind == tokCloseParen {
		p.next()
		return nil, nil
	}
	var ls []string
	for {
		t, err := p.expect(tokIdentifier)
		if err != nil {
			if len(ls) == 0 {
				return nil, p.unexpected(t, tokIdentifier, tokCloseParen)
			}
			return nil, err
		}
		ls = append(ls, t.str)
		switch t := p.next(); t.kind {
		case tokComma:
		case tokCloseParen:
			return ls, nil
		default:
			return nil, p.unexpected(t, tokComma, tokCloseParen)
		}
	}
}

// --- log ranges ---

// parseLogRange reads the argument of a range aggregation. The range may
// follow the selector or end the pipeline, and the whole may be
// parenthesised, as in Loki's grammar:
//
//	{a="b"} [5m] offset 1m | json | unwrap x
//	{a="b"} | json | unwrap x [5m] offset 1m
//	({a="b"} | json) [5m]
func (p *parser) parseLogRange() (*LogRangeExpr, error) {
	if p.peek().kind == tokOpenParen {
		p.next()
		if p.peek().kind == tokOpenParen {
			r, err := p.parseLogRange()
			if err != nil {
				return nil, err
			}
			_, err = p.expect(tokCloseParen)
			return r, err
		}
		sel, err := p.parseSelectorOnly()
		if err != nil {
			return nil, err
		}
		if p.peek().kind == tokRange {
			r, err := p.parseRangeThenPipeline(sel)
			if err != nil {
				return nil, err
			}
			_, err = p.expect(tokCloseParen)
			return r, err
		}
		r := &LogRangeExpr{Left: sel}
		if err := p.parsePipelineAndUnwrap(r); err != nil {
			return nil, err
		}
		if p.peek().kind == tokRange {
			if err := p.parseRangeAndOffset(r); err != nil {
				return nil, err
			}
			_, err = p.expect(tokCloseParen)
			return r, err
		}
		if err := p.closeAfterExpr(); err != nil {
			return nil, err
		}
		if err := p.parseRangeAndOffset(r); err != nil {
			return nil, err
		}
		return r, nil
	}
	sel, err := p.parseSelectorOnly()
	if err != nil {
		return nil, err
	}
	if p.peek().kind == tokRange {
		return p.parseRangeThenPipeline(sel)
	}
	r := &LogRangeExpr{Left: sel}
	if err := p.parsePipelineAndUnwrap(r); err != nil {
		return nil, err
	}
	if err := p.parseRangeAndOffset(r); err != nil {
		return nil, err
	}
	return r, nil
}

func (p *parser) parseRangeThenPipeline(sel *LogSelectorExpr) (*LogRangeExpr, error) {
	r := &LogRangeExpr{Left: sel}
	if err := p.parseRangeAndOffset(r); err != nil {
		return nil, err
	}
	if err := p.parsePipelineAndUnwrap(r); err != nil {
		return nil, err
	}
	return r, nil
}

func (p *parser) parseRangeAndOffset(r *LogRangeExpr) error {
	t := p.peek()
	if t.kind != tokRange {
		return p.unexpected(t)
	}
	p.next()
	r.Range = t.dur
	if p.peek().kind == tokOffset {
		p.next()
		d, err := p.expect(tokDuration)
		if err != nil {
			return err
		}
		r.Offset = d.dur
	}
	return nil
}

func (p *parser) parsePipelineAndUnwrap(r *LogRangeExpr) error {
	stages, err := p.parsePipeline(r.Left.Stages)
	if err != nil {
		return err
	}
	r.Left.Stages = stages
	if p.peek().kind == tokPipe && p.peekAt(1).kind == tokUnwrap {
		if r.Unwrap, err = p.parseUnwrap(); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) parseUnwrap() (*Unwrap, error) {
	p.next() // |
	p.next() // unwrap
	u := &Unwrap{}
	t := p.next()
	switch t.kind {
	case tokIdentifier:
		u.Label = t.str
	case tokBytesConv, tokDurationConv, tokDurationSecondsConv:
		u.Conv = map[tokenKind]ConvOp{tokBytesConv: ConvBytes, tokDurationConv: ConvDuration, tokDurationSecondsConv: ConvDurationSeconds}[t.kind]
		if _, err := p.expect(tokOpenParen); err != nil {
			return nil, err
		}
		l, err := p.expect(tokIdentifier)
		if err != nil {
			return nil, err
		}
		u.Label = l.str
		if _, err := p.expect(tokCloseParen); err != nil {
			return nil, err
		}
	default:
		return nil, p.unexpected(t, tokIdentifier, tokBytesConv, tokDurationConv, tokDurationSecondsConv)
	}
	// Only label filters may follow unwrap.
	for p.peek().kind == tokPipe {
		p.next()
		if k := p.peek().kind; k != tokIdentifier && k != tokOpenParen {
			return nil, p.unexpected(p.peek())
		}
		f, err := p.parseLabelFilterExpr()
		if err != nil {
			return nil, err
		}
		u.PostFilters = append(u.PostFilters, f)
	}
	return u, nil
}

// --- log selectors and pipelines ---

func (p *parser) parseLogSelector() (*LogSelectorExpr, error) {
	sel, err := p.parseSelectorOnly()
	if err != nil {
		return nil, err
	}
	if sel.Stages, err = p.parsePipeline(nil); err != nil {
		return nil, err
	}
	if p.peek().kind == tokPipe && p.peekAt(1).kind == tokUnwrap {
		return nil, p.unexpected(p.peekAt(1))
	}
	return sel, nil
}

var matchTypes = map[tokenKind]labels.MatchType{
	tokEQ: labels.MatchEqual, tokNEQ: labels.MatchNotEqual, tokRE: labels.MatchRegexp, tokNRE: labels.MatchNotRegexp,
}

func (p *parser) parseSelectorOnly() (*LogSelectorExpr, error) {
	open, err := p.expect(tokOpenBrace)
	if err != nil {
		return nil, err
	}
	sel := &LogSelectorExpr{}
	if p.peek().kind == tokCloseBrace {
		p.next()
		p.selectors = append(p.selectors, selectorAt{pos: open.pos})
		return sel, nil
	}
	for {
		if k := p.peek().kind; k != tokIdentifier {
			if len(sel.Matchers) == 0 {
				return nil, p.unexpected(p.peek(), tokIdentifier, tokCloseBrace)
			}
			return nil, p.unexpected(p.peek(), tokIdentifier)
		}
		m, err := p.parseMatcher()
		if err != nil {
			return nil, err
		}
		sel.Matchers = append(sel.Matchers, m)
		switch t := p.next(); t.kind {
		case tokComma:
		case tokCloseBrace:
			p.selectors = append(p.selectors, selectorAt{pos: open.pos, ms: sel.Matchers})
			return sel, nil
		default:
			return nil, p.unexpected(t, tokCloseBrace, tokComma)
		}
	}
}

// parseMatcher reads `name op "value"` with op one of = != =~ !~.
func (p *parser) parseMatcher() (*labels.Matcher, error) {
	name := p.next()
	opTok := p.next()
	mt, ok := matchTypes[opTok.kind]
	if !ok {
		return nil, p.unexpected(opTok, tokEQ, tokRE, tokNRE, tokNEQ)
	}
	v, err := p.expect(tokString)
	if err != nil {
		return nil, err
	}
	return p.newMatcher(mt, name.str, v)
}

func (p *parser) newMatcher(mt labels.MatchType, name string, v token) (*labels.Matcher, error) {
	m, err := labels.NewMatcher(mt, name, v.str)
	if err != nil {
		return nil, p.errorf(v.pos, "%s", err)
	}
	return m, nil
}

// parsePipeline appends stages until a token that cannot continue the
// pipeline, or `| unwrap`, which the caller handles.
func (p *parser) parsePipeline(stages []Stage) ([]Stage, error) {
	for {
		t := p.peek()
		var (
			s   Stage
			err error
		)
		switch t.kind {
		case tokPipeExact, tokPipeMatch, tokPipePattern, tokNEQ, tokNRE, tokNPA:
			s, err = p.parseLineFilter()
		case tokPipe:
			if p.peekAt(1).kind == tokUnwrap {
				return stages, nil
			}
			p.next()
			s, err = p.parseStage()
		default:
			return stages, nil
		}
		if err != nil {
			return nil, err
		}
		stages = append(stages, s)
	}
}

var lineFilterOps = map[tokenKind]LineFilterOp{
	tokPipeExact: LineContains, tokNEQ: LineNotContains, tokPipeMatch: LineMatchRegexp,
	tokNRE: LineNotMatchRegexp, tokPipePattern: LineMatchPattern, tokNPA: LineNotPattern,
}

func (p *parser) parseLineFilter() (Stage, error) {
	f := &LineFilter{Op: lineFilterOps[p.next().kind]}
	for {
		v, err := p.parseLineFilterValue(f.Op)
		if err != nil {
			return nil, err
		}
		f.Values = append(f.Values, v)
		if p.peek().kind != tokOr {
			return f, nil
		}
		p.next()
	}
}

func (p *parser) parseLineFilterValue(op LineFilterOp) (LineFilterValue, error) {
	t := p.next()
	switch t.kind {
	case tokString:
		if op == LineMatchRegexp || op == LineNotMatchRegexp {
			if _, err := regexp.Compile(t.str); err != nil {
				return LineFilterValue{}, p.errorf(t.pos, "invalid line filter regexp %q: %s", t.str, err)
			}
		}
		return LineFilterValue{Value: t.str}, nil
	case tokIP:
		s, err := p.parseIPCall()
		if err != nil {
			return LineFilterValue{}, err
		}
		return LineFilterValue{Value: s, IP: true}, nil
	}
	return LineFilterValue{}, p.unexpected(t, tokString, tokIP)
}

// parseIPCall reads `ip("...")` after the ip token and validates the pattern.
func (p *parser) parseIPCall() (string, error) {
	if _, err := p.expect(tokOpenParen); err != nil {
		return "", err
	}
	s, err := p.expect(tokString)
	if err != nil {
		return "", err
	}
	if _, err := p.expect(tokCloseParen); err != nil {
		return "", err
	}
	if !validIPPattern(s.str) {
		return "", p.errorf(s.pos, "invalid ip pattern %q: want an address, a CIDR prefix or a range a-b", s.str)
	}
	return s.str, nil
}

func validIPPattern(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return false
	}
	a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
	b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
	return err1 == nil && err2 == nil && a.Is4() == b.Is4() && a.Compare(b) <= 0
}

func (p *parser) parseStage() (Stage, error) {
	t := p.peek()
	switch t.kind {
	case tokJSON:
		p.next()
		params, err := p.parseExtractions()
		if err != nil {
			return nil, err
		}
		return &JSONParser{Params: params}, nil
	case tokLogfmt:
		p.next()
		s := &LogfmtParser{}
		for p.peek().kind == tokParserFlag {
			switch p.next().str {
			case "--strict":
				s.Strict = true
			case "--keep-empty":
				s.KeepEmpty = true
			}
		}
		params, err := p.parseExtractions()
		if err != nil {
			return nil, err
		}
		s.Params = params
		return s, nil
	case tokRegexp:
		p.next()
		s, err := p.expect(tokString)
		if err != nil {
			return nil, err
		}
		if err := validateRegexpParser(s.str); err != nil {
			return nil, p.errorf(s.pos, "%s", err)
		}
		return &RegexpParser{Regexp: s.str}, nil
	case tokPattern:
		p.next()
		s, err := p.expect(tokString)
		if err != nil {
			return nil, err
		}
		if err := validatePattern(s.str); err != nil {
			return nil, p.errorf(s.pos, "%s", err)
		}
		return &PatternParser{Pattern: s.str}, nil
	case tokUnpack:
		p.next()
		return &UnpackParser{}, nil
	case tokDecolorize:
		p.next()
		return &Decolorize{}, nil
	case tokLineFmt:
		p.next()
		s, err := p.expect(tokString)
		if err != nil {
			return nil, err
		}
		return &LineFormat{Template: s.str}, nil
	case tokLabelFmt:
		p.next()
		return p.parseLabelFormat()
	case tokDrop, tokKeep:
		p.next()
		ls, err := p.parseLabelSelectors()
		if err != nil {
			return nil, err
		}
		if t.kind == tokDrop {
			return &DropLabels{Labels: ls}, nil
		}
		return &KeepLabels{Labels: ls}, nil
	case tokIdentifier, tokOpenParen:
		f, err := p.parseLabelFilterExpr()
		if err != nil {
			return nil, err
		}
		return &LabelFilterStage{Filter: f}, nil
	}
	return nil, p.unexpected(t)
}

// parseExtractions reads an optional `a="x", b` list after json/logfmt.
func (p *parser) parseExtractions() ([]LabelExtraction, error) {
	if p.peek().kind != tokIdentifier {
		return nil, nil
	}
	var xs []LabelExtraction
	for {
		name, err := p.expect(tokIdentifier)
		if err != nil {
			return nil, err
		}
		x := LabelExtraction{Label: name.str, Expr: name.str}
		if p.peek().kind == tokEQ {
			p.next()
			v, err := p.expect(tokString)
			if err != nil {
				return nil, err
			}
			x.Expr = v.str
		}
		xs = append(xs, x)
		if p.peek().kind != tokComma {
			return xs, nil
		}
		p.next()
	}
}

func (p *parser) parseLabelFormat() (Stage, error) {
	s := &LabelFormat{}
	for {
		dst, err := p.expect(tokIdentifier)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tokEQ); err != nil {
			return nil, err
		}
		it := LabelFormatItem{Dst: dst.str}
		switch v := p.next(); v.kind {
		case tokIdentifier:
			it.Value = v.str
		case tokString:
			it.Value, it.Template = v.str, true
		default:
			return nil, p.unexpected(v, tokIdentifier, tokString)
		}
		for _, prev := range s.Items {
			if prev.Dst == it.Dst {
				return nil, p.errorf(dst.pos, "multiple label name '%s' not allowed in a single format operation", it.Dst)
			}
		}
		s.Items = append(s.Items, it)
		if p.peek().kind != tokComma {
			return s, nil
		}
		p.next()
	}
}

func (p *parser) parseLabelSelectors() ([]LabelSelector, error) {
	var ls []LabelSelector
	for {
		name, err := p.expect(tokIdentifier)
		if err != nil {
			return nil, err
		}
		x := LabelSelector{Name: name.str}
		if mt, ok := matchTypes[p.peek().kind]; ok {
			p.next()
			v, err := p.expect(tokString)
			if err != nil {
				return nil, err
			}
			if x.Matcher, err = p.newMatcher(mt, name.str, v); err != nil {
				return nil, err
			}
		}
		ls = append(ls, x)
		if p.peek().kind != tokComma {
			return ls, nil
		}
		p.next()
	}
}

// --- label filters ---

type lfOp uint8

const (
	lfAnd  lfOp = iota // `and`
	lfOr               // `or`
	lfList             // `,` or juxtaposition
)

// parseLabelFilterExpr reads label filters joined by and, or, "," and
// juxtaposition, reproducing the trees Loki's yacc grammar builds: and binds
// tighter than or and both associate left, while "," and juxtaposition take
// everything to their right as one operand (yacc resolves their conflicts
// by shifting), so `a, b or c` is `a and (b or c)`.
func (p *parser) parseLabelFilterExpr() (LabelFilter, error) {
	first, err := p.parseLabelFilterPrimary()
	if err != nil {
		return nil, err
	}
	operands := []LabelFilter{first}
	var ops []lfOp
	reduce := func() {
		n := len(operands)
		op := ops[len(ops)-1]
		ops = ops[:len(ops)-1]
		operands[n-2] = &BinaryLabelFilter{And: op != lfOr, Left: operands[n-2], Right: operands[n-1]}
		operands = operands[:n-1]
	}
	for {
		var op lfOp
		switch p.peek().kind {
		case tokAnd:
			op = lfAnd
			p.next()
		case tokOr:
			op = lfOr
			p.next()
		case tokComma:
			op = lfList
			p.next()
		case tokIdentifier, tokOpenParen:
			op = lfList
		default:
			for len(ops) > 0 {
				reduce()
			}
			return operands[0], nil
		}
		for len(ops) > 0 {
			top := ops[len(ops)-1]
			if top == lfList || op == lfList || (top == lfOr && op == lfAnd) {
				break
			}
			reduce()
		}
		ops = append(ops, op)
		f, err := p.parseLabelFilterPrimary()
		if err != nil {
			return nil, err
		}
		operands = append(operands, f)
	}
}

var cmpOps = map[tokenKind]CmpOp{
	tokEQ: CmpEQ, tokCmpEQ: CmpEQ, tokNEQ: CmpNEQ, tokGT: CmpGT, tokGTE: CmpGTE, tokLT: CmpLT, tokLTE: CmpLTE,
}

func (p *parser) parseLabelFilterPrimary() (LabelFilter, error) {
	t := p.next()
	switch t.kind {
	case tokOpenParen:
		f, err := p.parseLabelFilterExpr()
		if err != nil {
			return nil, err
		}
		if err := p.closeAfterExpr(); err != nil {
			return nil, err
		}
		return f, nil
	case tokIdentifier:
	default:
		return nil, p.unexpected(t, tokIdentifier, tokOpenParen)
	}
	name := t.str
	opTok := p.next()
	switch opTok.kind {
	case tokRE, tokNRE:
		v, err := p.expect(tokString)
		if err != nil {
			return nil, err
		}
		m, err := p.newMatcher(matchTypes[opTok.kind], name, v)
		if err != nil {
			return nil, err
		}
		return &StringLabelFilter{Matcher: m}, nil
	case tokEQ, tokNEQ, tokCmpEQ, tokGT, tokGTE, tokLT, tokLTE:
	default:
		return nil, p.unexpected(opTok)
	}
	op := cmpOps[opTok.kind]
	v := p.peek()
	switch v.kind {
	case tokString, tokIP:
		if opTok.kind != tokEQ && opTok.kind != tokNEQ {
			return nil, p.unexpected(v)
		}
		p.next()
		if v.kind == tokIP {
			s, err := p.parseIPCall()
			if err != nil {
				return nil, err
			}
			return &IPLabelFilter{Name: name, Negated: opTok.kind == tokNEQ, Pattern: s}, nil
		}
		m, err := p.newMatcher(matchTypes[opTok.kind], name, v)
		if err != nil {
			return nil, err
		}
		return &StringLabelFilter{Matcher: m}, nil
	case tokDuration:
		p.next()
		return &DurationLabelFilter{Name: name, Op: op, Value: v.dur}, nil
	case tokBytes:
		p.next()
		return &BytesLabelFilter{Name: name, Op: op, Value: v.bytes}, nil
	case tokNumber, tokAdd, tokSub:
		n, err := p.parseSignedNumber()
		if err != nil {
			return nil, err
		}
		return &NumericLabelFilter{Name: name, Op: op, Value: n}, nil
	}
	return nil, p.unexpected(v)
}

// --- stage validation ---

func validateRegexpParser(re string) error {
	r, err := regexp.Compile(re)
	if err != nil {
		return fmt.Errorf("invalid regexp %q: %w", re, err)
	}
	for _, n := range r.SubexpNames() {
		if n != "" {
			if !legacyLabelName.MatchString(n) {
				return fmt.Errorf("regexp %q: invalid extracted label name '%s'", re, n)
			}
			return nil
		}
	}
	return fmt.Errorf("regexp %q: at least one named capture must be supplied", re)
}

// validatePattern checks a pattern parser expression: literals and captures
// `<name>` (`<_>` captures nothing); at least one named capture, no two
// captures in a row, no name twice.
func validatePattern(pat string) error {
	named := 0
	seen := map[string]bool{}
	prevCapture := false
	for i := 0; i < len(pat); {
		if name, n, ok := patternCapture(pat[i:]); ok {
			if prevCapture {
				return fmt.Errorf("pattern %q: found consecutive capture '<%s>'", pat, name)
			}
			if name != "_" {
				if seen[name] {
					return fmt.Errorf("pattern %q: duplicate capture name (%s)", pat, name)
				}
				seen[name] = true
				named++
			}
			prevCapture = true
			i += n
			continue
		}
		prevCapture = false
		i++
	}
	if named == 0 {
		return fmt.Errorf("pattern %q: at least one named capture is required", pat)
	}
	return nil
}

// patternCapture reports whether s starts with `<identifier>`.
func patternCapture(s string) (name string, n int, ok bool) {
	if len(s) < 3 || s[0] != '<' || !isIdentStart(s[1]) {
		return "", 0, false
	}
	j := 2
	for j < len(s) && isIdentChar(s[j]) {
		j++
	}
	if j >= len(s) || s[j] != '>' {
		return "", 0, false
	}
	return s[1:j], j + 1, true
}
