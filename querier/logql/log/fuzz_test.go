package log

import (
	"encoding/json"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// checkLabels fails when a parser produced a label Prometheus would reject.
func checkLabels(t *testing.T, ls labels.Labels) {
	t.Helper()
	ls.Range(func(l labels.Label) {
		if !model.LegacyValidation.IsValidLabelName(l.Name) {
			t.Fatalf("invalid label name %q in %s", l.Name, ls)
		}
		if l.Name != ErrorDetailsLabel && !utf8.ValidString(l.Value) {
			t.Fatalf("invalid utf-8 value %q for %s", l.Value, l.Name)
		}
	})
}

func FuzzJSONParser(f *testing.F) {
	for _, s := range []string{
		`{"a":"b","c":{"d":1,"e":[1,2,{"f":null}]},"g":true}`,
		`{"a\u00e9":"\ud83d\ude00","b":"\\\"","1":-1e5}`,
		`{"a":"1","b":`, `{`, `[]`, `"x"`, `{"a":{"b":{"c":{}}}}`, ` {"x" : [ "]" , "}" ] }`,
		"{\"a\":\"\xff\"}", `{"a":tru}`, `{"":{"":""}}`,
	} {
		f.Add(s)
	}
	jp := NewJSONParser()
	hinted := NewLineSampleExtractor(CountSample, NewPipeline([]Stage{NewJSONParser()}), []string{"a_extracted", "c_e"}, false)
	xp := must(NewJSONExpressionParser([]JSONExpr{{"a", "a"}, {"b", "c.e[2]"}, {"x", `x[0]`}}))
	f.Fuzz(func(t *testing.T, line string) {
		stream := labels.FromStrings("a", "s")
		_, got, keep := runStages(t, []Stage{jp}, stream, line)
		if !keep {
			t.Fatal("json parser dropped a line")
		}
		checkLabels(t, got)
		var obj map[string]any
		if json.Unmarshal([]byte(line), &obj) == nil && obj != nil && got.Has(ErrorLabel) {
			t.Fatalf("valid object %q got error %s", line, got)
		}
		_, got, _ = runStages(t, []Stage{xp}, stream, line)
		checkLabels(t, got)
		_, got, _ = runStages(t, []Stage{NewUnpackParser()}, stream, line)
		checkLabels(t, got)
		_, got, _, _ = hinted.ForStream(stream).Process(0, []byte(line), labels.EmptyLabels())
		checkLabels(t, got)
	})
}

func FuzzLogfmtParser(f *testing.F) {
	for _, s := range []string{
		`level=info msg="hello world" dur=1ms`, `a= b="" c`, `=x`, `a="unterminated`, `a="x"y`,
		`k="\u00e9\n\"" k=2`, "a=\xff", `"quoted"=1`, `a=b=c`,
	} {
		f.Add(s, false, false)
		f.Add(s, true, true)
	}
	f.Fuzz(func(t *testing.T, line string, strict, keepEmpty bool) {
		_, got, keep := runStages(t, []Stage{NewLogfmtParser(strict, keepEmpty)}, labels.FromStrings("level", "s"), line)
		if !keep {
			t.Fatal("logfmt parser dropped a line")
		}
		checkLabels(t, got)
		if !strict && got.Has(ErrorLabel) {
			t.Fatalf("lenient parser set an error: %s", got)
		}
		hinted := NewLineSampleExtractor(CountSample, NewPipeline([]Stage{NewLogfmtParser(strict, keepEmpty)}), []string{"a", "level_extracted"}, false)
		_, got, _, _ = hinted.ForStream(labels.FromStrings("level", "s")).Process(0, []byte(line), labels.EmptyLabels())
		checkLabels(t, got)
		p := must(NewLogfmtExpressionParser([]LogfmtExpr{{"a", "a"}, {"lvl", "level"}}, strict, keepEmpty))
		_, got, _ = runStages(t, []Stage{p}, labels.EmptyLabels(), line)
		checkLabels(t, got)
	})
}

func FuzzPatternParser(f *testing.F) {
	for _, s := range [][2]string{
		{`<ip> - - <_> "<method> <uri> <_>" <status>`, `1.2.3.4 - - [x] "GET / HTTP/1.1" 200`},
		{`<a>:<b>`, `x:y:z`}, {`lit <a>`, `lit`}, {`<_> foo <a> bar`, `foo  bar`}, {`<<a>>`, `<<>>`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, line string) {
		if e, err := parsePattern(pattern, false); err == nil {
			caps := e.captures([]byte(line), nil)
			if len(caps) > len(e.names) {
				t.Fatalf("%d captures for %d names", len(caps), len(e.names))
			}
			_ = e.match([]byte(line))
		}
		p, err := NewPatternParser(pattern)
		if err != nil {
			return
		}
		_, got, keep := runStages(t, []Stage{p}, labels.EmptyLabels(), line)
		if !keep {
			t.Fatal("pattern parser dropped a line")
		}
		got.Range(func(l labels.Label) {
			if !model.LegacyValidation.IsValidLabelName(l.Name) {
				t.Fatalf("invalid name %q", l.Name)
			}
		})
	})
}

func FuzzDecolorize(f *testing.F) {
	for _, s := range []string{"\x1b[31mred\x1b[0m", "\x1b]0;t\x07x", "\x1b", "\x9b1", "plain"} {
		f.Add(s)
	}
	d := NewDecolorize()
	f.Fuzz(func(t *testing.T, line string) {
		out, keep := d.Process(0, []byte(line), nil)
		if !keep || len(out) > len(line) {
			t.Fatalf("got %q from %q", out, line)
		}
	})
}

// FuzzRegexLineFilter checks that the literal and case-insensitive
// shortcuts and the required-literal prefilter agree with regexp.
func FuzzRegexLineFilter(f *testing.F) {
	for _, s := range [][2]string{
		{"(?i)abc", "xxABCxx"}, {".*foo.*", "a foo b"}, {"foo|(?i)bar", "BaR"}, {`status=5\d\d`, "status=503"},
		{"(?i)k", "\u212a"}, {"a+b", "aab"}, {"(a)(b)", "ab"}, {"", "x"}, {"(?i)ß", "SS"}, {"x{2,}y", "xxy"},
		{`(status"?[:=]|HTTP/1\.1" )5\d\d`, `"GET / HTTP/1.1" 503`}, {`a?b\d`, "xab1"}, {`.*x*y\d$`, "yy2"},
		{`(?i)kx\d`, "\u212ax1"}, {`(?m)ab\d$`, "ab1\nab2"}, {`[ab]{2}c`, "bac"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, expr, line string) {
		re, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		lf, err := NewLineFilter(LineRegex, expr)
		if err != nil {
			t.Fatalf("regexp compiles %q but the filter does not: %v", expr, err)
		}
		if got, want := lf.Match([]byte(line)), re.MatchString(line); got != want {
			t.Fatalf("%q on %q: filter %v, regexp %v", expr, line, got, want)
		}
	})
}

func FuzzParseBytesAndJSONPath(f *testing.F) {
	for _, s := range []string{"1.5KiB", "42", "3 MB", "1,000kB", `a.b[0]["c d"]`, `[1]`, `a[`, "1e400B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := ParseBytes(s); err == nil && v > 0 && s == "" {
			t.Fatal("empty input parsed")
		}
		if path, err := parseJSONPath(s); err == nil && len(path) == 0 {
			t.Fatalf("%q parsed to an empty path", s)
		}
	})
}
