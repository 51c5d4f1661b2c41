package push

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
)

// maxStackLabels is how many labels ParseLabels sorts without allocating.
const maxStackLabels = 32

// ParseLabels parses a Prometheus-style label string such as
// `{app="api", env="prod"}` into sorted labels.
//
// Names match [a-zA-Z_][a-zA-Z0-9_]*. Values are quoted with ", ' or ` and
// use Go's escapes (as strconv.Quote writes them); they must be valid UTF-8.
// Whitespace between tokens and one trailing comma are allowed. `{}` gives
// empty labels. A repeated name is an error.
func ParseLabels(s string) (labels.Labels, error) {
	var stack [maxStackLabels]labels.Label
	ls := stack[:0]
	p := labelParser{s: s}
	p.skipSpace()
	if !p.consume('{') {
		return labels.EmptyLabels(), p.errorf("expected '{'")
	}
	for {
		p.skipSpace()
		if p.consume('}') {
			break
		}
		name, err := p.name()
		if err != nil {
			return labels.EmptyLabels(), err
		}
		p.skipSpace()
		if !p.consume('=') {
			return labels.EmptyLabels(), p.errorf("expected '=' after label name %q", name)
		}
		p.skipSpace()
		value, err := p.value(name)
		if err != nil {
			return labels.EmptyLabels(), err
		}
		ls = append(ls, labels.Label{Name: name, Value: value})
		p.skipSpace()
		if p.consume(',') {
			continue
		}
		if p.consume('}') {
			break
		}
		return labels.EmptyLabels(), p.errorf("expected ',' or '}' after the value of label %q", name)
	}
	p.skipSpace()
	if p.pos != len(s) {
		return labels.EmptyLabels(), p.errorf("unexpected text after '}'")
	}
	// Insertion sort: label sets are small and often already sorted.
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && ls[j].Name <= ls[j-1].Name; j-- {
			if ls[j].Name == ls[j-1].Name {
				return labels.EmptyLabels(), badf("labels %s: duplicate label name %q", clip(s), ls[j].Name)
			}
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
	return labels.New(ls...), nil
}

type labelParser struct {
	s   string
	pos int
}

// errorf reports a syntax error at the current byte offset.
func (p *labelParser) errorf(format string, args ...any) error {
	got := "end of input"
	if p.pos < len(p.s) {
		r, _ := utf8.DecodeRuneInString(p.s[p.pos:])
		got = strconv.QuoteRune(r)
	}
	return badf("labels %s: byte %d: "+format+", got %s", append([]any{clip(p.s), p.pos}, append(args, got)...)...)
}

// clip quotes s for an error message, shortened if long.
func clip(s string) string {
	const max = 256
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

func (p *labelParser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *labelParser) consume(c byte) bool {
	if p.pos < len(p.s) && p.s[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *labelParser) name() (string, error) {
	start := p.pos
	for p.pos < len(p.s) && isNameByte(p.s[p.pos], p.pos == start) {
		p.pos++
	}
	if p.pos == start {
		if p.pos < len(p.s) && p.s[p.pos] == '"' {
			return "", p.errorf("quoted label names are not supported; want a name matching [a-zA-Z_][a-zA-Z0-9_]*")
		}
		return "", p.errorf("expected a label name matching [a-zA-Z_][a-zA-Z0-9_]*")
	}
	return p.s[start:p.pos], nil
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') || (!first && c >= '0' && c <= '9')
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]*.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i], i == 0) {
			return false
		}
	}
	return true
}

// value parses a quoted value. Without escapes it is a substring of the
// input, with no allocation.
func (p *labelParser) value(name string) (string, error) {
	if p.pos >= len(p.s) {
		return "", p.errorf("expected a quoted value for label %q", name)
	}
	q := p.s[p.pos]
	if q != '"' && q != '\'' && q != '`' {
		return "", p.errorf("expected a quoted value for label %q", name)
	}
	start := p.pos
	p.pos++
	escaped := false
	for {
		i := strings.IndexByte(p.s[p.pos:], q)
		if q != '`' {
			if j := strings.IndexByte(p.s[p.pos:], '\\'); j >= 0 && (i < 0 || j < i) {
				// Skip the escaped byte so that \" does not end the value.
				escaped = true
				p.pos += j + 2
				if p.pos > len(p.s) {
					p.pos = len(p.s)
				}
				continue
			}
		}
		if i < 0 {
			p.pos = start
			return "", p.errorf("unterminated value of label %q", name)
		}
		p.pos += i + 1
		break
	}
	raw := p.s[start+1 : p.pos-1]
	if q != '`' && strings.IndexByte(raw, '\n') >= 0 {
		p.pos = start
		return "", p.errorf("newline in the value of label %q", name)
	}
	if !utf8.ValidString(raw) {
		p.pos = start
		return "", p.errorf("value of label %q is not valid UTF-8", name)
	}
	if !escaped {
		return raw, nil
	}
	v, err := unquote(raw, q)
	if err != nil {
		p.pos = start
		return "", p.errorf("value of label %q: %v", name, err)
	}
	return v, nil
}

// unquote resolves Go escapes in the body of a string quoted with q.
func unquote(s string, q byte) (string, error) {
	buf := make([]byte, 0, len(s))
	for len(s) > 0 {
		r, multibyte, tail, err := strconv.UnquoteChar(s, q)
		if err != nil {
			return "", fmt.Errorf("invalid escape sequence at %s", clip(s))
		}
		s = tail
		if r < utf8.RuneSelf || !multibyte {
			buf = append(buf, byte(r)) // \x escapes write a raw byte
		} else {
			buf = utf8.AppendRune(buf, r)
		}
	}
	if !utf8.Valid(buf) {
		return "", errors.New("escape sequences make it invalid UTF-8")
	}
	return string(buf), nil
}

// appendLabelString appends the canonical string form {a="b", c="d"} of
// sorted labels, as labels.Labels.String writes it for legacy names.
func appendLabelString(dst []byte, ls []labels.Label) []byte {
	dst = append(dst, '{')
	for i, l := range ls {
		if i > 0 {
			dst = append(dst, ',', ' ')
		}
		dst = append(dst, l.Name...)
		dst = append(dst, '=')
		dst = strconv.AppendQuote(dst, l.Value)
	}
	return append(dst, '}')
}
