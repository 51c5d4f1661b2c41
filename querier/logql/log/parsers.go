package log

import (
	"bytes"
	"fmt"
	"regexp"

	"github.com/prometheus/common/model"
)

// RegexpParser is `| regexp "<re>"`: each named group that participates in
// a match becomes a label. Lines that do not match are kept unchanged.
type RegexpParser struct {
	re    *regexp.Regexp
	names []string // by subexpression index; "" for unnamed groups
}

// NewRegexpParser returns the `| regexp` stage; re must have at least one
// named group, with valid and distinct names.
func NewRegexpParser(re string) (*RegexpParser, error) {
	compiled, err := regexp.Compile(re)
	if err != nil {
		return nil, fmt.Errorf("regexp parser %q: %w", re, err)
	}
	names := compiled.SubexpNames()
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" {
			continue
		}
		if !model.LegacyValidation.IsValidLabelName(n) {
			return nil, fmt.Errorf("regexp parser %q: invalid extracted label name %q", re, n)
		}
		if seen[n] {
			return nil, fmt.Errorf("regexp parser %q: duplicate extracted label name %q", re, n)
		}
		seen[n] = true
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("regexp parser %q: %w", re, ErrPatternNoCapture)
	}
	return &RegexpParser{re: compiled, names: names}, nil
}

// Process implements Stage.
func (r *RegexpParser) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	lbs.newParserRun()
	m := r.re.FindSubmatchIndex(line)
	for i := 1; 2*i < len(m); i++ {
		if r.names[i] == "" || m[2*i] < 0 {
			continue
		}
		lbs.setParsed(lbs.ParsedName(r.names[i]), lbs.viewValidUTF8(line[m[2*i]:m[2*i+1]]))
	}
	return line, true
}

// PatternParser is `| pattern "<ip> - <_> \"<method> <uri>\""`.
type PatternParser struct {
	expr *patternExpr
	vals [][]byte
}

// NewPatternParser returns the `| pattern` stage. The pattern needs at least
// one named capture, and no two captures may be adjacent.
func NewPatternParser(pattern string) (*PatternParser, error) {
	e, err := parsePattern(pattern, true)
	if err != nil {
		return nil, err
	}
	for _, n := range e.names {
		if !model.LegacyValidation.IsValidLabelName(n) {
			return nil, fmt.Errorf("pattern %q: invalid capture label name %q", pattern, n)
		}
	}
	return &PatternParser{expr: e, vals: make([][]byte, 0, len(e.names))}, nil
}

// Process implements Stage. Captures matched before the pattern stops
// matching are still extracted, as in Loki.
func (p *PatternParser) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	lbs.newParserRun()
	p.vals = p.expr.captures(line, p.vals[:0])
	for i, v := range p.vals {
		lbs.setParsed(lbs.ParsedName(p.expr.names[i]), lbs.viewValidUTF8(v))
	}
	return line, true
}

// Decolorize is `| decolorize`: it removes ANSI escape sequences.
type Decolorize struct {
	buf []byte
}

// NewDecolorize returns the `| decolorize` stage.
func NewDecolorize() *Decolorize { return &Decolorize{} }

// Process implements Stage.
func (d *Decolorize) Process(_ int64, line []byte, _ *LabelsBuilder) ([]byte, bool) {
	if bytes.IndexByte(line, 0x1b) < 0 && bytes.IndexByte(line, 0x9b) < 0 {
		return line, true
	}
	d.buf = stripANSI(d.buf[:0], line)
	return d.buf, true
}

// stripANSI appends line to dst without CSI (ESC [ or 0x9b), OSC
// (ESC ] ... BEL or ESC \) and other escape sequences (ESC, intermediate
// bytes, one final byte).
func stripANSI(dst, line []byte) []byte {
	for i := 0; i < len(line); {
		c := line[i]
		if c != 0x1b && c != 0x9b {
			dst = append(dst, c)
			i++
			continue
		}
		j := i + 1
		csi := c == 0x9b
		if c == 0x1b {
			if j >= len(line) {
				return dst
			}
			switch line[j] {
			case '[':
				csi = true
				j++
			case ']':
				j++
				for j < len(line) {
					if line[j] == 0x07 {
						j++
						break
					}
					if line[j] == 0x1b && j+1 < len(line) && line[j+1] == '\\' {
						j += 2
						break
					}
					j++
				}
				i = j
				continue
			default:
				// ESC, intermediate bytes, one final byte (e.g. ESC ( B).
				for j < len(line) && line[j] >= 0x20 && line[j] <= 0x2f {
					j++
				}
				i = j + 1
				continue
			}
		}
		if csi {
			for j < len(line) && line[j] >= 0x20 && line[j] <= 0x3f {
				j++ // parameter and intermediate bytes
			}
			if j < len(line) && line[j] >= 0x40 && line[j] <= 0x7e {
				j++ // final byte
			}
		}
		i = j
	}
	return dst
}
