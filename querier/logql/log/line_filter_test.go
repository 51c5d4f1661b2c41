package log

import (
	"strings"
	"testing"
)

func TestLineFilter(t *testing.T) {
	tests := []struct {
		name   string
		op     LineFilterOp
		values []string
		line   string
		keep   bool
	}{
		{"contains keeps line with needle", LineContains, []string{"error"}, "level=error msg=boom", true},
		{"contains drops line without needle", LineContains, []string{"error"}, "level=info", false},
		{"contains is case sensitive", LineContains, []string{"error"}, "ERROR", false},
		{"contains empty string keeps all", LineContains, []string{""}, "x", true},
		{"not contains drops line with needle", LineNotContains, []string{"debug"}, "level=debug", false},
		{"not contains keeps line without needle", LineNotContains, []string{"debug"}, "level=info", true},
		{"or chain keeps either", LineContains, []string{"foo", "bar"}, "xx bar", true},
		{"or chain drops neither", LineContains, []string{"foo", "bar"}, "xx baz", false},
		{"negated or chain drops either", LineNotContains, []string{"foo", "bar"}, "xx foo", false},
		{"negated or chain keeps neither", LineNotContains, []string{"foo", "bar"}, "xx baz", true},
		{"regex unanchored", LineRegex, []string{"err(or)?"}, "an err here", true},
		{"regex no match", LineRegex, []string{"^err"}, "an err here", false},
		{"regex literal simplified", LineRegex, []string{"timeout"}, "read timeout", true},
		{"regex dotstar literal", LineRegex, []string{".*timeout.*"}, "read timeout x", true},
		{"regex dotstar literal no match", LineRegex, []string{".*timeout.*"}, "read", false},
		{"regex case insensitive literal", LineRegex, []string{"(?i)TimeOut"}, "read TIMEOUT", true},
		{"regex case insensitive no match", LineRegex, []string{"(?i)timeout"}, "read time out", false},
		{"regex case insensitive first byte later", LineRegex, []string{"(?i)abc"}, "aaAaBAbC", true},
		{"regex case insensitive with k uses regexp", LineRegex, []string{"(?i)kelvin"}, "\u212aelvin", true},
		{"regex alternation of literals", LineRegex, []string{"foo|(?i)bar"}, "BAR", true},
		{"regex alternation no match", LineRegex, []string{"foo|bar"}, "baz", false},
		{"regex required literal present but no match", LineRegex, []string{`status=5\d\d`}, "status=404", false},
		{"regex required literal and match", LineRegex, []string{`status=5\d\d`}, "status=503", true},
		{"regex capture group literal", LineRegex, []string{`(abc)`}, "xabcx", true},
		{"not regex", LineNotRegex, []string{`\d+ms`}, "took 12ms", false},
		{"not regex keeps non matching", LineNotRegex, []string{`\d+ms`}, "took ms", true},
		{"regex or chain", LineRegex, []string{`^a`, `b$`}, "xxb", true},
		{"pattern whole line", LinePattern, []string{`<_> caller=<_> msg=<_>`}, "ts=1 caller=http.go msg=hi", true},
		{"pattern leading literal", LinePattern, []string{`GET <_>`}, "GET /x", true},
		{"pattern leading literal missing", LinePattern, []string{`GET <_>`}, "POST /x", false},
		{"pattern trailing literal must end line", LinePattern, []string{`<_> done`}, "job done later", false},
		{"pattern trailing literal ends line", LinePattern, []string{`<_> done`}, "job done", true},
		{"pattern first occurrence leaves empty capture", LinePattern, []string{`<_> done`}, " done and done", false},
		{"pattern empty capture does not match", LinePattern, []string{`<_> bar <_>`}, " bar ", false},
		{"pattern trailing capture needs text", LinePattern, []string{`foo <_>`}, "foo ", false},
		{"pattern missing literal", LinePattern, []string{`<_> foo <_>`}, "a bar b", false},
		{"pattern literal only must equal line", LinePattern, []string{`abc`}, "abc", true},
		{"pattern empty line", LinePattern, []string{`<_>`}, "", false},
		{"not pattern", LineNotPattern, []string{`<_> foo <_>`}, "a foo b", false},
		{"not pattern keeps non matching", LineNotPattern, []string{`<_> foo <_>`}, "a bar b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewLineFilter(tt.op, tt.values...)
			if err != nil {
				t.Fatal(err)
			}
			if _, keep := f.Process(0, []byte(tt.line), nil); keep != tt.keep {
				t.Fatalf("%s %q on %q: keep=%v, want %v", tt.op, tt.values, tt.line, keep, tt.keep)
			}
		})
	}
}

func TestLineFilter_InvalidArgumentsFail(t *testing.T) {
	for _, tt := range []struct {
		name   string
		op     LineFilterOp
		values []string
	}{
		{"bad regex", LineRegex, []string{"("}},
		{"empty pattern", LinePattern, []string{""}},
		{"consecutive captures", LinePattern, []string{"<a><b>"}},
		{"no values", LineContains, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewLineFilter(tt.op, tt.values...); err == nil {
				t.Fatal("expected error")
			}
		})
	}
}

func TestFoldMatcher_AgreesWithRegexp(t *testing.T) {
	lines := []string{"", "a", "abc", "xxABCyy", "ab", "aab", "AaBb", strings.Repeat("a", 100) + "Bc", "ä abc", "xyz"}
	needles := []string{"abc", "b", "aab", "bc", "1a", "ab"}
	for _, n := range needles {
		fm, ok := literalOf(mustParseFold(t, n))
		if !ok {
			t.Fatalf("%q not simplified", n)
		}
		for _, l := range lines {
			want := strings.Contains(strings.ToLower(l), n)
			if got := fm.match([]byte(l)); got != want {
				t.Errorf("needle %q line %q: got %v want %v", n, l, got, want)
			}
		}
	}
}

func TestLineFilter_DoesNotAllocate(t *testing.T) {
	line := []byte(strings.Repeat("lorem ipsum dolor ", 10) + "status=503 needle")
	for _, tc := range []struct {
		op LineFilterOp
		v  []string
	}{
		{LineContains, []string{"needle"}},
		{LineRegex, []string{"(?i)NEEDLE"}},
		{LineRegex, []string{`status=5\d\d`}},
		{LineNotContains, []string{"a", "b"}},
	} {
		f, err := NewLineFilter(tc.op, tc.v...)
		if err != nil {
			t.Fatal(err)
		}
		if tc.op == LineRegex && raceEnabled {
			continue
		}
		if n := testing.AllocsPerRun(100, func() { f.Process(0, line, nil) }); n != 0 {
			t.Errorf("%s %q: %v allocs per line", tc.op, tc.v, n)
		}
	}
}

func TestLineFilterAnyAll(t *testing.T) {
	s := must(NewLineFilter(LineContains, "error"))
	ip := must(NewIPLineFilter(LineContains, "10.0.0.0/8"))
	ns := must(NewLineFilter(LineNotContains, "error"))
	nip := must(NewIPLineFilter(LineNotContains, "10.0.0.0/8"))
	any := NewLineFilterAny(s, ip)
	all := NewLineFilterAll(ns, nip)
	for _, tt := range []struct {
		line          string
		wantAny, wAll bool
	}{
		{"error from 10.1.1.1", true, false},
		{"error from 192.168.1.1", true, false},
		{"ok from 10.1.1.1", true, false},
		{"ok from 192.168.1.1", false, true},
	} {
		if got := any.Match([]byte(tt.line)); got != tt.wantAny {
			t.Errorf("any(%q) = %v", tt.line, got)
		}
		if got := all.Match([]byte(tt.line)); got != tt.wAll {
			t.Errorf("all(%q) = %v", tt.line, got)
		}
	}
}

func TestLineFilter_PrefixRegexDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops entries under the race detector")
	}
	line := []byte(`{"level":"error","status":503,"msg":"GET /x HTTP/1.1\" 200"}`)
	f, err := NewLineFilter(LineRegex, regex5xx)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Match(line) {
		t.Fatal("line not matched")
	}
	if n := testing.AllocsPerRun(100, func() { f.Process(0, line, nil) }); n != 0 {
		t.Errorf("%v allocs per line", n)
	}
}
