package stages

import (
	"encoding/json"
	"strconv"
)

// lookup finds the value at p in doc, which must be valid JSON (checked by
// the caller with json.Valid), without decoding the rest of the document.
// The result has the types encoding/json gives an `any`: string, float64,
// bool, nil, map[string]any, []any. Like encoding/json, the last of
// duplicate keys wins.
func (p jpath) lookup(doc string) (any, bool) {
	i := skipWS(doc, 0)
	for _, seg := range p {
		var ok bool
		if seg.isIdx {
			i, ok = arrayElem(doc, i, seg.index)
		} else {
			i, ok = objectMember(doc, i, seg.key)
		}
		if !ok {
			return nil, false
		}
	}
	return decodeRaw(doc, i)
}

// objectMember returns the start of the value of key in the object at i.
func objectMember(s string, i int, key string) (int, bool) {
	if i >= len(s) || s[i] != '{' {
		return 0, false
	}
	found, at := false, 0
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return 0, false
	}
	for i < len(s) {
		k, n, err := readString(s, i)
		if err != nil {
			return 0, false
		}
		i = skipWS(s, n)
		if i >= len(s) || s[i] != ':' {
			return 0, false
		}
		i = skipWS(s, i+1)
		if k == key {
			found, at = true, i
		}
		i = skipWS(s, skipValue(s, i))
		if i >= len(s) || s[i] == '}' {
			break
		}
		i = skipWS(s, i+1) // ','
	}
	return at, found
}

// arrayElem returns the start of element idx (negative: from the end) of
// the array at i.
func arrayElem(s string, i int, idx int) (int, bool) {
	if i >= len(s) || s[i] != '[' {
		return 0, false
	}
	var starts []int
	var buf [16]int
	starts = buf[:0]
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == ']' {
		return 0, false
	}
	for n := 0; i < len(s); n++ {
		if idx >= 0 && n == idx {
			return i, true
		}
		if idx < 0 {
			starts = append(starts, i)
		}
		i = skipWS(s, skipValue(s, i))
		if i >= len(s) || s[i] == ']' {
			break
		}
		i = skipWS(s, i+1)
	}
	if idx < 0 && -idx <= len(starts) {
		return starts[len(starts)+idx], true
	}
	return 0, false
}

// skipValue returns the index just after the valid JSON value at i.
func skipValue(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '"':
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return len(s)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				j = skipValue(s, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(s)
	default:
		j := i
		for j < len(s) && s[j] != ',' && s[j] != '}' && s[j] != ']' && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
			j++
		}
		return j
	}
}

func decodeRaw(s string, i int) (any, bool) {
	if i >= len(s) {
		return nil, false
	}
	switch c := s[i]; {
	case c == '"':
		v, _, err := readString(s, i)
		return v, err == nil
	case c == 't':
		return true, true
	case c == 'f':
		return false, true
	case c == 'n':
		return nil, true
	case c == '{' || c == '[':
		var v any
		if err := json.Unmarshal([]byte(s[i:skipValue(s, i)]), &v); err != nil {
			return nil, false
		}
		return v, true
	default:
		f, err := strconv.ParseFloat(s[i:skipValue(s, i)], 64)
		return f, err == nil
	}
}
