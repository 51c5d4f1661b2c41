package log

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

func TestHints_GroupedExtractionKeepsLabelsLaterStagesRead(t *testing.T) {
	stream := labels.FromStrings("app", "api")
	line := `{"level":"error","status":503,"path":"/x","user":"bob","latency":"20ms"}`
	tests := []struct {
		name     string
		stages   func() []Stage
		grouping []string
		without  bool
		ok       bool
		want     labels.Labels
	}{
		{"label filter input extracted, output grouped", func() []Stage {
			return []Stage{NewJSONParser(), NewNumericLabelFilter(OpGreaterEqual, "status", 500)}
		}, []string{"level"}, false, true, labels.FromStrings("level", "error")},
		{"label filter still drops", func() []Stage {
			return []Stage{NewJSONParser(), NewNumericLabelFilter(OpLess, "status", 500)}
		}, []string{"level"}, false, false, labels.EmptyLabels()},
		{"label_format source extracted", func() []Stage {
			return []Stage{NewJSONParser(), must(NewLabelFormatter([]LabelFmt{{Name: "who", Value: "{{.user}}"}}))}
		}, []string{"who"}, false, true, labels.FromStrings("who", "bob")},
		{"rename source extracted", func() []Stage {
			return []Stage{NewJSONParser(), must(NewLabelFormatter([]LabelFmt{{Name: "p", Value: "path", Rename: true}}))}
		}, []string{"p"}, false, true, labels.FromStrings("p", "/x")},
		{"unknown stage gets every label", func() []Stage {
			return []Stage{NewJSONParser(), StageFunc(func(_ int64, l []byte, lbs *LabelsBuilder) ([]byte, bool) {
				v, _ := lbs.Get("user")
				return l, v == "bob"
			})}
		}, []string{"level"}, false, true, labels.FromStrings("level", "error")},
		{"without grouping extracts everything", func() []Stage {
			return []Stage{NewJSONParser()}
		}, []string{"path", "user", "latency"}, true, true, labels.FromStrings("app", "api", "level", "error", "status", "503")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewLineSampleExtractor(CountSample, NewPipeline(tt.stages()), tt.grouping, tt.without)
			_, got, _, ok := e.ForStream(stream).Process(0, []byte(line), labels.EmptyLabels())
			if ok != tt.ok || (ok && !labels.Equal(got, tt.want)) {
				t.Fatalf("got %s ok=%v, want %s ok=%v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestHints_ParserSkipsUnwantedLabels(t *testing.T) {
	p := NewPipeline([]Stage{NewLogfmtParser(false, false)})
	e := must(NewLabelSampleExtractor("latency", ConvertDuration, nil, p, []string{"level"}, false))
	s := e.ForStream(labels.FromStrings("app", "api"))
	v, got, _, ok := s.Process(0, []byte("level=info latency=20ms user=bob"), labels.EmptyLabels())
	if !ok || v != 0.02 || !labels.Equal(got, labels.FromStrings("level", "info")) {
		t.Fatalf("got %v %s %v", v, got, ok)
	}
	if _, has := s.sp.builder.Get("user"); has {
		t.Fatal("parser extracted a label nothing reads")
	}
}

func TestStageRequirements(t *testing.T) {
	eq := labels.MustNewMatcher(labels.MatchEqual, "a", "1")
	tests := []struct {
		name  string
		stage Stage
		want  []string
		all   bool
	}{
		{"string filter", NewStringLabelFilter(eq), []string{"a"}, false},
		{"numeric filter", NewNumericLabelFilter(OpGreater, "n", 1), []string{"n"}, false},
		{"duration filter", NewDurationLabelFilter(OpGreater, "d", 1), []string{"d"}, false},
		{"bytes filter", NewBytesLabelFilter(OpGreater, "b", 1), []string{"b"}, false},
		{"ip filter", must(NewIPLabelFilter(OpEqual, "ip", "10.0.0.1")), []string{"ip"}, false},
		{"and filter", NewAndLabelFilter(NewStringLabelFilter(eq), NewNumericLabelFilter(OpGreater, "n", 1)), []string{"a", "n"}, false},
		{"line_format fields", must(NewLineFormatter("{{.x}} {{.y | upper}}")), []string{"x", "y"}, false},
		{"line_format range reads all", must(NewLineFormatter("{{range $k, $v := .}}{{$k}}{{end}}")), nil, true},
		{"label_format", must(NewLabelFormatter([]LabelFmt{{Name: "r", Value: "src", Rename: true}, {Name: "t", Value: "{{.z}}"}})), []string{"src", "z"}, false},
		{"drop with matcher", NewDropLabels(NamedLabelMatcher{Name: "plain"}, NamedLabelMatcher{Matcher: eq}), []string{"a"}, false},
		{"keep", NewKeepLabels(NamedLabelMatcher{Name: "k"}, NamedLabelMatcher{Matcher: eq}), []string{"k", "a"}, false},
		{"line filter", must(NewLineFilter(LineContains, "x")), nil, false},
		{"parser", NewJSONParser(), nil, false},
		{"unknown stage", StageFunc(func(_ int64, l []byte, _ *LabelsBuilder) ([]byte, bool) { return l, true }), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, all := stageRequirements(tt.stage)
			if all != tt.all || strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v all=%v, want %v all=%v", got, all, tt.want, tt.all)
			}
		})
	}
}

func TestHints_PostFiltersOfUnwrapAreRead(t *testing.T) {
	p := NewPipeline([]Stage{NewLogfmtParser(false, false)})
	post := []Stage{NewStringLabelFilter(labels.MustNewMatcher(labels.MatchEqual, "user", "bob"))}
	e := must(NewLabelSampleExtractor("latency", ConvertDuration, post, p, []string{"level"}, false))
	s := e.ForStream(labels.EmptyLabels())
	if _, _, _, ok := s.Process(0, []byte("level=info latency=1s user=bob"), labels.EmptyLabels()); !ok {
		t.Fatal("post filter did not see the user label")
	}
	if _, _, _, ok := s.Process(0, []byte("level=info latency=1s user=eve"), labels.EmptyLabels()); ok {
		t.Fatal("post filter kept a non-matching sample")
	}
}

func TestLabelPresentFilter(t *testing.T) {
	f := NewLabelPresentFilter("latency")
	for line, want := range map[string]bool{"latency=1s": true, "latency=": false, "other=1": false} {
		if _, _, keep := runStages(t, []Stage{NewLogfmtParser(false, true), f}, labels.EmptyLabels(), line); keep != want {
			t.Errorf("%q: keep=%v", line, keep)
		}
	}
	// Used before unwrap, it does not disable hints.
	p := NewPipeline([]Stage{NewLogfmtParser(false, false), f})
	e := must(NewLabelSampleExtractor("latency", ConvertDuration, nil, p, []string{"level"}, false))
	s := e.ForStream(labels.EmptyLabels())
	if _, got, _, ok := s.Process(0, []byte("level=a latency=1s user=u"), labels.EmptyLabels()); !ok || !labels.Equal(got, labels.FromStrings("level", "a")) {
		t.Fatalf("got %s %v", got, ok)
	}
	if _, has := s.sp.builder.Get("user"); has {
		t.Fatal("hints disabled by the presence filter")
	}
}

func TestHints_ParsingStopsOnceWantedLabelsAreFound(t *testing.T) {
	noErr := NewStringLabelFilter(labels.MustNewMatcher(labels.MatchEqual, ErrorLabel, ""))
	tests := []struct {
		name   string
		parser func() Stage
		line   string
	}{
		{"json", func() Stage { return NewJSONParser() }, `{"level":"warn","x": oops`},
		{"logfmt", func() Stage { return NewLogfmtParser(true, false) }, `level=warn x="unterminated`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Like Loki: once level is found the malformed rest is not read.
			e := NewLineSampleExtractor(CountSample, NewPipeline([]Stage{tt.parser()}), []string{"level"}, false)
			_, got, _, ok := e.ForStream(labels.EmptyLabels()).Process(0, []byte(tt.line), labels.EmptyLabels())
			if !ok || !labels.Equal(got, labels.FromStrings("level", "warn")) {
				t.Fatalf("got %s ok=%v", got, ok)
			}
			// A filter on __error__ needs the whole line checked.
			e = NewLineSampleExtractor(CountSample, NewPipeline([]Stage{tt.parser(), noErr}), []string{"level"}, false)
			if _, got, _, ok := e.ForStream(labels.EmptyLabels()).Process(0, []byte(tt.line), labels.EmptyLabels()); ok {
				t.Fatalf("malformed line passed __error__=\"\": %s", got)
			}
		})
	}
}

func TestHints_NoLabelGroupingStillStopsParsing(t *testing.T) {
	// The engine groups `sum(count_over_time(... | logfmt | duration >
	// 250ms [1h]))` by the single label name "", which no parser sets:
	// only duration is wanted, and the malformed rest is not read.
	for _, tt := range []struct {
		name   string
		parser func() Stage
		line   string
	}{
		{"json", func() Stage { return NewJSONParser() }, `{"duration":"300ms","x": oops`},
		{"logfmt", func() Stage { return NewLogfmtParser(true, false) }, `duration=300ms x="unterminated`},
	} {
		p := tt.parser()
		e := NewLineSampleExtractor(CountSample, NewPipeline([]Stage{p, NewDurationLabelFilter(OpGreater, "duration", 250*time.Millisecond)}), []string{""}, false)
		var wanted map[string]struct{}
		switch x := p.(type) {
		case *JSONParser:
			wanted = x.wanted
		case *LogfmtParser:
			wanted = x.wanted
		}
		if _, ok := wanted["duration"]; !ok || len(wanted) != 1 {
			t.Errorf("%s: parser wants %v, want only duration", tt.name, wanted)
		}
		sp := e.ForStream(labels.EmptyLabels()).sp
		if _, ok := sp.run(0, []byte(tt.line), labels.EmptyLabels()); !ok {
			t.Fatalf("%s: line dropped", tt.name)
		}
		if v, ok := sp.builder.Get(ErrorLabel); ok {
			t.Errorf("%s: the rest of the line was parsed: __error__=%s", tt.name, v)
		}
	}
}
