package log

import (
	"strconv"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// runStages runs stages over one line of a stream and returns the output
// line, the final labels (as a "{...}" string) and whether it was kept.
func runStages(t *testing.T, stages []Stage, stream labels.Labels, line string) (string, labels.Labels, bool) {
	t.Helper()
	sp := NewPipeline(stages).ForStream(stream)
	out, lbls, _, keep := sp.Process(0, []byte(line), labels.EmptyLabels())
	return string(out), lbls, keep
}

// must unwraps a constructor result in tests; invalid test input is a
// programming error.
func must[S any](s S, err error) S {
	if err != nil {
		panic(err)
	}
	return s
}

func TestPipeline_NoStagesReturnsStreamLabelsAndStableHash(t *testing.T) {
	stream := labels.FromStrings("app", "api", "env", "prod")
	sp := NewPipeline(nil).ForStream(stream)
	out, lbls, h, keep := sp.Process(1, []byte("hello"), labels.EmptyLabels())
	if !keep || string(out) != "hello" || !labels.Equal(lbls, stream) {
		t.Fatalf("got %q %s %v", out, lbls, keep)
	}
	if h != HashLabels(stream) {
		t.Fatalf("hash %d, want %d", h, HashLabels(stream))
	}
}

func TestPipeline_ForStreamReturnsSameStreamPipelineForEqualLabels(t *testing.T) {
	p := NewPipeline([]Stage{NewJSONParser()})
	a := p.ForStream(labels.FromStrings("a", "1"))
	b := p.ForStream(labels.FromStrings("a", "1"))
	c := p.ForStream(labels.FromStrings("a", "2"))
	if a != b || a == c {
		t.Fatal("stream pipelines not cached by labels")
	}
}

func TestPipeline_MetadataAppearsInLabelsAndParsedOverride(t *testing.T) {
	stream := labels.FromStrings("app", "api")
	sp := NewPipeline([]Stage{NewLogfmtParser(false, false)}).ForStream(stream)
	_, lbls, _, keep := sp.Process(0, []byte("trace_id=parsed level=info"), labels.FromStrings("trace_id", "meta", "user", "u1"))
	want := labels.FromStrings("app", "api", "level", "info", "trace_id", "parsed", "user", "u1")
	if !keep || !labels.Equal(lbls, want) {
		t.Fatalf("got %s, want %s", lbls, want)
	}
}

func TestPipeline_EqualLabelSetsShareHashAndValue(t *testing.T) {
	sp := NewPipeline([]Stage{NewLogfmtParser(false, false)}).ForStream(labels.FromStrings("app", "api"))
	_, l1, h1, _ := sp.Process(0, []byte("level=info a=1"), labels.EmptyLabels())
	_, l2, h2, _ := sp.Process(0, []byte("a=1 level=info"), labels.EmptyLabels())
	_, l3, h3, _ := sp.Process(0, []byte("a=2 level=info"), labels.EmptyLabels())
	if h1 != h2 || !labels.Equal(l1, l2) {
		t.Fatalf("same label set gave %s/%d and %s/%d", l1, h1, l2, h2)
	}
	if h1 == h3 || labels.Equal(l1, l3) {
		t.Fatalf("different label sets collided: %s %s", l1, l3)
	}
	if h1 != HashLabels(l1) {
		t.Fatal("reported hash differs from HashLabels")
	}
}

func TestPipeline_LabelsStayValidAfterInputBufferReuse(t *testing.T) {
	sp := NewPipeline([]Stage{NewJSONParser()}).ForStream(labels.FromStrings("app", "api"))
	buf := []byte(`{"msg":"first"}`)
	_, l1, _, _ := sp.Process(0, buf, labels.EmptyLabels())
	copy(buf, `{"msg":"XXXXX"}`)
	sp.Process(0, buf, labels.EmptyLabels())
	if got := l1.Get("msg"); got != "first" {
		t.Fatalf("labels of first line changed to %q", got)
	}
}

func TestPipeline_DroppedLineStopsLaterStages(t *testing.T) {
	called := false
	spy := StageFunc(func(_ int64, line []byte, _ *LabelsBuilder) ([]byte, bool) {
		called = true
		return line, true
	})
	f, err := NewLineFilter(LineContains, "needle")
	if err != nil {
		t.Fatal(err)
	}
	_, _, keep := runStages(t, []Stage{f, spy}, labels.EmptyLabels(), "haystack")
	if keep || called {
		t.Fatalf("keep=%v later stage called=%v", keep, called)
	}
}

func TestLabelsBuilder_ExtractedSuffixOnlyForStreamLabelCollisions(t *testing.T) {
	b := NewLabelsBuilder(labels.FromStrings("app", "api"))
	if got := b.ParsedName("app"); got != "app_extracted" {
		t.Fatalf("app -> %q", got)
	}
	if got := b.ParsedName("level"); got != "level" {
		t.Fatalf("level -> %q", got)
	}
}

func TestLabelsBuilder_SetGetDelPrecedence(t *testing.T) {
	b := NewLabelsBuilder(labels.FromStrings("app", "api", "env", "prod"))
	b.Reset(labels.FromStrings("trace", "t1"))
	b.Set("app", "override")
	b.Del("env", "trace")
	if v, _ := b.Get("app"); v != "override" {
		t.Fatalf("app = %q", v)
	}
	if _, ok := b.Get("env"); ok {
		t.Fatal("env not deleted")
	}
	b.Set("env", "again")
	b.SetErr(ErrJSON)
	b.SetErrorDetails("first")
	b.SetErrorDetails("second")
	got, _ := b.Labels()
	want := labels.FromStrings("__error__", ErrJSON, "__error_details__", "first", "app", "override", "env", "again")
	if !labels.Equal(got, want) {
		t.Fatalf("got %s, want %s", got, want)
	}
	b.Reset(labels.EmptyLabels())
	got, _ = b.Labels()
	if !labels.Equal(got, labels.FromStrings("app", "api", "env", "prod")) {
		t.Fatalf("reset left %s", got)
	}
}

func TestPipeline_InterleavedStreamsResolveCollisionsPerStream(t *testing.T) {
	for _, parser := range []Stage{NewJSONParser(), NewLogfmtParser(false, false)} {
		p := NewPipeline([]Stage{parser})
		a := p.ForStream(labels.FromStrings("level", "stream"))
		b := p.ForStream(labels.FromStrings("app", "x"))
		line := []byte(`level=info`)
		if _, ok := parser.(*JSONParser); ok {
			line = []byte(`{"level":"info"}`)
		}
		for i := 0; i < 3; i++ {
			_, la, _, _ := a.Process(0, line, labels.EmptyLabels())
			_, lb, _, _ := b.Process(0, line, labels.EmptyLabels())
			if la.Get("level_extracted") != "info" || lb.Get("level") != "info" || lb.Has("level_extracted") {
				t.Fatalf("%T round %d: a=%s b=%s", parser, i, la, lb)
			}
		}
	}
}

func TestResultCache_StopsCachingUniqueLabelSets(t *testing.T) {
	p := NewPipeline([]Stage{NewLogfmtParser(false, false)})
	sp := p.ForStream(labels.FromStrings("app", "api"))
	for i := 0; i < 2000; i++ {
		line := []byte("id=" + strconv.Itoa(i))
		_, l, _, _ := sp.Process(0, line, labels.EmptyLabels())
		if l.Get("id") != strconv.Itoa(i) {
			t.Fatalf("line %d: %s", i, l)
		}
	}
	if n := len(p.results.m); n > 300 {
		t.Fatalf("cache holds %d never-repeating label sets", n)
	}
	// Repeating sets are cached again once they hit.
	for i := 0; i < 5000; i++ {
		sp.Process(0, []byte("id=x"+strconv.Itoa(i%3)), labels.EmptyLabels())
	}
	line := []byte("id=x1")
	if n := testing.AllocsPerRun(50, func() { sp.Process(0, line, labels.EmptyLabels()) }); n != 0 {
		t.Fatalf("repeating label set allocates %v per line", n)
	}
}

func TestLabelsBuilder_MergePrecedenceAndDeletes(t *testing.T) {
	b := NewLabelsBuilder(labels.FromStrings("a", "stream", "b", "stream", "d", "stream"))
	b.Reset(labels.FromStrings("b", "meta", "c", "meta", "e", "meta"))
	b.Set("c", "added")
	b.Set("z", "added")
	b.Del("d", "e")
	got, _ := b.Labels()
	want := labels.FromStrings("a", "stream", "b", "meta", "c", "added", "z", "added")
	if !labels.Equal(got, want) {
		t.Fatalf("got %s, want %s", got, want)
	}
}
