package push

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
)

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deflated(t testing.TB, b []byte, zlibWrapped bool) []byte {
	var buf bytes.Buffer
	var w io.WriteCloser
	if zlibWrapped {
		w = zlib.NewWriter(&buf)
	} else {
		w, _ = flate.NewWriter(&buf, flate.DefaultCompression)
	}
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newPush builds a push request; a negative contentLength sends the body
// chunked, without a Content-Length.
func newPush(body []byte, contentType, contentEncoding string, chunked bool) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/loki/api/v1/push", bytes.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if contentEncoding != "" {
		r.Header.Set("Content-Encoding", contentEncoding)
	}
	if chunked {
		r.ContentLength = -1
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body))) // hides the length
	}
	return r
}

const testJSON = `{"streams":[{"stream":{"app":"api"},"values":[["1700000000000000000","json line",{"trace_id":"t1"}],["1700000000000000001","esc\naped"]]}]}`

func TestReadHTTPDecodesEveryContentTypeAndEncoding(t *testing.T) {
	want := benchRequest(3, 4, 80, 2)
	proto := EncodeProto(nil, want)
	snappyProto := snappy.Encode(nil, proto)
	var wantJSON Request
	if err := DecodeJSON([]byte(testJSON), &wantJSON); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		body        []byte
		contentType string
		encoding    string
		want        *Request
	}{
		{"protobuf", snappyProto, "application/x-protobuf", "", want},
		{"no Content-Type means protobuf", snappyProto, "", "", want},
		{"unknown Content-Type means protobuf", snappyProto, "application/octet-stream", "", want},
		{"snappy Content-Encoding is only a marker", snappyProto, "application/x-protobuf", "snappy", want},
		{"gzip over snappy protobuf", gzipped(t, snappyProto), "application/x-protobuf", "gzip", want},
		{"raw deflate over snappy protobuf", deflated(t, snappyProto, false), "application/x-protobuf", "deflate", want},
		{"zlib deflate over snappy protobuf", deflated(t, snappyProto, true), "application/x-protobuf", "deflate", want},
		{"JSON", []byte(testJSON), "application/json", "", &wantJSON},
		{"JSON with charset and odd case", []byte(testJSON), "Application/JSON ; charset=utf-8", "", &wantJSON},
		{"JSON with snappy marker", []byte(testJSON), "application/json", "snappy", &wantJSON},
		{"gzip JSON", gzipped(t, []byte(testJSON)), "application/json", "gzip", &wantJSON},
		{"gzip JSON with encoding in upper case", gzipped(t, []byte(testJSON)), "application/json", " GZIP ", &wantJSON},
		{"raw deflate JSON", deflated(t, []byte(testJSON), false), "application/json", "deflate", &wantJSON},
		{"zlib deflate JSON", deflated(t, []byte(testJSON), true), "application/json", "deflate", &wantJSON},
	}
	for _, tt := range tests {
		for _, chunked := range []bool{false, true} {
			name := tt.name
			if chunked {
				name += " without Content-Length"
			}
			t.Run(name, func(t *testing.T) {
				var got Request
				if err := ReadHTTP(newPush(tt.body, tt.contentType, tt.encoding, chunked), 1<<20, &got); err != nil {
					t.Fatal(err)
				}
				requireEqualRequests(t, &got, tt.want)
				// The same in two steps, as the ingester reads and decodes.
				r := newPush(tt.body, tt.contentType, tt.encoding, chunked)
				body, err := ReadBody(nil, r, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				var d Decoder
				var split Request
				if err := d.DecodeBody(body, r.Header, 1<<20, &split); err != nil {
					t.Fatal(err)
				}
				requireEqualRequests(t, &split, tt.want)
			})
		}
	}
}

func TestReadHTTPRejectsBadBodies(t *testing.T) {
	snappyProto := EncodeBody(benchRequest(1, 1, 10, 0))
	tests := []struct {
		name        string
		body        []byte
		contentType string
		encoding    string
		want        string
	}{
		{"unsupported encoding is named", snappyProto, "", "br", `unsupported Content-Encoding "br"`},
		{"zstd is not accepted", snappyProto, "", "zstd", `unsupported Content-Encoding "zstd"`},
		{"JSON sent as protobuf", []byte(testJSON), "", "", "snappy"},
		{"protobuf sent as JSON", snappyProto, "application/json", "", "the body must be a JSON object"},
		{"corrupt snappy", append(snappy.Encode(nil, []byte("0123456789abcdef0123456789")), 0xff)[:10], "", "", "snappy body"},
		{"gzip header on a plain body", snappyProto, "", "gzip", "gzip body"},
		{"truncated gzip", gzipped(t, snappyProto)[:20], "", "gzip", "reading gzip-decompressed body after 9 bytes: unexpected EOF"},
		{"corrupt deflate", []byte{0xff, 0xff, 0xff, 0xff}, "application/json", "deflate", "reading deflate-decompressed body after 0 bytes: flate: corrupt input"},
		{"snappy header declaring more than the block can hold", []byte{0x80, 0x20, 0x00, 0x00, 0x00}, "", "", "snappy body declares 4096 decompressed bytes, more than 5 compressed bytes can hold"},
		{"S2-only extensions are not snappy", s2.Encode(nil, EncodeProto(nil, benchRequest(3, 20, 100, 0))), "", "", "snappy body: snappy: corrupt input"},
		{"invalid protobuf inside valid snappy", snappy.Encode(nil, []byte{0x0a, 0x7f}), "", "", "stream 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req Request
			err := ReadHTTP(newPush(tt.body, tt.contentType, tt.encoding, false), 1<<20, &req)
			r := newPush(tt.body, tt.contentType, tt.encoding, false)
			body, rerr := ReadBody(nil, r, 1<<20)
			if rerr != nil {
				t.Fatalf("ReadBody: %v", rerr)
			}
			var d Decoder
			splitErr := d.DecodeBody(body, r.Header, 1<<20, &req)
			for _, err := range []error{err, splitErr} {
				if !errors.Is(err, ErrBadRequest) {
					t.Fatalf("error %v does not match ErrBadRequest", err)
				}
				if errors.Is(err, ErrTooLarge) {
					t.Errorf("error %v also matches ErrTooLarge", err)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error %q does not contain %q", err, tt.want)
				}
			}
		})
	}
}

func TestReadHTTPEnforcesSizeLimits(t *testing.T) {
	const limit = 4096
	big := benchRequest(4, 20, 100, 0) // ~8 KiB of protobuf, compresses well
	proto := EncodeProto(nil, big)
	if len(proto) <= limit {
		t.Fatalf("test request is only %d bytes", len(proto))
	}
	snappyProto := snappy.Encode(nil, proto)
	if len(snappyProto) >= limit {
		t.Fatalf("test request compresses to %d bytes, want < %d", len(snappyProto), limit)
	}
	// A gzip bomb: a megabyte of zeros in about a kilobyte.
	bomb := gzipped(t, make([]byte, 1<<20))
	bigJSON := []byte(`{"streams":[{"stream":{"a":"b"},"values":[["1","` + strings.Repeat("x", 2*limit) + `"]]}]}`)
	tests := []struct {
		name        string
		body        []byte
		contentType string
		encoding    string
		chunked     bool
		want        string
	}{
		{"Content-Length over the limit", make([]byte, limit+1), "", "", false, "body of 4097 bytes exceeds the limit of 4096 bytes"},
		{"chunked body over the limit", make([]byte, limit+1), "", "", true, "body exceeds the limit of 4096 bytes"},
		{"snappy length header over the limit", snappyProto, "", "", false, "over the limit of 4096 bytes"},
		{"snappy header lying about a huge size", append(bytes.Clone([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}), 0), "", "", false, "snappy body declares 4294967295 decompressed bytes"},
		{"gzip bomb", bomb, "", "gzip", false, "gzip-decompressed body exceeds the limit of 4096 bytes"},
		{"gzip JSON over the limit", gzipped(t, bigJSON), "application/json", "gzip", true, "gzip-decompressed body exceeds"},
		{"deflate bomb", deflated(t, make([]byte, 1<<20), false), "application/json", "deflate", false, "deflate-decompressed body exceeds"},
		{"plain JSON over the limit", bigJSON, "application/json", "", true, "body exceeds the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req Request
			err := ReadHTTP(newPush(tt.body, tt.contentType, tt.encoding, tt.chunked), limit, &req)
			r := newPush(tt.body, tt.contentType, tt.encoding, tt.chunked)
			body, splitErr := ReadBody(nil, r, limit)
			if splitErr == nil {
				var d Decoder
				splitErr = d.DecodeBody(body, r.Header, limit, &req)
			}
			for _, err := range []error{err, splitErr} {
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("error %v does not match ErrTooLarge", err)
				}
				if errors.Is(err, ErrBadRequest) {
					t.Errorf("error %v also matches ErrBadRequest", err)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error %q does not contain %q", err, tt.want)
				}
			}
		})
	}
	t.Run("exactly at the limit is accepted", func(t *testing.T) {
		req := benchRequest(1, 1, 10, 0)
		proto := EncodeProto(nil, req)
		body := snappy.Encode(nil, proto)
		var got Request
		if err := ReadHTTP(newPush(body, "", "", false), max(len(proto), len(body)), &got); err != nil {
			t.Fatal(err)
		}
		requireEqualRequests(t, &got, req)
	})
	t.Run("http.MaxBytesReader in front maps to ErrTooLarge", func(t *testing.T) {
		r := newPush(snappyProto, "", "", true)
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 100)
		var req Request
		if err := ReadHTTP(r, limit, &req); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error %v does not match ErrTooLarge", err)
		}
	})
}

func TestReadHTTPResultsOutliveLaterRequests(t *testing.T) {
	first := benchRequest(2, 3, 40, 1)
	var got Request
	if err := ReadHTTP(newPush(EncodeBody(first), "", "", false), 1<<20, &got); err != nil {
		t.Fatal(err)
	}
	var gotJSON Request
	if err := ReadHTTP(newPush([]byte(testJSON), "application/json", "", false), 1<<20, &gotJSON); err != nil {
		t.Fatal(err)
	}
	wantJSON := cloneRequest(&gotJSON)
	for range 10 {
		var other Request
		if err := ReadHTTP(newPush(EncodeBody(benchRequest(2, 3, 40, 0)), "", "", false), 1<<20, &other); err != nil {
			t.Fatal(err)
		}
		if err := ReadHTTP(newPush([]byte(strings.ReplaceAll(testJSON, "line", "LINE")), "application/json", "", false), 1<<20, &other); err != nil {
			t.Fatal(err)
		}
	}
	requireEqualRequests(t, &got, first)
	requireEqualRequests(t, &gotJSON, wantJSON)
}

func TestDecoderReusesBuffersAcrossRequests(t *testing.T) {
	var d Decoder
	var req Request
	for i, tc := range []struct {
		want *Request
		body []byte
		ct   string
		enc  string
	}{
		{benchRequest(3, 4, 50, 2), nil, "", ""},
		{benchRequest(1, 2, 500, 0), nil, "", "gzip"},
		{benchRequest(5, 1, 10, 1), nil, "", ""},
	} {
		body := EncodeBody(tc.want)
		if tc.enc == "gzip" {
			body = gzipped(t, body)
		}
		if err := d.ReadHTTP(newPush(body, tc.ct, tc.enc, false), 1<<20, &req); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		requireEqualRequests(t, &req, tc.want)
		if err := d.ReadHTTP(newPush(gzipped(t, []byte(testJSON)), "application/json", "gzip", false), 1<<20, &req); err != nil {
			t.Fatalf("request %d JSON: %v", i, err)
		}
		if got := string(req.Streams[0].Entries[1].Line); got != "esc\naped" {
			t.Fatalf("request %d JSON: line %q", i, got)
		}
	}
	// Steady state: a Decoder and a Request reused for the same kind of
	// push allocate (almost) nothing.
	body := EncodeBody(benchRequest(10, 10, 200, 0))
	allocs := testing.AllocsPerRun(20, func() {
		if err := d.ReadHTTP(newPush(body, "", "", false), 1<<20, &req); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 12 { // httptest.NewRequest and its headers account for these
		t.Errorf("reused Decoder allocates %.0f times per request", allocs)
	}
}

func TestDecoderDropsBuffersThatGrewHuge(t *testing.T) {
	var d Decoder
	d.body = make([]byte, 0, maxPooledBuffer+1)
	d.plain = make([]byte, 0, maxPooledBuffer+1)
	var req Request
	want := benchRequest(1, 2, 10, 0)
	if err := d.ReadHTTP(newPush(EncodeBody(want), "", "", false), 1<<20, &req); err != nil {
		t.Fatal(err)
	}
	requireEqualRequests(t, &req, want)
	if cap(d.body) > maxPooledBuffer || cap(d.plain) > maxPooledBuffer {
		t.Errorf("Decoder kept buffers of %d and %d bytes, want at most %d", cap(d.body), cap(d.plain), maxPooledBuffer)
	}
}
