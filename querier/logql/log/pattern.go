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

// captures appends to dst the value of each named capture matched in line,
// as Loki does: a leading literal must start the line; each capture extends
// to the next occurrence of the literal that follows it; when that literal
// is missing the capture takes the rest of the line and matching stops.
func (e *patternExpr) captures(line []byte, dst [][]byte) [][]byte {
	nodes := e.nodes
	if len(nodes) > 0 && !nodes[0].isCapture() {
		if !bytes.HasPrefix(line, nodes[0].lit) {
			return dst
		}
		line = line[len(nodes[0].lit):]
		nodes = nodes[1:]
	}
	for len(nodes) > 0 {
		c := nodes[0]
		if len(nodes) == 1 {
			if c.name != "_" {
				dst = append(dst, line)
			}
			return dst
		}
		lit := nodes[1].lit
		nodes = nodes[2:]
		i := bytes.Index(line, lit)
		if i < 0 {
			if c.name != "_" {
				dst = append(dst, line)
			}
			return dst
		}
		if c.name != "_" {
			dst = append(dst, line[:i])
		}
		line = line[i+len(lit):]
	}
	return dst
}

// match implements matcher for `|>` with Loki's semantics: the literals
// must occur in order (first occurrence each), every capture must be
// non-empty, a trailing literal must end the line and a trailing capture
// must have something left to take. A leading literal is searched, not
// anchored, as in Loki's filter.
func (e *patternExpr) match(line []byte) bool {
	if len(line) == 0 || len(e.nodes) == 0 {
		return len(line) == 0 && len(e.nodes) == 0
	}
	off := 0
	for i, n := range e.nodes {
		if n.isCapture() {
			continue
		}
		j := bytes.Index(line[off:], n.lit)
		if j < 0 || (i != 0 && j == 0) {
			return false
		}
		off += j + len(n.lit)
	}
	endsOnCapture := e.nodes[len(e.nodes)-1].isCapture()
	return endsOnCapture == (off != len(line))
}
