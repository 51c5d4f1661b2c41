package push

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/prometheus/prometheus/model/labels"
)

// DefaultMaxBytes is the body limit ReadHTTP applies when given maxBytes <= 0:
// 100 MiB, the default of Loki's distributor.max-recv-msg-size.
const DefaultMaxBytes = 100 << 20

// maxPooledBuffer is the largest buffer kept for reuse, so that one huge
// request does not pin its memory for the life of the process.
const maxPooledBuffer = 8 << 20

// Decoder decodes push requests, reusing its buffers from one request to the
// next. The zero value is ready to use. A Decoder is not safe for concurrent
// use: keep one per goroutine, or in a sync.Pool.
//
// Lifetime: the Entry.Line slices (and unescaped JSON strings) produced by
// d.ReadHTTP and d.DecodeJSON alias d's buffers and are valid only until the
// next call on d. A receiver that keeps a line past that point must copy it.
// d.DecodeProto aliases its input b instead, as the package function does.
type Decoder struct {
	body     []byte // the body as read; never aliased by a result
	inflated []byte // gzip/deflate output of a protobuf body; never aliased
	plain    []byte // the decoded protobuf or JSON body; lines alias it
	arena    []byte // unescaped JSON strings; lines may alias it

	meta    []labels.Label // one entry's structured metadata before sorting
	slabels []labels.Label // one JSON stream's labels before sorting
	lbuf    []byte         // one JSON stream's label string being formatted
	sb      labels.ScratchBuilder
	// prevMeta is the last structured metadata built, shared by entries
	// that repeat it. It never aliases a request buffer.
	prevMeta labels.Labels

	rd bytes.Reader
	gz *gzip.Reader
	fl io.ReadCloser // raw deflate
	zl io.ReadCloser // zlib-wrapped deflate
}

// httpPool serves the package-level ReadHTTP. Its Decoders give away the
// buffers results alias (plain, arena) and keep only the private ones.
var httpPool = sync.Pool{New: func() any { return new(Decoder) }}

// ReadHTTP reads and decodes a push HTTP request body by Content-Type and
// Content-Encoding, rejecting bodies over maxBytes (compressed and
// decompressed). maxBytes <= 0 means DefaultMaxBytes.
//
// The decoded lines are owned by req: they stay valid for as long as the
// caller keeps them. Use a Decoder to reuse that memory across requests.
func ReadHTTP(r *http.Request, maxBytes int, req *Request) error {
	d := httpPool.Get().(*Decoder)
	err := d.ReadHTTP(r, maxBytes, req)
	d.plain, d.arena = nil, nil // now owned by req
	d.trim()
	httpPool.Put(d)
	return err
}

// ReadHTTP is like the package function ReadHTTP, except that the decoded
// lines alias d's buffers and are valid only until the next call on d.
//
// Content-Type application/json (parameters allowed) selects JSON; any other
// or none selects a snappy block of protobuf. Content-Encoding gzip or
// deflate (raw or zlib-wrapped) is undone first; snappy and none mean the
// body is as the Content-Type says.
func (d *Decoder) ReadHTTP(r *http.Request, maxBytes int, req *Request) error {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	d.trim()
	if r.ContentLength > int64(maxBytes) {
		return tooLargef("body of %d bytes exceeds the limit of %d bytes", r.ContentLength, maxBytes)
	}
	isJSON := isJSONContentType(r.Header.Get("Content-Type"))
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	var err error
	switch enc {
	case "", "snappy":
		// snappy only marks the protobuf body as the snappy block it always is.
		if isJSON {
			if d.plain, err = readLimited(d.plain[:0], r.Body, r.ContentLength, maxBytes, "body"); err != nil {
				return err
			}
			return d.DecodeJSON(d.plain, req)
		}
		if d.body, err = readLimited(d.body[:0], r.Body, r.ContentLength, maxBytes, "body"); err != nil {
			return err
		}
		return d.decodeSnappyProto(d.body, maxBytes, req)
	case "gzip", "deflate":
		if d.body, err = readLimited(d.body[:0], r.Body, r.ContentLength, maxBytes, "body"); err != nil {
			return err
		}
		if isJSON {
			if d.plain, err = d.inflate(d.plain[:0], d.body, enc, maxBytes); err != nil {
				return err
			}
			return d.DecodeJSON(d.plain, req)
		}
		if d.inflated, err = d.inflate(d.inflated[:0], d.body, enc, maxBytes); err != nil {
			return err
		}
		return d.decodeSnappyProto(d.inflated, maxBytes, req)
	default:
		return badf("unsupported Content-Encoding %q: want gzip, deflate, snappy or none", enc)
	}
}

// ReadBody reads a push request's body, still encoded, appending it to dst,
// with the limits of ReadHTTP. With DecodeBody it splits ReadHTTP in two,
// so that a server can read bodies from the network concurrently (a slow
// client holds only its body buffer) and decode a bounded number of them
// at a time.
func ReadBody(dst []byte, r *http.Request, maxBytes int) ([]byte, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if r.ContentLength > int64(maxBytes) {
		return dst, tooLargef("body of %d bytes exceeds the limit of %d bytes", r.ContentLength, maxBytes)
	}
	return readLimited(dst, r.Body, r.ContentLength, maxBytes, "body")
}

// DecodeBody decodes a body read by ReadBody, by the request's
// Content-Type and Content-Encoding headers, as ReadHTTP would. The lines
// alias d's buffers or body itself (a JSON body without a
// Content-Encoding), so they are valid while both are unchanged.
func (d *Decoder) DecodeBody(body []byte, h http.Header, maxBytes int, req *Request) error {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	d.trim()
	isJSON := isJSONContentType(h.Get("Content-Type"))
	enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding")))
	var err error
	switch enc {
	case "", "snappy":
		if isJSON {
			return d.DecodeJSON(body, req)
		}
		return d.decodeSnappyProto(body, maxBytes, req)
	case "gzip", "deflate":
		if isJSON {
			if d.plain, err = d.inflate(d.plain[:0], body, enc, maxBytes); err != nil {
				return err
			}
			return d.DecodeJSON(d.plain, req)
		}
		if d.inflated, err = d.inflate(d.inflated[:0], body, enc, maxBytes); err != nil {
			return err
		}
		return d.decodeSnappyProto(d.inflated, maxBytes, req)
	default:
		return badf("unsupported Content-Encoding %q: want gzip, deflate, snappy or none", enc)
	}
}

// trim drops buffers that grew past maxPooledBuffer.
func (d *Decoder) trim() {
	for _, b := range []*[]byte{&d.body, &d.inflated, &d.plain, &d.arena} {
		if cap(*b) > maxPooledBuffer {
			*b = nil
		}
	}
}

// isJSONContentType reports whether a Content-Type header names JSON,
// ignoring parameters such as charset and letter case.
func isJSONContentType(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), "application/json")
}

// maxSnappyRatio bounds how much a snappy block can expand: its densest
// element, a 3-byte copy, writes 64 bytes.
const maxSnappyRatio = 22

// decodeSnappyProto decodes a snappy block into d.plain, checking the length
// it declares before allocating, then decodes the protobuf.
//
// The block is decoded with github.com/golang/snappy, the implementation
// Loki and Promtail use, so that exactly the same bodies are accepted.
func (d *Decoder) decodeSnappyProto(b []byte, maxBytes int, req *Request) error {
	n, err := snappy.DecodedLen(b)
	if err != nil {
		return badf("snappy block header: %v (is the body snappy-compressed protobuf? JSON needs Content-Type: application/json)", err)
	}
	if n > maxBytes {
		return tooLargef("snappy body declares %d decompressed bytes, over the limit of %d bytes", n, maxBytes)
	}
	if n > maxSnappyRatio*len(b) {
		// A lie that would make us allocate far more than the body is worth.
		return badf("snappy body declares %d decompressed bytes, more than %d compressed bytes can hold", n, len(b))
	}
	if d.plain, err = snappy.Decode(d.plain[:cap(d.plain)], b); err != nil {
		return badf("snappy body: %v", err)
	}
	return d.DecodeProto(d.plain, req)
}

// inflate undoes a gzip or deflate Content-Encoding, appending to dst and
// stopping with ErrTooLarge past maxBytes of output.
func (d *Decoder) inflate(dst, src []byte, enc string, maxBytes int) ([]byte, error) {
	d.rd.Reset(src)
	var r io.Reader
	switch {
	case enc == "gzip":
		if d.gz == nil {
			d.gz = new(gzip.Reader)
		}
		if err := d.gz.Reset(&d.rd); err != nil {
			return dst, badf("gzip body: %v", err)
		}
		r = d.gz
	case isZlibHeader(src):
		// HTTP's deflate is zlib-wrapped, but some clients (and Loki's own
		// reader) use raw deflate; the two are told apart by the zlib header.
		if d.zl == nil {
			zr, err := zlib.NewReader(&d.rd)
			if err != nil {
				return dst, badf("deflate (zlib) body: %v", err)
			}
			d.zl = zr
		} else if err := d.zl.(zlib.Resetter).Reset(&d.rd, nil); err != nil {
			return dst, badf("deflate (zlib) body: %v", err)
		}
		r = d.zl
	default:
		if d.fl == nil {
			d.fl = flate.NewReader(&d.rd)
		} else if err := d.fl.(flate.Resetter).Reset(&d.rd, nil); err != nil {
			return dst, badf("deflate body: %v", err)
		}
		r = d.fl
	}
	out, err := readLimited(dst, r, -1, maxBytes, enc+"-decompressed body")
	if err != nil && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrBadRequest) {
		err = badf("%s body: %v", enc, err)
	}
	return out, err
}

// isZlibHeader reports whether b starts with a valid zlib (RFC 1950) header:
// method 8 (deflate), window at most 32 KiB, and the header checksum.
func isZlibHeader(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

// readLimited appends all of r to dst, failing with ErrTooLarge as soon as
// more than limit bytes arrive. sizeHint (the Content-Length, or -1) sizes
// the buffer up front.
func readLimited(dst []byte, r io.Reader, sizeHint int64, limit int, what string) ([]byte, error) {
	if sizeHint > 0 && sizeHint <= int64(limit) {
		// +1 so that EOF is seen without growing. Trust a Content-Length
		// only so far: it costs a client nothing to claim the limit.
		dst = growCap(dst, int(min(sizeHint, maxTrustedSizeHint))+1)
	}
	for {
		if len(dst) == cap(dst) {
			dst = growCap(dst, min(max(2*cap(dst), 4096), limit+1))
		}
		n, err := r.Read(dst[len(dst):min(cap(dst), limit+1)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, tooLargef("%s exceeds the limit of %d bytes", what, limit)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return dst, tooLargef("%s exceeds the server limit of %d bytes", what, mbe.Limit)
			}
			return dst, badf("reading %s after %d bytes: %v", what, len(dst), err)
		}
	}
}

// maxTrustedSizeHint is the most readLimited allocates before data arrives.
const maxTrustedSizeHint = 4 << 20

// growCap returns b with capacity at least n, keeping its contents.
func growCap(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	nb := make([]byte, len(b), n)
	copy(nb, b)
	return nb
}
