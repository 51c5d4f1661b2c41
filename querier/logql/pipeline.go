package logql

import (
	"fmt"
	"slices"

	"github.com/plgstack/plg/querier/logql/log"
	"github.com/plgstack/plg/querier/logql/syntax"
)

// This file is the one place where the AST meets package log: adding a
// pipeline stage to LogQL means adding one case to buildStage (and, for a
// label filter, to buildLabelFilter).

const errorLabel = "__error__"

// buildPipeline maps a selector's stages onto a log pipeline.
func buildPipeline(sel *syntax.LogSelectorExpr) (*log.Pipeline, error) {
	stages, err := buildStages(sel)
	if err != nil {
		return nil, err
	}
	return log.NewPipeline(stages), nil
}

func buildStages(sel *syntax.LogSelectorExpr) ([]log.Stage, error) {
	stages := make([]log.Stage, 0, len(sel.Stages)+1)
	for _, s := range hoistLineFilters(sel.Stages) {
		st, err := buildStage(s)
		if err != nil {
			return nil, badRequestf("stage '%s': %w", s, err)
		}
		stages = append(stages, st)
	}
	return stages, nil
}

// hoistLineFilters moves each line filter ahead of the stages before it
// that neither change the line nor are line filters themselves: parsers
// other than unpack, label filters, label_format, drop and keep. Those
// stages never drop a line the filter would keep, and the filter sees the
// same bytes, so the result is the same while lines the filter rejects are
// no longer parsed. A filter never moves past line_format, decolorize or
// unpack, which rewrite the line, nor past another line filter.
func hoistLineFilters(stages []syntax.Stage) []syntax.Stage {
	out := make([]syntax.Stage, 0, len(stages))
	for _, s := range stages {
		if _, ok := s.(*syntax.LineFilter); !ok {
			out = append(out, s)
			continue
		}
		i := len(out)
		for i > 0 && keepsLine(out[i-1]) {
			i--
		}
		out = slices.Insert(out, i, s)
	}
	return out
}

// keepsLine reports whether a stage leaves the line unchanged and is not a
// line filter.
func keepsLine(s syntax.Stage) bool {
	switch s.(type) {
	case *syntax.JSONParser, *syntax.LogfmtParser, *syntax.RegexpParser, *syntax.PatternParser,
		*syntax.LabelFilterStage, *syntax.LabelFormat, *syntax.DropLabels, *syntax.KeepLabels:
		return true
	}
	return false
}

// requireLabel drops lines on which a label is missing or empty. Loki
// skips such lines when unwrapping (grafana/loki#6713) instead of
// reporting a conversion error, so a query over streams where only some
// lines carry the value still works.
func requireLabel(name string) log.Stage {
	return log.StageFunc(func(_ int64, line []byte, lbs *log.LabelsBuilder) ([]byte, bool) {
		v, ok := lbs.Get(name)
		return line, ok && v != ""
	})
}

func buildStage(s syntax.Stage) (log.Stage, error) {
	switch s := s.(type) {
	case *syntax.LineFilter:
		return buildLineFilter(s)
	case *syntax.JSONParser:
		if len(s.Params) == 0 {
			return log.NewJSONParser(), nil
		}
		exprs := make([]log.JSONExpr, len(s.Params))
		for i, p := range s.Params {
			exprs[i] = log.JSONExpr{Label: p.Label, Path: p.Expr}
		}
		return log.NewJSONExpressionParser(exprs)
	case *syntax.LogfmtParser:
		if len(s.Params) == 0 {
			return log.NewLogfmtParser(s.Strict, s.KeepEmpty), nil
		}
		exprs := make([]log.LogfmtExpr, len(s.Params))
		for i, p := range s.Params {
			exprs[i] = log.LogfmtExpr{Label: p.Label, Key: p.Expr}
		}
		return log.NewLogfmtExpressionParser(exprs, s.Strict, s.KeepEmpty)
	case *syntax.RegexpParser:
		return log.NewRegexpParser(s.Regexp)
	case *syntax.PatternParser:
		return log.NewPatternParser(s.Pattern)
	case *syntax.UnpackParser:
		return log.NewUnpackParser(), nil
	case *syntax.LabelFilterStage:
		return buildLabelFilter(s.Filter)
	case *syntax.LineFormat:
		return log.NewLineFormatter(s.Template)
	case *syntax.LabelFormat:
		fmts := make([]log.LabelFmt, len(s.Items))
		for i, it := range s.Items {
			fmts[i] = log.LabelFmt{Name: it.Dst, Value: it.Value, Rename: !it.Template}
		}
		return log.NewLabelFormatter(fmts)
	case *syntax.DropLabels:
		return log.NewDropLabels(namedMatchers(s.Labels)...), nil
	case *syntax.KeepLabels:
		return log.NewKeepLabels(namedMatchers(s.Labels)...), nil
	case *syntax.Decolorize:
		return log.NewDecolorize(), nil
	}
	return nil, fmt.Errorf("unsupported pipeline stage %T", s)
}

func namedMatchers(sels []syntax.LabelSelector) []log.NamedLabelMatcher {
	out := make([]log.NamedLabelMatcher, len(sels))
	for i, s := range sels {
		out[i] = log.NamedLabelMatcher{Name: s.Name, Matcher: s.Matcher}
	}
	return out
}

var lineFilterOps = map[syntax.LineFilterOp]log.LineFilterOp{
	syntax.LineContains:       log.LineContains,
	syntax.LineNotContains:    log.LineNotContains,
	syntax.LineMatchRegexp:    log.LineRegex,
	syntax.LineNotMatchRegexp: log.LineNotRegex,
	syntax.LineMatchPattern:   log.LinePattern,
	syntax.LineNotPattern:     log.LineNotPattern,
}

// buildLineFilter maps a line filter, or-chain included. An or-chain mixing
// strings and ip() values becomes one filter per value: chained for a
// negated operator (a line must match none), or-ed for a positive one.
func buildLineFilter(f *syntax.LineFilter) (log.Stage, error) {
	op, ok := lineFilterOps[f.Op]
	if !ok {
		return nil, fmt.Errorf("unknown line filter operator %q", f.Op)
	}
	var strs []string
	var ips []string
	for _, v := range f.Values {
		if v.IP {
			ips = append(ips, v.Value)
		} else {
			strs = append(strs, v.Value)
		}
	}
	if len(ips) == 0 {
		return log.NewLineFilter(op, strs...)
	}
	var filters []*log.LineFilter
	if len(strs) > 0 {
		lf, err := log.NewLineFilter(op, strs...)
		if err != nil {
			return nil, err
		}
		filters = append(filters, lf)
	}
	for _, ip := range ips {
		lf, err := log.NewIPLineFilter(op, ip)
		if err != nil {
			return nil, err
		}
		filters = append(filters, lf)
	}
	if len(filters) == 1 {
		return filters[0], nil
	}
	negated := f.Op.Negated()
	return log.StageFunc(func(_ int64, line []byte, _ *log.LabelsBuilder) ([]byte, bool) {
		for _, lf := range filters {
			if lf.Match(line) != negated {
				return line, !negated
			}
		}
		return line, negated
	}), nil
}

var compareOps = map[syntax.CmpOp]log.CompareOp{
	syntax.CmpEQ:  log.OpEqual,
	syntax.CmpNEQ: log.OpNotEqual,
	syntax.CmpGT:  log.OpGreater,
	syntax.CmpGTE: log.OpGreaterEqual,
	syntax.CmpLT:  log.OpLess,
	syntax.CmpLTE: log.OpLessEqual,
}

func buildLabelFilter(f syntax.LabelFilter) (log.LabelFilter, error) {
	switch f := f.(type) {
	case *syntax.StringLabelFilter:
		return log.NewStringLabelFilter(f.Matcher), nil
	case *syntax.NumericLabelFilter:
		return log.NewNumericLabelFilter(compareOps[f.Op], f.Name, f.Value), nil
	case *syntax.DurationLabelFilter:
		return log.NewDurationLabelFilter(compareOps[f.Op], f.Name, f.Value), nil
	case *syntax.BytesLabelFilter:
		return log.NewBytesLabelFilter(compareOps[f.Op], f.Name, f.Value), nil
	case *syntax.IPLabelFilter:
		op := log.OpEqual
		if f.Negated {
			op = log.OpNotEqual
		}
		return log.NewIPLabelFilter(op, f.Name, f.Pattern)
	case *syntax.BinaryLabelFilter:
		l, err := buildLabelFilter(f.Left)
		if err != nil {
			return nil, err
		}
		r, err := buildLabelFilter(f.Right)
		if err != nil {
			return nil, err
		}
		if f.And {
			return log.NewAndLabelFilter(l, r), nil
		}
		return log.NewOrLabelFilter(l, r), nil
	}
	return nil, fmt.Errorf("unsupported label filter %T", f)
}

var conversions = map[syntax.ConvOp]log.Conversion{
	syntax.ConvNone:            log.ConvertNone,
	syntax.ConvBytes:           log.ConvertBytes,
	syntax.ConvDuration:        log.ConvertDuration,
	syntax.ConvDurationSeconds: log.ConvertDurationSeconds,
}

// noLabels is a grouping that keeps no label: log.NewLineSampleExtractor
// reads an empty `by` list as "keep everything", and no label is named "".
var noLabels = []string{""}

// buildExtractor maps the log range of a range aggregation onto a sample
// extractor. grouping, when not nil, reduces the samples' labels at
// extraction: the range aggregation's own by/without, or the one of an
// enclosing sum pushed down (see pushDownGrouping).
func buildExtractor(r *syntax.RangeAggregationExpr, grouping *syntax.Grouping) (*log.SampleExtractor, error) {
	stages, err := buildStages(r.Left.Left)
	if err != nil {
		return nil, err
	}
	var groups []string
	without := false
	if grouping != nil {
		groups, without = grouping.Groups, grouping.Without
	}
	if u := r.Left.Unwrap; u != nil {
		post := make([]log.Stage, 0, len(u.PostFilters))
		for _, f := range u.PostFilters {
			lf, err := buildLabelFilter(f)
			if err != nil {
				return nil, badRequestf("unwrap filter '%s': %w", f, err)
			}
			post = append(post, lf)
		}
		conv, ok := conversions[u.Conv]
		if !ok {
			return nil, badRequestf("unknown unwrap conversion %q", u.Conv)
		}
		p := log.NewPipeline(append(stages, requireLabel(u.Label)))
		ex, err := log.NewLabelSampleExtractor(u.Label, conv, post, p, groups, without)
		if err != nil {
			return nil, badRequestf("%w", err)
		}
		return ex, nil
	}
	if grouping != nil && !without && len(groups) == 0 {
		groups = noLabels
	}
	kind := log.CountSample
	if r.Op == syntax.RangeBytes || r.Op == syntax.RangeBytesRate {
		kind = log.BytesSample
	}
	return log.NewLineSampleExtractor(kind, log.NewPipeline(stages), groups, without), nil
}

// plainExtraction reports whether the samples of r can bypass the sample
// extractor for lines without structured metadata (see newSampleMerger):
// no unwrap and no stage but line filters, which it returns built.
func plainExtraction(r *syntax.RangeAggregationExpr) (extractKind, []log.Stage, error) {
	if r.Left.Unwrap != nil {
		return notPlain, nil, nil
	}
	var filters []log.Stage
	for _, s := range r.Left.Left.Stages {
		lf, ok := s.(*syntax.LineFilter)
		if !ok {
			return notPlain, nil, nil
		}
		f, err := buildLineFilter(lf)
		if err != nil {
			return notPlain, nil, badRequestf("stage '%s': %w", s, err)
		}
		filters = append(filters, f)
	}
	if r.Op == syntax.RangeBytes || r.Op == syntax.RangeBytesRate {
		return plainLength, filters, nil
	}
	return plainCount, filters, nil
}

// summarizable reports whether the samples of r may be read from a
// Source's summaries (entry counts and line bytes per span of one grid
// cell) instead of entries: a count_over_time, rate, bytes_over_time or
// bytes_rate with no stage at all, under a sum pushed down without labels.
// Any grouping label could come from an entry's structured metadata,
// which summaries do not carry.
func summarizable(r *syntax.RangeAggregationExpr, grouping *syntax.Grouping) bool {
	switch r.Op {
	case syntax.RangeCount, syntax.RangeRate, syntax.RangeBytes, syntax.RangeBytesRate:
	default:
		return false
	}
	return r.Left.Unwrap == nil && len(r.Left.Left.Stages) == 0 && grouping != nil
}

// summaryNeedsPlain reports whether summaries under grouping must leave
// out entries with structured metadata: any grouping but "all into one"
// may read a label that metadata sets.
func summaryNeedsPlain(grouping *syntax.Grouping) bool {
	return grouping.Without || len(grouping.Groups) > 0
}

// pushDownGrouping reports whether the grouping of an enclosing vector
// aggregation may be applied while extracting samples of r, as Loki does:
// only for sum over additive range aggregations without their own grouping.
// It saves holding one window per distinct parsed label set.
func pushDownGrouping(op syntax.VectorOp, r *syntax.RangeAggregationExpr) bool {
	if op != syntax.VectorSum || r.Grouping != nil {
		return false
	}
	switch r.Op {
	case syntax.RangeBytes, syntax.RangeBytesRate, syntax.RangeSum, syntax.RangeRate, syntax.RangeCount:
		return true
	}
	return false
}
