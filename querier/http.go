package querier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/querier/logql"
	"github.com/plgstack/plg/querier/logql/syntax"
	"github.com/plgstack/plg/tenant"
)

// Config holds the query limits and defaults.
type Config struct {
	MaxEntriesLimitPerQuery int           `yaml:"max_entries_limit_per_query"`
	MaxQuerySeries          int           `yaml:"max_query_series"`
	MaxQueryLength          time.Duration `yaml:"max_query_length"`
	QueryTimeout            time.Duration `yaml:"query_timeout"`
	// MaxConcurrentTailRequests bounds live tails per querier.
	MaxConcurrentTailRequests int `yaml:"max_concurrent_tail_requests"`
	// MaxQueryParallelism splits a metric range query's steps into this many
	// parts evaluated at once (default: the number of cores).
	MaxQueryParallelism int `yaml:"max_query_parallelism"`
	// ChunkPrefixCacheMB bounds the cache of store chunks' headers, block
	// indexes and filters (0: none). About 2% of the raw text it covers;
	// queries over more than that re-read the prefixes every time.
	ChunkPrefixCacheMB int `yaml:"chunk_prefix_cache_mb"`
	// Ingesters are the addresses of remote ingesters, for -mode=querier.
	Ingesters []string `yaml:"ingesters"`
	// Registerer receives the query engine's metrics; nil for none.
	Registerer prometheus.Registerer `yaml:"-"`
}

// DefaultConfig returns Loki's query limits, except a longer timeout.
func DefaultConfig() Config {
	return Config{
		MaxEntriesLimitPerQuery:   5000,
		MaxQuerySeries:            500,
		MaxQueryLength:            30 * 24 * time.Hour,
		QueryTimeout:              2 * time.Minute,
		MaxConcurrentTailRequests: 20,
		ChunkPrefixCacheMB:        DefaultPrefixCacheMB,
	}
}

// API serves Loki's query endpoints.
type API struct {
	cfg         Config
	q           *Querier
	engine      *logql.Engine
	authEnabled bool
	logger      *slog.Logger
	now         func() time.Time
	tails       tailSlots
}

// NewAPI returns the query API over q.
func NewAPI(cfg Config, q *Querier, authEnabled bool, logger *slog.Logger) *API {
	d := DefaultConfig()
	if cfg.MaxEntriesLimitPerQuery == 0 {
		cfg.MaxEntriesLimitPerQuery = d.MaxEntriesLimitPerQuery
	}
	if cfg.MaxQuerySeries == 0 {
		cfg.MaxQuerySeries = d.MaxQuerySeries
	}
	if cfg.MaxQueryLength == 0 {
		cfg.MaxQueryLength = d.MaxQueryLength
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = d.QueryTimeout
	}
	if cfg.MaxConcurrentTailRequests == 0 {
		cfg.MaxConcurrentTailRequests = d.MaxConcurrentTailRequests
	}
	if cfg.MaxQueryParallelism <= 0 {
		cfg.MaxQueryParallelism = runtime.GOMAXPROCS(0)
	}
	eng := logql.NewEngine(logql.EngineOptions{
		MaxEntriesLimit: cfg.MaxEntriesLimitPerQuery,
		MaxSeries:       cfg.MaxQuerySeries,
		QueryTimeout:    cfg.QueryTimeout,
		Registerer:      cfg.Registerer,
		// The source reads the ingesters and the store through fresh
		// iterators per Select, so parts may run concurrently.
		Parallelism: cfg.MaxQueryParallelism,
	}, logger)
	return &API{cfg: cfg, q: q, engine: eng, authEnabled: authEnabled, logger: logger, now: time.Now,
		tails: make(tailSlots, cfg.MaxConcurrentTailRequests)}
}

// RegisterRoutes adds the query API to r.
func (a *API) RegisterRoutes(r gin.IRouter) {
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		r.Handle(m, "/loki/api/v1/query_range", a.queryRange)
		r.Handle(m, "/loki/api/v1/query", a.instantQuery)
		r.Handle(m, "/loki/api/v1/labels", a.labelNames)
		r.Handle(m, "/loki/api/v1/label", a.labelNames)
		r.Handle(m, "/loki/api/v1/label/:name/values", a.labelValues)
		r.Handle(m, "/loki/api/v1/series", a.series)
		r.Handle(m, "/loki/api/v1/index/stats", a.indexStats)
		r.Handle(m, "/loki/api/v1/index/volume", a.volume)
		r.Handle(m, "/loki/api/v1/index/volume_range", a.volumeRange)
		r.Handle(m, "/loki/api/v1/format_query", a.formatQuery)
		r.Handle(m, "/loki/api/v1/detected_labels", a.detectedLabels)
		r.Handle(m, "/loki/api/v1/detected_fields", a.detectedFields)
		r.Handle(m, "/loki/api/v1/detected_field/:name/values", a.detectedFieldValues)
		r.Handle(m, "/loki/api/v1/patterns", a.patterns)
	}
	r.GET("/loki/api/v1/tail", a.tail)
}

// writeError answers with Loki's status codes and a plain-text body, which
// Grafana and logcli show as they are.
func (a *API) writeError(c *gin.Context, err error) {
	status := http.StatusInternalServerError
	var perr *syntax.ParseError
	switch {
	case errors.Is(err, tenant.ErrMissing):
		status = http.StatusUnauthorized
	case errors.Is(err, tenant.ErrInvalid), errors.Is(err, errBadParam), errors.As(err, &perr),
		errors.Is(err, logql.ErrBadRequest):
		status = http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
		err = fmt.Errorf("query timed out after %s: narrow the time range or the selector", a.cfg.QueryTimeout)
	case errors.Is(err, context.Canceled):
		status = 499
	}
	if status >= 500 {
		a.logger.Error("query failed", "path", c.Request.URL.Path, "err", err)
	}
	c.String(status, "%v\n", err)
}

func (a *API) tenants(c *gin.Context) ([]string, error) {
	if err := c.Request.ParseForm(); err != nil {
		return nil, badRequest("%v", err)
	}
	return tenant.ManyFromRequest(c.Request, a.authEnabled)
}

func (a *API) writeJSON(c *gin.Context, b []byte) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", b)
}

func (a *API) queryRange(c *gin.Context) {
	tenants, err := a.tenants(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	r := c.Request
	p := logql.Params{Query: r.Form.Get("query")}
	if p.Start, p.End, err = timeRange(r, a.now(), time.Hour); err != nil {
		a.writeError(c, err)
		return
	}
	if p.End.Sub(p.Start) > a.cfg.MaxQueryLength {
		a.writeError(c, badRequest("the query time range (%s) exceeds the limit (max_query_length %s)",
			p.End.Sub(p.Start).Round(time.Second), a.cfg.MaxQueryLength))
		return
	}
	if p.Limit, err = parseLimit(r.Form.Get("limit"), 100); err != nil {
		a.writeError(c, err)
		return
	}
	if p.Direction, err = parseDirection(r.Form.Get("direction")); err != nil {
		a.writeError(c, err)
		return
	}
	p.Step = defaultStep(p.Start, p.End)
	if s := r.Form.Get("step"); s != "" {
		if p.Step, err = parseDurationParam("step", s); err != nil {
			a.writeError(c, err)
			return
		}
		if p.Step <= 0 {
			a.writeError(c, badParam("step", s, "zero or negative query resolution step widths are not accepted. Try a positive integer"))
			return
		}
	}
	if e := p.End.Sub(p.Start) / p.Step; e > 11000 {
		a.writeError(c, badRequest("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"))
		return
	}
	if s := r.Form.Get("interval"); s != "" {
		if p.Interval, err = parseDurationParam("interval", s); err != nil {
			a.writeError(c, err)
			return
		}
	}
	a.runQuery(c, tenants, p)
}

func (a *API) instantQuery(c *gin.Context) {
	tenants, err := a.tenants(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	r := c.Request
	p := logql.Params{Query: r.Form.Get("query"), Instant: true}
	if p.End, err = parseTime("time", r.Form.Get("time"), a.now()); err != nil {
		a.writeError(c, err)
		return
	}
	p.Start = p.End
	if p.Limit, err = parseLimit(r.Form.Get("limit"), 100); err != nil {
		a.writeError(c, err)
		return
	}
	if p.Direction, err = parseDirection(r.Form.Get("direction")); err != nil {
		a.writeError(c, err)
		return
	}
	a.runQuery(c, tenants, p)
}

func (a *API) runQuery(c *gin.Context, tenants []string, p logql.Params) {
	if strings.TrimSpace(p.Query) == "" {
		a.writeError(c, badRequest("query parameter is missing"))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), a.cfg.QueryTimeout)
	defer cancel()
	p.CategorizeLabels = strings.Contains(c.GetHeader("X-Loki-Response-Encoding-Flags"), "categorize-labels")
	res, err := a.engine.Query(ctx, source{q: a.q, tenants: tenants}, p)
	if err != nil {
		a.writeError(c, err)
		return
	}
	a.writeJSON(c, appendResult(make([]byte, 0, 4096), &res, p.CategorizeLabels))
}

// selectorMatchers parses the optional query= selector of the metadata
// endpoints.
func selectorMatchers(q string) ([]*labels.Matcher, error) {
	if strings.TrimSpace(q) == "" {
		return nil, nil
	}
	return syntax.ParseMatchers(q)
}

func (a *API) metadataRange(c *gin.Context) (tenants []string, from, through int64, ms []*labels.Matcher, err error) {
	if tenants, err = a.tenants(c); err != nil {
		return
	}
	start, end, err := timeRange(c.Request, a.now(), 6*time.Hour)
	if err != nil {
		return
	}
	ms, err = selectorMatchers(c.Request.Form.Get("query"))
	return tenants, start.UnixNano(), end.UnixNano() + 1, ms, err
}

// metadataSeries answers the label endpoints' common first step: the
// series matching the optional selector in the range. On error it has
// already answered the request and returns false.
func (a *API) metadataSeries(c *gin.Context) ([]labels.Labels, bool) {
	tenants, from, through, ms, err := a.metadataRange(c)
	if err == nil {
		var series []labels.Labels
		if series, err = a.q.Series(c.Request.Context(), tenants, from, through, ms); err == nil {
			return series, true
		}
	}
	a.writeError(c, err)
	return nil, false
}

func (a *API) labelNames(c *gin.Context) {
	series, ok := a.metadataSeries(c)
	if !ok {
		return
	}
	set := map[string]struct{}{}
	for _, lbs := range series {
		lbs.Range(func(l labels.Label) { set[l.Name] = struct{}{} })
	}
	a.writeJSON(c, appendSuccessStrings(nil, keys(set)))
}

func (a *API) labelValues(c *gin.Context) {
	series, ok := a.metadataSeries(c)
	if !ok {
		return
	}
	name := c.Param("name")
	set := map[string]struct{}{}
	for _, lbs := range series {
		if v := lbs.Get(name); v != "" {
			set[v] = struct{}{}
		}
	}
	a.writeJSON(c, appendSuccessStrings(nil, keys(set)))
}

func keys(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (a *API) series(c *gin.Context) {
	tenants, err := a.tenants(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	start, end, err := timeRange(c.Request, a.now(), 6*time.Hour)
	if err != nil {
		a.writeError(c, err)
		return
	}
	selectors := append(c.Request.Form["match[]"], c.Request.Form["match"]...)
	if len(selectors) == 0 {
		a.writeError(c, badRequest("at least one match[] selector is required"))
		return
	}
	seen := map[string]labels.Labels{}
	for _, sel := range selectors {
		ms, err := syntax.ParseMatchers(sel)
		if err != nil {
			a.writeError(c, err)
			return
		}
		series, err := a.q.Series(c.Request.Context(), tenants, start.UnixNano(), end.UnixNano()+1, ms)
		if err != nil {
			a.writeError(c, err)
			return
		}
		for _, lbs := range series {
			seen[lbs.String()] = lbs
		}
	}
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	sort.Strings(names)
	b := []byte(`{"status":"success","data":[`)
	for i, k := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendLabelsObject(b, seen[k])
	}
	a.writeJSON(c, append(b, ']', '}'))
}

func (a *API) indexStats(c *gin.Context) {
	tenants, from, through, ms, err := a.metadataRange(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	st, err := a.q.Stats(c.Request.Context(), tenants, from, through, ms)
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

func (a *API) formatQuery(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		a.writeError(c, badRequest("%v", err))
		return
	}
	expr, err := syntax.ParseExpr(c.Request.Form.Get("query"))
	if err != nil {
		a.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "success", "data": expr.String()})
}

// patterns answers in shape with no patterns: pattern mining is not built,
// and Grafana treats an empty list as "no patterns found".
func (a *API) patterns(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "success", "data": []any{}})
}
