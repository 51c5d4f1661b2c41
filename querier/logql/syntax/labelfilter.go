package syntax

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// LabelFilter is a predicate over a line's labels, used by label filter
// stages and after unwrap.
type LabelFilter interface {
	Node
	isLabelFilter()
}

// CmpOp is the comparison of a numeric, duration or bytes label filter.
type CmpOp string

// Comparison operators. `=` and `==` both parse to CmpEQ.
const (
	CmpEQ  CmpOp = "=="
	CmpNEQ CmpOp = "!="
	CmpGT  CmpOp = ">"
	CmpGTE CmpOp = ">="
	CmpLT  CmpOp = "<"
	CmpLTE CmpOp = "<="
)

// StringLabelFilter is `name = "v"`, `!=`, `=~`, `!~` (regexps anchored).
type StringLabelFilter struct {
	Matcher *labels.Matcher
}

func (*StringLabelFilter) isLabelFilter()                {}
func (f *StringLabelFilter) String() string              { return nodeString(f) }
func (f *StringLabelFilter) writeTo(sb *strings.Builder) { writeMatcher(sb, f.Matcher) }

// NumericLabelFilter is `status >= 500`: the label value parsed as float64.
type NumericLabelFilter struct {
	Name  string
	Op    CmpOp
	Value float64
}

func (*NumericLabelFilter) isLabelFilter()   {}
func (f *NumericLabelFilter) String() string { return nodeString(f) }
func (f *NumericLabelFilter) writeTo(sb *strings.Builder) {
	writeCmp(sb, f.Name, f.Op, formatFloat(f.Value))
}

// DurationLabelFilter is `latency > 250ms`: the label value parsed as a duration.
type DurationLabelFilter struct {
	Name  string
	Op    CmpOp
	Value time.Duration
}

func (*DurationLabelFilter) isLabelFilter()   {}
func (f *DurationLabelFilter) String() string { return nodeString(f) }
func (f *DurationLabelFilter) writeTo(sb *strings.Builder) {
	writeCmp(sb, f.Name, f.Op, formatDuration(f.Value))
}

// BytesLabelFilter is `size > 20MB`: the label value parsed as a byte size.
type BytesLabelFilter struct {
	Name  string
	Op    CmpOp
	Value uint64
}

func (*BytesLabelFilter) isLabelFilter()   {}
func (f *BytesLabelFilter) String() string { return nodeString(f) }
func (f *BytesLabelFilter) writeTo(sb *strings.Builder) {
	writeCmp(sb, f.Name, f.Op, formatBytes(f.Value))
}

func writeCmp(sb *strings.Builder, name string, op CmpOp, v string) {
	sb.WriteString(name)
	sb.WriteByte(' ')
	sb.WriteString(string(op))
	sb.WriteByte(' ')
	sb.WriteString(v)
}

// IPLabelFilter is `addr = ip("10.0.0.0/8")` or `addr != ip(...)`. Pattern
// is a single address, a CIDR prefix or a range "a-b".
type IPLabelFilter struct {
	Name    string
	Negated bool
	Pattern string
}

func (*IPLabelFilter) isLabelFilter()   {}
func (f *IPLabelFilter) String() string { return nodeString(f) }
func (f *IPLabelFilter) writeTo(sb *strings.Builder) {
	sb.WriteString(f.Name)
	if f.Negated {
		sb.WriteString(" != ip(")
	} else {
		sb.WriteString(" = ip(")
	}
	sb.WriteString(strconv.Quote(f.Pattern))
	sb.WriteByte(')')
}

// BinaryLabelFilter combines two filters. `and`, `,` and juxtaposition all
// parse to And; `or` to Or.
type BinaryLabelFilter struct {
	And         bool
	Left, Right LabelFilter
}

func (*BinaryLabelFilter) isLabelFilter()   {}
func (f *BinaryLabelFilter) String() string { return nodeString(f) }

// writeTo prints `and`/`or` with the fewest parentheses that re-parse to the
// same tree: and binds tighter than or, both associate to the left.
func (f *BinaryLabelFilter) writeTo(sb *strings.Builder) {
	l, lok := f.Left.(*BinaryLabelFilter)
	r, rok := f.Right.(*BinaryLabelFilter)
	writeParen(sb, f.Left, lok && f.And && !l.And)
	if f.And {
		sb.WriteString(" and ")
	} else {
		sb.WriteString(" or ")
	}
	writeParen(sb, f.Right, rok && (f.And || !r.And))
}

func writeParen(sb *strings.Builder, n Node, paren bool) {
	if paren {
		sb.WriteByte('(')
	}
	n.writeTo(sb)
	if paren {
		sb.WriteByte(')')
	}
}
