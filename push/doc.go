// Package push owns the wire format of a log push: Loki's PushRequest as
// protobuf (snappy-compressed on HTTP) and as JSON, Prometheus-style label
// strings, and reading a push body off an HTTP request. The agent uses it to
// encode what it sends and the ingester to decode what it receives, so the
// two stay byte-compatible with each other and with Loki, Promtail, Alloy,
// Fluent Bit and the Docker driver.
//
// It must not validate or limit content (label names the ingester rejects,
// line length, timestamps too old, per-tenant rates): that is the ingester's
// job. The one exception is where the format forces it: a JSON stream object
// is turned into a label string, so its names must be ones a label string
// can carry. Errors here mean only "this is not a well-formed push" (ErrBadRequest,
// HTTP 400) or "this body is too big" (ErrTooLarge, HTTP 413). It does no
// I/O of its own beyond reading the request body, keeps no state between
// requests except reusable buffers, and never logs.
//
// # Protobuf
//
// The message definitions are Loki's pkg/push/push.proto (proto3, package
// logproto). Field numbers and types, as decoded here:
//
//	PushRequest      1 streams             repeated StreamAdapter (length-delimited)
//	                 2 format              string, set only inside Loki; skipped
//	StreamAdapter    1 labels              string, e.g. {app="api", env="prod"}
//	                 2 entries             repeated EntryAdapter
//	                 3 hash                uint64 varint, internal; skipped
//	EntryAdapter     1 timestamp           google.protobuf.Timestamp
//	                 2 line                string (bytes here: not checked for UTF-8)
//	                 3 structuredMetadata  repeated LabelPairAdapter
//	                 4 parsed              repeated LabelPairAdapter, query side only; skipped
//	Timestamp        1 seconds             int64 varint (two's complement for negatives)
//	                 2 nanos               int32 varint, must be in [0, 1e9)
//	LabelPairAdapter 1 name                string
//	                 2 value               string
//
// Every message is a sequence of (tag, value) pairs; the tag is the varint
// field<<3 | wiretype, wire type 0 being a varint and 2 a varint length
// followed by that many bytes. Fields may come in any order and repeat: a
// repeated field appends, a repeated scalar keeps the last value, and a
// repeated Timestamp merges into the previous one. Fields with unknown
// numbers are skipped whatever their wire type; a known number with the
// wrong wire type is an error, as it is for Loki's gogo-generated decoder.
// Before Loki 2.9, field 3 of EntryAdapter was a string of labels; it is now
// always decoded as a LabelPairAdapter message, as current Loki does.
//
// Seconds and nanos become one int64 of Unix nanoseconds, which covers the
// years 1677 to 2262; an instant outside that, or nanos outside [0, 1e9), is
// an error. A missing timestamp is the Unix epoch, 0. The encoder always
// writes the timestamp field, even when zero, and omits empty strings and
// zero numbers inside messages as proto3 does.
//
// Structured metadata comes out sorted by name; when a name repeats within
// one entry, the last value sent wins.
//
// # HTTP body
//
// The body of POST /loki/api/v1/push is chosen by Content-Type:
// application/json (any parameters, any letter case) is JSON, and anything
// else, including no Content-Type, is the protobuf PushRequest compressed as
// one snappy block (the block format, not the framed stream format). On top
// of either, Content-Encoding gzip or deflate compresses the whole body; for
// deflate both zlib-wrapped (RFC 1950, what HTTP specifies) and raw (RFC
// 1951, what some clients send) are accepted, told apart by the zlib header.
// Content-Encoding snappy is a marker meaning nothing more than the default.
// Any other encoding is an error naming it.
//
// Snappy blocks are read with github.com/golang/snappy, as Loki does, so S2
// extensions are rejected; they are written with S2's snappy-compatible
// encoder, whose output any snappy decoder reads.
//
// The size limit applies to the body as received and again to every
// decompressed form: the snappy block's declared length is checked before
// any memory is allocated for it (against the limit, and against the 22x
// that snappy can expand at most), and gzip/deflate output is cut off one
// byte past the limit.
//
// # JSON
//
//	{"streams": [{"stream": {"app": "api"},
//	              "values": [["1700000000000000000", "a line"],
//	                         ["1700000000000000001", "another", {"trace_id": "abc"}]]}]}
//
// Each value is [timestamp, line] or [timestamp, line, structured metadata].
// The timestamp is a string holding an integer of Unix nanoseconds; a JSON
// number is rejected, since float64 cannot hold nanoseconds. The metadata is
// a flat object of strings. The stream object becomes the canonical label
// string {a="b", c="d"} (sorted, values quoted as Go does), so label names
// must match [a-zA-Z_][a-zA-Z0-9_]* and values must be valid UTF-8. Unknown
// keys are skipped (but must be well-formed JSON); a repeated key keeps its
// last value, though the earlier ones must be valid too. Strings may hold
// bytes that are not UTF-8: lines and metadata keep them as sent.
//
// # Memory
//
// Entry.Line is never copied out of the decoded body: DecodeProto's lines
// alias its input, DecodeJSON's alias its input (or, for strings with
// escapes, a buffer of the decoder's). The package-level ReadHTTP hands the
// decoded body to the Request, so its lines live as long as the Request's
// user keeps them. A Decoder instead reuses its buffers, so lines it returns
// are valid only until its next call. ReadBody and Decoder.DecodeBody split
// ReadHTTP in two, so a server can read bodies from the network without
// limit and decode only a few at a time; DecodeBody's lines may also alias
// the body it was given.
package push
