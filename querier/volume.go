package querier

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/querier/logql"
	"github.com/plgstack/plg/querier/logql/syntax"
)

// Volume answers /loki/api/v1/index/volume and volume_range as Loki does:
// bytes of log lines per group of streams, from the index and the
// ingesters' chunk sizes alone, without reading a line. A chunk that only
// partly overlaps a step counts in proportion to the overlap, since its
// entries are assumed spread evenly over its time span.

type volumeChunk struct {
	minT, maxT int64
	bytes      uint64
}

// streamVolumes gathers each matching stream's chunks from the ingesters
// and the store. A chunk both in memory and in the store (a recent flush)
// counts twice, as Loki's estimate also may.
func (q *Querier) streamVolumes(ctx context.Context, tenants []string, from, through int64, ms []*labels.Matcher) (map[string]labels.Labels, map[string][]volumeChunk, error) {
	lbls := map[string]labels.Labels{}
	vols := map[string][]volumeChunk{}
	add := func(t string, l labels.Labels, c volumeChunk) {
		if len(tenants) > 1 {
			b := labels.NewBuilder(l)
			b.Set(TenantLabel, t)
			l = b.Labels()
		}
		k := l.String()
		lbls[k] = l
		vols[k] = append(vols[k], c)
	}
	for _, t := range tenants {
		tms, ok := tenantMatchers(ms, t, len(tenants) > 1)
		if !ok {
			continue
		}
		if q.ingesters != nil {
			ss, err := q.ingesters.Volume(ctx, t, from, through, tms)
			if err != nil {
				return nil, nil, err
			}
			for _, s := range ss {
				for _, c := range s.Chunks {
					add(t, s.Labels, volumeChunk{c.MinT, c.MaxT, c.Bytes})
				}
			}
		}
		if q.store != nil {
			idx, err := q.store.Index(ctx, t, from, through-1)
			if err != nil {
				return nil, nil, err
			}
			series, err := idx.Select(from, through-1, tms...)
			if err != nil {
				return nil, nil, err
			}
			for _, sr := range series {
				for _, c := range sr.Chunks {
					add(t, sr.Labels, volumeChunk{c.MinT, c.MaxT, uint64(c.UncompressedBytes)})
				}
			}
		}
	}
	return lbls, vols, nil
}

// overlapBytes apportions a chunk's bytes to [from, through).
func overlapBytes(c volumeChunk, from, through int64) float64 {
	lo, hi := max(c.minT, from), min(c.maxT+1, through)
	if hi <= lo {
		return 0
	}
	span := c.maxT + 1 - c.minT
	return float64(c.bytes) * float64(hi-lo) / float64(span)
}

func (a *API) volume(c *gin.Context)      { a.serveVolume(c, false) }
func (a *API) volumeRange(c *gin.Context) { a.serveVolume(c, true) }

func (a *API) serveVolume(c *gin.Context, isRange bool) {
	tenants, err := a.tenants(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	r := c.Request
	start, end, err := timeRange(r, a.now(), time.Hour)
	if err != nil {
		a.writeError(c, err)
		return
	}
	q := r.Form.Get("query")
	ms, err := syntax.ParseMatchers(q)
	if err != nil {
		a.writeError(c, err)
		return
	}
	limit, err := parseLimit(r.Form.Get("limit"), 100)
	if err != nil {
		a.writeError(c, err)
		return
	}
	var by []string
	switch agg := r.Form.Get("aggregateBy"); agg {
	case "", "series":
	default:
		a.writeError(c, badParam("aggregateBy", agg, "only series is supported"))
		return
	}
	if tl := r.Form.Get("targetLabels"); tl != "" {
		for _, l := range strings.Split(tl, ",") {
			if l = strings.TrimSpace(l); l != "" {
				by = append(by, l)
			}
		}
	} else {
		for _, m := range ms {
			by = append(by, m.Name)
		}
	}
	from, through := start.UnixNano(), end.UnixNano()+1
	lbls, vols, err := a.q.streamVolumes(r.Context(), tenants, from, through, ms)
	if err != nil {
		a.writeError(c, err)
		return
	}
	// Group streams by the chosen labels.
	type group struct {
		metric labels.Labels
		chunks []volumeChunk
		total  float64
	}
	groups := map[string]*group{}
	for k, l := range lbls {
		b := labels.NewBuilder(labels.EmptyLabels())
		for _, name := range by {
			if v := l.Get(name); v != "" {
				b.Set(name, v)
			}
		}
		m := b.Labels()
		g := groups[m.String()]
		if g == nil {
			g = &group{metric: m}
			groups[m.String()] = g
		}
		g.chunks = append(g.chunks, vols[k]...)
	}
	list := make([]*group, 0, len(groups))
	for _, g := range groups {
		for _, ch := range g.chunks {
			g.total += overlapBytes(ch, from, through)
		}
		if g.total > 0 {
			list = append(list, g)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].total != list[j].total {
			return list[i].total > list[j].total
		}
		return labels.Compare(list[i].metric, list[j].metric) < 0
	})
	if len(list) > limit {
		list = list[:limit]
	}
	res := logql.Result{}
	if !isRange {
		res.Type = logql.ValueVector
		for _, g := range list {
			res.Vector = append(res.Vector, logql.Sample{Metric: g.metric, Point: logql.Point{T: end.UnixMilli(), V: float64(uint64(g.total + 0.5))}})
		}
	} else {
		step := defaultStep(start, end)
		if s := r.Form.Get("step"); s != "" {
			if step, err = parseDurationParam("step", s); err != nil || step <= 0 {
				a.writeError(c, badParam("step", s, "must be a positive duration"))
				return
			}
		}
		res.Type = logql.ValueMatrix
		for _, g := range list {
			s := logql.Series{Metric: g.metric}
			// Each point covers the step ending at it: (t-step, t].
			for t := start; !t.After(end); t = t.Add(step) {
				v := 0.0
				for _, ch := range g.chunks {
					v += overlapBytes(ch, t.Add(-step).UnixNano()+1, t.UnixNano()+1)
				}
				if v >= 0.5 { // a point that rounds to zero bytes says nothing
					s.Points = append(s.Points, logql.Point{T: t.UnixMilli(), V: float64(uint64(v + 0.5))})
				}
			}
			if len(s.Points) > 0 {
				res.Matrix = append(res.Matrix, s)
			}
		}
	}
	a.writeJSON(c, appendResult(make([]byte, 0, 1024), &res, false))
}
