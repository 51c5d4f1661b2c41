package log

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func TestJSONParser(t *testing.T) {
	tests := []struct {
		name   string
		stream labels.Labels
		line   string
		want   labels.Labels
	}{
		{"flat fields", labels.EmptyLabels(), `{"level":"info","status":200,"ok":true}`,
			labels.FromStrings("level", "info", "ok", "true", "status", "200")},
		{"nested objects flattened with underscore", labels.EmptyLabels(),
			`{"app":"foo","pod":{"uuid":"u1","deployment":{"ref":"abc"}}}`,
			labels.FromStrings("app", "foo", "pod_deployment_ref", "abc", "pod_uuid", "u1")},
		{"arrays skipped", labels.EmptyLabels(), `{"a":[1,{"b":2}],"c":"d"}`,
			labels.FromStrings("c", "d")},
		{"null skipped", labels.EmptyLabels(), `{"a":null,"c":"d"}`,
			labels.FromStrings("c", "d")},
		{"keys sanitized", labels.EmptyLabels(), `{"http.status-code":"200","1st":"x","a:b":"y","é":"z"}`,
			labels.FromStrings("_1st", "x", "a_b", "y", "http_status_code", "200", "_", "z")},
		{"blank nested key adds no path element", labels.EmptyLabels(), `{" ":{"foo":"bar"}}`,
			labels.FromStrings("foo", "bar")},
		{"stream label collision gets _extracted", labels.FromStrings("app", "api"), `{"app":"web","x":"1"}`,
			labels.FromStrings("app", "api", "app_extracted", "web", "x", "1")},
		{"nested collision gets _extracted", labels.FromStrings("pod_name", "p"), `{"pod":{"name":"q"}}`,
			labels.FromStrings("pod_name", "p", "pod_name_extracted", "q")},
		{"escaped strings decoded", labels.EmptyLabels(), `{"msg":"a \"q\" \\ \n \u00e9 \ud83d\ude00"}`,
			labels.FromStrings("msg", "a \"q\" \\ \n é 😀")},
		{"escaped key", labels.EmptyLabels(), `{"a\u0062":"1"}`,
			labels.FromStrings("ab", "1")},
		{"first duplicate wins", labels.EmptyLabels(), `{"a":"1","a":"2"}`,
			labels.FromStrings("a", "1")},
		{"numbers kept as written", labels.EmptyLabels(), `{"f":-1.5e3,"i":0}`,
			labels.FromStrings("f", "-1.5e3", "i", "0")},
		{"whitespace tolerated", labels.EmptyLabels(), " {\n\"a\" : \"b\" ,\t\"c\":1 } ",
			labels.FromStrings("a", "b", "c", "1")},
		{"empty object", labels.EmptyLabels(), `{}`, labels.EmptyLabels()},
		{"not json sets error", labels.EmptyLabels(), `level=info`,
			labels.FromStrings("__error__", ErrJSON, "__error_details__", "json: line is not a JSON object")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, got, keep := runStages(t, []Stage{NewJSONParser()}, tt.stream, tt.line)
			if !keep || out != tt.line {
				t.Fatalf("line changed or dropped: %q %v", out, keep)
			}
			if !labels.Equal(got, tt.want) {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestJSONParser_MalformedKeepsEarlierFieldsAndSetsError(t *testing.T) {
	for _, line := range []string{`{"a":"1","b":`, `{"a":"1",`, `{"a":"1" "b":2}`, `{"a":"1","b":tru}`, `{"a":"1","b":"x`} {
		_, got, keep := runStages(t, []Stage{NewJSONParser()}, labels.EmptyLabels(), line)
		if !keep {
			t.Fatalf("%q dropped", line)
		}
		if got.Get("__error__") != ErrJSON || got.Get("__error_details__") == "" {
			t.Fatalf("%q: no JSON error in %s", line, got)
		}
		if got.Get("a") != "1" {
			t.Fatalf("%q: lost field parsed before the error: %s", line, got)
		}
	}
}

func TestJSONExpressionParser(t *testing.T) {
	line := `{"app":"web","req":{"method":"GET","path":"/x","headers":{"user-agent":"curl"}},"list":[10,{"k":"v"},"s"],"n":null,"obj":{"a":1, "b":[1,2]}}`
	tests := []struct {
		name   string
		stream labels.Labels
		exprs  []JSONExpr
		want   labels.Labels
	}{
		{"dotted path", labels.EmptyLabels(), []JSONExpr{{"method", "req.method"}},
			labels.FromStrings("method", "GET")},
		{"array index", labels.EmptyLabels(), []JSONExpr{{"first", "list[0]"}, {"third", "list[2]"}},
			labels.FromStrings("first", "10", "third", "s")},
		{"bracket key with special chars", labels.EmptyLabels(), []JSONExpr{{"ua", `req.headers["user-agent"]`}},
			labels.FromStrings("ua", "curl")},
		{"index then key", labels.EmptyLabels(), []JSONExpr{{"k", `list[1].k`}},
			labels.FromStrings("k", "v")},
		{"object value as json text", labels.EmptyLabels(), []JSONExpr{{"o", "obj"}},
			labels.FromStrings("o", `{"a":1, "b":[1,2]}`)},
		{"array value as json text", labels.EmptyLabels(), []JSONExpr{{"b", "obj.b"}},
			labels.FromStrings("b", `[1,2]`)},
		{"missing path yields empty label", labels.EmptyLabels(), []JSONExpr{{"m", "req.nope"}, {"i", "list[9]"}},
			labels.FromStrings("i", "", "m", "")},
		{"null yields empty", labels.EmptyLabels(), []JSONExpr{{"n", "n"}},
			labels.FromStrings("n", "")},
		{"collision with stream label", labels.FromStrings("app", "api"), []JSONExpr{{"app", "app"}},
			labels.FromStrings("app", "api", "app_extracted", "web")},
		{"top level bracket", labels.EmptyLabels(), []JSONExpr{{"a", `["app"]`}},
			labels.FromStrings("a", "web")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewJSONExpressionParser(tt.exprs)
			if err != nil {
				t.Fatal(err)
			}
			_, got, keep := runStages(t, []Stage{p}, tt.stream, line)
			if !keep || !labels.Equal(got, tt.want) {
				t.Fatalf("got  %s (keep %v)\nwant %s", got, keep, tt.want)
			}
		})
	}
}

func TestJSONExpressionParser_Errors(t *testing.T) {
	for _, tt := range []struct {
		name  string
		exprs []JSONExpr
	}{
		{"invalid label", []JSONExpr{{"1a", "a"}}},
		{"empty path", []JSONExpr{{"a", ""}}},
		{"unterminated bracket", []JSONExpr{{"a", `a["b`}}},
		{"bad index", []JSONExpr{{"a", `a[x]`}}},
		{"trailing dot", []JSONExpr{{"a", `a.`}}},
		{"none", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewJSONExpressionParser(tt.exprs); err == nil {
				t.Fatal("expected error")
			}
		})
	}
	p, err := NewJSONExpressionParser([]JSONExpr{{"a", "a"}})
	if err != nil {
		t.Fatal(err)
	}
	_, got, _ := runStages(t, []Stage{p}, labels.EmptyLabels(), "plain text")
	if got.Get("__error__") != ErrJSON {
		t.Fatalf("non-json line: %s", got)
	}
}

func TestUnpackParser(t *testing.T) {
	tests := []struct {
		name     string
		stream   labels.Labels
		line     string
		wantLine string
		want     labels.Labels
	}{
		{"packed entry replaces line and adds labels", labels.FromStrings("job", "j"),
			`{"container":"app","pod":"p-1","_entry":"hello \"world\"","n":5}`,
			`hello "world"`, labels.FromStrings("container", "app", "job", "j", "pod", "p-1")},
		{"collision gets _extracted", labels.FromStrings("pod", "x"),
			`{"pod":"p-1","_entry":"e"}`, "e", labels.FromStrings("pod", "x", "pod_extracted", "p-1")},
		{"without _entry line and labels unchanged", labels.EmptyLabels(),
			`{"a":"b"}`, `{"a":"b"}`, labels.EmptyLabels()},
		{"not json sets error", labels.EmptyLabels(), `nope`, `nope`,
			labels.FromStrings("__error__", ErrJSON, "__error_details__", "unpack: line is not a JSON object")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, got, keep := runStages(t, []Stage{NewUnpackParser()}, tt.stream, tt.line)
			if !keep || out != tt.wantLine || !labels.Equal(got, tt.want) {
				t.Fatalf("got %q %s, want %q %s", out, got, tt.wantLine, tt.want)
			}
		})
	}
}
