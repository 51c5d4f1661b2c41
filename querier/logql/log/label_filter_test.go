package log

import (
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

func TestLabelFilters(t *testing.T) {
	line := `status=503 latency=300ms size=1.5KiB ratio=0.25 name=web bad=abc addr=10.1.2.3 v6=2001:db8::1`
	str := func(mt labels.MatchType, n, v string) LabelFilter {
		return NewStringLabelFilter(labels.MustNewMatcher(mt, n, v))
	}
	tests := []struct {
		name    string
		filter  LabelFilter
		keep    bool
		wantErr string
	}{
		{"string equal", str(labels.MatchEqual, "name", "web"), true, ""},
		{"string not equal", str(labels.MatchNotEqual, "name", "web"), false, ""},
		{"string regex is anchored", str(labels.MatchRegexp, "name", "we"), false, ""},
		{"string regex", str(labels.MatchRegexp, "name", "w.*"), true, ""},
		{"string not regex", str(labels.MatchNotRegexp, "name", "w.*"), false, ""},
		{"missing label equals empty", str(labels.MatchEqual, "nope", ""), true, ""},
		{"numeric greater", NewNumericLabelFilter(OpGreater, "status", 499), true, ""},
		{"numeric greater false", NewNumericLabelFilter(OpGreater, "status", 503), false, ""},
		{"numeric greater equal", NewNumericLabelFilter(OpGreaterEqual, "status", 503), true, ""},
		{"numeric less", NewNumericLabelFilter(OpLess, "ratio", 0.5), true, ""},
		{"numeric less equal", NewNumericLabelFilter(OpLessEqual, "ratio", 0.2), false, ""},
		{"numeric equal", NewNumericLabelFilter(OpEqual, "status", 503), true, ""},
		{"numeric not equal", NewNumericLabelFilter(OpNotEqual, "status", 503), false, ""},
		{"numeric negative value", NewNumericLabelFilter(OpGreater, "status", -1), true, ""},
		{"numeric missing label drops", NewNumericLabelFilter(OpGreater, "nope", 1), false, ""},
		{"numeric conversion failure keeps with error", NewNumericLabelFilter(OpGreater, "bad", 1), true, ErrLabelFilter},
		{"duration greater", NewDurationLabelFilter(OpGreater, "latency", 250*time.Millisecond), true, ""},
		{"duration less", NewDurationLabelFilter(OpLess, "latency", 250*time.Millisecond), false, ""},
		{"duration equal", NewDurationLabelFilter(OpEqual, "latency", 300*time.Millisecond), true, ""},
		{"duration conversion failure", NewDurationLabelFilter(OpGreater, "bad", time.Second), true, ErrLabelFilter},
		{"bytes greater", NewBytesLabelFilter(OpGreater, "size", 1500), true, ""},
		{"bytes equal", NewBytesLabelFilter(OpEqual, "size", 1536), true, ""},
		{"bytes less", NewBytesLabelFilter(OpLess, "size", 1024), false, ""},
		{"bytes conversion failure", NewBytesLabelFilter(OpGreater, "name", 1), true, ErrLabelFilter},
		{"ip cidr", must(NewIPLabelFilter(OpEqual, "addr", "10.0.0.0/8")), true, ""},
		{"ip cidr miss", must(NewIPLabelFilter(OpEqual, "addr", "192.168.0.0/16")), false, ""},
		{"ip not equal", must(NewIPLabelFilter(OpNotEqual, "addr", "192.168.0.0/16")), true, ""},
		{"ip range", must(NewIPLabelFilter(OpEqual, "addr", "10.1.2.0-10.1.2.9")), true, ""},
		{"ip v6 cidr", must(NewIPLabelFilter(OpEqual, "v6", "2001:db8::/32")), true, ""},
		{"ip single", must(NewIPLabelFilter(OpEqual, "addr", "10.1.2.3")), true, ""},
		{"ip label not an ip", must(NewIPLabelFilter(OpEqual, "name", "10.0.0.0/8")), false, ""},
		{"and both", NewAndLabelFilter(str(labels.MatchEqual, "name", "web"), NewNumericLabelFilter(OpEqual, "status", 503)), true, ""},
		{"and one false", NewAndLabelFilter(str(labels.MatchEqual, "name", "web"), NewNumericLabelFilter(OpEqual, "status", 200)), false, ""},
		{"or one true", NewOrLabelFilter(str(labels.MatchEqual, "name", "x"), NewNumericLabelFilter(OpEqual, "status", 503)), true, ""},
		{"or none true", NewOrLabelFilter(str(labels.MatchEqual, "name", "x"), NewNumericLabelFilter(OpEqual, "status", 1)), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, keep := runStages(t, []Stage{NewLogfmtParser(false, false), tt.filter}, labels.EmptyLabels(), line)
			if keep != tt.keep {
				t.Fatalf("%s: keep=%v, want %v", tt.filter, keep, tt.keep)
			}
			if keep && got.Get(ErrorLabel) != tt.wantErr {
				t.Fatalf("__error__=%q, want %q (%s)", got.Get(ErrorLabel), tt.wantErr, got)
			}
			if tt.wantErr != "" && got.Get(ErrorDetailsLabel) == "" {
				t.Fatal("missing __error_details__")
			}
		})
	}
}

func TestLabelFilters_LineWithErrorPassesNumericButStringCanDropIt(t *testing.T) {
	parse := NewJSONParser() // line is not JSON: __error__=JSONParserErr
	noErr := NewStringLabelFilter(labels.MustNewMatcher(labels.MatchEqual, ErrorLabel, ""))
	for _, f := range []LabelFilter{
		NewNumericLabelFilter(OpGreater, "x", 1),
		NewDurationLabelFilter(OpGreater, "x", 1),
		NewBytesLabelFilter(OpGreater, "x", 1),
		must(NewIPLabelFilter(OpEqual, "x", "10.0.0.0/8")),
	} {
		if _, _, keep := runStages(t, []Stage{parse, f}, labels.EmptyLabels(), "x=1"); !keep {
			t.Errorf("%s dropped a line that carries an error", f)
		}
	}
	if _, _, keep := runStages(t, []Stage{parse, noErr}, labels.EmptyLabels(), "x=1"); keep {
		t.Error(`__error__="" kept a line with an error`)
	}
}

func TestLabelFilterErrorThenErrorFilterDropsLine(t *testing.T) {
	stages := []Stage{
		NewLogfmtParser(false, false),
		NewNumericLabelFilter(OpGreater, "status", 1),
		NewStringLabelFilter(labels.MustNewMatcher(labels.MatchEqual, ErrorLabel, "")),
	}
	if _, _, keep := runStages(t, stages, labels.EmptyLabels(), "status=abc"); keep {
		t.Fatal("line with conversion error survived __error__=\"\"")
	}
	if _, _, keep := runStages(t, stages, labels.EmptyLabels(), "status=2"); !keep {
		t.Fatal("valid line dropped")
	}
}

func TestIPFilterConstructorsRejectBadInput(t *testing.T) {
	for _, s := range []string{"", "300.1.1.1", "10.0.0.0/33", "10.0.0.9-10.0.0.1", "10.0.0.1-::1", "x-y"} {
		if _, err := NewIPLabelFilter(OpEqual, "a", s); err == nil {
			t.Errorf("label filter accepted %q", s)
		}
		if _, err := NewIPLineFilter(LineContains, s); err == nil {
			t.Errorf("line filter accepted %q", s)
		}
	}
	if _, err := NewIPLabelFilter(OpGreater, "a", "10.0.0.1"); err == nil {
		t.Error("ip label filter accepted >")
	}
	if _, err := NewIPLineFilter(LineRegex, "10.0.0.1"); err == nil {
		t.Error("ip line filter accepted |~")
	}
}

func TestIPLineFilter(t *testing.T) {
	tests := []struct {
		name string
		op   LineFilterOp
		arg  string
		line string
		keep bool
	}{
		{"cidr match", LineContains, "192.168.0.0/16", "client=192.168.4.5 ok", true},
		{"cidr miss", LineContains, "192.168.0.0/16", "client=10.0.0.1 ok", false},
		{"second address matches", LineContains, "192.168.0.0/16", "from 10.0.0.1 to 192.168.1.1", true},
		{"range", LineContains, "10.0.0.1-10.0.0.9", "peer 10.0.0.5:443", true},
		{"range miss", LineContains, "10.0.0.1-10.0.0.9", "peer 10.0.0.10", false},
		{"single ip", LineContains, "10.0.0.1", "[10.0.0.1]", true},
		{"ipv6", LineContains, "2001:db8::/32", "addr=2001:db8::ff", true},
		{"not ip keeps lines without match", LineNotContains, "10.0.0.0/8", "no address here", true},
		{"not ip drops match", LineNotContains, "10.0.0.0/8", "from 10.2.3.4", false},
		{"version numbers are not addresses", LineContains, "1.2.3.4", "v1.2.3", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := must(NewIPLineFilter(tt.op, tt.arg))
			if _, keep := f.Process(0, []byte(tt.line), nil); keep != tt.keep {
				t.Fatalf("keep=%v, want %v", keep, tt.keep)
			}
		})
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  bool
	}{
		{"42", 42, false}, {"42B", 42, false}, {"42 b", 42, false},
		{"1kB", 1000, false}, {"1KB", 1000, false}, {"1k", 1000, false}, {"1KiB", 1024, false}, {"1ki", 1024, false},
		{"1.5KiB", 1536, false}, {"2MB", 2e6, false}, {"2MiB", 2 << 20, false}, {"1GB", 1e9, false}, {"1GiB", 1 << 30, false},
		{"1TB", 1e12, false}, {"1TiB", 1 << 40, false}, {"1,000B", 1000, false},
		{"", 0, true}, {"MB", 0, true}, {"1XB", 0, true}, {"100EB", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseBytes(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d, err=%v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseDuration_GoUnits(t *testing.T) {
	for in, want := range map[string]time.Duration{"300ms": 300 * time.Millisecond, "1.5h": 90 * time.Minute, "2us": 2 * time.Microsecond, "2µs": 2 * time.Microsecond, "1h2m3s": time.Hour + 2*time.Minute + 3*time.Second} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseDuration("1d"); err == nil {
		t.Error("1d accepted: label values use Go duration syntax as in Loki")
	}
}
