package ingester

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func TestRecordRoundTrip(t *testing.T) {
	var enc recordEncoder
	enc.begin("team-a", 2)
	enc.stream(`{job="a"}`, 2)
	enc.entry(-5, []byte("first"), labels.EmptyLabels())
	enc.entry(1<<62, []byte(""), labels.FromStrings("trace_id", "abc", "user", "u1"))
	enc.stream(`{job="b"}`, 1)
	enc.entry(7, []byte("third"), labels.EmptyLabels())

	var got []string
	err := decodeRecord(enc.buf, func(tenant string, s *recordStream) error {
		for _, e := range s.entries {
			got = append(got, tenant+" "+s.labels+" "+string(e.Line)+" "+e.Metadata.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`team-a {job="a"} first {}`,
		`team-a {job="a"}  {trace_id="abc", user="u1"}`,
		`team-a {job="b"} third {}`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestRecordDecodeRejectsEveryTruncation(t *testing.T) {
	var enc recordEncoder
	enc.begin("t", 1)
	enc.stream(`{job="a"}`, 1)
	enc.entry(1, []byte("line"), labels.FromStrings("k", "v"))
	for n := 0; n < len(enc.buf); n++ {
		if err := decodeRecord(enc.buf[:n], func(string, *recordStream) error { return nil }); err == nil {
			t.Fatalf("truncated to %d of %d bytes decoded without error", n, len(enc.buf))
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	var enc recordEncoder
	enc.begin("t", 1)
	enc.stream(`{job="a"}`, 1)
	enc.entry(1, []byte("line"), labels.FromStrings("k", "v"))
	f.Add(enc.buf)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = decodeRecord(b, func(string, *recordStream) error { return nil })
	})
}
