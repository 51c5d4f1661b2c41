package log

import (
	"github.com/prometheus/prometheus/model/labels"
)

// NamedLabelMatcher names a label for drop/keep: with a nil Matcher it
// applies to the label whatever its value; otherwise only when the
// matcher matches the label's value.
type NamedLabelMatcher struct {
	Name    string
	Matcher *labels.Matcher
}

func (n NamedLabelMatcher) applies(lbs *LabelsBuilder) bool {
	if n.Matcher == nil {
		return true
	}
	v, ok := lbs.Get(n.Matcher.Name)
	return ok && n.Matcher.Matches(v)
}

func (n NamedLabelMatcher) name() string {
	if n.Matcher != nil {
		return n.Matcher.Name
	}
	return n.Name
}

// DropLabels is `| drop a, b="v", c=~"re"`.
type DropLabels struct {
	m []NamedLabelMatcher
}

// NewDropLabels returns the `| drop` stage. Dropping __error__ clears the
// line's error.
func NewDropLabels(m ...NamedLabelMatcher) *DropLabels { return &DropLabels{m: m} }

// Process implements Stage.
func (d *DropLabels) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	for _, m := range d.m {
		if m.applies(lbs) {
			lbs.del1(m.name())
		}
	}
	return line, true
}

// KeepLabels is `| keep a, b="v"`.
type KeepLabels struct {
	m []NamedLabelMatcher
}

// NewKeepLabels returns the `| keep` stage: every label not listed (or whose
// value does not match) is removed, stream labels included; __error__ and
// __error_details__ are always kept.
func NewKeepLabels(m ...NamedLabelMatcher) *KeepLabels { return &KeepLabels{m: m} }

// Process implements Stage.
func (k *KeepLabels) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	for _, l := range lbs.current() {
		if l.Name == ErrorLabel || l.Name == ErrorDetailsLabel {
			continue
		}
		keep := false
		for _, m := range k.m {
			if m.name() == l.Name && (m.Matcher == nil || m.Matcher.Matches(l.Value)) {
				keep = true
				break
			}
		}
		if !keep {
			lbs.del1(l.Name)
		}
	}
	return line, true
}
