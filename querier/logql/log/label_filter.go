package log

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// CompareOp is the operator of a numeric, duration or bytes label filter.
type CompareOp int

// Comparison operators; OpEqual covers both == and = .
const (
	OpEqual CompareOp = iota
	OpNotEqual
	OpGreater
	OpGreaterEqual
	OpLess
	OpLessEqual
)

func (op CompareOp) String() string {
	switch op {
	case OpEqual:
		return "=="
	case OpNotEqual:
		return "!="
	case OpGreater:
		return ">"
	case OpGreaterEqual:
		return ">="
	case OpLess:
		return "<"
	case OpLessEqual:
		return "<="
	}
	return fmt.Sprintf("CompareOp(%d)", int(op))
}

func compareFloat(op CompareOp, a, b float64) bool {
	switch op {
	case OpEqual:
		return a == b
	case OpNotEqual:
		return a != b
	case OpGreater:
		return a > b
	case OpGreaterEqual:
		return a >= b
	case OpLess:
		return a < b
	case OpLessEqual:
		return a <= b
	}
	return false
}

// LabelFilter is a Stage that keeps or drops lines by their labels. Filters
// combine with NewAndLabelFilter and NewOrLabelFilter.
type LabelFilter interface {
	Stage
	String() string
}

// StringLabelFilter is `| name op "value"` with op one of = != =~ !~. A
// missing label has the value "".
type StringLabelFilter struct {
	m *labels.Matcher
}

// NewStringLabelFilter returns a string label filter.
func NewStringLabelFilter(m *labels.Matcher) *StringLabelFilter {
	return &StringLabelFilter{m: m}
}

// Process implements Stage.
func (f *StringLabelFilter) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	v, _ := lbs.Get(f.m.Name)
	return line, f.m.Matches(v)
}

func (f *StringLabelFilter) String() string { return f.m.String() }

// NumericLabelFilter is `| name op 1.5`.
type NumericLabelFilter struct {
	op    CompareOp
	name  string
	value float64
}

// NewNumericLabelFilter returns a numeric label filter. Lines whose label is
// missing are dropped; lines whose label is not a number are kept with
// __error__=LabelFilterErr; lines that already carry an error pass.
func NewNumericLabelFilter(op CompareOp, name string, value float64) *NumericLabelFilter {
	return &NumericLabelFilter{op: op, name: name, value: value}
}

// Process implements Stage.
func (f *NumericLabelFilter) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	if lbs.HasErr() {
		return line, true // only string filters may drop lines with errors
	}
	v, ok := lbs.Get(f.name)
	if !ok {
		return line, false
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		lbs.setError(ErrLabelFilter, err.Error())
		return line, true
	}
	return line, compareFloat(f.op, n, f.value)
}

func (f *NumericLabelFilter) String() string {
	return fmt.Sprintf("%s%s%s", f.name, f.op, strconv.FormatFloat(f.value, 'f', -1, 64))
}

// DurationLabelFilter is `| name op 250ms`.
type DurationLabelFilter struct {
	op    CompareOp
	name  string
	value time.Duration
}

// NewDurationLabelFilter returns a duration label filter, with the error
// rules of NewNumericLabelFilter.
func NewDurationLabelFilter(op CompareOp, name string, d time.Duration) *DurationLabelFilter {
	return &DurationLabelFilter{op: op, name: name, value: d}
}

// Process implements Stage.
func (f *DurationLabelFilter) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	if lbs.HasErr() {
		return line, true
	}
	v, ok := lbs.Get(f.name)
	if !ok {
		return line, false
	}
	d, err := ParseDuration(v)
	if err != nil {
		lbs.setError(ErrLabelFilter, err.Error())
		return line, true
	}
	return line, compareFloat(f.op, float64(d), float64(f.value))
}

func (f *DurationLabelFilter) String() string {
	return fmt.Sprintf("%s%s%s", f.name, f.op, f.value)
}

// BytesLabelFilter is `| name op 20MB`.
type BytesLabelFilter struct {
	op    CompareOp
	name  string
	value uint64
}

// NewBytesLabelFilter returns a bytes label filter, with the error rules of
// NewNumericLabelFilter.
func NewBytesLabelFilter(op CompareOp, name string, b uint64) *BytesLabelFilter {
	return &BytesLabelFilter{op: op, name: name, value: b}
}

// Process implements Stage.
func (f *BytesLabelFilter) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	if lbs.HasErr() {
		return line, true
	}
	v, ok := lbs.Get(f.name)
	if !ok {
		return line, false
	}
	b, err := ParseBytes(v)
	if err != nil {
		lbs.setError(ErrLabelFilter, err.Error())
		return line, true
	}
	return line, compareFloat(f.op, float64(b), float64(f.value))
}

func (f *BytesLabelFilter) String() string {
	return fmt.Sprintf("%s%s%dB", f.name, f.op, f.value)
}

// BinaryLabelFilter combines two filters with and/or, evaluated left to
// right and short-circuiting.
type BinaryLabelFilter struct {
	left, right LabelFilter
	and         bool
}

// NewAndLabelFilter keeps lines both filters keep.
func NewAndLabelFilter(l, r LabelFilter) *BinaryLabelFilter {
	return &BinaryLabelFilter{left: l, right: r, and: true}
}

// NewOrLabelFilter keeps lines either filter keeps.
func NewOrLabelFilter(l, r LabelFilter) *BinaryLabelFilter {
	return &BinaryLabelFilter{left: l, right: r}
}

// Process implements Stage.
func (f *BinaryLabelFilter) Process(ts int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	line, ok := f.left.Process(ts, line, lbs)
	if ok != f.and {
		return line, ok
	}
	return f.right.Process(ts, line, lbs)
}

func (f *BinaryLabelFilter) String() string {
	op := " or "
	if f.and {
		op = " and "
	}
	return "( " + f.left.String() + op + f.right.String() + " )"
}

// LabelPresentFilter keeps lines on which a label is present and not empty.
// Engines use it before `| unwrap`, where Loki skips lines lacking the
// value rather than reporting a conversion error.
type LabelPresentFilter struct {
	name string
}

// NewLabelPresentFilter returns a filter keeping lines that carry name with
// a non-empty value.
func NewLabelPresentFilter(name string) *LabelPresentFilter {
	return &LabelPresentFilter{name: name}
}

// Process implements Stage.
func (f *LabelPresentFilter) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	v, ok := lbs.Get(f.name)
	return line, ok && v != ""
}

func (f *LabelPresentFilter) String() string { return f.name + `!=""` }

func (f *LabelPresentFilter) requiredLabels() ([]string, bool) { return []string{f.name}, false }
