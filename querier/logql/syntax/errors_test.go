package syntax

import (
	"errors"
	"testing"
)

// malformedQueries pairs rejected queries with the exact error text users
// see. Syntax errors read like Loki's yacc parser ("unexpected X, expecting
// A or B", token names as Loki prints them); semantic errors carry Loki's
// wording plus the position of the offending construct.
var malformedQueries = []struct {
	in, want string
}{
	{"unk({ foo = \"bar\" }[5m])",
		"parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"},
	{"absent_over_time({ foo = \"bar\" }[5h]) by (foo)",
		"parse error at line 1, col 1: grouping not allowed for absent_over_time aggregation"},
	{"rate({ foo = \"bar\" }[5minutes])",
		"parse error at line 1, col 21: unknown unit \"minutes\" in duration \"5minutes\""},
	{"label_replace(rate({ foo = \"bar\" }[5m]),\"\")",
		"parse error at line 1, col 43: syntax error: unexpected ), expecting ,"},
	{"label_replace(rate({ foo = \"bar\" }[5m]),\"foo\",\"$1\",\"bar\",\"^^^^x43\\\\q\")",
		"parse error at line 1, col 1: invalid regex in label_replace: error parsing regexp: invalid escape sequence: `\\q`"},
	{"label_replace(rate({ foo = \"bar\" }[5m]),\"1foo\",\"$1\",\"bar\",\"(.*)\")",
		"parse error at line 1, col 1: invalid destination label name in label_replace: 1foo"},
	{"rate({ foo = \"bar\" }[5)",
		"parse error at line 1, col 21: missing closing ']' in duration"},
	{"min({ foo = \"bar\" }[5m])",
		"parse error at line 1, col 20: syntax error: unexpected RANGE"},
	{"{ foo = \"bar\" }|logfmt|addr>=ip(\"1.2.3.4\")",
		"parse error at line 1, col 30: syntax error: unexpected ip"},
	{"sum(3 ,count_over_time({ foo = \"bar\" }[5h]))",
		"parse error at line 1, col 1: unsupported parameter for operation sum(3,"},
	{"topk(count_over_time({ foo = \"bar\" }[5h]))",
		"parse error at line 1, col 1: parameter required for operation topk"},
	{"bottomk(he,count_over_time({ foo = \"bar\" }[5h]))",
		"parse error at line 1, col 9: syntax error: unexpected IDENTIFIER"},
	{"bottomk(1.2,count_over_time({ foo = \"bar\" }[5h]))",
		"parse error at line 1, col 9: invalid parameter bottomk(1.2,"},
	{"topk(0,count_over_time({ foo = \"bar\" }[5h]))",
		"parse error at line 1, col 6: invalid parameter (must be greater than 0) topk(0,"},
	{"stddev({ foo = \"bar\" })",
		"parse error at line 1, col 23: syntax error: unexpected )"},
	{"{foo=\"bar}",
		"parse error at line 1, col 6: literal not terminated"},
	{"{foo=\"bar\"",
		"parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"},
	{"{foo=\"bar\"} |~",
		"parse error at line 1, col 15: syntax error: unexpected $end, expecting STRING or ip"},
	{"{foo=\"bar\"} \"foo\"",
		"parse error at line 1, col 13: syntax error: unexpected STRING"},
	{"{foo=\"bar\"} foo",
		"parse error at line 1, col 13: syntax error: unexpected IDENTIFIER"},
	{"{app=~\"\xa0\xa1\"}",
		"parse error at line 1, col 7: invalid UTF-8 encoding"},
	{"sum_over_time({app=\"foo\"} |= \"bar\" | json [5m])",
		"parse error at line 1, col 1: invalid aggregation sum_over_time without unwrap"},
	{"count_over_time({app=\"foo\"} |= \"foo\" | json | unwrap foo [5m])",
		"parse error at line 1, col 1: invalid aggregation count_over_time with unwrap"},
	{"{foo=\"bar\"} + {foo=\"bar\"}",
		"parse error at line 1, col 13: unexpected type for left leg of binary operation (+): *syntax.LogSelectorExpr"},
	{"sum(count_over_time({foo=\"bar\"}[5m])) by (foo) - {foo=\"bar\"}",
		"parse error at line 1, col 48: unexpected type for right leg of binary operation (-): *syntax.LogSelectorExpr"},
	{"sum(count_over_time({foo=\"bar\"}[5m])) by (foo) or 1",
		"parse error at line 1, col 48: unexpected literal for right leg of logical/set binary operation (or): 1.000000"},
	{"1 unless sum(count_over_time({foo=\"bar\"}[5m])) by (foo)",
		"parse error at line 1, col 3: unexpected literal for left leg of logical/set binary operation (unless): 1.000000"},
	{"bool 1 > 1 > bool 1",
		"parse error at line 1, col 1: syntax error: unexpected bool"},
	{"sum_over_time({namespace=\"tns\"} | unwrap latency [5m]) by (foo)",
		"parse error at line 1, col 1: grouping not allowed for sum_over_time aggregation"},
	{"sum_over_time(50,{namespace=\"tns\"} | unwrap latency [5m])",
		"parse error at line 1, col 1: parameter 50 not supported for operation sum_over_time"},
	{"quantile_over_time({namespace=\"tns\"} | unwrap latency [5m])",
		"parse error at line 1, col 1: parameter required for operation quantile_over_time"},
	{"quantile_over_time(foo,{namespace=\"tns\"} | unwrap latency [5m])",
		"parse error at line 1, col 20: syntax error: unexpected IDENTIFIER, expecting NUMBER or { or ("},
	{"#{app=\"foo\"} | json",
		"parse error at line 1, col 20: syntax error: unexpected $end"},
	{"{}",
		"parse error at line 1, col 1: queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"},
	{"{app=~\".*\"}",
		"parse error at line 1, col 1: queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"},
	{"{app!=\"x\"}",
		"parse error at line 1, col 1: queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"},
	{"{app!~\"a|b\"} |= \"x\"",
		"parse error at line 1, col 1: queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"},
	{"count_over_time({app=~\".*\"}[5m])",
		"parse error at line 1, col 17: queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"},
	{"1 + count_over_time({app=~\".+\"}[5m]) + count_over_time({app=~\".*\"}[5m])",
		"parse error at line 1, col 56: queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"},
	{"{app=\"a\"} | regexp \"(?P<a>\"",
		"parse error at line 1, col 20: invalid regexp \"(?P<a>\": error parsing regexp: missing closing ): `(?P<a>`"},
	{"{app=\"a\"} | regexp \"(a)\"",
		"parse error at line 1, col 20: regexp \"(a)\": at least one named capture must be supplied"},
	{"{app=\"a\"} | pattern \"<a><b>\"",
		"parse error at line 1, col 21: pattern \"<a><b>\": found consecutive capture '<b>'"},
	{"{app=\"a\"} | pattern \"<_> foo\"",
		"parse error at line 1, col 21: pattern \"<_> foo\": at least one named capture is required"},
	{"{app=\"a\"} | pattern \"<a> <a>\"",
		"parse error at line 1, col 21: pattern \"<a> <a>\": duplicate capture name (a)"},
	{"{app=\"a\"} |~ \"(\"",
		"parse error at line 1, col 14: invalid line filter regexp \"(\": error parsing regexp: missing closing ): `(`"},
	{"{app=\"a\"} |= ip(\"300.1.1.1\")",
		"parse error at line 1, col 17: invalid ip pattern \"300.1.1.1\": want an address, a CIDR prefix or a range a-b"},
	{"{app=\"a\"} | addr = ip(\"10.0.0.0/33\")",
		"parse error at line 1, col 23: invalid ip pattern \"10.0.0.0/33\": want an address, a CIDR prefix or a range a-b"},
	{"{app=\"a\"} | label_format a=b, a=\"{{.c}}\"",
		"parse error at line 1, col 31: multiple label name 'a' not allowed in a single format operation"},
	{"{app=\"a\"} | unwrap x",
		"parse error at line 1, col 13: syntax error: unexpected unwrap"},
	{"rate({app=\"a\"} | unwrap x | json [5m])",
		"parse error at line 1, col 29: syntax error: unexpected json"},
	{"rate({app=\"a\"} | unwrap [5m])",
		"parse error at line 1, col 25: syntax error: unexpected RANGE, expecting IDENTIFIER or BYTES_CONV or DURATION_CONV or DURATION_SECONDS_CONV"},
	{"rate({app=\"a\"} | json)",
		"parse error at line 1, col 22: syntax error: unexpected )"},
	{"rate({app=\"a\"}[5m] offset)",
		"parse error at line 1, col 26: syntax error: unexpected ), expecting DURATION"},
	{"rate({app=\"a\"}[5m]) by (x)",
		"parse error at line 1, col 1: grouping not allowed for rate aggregation"},
	{"count_over_time({app=\"a\"}[5m]) by (x)",
		"parse error at line 1, col 1: grouping not allowed for count_over_time aggregation"},
	{"sort by (x) (count_over_time({app=\"a\"}[5m]))",
		"parse error at line 1, col 1: sort and sort_desc doesn't allow grouping by "},
	{"sum by (x (count_over_time({app=\"a\"}[5m]))",
		"parse error at line 1, col 11: syntax error: unexpected (, expecting , or )"},
	{"sum by (x,) (count_over_time({app=\"a\"}[5m]))",
		"parse error at line 1, col 11: syntax error: unexpected ), expecting IDENTIFIER"},
	{"sum by (x) (count_over_time({app=\"a\"}[5m])) by (y)",
		"parse error at line 1, col 45: syntax error: unexpected by"},
	{"{app=\"a\"} | json a=",
		"parse error at line 1, col 20: syntax error: unexpected $end, expecting STRING"},
	{"{app=\"a\"} | json a=\"b\",",
		"parse error at line 1, col 24: syntax error: unexpected $end, expecting IDENTIFIER"},
	{"{app=\"a\"} | logfmt --bogus",
		"parse error at line 1, col 22: syntax error: unexpected IDENTIFIER, expecting NUMBER"},
	{"{app=\"a\"} | drop",
		"parse error at line 1, col 17: syntax error: unexpected $end, expecting IDENTIFIER"},
	{"{app=\"a\"} | line_format",
		"parse error at line 1, col 24: syntax error: unexpected $end, expecting STRING"},
	{"{app=\"a\"} | x >",
		"parse error at line 1, col 16: syntax error: unexpected $end"},
	{"{app=\"a\"} | x > \"y\"",
		"parse error at line 1, col 17: syntax error: unexpected STRING"},
	{"{app=\"a\"} | x =~ 5",
		"parse error at line 1, col 18: syntax error: unexpected NUMBER, expecting STRING"},
	{"{app=\"a\"} | (x > 1",
		"parse error at line 1, col 19: syntax error: unexpected $end"},
	{"{app=\"a\"} | x > 1 and",
		"parse error at line 1, col 22: syntax error: unexpected $end, expecting IDENTIFIER or ("},
	{"{app=\"a\"} |",
		"parse error at line 1, col 12: syntax error: unexpected $end"},
	{"{app=\"a\"} | foo",
		"parse error at line 1, col 16: syntax error: unexpected $end"},
	{"{app=\"a\" @}",
		"parse error at line 1, col 10: syntax error: unexpected IDENTIFIER, expecting } or ,"},
	{"{app=\"a\", }",
		"parse error at line 1, col 11: syntax error: unexpected }, expecting IDENTIFIER"},
	{"{app}",
		"parse error at line 1, col 5: syntax error: unexpected }, expecting = or =~ or !~ or !="},
	{"{app=}",
		"parse error at line 1, col 6: syntax error: unexpected }, expecting STRING"},
	{"{app=~\"(\"}",
		"parse error at line 1, col 7: error parsing regexp: missing closing ): `(`"},
	{"vector(-1)",
		"parse error at line 1, col 8: syntax error: unexpected -, expecting NUMBER"},
	{"vector(x)",
		"parse error at line 1, col 8: syntax error: unexpected IDENTIFIER, expecting NUMBER"},
	{"1 + ",
		"parse error at line 1, col 5: syntax error: unexpected $end"},
	{"1 +",
		"parse error at line 1, col 4: syntax error: unexpected $end"},
	{"()",
		"parse error at line 1, col 2: syntax error: unexpected )"},
	{"rate({app=\"a\"}[5m]) + bool 1",
		"parse error at line 1, col 21: bool modifier can only be used on comparison operators"},
	{"rate({app=\"a\"}[5m]) and on (x) group_left rate({app=\"a\"}[5m])",
		"parse error at line 1, col 21: no grouping allowed for \"and\" operation"},
	{"rate({app=\"a\"}[5m]) + on x rate({app=\"a\"}[5m])",
		"parse error at line 1, col 26: syntax error: unexpected IDENTIFIER, expecting ("},
	{"-rate({app=\"a\"}[5m])",
		"parse error at line 1, col 2: syntax error: unexpected RATE, expecting NUMBER"},
	{"rate({app=\"a\"}[5m]))",
		"parse error at line 1, col 20: syntax error: unexpected )"},
	{"{app=\"a\"}[5m]",
		"parse error at line 1, col 10: syntax error: unexpected RANGE"},
	{"count_over_time({app=\"a\"})",
		"parse error at line 1, col 26: syntax error: unexpected )"},
	{"count_over_time(sum(x))",
		"parse error at line 1, col 17: syntax error: unexpected SUM, expecting NUMBER or { or ("},
	{"1e999",
		"parse error at line 1, col 1: unable to parse literal as a float: strconv.ParseFloat: parsing \"1e999\": value out of range"},
	{"{foo=bar}",
		"parse error at line 1, col 6: syntax error: unexpected IDENTIFIER, expecting STRING"},
	{"{app=\"a\"} |= foo",
		"parse error at line 1, col 14: syntax error: unexpected IDENTIFIER, expecting STRING or ip"},
	{"{app=\"a\"} | json | json=\"x\"",
		"parse error at line 1, col 24: syntax error: unexpected ="},
	{"count_over_time(({a=\"b\"} |= \"x\"))",
		"parse error at line 1, col 33: syntax error: unexpected )"},
	{"count_over_time(({a=\"b\"} |= \"x\" [5m])",
		"parse error at line 1, col 38: syntax error: unexpected $end, expecting )"},
	{"rate({a=\"b\"}[5m] |= \"x\" [5m])",
		"parse error at line 1, col 25: syntax error: unexpected RANGE, expecting )"},
	{"{a=\"b\"} |= \"x\" or ip(\"1.2.3.4\"",
		"parse error at line 1, col 31: syntax error: unexpected $end, expecting )"},
	{"vector(1",
		"parse error at line 1, col 9: syntax error: unexpected $end, expecting )"},
	{"{a=\"b\"} | label_format a=1",
		"parse error at line 1, col 26: syntax error: unexpected NUMBER, expecting IDENTIFIER or STRING"},
	{"{a=\"b\"} | regexp \"(?P<1a>x)\"",
		"parse error at line 1, col 18: regexp \"(?P<1a>x)\": invalid extracted label name '1a'"},
	{"",
		"parse error at line 1, col 1: syntax error: unexpected $end"},
	{"quantile_over_time(0.5 {a=\"b\"} | unwrap x [5m])",
		"parse error at line 1, col 24: syntax error: unexpected {, expecting ,"},
	{"  # only a comment",
		"parse error at line 1, col 19: syntax error: unexpected $end"},
	{"sum(rate({a=\"b\"}[5m])",
		"parse error at line 1, col 22: syntax error: unexpected $end"},
}

func TestParseExprRejectsMalformedQueriesWithExactErrors(t *testing.T) {
	if len(malformedQueries) < 50 {
		t.Fatalf("only %d malformed queries in the table", len(malformedQueries))
	}
	for _, tc := range malformedQueries {
		t.Run(tc.in, func(t *testing.T) {
			e, err := ParseExpr(tc.in)
			if err == nil {
				t.Fatalf("ParseExpr(%q) = %s, want error %q", tc.in, e, tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("ParseExpr(%q) error\n got: %s\nwant: %s", tc.in, err, tc.want)
			}
		})
	}
}

func TestParseErrorPositionsCountLinesAndRunes(t *testing.T) {
	tests := []struct {
		in        string
		line, col int
	}{
		{"{app=\"a\"}\n| json\n| x >", 3, 6},
		{"sum(\n  rate({app=\"a\"}[5m])\n) by app", 3, 6},
		{`{app="é"} foo`, 1, 11},
		{"{app=\"a\"}\n\t|~ \"(\"", 2, 5},
	}
	for _, tc := range tests {
		_, err := ParseExpr(tc.in)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("ParseExpr(%q) error = %v, want *ParseError", tc.in, err)
		}
		if pe.Line != tc.line || pe.Col != tc.col {
			t.Errorf("ParseExpr(%q) error at %d:%d (%s), want %d:%d", tc.in, pe.Line, pe.Col, pe.Msg, tc.line, tc.col)
		}
	}
}

func TestParseExprRejectsOverlongQueries(t *testing.T) {
	q := `{app="` + string(make([]byte, MaxQueryLength)) + `"}`
	_, err := ParseExpr(q)
	want := "parse error : input size too long (5128 > 5120)"
	if err == nil || err.Error() != want {
		t.Errorf("ParseExpr(long) error = %v, want %s", err, want)
	}
}

func TestParseLogSelectorWithoutValidationAcceptsMatchAll(t *testing.T) {
	for _, q := range []string{`{}`, `{app=~".*"} |= "x"`} {
		if _, err := ParseLogSelector(q, false); err != nil {
			t.Errorf("ParseLogSelector(%q, false): %v", q, err)
		}
		if _, err := ParseLogSelector(q, true); err == nil {
			t.Errorf("ParseLogSelector(%q, true) succeeded, want empty-compatible error", q)
		}
	}
	if _, err := ParseLogSelector(`rate({a="b"}[5m])`, false); err == nil || err.Error() != "parse error : only log selector is supported" {
		t.Errorf("ParseLogSelector(metric query) error = %v", err)
	}
}

func TestParseMatchersAcceptsOnlyBareSelectors(t *testing.T) {
	ms, err := ParseMatchers(`{app="foo", cluster=~".+bar"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].String() != `app="foo"` || ms[1].String() != `cluster=~".+bar"` {
		t.Errorf("ParseMatchers = %v", ms)
	}
	for _, q := range []string{`{app="foo"} |= "x"`, `rate({app="foo"}[5m])`} {
		_, err := ParseMatchers(q)
		if !errors.Is(err, ErrNotMatchers) || !errors.Is(err, ErrParse) {
			t.Errorf("ParseMatchers(%q) error = %v, want ErrNotMatchers (a parse error)", q, err)
		}
	}
	if _, err := ParseMatchers(`{app="foo"`); err == nil {
		t.Errorf("ParseMatchers of unterminated selector succeeded")
	}
}

func TestParseSampleExprRejectsLogQueries(t *testing.T) {
	if _, err := ParseSampleExpr(`rate({a="b"}[5m]) * 2`); err != nil {
		t.Errorf("ParseSampleExpr(metric): %v", err)
	}
	if _, err := ParseSampleExpr(`{a="b"}`); err == nil {
		t.Errorf("ParseSampleExpr(log query) succeeded")
	}
}
