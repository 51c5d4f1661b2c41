package syntax

import (
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

func mustMatcher(t labels.MatchType, n, v string) *labels.Matcher {
	m, err := labels.NewMatcher(t, n, v)
	if err != nil {
		panic(err)
	}
	return m
}

func and(l, r LabelFilter) LabelFilter { return &BinaryLabelFilter{And: true, Left: l, Right: r} }
func or(l, r LabelFilter) LabelFilter  { return &BinaryLabelFilter{Left: l, Right: r} }
func num(n string, op CmpOp, v float64) LabelFilter {
	return &NumericLabelFilter{Name: n, Op: op, Value: v}
}
func str(t labels.MatchType, n, v string) LabelFilter {
	return &StringLabelFilter{Matcher: mustMatcher(t, n, v)}
}

func sel(ms ...*labels.Matcher) *LogSelectorExpr { return &LogSelectorExpr{Matchers: ms} }

func countRange(d time.Duration) *RangeAggregationExpr {
	return &RangeAggregationExpr{Op: RangeCount, Left: &LogRangeExpr{Left: sel(mustMatcher(labels.MatchEqual, "foo", "bar")), Range: d}}
}

func lit(v float64) *LiteralExpr { return &LiteralExpr{Val: v} }

func TestParseExprBuildsExpectedTree(t *testing.T) {
	fooBar := mustMatcher(labels.MatchEqual, "app", "foo")
	tests := []struct {
		name string
		in   string
		want Expr
	}{
		{
			name: "label filters group like Loki: juxtaposition and comma take the rest",
			in:   `{app="foo"} | foo="bar" buzz!="blip", blop=~"boop" or fuzz==5`,
			want: &LogSelectorExpr{Matchers: []*labels.Matcher{fooBar}, Stages: []Stage{&LabelFilterStage{Filter: and(
				str(labels.MatchEqual, "foo", "bar"),
				and(str(labels.MatchNotEqual, "buzz", "blip"),
					or(str(labels.MatchRegexp, "blop", "boop"), num("fuzz", CmpEQ, 5))))}}},
		},
		{
			name: "and before or",
			in:   `{app="foo"} | a < 500 or b > 200 and c >= 250ms`,
			want: &LogSelectorExpr{Matchers: []*labels.Matcher{fooBar}, Stages: []Stage{&LabelFilterStage{Filter: or(
				num("a", CmpLT, 500),
				and(num("b", CmpGT, 200), &DurationLabelFilter{Name: "c", Op: CmpGTE, Value: 250 * time.Millisecond}))}}},
		},
		{
			name: "parenthesised or under and",
			in:   `{app="foo"} | (a > 1s or b != 200) and m!="POST"`,
			want: &LogSelectorExpr{Matchers: []*labels.Matcher{fooBar}, Stages: []Stage{&LabelFilterStage{Filter: and(
				or(&DurationLabelFilter{Name: "a", Op: CmpGT, Value: time.Second}, num("b", CmpNEQ, 200)),
				str(labels.MatchNotEqual, "m", "POST"))}}},
		},
		{
			name: "consecutive line filters stay separate stages",
			in:   `{app="foo"} |= "a" or "b" != ip("1.2.3.4")`,
			want: &LogSelectorExpr{Matchers: []*labels.Matcher{fooBar}, Stages: []Stage{
				&LineFilter{Op: LineContains, Values: []LineFilterValue{{Value: "a"}, {Value: "b"}}},
				&LineFilter{Op: LineNotContains, Values: []LineFilterValue{{Value: "1.2.3.4", IP: true}}},
			}},
		},
		{
			name: "division is left associative",
			in:   `count_over_time({foo="bar"}[5m]) / count_over_time({foo="bar"}[5m]) / count_over_time({foo="bar"}[5m])`,
			want: &BinOpExpr{Op: BinDiv,
				LHS: &BinOpExpr{Op: BinDiv, LHS: countRange(5 * time.Minute), RHS: countRange(5 * time.Minute)},
				RHS: countRange(5 * time.Minute)},
		},
		{
			name: "multiplication binds tighter than addition",
			in:   `1 + 2 * 3`,
			want: &BinOpExpr{Op: BinAdd, LHS: lit(1), RHS: &BinOpExpr{Op: BinMul, LHS: lit(2), RHS: lit(3)}},
		},
		{
			name: "power is right associative and binds tightest",
			in:   `2 * 3 ^ 2 ^ 1`,
			want: &BinOpExpr{Op: BinMul, LHS: lit(2), RHS: &BinOpExpr{Op: BinPow, LHS: lit(3), RHS: &BinOpExpr{Op: BinPow, LHS: lit(2), RHS: lit(1)}}},
		},
		{
			name: "comparison binds looser than arithmetic and tighter than and",
			in:   `count_over_time({foo="bar"}[1m]) > 1 + 1 and count_over_time({foo="bar"}[1m])`,
			want: &BinOpExpr{Op: BinAnd,
				LHS: &BinOpExpr{Op: BinGT, LHS: countRange(time.Minute), RHS: &BinOpExpr{Op: BinAdd, LHS: lit(1), RHS: lit(1)}},
				RHS: countRange(time.Minute)},
		},
		{
			name: "or binds loosest",
			in:   `count_over_time({foo="bar"}[1m]) or count_over_time({foo="bar"}[1m]) unless count_over_time({foo="bar"}[1m])`,
			want: &BinOpExpr{Op: BinOr, LHS: countRange(time.Minute),
				RHS: &BinOpExpr{Op: BinUnless, LHS: countRange(time.Minute), RHS: countRange(time.Minute)}},
		},
		{
			name: "vector matching modifiers",
			in:   `count_over_time({foo="bar"}[1m]) > bool ignoring (x) group_left (y, z) count_over_time({foo="bar"}[1m])`,
			want: &BinOpExpr{Op: BinGT, ReturnBool: true,
				Matching: &VectorMatching{MatchingLabels: []string{"x"}, Card: CardManyToOne, Include: []string{"y", "z"}},
				LHS:      countRange(time.Minute), RHS: countRange(time.Minute)},
		},
		{
			name: "quantile parameter, unwrap conversion, post filter and offset",
			in:   `quantile_over_time(0.99, {foo="bar"} | unwrap duration(took) | __error__="" [5m] offset 1h) by (pod)`,
			want: &RangeAggregationExpr{Op: RangeQuantile, Param: func() *float64 { v := 0.99; return &v }(),
				Left: &LogRangeExpr{Left: sel(mustMatcher(labels.MatchEqual, "foo", "bar")), Range: 5 * time.Minute, Offset: time.Hour,
					Unwrap: &Unwrap{Label: "took", Conv: ConvDuration, PostFilters: []LabelFilter{str(labels.MatchEqual, "__error__", "")}}},
				Grouping: &Grouping{Groups: []string{"pod"}}},
		},
		{
			name: "topk keeps k and grouping",
			in:   `topk by (a) (3, count_over_time({foo="bar"}[1m]))`,
			want: &VectorAggregationExpr{Op: VectorTopK, Param: 3, Grouping: &Grouping{Groups: []string{"a"}}, Left: countRange(time.Minute)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseExpr(tc.in)
			if err != nil {
				t.Fatalf("ParseExpr(%q): %v", tc.in, err)
			}
			if !equalNodes(got, tc.want) {
				t.Errorf("ParseExpr(%q)\n got: %s\nwant: %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestRegexMatchersAreFullyAnchored(t *testing.T) {
	e, err := ParseExpr(`{app=~"api|web"} | level=~"err"`)
	if err != nil {
		t.Fatal(err)
	}
	s := e.(*LogSelectorExpr)
	m := s.Matchers[0]
	if !m.Matches("api") || m.Matches("xapi") || m.Matches("apix") {
		t.Errorf("selector regexp is not anchored: api=%v xapi=%v apix=%v", m.Matches("api"), m.Matches("xapi"), m.Matches("apix"))
	}
	f := s.Stages[0].(*LabelFilterStage).Filter.(*StringLabelFilter)
	if !f.Matcher.Matches("err") || f.Matcher.Matches("error") {
		t.Errorf("label filter regexp is not anchored")
	}
}

func TestLineFilterOpNegated(t *testing.T) {
	for op, want := range map[LineFilterOp]bool{
		LineContains: false, LineMatchRegexp: false, LineMatchPattern: false,
		LineNotContains: true, LineNotMatchRegexp: true, LineNotPattern: true,
	} {
		if op.Negated() != want {
			t.Errorf("%s.Negated() = %v, want %v", op, op.Negated(), want)
		}
	}
}
