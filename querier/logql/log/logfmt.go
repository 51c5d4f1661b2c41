package log

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/prometheus/common/model"
)

// logfmtDecoder scans key=value pairs in place. Keys are runs of bytes
// above ' ' other than '=' and '"'; values are unquoted runs or quoted
// strings with Go-style escapes; a key without '=' is a standalone key with
// an empty value.
type logfmtDecoder struct {
	data   []byte
	pos    int
	key    []byte
	value  []byte
	quoted bool // value holds the raw contents of a quoted string
	ascii  bool // value is all ASCII (so valid UTF-8)
	err    error
	errPos int
}

type logfmtSyntaxError struct {
	pos int
	msg string
}

func (e *logfmtSyntaxError) Error() string {
	return fmt.Sprintf("logfmt syntax error at pos %d : %s", e.pos, e.msg)
}

func (d *logfmtDecoder) reset(b []byte) {
	d.data, d.pos, d.err = b, 0, nil
}

func (d *logfmtDecoder) fail(pos int, msg string) bool {
	d.err = &logfmtSyntaxError{pos: pos + 1, msg: msg}
	d.errPos = pos
	return false
}

// skipToken moves past the current malformed token (up to the next
// whitespace outside quotes) so that lenient parsing can go on.
func (d *logfmtDecoder) skipToken() {
	i := d.errPos
	inQuote := false
	for i < len(d.data) {
		c := d.data[i]
		if inQuote {
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		} else if c <= ' ' {
			break
		} else if c == '"' {
			inQuote = true
		}
		i++
	}
	if i <= d.errPos {
		i = d.errPos + 1
	}
	d.pos = i
	d.err = nil
}

// logfmtKeyStop and logfmtValueStop mark the bytes that end a key
// (space and controls, '=', '"') and an unquoted value (space and
// controls, '"'): one table load per byte instead of three comparisons.
var logfmtKeyStop, logfmtValueStop = func() (k, v [256]bool) {
	for c := 0; c <= ' '; c++ {
		k[c], v[c] = true, true
	}
	k['='], k['"'], v['"'] = true, true, true
	return k, v
}()

// next scans the next pair; it returns false at the end or on a syntax
// error (then err is set).
func (d *logfmtDecoder) next() bool {
	b := d.data
	i := d.pos
	for i < len(b) && b[i] <= ' ' {
		i++
	}
	if i >= len(b) {
		d.pos = i
		return false
	}
	start := i
	for i < len(b) && !logfmtKeyStop[b[i]] {
		i++
	}
	if i == start {
		return d.fail(i, fmt.Sprintf("unexpected %q", b[i]))
	}
	if i < len(b) && b[i] == '"' {
		return d.fail(i, "unexpected '\"'")
	}
	d.key = b[start:i]
	d.value, d.quoted, d.ascii = nil, false, true
	if i >= len(b) || b[i] != '=' {
		d.pos = i
		return true
	}
	i++ // '='
	if i >= len(b) || b[i] <= ' ' {
		d.pos = i
		return true
	}
	if b[i] == '"' {
		j, ok := closingQuote(b, i+1)
		if !ok {
			return d.fail(i, "unterminated quoted value")
		}
		d.value, d.quoted = b[i+1:j], true
		d.ascii = isASCII(d.value)
		i = j + 1
		if i < len(b) && b[i] > ' ' {
			return d.fail(i, fmt.Sprintf("unexpected %q after quoted value", b[i]))
		}
		d.pos = i
		return true
	}
	vstart := i
	var hi byte
	for i < len(b) {
		c := b[i]
		if logfmtValueStop[c] {
			break
		}
		hi |= c
		i++
	}
	if i < len(b) && b[i] == '"' {
		return d.fail(i, "unexpected '\"'")
	}
	d.value = b[vstart:i]
	d.ascii = hi < utf8.RuneSelf
	d.pos = i
	return true
}

// closingQuote returns the index of the quote ending a quoted value whose
// contents start at from: the first '"' not escaped by an odd run of
// backslashes (a backslash escapes the byte after it, whatever it is).
func closingQuote(b []byte, from int) (int, bool) {
	for k := from; k < len(b); {
		q := bytes.IndexByte(b[k:], '"')
		if q < 0 {
			return 0, false
		}
		q += k
		n := 0
		for p := q - 1; p >= from && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q, true
		}
		k = q + 1
	}
	return 0, false
}

// isASCII reports whether b holds only ASCII bytes, eight at a time.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	var hi byte
	for _, c := range b {
		hi |= c
	}
	return hi < utf8.RuneSelf
}

// logfmtValue returns the decoded value, valid for the line; invalid UTF-8
// makes the value empty, since Prometheus would reject it.
func logfmtValue(lbs *LabelsBuilder, v []byte, quoted, ascii bool) string {
	if !quoted || bytes.IndexByte(v, '\\') < 0 {
		if !ascii && !utf8.Valid(v) {
			return ""
		}
		return lbs.view(v)
	}
	start := len(lbs.arena)
	lbs.arena = appendUnquoted(lbs.arena, v)
	if !utf8.Valid(lbs.arena[start:]) {
		lbs.arena = lbs.arena[:start]
		return ""
	}
	return lbs.internTail(start)
}

// appendUnquoted decodes Go/JSON-style escapes in the contents of a quoted
// logfmt value.
func appendUnquoted(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'n':
			dst = append(dst, '\n')
		case 't':
			dst = append(dst, '\t')
		case 'r':
			dst = append(dst, '\r')
		case 'u':
			if r, n := decodeU(s[i:]); n > 0 {
				dst = utf8.AppendRune(dst, r)
				i += n
				continue
			}
			dst = append(dst, s[i+1])
		default:
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

// LogfmtParser is `| logfmt [--strict] [--keep-empty]`.
type LogfmtParser struct {
	strict, keepEmpty bool
	dec               logfmtDecoder
	name              []byte
	names             nameCaches
	wanted            map[string]struct{} // extraction hints; nil extracts everything
}

// NewLogfmtParser returns the `| logfmt` stage. strict stops at the first
// malformed pair and sets __error__=LogfmtParserErr; otherwise malformed
// pairs are skipped. keepEmpty keeps pairs whose value is empty (including
// standalone keys). The first occurrence of a duplicate key wins.
func NewLogfmtParser(strict, keepEmpty bool) *LogfmtParser {
	return &LogfmtParser{strict: strict, keepEmpty: keepEmpty}
}

// Process implements Stage.
func (l *LogfmtParser) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	lbs.newParserRun()
	cache := l.names.forBuilder(lbs)
	found := 0
	d := &l.dec
	d.reset(line)
	for k := 0; ; k++ {
		if !d.next() {
			if d.err == nil {
				break
			}
			if l.strict {
				lbs.setError(ErrLogfmt, d.err.Error())
				break
			}
			d.skipToken()
			continue
		}
		if len(d.value) == 0 && !l.keepEmpty {
			continue
		}
		name, ok := cache.get(k, nil, d.key)
		if !ok {
			l.name = appendSanitized(l.name[:0], d.key)
			if len(l.name) > 0 {
				name = wantedName(l.wanted, lbs.parsedNameBytes(l.name))
			}
			cache.put(k, nil, d.key, name)
		}
		if name == "" {
			continue
		}
		v := logfmtValue(lbs, d.value, d.quoted, d.ascii)
		if v == "" && !l.keepEmpty {
			continue
		}
		if lbs.setParsed(name, v) && l.wanted != nil {
			// Like Loki, stop once every wanted label is set; the rest
			// of the line is then not checked for syntax errors.
			if found++; found >= len(l.wanted) {
				break
			}
		}
	}
	return line, true
}

// LogfmtExpr extracts the value of logfmt key Key into label Label:
// `| logfmt host, fwd_ip="fwd"`.
type LogfmtExpr struct {
	Label string
	Key   string
}

// LogfmtExpressionParser is `| logfmt <exprs>`: only the listed keys are
// extracted; keys absent from the line yield empty labels.
type LogfmtExpressionParser struct {
	exprs             []LogfmtExpr
	strict, keepEmpty bool
	found             []bool
	dec               logfmtDecoder
}

// NewLogfmtExpressionParser returns the `| logfmt <exprs>` stage.
func NewLogfmtExpressionParser(exprs []LogfmtExpr, strict, keepEmpty bool) (*LogfmtExpressionParser, error) {
	if len(exprs) == 0 {
		return nil, fmt.Errorf("logfmt: no expression")
	}
	for _, e := range exprs {
		if !model.LegacyValidation.IsValidLabelName(e.Label) {
			return nil, fmt.Errorf("logfmt: invalid extracted label name %q", e.Label)
		}
		if e.Key == "" {
			return nil, fmt.Errorf("logfmt: empty key for label %q", e.Label)
		}
	}
	return &LogfmtExpressionParser{exprs: exprs, strict: strict, keepEmpty: keepEmpty, found: make([]bool, len(exprs))}, nil
}

// Process implements Stage.
func (l *LogfmtExpressionParser) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	lbs.newParserRun()
	clear(l.found)
	d := &l.dec
	d.reset(line)
	for {
		if !d.next() {
			if d.err == nil {
				break
			}
			if l.strict {
				lbs.setError(ErrLogfmt, d.err.Error())
				break
			}
			d.skipToken()
			continue
		}
		for k, e := range l.exprs {
			if l.found[k] || string(d.key) != e.Key {
				continue
			}
			lbs.setParsed(lbs.ParsedName(e.Label), logfmtValue(lbs, d.value, d.quoted, d.ascii))
			l.found[k] = true
		}
	}
	for k, e := range l.exprs {
		if !l.found[k] && !lbs.stream.Has(e.Label) {
			lbs.setParsed(e.Label, "")
		}
	}
	return line, true
}
