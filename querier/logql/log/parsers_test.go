package log

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func TestRegexpParser(t *testing.T) {
	tests := []struct {
		name   string
		re     string
		stream labels.Labels
		line   string
		want   labels.Labels
	}{
		{"named groups extracted", `(?P<method>\w+) (?P<path>\S+) (\d+)`, labels.EmptyLabels(), "GET /a 200",
			labels.FromStrings("method", "GET", "path", "/a")},
		{"no match keeps line without labels", `(?P<x>\d+)`, labels.EmptyLabels(), "abc", labels.EmptyLabels()},
		{"optional group not matched is skipped", `a(?P<x>b)?(?P<y>c)`, labels.EmptyLabels(), "ac",
			labels.FromStrings("y", "c")},
		{"collision gets _extracted", `(?P<app>\w+)`, labels.FromStrings("app", "s"), "web",
			labels.FromStrings("app", "s", "app_extracted", "web")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := must(NewRegexpParser(tt.re))
			out, got, keep := runStages(t, []Stage{p}, tt.stream, tt.line)
			if !keep || out != tt.line || !labels.Equal(got, tt.want) {
				t.Fatalf("got %q %s %v, want %s", out, got, keep, tt.want)
			}
		})
	}
	for _, bad := range []string{`(\d+)`, `(?P<a>x)(?P<a>y)`, `(`, `(?P<__a-b>x)`} {
		if _, err := NewRegexpParser(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPatternParser(t *testing.T) {
	access := `<ip> - - <_> "<method> <uri> <_>" <status> <size>`
	tests := []struct {
		name    string
		pattern string
		stream  labels.Labels
		line    string
		want    labels.Labels
	}{
		{"access log", access, labels.EmptyLabels(),
			`10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326`,
			labels.FromStrings("ip", "10.0.0.1", "method", "GET", "size", "2326", "status", "200", "uri", "/a.gif")},
		{"leading literal must match line start", `level=<level> <_>`, labels.EmptyLabels(), `x level=info msg`,
			labels.EmptyLabels()},
		{"capture up to next literal", `<a>:<b>`, labels.EmptyLabels(), `x:y:z`,
			labels.FromStrings("a", "x", "b", "y:z")},
		{"missing literal captures rest and stops", `<a> | <b> | <c>`, labels.EmptyLabels(), `one | two`,
			labels.FromStrings("a", "one", "b", "two")},
		{"collision gets _extracted", `<app> <_>`, labels.FromStrings("app", "s"), `web rest`,
			labels.FromStrings("app", "s", "app_extracted", "web")},
		{"angle brackets that are not captures are literals", `<a> <=> <b>`, labels.EmptyLabels(), `1 <=> 2`,
			labels.FromStrings("a", "1", "b", "2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := must(NewPatternParser(tt.pattern))
			out, got, keep := runStages(t, []Stage{p}, tt.stream, tt.line)
			if !keep || out != tt.line || !labels.Equal(got, tt.want) {
				t.Fatalf("got %q %s %v, want %s", out, got, keep, tt.want)
			}
		})
	}
	for _, bad := range []string{``, `<_> foo`, `<a><b>`, `<a> <a>`, `plain`} {
		if _, err := NewPatternParser(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDecolorize(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no escapes unchanged", "plain line", "plain line"},
		{"sgr colors removed", "\x1b[31mred\x1b[0m and \x1b[1;32mgreen\x1b[m", "red and green"},
		{"cursor movement removed", "a\x1b[2Kb\x1b[10;5Hc", "abc"},
		{"osc title removed", "\x1b]0;title\x07text", "text"},
		{"osc with st removed", "\x1b]8;;http://x\x1b\\link", "link"},
		{"8-bit csi removed", "a\x9b31mb", "ab"},
		{"two-byte escape removed", "a\x1b(Bb", "ab"},
		{"trailing escape removed", "a\x1b", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, keep := runStages(t, []Stage{NewDecolorize()}, labels.EmptyLabels(), tt.in)
			if !keep || out != tt.want {
				t.Fatalf("got %q, want %q", out, tt.want)
			}
		})
	}
}

func TestDropAndKeep(t *testing.T) {
	stream := labels.FromStrings("app", "api", "env", "prod")
	line := `level=debug status=200 user=u1`
	eq := func(n, v string) NamedLabelMatcher {
		return NamedLabelMatcher{Matcher: labels.MustNewMatcher(labels.MatchEqual, n, v)}
	}
	re := func(n, v string) NamedLabelMatcher {
		return NamedLabelMatcher{Matcher: labels.MustNewMatcher(labels.MatchRegexp, n, v)}
	}
	tests := []struct {
		name  string
		stage Stage
		want  labels.Labels
	}{
		{"drop by name including stream label", NewDropLabels(NamedLabelMatcher{Name: "env"}, NamedLabelMatcher{Name: "user"}),
			labels.FromStrings("app", "api", "level", "debug", "status", "200")},
		{"drop by matching value", NewDropLabels(eq("level", "debug"), eq("status", "500")),
			labels.FromStrings("app", "api", "env", "prod", "status", "200", "user", "u1")},
		{"drop by regex", NewDropLabels(re("user", "u.*")),
			labels.FromStrings("app", "api", "env", "prod", "level", "debug", "status", "200")},
		{"keep names", NewKeepLabels(NamedLabelMatcher{Name: "app"}, NamedLabelMatcher{Name: "level"}),
			labels.FromStrings("app", "api", "level", "debug")},
		{"keep with matcher drops non matching value", NewKeepLabels(NamedLabelMatcher{Name: "app"}, eq("level", "info")),
			labels.FromStrings("app", "api")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, keep := runStages(t, []Stage{NewLogfmtParser(false, false), tt.stage}, stream, line)
			if !keep || !labels.Equal(got, tt.want) {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestKeepPreservesErrorAndDropClearsIt(t *testing.T) {
	stream := labels.FromStrings("app", "api")
	_, got, _ := runStages(t, []Stage{NewJSONParser(), NewKeepLabels(NamedLabelMatcher{Name: "nothing"})}, stream, "not json")
	if got.Get(ErrorLabel) != ErrJSON || got.Get(ErrorDetailsLabel) == "" || got.Has("app") {
		t.Fatalf("keep: %s", got)
	}
	_, got, _ = runStages(t, []Stage{NewJSONParser(), NewDropLabels(NamedLabelMatcher{Name: ErrorLabel}, NamedLabelMatcher{Name: ErrorDetailsLabel})}, stream, "not json")
	if !labels.Equal(got, stream) {
		t.Fatalf("drop __error__: %s", got)
	}
}
