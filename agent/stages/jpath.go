package stages

import (
	"fmt"
	"strconv"
	"strings"
)

// jpath is the subset of JMESPath Promtail configs use in json stages:
// field access `a.b`, quoted keys `"a.b"` (also as a segment: `a."b-c"`),
// and array indexes `a[0]` (negative counts from the end).
type jpath []jseg

type jseg struct {
	key   string
	index int
	isIdx bool
}

func (p jpath) String() string {
	var sb strings.Builder
	for i, s := range p {
		switch {
		case s.isIdx:
			fmt.Fprintf(&sb, "[%d]", s.index)
		default:
			if i > 0 {
				sb.WriteByte('.')
			}
			if isIdent(s.key) {
				sb.WriteString(s.key)
			} else {
				sb.WriteString(strconv.Quote(s.key))
			}
		}
	}
	return sb.String()
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// parseJPath parses an expression.
func parseJPath(s string) (jpath, error) {
	var p jpath
	i := 0
	expectKey := true
	for i < len(s) {
		c := s[i]
		switch {
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("expression %q: unclosed '[' at %d", s, i)
			}
			n, err := strconv.Atoi(strings.TrimSpace(s[i+1 : i+end]))
			if err != nil {
				return nil, fmt.Errorf("expression %q: index at %d: want an integer", s, i)
			}
			p = append(p, jseg{index: n, isIdx: true})
			i += end + 1
			expectKey = false
		case c == '.':
			if expectKey {
				return nil, fmt.Errorf("expression %q: unexpected '.' at %d", s, i)
			}
			i++
			expectKey = true
			if i == len(s) {
				return nil, fmt.Errorf("expression %q: ends with '.'", s)
			}
		case c == '"':
			if !expectKey {
				return nil, fmt.Errorf("expression %q: missing '.' before %d", s, i)
			}
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("expression %q: unclosed quote at %d", s, i)
			}
			key, err := strconv.Unquote(s[i : j+1])
			if err != nil {
				return nil, fmt.Errorf("expression %q: quoted key at %d: %v", s, i, err)
			}
			p = append(p, jseg{key: key})
			i = j + 1
			expectKey = false
		default:
			if !expectKey {
				return nil, fmt.Errorf("expression %q: missing '.' before %d", s, i)
			}
			j := i
			for j < len(s) && s[j] != '.' && s[j] != '[' && s[j] != '"' {
				j++
			}
			key := s[i:j]
			if !isIdent(key) {
				return nil, fmt.Errorf("expression %q: %q is not an identifier (quote it)", s, key)
			}
			p = append(p, jseg{key: key})
			i = j
			expectKey = false
		}
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("expression %q: empty", s)
	}
	return p, nil
}

// eval walks v (as decoded by encoding/json) along p.
func (p jpath) eval(v any) (any, bool) {
	for _, s := range p {
		if s.isIdx {
			a, ok := v.([]any)
			if !ok {
				return nil, false
			}
			i := s.index
			if i < 0 {
				i += len(a)
			}
			if i < 0 || i >= len(a) {
				return nil, false
			}
			v = a[i]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[s.key]; !ok {
			return nil, false
		}
	}
	return v, true
}
