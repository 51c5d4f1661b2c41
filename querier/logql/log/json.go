package log

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/prometheus/common/model"
)

// JSONParser is `| json`: every scalar field of the line's top-level object
// becomes a label, nested objects are flattened with '_', arrays are
// skipped, and keys are sanitized to valid label names. The first
// occurrence of a duplicate key wins.
type JSONParser struct {
	prefix []byte // sanitized path of the current object
	key    []byte // scratch for unescaping keys
	name   []byte // scratch for building label names
	lbs    *LabelsBuilder
	names  nameCaches
	cache  *nameCache          // names' cache for the current stream
	field  int                 // ordinal of the current scalar field in the line
	wanted map[string]struct{} // extraction hints; nil extracts everything
	found  int                 // wanted labels set in this run
}

// errFoundAll stops a hinted parse once every wanted label is set; like
// Loki, the rest of the line is then not checked for syntax errors.
var errFoundAll = errors.New("found all wanted labels")

// NewJSONParser returns the `| json` stage.
func NewJSONParser() *JSONParser {
	return &JSONParser{prefix: make([]byte, 0, 128)}
}

// Process implements Stage.
func (j *JSONParser) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	j.lbs = lbs
	j.prefix = j.prefix[:0]
	j.field, j.found = 0, 0
	j.cache = j.names.forBuilder(lbs)
	lbs.newParserRun()
	i := skipWS(line, 0)
	if i >= len(line) || line[i] != '{' {
		lbs.setError(ErrJSON, "json: line is not a JSON object")
		return line, true
	}
	if _, err := j.object(line, i, 0); err != nil && err != errFoundAll {
		lbs.setError(ErrJSON, err.Error())
	}
	j.lbs = nil
	return line, true
}

// object walks the object at d[i] and returns the index after it.
func (j *JSONParser) object(d []byte, i, depth int) (int, error) {
	if depth > maxJSONDepth {
		return 0, errJSONDepth
	}
	i = skipWS(d, i+1)
	if i < len(d) && d[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return 0, jsonErr(i, "expected object key")
		}
		kend, kesc, err := scanString(d, i)
		if err != nil {
			return 0, err
		}
		key := d[i+1 : kend-1]
		if kesc {
			j.key = appendUnescaped(j.key[:0], key)
			key = j.key
		}
		i = kend
		if i < len(d) && d[i] == ':' {
			i++
		} else {
			i = skipWS(d, i)
			if i >= len(d) || d[i] != ':' {
				return 0, jsonErr(i, "expected ':' after object key")
			}
			i++
		}
		i = skipWS(d, i)
		if i >= len(d) {
			return 0, jsonErr(i, "unexpected end of input")
		}
		plen := len(j.prefix)
		if d[i] == '{' {
			if plen > 0 {
				j.prefix = append(j.prefix, '_')
			}
			j.prefix = appendSanitized(j.prefix, key)
			if plen > 0 && len(j.prefix) == plen+1 {
				j.prefix = j.prefix[:plen] // blank key: no path element
			}
			i, err = j.object(d, i, depth+1)
			j.prefix = j.prefix[:plen]
			if err != nil {
				return 0, err
			}
		} else {
			kind, end, esc, err := scanValueEsc(d, i)
			if err != nil {
				return 0, err
			}
			if kind == jsonString || kind == jsonNumber || kind == jsonBool {
				if j.setField(key, d[i:end], kind, esc) {
					return 0, errFoundAll
				}
			}
			i = end
		}
		i = skipWS(d, i)
		if i >= len(d) {
			return 0, jsonErr(i, "unterminated object")
		}
		switch d[i] {
		case ',':
			i = skipWS(d, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, jsonErr(i, "expected ',' or '}'")
		}
	}
}

// setField sets one scalar field; with extraction hints it reports whether
// every wanted label has now been found.
func (j *JSONParser) setField(key, v []byte, kind jsonKind, esc bool) bool {
	k := j.field
	j.field++
	name, ok := j.cache.get(k, j.prefix, key)
	if !ok {
		j.name = append(j.name[:0], j.prefix...)
		if len(j.prefix) > 0 {
			j.name = append(j.name, '_')
		}
		j.name = appendSanitized(j.name, key)
		if len(j.name) > 0 && !(len(j.prefix) > 0 && len(j.name) == len(j.prefix)+1) {
			name = wantedName(j.wanted, j.lbs.parsedNameBytes(j.name))
		}
		j.cache.put(k, j.prefix, key, name)
	}
	if name == "" {
		return false
	}
	var set bool
	if kind == jsonString {
		set = j.lbs.setParsed(name, jsonString2(j.lbs, v[1:len(v)-1], esc))
	} else {
		set = j.lbs.setParsed(name, j.lbs.view(v))
	}
	if set && j.wanted != nil {
		j.found++
		return j.found >= len(j.wanted)
	}
	return false
}

// jsonString2 returns the decoded content of a JSON string, valid for the
// line; esc tells whether the content contains escapes.
func jsonString2(lbs *LabelsBuilder, s []byte, esc bool) string {
	if !esc && utf8.Valid(s) {
		return lbs.view(s)
	}
	start := len(lbs.arena)
	lbs.arena = appendUnescaped(lbs.arena, s)
	return lbs.internTail(start)
}

// jsonValue returns the label value of a scalar: strings decoded, numbers
// and booleans as written, null as "". The result is valid for the line.
func jsonValue(lbs *LabelsBuilder, v []byte, kind jsonKind) string {
	switch kind {
	case jsonString:
		s := v[1 : len(v)-1]
		return jsonString2(lbs, s, bytes.IndexByte(s, '\\') >= 0)
	case jsonNull:
		return ""
	default:
		return lbs.view(v)
	}
}

// JSONExpr extracts the value at Path into label Label: `| json l="a.b[0]"`.
type JSONExpr struct {
	Label string
	Path  string
}

type pathElem struct {
	key     string
	index   int
	isIndex bool
}

// parseJSONPath parses a json expression path such as `a.b`, `list[0]`,
// `m["k"]` or `a.b[1]["c d"]`.
func parseJSONPath(p string) ([]pathElem, error) {
	var out []pathElem
	i := 0
	readIdent := func() (string, error) {
		j := i
		for j < len(p) && p[j] != '.' && p[j] != '[' {
			j++
		}
		if j == i {
			return "", fmt.Errorf("empty field name at offset %d", i)
		}
		s := p[i:j]
		i = j
		return s, nil
	}
	if p == "" {
		return nil, fmt.Errorf("empty path")
	}
	if p[0] != '[' {
		s, err := readIdent()
		if err != nil {
			return nil, err
		}
		out = append(out, pathElem{key: s})
	}
	for i < len(p) {
		switch p[i] {
		case '.':
			i++
			s, err := readIdent()
			if err != nil {
				return nil, err
			}
			out = append(out, pathElem{key: s})
		case '[':
			i++
			if i < len(p) && p[i] == '"' {
				j := i + 1
				for j < len(p) && p[j] != '"' {
					if p[j] == '\\' {
						j++
					}
					j++
				}
				if j >= len(p) {
					return nil, fmt.Errorf("unterminated string at offset %d", i)
				}
				s, err := strconv.Unquote(p[i : j+1])
				if err != nil {
					return nil, fmt.Errorf("bad key at offset %d: %w", i, err)
				}
				i = j + 1
				if i >= len(p) || p[i] != ']' {
					return nil, fmt.Errorf("expected ']' at offset %d", i)
				}
				i++
				out = append(out, pathElem{key: s})
				continue
			}
			j := i
			for j < len(p) && '0' <= p[j] && p[j] <= '9' {
				j++
			}
			if j == i || j >= len(p) || p[j] != ']' {
				return nil, fmt.Errorf("expected array index or quoted key at offset %d", i)
			}
			n, err := strconv.Atoi(p[i:j])
			if err != nil {
				return nil, fmt.Errorf("bad index at offset %d: %w", i, err)
			}
			out = append(out, pathElem{index: n, isIndex: true})
			i = j + 1
		default:
			return nil, fmt.Errorf("unexpected %q at offset %d", p[i], i)
		}
	}
	return out, nil
}

// JSONExpressionParser is `| json a="x.y", b="list[0]"`: only the addressed
// values are extracted; objects and arrays become their JSON text; a
// missing path yields an empty label.
type JSONExpressionParser struct {
	labels []string
	paths  [][]pathElem
	key    []byte
}

// NewJSONExpressionParser returns the `| json <exprs>` stage.
func NewJSONExpressionParser(exprs []JSONExpr) (*JSONExpressionParser, error) {
	if len(exprs) == 0 {
		return nil, fmt.Errorf("json: no expression")
	}
	p := &JSONExpressionParser{}
	for _, e := range exprs {
		if !model.LegacyValidation.IsValidLabelName(e.Label) {
			return nil, fmt.Errorf("json: invalid extracted label name %q", e.Label)
		}
		path, err := parseJSONPath(e.Path)
		if err != nil {
			return nil, fmt.Errorf("json: expression %s=%q: %w", e.Label, e.Path, err)
		}
		p.labels = append(p.labels, e.Label)
		p.paths = append(p.paths, path)
	}
	return p, nil
}

// Process implements Stage.
func (p *JSONExpressionParser) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	lbs.newParserRun()
	i := skipWS(line, 0)
	if i >= len(line) || (line[i] != '{' && line[i] != '[') {
		lbs.setError(ErrJSON, "json: line is not a JSON object")
		for _, l := range p.labels {
			lbs.setParsed(lbs.ParsedName(l), "")
		}
		return line, true
	}
	for k, path := range p.paths {
		v, kind, err := p.lookup(line, i, path)
		name := lbs.ParsedName(p.labels[k])
		if err != nil {
			lbs.setError(ErrJSON, err.Error())
			lbs.setParsed(name, "")
			continue
		}
		switch kind {
		case jsonInvalid:
			lbs.setParsed(name, "")
		case jsonObject, jsonArray:
			lbs.setParsed(name, lbs.viewValidUTF8(v))
		default:
			lbs.setParsed(name, jsonValue(lbs, v, kind))
		}
	}
	return line, true
}

// lookup finds the value at path in d[i:]; jsonInvalid means not found.
func (p *JSONExpressionParser) lookup(d []byte, i int, path []pathElem) ([]byte, jsonKind, error) {
	for _, el := range path {
		i = skipWS(d, i)
		if i >= len(d) {
			return nil, jsonInvalid, jsonErr(i, "unexpected end of input")
		}
		var (
			found bool
			err   error
		)
		if el.isIndex {
			if d[i] != '[' {
				return nil, jsonInvalid, nil
			}
			i, found, err = seekIndex(d, i, el.index)
		} else {
			if d[i] != '{' {
				return nil, jsonInvalid, nil
			}
			i, found, err = p.seekKey(d, i, el.key)
		}
		if err != nil || !found {
			return nil, jsonInvalid, err
		}
	}
	kind, end, err := scanValue(d, i)
	if err != nil {
		return nil, jsonInvalid, err
	}
	return d[i:end], kind, nil
}

// seekKey returns the index of the value of key in the object at d[i].
func (p *JSONExpressionParser) seekKey(d []byte, i int, key string) (int, bool, error) {
	i = skipWS(d, i+1)
	if i < len(d) && d[i] == '}' {
		return 0, false, nil
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return 0, false, jsonErr(i, "expected object key")
		}
		kend, kesc, err := scanString(d, i)
		if err != nil {
			return 0, false, err
		}
		k := d[i+1 : kend-1]
		if kesc {
			p.key = appendUnescaped(p.key[:0], k)
			k = p.key
		}
		i = skipWS(d, kend)
		if i >= len(d) || d[i] != ':' {
			return 0, false, jsonErr(i, "expected ':' after object key")
		}
		i = skipWS(d, i+1)
		if string(k) == key {
			return i, true, nil
		}
		_, end, err := scanValue(d, i)
		if err != nil {
			return 0, false, err
		}
		i = skipWS(d, end)
		if i >= len(d) {
			return 0, false, jsonErr(i, "unterminated object")
		}
		switch d[i] {
		case ',':
			i = skipWS(d, i+1)
		case '}':
			return 0, false, nil
		default:
			return 0, false, jsonErr(i, "expected ',' or '}'")
		}
	}
}

// seekIndex returns the index of element n of the array at d[i].
func seekIndex(d []byte, i, n int) (int, bool, error) {
	i = skipWS(d, i+1)
	if i < len(d) && d[i] == ']' {
		return 0, false, nil
	}
	for k := 0; ; k++ {
		if k == n {
			return i, true, nil
		}
		_, end, err := scanValue(d, i)
		if err != nil {
			return 0, false, err
		}
		i = skipWS(d, end)
		if i >= len(d) {
			return 0, false, jsonErr(i, "unterminated array")
		}
		switch d[i] {
		case ',':
			i = skipWS(d, i+1)
		case ']':
			return 0, false, nil
		default:
			return 0, false, jsonErr(i, "expected ',' or ']'")
		}
	}
}

// UnpackParser is `| unpack`: it reverses Promtail's pack stage. String
// fields of the line's JSON object become labels and the "_entry" field
// replaces the line; labels are only applied when "_entry" is present.
type UnpackParser struct {
	entry []byte
	key   []byte
	names []string
	vals  []string
}

// NewUnpackParser returns the `| unpack` stage.
func NewUnpackParser() *UnpackParser { return &UnpackParser{} }

// Process implements Stage.
func (u *UnpackParser) Process(_ int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	lbs.newParserRun()
	u.names, u.vals = u.names[:0], u.vals[:0]
	d := line
	i := skipWS(d, 0)
	if i >= len(d) || d[i] != '{' {
		lbs.setError(ErrJSON, "unpack: line is not a JSON object")
		return line, true
	}
	packed := false
	i = skipWS(d, i+1)
	if i < len(d) && d[i] == '}' {
		return line, true
	}
	for {
		if i >= len(d) || d[i] != '"' {
			lbs.setError(ErrJSON, jsonErr(i, "expected object key").Error())
			return line, true
		}
		kend, kesc, err := scanString(d, i)
		if err != nil {
			lbs.setError(ErrJSON, err.Error())
			return line, true
		}
		key := d[i+1 : kend-1]
		if kesc {
			u.key = appendUnescaped(u.key[:0], key)
			key = u.key
		}
		i = skipWS(d, kend)
		if i >= len(d) || d[i] != ':' {
			lbs.setError(ErrJSON, jsonErr(i, "expected ':' after object key").Error())
			return line, true
		}
		i = skipWS(d, i+1)
		kind, end, err := scanValue(d, i)
		if err != nil {
			lbs.setError(ErrJSON, err.Error())
			return line, true
		}
		if kind == jsonString {
			if string(key) == "_entry" {
				u.entry = appendUnescaped(u.entry[:0], d[i+1:end-1])
				packed = true
			} else if name := sanitizedParsedName(lbs, key); name != "" {
				u.names = append(u.names, name)
				u.vals = append(u.vals, jsonValue(lbs, d[i:end], kind))
			}
		}
		i = skipWS(d, end)
		if i >= len(d) {
			lbs.setError(ErrJSON, jsonErr(i, "unterminated object").Error())
			return line, true
		}
		if d[i] == '}' {
			break
		}
		if d[i] != ',' {
			lbs.setError(ErrJSON, jsonErr(i, "expected ',' or '}'").Error())
			return line, true
		}
		i = skipWS(d, i+1)
	}
	if !packed {
		return line, true
	}
	for k, n := range u.names {
		lbs.setParsed(n, u.vals[k])
	}
	return u.entry, true
}

// sanitizedParsedName sanitizes key and resolves collisions with the
// stream labels, without allocating for names seen before.
func sanitizedParsedName(lbs *LabelsBuilder, key []byte) string {
	start := len(lbs.arena)
	lbs.arena = appendSanitized(lbs.arena, key)
	name := lbs.arena[start:]
	lbs.arena = lbs.arena[:start]
	if len(name) == 0 {
		return ""
	}
	return lbs.parsedNameBytes(name)
}
