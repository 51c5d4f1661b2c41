package push

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	gsnappy "github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/encoding/protowire"
)

// The helpers below build Loki PushRequest bytes field by field, straight
// from the numbers in pkg/push/push.proto, independently of the encoder.

func pbBytes(dst []byte, num protowire.Number, v []byte) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, v)
}

func pbString(dst []byte, num protowire.Number, v string) []byte {
	return pbBytes(dst, num, []byte(v))
}

func pbVarint(dst []byte, num protowire.Number, v uint64) []byte {
	dst = protowire.AppendTag(dst, num, protowire.VarintType)
	return protowire.AppendVarint(dst, v)
}

func pbTimestamp(secs int64, nanos int32) []byte {
	var b []byte
	if secs != 0 {
		b = pbVarint(b, 1, uint64(secs))
	}
	if nanos != 0 {
		b = pbVarint(b, 2, uint64(int64(nanos))) // int32 is sign-extended to 64 bits
	}
	return b
}

func pbPair(name, value string) []byte {
	return pbString(pbString(nil, 1, name), 2, value)
}

func pbEntry(ts []byte, line string, pairs ...[]byte) []byte {
	b := pbBytes(nil, 1, ts)
	b = pbString(b, 2, line)
	for _, p := range pairs {
		b = pbBytes(b, 3, p)
	}
	return b
}

func pbStream(lbls string, entries ...[]byte) []byte {
	b := pbString(nil, 1, lbls)
	for _, e := range entries {
		b = pbBytes(b, 2, e)
	}
	return b
}

func pbRequest(streams ...[]byte) []byte {
	var b []byte
	for _, s := range streams {
		b = pbBytes(b, 1, s)
	}
	return b
}

// unknownFields appends one field of every wire type with numbers no push
// message uses.
func unknownFields(dst []byte) []byte {
	dst = pbVarint(dst, 15, 12345)
	dst = protowire.AppendTag(dst, 16, protowire.Fixed32Type)
	dst = protowire.AppendFixed32(dst, 7)
	dst = protowire.AppendTag(dst, 17, protowire.Fixed64Type)
	dst = protowire.AppendFixed64(dst, 8)
	dst = pbString(dst, 18, "unknown bytes")
	dst = protowire.AppendTag(dst, 19, protowire.StartGroupType)
	dst = pbVarint(dst, 1, 1)
	dst = protowire.AppendTag(dst, 19, protowire.EndGroupType)
	return dst
}

func TestDecodeProtoReadsLokiWireFormat(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want *Request
	}{
		{
			name: "entry with seconds, nanos and structured metadata",
			body: pbRequest(pbStream(`{app="api"}`,
				pbEntry(pbTimestamp(1700000000, 123456789), "hello", pbPair("trace_id", "abc"), pbPair("span_id", "def")))),
			want: &Request{Streams: []Stream{{Labels: `{app="api"}`, Entries: []Entry{{
				Timestamp: 1700000000_123456789, Line: []byte("hello"),
				Metadata: labels.FromStrings("span_id", "def", "trace_id", "abc"),
			}}}}},
		},
		{
			name: "negative seconds are before 1970",
			body: pbRequest(pbStream(`{a="b"}`, pbEntry(pbTimestamp(-2, 500), "old"))),
			want: &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{{Timestamp: -2e9 + 500, Line: []byte("old")}}}}},
		},
		{
			name: "empty timestamp message and missing timestamp are both the epoch",
			body: pbRequest(pbStream(`{a="b"}`, pbEntry(nil, "empty ts"), pbString(nil, 2, "no ts"))),
			want: &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{
				{Timestamp: 0, Line: []byte("empty ts")},
				{Timestamp: 0, Line: []byte("no ts")},
			}}}},
		},
		{
			name: "empty line",
			body: pbRequest(pbStream(`{a="b"}`, pbEntry(pbTimestamp(1, 0), ""))),
			want: &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{{Timestamp: 1e9}}}}},
		},
		{
			name: "multiple streams keep their order and entries",
			body: pbRequest(
				pbStream(`{z="1"}`, pbEntry(pbTimestamp(3, 0), "z1"), pbEntry(pbTimestamp(1, 0), "z2")),
				pbStream(`{a="1"}`, pbEntry(pbTimestamp(2, 0), "a1")),
				pbStream(`{}`),
			),
			want: &Request{Streams: []Stream{
				{Labels: `{z="1"}`, Entries: []Entry{{Timestamp: 3e9, Line: []byte("z1")}, {Timestamp: 1e9, Line: []byte("z2")}}},
				{Labels: `{a="1"}`, Entries: []Entry{{Timestamp: 2e9, Line: []byte("a1")}}},
				{Labels: `{}`},
			}},
		},
		{
			name: "unknown fields of every wire type are skipped at every level",
			body: func() []byte {
				ts := unknownFields(pbTimestamp(5, 6))
				pair := unknownFields(pbPair("k", "v"))
				entry := unknownFields(pbEntry(ts, "line", pair))
				stream := unknownFields(pbStream(`{a="b"}`, entry))
				return unknownFields(pbRequest(stream))
			}(),
			want: &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{{
				Timestamp: 5e9 + 6, Line: []byte("line"), Metadata: labels.FromStrings("k", "v"),
			}}}}},
		},
		{
			name: "hash, format and parsed fields are ignored",
			body: func() []byte {
				entry := pbBytes(pbEntry(pbTimestamp(1, 0), "l"), 4, pbPair("parsed_label", "x"))
				stream := pbVarint(pbStream(`{a="b"}`, entry), 3, 0xdeadbeef)
				return pbString(pbRequest(stream), 2, "otlp")
			}(),
			want: &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{{Timestamp: 1e9, Line: []byte("l")}}}}},
		},
		{
			name: "field 3 of an entry is a LabelPairAdapter message, not the pre-2.9 labels string",
			body: pbRequest(pbStream(`{a="b"}`, pbBytes(pbEntry(pbTimestamp(1, 0), "l"), 3, pbPair("pod", "p-1")))),
			want: &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{{
				Timestamp: 1e9, Line: []byte("l"), Metadata: labels.FromStrings("pod", "p-1"),
			}}}}},
		},
		{
			name: "repeated metadata name keeps the last value sent",
			body: pbRequest(pbStream(`{a="b"}`, pbEntry(nil, "l", pbPair("k", "first"), pbPair("a", "x"), pbPair("k", "last")))),
			want: &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{{
				Line: []byte("l"), Metadata: labels.FromStrings("a", "x", "k", "last"),
			}}}}},
		},
		{
			name: "many metadata pairs with repeats are sorted stably, the last value winning",
			body: pbRequest(pbStream(`{a="b"}`, pbEntry(nil, "l",
				pbPair("n", "1"), pbPair("m", "2"), pbPair("l", "3"), pbPair("k", "4"), pbPair("j", "5"),
				pbPair("i", "6"), pbPair("h", "7"), pbPair("n", "8"), pbPair("g", "9"), pbPair("f", "10"),
				pbPair("e", "11"), pbPair("d", "12"), pbPair("c", "13"), pbPair("n", "14"), pbPair("a", "15")))),
			want: &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{{
				Line: []byte("l"), Metadata: labels.FromStrings("a", "15", "c", "13", "d", "12", "e", "11", "f", "10",
					"g", "9", "h", "7", "i", "6", "j", "5", "k", "4", "l", "3", "m", "2", "n", "14"),
			}}}}},
		},
		{
			name: "fields in reverse order and a repeated timestamp merge",
			body: func() []byte {
				e := pbString(nil, 2, "first line")
				e = pbString(e, 2, "second line")
				e = pbBytes(e, 1, pbTimestamp(7, 0))
				e = pbBytes(e, 1, pbTimestamp(0, 9))
				s := pbBytes(nil, 2, e)
				s = pbString(s, 1, `{x="y"}`)
				return pbRequest(s)
			}(),
			want: &Request{Streams: []Stream{{Labels: `{x="y"}`, Entries: []Entry{{Timestamp: 7e9 + 9, Line: []byte("second line")}}}}},
		},
		{
			name: "extremes of int64 nanoseconds",
			body: pbRequest(pbStream(`{a="b"}`,
				pbEntry(pbTimestamp(9223372036, 854775807), "max"),
				pbEntry(pbTimestamp(-9223372037, 145224192), "min"))),
			want: &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{
				{Timestamp: math.MaxInt64, Line: []byte("max")},
				{Timestamp: math.MinInt64, Line: []byte("min")},
			}}}},
		},
		{
			name: "empty body is an empty request",
			body: nil,
			want: &Request{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Request
			if err := DecodeProto(tt.body, &got); err != nil {
				t.Fatal(err)
			}
			requireEqualRequests(t, &got, tt.want)
		})
	}
}

func TestDecodeProtoRejectsMalformedInput(t *testing.T) {
	okEntry := pbEntry(pbTimestamp(1, 0), "l")
	tests := []struct {
		name string
		body []byte
		want string // substring of the error
	}{
		{"truncated tag", []byte{0x80}, "push request byte 0"},
		{"field number zero", []byte{0x02, 0x00}, "push request byte 0"},
		{"streams as varint", pbVarint(nil, 1, 3), "streams (field 1) has wire type 0"},
		{"stream length past the end", []byte{0x0a, 0x10, 0x00}, "stream 0"},
		{"labels as varint", pbRequest(pbVarint(nil, 1, 1)), "stream 0 byte 2: labels (field 1) has wire type 0"},
		{"hash as bytes", pbRequest(pbString(nil, 3, "x")), "hash (field 3) has wire type 2"},
		{"entries as fixed64", pbRequest(append(protowire.AppendTag(nil, 2, protowire.Fixed64Type), make([]byte, 8)...)), "entries (field 2) has wire type 1"},
		{"line as varint", pbRequest(pbStream(`{a="b"}`, okEntry, pbVarint(nil, 2, 5))), "stream 0 entry 1 byte 22: line (field 2) has wire type 0"},
		{"timestamp as varint", pbRequest(pbStream(`{a="b"}`, pbVarint(nil, 1, 5))), "timestamp (field 1) has wire type 0"},
		{"seconds as bytes", pbRequest(pbStream(`{a="b"}`, pbEntry(pbString(nil, 1, "x"), "l"))), "timestamp: field 1 has wire type 2"},
		{"truncated seconds varint", pbRequest(pbStream(`{a="b"}`, pbEntry([]byte{0x08, 0xff}, "l"))), "stream 0 entry 0 byte 15: timestamp"},
		{"nanos negative", pbRequest(pbStream(`{a="b"}`, pbEntry(pbTimestamp(1, -1), "l"))), "stream 0 entry 0: timestamp 1s -1ns is outside"},
		{"nanos a whole second", pbRequest(pbStream(`{a="b"}`, pbEntry(pbTimestamp(1, 1e9), "l"))), "timestamp 1s 1000000000ns is outside"},
		{"seconds after 2262", pbRequest(pbStream(`{a="b"}`, pbEntry(pbTimestamp(9223372037, 0), "l"))), "is outside the range"},
		{"one nanosecond past MaxInt64", pbRequest(pbStream(`{a="b"}`, pbEntry(pbTimestamp(9223372036, 854775808), "l"))), "is outside the range"},
		{"one nanosecond before MinInt64", pbRequest(pbStream(`{a="b"}`, pbEntry(pbTimestamp(-9223372037, 145224191), "l"))), "is outside the range"},
		{"seconds before 1677", pbRequest(pbStream(`{a="b"}`, pbEntry(pbTimestamp(-9223372038, 0), "l"))), "is outside the range"},
		{"metadata name as varint", pbRequest(pbStream(`{a="b"}`, pbEntry(nil, "l", pbVarint(nil, 1, 1)))), "structured metadata 0: field 1 has wire type 0"},
		{"truncated metadata pair", pbRequest(pbStream(`{a="b"}`, pbEntry(nil, "l", []byte{0x0a, 0x05, 'a'}))), "structured metadata 0"},
		{"error in the third stream names it", pbRequest(pbStream(`{a="1"}`), pbStream(`{a="2"}`), pbStream(`{a="3"}`, okEntry, okEntry, pbEntry(pbTimestamp(0, -5), "x"))), "stream 2 entry 2:"},
		{"truncated unknown field", append(pbRequest(pbStream(`{a="b"}`)), 0x7a, 0x05), "field 15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req Request
			err := DecodeProto(tt.body, &req)
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

func TestEncodeProtoWritesLokiWireFormat(t *testing.T) {
	req := &Request{Streams: []Stream{
		{Labels: `{app="api"}`, Entries: []Entry{
			{Timestamp: 1700000000_000000001, Line: []byte("x"), Metadata: labels.FromStrings("a", "1", "b", "")},
			{Timestamp: -1, Line: nil},
			{Timestamp: 0, Line: []byte("epoch")},
		}},
		{Labels: `{app="web"}`},
	}}
	want := pbRequest(
		pbStream(`{app="api"}`,
			pbEntry(pbTimestamp(1700000000, 1), "x", pbPair("a", "1"), pbString(nil, 1, "b")),
			pbBytes(nil, 1, pbTimestamp(-1, 999999999)),
			pbEntry(nil, "epoch"),
		),
		pbStream(`{app="web"}`),
	)
	got := EncodeProto(nil, req)
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeProto:\n got %x\nwant %x", got, want)
	}
	prefix := []byte("prefix")
	if got := EncodeProto(bytes.Clone(prefix), req); !bytes.Equal(got, append(prefix, want...)) {
		t.Fatalf("EncodeProto does not append to dst")
	}
}

func TestEncodeProtoThenDecodeProtoRoundTrips(t *testing.T) {
	tests := []struct {
		name string
		req  *Request
	}{
		{"empty request", &Request{}},
		{"realistic batch with metadata", benchRequest(7, 13, 120, 3)},
		{"timestamp extremes and empty lines", &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{
			{Timestamp: math.MinInt64}, {Timestamp: math.MaxInt64}, {Timestamp: -1_500_000_000}, {Timestamp: 0},
		}}}}},
		{"binary line and unicode metadata", &Request{Streams: []Stream{{Labels: `{a="b"}`, Entries: []Entry{
			{Timestamp: 42, Line: []byte{0, 0xff, '\n', 0x80}, Metadata: labels.FromStrings("ünï", "çødé", "z", "")},
		}}}}},
		{"stream without labels or entries", &Request{Streams: []Stream{{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Request
			if err := DecodeProto(EncodeProto(nil, tt.req), &got); err != nil {
				t.Fatal(err)
			}
			requireEqualRequests(t, &got, tt.req)
		})
	}
}

func TestEncodeBodyIsSnappyBlockOfProtobuf(t *testing.T) {
	req := benchRequest(3, 5, 50, 2)
	body := EncodeBody(req)
	// Loki and Promtail use github.com/golang/snappy: the body must be a
	// block that reference implementation reads.
	raw, err := gsnappy.Decode(nil, body)
	if err != nil {
		t.Fatalf("body is not a snappy block: %v", err)
	}
	if want := EncodeProto(nil, req); !bytes.Equal(raw, want) {
		t.Fatal("snappy body does not hold EncodeProto's bytes")
	}
	scratch := []byte("junk")
	dst := []byte("head")
	got, _ := AppendBody(dst, scratch, req)
	if !bytes.Equal(got[:4], []byte("head")) {
		t.Fatal("AppendBody overwrote dst")
	}
	raw2, err := gsnappy.Decode(nil, got[4:])
	if err != nil || !bytes.Equal(raw2, raw) {
		t.Fatalf("AppendBody body differs from EncodeBody's (err %v)", err)
	}
}

func TestDecodeProtoReusesRequestSlices(t *testing.T) {
	big := EncodeProto(nil, benchRequest(4, 10, 30, 2))
	small := benchRequest(2, 3, 20, 0)
	var req Request
	if err := DecodeProto(big, &req); err != nil {
		t.Fatal(err)
	}
	streams, entries := &req.Streams[0], &req.Streams[0].Entries[0]
	if err := DecodeProto(EncodeProto(nil, small), &req); err != nil {
		t.Fatal(err)
	}
	requireEqualRequests(t, &req, small)
	if &req.Streams[0] != streams || &req.Streams[0].Entries[0] != entries {
		t.Error("second decode allocated new slices instead of reusing the first's")
	}
	body := EncodeProto(nil, small)
	if allocs := testing.AllocsPerRun(20, func() { _ = DecodeProto(body, &req) }); allocs != 0 {
		t.Errorf("re-decoding the same streams into a reused Request allocates %.0f times, want 0", allocs)
	}
}

func TestDecodeReleasesLinesOfUnusedEntries(t *testing.T) {
	big := benchRequest(4, 10, 30, 2)
	small := benchRequest(2, 3, 20, 0)
	for _, tc := range []struct {
		name   string
		decode func(*Request, *Request) error
	}{
		{"protobuf", func(src, dst *Request) error { return DecodeProto(EncodeProto(nil, src), dst) }},
		{"JSON", func(src, dst *Request) error { return DecodeJSON(appendJSON(nil, src), dst) }},
	} {
		for _, resetFirst := range []bool{false, true} {
			var req Request
			if err := tc.decode(big, &req); err != nil {
				t.Fatal(err)
			}
			if resetFirst { // what a pool of Requests does
				req.Streams = req.Streams[:0]
			}
			if err := tc.decode(small, &req); err != nil {
				t.Fatal(err)
			}
			requireEqualRequests(t, &req, small)
			for i, st := range req.Streams[:cap(req.Streams)] {
				for j, e := range st.Entries[len(st.Entries):cap(st.Entries)] {
					if e.Line != nil || !e.Metadata.IsEmpty() {
						t.Errorf("%s (reset %v): stream %d keeps unused entry %d with line %q", tc.name, resetFirst, i, len(st.Entries)+j, e.Line)
					}
				}
				if i >= len(req.Streams) && len(st.Entries) > 0 {
					t.Errorf("%s (reset %v): unused stream %d keeps %d entries", tc.name, resetFirst, i, len(st.Entries))
				}
			}
		}
	}
}

func TestDecodeProtoSharesRepeatedMetadata(t *testing.T) {
	req := benchRequest(2, 50, 20, 0)
	for i := range req.Streams {
		for j := range req.Streams[i].Entries {
			md := labels.FromStrings("k8s_node", "node-1", "service_instance_id", "abc")
			if j == 25 {
				md = labels.FromStrings("k8s_node", "node-1", "service_instance_id", "other")
			}
			req.Streams[i].Entries[j].Metadata = md
		}
	}
	body := EncodeProto(nil, req)
	var d Decoder
	var got Request
	if err := d.DecodeProto(body, &got); err != nil {
		t.Fatal(err)
	}
	requireEqualRequests(t, &got, req)
	// Each change of metadata costs one allocation (entries 0, 25, 26 of
	// each stream, the first one shared with the previous stream's last)
	// with the default labels implementation; others copy each string.
	if labels.ImplementationName != "stringlabels" {
		return
	}
	if allocs := testing.AllocsPerRun(10, func() { _ = d.DecodeProto(body, &got) }); allocs > 4 {
		t.Errorf("decoding 100 entries with 2 distinct metadata sets allocates %.0f times, want at most 4", allocs)
	}
	requireEqualRequests(t, &got, req)
}

func TestDecodeProtoLinesAliasInputWithCappedCapacity(t *testing.T) {
	body := pbRequest(pbStream(`{a="b"}`, pbEntry(nil, "one"), pbEntry(nil, "two")))
	var req Request
	if err := DecodeProto(body, &req); err != nil {
		t.Fatal(err)
	}
	line := req.Streams[0].Entries[0].Line
	if cap(line) != len(line) {
		t.Fatalf("line capacity %d exceeds its length %d: an append would overwrite the next field", cap(line), len(line))
	}
	_ = append(line, "XXXXXXXX"...)
	if got := string(req.Streams[0].Entries[1].Line); got != "two" {
		t.Fatalf("appending to one line changed the next to %q", got)
	}
	if !bytes.Contains(body, line) || &body[bytes.Index(body, []byte("one"))] != &line[0] {
		t.Fatal("line was copied instead of aliasing the input")
	}
}

func TestUnixNanosConvertsAndRejects(t *testing.T) {
	tests := []struct {
		secs  int64
		nanos int32
		want  int64
		ok    bool
	}{
		{0, 0, 0, true},
		{1, 1, 1_000_000_001, true},
		{-1, 0, -1_000_000_000, true},
		{-1, 999_999_999, -1, true},
		{9223372036, 854775807, math.MaxInt64, true},
		{-9223372037, 145224192, math.MinInt64, true},
		{9223372036, 854775808, 0, false},
		{-9223372037, 145224191, 0, false},
		{0, -1, 0, false},
		{0, 1e9, 0, false},
		{math.MaxInt64, 0, 0, false},
		{math.MinInt64, 0, 0, false},
	}
	for _, tt := range tests {
		got, ok := unixNanos(tt.secs, tt.nanos)
		if got != tt.want || ok != tt.ok {
			t.Errorf("unixNanos(%d, %d) = %d, %v; want %d, %v", tt.secs, tt.nanos, got, ok, tt.want, tt.ok)
		}
		if ok {
			if s, n := splitUnixNanos(got); s != tt.secs || n != tt.nanos {
				t.Errorf("splitUnixNanos(%d) = %d, %d; want %d, %d", got, s, n, tt.secs, tt.nanos)
			}
		}
	}
}
