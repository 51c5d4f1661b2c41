package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func TestDecodeJSONReadsLokiPushBodies(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *Request
	}{
		{
			name: "documented example",
			body: `{"streams":[{"stream":{"app":"x"},"values":[["1700000000000000001","line one"],["1700000000000000002","line two",{"trace_id":"abc"}]]}]}`,
			want: &Request{Streams: []Stream{{Labels: `{app="x"}`, Entries: []Entry{
				{Timestamp: 1700000000000000001, Line: []byte("line one")},
				{Timestamp: 1700000000000000002, Line: []byte("line two"), Metadata: labels.FromStrings("trace_id", "abc")},
			}}}},
		},
		{
			name: "stream labels become the sorted canonical label string",
			body: `{"streams":[{"stream":{"z":"1","a":"q\"uote","m":"é\n"},"values":[]}]}`,
			want: &Request{Streams: []Stream{{Labels: `{a="q\"uote", m="é\n", z="1"}`}}},
		},
		{
			name: "escapes in lines are decoded",
			body: `{"streams":[{"stream":{"a":"b"},"values":[["1","tab\there \"q\" \\ \/ \u00e9 \ud83d\ude00 \b\f\r\n"]]}]}`,
			want: &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{
				{Timestamp: 1, Line: []byte("tab\there \"q\" \\ / é 😀 \b\f\r\n")},
			}}}},
		},
		{
			name: "lone surrogates become U+FFFD as in encoding/json",
			body: `{"streams":[{"stream":{"a":"b"},"values":[["1","\ud800 \udc00 \ud800\u0041"]]}]}`,
			want: &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{
				{Timestamp: 1, Line: []byte("\uFFFD \uFFFD \uFFFDA")},
			}}}},
		},
		{
			name: "whitespace, unknown keys and nested unknown values are skipped",
			body: " {\n\"extra\": {\"x\": [1, -2.5e+3, true, false, null, \"s\", {}]},\n \"streams\" : [ { \"other\": [[[]]], \"values\" : [ [ \"-5\" , \"neg\" , { } ] ] , \"stream\" : { \"a\" : \"b\" } } ] } \r\n",
			want: &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{{Timestamp: -5, Line: []byte("neg")}}}}},
		},
		{
			name: "null streams, stream, values and metadata mean empty",
			body: `{"streams":[{"stream":null,"values":null},{"stream":{"a":"b"},"values":[["0","",null]]}]}`,
			want: &Request{Streams: []Stream{{Labels: `{}`}, {Labels: `{a="b"}`, Entries: []Entry{{}}}}},
		},
		{
			name: "missing stream object is the empty label set",
			body: `{"streams":[{"values":[["1","x"]]}]}`,
			want: &Request{Streams: []Stream{{Labels: `{}`, Entries: []Entry{{Timestamp: 1, Line: []byte("x")}}}}},
		},
		{
			name: "repeated keys keep the last value",
			body: `{"streams":[{"stream":{"a":"1","a":"2"},"values":[["1","x",{"k":"1","k":"2"}]]}]}`,
			want: &Request{Streams: []Stream{{Labels: `{a="2"}`, Entries: []Entry{{Timestamp: 1, Line: []byte("x"), Metadata: labels.FromStrings("k", "2")}}}}},
		},
		{
			name: "timestamp extremes and explicit plus sign",
			body: `{"streams":[{"stream":{"a":"b"},"values":[["9223372036854775807","max"],["-9223372036854775808","min"],["+7","plus"]]}]}`,
			want: &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{
				{Timestamp: 9223372036854775807, Line: []byte("max")},
				{Timestamp: -9223372036854775808, Line: []byte("min")},
				{Timestamp: 7, Line: []byte("plus")},
			}}}},
		},
		{
			name: "no streams",
			body: `{"streams":[]}`,
			want: &Request{},
		},
		{
			name: "empty object",
			body: `{}`,
			want: &Request{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Request
			if err := DecodeJSON([]byte(tt.body), &got); err != nil {
				t.Fatal(err)
			}
			requireEqualRequests(t, &got, tt.want)
		})
	}
}

func TestDecodeJSONRejectsMalformedBodies(t *testing.T) {
	const pre = `{"streams":[{"stream":{"a":"b"},"values":[["1","ok"],`
	tests := []struct {
		name string
		body string
		want string // substring of the error
	}{
		{"timestamp as number", pre + `[1700000000000000000,"x"]]}]}`, "stream 0 entry 1: byte 54: timestamp must be a string of Unix nanoseconds, got number"},
		{"timestamp not an integer", pre + `["1.5","x"]]}]}`, `stream 0 entry 1: timestamp "1.5" is not an integer of Unix nanoseconds`},
		{"timestamp as RFC3339", pre + `["2024-01-01T00:00:00Z","x"]]}]}`, `entry 1: timestamp "2024-01-01T00:00:00Z" is not an integer`},
		{"timestamp overflowing int64", pre + `["9223372036854775808","x"]]}]}`, `timestamp "9223372036854775808" is not an integer`},
		{"empty timestamp", pre + `["","x"]]}]}`, `timestamp "" is not an integer`},
		{"line as number", pre + `["1",5]]}]}`, "entry 1: byte 58: line must be a string, got number"},
		{"line as null", pre + `["1",null]]}]}`, "line must be a string, got null"},
		{"entry with one element", pre + `["1"]]}]}`, "entry 1: has 1 elements; want [timestamp, line]"},
		{"entry with four elements", pre + `["1","x",{},"y"]]}]}`, "entry 1: byte 65: has more than 3 elements"},
		{"entry as object", pre + `{"ts":"1"}]}]}`, "entry 1: byte 53: must be an array [timestamp, line]"},
		{"metadata as array", pre + `["1","x",["k","v"]]]}]}`, "structured metadata must be an object of strings, got array"},
		{"metadata value as number", pre + `["1","x",{"k":1}]]}]}`, `structured metadata "k" must be a string, got number`},
		{"stream label value as number", `{"streams":[{"stream":{"a":1}}]}`, `stream 0: byte 27: stream label "a" must be a string, got number`},
		{"stream label name invalid", `{"streams":[{"stream":{"a":"b"}},{"stream":{"k8s.pod":"b"}}]}`, `stream 1: stream label name "k8s.pod" must match`},
		{"stream label name empty", `{"streams":[{"stream":{"":"b"}}]}`, `stream label name "" must match`},
		{"stream label value invalid UTF-8", "{\"streams\":[{\"stream\":{\"a\":\"\xff\"}}]}", `stream label "a": value is not valid UTF-8`},
		{"stream as string", `{"streams":[{"stream":"{a=\"b\"}"}]}`, "stream must be an object of label names to string values, got string"},
		{"streams as object", `{"streams":{}}`, "streams must be an array, got object"},
		{"stream as array", `{"streams":[[]]}`, `stream 0: byte 12: must be an object with "stream" and "values", got array`},
		{"values as object", `{"streams":[{"values":{}}]}`, "values must be an array, got object"},
		{"body not an object", `[]`, "byte 0: the body must be a JSON object, got array"},
		{"empty body", ``, "the body must be a JSON object, got end of input"},
		{"trailing data", `{"streams":[]} {}`, "byte 15: unexpected object after the JSON object"},
		{"truncated", pre, "stream 0 entry 1: byte 53: must be an array [timestamp, line] or [timestamp, line, metadata], got end of input"},
		{"unterminated string", `{"streams":[{"values":[["1","abc`, "stream 0 entry 0: byte 28: unterminated string"},
		{"raw newline in string", "{\"streams\":[{\"values\":[[\"1\",\"a\nb\"]]}]}", `byte 30: control character '\n' in string`},
		{"invalid escape", `{"streams":[{"values":[["1","a\qb"]]}]}`, `invalid escape "\\q" in string`},
		{"short unicode escape", `{"streams":[{"values":[["1","\u12"]]}]}`, `invalid \u escape in string`},
		{"missing colon", `{"streams" []}`, `byte 11: expected ':' after object key "streams", got array`},
		{"missing comma in object", `{"a":1 "streams":[]}`, "byte 7: expected ',' or '}' in object, got string"},
		{"trailing comma in array", `{"streams":[{},]}`, `stream 1: byte 15: must be an object with "stream" and "values", got invalid character ']'`},
		{"trailing comma in skipped array", `{"x":[1,]}`, "byte 8: expected a JSON value, got invalid character ']'"},
		{"trailing comma in object", `{"streams":[],}`, "byte 14: expected a string key in object, got invalid character '}'"},
		{"bad literal in skipped value", `{"x":tru}`, "byte 5: invalid literal, want true"},
		{"bad number in skipped value", `{"x":01}`, "byte 6: expected ',' or '}' in object, got number"},
		{"number without digits after dot", `{"x":1.}`, "invalid number: no digits after '.'"},
		{"number without exponent digits", `{"x":1e}`, "invalid number: no digits in exponent"},
		{"lone minus", `{"x":-}`, "byte 6: invalid number"},
		{"nesting too deep", `{"x":` + strings.Repeat("[", maxJSONDepth+2), "JSON nested deeper than 10000 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req Request
			err := DecodeJSON([]byte(tt.body), &req)
			if err == nil {
				t.Fatalf("decoded %+v, want an error containing %q", req, tt.want)
			}
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("error %v does not match ErrBadRequest", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestDecodeJSONLinesAliasBodyUnlessEscaped(t *testing.T) {
	body := []byte(`{"streams":[{"stream":{"a":"b"},"values":[["1","plain"],["2","esc\naped"]]}]}`)
	var req Request
	if err := DecodeJSON(body, &req); err != nil {
		t.Fatal(err)
	}
	plain, esc := req.Streams[0].Entries[0].Line, req.Streams[0].Entries[1].Line
	if &body[bytes.Index(body, []byte("plain"))] != &plain[0] {
		t.Error("unescaped line was copied instead of aliasing the body")
	}
	if cap(plain) != len(plain) || cap(esc) != len(esc) {
		t.Error("line capacity exceeds its length: an append would overwrite other data")
	}
	// The package function hands the unescaped line to req: a second call
	// must not overwrite it.
	var other Request
	if err := DecodeJSON([]byte(`{"streams":[{"stream":{"a":"b"},"values":[["1","XXXXXX\nXXX"]]}]}`), &other); err != nil {
		t.Fatal(err)
	}
	if string(esc) != "esc\naped" {
		t.Errorf("escaped line changed to %q after another DecodeJSON call", esc)
	}
}

// refDecodeJSON is an independent decoder of the push JSON built on
// encoding/json, to check DecodeJSON against. dup reports a repeated object
// key, where the two may legitimately differ: DecodeJSON checks the
// earlier values too.
func refDecodeJSON(b []byte) (req *Request, dup bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	top, err := refValue(dec, &dup)
	if err != nil {
		return nil, dup, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, dup, fmt.Errorf("trailing data")
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, dup, fmt.Errorf("not an object")
	}
	req = &Request{}
	streams, ok := obj["streams"].([]any)
	if !ok && obj["streams"] != nil {
		return nil, dup, fmt.Errorf("streams not an array")
	}
	validName := regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	for _, sv := range streams {
		so, ok := sv.(map[string]any)
		if !ok {
			return nil, dup, fmt.Errorf("stream not an object")
		}
		var st Stream
		lm, ok := so["stream"].(map[string]any)
		if !ok && so["stream"] != nil {
			return nil, dup, fmt.Errorf("stream labels not an object")
		}
		m := map[string]string{}
		for k, v := range lm {
			s, ok := v.(string)
			if !ok || !validName.MatchString(k) {
				return nil, dup, fmt.Errorf("bad stream label")
			}
			m[k] = s
		}
		st.Labels = labels.FromMap(m).String()
		values, ok := so["values"].([]any)
		if !ok && so["values"] != nil {
			return nil, dup, fmt.Errorf("values not an array")
		}
		for _, ev := range values {
			ea, ok := ev.([]any)
			if !ok || len(ea) < 2 || len(ea) > 3 {
				return nil, dup, fmt.Errorf("bad entry")
			}
			tss, ok1 := ea[0].(string)
			line, ok2 := ea[1].(string)
			if !ok1 || !ok2 {
				return nil, dup, fmt.Errorf("bad entry element")
			}
			ts, err := strconv.ParseInt(tss, 10, 64)
			if err != nil {
				return nil, dup, err
			}
			e := Entry{Timestamp: ts, Line: []byte(line)}
			if len(ea) == 3 && ea[2] != nil {
				mo, ok := ea[2].(map[string]any)
				if !ok {
					return nil, dup, fmt.Errorf("metadata not an object")
				}
				mm := map[string]string{}
				for k, v := range mo {
					s, ok := v.(string)
					if !ok {
						return nil, dup, fmt.Errorf("metadata value not a string")
					}
					mm[k] = s
				}
				e.Metadata = labels.FromMap(mm)
			}
			st.Entries = append(st.Entries, e)
		}
		req.Streams = append(req.Streams, st)
	}
	return req, dup, nil
}

// refValue builds a generic value from tokens, noting repeated keys.
func refValue(dec *json.Decoder, dup *bool) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		m := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			v, err := refValue(dec, dup)
			if err != nil {
				return nil, err
			}
			if _, seen := m[k]; seen {
				*dup = true
			}
			m[k] = v
		}
		_, err := dec.Token()
		return m, err
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := refValue(dec, dup)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token()
		return a, err
	}
	return tok, nil
}

func TestDecodeJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, body := range jsonSeeds() {
		checkJSONAgainstReference(t, []byte(body))
	}
}

// checkJSONAgainstReference requires DecodeJSON and refDecodeJSON to agree
// on whether b is acceptable and, if so, on what it holds. Bodies that are
// not UTF-8 (encoding/json rewrites them; DecodeJSON keeps the bytes) and
// bodies with repeated keys are only decoded.
func checkJSONAgainstReference(t *testing.T, b []byte) {
	t.Helper()
	var got Request
	err := DecodeJSON(b, &got)
	if err != nil && !errors.Is(err, ErrBadRequest) {
		t.Fatalf("error %v does not match ErrBadRequest", err)
	}
	if !isUTF8AndNoDeepNesting(b) {
		return
	}
	want, dup, refErr := refDecodeJSON(b)
	if dup {
		if err == nil && refErr != nil {
			t.Fatalf("DecodeJSON accepted %q, encoding/json rejects it: %v", b, refErr)
		}
		return
	}
	if (err == nil) != (refErr == nil) {
		t.Fatalf("DecodeJSON(%q) error = %v, reference error = %v", b, err, refErr)
	}
	if err == nil {
		if diff := diffRequests(&got, want); diff != "" {
			t.Fatalf("DecodeJSON(%q) differs from reference: %s", b, diff)
		}
	}
}

func isUTF8AndNoDeepNesting(b []byte) bool {
	return bytes.Equal(b, bytes.ToValidUTF8(b, nil)) && bytes.Count(b, []byte("[")) < 1000 && bytes.Count(b, []byte("{")) < 1000
}

func jsonSeeds() []string {
	return []string{
		`{"streams":[{"stream":{"app":"x"},"values":[["1700000000000000001","line one"],["1700000000000000002","line two",{"trace_id":"abc"}]]}]}`,
		`{"streams":[{"stream":{"z":"1","a":"q\"uote"},"values":[["-1","\u00e9\ud83d\ude00\n"]]}],"x":[1,2.5e3,true,null]}`,
		`{"streams":[{"stream":null,"values":null},{"values":[["0","",null]]}]}`,
		`{"streams":[{"stream":{"a":"1","a":"2"},"values":[["1","x",{"k":"1","k":"2"}]]}]}`,
		`{"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]}`,
		`{"streams":[{"stream":{"a.b":"c"}}]}`,
		`{"streams":[{"values":[["1","x","y"]]}]}`,
		`{"streams":{}}`,
		`{"streams":[]} x`,
		`  {"streams" : [ ] }  `,
		`{"streams":[{"values":[["1","\ud800\u0041"]]}]}`,
		`{"a":{"b":{"c":[[[]]]}},"streams":[{"stream":{},"values":[]}]}`,
		`{"x":-0.0e-0,"y":1E+2,"z":"\/\b\f\r\t"}`,
		`{"x":01}`,
		`[]`,
		``,
		`null`,
	}
}
