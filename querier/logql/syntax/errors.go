package syntax

import (
	"errors"
	"fmt"
)

// ErrParse is matched by every *ParseError via errors.Is, so callers (the
// HTTP API) can map any query-language error to 400 Bad Request without
// inspecting messages.
var ErrParse = errors.New("failed to parse the log query")

// ParseError is returned for every malformed query: lexical, syntactic and
// semantic. Line and Col are 1-based (Col counts runes, as Loki's lexer
// does); both are 0 when the error has no single position, in which case
// Error reads "parse error : msg" exactly like Loki.
type ParseError struct {
	Line int
	Col  int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line == 0 && e.Col == 0 {
		return "parse error : " + e.Msg
	}
	return fmt.Sprintf("parse error at line %d, col %d: %s", e.Line, e.Col, e.Msg)
}

// Is reports whether target is ErrParse.
func (e *ParseError) Is(target error) bool { return target == ErrParse }

// position converts a byte offset in q into a 1-based line and rune column.
func position(q string, off int) (line, col int) {
	if off > len(q) {
		off = len(q)
	}
	line, col = 1, 1
	for _, r := range q[:off] {
		if r == '\n' {
			line++
			col = 1
			continue
		}
		col++
	}
	return line, col
}

func newParseError(q string, off int, msg string) *ParseError {
	line, col := position(q, off)
	return &ParseError{Line: line, Col: col, Msg: msg}
}
