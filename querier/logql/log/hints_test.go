package log

import (
	"testing"

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
