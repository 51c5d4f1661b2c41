package syntax

import (
	"fmt"
	"slices"
	"testing"
)

func TestInspectVisitsNodesInQueryOrder(t *testing.T) {
	e, err := ParseExpr(`sum(rate({a="b"} |= "x" | unwrap v | v > 1 [5m])) / count_over_time({c="d"} | json [5m])`)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	Inspect(e, func(n Node) bool {
		kinds = append(kinds, fmt.Sprintf("%T", n))
		return true
	})
	want := []string{
		"*syntax.BinOpExpr", "*syntax.VectorAggregationExpr", "*syntax.RangeAggregationExpr",
		"*syntax.LogRangeExpr", "*syntax.LogSelectorExpr", "*syntax.LineFilter", "*syntax.Unwrap",
		"*syntax.NumericLabelFilter", "*syntax.RangeAggregationExpr", "*syntax.LogRangeExpr",
		"*syntax.LogSelectorExpr", "*syntax.JSONParser",
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("visited\n %v\nwant\n %v", kinds, want)
	}
}

func TestInspectSkipsChildrenWhenToldTo(t *testing.T) {
	e, err := ParseExpr(`sum(rate({a="b"}[5m]))`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	Inspect(e, func(Node) bool { n++; return false })
	if n != 1 {
		t.Errorf("visited %d nodes, want 1", n)
	}
}

func TestQueryKindHelpers(t *testing.T) {
	tests := []struct {
		q         string
		log       bool
		selectors []string
		ranges    int
	}{
		{`{a="b"} |= "x"`, true, []string{`{a="b"} |= "x"`}, 0},
		{`rate({a="b"}[5m]) + rate({c="d"} | json [1m])`, false, []string{`{a="b"}`, `{c="d"} | json`}, 2},
		{`vector(1) + 1`, false, nil, 0},
	}
	for _, tc := range tests {
		e, err := ParseExpr(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if IsLogQuery(e) != tc.log || IsSampleQuery(e) == tc.log {
			t.Errorf("%q: IsLogQuery=%v IsSampleQuery=%v, want log=%v", tc.q, IsLogQuery(e), IsSampleQuery(e), tc.log)
		}
		var got []string
		for _, s := range Selectors(e) {
			got = append(got, s.String())
		}
		if !slices.Equal(got, tc.selectors) {
			t.Errorf("%q: Selectors = %v, want %v", tc.q, got, tc.selectors)
		}
		if n := len(LogRanges(e)); n != tc.ranges {
			t.Errorf("%q: %d log ranges, want %d", tc.q, n, tc.ranges)
		}
	}
}

type countingVisitor struct{ n *int }

func (v countingVisitor) Visit(n Node) Visitor {
	*v.n++
	if _, ok := n.(*LogRangeExpr); ok {
		return nil
	}
	return v
}

func TestWalkStopsWhereTheVisitorReturnsNil(t *testing.T) {
	e, err := ParseExpr(`sum(rate({a="b"} |= "x" [5m]))`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	Walk(countingVisitor{&n}, e)
	if n != 3 { // sum, rate, log range; the selector below the range is skipped
		t.Errorf("visited %d nodes, want 3", n)
	}
}
