package querier

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/querier/logql"
	"github.com/plgstack/plg/querier/logql/syntax"
)

// detected_labels and detected_fields serve Grafana's Logs Drilldown and
// autocompletion. Labels come from the series of the range; fields from a
// sample of the newest lines (line_limit, default 1000), parsed as JSON and
// as logfmt by the query engine itself, so a field is detected exactly
// when `| json` or `| logfmt` would extract it.

func (a *API) detectedLabels(c *gin.Context) {
	series, ok := a.metadataSeries(c)
	if !ok {
		return
	}
	values := map[string]map[string]struct{}{}
	for _, lbs := range series {
		lbs.Range(func(l labels.Label) {
			if strings.HasPrefix(l.Name, "__") {
				return
			}
			if values[l.Name] == nil {
				values[l.Name] = map[string]struct{}{}
			}
			values[l.Name][l.Value] = struct{}{}
		})
	}
	type detected struct {
		Label       string `json:"label"`
		Cardinality int    `json:"cardinality"`
	}
	out := []detected{}
	for name, vs := range values {
		out = append(out, detected{name, len(vs)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	c.JSON(http.StatusOK, gin.H{"detectedLabels": out})
}

type detectedField struct {
	values  map[string]struct{}
	parsers map[string]bool
	kind    string
}

// sampleFields parses the newest lineLimit lines of the query with each
// parser and collects the extracted fields.
func (a *API) sampleFields(ctx context.Context, c *gin.Context) (map[string]*detectedField, error) {
	tenants, err := a.tenants(c)
	if err != nil {
		return nil, err
	}
	r := c.Request
	start, end, err := timeRange(r, a.now(), time.Hour)
	if err != nil {
		return nil, err
	}
	lineLimit, err := parseLimit(r.Form.Get("line_limit"), 1000)
	if err != nil {
		return nil, err
	}
	lineLimit = min(lineLimit, a.cfg.MaxEntriesLimitPerQuery)
	expr, err := syntax.ParseExpr(r.Form.Get("query"))
	if err != nil {
		return nil, err
	}
	if !syntax.IsLogQuery(expr) {
		return nil, badRequest("detected fields need a log query, not a metric query")
	}
	fields := map[string]*detectedField{}
	for _, parser := range []string{"json", "logfmt"} {
		res, err := a.engine.Query(ctx, source{q: a.q, tenants: tenants}, logql.Params{
			Query: expr.String() + " | " + parser, Start: start, End: end, Limit: lineLimit,
			Direction: chunks.Backward, CategorizeLabels: true,
		})
		if err != nil {
			return nil, err
		}
		for _, s := range res.Streams {
			for _, e := range s.Entries {
				if e.Parsed.Has("__error__") {
					continue
				}
				e.Parsed.Range(func(l labels.Label) {
					if strings.HasPrefix(l.Name, "__") {
						return
					}
					f := fields[l.Name]
					if f == nil {
						f = &detectedField{values: map[string]struct{}{}, parsers: map[string]bool{}}
						fields[l.Name] = f
					}
					f.parsers[parser] = true
					if len(f.values) < 10000 {
						f.values[l.Value] = struct{}{}
					}
					f.kind = mergeKind(f.kind, valueKind(l.Value))
				})
			}
		}
	}
	return fields, nil
}

func (a *API) detectedFields(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), a.cfg.QueryTimeout)
	defer cancel()
	fields, err := a.sampleFields(ctx, c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	limit, err := parseLimit(c.Request.Form.Get("limit"), 1000)
	if err != nil {
		a.writeError(c, err)
		return
	}
	type out struct {
		Label       string   `json:"label"`
		Type        string   `json:"type"`
		Cardinality int      `json:"cardinality"`
		Parsers     []string `json:"parsers"`
	}
	list := []out{}
	for name, f := range fields {
		var ps []string
		for p := range f.parsers {
			ps = append(ps, p)
		}
		sort.Strings(ps)
		list = append(list, out{name, f.kind, len(f.values), ps})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Label < list[j].Label })
	if len(list) > limit {
		list = list[:limit]
	}
	c.JSON(http.StatusOK, gin.H{"fields": list, "limit": limit})
}

func (a *API) detectedFieldValues(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), a.cfg.QueryTimeout)
	defer cancel()
	fields, err := a.sampleFields(ctx, c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	values := []string{}
	if f := fields[c.Param("name")]; f != nil {
		for v := range f.values {
			values = append(values, v)
		}
	}
	sort.Strings(values)
	c.JSON(http.StatusOK, gin.H{"values": values})
}

// valueKind names a value's type with Loki's detected-field types.
func valueKind(v string) string {
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return "int"
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return "float"
	}
	if v == "true" || v == "false" {
		return "boolean"
	}
	if _, err := time.ParseDuration(v); err == nil {
		return "duration"
	}
	if _, err := syntax.ParseBytes(v); err == nil && strings.IndexFunc(v, func(r rune) bool { return r >= 'A' && r <= 'z' }) > 0 {
		return "bytes"
	}
	return "string"
}

// mergeKind keeps a field's type while its values agree; ints widen to
// floats; anything else that disagrees is a string.
func mergeKind(have, next string) string {
	switch {
	case have == "" || have == next:
		return next
	case (have == "int" && next == "float") || (have == "float" && next == "int"):
		return "float"
	}
	return "string"
}
