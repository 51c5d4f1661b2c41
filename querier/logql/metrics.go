package logql

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// engineMetrics are the engine's Prometheus metrics.
type engineMetrics struct {
	queries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	lines    prometheus.Counter
	bytes    prometheus.Counter
}

func newEngineMetrics(reg prometheus.Registerer) *engineMetrics {
	m := &engineMetrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plg_logql_queries_total",
			Help: "LogQL queries evaluated, by query type (log, metric) and outcome (ok, bad_request, timeout, error).",
		}, []string{"type", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "plg_logql_query_duration_seconds",
			Help:    "Time to evaluate a LogQL query, by query type.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"type"}),
		lines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_logql_lines_processed_total",
			Help: "Log lines run through query pipelines.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_logql_bytes_processed_total",
			Help: "Bytes of log lines run through query pipelines.",
		}),
	}
	if reg != nil {
		m.queries = register(reg, m.queries)
		m.duration = register(reg, m.duration)
		m.lines = register(reg, m.lines)
		m.bytes = register(reg, m.bytes)
	}
	return m
}

// register registers c, or returns the collector already registered
// under the same description (several engines may share a registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

func (m *engineMetrics) observe(queryType string, st Stats, err error) {
	status := "ok"
	switch {
	case err == nil:
	case errors.Is(err, ErrBadRequest):
		status = "bad_request"
	case errors.Is(err, context.DeadlineExceeded):
		status = "timeout"
	default:
		status = "error"
	}
	m.queries.WithLabelValues(queryType, status).Inc()
	m.duration.WithLabelValues(queryType).Observe(st.ExecTime.Seconds())
	m.lines.Add(float64(st.TotalLinesProcessed))
	m.bytes.Add(float64(st.TotalBytesProcessed))
}
