package log

import (
	"bytes"
	"math/rand"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
)

const regex5xx = `(status"?[:=]|HTTP/1\.1" )5\d\d`

func TestPrefixRegex_Literals(t *testing.T) {
	for _, tc := range []struct {
		expr  string
		leads []string // nil: no prefixRegex
	}{
		{regex5xx, []string{`HTTP/1.1" 5`, `status`}},
		{`error=\d+`, []string{"error="}},
		{`(?i)er\d`, []string{"ER", "Er", "eR", "er"}},
		{`.*timeout \d+s`, []string{"timeout "}},
		{`a?b\d`, []string{"ab", "b"}},
		{`x*y\d`, []string{"x", "y"}},
		{`ab|abc\d`, []string{"ab"}},
		{`\d+ms`, nil},       // ten leading digits, one scan each
		{`\bfoo\d`, nil},     // looks behind its start
		{`^foo\d`, nil},      // anchored already
		{`(foo)?\d`, nil},    // may start with anything
		{`\x{FFFD}x\d`, nil}, // matches invalid UTF-8 too
		{`[^a]bc\d`, nil},    // a wide class
		{`.*(?:a|b).\d`, []string{"a", "b"}},
	} {
		parsed, err := syntax.Parse(tc.expr, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := newPrefixRegex(tc.expr, dropLeadingStars(parsed.Simplify()))
		if tc.leads == nil {
			if ok {
				t.Errorf("%s: got a prefixRegex with %d groups, want none", tc.expr, len(p.groups))
			}
			continue
		}
		if !ok {
			t.Errorf("%s: no prefixRegex", tc.expr)
			continue
		}
		var leads []string
		for _, g := range p.groups {
			leads = append(leads, string(g.lead))
		}
		slices.Sort(leads)
		if !slices.Equal(leads, tc.leads) {
			t.Errorf("%s: scans for %q, want %q", tc.expr, leads, tc.leads)
		}
	}
}

// TestPrefixRegex_AgreesWithRegexp runs expressions with literal prefixes
// over random lines built from their own pieces, where matches, near
// misses and overlapping candidates are frequent.
func TestPrefixRegex_AgreesWithRegexp(t *testing.T) {
	exprs := []string{
		regex5xx, `error=\d+`, `(?i)er\d`, `(?i)kelvin \d`, `.*timeout \d+s`, `a?b\d`, `x*y\d`, `ab|abc\d`,
		`(a|b)c\d$`, `(?m)foo\d$`, `(?s)a.b\d`, `[ab]{2}c\d`, `(?i)ß\d`, `(GET|POST) /api/\w+ 5\d\d`,
		`ä+\d`, `(?U)ab+?\d`, `status(=|": ?)5\d\d`,
	}
	pieces := []string{"status", `"`, ":", "=", "5", "0", "3", "HTTP/1.1", `" `, " ", "error", "ER", "eR", "K",
		"\u212a", "elvin", "timeout", "s", "a", "b", "c", "x", "y", "\n", "foo", "ä", "ß", "SS", "\xff", "GET", "/api/", "z",
		"503", "12", "7", "kelvin ", "KELVIN ", "timeout 3", "timeout ", "HTTP/1.1\" 5", "status\":", "status=", "error=", "ab", "abc",
		"bc9", "c1", "c2\n", "POST /api/x ", "y4", "ä1", "ß2", "ss3", " 5"}
	r := rand.New(rand.NewSource(7))
	lines := make([]string, 20000)
	for i := range lines {
		var b strings.Builder
		for n := r.Intn(20); n > 0; n-- {
			b.WriteString(pieces[r.Intn(len(pieces))])
		}
		lines[i] = b.String()
	}
	for _, expr := range exprs {
		want := regexp.MustCompile(expr)
		f, err := NewLineFilter(LineRegex, expr)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.m.(*prefixRegex); !ok {
			t.Errorf("%s: matched by %T, not a prefixRegex", expr, f.m)
		}
		matched := 0
		for _, l := range lines {
			w := want.MatchString(l)
			if got := f.Match([]byte(l)); got != w {
				t.Errorf("%s on %q: filter %v, regexp %v", expr, l, got, w)
			}
			if w {
				matched++
			}
		}
		if matched == 0 {
			t.Errorf("%s matched no line: the test exercises nothing", expr)
		}
	}
}

func TestIndexRare_AgreesWithBytesIndex(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	alphabet := []byte(`stau" :5HTP`)
	for range 20000 {
		hay := make([]byte, r.Intn(40))
		for i := range hay {
			hay[i] = alphabet[r.Intn(len(alphabet))]
		}
		needle := make([]byte, 1+r.Intn(4))
		for i := range needle {
			needle[i] = alphabet[r.Intn(len(alphabet))]
		}
		off := r.Intn(len(needle))
		if got, want := indexRare(hay, needle, off), bytes.Index(hay, needle); got != want {
			t.Fatalf("indexRare(%q, %q, %d) = %d, bytes.Index says %d", hay, needle, off, got, want)
		}
	}
}
