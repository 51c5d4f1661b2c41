package syntax

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Node is any element of a parsed query. String prints canonical LogQL:
// parsing it again yields an equal tree.
type Node interface {
	String() string
	writeTo(sb *strings.Builder)
}

// Expr is a whole query: a *LogSelectorExpr (log query) or a SampleExpr
// (metric query).
type Expr interface {
	Node
	isExpr()
}

// SampleExpr is an expression that evaluates to samples: range and vector
// aggregations, binary operations, literals, vector() and label_replace().
type SampleExpr interface {
	Expr
	isSampleExpr()
}

func nodeString(n Node) string {
	var sb strings.Builder
	n.writeTo(&sb)
	return sb.String()
}

// LogSelectorExpr is a stream selector with its pipeline: `{app="api"} |= "x" | json`.
type LogSelectorExpr struct {
	Matchers []*labels.Matcher
	Stages   []Stage
}

func (*LogSelectorExpr) isExpr()          {}
func (e *LogSelectorExpr) String() string { return nodeString(e) }
func (e *LogSelectorExpr) writeTo(sb *strings.Builder) {
	writeMatchers(sb, e.Matchers)
	for _, s := range e.Stages {
		sb.WriteByte(' ')
		s.writeTo(sb)
	}
}

// MatchersString prints matchers as a canonical stream selector.
func MatchersString(ms []*labels.Matcher) string {
	var sb strings.Builder
	writeMatchers(&sb, ms)
	return sb.String()
}

func writeMatchers(sb *strings.Builder, ms []*labels.Matcher) {
	sb.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			sb.WriteString(", ")
		}
		writeMatcher(sb, m)
	}
	sb.WriteByte('}')
}

func writeMatcher(sb *strings.Builder, m *labels.Matcher) {
	sb.WriteString(m.Name)
	sb.WriteString(m.Type.String())
	sb.WriteString(strconv.Quote(m.Value))
}

// Unwrap turns a label value into the sample value of an unwrapped range:
// `| unwrap latency`, `| unwrap duration(took)`. PostFilters are the label
// filters after it (`| unwrap x | __error__=""`).
type Unwrap struct {
	Label       string
	Conv        ConvOp
	PostFilters []LabelFilter
}

// ConvOp is the conversion applied by unwrap.
type ConvOp string

// Unwrap conversions.
const (
	ConvNone            ConvOp = ""
	ConvBytes           ConvOp = "bytes"
	ConvDuration        ConvOp = "duration"
	ConvDurationSeconds ConvOp = "duration_seconds"
)

func (u *Unwrap) String() string { return nodeString(u) }
func (u *Unwrap) writeTo(sb *strings.Builder) {
	sb.WriteString("| unwrap ")
	if u.Conv != ConvNone {
		sb.WriteString(string(u.Conv))
		sb.WriteByte('(')
		sb.WriteString(u.Label)
		sb.WriteByte(')')
	} else {
		sb.WriteString(u.Label)
	}
	for _, f := range u.PostFilters {
		sb.WriteString(" | ")
		f.writeTo(sb)
	}
}

// LogRangeExpr is a log query over a sliding window: `{...} | json [5m] offset 1h`.
// It only appears inside a RangeAggregationExpr.
type LogRangeExpr struct {
	Left   *LogSelectorExpr
	Range  time.Duration
	Offset time.Duration
	Unwrap *Unwrap // nil unless `| unwrap` was given
}

func (e *LogRangeExpr) String() string { return nodeString(e) }
func (e *LogRangeExpr) writeTo(sb *strings.Builder) {
	e.Left.writeTo(sb)
	if e.Unwrap != nil {
		sb.WriteByte(' ')
		e.Unwrap.writeTo(sb)
	}
	if len(e.Left.Stages) > 0 || e.Unwrap != nil {
		sb.WriteByte(' ')
	}
	sb.WriteString("[")
	sb.WriteString(formatDuration(e.Range))
	sb.WriteByte(']')
	if e.Offset != 0 {
		sb.WriteString(" offset ")
		sb.WriteString(formatDuration(e.Offset))
	}
}

// Grouping is a `by (...)` or `without (...)` clause. A non-nil Grouping
// with no labels (`by ()`) differs from no clause at all.
type Grouping struct {
	Without bool
	Groups  []string
}

func (g *Grouping) writeTo(sb *strings.Builder) {
	if g.Without {
		sb.WriteString("without (")
	} else {
		sb.WriteString("by (")
	}
	writeLabelList(sb, g.Groups)
	sb.WriteByte(')')
}

func writeLabelList(sb *strings.Builder, ls []string) {
	for i, l := range ls {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(l)
	}
}

// RangeOp names a range aggregation.
type RangeOp string

// Range aggregations.
const (
	RangeCount       RangeOp = "count_over_time"
	RangeRate        RangeOp = "rate"
	RangeRateCounter RangeOp = "rate_counter"
	RangeBytes       RangeOp = "bytes_over_time"
	RangeBytesRate   RangeOp = "bytes_rate"
	RangeAvg         RangeOp = "avg_over_time"
	RangeSum         RangeOp = "sum_over_time"
	RangeMin         RangeOp = "min_over_time"
	RangeMax         RangeOp = "max_over_time"
	RangeStdvar      RangeOp = "stdvar_over_time"
	RangeStddev      RangeOp = "stddev_over_time"
	RangeQuantile    RangeOp = "quantile_over_time"
	RangeFirst       RangeOp = "first_over_time"
	RangeLast        RangeOp = "last_over_time"
	RangeAbsent      RangeOp = "absent_over_time"
)

// RangeAggregationExpr aggregates a LogRangeExpr per stream and step:
// `rate({app="api"}[5m])`, `quantile_over_time(0.99, {...} | unwrap x [1m]) by (pod)`.
type RangeAggregationExpr struct {
	Op       RangeOp
	Param    *float64 // quantile_over_time's φ; nil otherwise
	Left     *LogRangeExpr
	Grouping *Grouping
}

func (*RangeAggregationExpr) isExpr()          {}
func (*RangeAggregationExpr) isSampleExpr()    {}
func (e *RangeAggregationExpr) String() string { return nodeString(e) }
func (e *RangeAggregationExpr) writeTo(sb *strings.Builder) {
	sb.WriteString(string(e.Op))
	sb.WriteByte('(')
	if e.Param != nil {
		sb.WriteString(formatFloat(*e.Param))
		sb.WriteString(", ")
	}
	e.Left.writeTo(sb)
	sb.WriteByte(')')
	if e.Grouping != nil {
		sb.WriteByte(' ')
		e.Grouping.writeTo(sb)
	}
}

// VectorOp names a vector aggregation.
type VectorOp string

// Vector aggregations.
const (
	VectorSum      VectorOp = "sum"
	VectorAvg      VectorOp = "avg"
	VectorMin      VectorOp = "min"
	VectorMax      VectorOp = "max"
	VectorCount    VectorOp = "count"
	VectorStddev   VectorOp = "stddev"
	VectorStdvar   VectorOp = "stdvar"
	VectorTopK     VectorOp = "topk"
	VectorBottomK  VectorOp = "bottomk"
	VectorSort     VectorOp = "sort"
	VectorSortDesc VectorOp = "sort_desc"
)

// VectorAggregationExpr aggregates samples across series:
// `sum by (app) (rate(...))`, `topk(5, ...)`.
type VectorAggregationExpr struct {
	Op       VectorOp
	Param    int // k of topk/bottomk; 0 otherwise
	Left     SampleExpr
	Grouping *Grouping
}

func (*VectorAggregationExpr) isExpr()          {}
func (*VectorAggregationExpr) isSampleExpr()    {}
func (e *VectorAggregationExpr) String() string { return nodeString(e) }
func (e *VectorAggregationExpr) writeTo(sb *strings.Builder) {
	sb.WriteString(string(e.Op))
	if e.Grouping != nil {
		sb.WriteByte(' ')
		e.Grouping.writeTo(sb)
		sb.WriteByte(' ')
	}
	sb.WriteByte('(')
	if e.Op == VectorTopK || e.Op == VectorBottomK {
		sb.WriteString(strconv.Itoa(e.Param))
		sb.WriteString(", ")
	}
	e.Left.writeTo(sb)
	sb.WriteByte(')')
}

// BinOp names a binary operator.
type BinOp string

// Binary operators.
const (
	BinOr     BinOp = "or"
	BinAnd    BinOp = "and"
	BinUnless BinOp = "unless"
	BinAdd    BinOp = "+"
	BinSub    BinOp = "-"
	BinMul    BinOp = "*"
	BinDiv    BinOp = "/"
	BinMod    BinOp = "%"
	BinPow    BinOp = "^"
	BinEQ     BinOp = "=="
	BinNEQ    BinOp = "!="
	BinGT     BinOp = ">"
	BinGTE    BinOp = ">="
	BinLT     BinOp = "<"
	BinLTE    BinOp = "<="
)

// Precedence returns the binding strength of op (higher binds tighter).
func (op BinOp) Precedence() int {
	switch op {
	case BinOr:
		return 1
	case BinAnd, BinUnless:
		return 2
	case BinEQ, BinNEQ, BinGT, BinGTE, BinLT, BinLTE:
		return 3
	case BinAdd, BinSub:
		return 4
	case BinMul, BinDiv, BinMod:
		return 5
	case BinPow:
		return 6
	}
	return 0
}

// IsComparison reports whether op is == != > >= < <=.
func (op BinOp) IsComparison() bool { return op.Precedence() == 3 }

// IsSetOperator reports whether op is and, or, unless.
func (op BinOp) IsSetOperator() bool { return op == BinOr || op == BinAnd || op == BinUnless }

func (op BinOp) rightAssoc() bool { return op == BinPow }

// Cardinality of a vector match.
type Cardinality string

// Vector matching cardinalities.
const (
	CardOneToOne  Cardinality = "one-to-one"
	CardManyToOne Cardinality = "many-to-one" // group_left
	CardOneToMany Cardinality = "one-to-many" // group_right
)

// VectorMatching is the `on(...)`/`ignoring(...)` and `group_left/right(...)`
// modifier of a binary operation between vectors.
type VectorMatching struct {
	On             bool     // on(...) rather than ignoring(...)
	MatchingLabels []string // labels of on/ignoring
	Card           Cardinality
	Include        []string // extra labels of group_left/group_right
}

// BinOpExpr is `LHS op [bool] [on|ignoring (...)] [group_left|group_right (...)] RHS`.
// Matching is nil when neither on nor ignoring was written.
//
// Unlike Loki's parser, which folds them, operations between two literals
// are kept as written (`1 + 1`); as in Loki, a comparison between two
// scalars needs no bool and yields 0 or 1. Set operators never have a
// literal leg (rejected at parse time).
type BinOpExpr struct {
	Op         BinOp
	LHS, RHS   SampleExpr
	ReturnBool bool
	Matching   *VectorMatching
}

func (*BinOpExpr) isExpr()          {}
func (*BinOpExpr) isSampleExpr()    {}
func (e *BinOpExpr) String() string { return nodeString(e) }
func (e *BinOpExpr) writeTo(sb *strings.Builder) {
	prec := e.Op.Precedence()
	writeOperand(sb, e.LHS, func(p int) bool { return p < prec || (p == prec && e.Op.rightAssoc()) })
	sb.WriteByte(' ')
	sb.WriteString(string(e.Op))
	if e.ReturnBool {
		sb.WriteString(" bool")
	}
	if m := e.Matching; m != nil {
		if m.On {
			sb.WriteString(" on (")
		} else {
			sb.WriteString(" ignoring (")
		}
		writeLabelList(sb, m.MatchingLabels)
		sb.WriteByte(')')
		// The include list is always printed, even empty, so that a
		// parenthesised right operand is never mistaken for it.
		switch m.Card {
		case CardManyToOne:
			sb.WriteString(" group_left (")
		case CardOneToMany:
			sb.WriteString(" group_right (")
		}
		if m.Card == CardManyToOne || m.Card == CardOneToMany {
			writeLabelList(sb, m.Include)
			sb.WriteByte(')')
		}
	}
	sb.WriteByte(' ')
	writeOperand(sb, e.RHS, func(p int) bool { return p < prec || (p == prec && !e.Op.rightAssoc()) })
}

func writeOperand(sb *strings.Builder, e SampleExpr, needParens func(int) bool) {
	if b, ok := e.(*BinOpExpr); ok && needParens(b.Op.Precedence()) {
		sb.WriteByte('(')
		b.writeTo(sb)
		sb.WriteByte(')')
		return
	}
	e.writeTo(sb)
}

// LiteralExpr is a number: `1`, `-2.5`.
type LiteralExpr struct{ Val float64 }

func (*LiteralExpr) isExpr()                       {}
func (*LiteralExpr) isSampleExpr()                 {}
func (e *LiteralExpr) String() string              { return nodeString(e) }
func (e *LiteralExpr) writeTo(sb *strings.Builder) { sb.WriteString(formatFloat(e.Val)) }

// VectorExpr is `vector(1)`: one sample with no labels at every step.
type VectorExpr struct{ Val float64 }

func (*VectorExpr) isExpr()          {}
func (*VectorExpr) isSampleExpr()    {}
func (e *VectorExpr) String() string { return nodeString(e) }
func (e *VectorExpr) writeTo(sb *strings.Builder) {
	sb.WriteString("vector(")
	sb.WriteString(formatFloat(e.Val))
	sb.WriteByte(')')
}

// LabelReplaceExpr is `label_replace(v, "dst", "replacement", "src", "regex")`.
// Regex is stored as written; it is anchored when evaluated, as in PromQL.
type LabelReplaceExpr struct {
	Left        SampleExpr
	Dst         string
	Replacement string
	Src         string
	Regex       string
}

func (*LabelReplaceExpr) isExpr()          {}
func (*LabelReplaceExpr) isSampleExpr()    {}
func (e *LabelReplaceExpr) String() string { return nodeString(e) }
func (e *LabelReplaceExpr) writeTo(sb *strings.Builder) {
	sb.WriteString("label_replace(")
	e.Left.writeTo(sb)
	for _, s := range [...]string{e.Dst, e.Replacement, e.Src, e.Regex} {
		sb.WriteString(", ")
		sb.WriteString(strconv.Quote(s))
	}
	sb.WriteByte(')')
}
