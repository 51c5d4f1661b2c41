package main

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// The harness's own decoders: sizes on the command line, batch records,
// /proc files and API answers. None may panic or accept nonsense.

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1GB", "200MB", "1.5GiB", "4096", "", "-1", "1e9", "9999999999TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && (n < 1 || n > 1<<50) {
			t.Fatalf("parseSize(%q) = %d: out of range without an error", s, n)
		}
	})
}

func FuzzReadRecord(f *testing.F) {
	var buf bytes.Buffer
	b := newBatchBuilder()
	b.add(0, `{a="b"}`, 1, []byte("hello"))
	b.add(1, `{a="c"}`, 2, []byte("world"))
	if err := b.writeTo(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var rec batchRecord
		for {
			err := readRecord(r, &rec)
			if errors.Is(err, io.EOF) || err != nil {
				return
			}
			if len(rec.Body) > maxRecord {
				t.Fatalf("record of %d bytes accepted", len(rec.Body))
			}
		}
	})
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1234 (plg) S 1 2 3 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0"))
	f.Add([]byte("1 (a)b) R"))
	f.Add([]byte(`plg_x{a="b"} 1`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if d, err := parseProcStat(data); err == nil && d < 0 {
			t.Fatalf("negative CPU time %v", d)
		}
		if v, err := parseStatusKB(data, "VmHWM:"); err == nil && v < 0 {
			t.Fatalf("negative size %d", v)
		}
		if name, _, ok := parseMetricLine(string(data)); ok && name == "" {
			t.Fatal("a sample without a name")
		}
	})
}

func FuzzDecodeAPIResult(f *testing.F) {
	for _, s := range []string{
		`{"status":"success","data":{"resultType":"streams","result":[{"stream":{"a":"b"},"values":[["2","x"]]}]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"2"]]}]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"42"]}]}}`,
		`{"status":"success","data":["a"]}`,
		`{"status":"success","data":[{"a":"b"}]}`,
		`{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeAPIResult(data)
		if err != nil {
			return
		}
		// Whatever decoded must be checkable without a panic.
		_, _ = checkSums(r, r.ResultType, "level", map[string]int64{"info": 1})
		_, _ = checkNewest(r, &MatchTruth{Lines: 1, Newest: []int64{1}}, 10, "x")
		_, _ = checkTopK(r, 2, map[string]int64{"a": 1}, 60)
	})
}

// FuzzMaybe5xx: the prefilter must pass every line the regex matches.
func FuzzMaybe5xx(f *testing.F) {
	for _, s := range []string{`"status":503,`, "status=500 x", `"GET / HTTP/1.1" 502 12`, `status"=599`, "status: 500", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if re5xx.MatchString(s) && !maybe5xx([]byte(s)) {
			t.Fatalf("%q matches %s but the prefilter rejects it", s, regex5xx)
		}
	})
}
