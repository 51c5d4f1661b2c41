package log

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
)

func TestLogfmtParser(t *testing.T) {
	tests := []struct {
		name              string
		strict, keepEmpty bool
		stream            labels.Labels
		line              string
		want              labels.Labels
	}{
		{"pairs", false, false, labels.EmptyLabels(), `level=info duration=12ms msg="hello world"`,
			labels.FromStrings("duration", "12ms", "level", "info", "msg", "hello world")},
		{"quoted escapes", false, false, labels.EmptyLabels(), `msg="a \"b\" \\ \n c"`,
			labels.FromStrings("msg", "a \"b\" \\ \n c")},
		{"empty values dropped by default", false, false, labels.EmptyLabels(), `a= b="" c standalone=x`,
			labels.FromStrings("standalone", "x")},
		{"keep empty keeps empty and standalone keys", false, true, labels.EmptyLabels(), `a= b="" c d=x`,
			labels.FromStrings("a", "", "b", "", "c", "", "d", "x")},
		{"keys sanitized", false, false, labels.EmptyLabels(), `http.status=200 1x=y`,
			labels.FromStrings("_1x", "y", "http_status", "200")},
		{"collision gets _extracted", false, false, labels.FromStrings("level", "stream"), `level=debug`,
			labels.FromStrings("level", "stream", "level_extracted", "debug")},
		{"first duplicate wins", false, false, labels.EmptyLabels(), `a=1 a=2`,
			labels.FromStrings("a", "1")},
		{"lenient skips malformed token", false, false, labels.EmptyLabels(), `a=1 =bad b=2 c="x"y d=4`,
			labels.FromStrings("a", "1", "b", "2", "d", "4")},
		{"strict stops at malformed token", true, false, labels.EmptyLabels(), `a=1 =bad b=2`,
			labels.FromStrings("__error__", ErrLogfmt, "__error_details__", "logfmt syntax error at pos 5 : unexpected '='", "a", "1")},
		{"strict unterminated quote", true, false, labels.EmptyLabels(), `a=1 b="x`,
			labels.FromStrings("__error__", ErrLogfmt, "__error_details__", "logfmt syntax error at pos 7 : unterminated quoted value", "a", "1")},
		{"value may contain equals", false, false, labels.EmptyLabels(), `q=a=b`,
			labels.FromStrings("q", "a=b")},
		{"invalid utf8 value dropped", false, false, labels.EmptyLabels(), "a=\xff b=1",
			labels.FromStrings("b", "1")},
		{"unicode escape", false, false, labels.EmptyLabels(), `a="\u00e9"`,
			labels.FromStrings("a", "é")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, got, keep := runStages(t, []Stage{NewLogfmtParser(tt.strict, tt.keepEmpty)}, tt.stream, tt.line)
			if !keep || out != tt.line {
				t.Fatalf("line changed or dropped: %q %v", out, keep)
			}
			if !labels.Equal(got, tt.want) {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestLogfmtExpressionParser(t *testing.T) {
	tests := []struct {
		name   string
		stream labels.Labels
		exprs  []LogfmtExpr
		line   string
		want   labels.Labels
	}{
		{"selected keys only", labels.EmptyLabels(), []LogfmtExpr{{"host", "host"}, {"ip", "fwd"}},
			`host=h1 fwd=10.0.0.1 other=x`, labels.FromStrings("host", "h1", "ip", "10.0.0.1")},
		{"missing key yields empty label", labels.EmptyLabels(), []LogfmtExpr{{"host", "host"}},
			`other=x`, labels.FromStrings("host", "")},
		{"collision gets _extracted", labels.FromStrings("host", "s"), []LogfmtExpr{{"host", "host"}},
			`host=h1`, labels.FromStrings("host", "s", "host_extracted", "h1")},
		{"missing colliding key adds nothing", labels.FromStrings("host", "s"), []LogfmtExpr{{"host", "host"}},
			`x=1`, labels.FromStrings("host", "s")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewLogfmtExpressionParser(tt.exprs, false, false)
			if err != nil {
				t.Fatal(err)
			}
			_, got, _ := runStages(t, []Stage{p}, tt.stream, tt.line)
			if !labels.Equal(got, tt.want) {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	if _, err := NewLogfmtExpressionParser([]LogfmtExpr{{"bad-name", "x"}}, false, false); err == nil {
		t.Fatal("invalid label name accepted")
	}
}

// refLogfmtNext is the byte-at-a-time scanner the table-driven one
// replaced, kept as the reference it must agree with.
func refLogfmtNext(d *logfmtDecoder) bool {
	b := d.data
	i := d.pos
	for i < len(b) && b[i] <= ' ' {
		i++
	}
	if i >= len(b) {
		d.pos = i
		return false
	}
	start := i
	for i < len(b) && b[i] > ' ' && b[i] != '=' && b[i] != '"' {
		i++
	}
	if i == start {
		return d.fail(i, "unexpected")
	}
	if i < len(b) && b[i] == '"' {
		return d.fail(i, "unexpected '\"'")
	}
	d.key = b[start:i]
	d.value, d.quoted, d.ascii = nil, false, true
	if i >= len(b) || b[i] != '=' {
		d.pos = i
		return true
	}
	i++
	if i >= len(b) || b[i] <= ' ' {
		d.pos = i
		return true
	}
	if b[i] == '"' {
		j := i + 1
		var hi byte
		for ; j < len(b); j++ {
			c := b[j]
			hi |= c
			if c == '\\' {
				j++
				continue
			}
			if c == '"' {
				break
			}
		}
		d.ascii = hi < utf8.RuneSelf
		if j >= len(b) {
			return d.fail(i, "unterminated quoted value")
		}
		d.value, d.quoted = b[i+1:j], true
		i = j + 1
		if i < len(b) && b[i] > ' ' {
			return d.fail(i, "unexpected after quoted value")
		}
		d.pos = i
		return true
	}
	vstart := i
	var hi byte
	for i < len(b) && b[i] > ' ' {
		if b[i] == '"' {
			return d.fail(i, "unexpected '\"'")
		}
		hi |= b[i]
		i++
	}
	d.value = b[vstart:i]
	d.ascii = hi < utf8.RuneSelf
	d.pos = i
	return true
}

func FuzzLogfmtDecoderAgreesWithReference(f *testing.F) {
	for _, s := range []string{
		`level=info msg="hello world" dur=1ms`, `a= b="" c`, `=x`, `a="unterminated`, `a="x"y`,
		`k="\u00e9\n\"" k=2`, "a=\xff", `"quoted"=1`, `a=b=c`, `a="x\\" b="\\\"" c="\"`, `k="ünïcode \\\\"`,
		`a="0123456789\"abcdef"`, "t=\"\x80\x81abcdefgh\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var got, want logfmtDecoder
		got.reset([]byte(line))
		want.reset([]byte(line))
		for range len(line) + 1 {
			g, w := got.next(), refLogfmtNext(&want)
			if g != w || (got.err == nil) != (want.err == nil) || got.pos != want.pos || got.errPos != want.errPos {
				t.Fatalf("%q: next %v err %v pos %d/%d, reference %v err %v pos %d/%d", line, g, got.err, got.pos, got.errPos, w, want.err, want.pos, want.errPos)
			}
			if got.err != nil {
				got.skipToken()
				want.skipToken()
				continue
			}
			if !g {
				return
			}
			if string(got.key) != string(want.key) || string(got.value) != string(want.value) || got.quoted != want.quoted ||
				// ascii only matters without escapes (logfmtValue); the
				// reference skipped escaped bytes.
				(got.ascii != want.ascii && !strings.Contains(string(got.value), `\`)) {
				t.Fatalf("%q: pair %q=%q quoted %v ascii %v, reference %q=%q quoted %v ascii %v",
					line, got.key, got.value, got.quoted, got.ascii, want.key, want.value, want.quoted, want.ascii)
			}
		}
	})
}
