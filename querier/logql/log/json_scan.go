package log

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"
)

// A minimal JSON scanner: it walks bytes in place and materializes only the
// values a parser keeps. It validates what it walks but is lenient about
// nesting it skips (brackets are counted, not matched by kind).

const maxJSONDepth = 128

var errJSONDepth = errors.New("json nested too deeply")

// jsonKind is the kind of a JSON value.
type jsonKind uint8

const (
	jsonInvalid jsonKind = iota
	jsonString
	jsonNumber
	jsonBool
	jsonNull
	jsonObject
	jsonArray
)

type jsonSyntaxError struct {
	off int
	msg string
}

func (e *jsonSyntaxError) Error() string {
	return fmt.Sprintf("json syntax error at offset %d: %s", e.off, e.msg)
}

func jsonErr(off int, msg string) error { return &jsonSyntaxError{off: off, msg: msg} }

func skipWS(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString expects d[i] == '"' and returns the index after the closing
// quote and whether the content contains escapes. (Two IndexByte scans beat
// a byte loop and an eight-bytes-at-a-time loop on typical log values.)
func scanString(d []byte, i int) (int, bool, error) {
	j := i + 1
	q := bytes.IndexByte(d[j:], '"')
	if q < 0 {
		return 0, false, jsonErr(i, "unterminated string")
	}
	if bytes.IndexByte(d[j:j+q], '\\') < 0 {
		return j + q + 1, false, nil
	}
	for ; j < len(d); j++ {
		switch d[j] {
		case '"':
			return j + 1, true, nil
		case '\\':
			j++
		}
	}
	return 0, false, jsonErr(i, "unterminated string")
}

// scanValueEsc is scanValue that also reports whether a string value
// contains escapes.
func scanValueEsc(d []byte, i int) (jsonKind, int, bool, error) {
	if i < len(d) && d[i] == '"' {
		end, esc, err := scanString(d, i)
		return jsonString, end, esc, err
	}
	k, end, err := scanValue(d, i)
	return k, end, false, err
}

// scanValue returns the kind of the value starting at d[i] (after
// whitespace) and the index just after it. Objects and arrays are skipped.
func scanValue(d []byte, i int) (jsonKind, int, error) {
	if i >= len(d) {
		return jsonInvalid, 0, jsonErr(i, "unexpected end of input")
	}
	switch c := d[i]; {
	case c == '"':
		end, _, err := scanString(d, i)
		return jsonString, end, err
	case c == '{' || c == '[':
		end, err := skipNested(d, i)
		if c == '{' {
			return jsonObject, end, err
		}
		return jsonArray, end, err
	case c == 't':
		return scanLiteral(d, i, "true", jsonBool)
	case c == 'f':
		return scanLiteral(d, i, "false", jsonBool)
	case c == 'n':
		return scanLiteral(d, i, "null", jsonNull)
	case c == '-' || ('0' <= c && c <= '9'):
		j := i + 1
		for j < len(d) && isNumberByte(d[j]) {
			j++
		}
		return jsonNumber, j, nil
	default:
		return jsonInvalid, 0, jsonErr(i, fmt.Sprintf("unexpected character %q", c))
	}
}

func isNumberByte(c byte) bool {
	return ('0' <= c && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

func scanLiteral(d []byte, i int, lit string, k jsonKind) (jsonKind, int, error) {
	if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
		return jsonInvalid, 0, jsonErr(i, "invalid literal")
	}
	return k, i + len(lit), nil
}

// skipNested skips an object or array starting at d[i].
func skipNested(d []byte, i int) (int, error) {
	depth := 0
	for j := i; j < len(d); j++ {
		switch d[j] {
		case '"':
			end, _, err := scanString(d, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, jsonErr(i, "unterminated object or array")
}

// appendUnescaped appends the decoded content of a JSON string (without its
// quotes) to dst. Invalid UTF-8 and invalid escapes are dropped, as Loki
// drops runes Prometheus would reject.
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			if c < utf8.RuneSelf {
				dst = append(dst, c)
				i++
				continue
			}
			r, n := utf8.DecodeRune(s[i:])
			if r != utf8.RuneError {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
			continue
		}
		if i+1 >= len(s) {
			return dst
		}
		switch s[i+1] {
		case '"', '\\', '/':
			dst = append(dst, s[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n := decodeU(s[i:])
			if n == 0 {
				i += 2
				continue
			}
			if r != utf8.RuneError {
				dst = utf8.AppendRune(dst, r)
			}
			i += n
			continue
		}
		i += 2
	}
	return dst
}

// decodeU decodes \uXXXX (and a following low surrogate) at s[0]; it returns
// the rune and the bytes consumed, or 0 consumed when malformed.
func decodeU(s []byte) (rune, int) {
	r, ok := hex4(s)
	if !ok {
		return 0, 0
	}
	if 0xD800 <= r && r < 0xDC00 {
		if r2, ok := hex4(s[6:]); ok && len(s) >= 12 && s[6] == '\\' && 0xDC00 <= r2 && r2 < 0xE000 {
			return (r-0xD800)<<10 + (r2 - 0xDC00) + 0x10000, 12
		}
		return utf8.RuneError, 6
	}
	if 0xDC00 <= r && r < 0xE000 {
		return utf8.RuneError, 6
	}
	return r, 6
}

// hex4 decodes the 4 hex digits of \uXXXX at s[0:6].
func hex4(s []byte) (rune, bool) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendSanitized appends key to dst as a label-name fragment: spaces
// trimmed, a leading digit prefixed with '_', and every rune outside
// [a-zA-Z0-9_] replaced by one '_'.
func appendSanitized(dst, key []byte) []byte {
	for len(key) > 0 && isSpace(key[0]) {
		key = key[1:]
	}
	for len(key) > 0 && isSpace(key[len(key)-1]) {
		key = key[:len(key)-1]
	}
	if len(key) == 0 {
		return dst
	}
	if '0' <= key[0] && key[0] <= '9' {
		dst = append(dst, '_')
	}
	for i := 0; i < len(key); {
		c := key[i]
		if c < utf8.RuneSelf {
			if isIdentByte(c) {
				dst = append(dst, c)
			} else {
				dst = append(dst, '_')
			}
			i++
			continue
		}
		_, n := utf8.DecodeRune(key[i:])
		dst = append(dst, '_')
		i += n
	}
	return dst
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// SanitizeLabelName turns an arbitrary key into a valid label name the way
// parsers do.
func SanitizeLabelName(key string) string {
	return string(appendSanitized(nil, []byte(key)))
}
