package log

import (
	"bytes"
	"errors"
	"fmt"
)

// Errors returned for invalid patterns.
var (
	ErrPatternNoCapture          = errors.New("at least one named capture must be supplied")
	ErrPatternConsecutiveCapture = errors.New("consecutive captures are not allowed")
	ErrPatternEmpty              = errors.New("empty pattern")
)

// patternNode is a literal (name == "" and lit set) or a capture.
type patternNode struct {
	lit  []byte
	name string // capture name; "_" for an unnamed capture
}

func (n patternNode) isCapture() bool { return n.name != "" }

// patternExpr is a parsed `| pattern` / `|>` expression: literals and
// <name> captures. A capture matches up to the next literal; <_> matches
// without capturing.
type patternExpr struct {
	nodes []patternNode
	names []string // named captures, in order
}

func isIdentStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isIdentByte(c byte) bool { return isIdentStart(c) || ('0' <= c && c <= '9') }

// parsePattern parses p. Parser patterns (needNames) must have at least one
// named capture and distinct names.
func parsePattern(p string, needNames bool) (*patternExpr, error) {
	if p == "" {
		return nil, ErrPatternEmpty
	}
	e := &patternExpr{}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			e.nodes = append(e.nodes, patternNode{lit: lit})
			lit = nil
		}
	}
	for i := 0; i < len(p); {
		if p[i] == '<' {
			j := i + 1
			for j < len(p) && isIdentByte(p[j]) {
				j++
			}
			if j > i+1 && j < len(p) && p[j] == '>' && isIdentStart(p[i+1]) {
				flush()
				name := p[i+1 : j]
				if n := len(e.nodes); n > 0 && e.nodes[n-1].isCapture() {
					return nil, fmt.Errorf("pattern %q at offset %d: %w", p, i, ErrPatternConsecutiveCapture)
				}
				e.nodes = append(e.nodes, patternNode{name: name})
				if name != "_" {
					for _, n := range e.names {
						if n == name {
							return nil, fmt.Errorf("pattern %q: duplicate capture name %q", p, name)
						}
					}
					e.names = append(e.names, name)
				}
				i = j + 1
				continue
			}
		}
		lit = append(lit, p[i])
		i++
	}
	flush()
	if needNames && len(e.names) == 0 {
		return nil, fmt.Errorf("pattern %q: %w", p, ErrPatternNoCapture)
	}
	return e, nil
}

// captures appends to dst (when non-nil) the value of each named capture
// matched in line, as Loki does: a
// leading literal must start the line; each capture extends to the next
// occurrence of the literal that follows it; when that literal is missing
// the capture takes the rest of the line and matching stops. With full set,
// a trailing literal must end the line (and the capture before it extends
// to it). It reports whether the pattern matched the whole line.
func (e *patternExpr) captures(line []byte, full bool, dst [][]byte) ([][]byte, bool) {
	nodes := e.nodes
	emit := func(c patternNode, v []byte) {
		if c.name != "_" && dst != nil {
			dst = append(dst, v)
		}
	}
	if len(nodes) > 0 && !nodes[0].isCapture() {
		if !bytes.HasPrefix(line, nodes[0].lit) {
			return dst, false
		}
		line = line[len(nodes[0].lit):]
		nodes = nodes[1:]
	}
	for len(nodes) > 0 {
		c := nodes[0]
		if len(nodes) == 1 {
			emit(c, line)
			return dst, true
		}
		lit := nodes[1].lit
		nodes = nodes[2:]
		var i int
		if full && len(nodes) == 0 {
			if !bytes.HasSuffix(line, lit) {
				return dst, false
			}
			i = len(line) - len(lit)
		} else {
			i = bytes.Index(line, lit)
		}
		if i < 0 {
			emit(c, line)
			return dst, false
		}
		emit(c, line[:i])
		line = line[i+len(lit):]
	}
	return dst, len(line) == 0
}

// match implements matcher for `|>`: the pattern must match the whole line.
func (e *patternExpr) match(line []byte) bool {
	_, ok := e.captures(line, true, nil)
	return ok
}
