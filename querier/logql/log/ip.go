package log

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"unsafe"
)

// ipMatcher matches addresses against a CIDR, a range "a-b" or a single
// address. IPv4-mapped IPv6 addresses are treated as IPv4.
type ipMatcher struct {
	prefix     netip.Prefix
	lo, hi     netip.Addr
	isPrefix   bool
	isRange    bool
	descriptor string
}

func newIPMatcher(s string) (*ipMatcher, error) {
	s = strings.TrimSpace(s)
	m := &ipMatcher{descriptor: s}
	switch {
	case strings.Contains(s, "/"):
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("ip %q: %w", s, err)
		}
		m.prefix, m.isPrefix = p.Masked(), true
	case strings.Contains(s, "-"):
		a, b, _ := strings.Cut(s, "-")
		lo, err := netip.ParseAddr(strings.TrimSpace(a))
		if err != nil {
			return nil, fmt.Errorf("ip range %q: %w", s, err)
		}
		hi, err := netip.ParseAddr(strings.TrimSpace(b))
		if err != nil {
			return nil, fmt.Errorf("ip range %q: %w", s, err)
		}
		lo, hi = lo.Unmap(), hi.Unmap()
		if lo.Is4() != hi.Is4() {
			return nil, fmt.Errorf("ip range %q: mixed address families", s)
		}
		if hi.Less(lo) {
			return nil, fmt.Errorf("ip range %q: start after end", s)
		}
		m.lo, m.hi, m.isRange = lo, hi, true
	default:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("ip %q: %w", s, err)
		}
		m.lo = a.Unmap()
	}
	return m, nil
}

func (m *ipMatcher) matchAddr(a netip.Addr) bool {
	a = a.Unmap()
	switch {
	case m.isPrefix:
		return m.prefix.Contains(a)
	case m.isRange:
		return a.Is4() == m.lo.Is4() && !a.Less(m.lo) && !m.hi.Less(a)
	default:
		return a == m.lo
	}
}

func (m *ipMatcher) matchString(s string) bool {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	return err == nil && m.matchAddr(a)
}

func isIPByte(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F') || c == '.' || c == ':'
}

// match reports whether any address-looking token of line matches.
func (m *ipMatcher) match(line []byte) bool {
	for i := 0; i < len(line); {
		if !isIPByte(line[i]) {
			i++
			continue
		}
		j, sep := i, false
		for j < len(line) && isIPByte(line[j]) {
			if line[j] == '.' || line[j] == ':' {
				sep = true
			}
			j++
		}
		if sep && j-i >= 2 && m.matchToken(line[i:j]) {
			return true
		}
		i = j
	}
	return false
}

// NewIPLineFilter returns `|= ip("...")` (op LineContains: keep lines with a
// matching address) or `!= ip("...")` (op LineNotContains: keep lines
// without one). The argument is a CIDR, a range "a-b" or one address, IPv4
// or IPv6.
func NewIPLineFilter(op LineFilterOp, cidrOrRangeOrIP string) (*LineFilter, error) {
	if op != LineContains && op != LineNotContains {
		return nil, fmt.Errorf("ip line filter: operator %s not supported", op)
	}
	m, err := newIPMatcher(cidrOrRangeOrIP)
	if err != nil {
		return nil, err
	}
	return &LineFilter{m: m, negate: op == LineNotContains}, nil
}

// IPLabelFilter is `| name = ip("...")` or `| name != ip("...")`.
type IPLabelFilter struct {
	name   string
	negate bool
	m      *ipMatcher
}

// NewIPLabelFilter returns an ip label filter; op is OpEqual or OpNotEqual.
// Lines without the label are dropped; lines with an error pass.
func NewIPLabelFilter(op CompareOp, name, cidrOrRangeOrIP string) (*IPLabelFilter, error) {
	if op != OpEqual && op != OpNotEqual {
		return nil, fmt.Errorf("ip label filter: operator %s not supported", op)
	}
	m, err := newIPMatcher(cidrOrRangeOrIP)
	if err != nil {
		return nil, err
	}
	return &IPLabelFilter{name: name, negate: op == OpNotEqual, m: m}, nil
}

// Process implements Stage.
func (f *IPLabelFilter) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	if lbs.HasErr() {
		return line, true
	}
	v, ok := lbs.Get(f.name)
	if !ok {
		return line, false
	}
	return line, f.m.matchString(v) != f.negate
}

func (f *IPLabelFilter) String() string {
	op := "="
	if f.negate {
		op = "!="
	}
	return fmt.Sprintf("%s%sip(%q)", f.name, op, f.m.descriptor)
}

// matchToken tries an address-looking token, also as "ipv4:port" and
// without trailing punctuation.
func (m *ipMatcher) matchToken(tok []byte) bool {
	for len(tok) > 0 && (tok[len(tok)-1] == '.' || tok[len(tok)-1] == ':') {
		tok = tok[:len(tok)-1]
	}
	if len(tok) == 0 {
		return false
	}
	if plausibleAddr(tok) {
		if a, err := netip.ParseAddr(unsafe.String(&tok[0], len(tok))); err == nil {
			return m.matchAddr(a)
		}
	}
	if c := bytes.IndexByte(tok, ':'); c > 0 && bytes.IndexByte(tok[:c], '.') > 0 {
		v4 := tok[:c]
		if !plausibleAddr(v4) {
			return false
		}
		if a, err := netip.ParseAddr(unsafe.String(&v4[0], len(v4))); err == nil {
			return m.matchAddr(a)
		}
	}
	return false
}

// plausibleAddr cheaply rejects tokens netip.ParseAddr would refuse (whose
// error values allocate): IPv4 needs digits and exactly three dots, IPv6
// needs "::" or seven colons (six with an IPv4 tail).
func plausibleAddr(tok []byte) bool {
	colons, dots, hex := 0, 0, false
	for _, c := range tok {
		switch {
		case c == ':':
			colons++
		case c == '.':
			dots++
		case c > '9':
			hex = true
		}
	}
	if colons == 0 {
		return dots == 3 && !hex
	}
	if bytes.Contains(tok, []byte("::")) {
		return true
	}
	return colons == 7 || (colons == 6 && dots == 3)
}
