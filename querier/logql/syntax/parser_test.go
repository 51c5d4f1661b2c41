package syntax

import (
	"errors"
	"testing"
)

// validQueries maps accepted queries to their canonical form. Every entry
// is also checked for round-tripping by TestCanonicalFormRoundTrips.
var validQueries = []struct {
	name, in, want string
}{
	// Stream selectors.
	{"selector with every matcher type", `{app="api", namespace=~"prod-.*", pod!="x", level!~"debug|trace"}`, `{app="api", namespace=~"prod-.*", pod!="x", level!~"debug|trace"}`},
	{"selector spacing is normalised", `{ foo = "bar" ,bar!="baz"}`, `{foo="bar", bar!="baz"}`},
	{"raw string value becomes quoted", "{foo=~`bar\\w+`}", `{foo=~"bar\\w+"}`},
	{"escapes are decoded and re-quoted", `{foo="a\"b\tc"}`, `{foo="a\"b\tc"}`},
	{"regexp that needs a non-empty value", `{app=~".+"}`, `{app=~".+"}`},
	{"empty-compatible matcher next to a selective one", `{app="a", x=~".*"}`, `{app="a", x=~".*"}`},
	{"parenthesised log query", `({app="a"} |= "x")`, `{app="a"} |= "x"`},
	{"comments are ignored", "{app=\"foo\"} # |= \"bar\" | json\n| logfmt #", `{app="foo"} | logfmt`},
	{"hash inside strings is kept", `{app="#"} |= "#"`, `{app="#"} |= "#"`},

	// Line filters.
	{"chained line filters", `{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap"`, `{foo="bar"} |= "baz" |~ "blip" != "flip" !~ "flap"`},
	{"pattern line filters", `{a="b"} |> "<_> caller=http.go <_>" !> "<_> debug <_>"`, `{a="b"} |> "<_> caller=http.go <_>" !> "<_> debug <_>"`},
	{"or-chained line filter", `{a="b"} |= "a" or "b" or "c"`, `{a="b"} |= "a" or "b" or "c"`},
	{"negated or-chain", `{a="b"} != "a" or "b"`, `{a="b"} != "a" or "b"`},
	{"ip line filter", `{a="b"} |= ip("10.0.0.0/8") != ip("10.0.0.1-10.0.0.9")`, `{a="b"} |= ip("10.0.0.0/8") != ip("10.0.0.1-10.0.0.9")`},
	{"ip and string in one or-chain", `{a="b"} |= "x" or ip("::1")`, `{a="b"} |= "x" or ip("::1")`},

	// Parsers.
	{"json without params", `{a="b"} | json`, `{a="b"} | json`},
	{"json with params and shorthand", `{a="b"} | json a="x.y", b="arr[0]", c`, `{a="b"} | json a="x.y", b="arr[0]", c`},
	{"json param naming itself prints as shorthand", `{a="b"} | json c="c"`, `{a="b"} | json c`},
	{"json with escaped key", `{app="foo"} | json bob="top.sub[\"index\"]"`, `{app="foo"} | json bob="top.sub[\"index\"]"`},
	{"logfmt", `{a="b"} | logfmt`, `{a="b"} | logfmt`},
	{"logfmt flags in either order", `{a="b"} | logfmt --keep-empty --strict`, `{a="b"} | logfmt --strict --keep-empty`},
	{"logfmt with params", `{a="b"} | logfmt a, b="c"`, `{a="b"} | logfmt a, b="c"`},
	{"logfmt with flag and params", `{a="b"} | logfmt --strict host, fwd_ip="fwd"`, `{a="b"} | logfmt --strict host, fwd_ip="fwd"`},
	{"regexp parser", "{a=\"b\"} | regexp `(?P<method>\\w+) (?P<path>\\S+)`", `{a="b"} | regexp "(?P<method>\\w+) (?P<path>\\S+)"`},
	{"pattern parser", `{a="b"} | pattern "<ip> - - <_> \"<method> <path> <_>\" <status> <_>"`, `{a="b"} | pattern "<ip> - - <_> \"<method> <path> <_>\" <status> <_>"`},
	{"unpack", `{a="b"} | unpack | json`, `{a="b"} | unpack | json`},

	// Label filters.
	{"string label filters", `{a="b"} | x="1" | y!="2" | z=~"3.*" | w!~"4"`, `{a="b"} | x="1" | y!="2" | z=~"3.*" | w!~"4"`},
	{"numeric label filters", `{a="b"} | a>1 | b>=2 | c<3 | d<=4 | e==5 | f!=6 | g=7`, `{a="b"} | a > 1 | b >= 2 | c < 3 | d <= 4 | e == 5 | f != 6 | g == 7`},
	{"negative and fractional numbers", `{a="b"} | x > -1.5 | y < +2`, `{a="b"} | x > -1.5 | y < 2`},
	{"duration label filters", `{a="b"} | latency > 250ms | took <= 1.5h | t == 1h30m | u != 10us`, `{a="b"} | latency > 250ms | took <= 1h30m | t == 1h30m | u != 10µs`},
	{"negative duration", `{a="b"} | skew > -5m | t < -1.5us`, `{a="b"} | skew > -5m | t < -1.5µs`},
	{"negative offset", `rate({a="b"}[5m] offset -1h)`, `rate({a="b"}[5m] offset -1h)`},
	{"drop before a range needs no space", `sum by (level) (count_over_time({job="x"} | drop __error__[1m]))`, `sum by (level) (count_over_time({job="x"} | drop __error__ [1m]))`},
	{"empty raw string filter", "{a=\"b\"} |= ``", `{a="b"} |= ""`},
	{"uppercase function and keyword names", `SUM BY (a) (RATE({a="b"}[1m]))`, `sum by (a) (rate({a="b"}[1m]))`},
	{"on () with set operator", `sum(rate({a="b"}[1m])) by (a) > 10 or on() vector(0)`, `sum by (a) (rate({a="b"}[1m])) > 10 or on () vector(0)`},
	{"large number printed in exponent form", `{a="b"} | x > 1000000000000000000000`, `{a="b"} | x > 1e+21`},
	{"bytes label filters", `{a="b"} | size > 20MB | s2 >= 1.5KiB | s3 = 1GiB`, `{a="b"} | size > 20MB | s2 >= 1536B | s3 == 1GiB`},
	{"ip label filters", `{a="b"} | addr = ip("10.0.0.0/8") | addr != ip("1.2.3.4")`, `{a="b"} | addr = ip("10.0.0.0/8") | addr != ip("1.2.3.4")`},
	{"function words as label names", `{ foo = "bar" }|logfmt|rate="a"|ip="x"|bytes>1|duration>1s|count=2`, `{foo="bar"} | logfmt | rate="a" | ip="x" | bytes > 1 | duration > 1s | count == 2`},
	{"and binds tighter than or", `{a="b"} | x>1 or y>2 and z>3`, `{a="b"} | x > 1 or y > 2 and z > 3`},
	{"parentheses override precedence", `{a="b"} | (x>1 or y>2) and z>3`, `{a="b"} | (x > 1 or y > 2) and z > 3`},
	{"comma and juxtaposition mean and", `{a="b"} | x>1, y>2 z>3`, `{a="b"} | x > 1 and (y > 2 and z > 3)`},
	{"left-associative and", `{a="b"} | x>1 and y>2 and z>3`, `{a="b"} | x > 1 and y > 2 and z > 3`},
	{"right operand or needs parentheses", `{a="b"} | x>1 or (y>2 or z>3)`, `{a="b"} | x > 1 or (y > 2 or z > 3)`},

	// Formatting and label operations.
	{"line_format", `{a="b"} | line_format "{{.status}} {{.path}}"`, `{a="b"} | line_format "{{.status}} {{.path}}"`},
	{"label_format rename and template", `{a="b"} | label_format dst=src, x="{{.a}}-{{.b}}"`, `{a="b"} | label_format dst=src, x="{{.a}}-{{.b}}"`},
	{"drop", `{a="b"} | drop a, b="v", c=~"re", d!="x"`, `{a="b"} | drop a, b="v", c=~"re", d!="x"`},
	{"keep", `{a="b"} | keep a, b="v"`, `{a="b"} | keep a, b="v"`},
	{"decolorize", `{a="b"} | decolorize`, `{a="b"} | decolorize`},

	// Log range aggregations.
	{"count_over_time", `count_over_time({foo="bar"}[5m])`, `count_over_time({foo="bar"}[5m])`},
	{"rate with pipeline", `rate({app="a"} |= "x" | json [1h])`, `rate({app="a"} |= "x" | json [1h])`},
	{"range before pipeline prints after it", `count_over_time({foo="bar"}[12h] |= "error")`, `count_over_time({foo="bar"} |= "error" [12h])`},
	{"bytes_over_time", `bytes_over_time({a="b"}[1w])`, `bytes_over_time({a="b"}[1w])`},
	{"bytes_rate", `bytes_rate({a="b"}[30s])`, `bytes_rate({a="b"}[30s])`},
	{"absent_over_time", `absent_over_time({a="b"}[1d])`, `absent_over_time({a="b"}[1d])`},
	{"offset after range", `rate({a="b"}[5m] offset 1h)`, `rate({a="b"}[5m] offset 1h)`},
	{"offset after range before pipeline", `rate({a="b"}[5m] offset 1h |= "x")`, `rate({a="b"} |= "x" [5m] offset 1h)`},
	{"parenthesised selector and pipeline", `count_over_time(({foo="bar"} |= "baz")[5m])`, `count_over_time({foo="bar"} |= "baz" [5m])`},
	{"parenthesised log range", `count_over_time(({foo="bar"} |= "baz" [5m]))`, `count_over_time({foo="bar"} |= "baz" [5m])`},
	{"range function names are case-insensitive", `COUNT_OVER_TIME({a="b"}[5m])`, `count_over_time({a="b"}[5m])`},

	// Unwrapped range aggregations.
	{"sum_over_time unwrap", `sum_over_time({a="b"} | json | unwrap latency [5m])`, `sum_over_time({a="b"} | json | unwrap latency [5m])`},
	{"unwrap duration", `avg_over_time({a="b"} | unwrap duration(took) [5m])`, `avg_over_time({a="b"} | unwrap duration(took) [5m])`},
	{"unwrap duration_seconds", `max_over_time({a="b"} | unwrap duration_seconds(took) [5m])`, `max_over_time({a="b"} | unwrap duration_seconds(took) [5m])`},
	{"unwrap bytes", `min_over_time({a="b"} | unwrap bytes(size) [5m])`, `min_over_time({a="b"} | unwrap bytes(size) [5m])`},
	{"unwrap followed by label filters", `stddev_over_time({a="b"} | unwrap x | __error__="" | x > 0 [5m])`, `stddev_over_time({a="b"} | unwrap x | __error__="" | x > 0 [5m])`},
	{"range right after selector then unwrap", `stdvar_over_time({a="b"}[5m] | unwrap x)`, `stdvar_over_time({a="b"} | unwrap x [5m])`},
	{"quantile_over_time with grouping", `quantile_over_time(0.99, {a="b"} | unwrap x [5m]) by (pod)`, `quantile_over_time(0.99, {a="b"} | unwrap x [5m]) by (pod)`},
	{"quantile with leading-dot number", `quantile_over_time(.5,{a="b"} | unwrap x [5m])`, `quantile_over_time(0.5, {a="b"} | unwrap x [5m])`},
	{"first and last over time", `first_over_time({a="b"} | unwrap x [5m]) + last_over_time({a="b"} | unwrap x [5m]) without (y)`, `first_over_time({a="b"} | unwrap x [5m]) + last_over_time({a="b"} | unwrap x [5m]) without (y)`},
	{"rate over unwrap", `rate({a="b"} | unwrap x [5m])`, `rate({a="b"} | unwrap x [5m])`},
	{"rate_counter", `rate_counter({a="b"} | unwrap x [5m])`, `rate_counter({a="b"} | unwrap x [5m])`},
	{"absent_over_time over unwrap", `absent_over_time({a="b"} | unwrap x [5m])`, `absent_over_time({a="b"} | unwrap x [5m])`},
	{"unwrap with offset", `max_over_time({app="foo"} | unwrap bar [5m] offset 5m) without (foo,bar)`, `max_over_time({app="foo"} | unwrap bar [5m] offset 5m) without (foo, bar)`},
	{"empty grouping is kept", `min_over_time({a="b"} | unwrap x [5m]) by ()`, `min_over_time({a="b"} | unwrap x [5m]) by ()`},
	{"parenthesised selector with range inside", `max_over_time(({a="b"}[5m] | unwrap x))`, `max_over_time({a="b"} | unwrap x [5m])`},
	{"parenthesised full range with offset", `max_over_time(({a="b"} | json | unwrap x [5m] offset 1m))`, `max_over_time({a="b"} | json | unwrap x [5m] offset 1m)`},
	{"doubly parenthesised log range", `rate((({a="b"} |= "x")[5m]))`, `rate({a="b"} |= "x" [5m])`},
	{"parenthesised bare selector with offset", `count_over_time(({a="b"})[5m] offset 1h)`, `count_over_time({a="b"}[5m] offset 1h)`},
	{"unwrap before a parenthesised range", `sum_over_time(({a="b"} | unwrap bytes(x) | x > 1KB)[1m])`, `sum_over_time({a="b"} | unwrap bytes(x) | x > 1kB [1m])`},
	{"parenthesised pipeline with unwrap", `max_over_time(({a="b"} | json | unwrap foo)[5m])`, `max_over_time({a="b"} | json | unwrap foo [5m])`},

	// Vector aggregations.
	{"sum", `sum(rate({a="b"}[5m]))`, `sum(rate({a="b"}[5m]))`},
	{"grouping after the argument prints before it", `avg(count_over_time({a="b"}[5m])) by (bar,foo)`, `avg by (bar, foo) (count_over_time({a="b"}[5m]))`},
	{"without before the argument", `max without (bar) (count_over_time({a="b"}[5m]))`, `max without (bar) (count_over_time({a="b"}[5m]))`},
	{"every vector op", `min(count(stddev(stdvar(sort(sort_desc(count_over_time({a="b"}[5m])))))))`, `min(count(stddev(stdvar(sort(sort_desc(count_over_time({a="b"}[5m])))))))`},
	{"topk", `topk(10,count_over_time({a="b"}[5h])) without (bar)`, `topk without (bar) (10, count_over_time({a="b"}[5h]))`},
	{"bottomk nested", `bottomk(30 ,sum(rate({a="b"}[5h])) by (foo))`, `bottomk(30, sum by (foo) (rate({a="b"}[5h])))`},
	{"aggregation over a literal", `sum(1)`, `sum(1)`},

	// Binary operators.
	{"literal arithmetic", `1 + 1`, `1 + 1`},
	{"signed literals", `1 + -2 / 1`, `1 + -2 / 1`},
	{"left associativity", `1 - 2 - 3`, `1 - 2 - 3`},
	{"parentheses kept where needed", `(1 - 2) * 3`, `(1 - 2) * 3`},
	{"redundant parentheses dropped", `1 - (2 * 3)`, `1 - 2 * 3`},
	{"right operand of same precedence keeps parentheses", `1 - (2 - 3)`, `1 - (2 - 3)`},
	{"power is right associative", `2 ^ 3 ^ 2`, `2 ^ 3 ^ 2`},
	{"left-grouped power keeps parentheses", `(2 ^ 3) ^ 2`, `(2 ^ 3) ^ 2`},
	{"comparison between scalars", `1 > 1`, `1 > 1`},
	{"comparison with bool", `rate({a="b"}[5m]) > bool 1`, `rate({a="b"}[5m]) > bool 1`},
	{"set operators", `rate({a="b"}[5m]) and rate({c="d"}[5m]) or vector(0) unless rate({e="f"}[5m])`, `rate({a="b"}[5m]) and rate({c="d"}[5m]) or vector(0) unless rate({e="f"}[5m])`},
	{"on and group_left", `sum by (a) (rate({a="b"}[5m])) * on (a) group_left (c) sum by (a, c) (rate({a="b"}[5m]))`, `sum by (a) (rate({a="b"}[5m])) * on (a) group_left (c) sum by (a, c) (rate({a="b"}[5m]))`},
	{"ignoring and group_right without labels", `rate({a="b"}[5m]) / ignoring (x) group_right rate({a="b"}[5m])`, `rate({a="b"}[5m]) / ignoring (x) group_right () rate({a="b"}[5m])`},
	{"group_left followed by a parenthesised operand", `rate({a="b"}[5m]) / on () group_left (rate({a="b"}[5m]) + 1)`, `rate({a="b"}[5m]) / on () group_left () (rate({a="b"}[5m]) + 1)`},
	{"bool with on", `sum by (app,machine) (count_over_time({app="foo"}[1m])) > bool on () group_right (app) sum by (app) (count_over_time({app="foo"}[1m]))`, `sum by (app, machine) (count_over_time({app="foo"}[1m])) > bool on () group_right (app) sum by (app) (count_over_time({app="foo"}[1m]))`},
	{"modulo", `rate({a="b"}[5m]) % 2`, `rate({a="b"}[5m]) % 2`},
	{"vector", `vector(1)`, `vector(1)`},
	{"hex literal", `0x1F`, `31`},
	{"scientific literal", `1e3 * 2.5e-3`, `1000 * 0.0025`},
	{"label_replace", `label_replace(rate({a="b"}[5m]), "dst", "$1", "src", "(.*)")`, `label_replace(rate({a="b"}[5m]), "dst", "$1", "src", "(.*)")`},
	{"multi-line query", "sum by (job) (\n  count_over_time({namespace=\"tns\"} |= \"level=error\"[5m])\n/\n  count_over_time({namespace=\"tns\"}[5m])\n) * 100", `sum by (job) (count_over_time({namespace="tns"} |= "level=error" [5m]) / count_over_time({namespace="tns"}[5m])) * 100`},
}

func TestParseExprPrintsCanonicalForm(t *testing.T) {
	for _, tc := range validQueries {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseExpr(tc.in)
			if err != nil {
				t.Fatalf("ParseExpr(%q): %v", tc.in, err)
			}
			if got := e.String(); got != tc.want {
				t.Errorf("ParseExpr(%q).String()\n got: %s\nwant: %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestCanonicalFormRoundTrips(t *testing.T) {
	for _, tc := range validQueries {
		t.Run(tc.name, func(t *testing.T) {
			e1, err := ParseExpr(tc.in)
			if err != nil {
				t.Fatalf("ParseExpr(%q): %v", tc.in, err)
			}
			s1 := e1.String()
			e2, err := ParseExpr(s1)
			if err != nil {
				t.Fatalf("re-parse of %q: %v", s1, err)
			}
			if s2 := e2.String(); s2 != s1 {
				t.Errorf("String not stable:\n first: %s\nsecond: %s", s1, s2)
			}
			if !equalNodes(e1, e2) {
				t.Errorf("re-parsed tree differs for %q", s1)
			}
		})
	}
}

func TestParseErrorIsTypedAndMatchesErrParse(t *testing.T) {
	_, err := ParseExpr(`{foo`)
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ParseError", err, err)
	}
	if !errors.Is(err, ErrParse) {
		t.Errorf("errors.Is(%v, ErrParse) = false", err)
	}
	if pe.Line != 1 || pe.Col != 5 {
		t.Errorf("position = %d:%d, want 1:5", pe.Line, pe.Col)
	}
}
