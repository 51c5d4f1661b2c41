package log

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

func TestLineFormatter(t *testing.T) {
	stream := labels.FromStrings("app", "api")
	line := `level=info status=200 dur=1500ms msg="hello world"`
	tests := []struct {
		name string
		tmpl string
		want string
	}{
		{"labels", `{{.app}} {{.level}} {{.status}}`, "api info 200"},
		{"line function", `{{.level}}: {{__line__}}`, "info: " + line},
		{"timestamp function", `{{ __timestamp__ | unixEpoch }}`, "1700000000"},
		{"missing label prints empty", `[{{.missing}}]`, "[]"},
		{"pipeline of functions", `{{ .msg | ToUpper | replace "WORLD" "there" }}`, "HELLO there"},
		{"conditionals", `{{ if eq .level "info" }}I{{ else }}O{{ end }}`, "I"},
		{"range over all labels", `{{ range $k, $v := . }}{{$k}}={{$v}};{{ end }}`, "app=api;dur=1500ms;level=info;msg=hello world;status=200;"},
		{"dollar field", `{{ $.status }}`, "200"},
		{"arithmetic on labels", `{{ div .status 100 }}xx`, "2xx"},
		{"duration function", `{{ .dur | duration }}`, "1.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := must(NewLineFormatter(tt.tmpl))
			sp := NewPipeline([]Stage{NewLogfmtParser(false, false), f}).ForStream(stream)
			out, lbls, _, keep := sp.Process(time.Unix(1700000000, 0).UnixNano(), []byte(line), labels.EmptyLabels())
			if !keep || string(out) != tt.want {
				t.Fatalf("got %q, want %q", out, tt.want)
			}
			if lbls.Has(ErrorLabel) {
				t.Fatalf("unexpected error %s", lbls)
			}
		})
	}
}

func TestLineFormatter_ExecutionErrorKeepsLineAndSetsError(t *testing.T) {
	f := must(NewLineFormatter(`{{ div .a 0 }}`))
	out, got, keep := runStages(t, []Stage{NewLogfmtParser(false, false), f}, labels.EmptyLabels(), "a=1")
	if !keep || out != "a=1" || got.Get(ErrorLabel) != ErrTemplateFormat || got.Get(ErrorDetailsLabel) == "" {
		t.Fatalf("got %q %s", out, got)
	}
	if _, err := NewLineFormatter(`{{ .a `); err == nil {
		t.Fatal("bad template accepted")
	}
	if _, err := NewLineFormatter(`{{ nosuchfunc .a }}`); err == nil {
		t.Fatal("unknown function accepted")
	}
}

func TestLineFormatter_OutputThenParsed(t *testing.T) {
	f := must(NewLineFormatter(`x={{.a}}`))
	out, got, _ := runStages(t, []Stage{NewLogfmtParser(false, false), f, NewLogfmtParser(false, false)}, labels.EmptyLabels(), "a=7")
	if out != "x=7" || got.Get("x") != "7" {
		t.Fatalf("got %q %s", out, got)
	}
}

func TestLabelFormatter(t *testing.T) {
	stream := labels.FromStrings("app", "api", "env", "prod")
	line := `level=info status=200 user=bob`
	tests := []struct {
		name string
		fmts []LabelFmt
		want labels.Labels
	}{
		{"rename moves value and drops source", []LabelFmt{{Name: "severity", Value: "level", Rename: true}},
			labels.FromStrings("app", "api", "env", "prod", "severity", "info", "status", "200", "user", "bob")},
		{"rename of missing source does nothing", []LabelFmt{{Name: "x", Value: "nope", Rename: true}},
			labels.FromStrings("app", "api", "env", "prod", "level", "info", "status", "200", "user", "bob")},
		{"rename stream label", []LabelFmt{{Name: "environment", Value: "env", Rename: true}},
			labels.FromStrings("app", "api", "environment", "prod", "level", "info", "status", "200", "user", "bob")},
		{"template value", []LabelFmt{{Name: "who", Value: `{{.user}}@{{.app}}`}},
			labels.FromStrings("app", "api", "env", "prod", "level", "info", "status", "200", "user", "bob", "who", "bob@api")},
		{"template overrides stream label", []LabelFmt{{Name: "app", Value: `{{ .app | upper }}`}},
			labels.FromStrings("app", "API", "env", "prod", "level", "info", "status", "200", "user", "bob")},
		{"constant value", []LabelFmt{{Name: "team", Value: "core"}},
			labels.FromStrings("app", "api", "env", "prod", "level", "info", "status", "200", "team", "core", "user", "bob")},
		{"templates see labels from before the stage's templates", []LabelFmt{
			{Name: "level", Value: "x"}, {Name: "a", Value: `{{.status}}`}, {Name: "status", Value: `{{.a}}`}},
			labels.FromStrings("a", "200", "app", "api", "env", "prod", "level", "x", "status", "", "user", "bob")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := must(NewLabelFormatter(tt.fmts))
			_, got, keep := runStages(t, []Stage{NewLogfmtParser(false, false), f}, stream, line)
			if !keep || !labels.Equal(got, tt.want) {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestLabelFormatter_Errors(t *testing.T) {
	for _, fmts := range [][]LabelFmt{
		{{Name: "a", Value: "b", Rename: true}, {Name: "a", Value: "c", Rename: true}},
		{{Name: "1a", Value: "b"}},
		{{Name: "__error__", Value: "b"}},
		{{Name: "a", Value: "{{ .b "}},
	} {
		if _, err := NewLabelFormatter(fmts); err == nil {
			t.Errorf("%v accepted", fmts)
		}
	}
	f := must(NewLabelFormatter([]LabelFmt{{Name: "a", Value: `{{ mod 1 0 }}`}, {Name: "b", Value: "ok"}}))
	_, got, keep := runStages(t, []Stage{f}, labels.EmptyLabels(), "line")
	if !keep || got.Get(ErrorLabel) != ErrTemplateFormat || got.Get("b") != "ok" || got.Has("a") {
		t.Fatalf("got %s", got)
	}
}

// TestTemplateFunctions covers every function line_format offers.
func TestTemplateFunctions(t *testing.T) {
	ts := time.Date(2024, 3, 5, 10, 20, 30, 0, time.UTC)
	tests := []struct {
		tmpl, want string
	}{
		{`{{ "aB" | ToLower }}`, "ab"},
		{`{{ "aB" | ToUpper }}`, "AB"},
		{`{{ "aB" | lower }}`, "ab"},
		{`{{ "aB" | upper }}`, "AB"},
		{`{{ "hello wide world" | title }}`, "Hello Wide World"},
		{`{{ Replace "aaa" "a" "b" 2 }}`, "bba"},
		{`{{ replace "a" "b" "aaa" }}`, "bbb"},
		{`{{ Trim "xxhixx" "x" }}`, "hi"},
		{`{{ TrimLeft "xxhixx" "x" }}`, "hixx"},
		{`{{ TrimRight "xxhixx" "x" }}`, "xxhi"},
		{`{{ TrimPrefix "prefix-x" "prefix-" }}`, "x"},
		{`{{ TrimSuffix "x.log" ".log" }}`, "x"},
		{`{{ TrimSpace "  x  " }}`, "x"},
		{`{{ regexReplaceAll "(\\d+)ms" "took 12ms" "${1} millis" }}`, "took 12 millis"},
		{`{{ regexReplaceAllLiteral "\\d+" "a1b22" "${0}" }}`, "a${0}b${0}"},
		{`{{ if contains "ell" "hello" }}y{{ end }}`, "y"},
		{`{{ if hasPrefix "he" "hello" }}y{{ end }}`, "y"},
		{`{{ if hasSuffix "lo" "hello" }}y{{ end }}`, "y"},
		{`{{ indent 2 "a\nb" }}`, "  a\n  b"},
		{`{{ nindent 2 "a" }}`, "\n  a"},
		{`{{ repeat 3 "ab" }}`, "ababab"},
		{`{{ substr 1 3 "hello" }}`, "el"},
		{`{{ substr 2 99 "hello" }}`, "llo"},
		{`{{ substr -1 2 "héllo" }}`, "hé"},
		{`{{ substr 3 1 "hello" }}`, ""},
		{`{{ trunc 2 "héllo" }}`, "hé"},
		{`{{ trimAll "-" "--a--" }}`, "a"},
		{`{{ trimPrefix "-" "-a" }}`, "a"},
		{`{{ trimSuffix "-" "a-" }}`, "a"},
		{`{{ trim " a " }}`, "a"},
		{`{{ duration_seconds "2s" }}`, "2"},
		{`{{ (toDate "2006-01-02" "garbage").IsZero }}`, "true"},
		{`{{ (toDateInZone "2006-01-02" "No/Such_Zone" "2024-03-05").Location }}`, "UTC"},
		{`{{ trunc 3 "hello" }}`, "hel"},
		{`{{ trunc -2 "hello" }}`, "lo"},
		{`{{ printf "%05.1f" 3.14159 }}`, "003.1"},
		{`{{ .missing | default "dflt" }}`, "dflt"},
		{`{{ "given" | default "dflt" }}`, "given"},
		{`{{ count "a" "banana" }}`, "3"},
		{`{{ $j := fromJson "{\"a\":{\"b\":1}}" }}{{ $j.a.b }}`, "1"},
		{`{{ toDateInZone "2006-01-02 15:04" "UTC" "2024-03-05 10:20" | unixEpoch }}`, "1709634000"},
		{`{{ (toDate "2006-01-02" "2024-03-05").Year }}`, "2024"},
		{`{{ __timestamp__ | unixEpochMillis }}`, "1709634030000"},
		{`{{ __timestamp__ | unixEpochNanos }}`, "1709634030000000000"},
		{`{{ (unixToTime "1709634030").UTC.Format "15:04:05" }}`, "10:20:30"},
		{`{{ (unixToTime "1709634030123").UTC.Nanosecond }}`, "123000000"},
		{`{{ (unixToTime "19787").UTC.Format "2006-01-02" }}`, "2024-03-05"},
		{`{{ (unixToTime "1709634030123456").UTC.Nanosecond }}`, "123456000"},
		{`{{ (unixToTime "1709634030123456789").UTC.Nanosecond }}`, "123456789"},
		{`[{{ alignLeft 5 "ab" }}]`, "[ab   ]"},
		{`[{{ alignLeft 2 "abcd" }}]`, "[ab]"},
		{`[{{ alignRight 5 "ab" }}]`, "[   ab]"},
		{`[{{ alignRight 2 "abcd" }}]`, "[cd]"},
		{`{{ b64enc "hi" }}`, "aGk="},
		{`{{ b64dec "aGk=" }}`, "hi"},
		{`{{ urlencode "a b&c" }}`, "a+b%26c"},
		{`{{ urldecode "a+b%26c" }}`, "a b&c"},
		{`{{ bytes "1.5KiB" }}`, "1536"},
		{`{{ duration "1m30s" }}`, "90"},
		{`{{ add 1 2 "3" }}`, "6"},
		{`{{ sub 5 "2" }}`, "3"},
		{`{{ mul 2 3 4 }}`, "24"},
		{`{{ div 7 2 }}`, "3"},
		{`{{ mod 7 2 }}`, "1"},
		{`{{ addf 1.5 "2.25" }}`, "3.75"},
		{`{{ subf 5 1.5 }}`, "3.5"},
		{`{{ mulf 1.5 2 }}`, "3"},
		{`{{ divf 1 4 }}`, "0.25"},
		{`{{ max 1 7 3 }}`, "7"},
		{`{{ min 4 2 9 }}`, "2"},
		{`{{ maxf 1.5 0.5 }}`, "1.5"},
		{`{{ minf 1.5 0.5 }}`, "0.5"},
		{`{{ ceil 1.2 }}`, "2"},
		{`{{ floor 1.8 }}`, "1"},
		{`{{ round 1.2345 2 }}`, "1.23"},
		{`{{ round 1.235 2 }}`, "1.24"},
		{`{{ int "42" }}`, "42"},
		{`{{ float64 "1.5" }}`, "1.5"},
		{`{{ date "2006-01-02" (toDateInZone "2006-01-02" "UTC" "2024-03-05") }}`, "2024-03-05"},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			f, err := NewLineFormatter(tt.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			sp := NewPipeline([]Stage{f}).ForStream(labels.EmptyLabels())
			out, lbls, _, _ := sp.Process(ts.UnixNano(), []byte("line"), labels.EmptyLabels())
			if lbls.Has(ErrorLabel) {
				t.Fatalf("error: %s", lbls)
			}
			if string(out) != tt.want {
				t.Fatalf("got %q, want %q", out, tt.want)
			}
		})
	}
	// now is not reproducible; check it is current.
	f := must(NewLineFormatter(`{{ now | unixEpoch }}`))
	out, _ := f.Process(0, nil, NewLabelsBuilder(labels.EmptyLabels()))
	if n := string(out); len(n) != 10 || n < "1700000000" {
		t.Fatalf("now = %q", n)
	}
}

func TestTemplateFunctions_Errors(t *testing.T) {
	for _, tmpl := range []string{
		`{{ div 1 0 }}`, `{{ mod 1 0 }}`, `{{ unixToTime "123" }}`, `{{ unixToTime "abc" }}`,
		`{{ regexReplaceAll "(" "a" "b" }}`, `{{ bytes "x" }}`, `{{ duration "x" }}`,
		`{{ repeat -1 "a" }}`,
	} {
		f := must(NewLineFormatter(tmpl))
		b := NewLabelsBuilder(labels.EmptyLabels())
		out, keep := f.Process(0, []byte("orig"), b)
		if !keep || string(out) != "orig" || b.GetErr() != ErrTemplateFormat {
			t.Errorf("%s: got %q err=%q", tmpl, out, b.GetErr())
		}
	}
}

func TestTitle(t *testing.T) {
	//lint:ignore SA1019 strings.Title is the behaviour title reproduces
	if got := title("o'neil is here-now"); got != strings.Title("o'neil is here-now") {
		t.Fatalf("title = %q", got)
	}
}

func TestTemplateConversions(t *testing.T) {
	ints := []struct {
		in   any
		want int64
	}{
		{int(3), 3}, {int8(3), 3}, {int16(3), 3}, {int32(3), 3}, {int64(3), 3},
		{uint(3), 3}, {uint8(3), 3}, {uint16(3), 3}, {uint32(3), 3}, {uint64(3), 3},
		{float32(3.9), 3}, {3.9, 3}, {true, 1}, {false, 0}, {"42", 42}, {" 0x10 ", 16}, {"7.0", 7},
		{"7.5", 0}, {"x", 0}, {nil, 0}, {[]int{1}, 0},
	}
	for _, tt := range ints {
		if got := toInt64(tt.in); got != tt.want {
			t.Errorf("toInt64(%#v) = %d, want %d", tt.in, got, tt.want)
		}
	}
	floats := []struct {
		in   any
		want float64
	}{
		{1.5, 1.5}, {float32(0.5), 0.5}, {"2.25", 2.25}, {"x", 0}, {true, 1}, {false, 0}, {int(4), 4},
	}
	for _, tt := range floats {
		if got := toFloat64(tt.in); got != tt.want {
			t.Errorf("toFloat64(%#v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, v := range []any{nil, "", false, 0, int64(0), 0.0, []any{}, map[string]any{}} {
		if !isEmpty(v) {
			t.Errorf("isEmpty(%#v) = false", v)
		}
	}
	for _, v := range []any{"x", true, 1, int64(1), 0.5, []any{1}, map[string]any{"a": 1}, struct{}{}} {
		if isEmpty(v) {
			t.Errorf("isEmpty(%#v) = true", v)
		}
	}
	utc := func(layout string, v any) string {
		old := time.Local
		time.Local = time.UTC
		defer func() { time.Local = old }()
		return date(layout, v)
	}
	ts := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	for _, v := range []any{ts, &ts, ts.Unix(), int(ts.Unix()), int32(ts.Unix())} {
		if got := utc("2006-01-02", v); got != "2024-03-05" {
			t.Errorf("date(%T) = %q", v, got)
		}
	}
}

func TestLineFormatter_SimpleTemplatesRenderLikeTextTemplate(t *testing.T) {
	line := `level=info msg="a b" empty=`
	for _, tmpl := range []string{
		`{{.level}}`, `{{.level}} {{.msg}}!`, `[{{.missing}}]`, `plain text`, ``, `{{ .level }}-{{.empty}}`,
	} {
		f := must(NewLineFormatter(tmpl))
		if f.ft.simple == nil {
			t.Fatalf("%q not recognised as simple", tmpl)
		}
		fast, _, _ := runStages(t, []Stage{NewLogfmtParser(false, true), f}, labels.EmptyLabels(), line)
		f.ft.simple = nil
		slow, _, _ := runStages(t, []Stage{NewLogfmtParser(false, true), f}, labels.EmptyLabels(), line)
		if fast != slow {
			t.Errorf("%q: fast %q, text/template %q", tmpl, fast, slow)
		}
	}
	for _, tmpl := range []string{`{{.a | upper}}`, `{{if .a}}x{{end}}`, `{{$x := .a}}{{$x}}`, `{{.a.b}}`, `{{__line__}}`} {
		if must(NewLineFormatter(tmpl)).ft.simple != nil {
			t.Errorf("%q treated as simple", tmpl)
		}
	}
}
