package push

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
)

// The JSON push body is decoded by a small hand-written scanner rather than
// encoding/json: it decodes straight into Request without an intermediate
// tree of maps and [][]any (three or more allocations per entry), lets lines
// alias the body when they have no escapes, and knows where it is, so an
// error can say "stream 3 entry 17: timestamp must be a string". It accepts
// exactly the JSON grammar (RFC 8259); the tests check it against
// encoding/json on random input.

// maxJSONDepth bounds the nesting of skipped values, so that a body of
// "[[[[..." cannot exhaust the stack.
const maxJSONDepth = 10000

// DecodeJSON decodes Loki's JSON push body into req, reusing req's slices.
// Entry.Line aliases b unless the line has escapes.
func DecodeJSON(b []byte, req *Request) error {
	d := scratchPool.Get().(*Decoder)
	err := d.DecodeJSON(b, req)
	d.arena = nil // unescaped lines in it now belong to req
	scratchPool.Put(d)
	return err
}

// DecodeJSON is like the package function DecodeJSON, except that lines
// with escapes are unescaped into d's buffer and are valid only until the
// next call on d.
func (d *Decoder) DecodeJSON(b []byte, req *Request) error {
	d.arena = d.arena[:0]
	s := jsonScanner{b: b, d: d}
	if err := s.request(req); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return nil
}

type jsonScanner struct {
	b   []byte
	pos int
	d   *Decoder
}

// errorf reports a syntax error at the current byte offset.
func (s *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("byte %d: "+format, append([]any{s.pos}, args...)...)
}

// errEnd is what nextKey and nextElem return at the end of an object or array.
var errEnd = errors.New("end")

func (s *jsonScanner) request(req *Request) error {
	streams := req.Streams[:0]
	defer func() { setStreams(req, streams) }()
	s.ws()
	if s.peek() != '{' {
		return s.errorf("the body must be a JSON object, got %s", s.kind())
	}
	s.pos++
	for n := 0; ; n++ {
		key, err := s.nextKey(n)
		if err == errEnd {
			break
		}
		if err != nil {
			return err
		}
		if string(key) != "streams" {
			if err := s.skipValue(0); err != nil {
				return err
			}
			continue
		}
		streams = streams[:0] // a repeated key keeps its last value
		if s.null() {
			continue
		}
		if s.peek() != '[' {
			return s.errorf("streams must be an array, got %s", s.kind())
		}
		s.pos++
		for i := 0; ; i++ {
			if err := s.nextElem(i); err == errEnd {
				break
			} else if err != nil {
				return fmt.Errorf("stream %d: %w", i, err)
			}
			streams = grow(streams)
			if err := s.stream(i, &streams[i]); err != nil {
				return err
			}
		}
	}
	s.ws()
	if s.pos != len(s.b) {
		return s.errorf("unexpected %s after the JSON object", s.kind())
	}
	return nil
}

// stream decodes stream number si. Its errors name the stream (and entry).
func (s *jsonScanner) stream(si int, st *Stream) error {
	if err := s.streamFields(si, st); err != nil {
		if _, ok := err.(*entryError); ok {
			return err
		}
		return fmt.Errorf("stream %d: %w", si, err)
	}
	return nil
}

// entryError is an error already located at a stream and entry.
type entryError struct {
	si, ei int
	err    error
}

func (e *entryError) Error() string { return fmt.Sprintf("stream %d entry %d: %v", e.si, e.ei, e.err) }
func (e *entryError) Unwrap() error { return e.err }

func (s *jsonScanner) streamFields(si int, st *Stream) error {
	if s.peek() != '{' {
		return s.errorf("must be an object with \"stream\" and \"values\", got %s", s.kind())
	}
	s.pos++
	entries := st.Entries[:0]
	defer func() { st.Entries = setEntries(st.Entries, entries) }()
	sawLabels := false
	for n := 0; ; n++ {
		key, err := s.nextKey(n)
		if err == errEnd {
			break
		}
		if err != nil {
			return err
		}
		switch string(key) {
		case "stream":
			ls, err := s.streamLabels(st.Labels)
			if err != nil {
				return err
			}
			st.Labels, sawLabels = ls, true
		case "values":
			entries = entries[:0]
			if s.null() {
				continue
			}
			if s.peek() != '[' {
				return s.errorf("values must be an array, got %s", s.kind())
			}
			s.pos++
			for i := 0; ; i++ {
				if err := s.nextElem(i); err == errEnd {
					break
				} else if err != nil {
					return &entryError{si, i, err}
				}
				entries = grow(entries)
				if err := s.entry(&entries[i]); err != nil {
					return &entryError{si, i, err}
				}
			}
		default:
			if err := s.skipValue(0); err != nil {
				return err
			}
		}
	}
	if !sawLabels {
		st.Labels = "{}"
	}
	return nil
}

// streamLabels decodes the "stream" object into its canonical label string.
// prev is the string the reused Stream held: when equal, it is kept, saving
// the allocation for a client that pushes the same streams again and again.
func (s *jsonScanner) streamLabels(prev string) (string, error) {
	d := s.d
	ls := d.slabels[:0]
	defer func() { clear(ls); d.slabels = ls[:0] }()
	if !s.null() {
		if s.peek() != '{' {
			return "", s.errorf("stream must be an object of label names to string values, got %s", s.kind())
		}
		s.pos++
		for n := 0; ; n++ {
			key, err := s.nextKey(n)
			if err == errEnd {
				break
			}
			if err != nil {
				return "", err
			}
			if s.peek() != '"' {
				return "", s.errorf("stream label %q must be a string, got %s", key, s.kind())
			}
			value, err := s.str()
			if err != nil {
				return "", err
			}
			if !validLabelName(view(key)) {
				return "", fmt.Errorf("stream label name %q must match [a-zA-Z_][a-zA-Z0-9_]*", key)
			}
			if !utf8.Valid(value) {
				return "", fmt.Errorf("stream label %q: value is not valid UTF-8", key)
			}
			ls = append(ls, labels.Label{Name: view(key), Value: view(value)})
		}
	}
	slices.SortStableFunc(ls, func(a, b labels.Label) int { return strings.Compare(a.Name, b.Name) })
	// Drop all but the last of each repeated name.
	w := 0
	for i := range ls {
		if i+1 < len(ls) && ls[i+1].Name == ls[i].Name {
			continue
		}
		ls[w] = ls[i]
		w++
	}
	d.lbuf = appendLabelString(d.lbuf[:0], ls[:w])
	if prev == string(d.lbuf) {
		return prev, nil
	}
	return string(d.lbuf), nil
}

// view returns an unsafe string view of b, for use while b is unchanged.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (s *jsonScanner) entry(e *Entry) error {
	if s.peek() != '[' {
		return s.errorf("must be an array [timestamp, line] or [timestamp, line, metadata], got %s", s.kind())
	}
	s.pos++
	e.Timestamp, e.Line, e.Metadata = 0, nil, labels.EmptyLabels()
	i := 0
	for ; ; i++ {
		if err := s.nextElem(i); err == errEnd {
			break
		} else if err != nil {
			return err
		}
		switch i {
		case 0:
			if s.peek() != '"' {
				return s.errorf("timestamp must be a string of Unix nanoseconds, got %s", s.kind())
			}
			ts, err := s.str()
			if err != nil {
				return err
			}
			var ok bool
			if e.Timestamp, ok = parseInt64(ts); !ok {
				return fmt.Errorf("timestamp %q is not an integer of Unix nanoseconds", ts)
			}
		case 1:
			if s.peek() != '"' {
				return s.errorf("line must be a string, got %s", s.kind())
			}
			line, err := s.str()
			if err != nil {
				return err
			}
			e.Line = line
		case 2:
			md, err := s.metadata()
			if err != nil {
				return err
			}
			e.Metadata = md
		default:
			return s.errorf("has more than 3 elements; want [timestamp, line] or [timestamp, line, metadata]")
		}
	}
	if i < 2 {
		return fmt.Errorf("has %d elements; want [timestamp, line] or [timestamp, line, metadata]", i)
	}
	return nil
}

func (s *jsonScanner) metadata() (labels.Labels, error) {
	if s.null() {
		return labels.EmptyLabels(), nil
	}
	if s.peek() != '{' {
		return labels.EmptyLabels(), s.errorf("structured metadata must be an object of strings, got %s", s.kind())
	}
	s.pos++
	d := s.d
	meta := d.meta[:0]
	defer func() { clear(meta); d.meta = meta[:0] }()
	for n := 0; ; n++ {
		key, err := s.nextKey(n)
		if err == errEnd {
			break
		}
		if err != nil {
			return labels.EmptyLabels(), err
		}
		if s.peek() != '"' {
			return labels.EmptyLabels(), s.errorf("structured metadata %q must be a string, got %s", key, s.kind())
		}
		value, err := s.str()
		if err != nil {
			return labels.EmptyLabels(), err
		}
		meta = append(meta, labels.Label{Name: view(key), Value: view(value)}) // copied when the Labels are built
	}
	return d.metadataLabels(meta), nil
}

// parseInt64 parses a decimal integer with an optional sign, as
// strconv.ParseInt(s, 10, 64) does, without converting b to a string.
func parseInt64(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (1<<63)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
		if u > 1<<63 {
			return 0, false
		}
	}
	if neg {
		return int64(-u), true // -(1<<63) wraps to MinInt64 exactly
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// ws skips JSON whitespace.
func (s *jsonScanner) ws() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end.
func (s *jsonScanner) peek() byte {
	if s.pos < len(s.b) {
		return s.b[s.pos]
	}
	return 0
}

// null consumes a null literal if one is next.
func (s *jsonScanner) null() bool {
	if s.pos+4 <= len(s.b) && string(s.b[s.pos:s.pos+4]) == "null" {
		s.pos += 4
		return true
	}
	return false
}

// kind names the JSON value starting at the current position.
func (s *jsonScanner) kind() string {
	switch c := s.peek(); {
	case s.pos >= len(s.b):
		return "end of input"
	case c == '{':
		return "object"
	case c == '[':
		return "array"
	case c == '"':
		return "string"
	case c == 't' || c == 'f':
		return "boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "number"
	default:
		return fmt.Sprintf("invalid character %q", c)
	}
}

// nextKey moves to the next member of an object whose '{' and n members
// have been read, returning its key with the ':' consumed and whitespace
// skipped, or errEnd after the closing '}'.
func (s *jsonScanner) nextKey(n int) ([]byte, error) {
	s.ws()
	if n > 0 {
		switch s.peek() {
		case ',':
			s.pos++
			s.ws()
		case '}':
			s.pos++
			return nil, errEnd
		default:
			return nil, s.errorf("expected ',' or '}' in object, got %s", s.kind())
		}
	} else if s.peek() == '}' {
		s.pos++
		return nil, errEnd
	}
	if s.peek() != '"' {
		return nil, s.errorf("expected a string key in object, got %s", s.kind())
	}
	key, err := s.str()
	if err != nil {
		return nil, err
	}
	s.ws()
	if s.peek() != ':' {
		return nil, s.errorf("expected ':' after object key %q, got %s", key, s.kind())
	}
	s.pos++
	s.ws()
	return key, nil
}

// nextElem moves to the next element of an array whose '[' and n elements
// have been read, skipping whitespace, or returns errEnd after the ']'.
func (s *jsonScanner) nextElem(n int) error {
	s.ws()
	if n > 0 {
		switch s.peek() {
		case ',':
			s.pos++
			s.ws()
			return nil
		case ']':
			s.pos++
			return errEnd
		default:
			return s.errorf("expected ',' or ']' in array, got %s", s.kind())
		}
	}
	if s.peek() == ']' {
		s.pos++
		return errEnd
	}
	return nil
}

// str reads the string at the current position ('"' included). Without
// escapes the result aliases the input; with escapes it is unescaped into
// the decoder's arena. Either way its capacity ends with it. Bytes that are
// not valid UTF-8 are kept as they are.
func (s *jsonScanner) str() ([]byte, error) {
	start := s.pos + 1
	i := start
	for ; i < len(s.b); i++ {
		c := s.b[i]
		if c == '"' {
			s.pos = i + 1
			return s.b[start:i:i], nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			s.pos = i
			return nil, s.errorf("control character %q in string", c)
		}
	}
	if i >= len(s.b) {
		s.pos = start - 1
		return nil, s.errorf("unterminated string")
	}
	// Slow path: copy what was scanned, then unescape the rest.
	d := s.d
	from := len(d.arena)
	d.arena = append(d.arena, s.b[start:i]...)
	for i < len(s.b) {
		c := s.b[i]
		switch {
		case c == '"':
			s.pos = i + 1
			out := d.arena[from:len(d.arena):len(d.arena)]
			return out, nil
		case c < 0x20:
			s.pos = i
			return nil, s.errorf("control character %q in string", c)
		case c != '\\':
			d.arena = append(d.arena, c)
			i++
			continue
		}
		if i+1 >= len(s.b) {
			break
		}
		switch e := s.b[i+1]; e {
		case '"', '\\', '/':
			d.arena = append(d.arena, e)
		case 'b':
			d.arena = append(d.arena, '\b')
		case 'f':
			d.arena = append(d.arena, '\f')
		case 'n':
			d.arena = append(d.arena, '\n')
		case 'r':
			d.arena = append(d.arena, '\r')
		case 't':
			d.arena = append(d.arena, '\t')
		case 'u':
			r, ok := hex4(s.b, i+2)
			if !ok {
				s.pos = i
				return nil, s.errorf(`invalid \u escape in string`)
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A valid pair combines; anything else is U+FFFD, as in encoding/json.
				r2, ok := rune(-1), false
				if i+1 < len(s.b) && s.b[i] == '\\' && s.b[i+1] == 'u' {
					r2, ok = hex4(s.b, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			d.arena = utf8.AppendRune(d.arena, r)
			continue
		default:
			s.pos = i
			return nil, s.errorf("invalid escape %q in string", []byte{'\\', e})
		}
		i += 2
	}
	s.pos = start - 1
	return nil, s.errorf("unterminated string")
}

// hex4 decodes the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipValue skips one JSON value of any kind, checking its syntax.
func (s *jsonScanner) skipValue(depth int) error {
	if depth > maxJSONDepth {
		return s.errorf("JSON nested deeper than %d levels", maxJSONDepth)
	}
	switch c := s.peek(); {
	case c == '{':
		s.pos++
		for n := 0; ; n++ {
			if _, err := s.nextKey(n); err == errEnd {
				return nil
			} else if err != nil {
				return err
			}
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
		}
	case c == '[':
		s.pos++
		for n := 0; ; n++ {
			if err := s.nextElem(n); err == errEnd {
				return nil
			} else if err != nil {
				return err
			}
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
		}
	case c == '"':
		mark := len(s.d.arena)
		_, err := s.str()
		s.d.arena = s.d.arena[:mark] // nothing keeps a skipped string
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	default:
		return s.errorf("expected a JSON value, got %s", s.kind())
	}
}

func (s *jsonScanner) literal(lit string) error {
	if s.pos+len(lit) > len(s.b) || string(s.b[s.pos:s.pos+len(lit)]) != lit {
		return s.errorf("invalid literal, want %s", lit)
	}
	s.pos += len(lit)
	return nil
}

// number skips a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() error {
	if s.peek() == '-' {
		s.pos++
	}
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return s.errorf("invalid number")
	}
	if s.peek() == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.errorf("invalid number: no digits after '.'")
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.pos++
		if c := s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if s.digits() == 0 {
			return s.errorf("invalid number: no digits in exponent")
		}
	}
	return nil
}

func (s *jsonScanner) digits() int {
	n := 0
	for s.pos < len(s.b) && s.b[s.pos] >= '0' && s.b[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}
