package stages

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

var errBadJSON = errors.New("malformed JSON")

// scanFlatObject calls fn for every member of a JSON object whose value is
// a string, skipping other values. Keys and values are unescaped. It is the
// allocation-light path for docker lines; anything it cannot handle returns
// an error and the caller falls back to encoding/json.
func scanFlatObject(s string, fn func(key, val string)) error {
	i := skipWS(s, 0)
	if i >= len(s) || s[i] != '{' {
		return errBadJSON
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return nil
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return errBadJSON
		}
		key, n, err := readString(s, i)
		if err != nil {
			return err
		}
		i = skipWS(s, n)
		if i >= len(s) || s[i] != ':' {
			return errBadJSON
		}
		i = skipWS(s, i+1)
		if i >= len(s) {
			return errBadJSON
		}
		if s[i] == '"' {
			val, n, err := readString(s, i)
			if err != nil {
				return err
			}
			fn(key, val)
			i = n
		} else {
			return errBadJSON // nested or non-string values: use the slow path
		}
		i = skipWS(s, i)
		if i >= len(s) {
			return errBadJSON
		}
		if s[i] == '}' {
			if skipWS(s, i+1) != len(s) {
				return errBadJSON
			}
			return nil
		}
		if s[i] != ',' {
			return errBadJSON
		}
		i = skipWS(s, i+1)
	}
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// readString reads the JSON string starting at s[i] == '"' and returns its
// unescaped value and the index after the closing quote. Strings without
// escapes are returned without copying.
func readString(s string, i int) (string, int, error) {
	start := i + 1
	j := start
	for j < len(s) {
		c := s[j]
		if c == '"' {
			return s[start:j], j + 1, nil
		}
		if c == '\\' {
			return readEscaped(s, start, j)
		}
		if c < 0x20 {
			return "", 0, errBadJSON
		}
		j++
	}
	return "", 0, errBadJSON
}

func readEscaped(s string, start, j int) (string, int, error) {
	b := make([]byte, 0, len(s)-start)
	b = append(b, s[start:j]...)
	for j < len(s) {
		c := s[j]
		switch {
		case c == '"':
			if len(b) == 0 {
				return "", j + 1, nil
			}
			// b is never written again: share it instead of copying.
			return unsafe.String(&b[0], len(b)), j + 1, nil
		case c < 0x20:
			return "", 0, errBadJSON
		case c != '\\':
			b = append(b, c)
			j++
			continue
		}
		if j+1 >= len(s) {
			return "", 0, errBadJSON
		}
		e := s[j+1]
		j += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(s, j)
			if !ok {
				return "", 0, errBadJSON
			}
			j += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(-1), false
				if j+6 <= len(s) && s[j] == '\\' && s[j+1] == 'u' {
					r2, ok = hex4(s, j+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					j += 6
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", 0, errBadJSON
		}
	}
	return "", 0, errBadJSON
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	v, err := strconv.ParseUint(s[i:i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}
