package push

import (
	"errors"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// The fuzz targets double as cheap regression tests: without -fuzz, go test
// runs only the seeds below (and testdata/fuzz, if any).

func FuzzDecodeProto(f *testing.F) {
	f.Add(EncodeProto(nil, benchRequest(2, 3, 20, 2)))
	f.Add(pbRequest(pbStream(`{a="b"}`, pbEntry(pbTimestamp(-5, 7), "x", pbPair("k", "v"), pbPair("k", "w")))))
	f.Add(unknownFields(pbRequest(unknownFields(pbStream(`{a="b"}`, unknownFields(pbEntry(unknownFields(pbTimestamp(1, 2)), "l")))))))
	f.Add(pbRequest(pbStream(`{a="b"}`, pbEntry(pbTimestamp(9223372036, 854775807), ""))))
	f.Add([]byte{0x0a, 0x02, 0x12, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req Request
		if err := DecodeProto(b, &req); err != nil {
			return
		}
		// What decodes must re-encode to something that decodes the same,
		// and the encoding of that is stable.
		enc := EncodeProto(nil, &req)
		var again Request
		if err := DecodeProto(enc, &again); err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
		requireEqualRequests(t, &again, &req)
		if enc2 := EncodeProto(nil, &again); string(enc2) != string(enc) {
			t.Fatalf("encoding is not stable:\n%x\n%x", enc, enc2)
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range jsonSeeds() {
		f.Add([]byte(s))
	}
	f.Add([]byte(testJSON))
	f.Add(appendJSON(nil, benchRequest(2, 2, 30, 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkJSONAgainstReference(t, b)
		var req Request
		if err := DecodeJSON(b, &req); err != nil {
			return
		}
		for _, s := range req.Streams {
			if _, err := ParseLabels(s.Labels); err != nil {
				t.Fatalf("stream labels %q do not parse: %v", s.Labels, err)
			}
		}
		var again Request
		if err := DecodeJSON(appendJSON(nil, &req), &again); err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
		requireEqualRequests(t, &again, &req)
		var viaProto Request
		if err := DecodeProto(EncodeProto(nil, &req), &viaProto); err != nil {
			t.Fatalf("protobuf encoding of a JSON request does not decode: %v", err)
		}
		requireEqualRequests(t, &viaProto, &req)
	})
}

func FuzzParseLabels(f *testing.F) {
	for _, s := range []string{
		`{app="api", env="prod"}`, `{}`, `{a="b",}`, `{a='x\'y', b="\u00e9\x41\n"}`, "{a=`raw`}",
		`{a="b", a="c"}`, `{a="b"`, `{"a.b"="c"}`, `up{a="b"}`, `{a="\xff"}`, ` { _="" } `,
	} {
		f.Add(s)
	}
	p := parser.NewParser(parser.Options{})
	f.Fuzz(func(t *testing.T, s string) {
		ls, err := ParseLabels(s)
		if err != nil {
			return
		}
		// Prometheus' parser must agree on what a string we accept means.
		want, perr := p.ParseMetric(s)
		if perr != nil {
			t.Fatalf("ParseLabels(%q) = %s but the promql parser rejects it: %v", s, ls, perr)
		}
		if !labels.Equal(ls, want) {
			t.Fatalf("ParseLabels(%q) = %s, promql parser gives %s", s, ls, want)
		}
		// And the canonical form parses back to the same labels.
		back, err := ParseLabels(ls.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", ls.String(), s, err)
		}
		if !labels.Equal(back, ls) {
			t.Fatalf("canonical form %q parses to %s, want %s", ls.String(), back, ls)
		}
	})
}

// appendJSON writes req as a Loki JSON push body. Strings are escaped
// byte by byte, keeping bytes that are not UTF-8 as they are, which
// DecodeJSON preserves.
func appendJSON(dst []byte, req *Request) []byte {
	dst = append(dst, `{"streams":[`...)
	for i, s := range req.Streams {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"stream":{`...)
		ls, err := ParseLabels(s.Labels)
		if err != nil {
			panic(err)
		}
		n := 0
		ls.Range(func(l labels.Label) {
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = appendJSONString(dst, l.Name)
			dst = append(dst, ':')
			dst = appendJSONString(dst, l.Value)
		})
		dst = append(dst, `},"values":[`...)
		for j, e := range s.Entries {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `["`...)
			dst = appendInt(dst, e.Timestamp)
			dst = append(dst, `",`...)
			dst = appendJSONString(dst, string(e.Line))
			if !e.Metadata.IsEmpty() {
				dst = append(dst, `,{`...)
				m := 0
				e.Metadata.Range(func(l labels.Label) {
					if m > 0 {
						dst = append(dst, ',')
					}
					m++
					dst = appendJSONString(dst, l.Name)
					dst = append(dst, ':')
					dst = appendJSONString(dst, l.Value)
				})
				dst = append(dst, '}')
			}
			dst = append(dst, ']')
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "]}"...)
}

func appendInt(dst []byte, v int64) []byte {
	var buf [20]byte
	i := len(buf)
	u := uint64(v)
	if v < 0 {
		u = -u
	}
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if v < 0 {
		dst = append(dst, '-')
	}
	return append(dst, buf[i:]...)
}

func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

func FuzzReadHTTP(f *testing.F) {
	proto := EncodeBody(benchRequest(2, 2, 20, 1))
	f.Add(proto, false, "")
	f.Add(proto, false, "snappy")
	f.Add(gzipped(f, proto), false, "gzip")
	f.Add(deflated(f, proto, true), false, "deflate")
	f.Add([]byte(testJSON), true, "")
	f.Add(gzipped(f, []byte(testJSON)), true, "gzip")
	f.Add(deflated(f, []byte(testJSON), false), true, "deflate")
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f}, false, "")
	const limit = 64 << 10
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool, encoding string) {
		ct := "application/x-protobuf"
		if isJSON {
			ct = "application/json"
		}
		var d Decoder
		var req Request
		err := d.ReadHTTP(newPush(body, ct, encoding, false), limit, &req)
		// Reading and decoding in two steps, as the ingester does, gives
		// the same verdict and the same request.
		hr := newPush(body, ct, encoding, false)
		read, splitErr := ReadBody(nil, hr, limit)
		var split Request
		if splitErr == nil {
			var d2 Decoder
			splitErr = d2.DecodeBody(read, hr.Header, limit, &split)
		}
		if (err == nil) != (splitErr == nil) || errors.Is(err, ErrTooLarge) != errors.Is(splitErr, ErrTooLarge) {
			t.Fatalf("ReadHTTP: %v; ReadBody and DecodeBody: %v", err, splitErr)
		}
		if err == nil {
			requireEqualRequests(t, &split, &req)
		}
		if err != nil {
			if errors.Is(err, ErrBadRequest) == errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v must match exactly one of ErrBadRequest and ErrTooLarge", err)
			}
			return
		}
		// Whatever was accepted re-encodes and decodes the same, and the
		// package function agrees with the Decoder.
		var again Request
		if err := DecodeProto(EncodeProto(nil, &req), &again); err != nil {
			t.Fatalf("accepted request does not re-encode: %v", err)
		}
		requireEqualRequests(t, &again, &req)
		var viaFunc Request
		if err := ReadHTTP(newPush(body, ct, encoding, false), limit, &viaFunc); err != nil {
			t.Fatalf("Decoder accepted the body, ReadHTTP rejects it: %v", err)
		}
		requireEqualRequests(t, &viaFunc, &req)
	})
}
