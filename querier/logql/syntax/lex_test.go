package syntax

import (
	"testing"
	"time"
)

func TestLexProducesLokiTokens(t *testing.T) {
	type tok struct {
		kind tokenKind
		str  string
	}
	tests := []struct {
		name string
		in   string
		want []tok
	}{
		{"selector with all matcher ops", `{a="x", b!="y", c=~"z", d!~"w"}`, []tok{
			{tokOpenBrace, "{"}, {tokIdentifier, "a"}, {tokEQ, "="}, {tokString, "x"}, {tokComma, ","},
			{tokIdentifier, "b"}, {tokNEQ, "!="}, {tokString, "y"}, {tokComma, ","},
			{tokIdentifier, "c"}, {tokRE, "=~"}, {tokString, "z"}, {tokComma, ","},
			{tokIdentifier, "d"}, {tokNRE, "!~"}, {tokString, "w"}, {tokCloseBrace, "}"}}},
		{"line filter operators", `|= |~ |> != !~ !>`, []tok{
			{tokPipeExact, "|="}, {tokPipeMatch, "|~"}, {tokPipePattern, "|>"}, {tokNEQ, "!="}, {tokNRE, "!~"}, {tokNPA, "!>"}}},
		{"comparison and arithmetic operators", `== > >= < <= + - * / % ^`, []tok{
			{tokCmpEQ, "=="}, {tokGT, ">"}, {tokGTE, ">="}, {tokLT, "<"}, {tokLTE, "<="},
			{tokAdd, "+"}, {tokSub, "-"}, {tokMul, "*"}, {tokDiv, "/"}, {tokMod, "%"}, {tokPow, "^"}}},
		{"escaped and raw strings", "\"a\\\"b\\n\" `c\\d`", []tok{{tokString, "a\"b\n"}, {tokString, `c\d`}}},
		{"comment runs to end of line", "a # |= \"x\"\nb", []tok{{tokIdentifier, "a"}, {tokIdentifier, "b"}}},
		{"hash inside string is not a comment", `"#x"`, []tok{{tokString, "#x"}}},
		{"numbers", `1 2.5 .5 1e3 0x1F`, []tok{{tokNumber, "1"}, {tokNumber, "2.5"}, {tokNumber, ".5"}, {tokNumber, "1e3"}, {tokNumber, "0x1F"}}},
		{"durations", `5m 1h30m 250ms 1.5h 10us 3µs -5m`, []tok{
			{tokDuration, "5m"}, {tokDuration, "1h30m"}, {tokDuration, "250ms"}, {tokDuration, "1.5h"},
			{tokDuration, "10us"}, {tokDuration, "3µs"}, {tokDuration, "-5m"}}},
		{"bytes", `20MB 1.5KiB 42B 3k`, []tok{{tokBytes, "20MB"}, {tokBytes, "1.5KiB"}, {tokBytes, "42B"}, {tokBytes, "3k"}}},
		{"minus before number is an operator", `-1`, []tok{{tokSub, "-"}, {tokNumber, "1"}}},
		{"minus zero is not a duration", `-0`, []tok{{tokSub, "-"}, {tokNumber, "0"}}},
		{"range", `[5m]`, []tok{{tokRange, "5m"}}},
		{"parser flags", `--strict --keep-empty`, []tok{{tokParserFlag, "--strict"}, {tokParserFlag, "--keep-empty"}}},
		{"function words are tokens only before a call", `rate(x) rate sum by (a) sum without(a) count`, []tok{
			{tokRate, "rate"}, {tokOpenParen, "("}, {tokIdentifier, "x"}, {tokCloseParen, ")"},
			{tokIdentifier, "rate"}, {tokSum, "sum"}, {tokBy, "by"}, {tokOpenParen, "("}, {tokIdentifier, "a"}, {tokCloseParen, ")"},
			{tokSum, "sum"}, {tokWithout, "without"}, {tokOpenParen, "("}, {tokIdentifier, "a"}, {tokCloseParen, ")"},
			{tokIdentifier, "count"}}},
		{"keywords are case-insensitive", `JSON Or BY`, []tok{{tokJSON, "JSON"}, {tokOr, "Or"}, {tokBy, "BY"}}},
		{"ip is a function word", `ip("1.2.3.4") ip`, []tok{{tokIP, "ip"}, {tokOpenParen, "("}, {tokString, "1.2.3.4"}, {tokCloseParen, ")"}, {tokIdentifier, "ip"}}},
		{"unknown character", `@`, []tok{{tokIllegal, "@"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			toks := lex(tc.in, nil)
			if last := toks[len(toks)-1]; last.kind != tokEOF {
				t.Fatalf("last token = %v %q, want EOF", last.kind, last.str)
			}
			toks = toks[:len(toks)-1]
			if len(toks) != len(tc.want) {
				t.Fatalf("got %d tokens %v, want %d", len(toks), toks, len(tc.want))
			}
			for i, w := range tc.want {
				got := toks[i]
				text := got.str
				if got.kind == tokDuration || got.kind == tokBytes {
					text = tc.in[got.pos : got.pos+len(got.str)]
				}
				if got.kind != w.kind || text != w.str {
					t.Errorf("token %d = %v %q, want %v %q", i, got.kind, text, w.kind, w.str)
				}
			}
		})
	}
}

func TestLexDecodesUnitValues(t *testing.T) {
	toks := lex(`1h30m 1.5h 20MB 1.5KiB [1d]`, nil)
	if got, want := toks[0].dur, 90*time.Minute; got != want {
		t.Errorf("1h30m = %v, want %v", got, want)
	}
	if got, want := toks[1].dur, 90*time.Minute; got != want {
		t.Errorf("1.5h = %v, want %v", got, want)
	}
	if got, want := toks[2].bytes, uint64(20_000_000); got != want {
		t.Errorf("20MB = %d, want %d", got, want)
	}
	if got, want := toks[3].bytes, uint64(1536); got != want {
		t.Errorf("1.5KiB = %d, want %d", got, want)
	}
	if got, want := toks[4].dur, 24*time.Hour; got != want {
		t.Errorf("[1d] = %v, want %v", got, want)
	}
}

func TestLexErrorsStopTheStream(t *testing.T) {
	tests := []struct {
		in   string
		pos  int
		want string
	}{
		{`{foo="bar}`, 5, "literal not terminated"},
		{"x `raw", 2, "literal not terminated"},
		{`[5m`, 0, "missing closing ']' in duration"},
		{"\"\xa0\"", 0, "invalid UTF-8 encoding"},
		{`"\q"`, 0, "invalid char escape"},
	}
	for _, tc := range tests {
		toks := lex(tc.in, nil)
		last := toks[len(toks)-1]
		if last.kind != tokError || last.pos != tc.pos || last.str != tc.want {
			t.Errorf("lex(%q) ends with %v@%d %q, want error@%d %q", tc.in, last.kind, last.pos, last.str, tc.pos, tc.want)
		}
	}
}
