package stages

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Selector is a LogQL stream selector with optional line filters:
// `{app="x", env=~"prod|stage"} |= "error" != "debug" |~ "t[0-9]+"`.
type Selector struct {
	Matchers []*labels.Matcher
	Filters  []LineFilter
}

// LineFilter is one `|=`, `!=`, `|~` or `!~` filter.
type LineFilter struct {
	Op    string
	Value string
	re    *regexp.Regexp
}

var selectorParser = parser.NewParser(parser.Options{})

// ParseSelector parses a selector with optional line filters.
func ParseSelector(s string) (*Selector, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") {
		return nil, fmt.Errorf("selector %q: must start with '{'", s)
	}
	end, err := selectorEnd(s)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", s, err)
	}
	ms, err := selectorParser.ParseMetricSelector(s[:end+1])
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", s, err)
	}
	sel := &Selector{Matchers: ms}
	rest := strings.TrimSpace(s[end+1:])
	for rest != "" {
		if len(rest) < 2 {
			return nil, fmt.Errorf("selector %q: unexpected %q", s, rest)
		}
		op := rest[:2]
		if !oneOf(op, "|=", "!=", "|~", "!~") {
			return nil, fmt.Errorf("selector %q: unexpected %q, want a line filter (|=, !=, |~, !~)", s, rest)
		}
		rest = strings.TrimSpace(rest[2:])
		val, n, err := readStringLiteral(rest)
		if err != nil {
			return nil, fmt.Errorf("selector %q: filter %s: %w", s, op, err)
		}
		f := LineFilter{Op: op, Value: val}
		if op[1] == '~' {
			if f.re, err = regexp.Compile(val); err != nil {
				return nil, fmt.Errorf("selector %q: filter %s: %w", s, op, err)
			}
		}
		sel.Filters = append(sel.Filters, f)
		rest = strings.TrimSpace(rest[n:])
	}
	return sel, nil
}

// selectorEnd finds the '}' closing the selector, skipping quoted values.
func selectorEnd(s string) (int, error) {
	var quote byte
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '`' || c == '\'':
			quote = c
		case c == '}':
			return i, nil
		}
	}
	return 0, fmt.Errorf("missing '}'")
}

// readStringLiteral reads a "double-quoted" (Go escapes) or `raw` string.
func readStringLiteral(s string) (string, int, error) {
	if s == "" {
		return "", 0, fmt.Errorf("missing string")
	}
	switch s[0] {
	case '`':
		end := strings.IndexByte(s[1:], '`')
		if end < 0 {
			return "", 0, fmt.Errorf("unclosed `")
		}
		return s[1 : end+1], end + 2, nil
	case '"':
		for i := 1; i < len(s); i++ {
			if s[i] == '\\' {
				i++
				continue
			}
			if s[i] == '"' {
				v, err := strconv.Unquote(s[:i+1])
				return v, i + 1, err
			}
		}
		return "", 0, fmt.Errorf("unclosed \"")
	}
	return "", 0, fmt.Errorf("want a quoted string, got %q", s)
}

// Matches reports whether lbls and line pass the selector.
func (s *Selector) Matches(lbls labels.Labels, line string) bool {
	for _, m := range s.Matchers {
		if !m.Matches(lbls.Get(m.Name)) {
			return false
		}
	}
	for _, f := range s.Filters {
		var ok bool
		switch f.Op {
		case "|=":
			ok = strings.Contains(line, f.Value)
		case "!=":
			ok = !strings.Contains(line, f.Value)
		case "|~":
			ok = f.re.MatchString(line)
		case "!~":
			ok = !f.re.MatchString(line)
		}
		if !ok {
			return false
		}
	}
	return true
}

// String prints the selector in LogQL.
func (s *Selector) String() string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, m := range s.Matchers {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(m.String())
	}
	sb.WriteByte('}')
	for _, f := range s.Filters {
		sb.WriteString(" " + f.Op + " " + strconv.Quote(f.Value))
	}
	return sb.String()
}
