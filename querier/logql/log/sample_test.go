package log

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func TestLineSampleExtractor(t *testing.T) {
	stream := labels.FromStrings("app", "api", "env", "prod")
	p := NewPipeline([]Stage{must(NewLineFilter(LineNotContains, "debug")), NewLogfmtParser(false, false)})
	tests := []struct {
		name     string
		kind     LineSampleKind
		grouping []string
		without  bool
		line     string
		value    float64
		want     labels.Labels
		ok       bool
	}{
		{"count keeps all labels", CountSample, nil, false, "level=info", 1,
			labels.FromStrings("app", "api", "env", "prod", "level", "info"), true},
		{"bytes counts output line", BytesSample, nil, false, "level=info", 10,
			labels.FromStrings("app", "api", "env", "prod", "level", "info"), true},
		{"grouping by", CountSample, []string{"level"}, false, "level=info", 1,
			labels.FromStrings("level", "info"), true},
		{"grouping without", CountSample, []string{"env"}, true, "level=info", 1,
			labels.FromStrings("app", "api", "level", "info"), true},
		{"filtered line yields no sample", CountSample, nil, false, "level=debug", 0, labels.EmptyLabels(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewLineSampleExtractor(tt.kind, p, tt.grouping, tt.without)
			v, got, h, ok := e.ForStream(stream).Process(0, []byte(tt.line), labels.EmptyLabels())
			if ok != tt.ok {
				t.Fatalf("ok=%v", ok)
			}
			if !ok {
				return
			}
			if v != tt.value || !labels.Equal(got, tt.want) || h != HashLabels(got) {
				t.Fatalf("got %v %s, want %v %s", v, got, tt.value, tt.want)
			}
		})
	}
}

func TestLabelSampleExtractor(t *testing.T) {
	stream := labels.FromStrings("app", "api")
	noErr := NewStringLabelFilter(labels.MustNewMatcher(labels.MatchEqual, ErrorLabel, ""))
	tests := []struct {
		name     string
		label    string
		conv     Conversion
		post     []Stage
		grouping []string
		without  bool
		line     string
		value    float64
		want     labels.Labels
		ok       bool
	}{
		{"float value, unwrapped label dropped", "latency", ConvertNone, nil, nil, false,
			"latency=0.25 level=info", 0.25, labels.FromStrings("app", "api", "level", "info"), true},
		{"duration", "latency", ConvertDuration, nil, nil, false,
			"latency=250ms", 0.25, labels.FromStrings("app", "api"), true},
		{"duration_seconds", "latency", ConvertDurationSeconds, nil, nil, false,
			"latency=1m30s", 90, labels.FromStrings("app", "api"), true},
		{"bytes", "size", ConvertBytes, nil, nil, false,
			"size=2KiB", 2048, labels.FromStrings("app", "api"), true},
		{"grouping by keeps only groups", "latency", ConvertNone, nil, []string{"level"}, false,
			"latency=3 level=warn", 3, labels.FromStrings("level", "warn"), true},
		{"grouping by may keep the unwrapped label", "latency", ConvertNone, nil, []string{"latency"}, false,
			"latency=3 level=warn", 3, labels.FromStrings("latency", "3"), true},
		{"without also drops unwrapped label", "latency", ConvertNone, nil, []string{"level"}, true,
			"latency=3 level=warn", 3, labels.FromStrings("app", "api"), true},
		{"conversion failure carries error and all labels", "latency", ConvertNone, nil, []string{"level"}, false,
			"latency=slow level=warn", 0, labels.FromStrings("__error__", ErrSampleExtraction,
				"__error_details__", `strconv.ParseFloat: parsing "slow": invalid syntax`, "app", "api", "latency", "slow", "level", "warn"), true},
		{"missing label is a conversion failure", "latency", ConvertDuration, nil, nil, false,
			"level=warn", 0, labels.FromStrings("__error__", ErrSampleExtraction,
				"__error_details__", `time: invalid duration ""`, "app", "api", "level", "warn"), true},
		{"bytes conversion failure", "size", ConvertBytes, nil, nil, false,
			"size=big", 0, labels.FromStrings("__error__", ErrSampleExtraction,
				"__error_details__", `bytes "big": strconv.ParseFloat: parsing "": invalid syntax`, "app", "api", "size", "big"), true},
		{"post filter drops errored sample", "latency", ConvertNone, []Stage{noErr}, nil, false,
			"latency=slow", 0, labels.EmptyLabels(), false},
		{"post filter keeps good sample", "latency", ConvertNone, []Stage{noErr}, nil, false,
			"latency=2", 2, labels.FromStrings("app", "api"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPipeline([]Stage{NewLogfmtParser(false, false)})
			e := must(NewLabelSampleExtractor(tt.label, tt.conv, tt.post, p, tt.grouping, tt.without))
			v, got, _, ok := e.ForStream(stream).Process(0, []byte(tt.line), labels.EmptyLabels())
			if ok != tt.ok {
				t.Fatalf("ok=%v, want %v (%s)", ok, tt.ok, got)
			}
			if ok && (v != tt.value || !labels.Equal(got, tt.want)) {
				t.Fatalf("got %v %s\nwant %v %s", v, got, tt.value, tt.want)
			}
		})
	}
	if _, err := NewLabelSampleExtractor("", ConvertNone, nil, nil, nil, false); err == nil {
		t.Fatal("empty label accepted")
	}
}

func TestSampleExtractor_ForStreamCachedAndSteadyStateDoesNotAllocate(t *testing.T) {
	p := NewPipeline([]Stage{NewLogfmtParser(false, false)})
	e := must(NewLabelSampleExtractor("latency", ConvertDuration, nil, p, []string{"level"}, false))
	stream := labels.FromStrings("app", "api")
	s := e.ForStream(stream)
	if e.ForStream(stream) != s {
		t.Fatal("not cached")
	}
	line := []byte("level=info latency=12ms msg=hello")
	s.Process(0, line, labels.EmptyLabels())
	if n := testing.AllocsPerRun(100, func() { s.Process(0, line, labels.EmptyLabels()) }); n != 0 {
		t.Fatalf("%v allocs per sample", n)
	}
}
