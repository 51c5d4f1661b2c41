package syntax

// Children returns the direct sub-nodes of n in query order: operands of
// expressions, the selector and unwrap of a range, the stages of a
// pipeline, and the operands and post-filters of label filters.
func Children(n Node) []Node {
	switch e := n.(type) {
	case *LogSelectorExpr:
		out := make([]Node, len(e.Stages))
		for i, s := range e.Stages {
			out[i] = s
		}
		return out
	case *LogRangeExpr:
		if e.Unwrap != nil {
			return []Node{e.Left, e.Unwrap}
		}
		return []Node{e.Left}
	case *Unwrap:
		out := make([]Node, len(e.PostFilters))
		for i, f := range e.PostFilters {
			out[i] = f
		}
		return out
	case *RangeAggregationExpr:
		return []Node{e.Left}
	case *VectorAggregationExpr:
		return []Node{e.Left}
	case *BinOpExpr:
		return []Node{e.LHS, e.RHS}
	case *LabelReplaceExpr:
		return []Node{e.Left}
	case *LabelFilterStage:
		return []Node{e.Filter}
	case *BinaryLabelFilter:
		return []Node{e.Left, e.Right}
	}
	return nil
}

// Visitor is called by Walk for each node; it returns the visitor for the
// node's children, or nil to skip them (as go/ast.Visitor).
type Visitor interface {
	Visit(n Node) (w Visitor)
}

// Walk traverses the tree rooted at n depth-first in query order.
func Walk(v Visitor, n Node) {
	if n == nil {
		return
	}
	if v = v.Visit(n); v == nil {
		return
	}
	for _, c := range Children(n) {
		Walk(v, c)
	}
}

// Inspect walks the tree rooted at n depth-first in query order, calling f
// for each node; if f returns false the node's children are skipped.
func Inspect(n Node, f func(Node) bool) {
	if n == nil || !f(n) {
		return
	}
	for _, c := range Children(n) {
		Inspect(c, f)
	}
}

// IsLogQuery reports whether e returns log lines (a *LogSelectorExpr).
func IsLogQuery(e Expr) bool {
	_, ok := e.(*LogSelectorExpr)
	return ok
}

// IsSampleQuery reports whether e returns samples (a metric query).
func IsSampleQuery(e Expr) bool {
	_, ok := e.(SampleExpr)
	return ok
}

// Selectors returns every log selector (with its pipeline) in e, in query
// order: the query itself for a log query, one per range aggregation for a
// metric query.
func Selectors(e Expr) []*LogSelectorExpr {
	var out []*LogSelectorExpr
	Inspect(e, func(n Node) bool {
		if s, ok := n.(*LogSelectorExpr); ok {
			out = append(out, s)
			return false
		}
		return true
	})
	return out
}

// LogRanges returns every log range in e, in query order.
func LogRanges(e Expr) []*LogRangeExpr {
	var out []*LogRangeExpr
	Inspect(e, func(n Node) bool {
		if r, ok := n.(*LogRangeExpr); ok {
			out = append(out, r)
			return false
		}
		return true
	})
	return out
}
