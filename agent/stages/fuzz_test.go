package stages

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func FuzzParseCRI(f *testing.F) {
	f.Add("2019-04-30T02:12:41.8443515Z stdout F message")
	f.Add("2019-04-30T02:12:41Z stderr P:x part")
	f.Add("2019-04-30T02:12:41Z stdout F")
	f.Add("bad")
	f.Fuzz(func(t *testing.T, s string) {
		l, ok := ParseCRI(s)
		if !ok {
			return
		}
		if l.Stream != "stdout" && l.Stream != "stderr" {
			t.Fatalf("stream %q", l.Stream)
		}
		if !strings.HasSuffix(s, l.Content) {
			t.Fatalf("content %q is not the tail of %q", l.Content, s)
		}
	})
}

func FuzzParseDocker(f *testing.F) {
	f.Add(`{"log":"hi\n","stream":"stdout","time":"2019-04-30T02:12:41.8443515Z"}`)
	f.Add(`{"log":"\u00e9\ud83d\ude00\/","stream":"stderr","time":"2019-04-30T02:12:41Z"}`)
	f.Add(`{"log":"x","attrs":{"a":1},"time":"2019-04-30T02:12:41Z"}`)
	f.Add(`{"log":"\ud800"}`)
	f.Fuzz(func(t *testing.T, s string) {
		l, ok := ParseDocker(s)
		if !ok {
			return
		}
		// The fast path must agree with encoding/json, except that it keeps
		// invalid UTF-8 bytes as they are where encoding/json substitutes
		// U+FFFD: a log line is passed on, not repaired.
		if !utf8.ValidString(s) {
			return
		}
		var ref struct {
			Log    string `json:"log"`
			Stream string `json:"stream"`
		}
		if err := json.Unmarshal([]byte(s), &ref); err != nil {
			return // we accept a superset only where encoding/json rejects invalid UTF-8
		}
		if ref.Log != l.Log || ref.Stream != l.Stream {
			t.Fatalf("log %q stream %q, encoding/json says %q %q", l.Log, l.Stream, ref.Log, ref.Stream)
		}
	})
}

func FuzzParseJPath(f *testing.F) {
	for _, s := range []string{"a.b", "a[0]", `"x.y"`, `a."b-c"[1].d`, "a[-1]", "..", `"\""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseJPath(s)
		if err != nil {
			return
		}
		// Printing and re-parsing gives the same path.
		p2, err := parseJPath(p.String())
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", p.String(), s, err)
		}
		if p.String() != p2.String() {
			t.Fatalf("round trip %q -> %q", p.String(), p2.String())
		}
		var v any
		_ = json.Unmarshal([]byte(`{"a":{"b":[1,{"d":2}]}}`), &v)
		p.eval(v)
	})
}

func FuzzScanLogfmt(f *testing.F) {
	f.Add(`a=1 b="two \"x\"" c`)
	f.Add(`"=" =x a="unterminated`)
	f.Fuzz(func(t *testing.T, s string) {
		scanLogfmt(s, func(k, v string) {
			if k == "" {
				t.Fatal("empty key")
			}
		})
	})
}

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{`{app="x"}`, `{a=~"b|c", d!="e"} |= "x" !~ "y+"`, "{a=\"}\"} |= `raw`", `{a="b"} |=`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		sel2, err := ParseSelector(sel.String())
		if err != nil {
			t.Fatalf("re-parse of %q: %v", sel.String(), err)
		}
		if sel.String() != sel2.String() {
			t.Fatalf("round trip %q -> %q", sel.String(), sel2.String())
		}
	})
}

func FuzzTimeParser(f *testing.F) {
	f.Add("Unix", "1562708916.414")
	f.Add("UnixMs", "1562708916414")
	f.Add("RFC3339", "2020-01-02T03:04:05Z")
	f.Add("Jan _2 15:04:05", "Nov 21 10:00:00")
	f.Fuzz(func(t *testing.T, format, value string) {
		p, err := NewTimeParser(format, time.UTC, func() time.Time { return testNow })
		if err != nil {
			return
		}
		_, _ = p(value)
	})
}

// FuzzJSONLookup checks the selective lookup against decoding everything
// with encoding/json and walking the result.
func FuzzJSONLookup(f *testing.F) {
	f.Add(`{"a":{"b":[1,{"c":"x\"y"}]},"d":true,"a":{"b":[2]}}`, `a.b[0]`)
	f.Add(`{"log":{"level":"warn"},"items":[{"name":"a"},{"name":"b"}]}`, `items[-1].name`)
	f.Add(`{"x.y":{"z":null}}`, `"x.y".z`)
	f.Add(`{"n":-1.5e3,"s":"\u00e9"}`, `n`)
	f.Fuzz(func(t *testing.T, doc, expr string) {
		p, err := parseJPath(expr)
		if err != nil || !json.Valid([]byte(doc)) || !utf8.ValidString(doc) {
			return
		}
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return
		}
		want, wok := p.eval(v)
		got, gok := p.lookup(doc)
		if wok != gok {
			t.Fatalf("%s in %s: found %v, encoding/json path found %v", expr, doc, gok, wok)
		}
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(got)
		if string(wb) != string(gb) {
			t.Fatalf("%s in %s: got %s, want %s", expr, doc, gb, wb)
		}
	})
}
