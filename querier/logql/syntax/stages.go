package syntax

import (
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// Stage is one step of a log pipeline, in query order.
type Stage interface {
	Node
	isStage()
}

// LineFilterOp is the operator of a line filter.
type LineFilterOp string

// Line filter operators.
const (
	LineContains       LineFilterOp = "|="
	LineNotContains    LineFilterOp = "!="
	LineMatchRegexp    LineFilterOp = "|~"
	LineNotMatchRegexp LineFilterOp = "!~"
	LineMatchPattern   LineFilterOp = "|>"
	LineNotPattern     LineFilterOp = "!>"
)

// Negated reports whether the filter keeps lines that do not match.
func (op LineFilterOp) Negated() bool {
	return op == LineNotContains || op == LineNotMatchRegexp || op == LineNotPattern
}

// LineFilterValue is one alternative of a line filter: a string (substring,
// regexp or pattern, per the operator) or, with IP set, an ip("...") range.
type LineFilterValue struct {
	Value string
	IP    bool
}

// LineFilter is `|= "a"`, `!~ "re"`, `|> "<_> x"`, `|= ip("10.0.0.0/8")`, and
// or-chains `|= "a" or "b"`: for positive operators a line is kept if any
// value matches; for negated ones, if none does.
type LineFilter struct {
	Op     LineFilterOp
	Values []LineFilterValue // at least one
}

func (*LineFilter) isStage()         {}
func (s *LineFilter) String() string { return nodeString(s) }
func (s *LineFilter) writeTo(sb *strings.Builder) {
	sb.WriteString(string(s.Op))
	for i, v := range s.Values {
		if i > 0 {
			sb.WriteString(" or")
		}
		sb.WriteByte(' ')
		if v.IP {
			sb.WriteString("ip(")
			sb.WriteString(strconv.Quote(v.Value))
			sb.WriteByte(')')
		} else {
			sb.WriteString(strconv.Quote(v.Value))
		}
	}
}

// LabelExtraction names one value a parser extracts: `a="x.y"` (Label a,
// Expr x.y) or the shorthand `a` (Label and Expr both a).
type LabelExtraction struct {
	Label string
	Expr  string
}

func writeExtractions(sb *strings.Builder, xs []LabelExtraction) {
	for i, x := range xs {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte(' ')
		sb.WriteString(x.Label)
		if x.Expr != x.Label {
			sb.WriteByte('=')
			sb.WriteString(strconv.Quote(x.Expr))
		}
	}
}

// JSONParser is `| json` (every field) or `| json a="x.y", b` (selected paths).
type JSONParser struct {
	Params []LabelExtraction
}

func (*JSONParser) isStage()         {}
func (s *JSONParser) String() string { return nodeString(s) }
func (s *JSONParser) writeTo(sb *strings.Builder) {
	sb.WriteString("| json")
	writeExtractions(sb, s.Params)
}

// LogfmtParser is `| logfmt [--strict] [--keep-empty] [a, b="c"]`.
type LogfmtParser struct {
	Strict    bool
	KeepEmpty bool
	Params    []LabelExtraction
}

func (*LogfmtParser) isStage()         {}
func (s *LogfmtParser) String() string { return nodeString(s) }
func (s *LogfmtParser) writeTo(sb *strings.Builder) {
	sb.WriteString("| logfmt")
	if s.Strict {
		sb.WriteString(" --strict")
	}
	if s.KeepEmpty {
		sb.WriteString(" --keep-empty")
	}
	writeExtractions(sb, s.Params)
}

// RegexpParser is `| regexp "(?P<name>re)"`; the regexp compiles and has
// at least one named group.
type RegexpParser struct {
	Regexp string
}

func (*RegexpParser) isStage()         {}
func (s *RegexpParser) String() string { return nodeString(s) }
func (s *RegexpParser) writeTo(sb *strings.Builder) {
	sb.WriteString("| regexp ")
	sb.WriteString(strconv.Quote(s.Regexp))
}

// PatternParser is `| pattern "<ip> - <_> <status>"`; the pattern has at
// least one named capture and no two adjacent captures.
type PatternParser struct {
	Pattern string
}

func (*PatternParser) isStage()         {}
func (s *PatternParser) String() string { return nodeString(s) }
func (s *PatternParser) writeTo(sb *strings.Builder) {
	sb.WriteString("| pattern ")
	sb.WriteString(strconv.Quote(s.Pattern))
}

// UnpackParser is `| unpack`.
type UnpackParser struct{}

func (*UnpackParser) isStage()                      {}
func (s *UnpackParser) String() string              { return nodeString(s) }
func (s *UnpackParser) writeTo(sb *strings.Builder) { sb.WriteString("| unpack") }

// LabelFilterStage is `| <label filter expression>`.
type LabelFilterStage struct {
	Filter LabelFilter
}

func (*LabelFilterStage) isStage()         {}
func (s *LabelFilterStage) String() string { return nodeString(s) }
func (s *LabelFilterStage) writeTo(sb *strings.Builder) {
	sb.WriteString("| ")
	s.Filter.writeTo(sb)
}

// LineFormat is `| line_format "{{.a}}"`; Template is the Go text/template
// source, unvalidated here (the pipeline owns the function map).
type LineFormat struct {
	Template string
}

func (*LineFormat) isStage()         {}
func (s *LineFormat) String() string { return nodeString(s) }
func (s *LineFormat) writeTo(sb *strings.Builder) {
	sb.WriteString("| line_format ")
	sb.WriteString(strconv.Quote(s.Template))
}

// LabelFormatItem is `dst=src` (rename: Template false, Value is the source
// label) or `dst="{{.tmpl}}"` (Template true, Value is the template).
type LabelFormatItem struct {
	Dst      string
	Value    string
	Template bool
}

// LabelFormat is `| label_format dst=src, x="{{.a}}"`; each Dst appears once.
type LabelFormat struct {
	Items []LabelFormatItem
}

func (*LabelFormat) isStage()         {}
func (s *LabelFormat) String() string { return nodeString(s) }
func (s *LabelFormat) writeTo(sb *strings.Builder) {
	sb.WriteString("| label_format")
	for i, it := range s.Items {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte(' ')
		sb.WriteString(it.Dst)
		sb.WriteByte('=')
		if it.Template {
			sb.WriteString(strconv.Quote(it.Value))
		} else {
			sb.WriteString(it.Value)
		}
	}
}

// LabelSelector names labels for drop/keep: a bare name (Matcher nil) or a
// matcher (`b="v"`, `c=~"re"`) restricting which values are affected.
type LabelSelector struct {
	Name    string
	Matcher *labels.Matcher
}

func writeLabelSelectors(sb *strings.Builder, xs []LabelSelector) {
	for i, x := range xs {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte(' ')
		if x.Matcher != nil {
			writeMatcher(sb, x.Matcher)
		} else {
			sb.WriteString(x.Name)
		}
	}
}

// DropLabels is `| drop a, b="v", c=~"re"`.
type DropLabels struct {
	Labels []LabelSelector
}

func (*DropLabels) isStage()         {}
func (s *DropLabels) String() string { return nodeString(s) }
func (s *DropLabels) writeTo(sb *strings.Builder) {
	sb.WriteString("| drop")
	writeLabelSelectors(sb, s.Labels)
}

// KeepLabels is `| keep a, b="v"`.
type KeepLabels struct {
	Labels []LabelSelector
}

func (*KeepLabels) isStage()         {}
func (s *KeepLabels) String() string { return nodeString(s) }
func (s *KeepLabels) writeTo(sb *strings.Builder) {
	sb.WriteString("| keep")
	writeLabelSelectors(sb, s.Labels)
}

// Decolorize is `| decolorize`.
type Decolorize struct{}

func (*Decolorize) isStage()                      {}
func (s *Decolorize) String() string              { return nodeString(s) }
func (s *Decolorize) writeTo(sb *strings.Builder) { sb.WriteString("| decolorize") }
