package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/plgstack/plg/chunks/store"
)

// CompactorConfig schedules the merging of index segments and retention.
// Every ingester flush cycle writes a small segment per tenant and period;
// merging them keeps the number a query must open small. Running it in
// several processes at once is safe: a merged segment is uploaded before
// its inputs are deleted, and readers deduplicate chunk references.
//
// Retention is on for every tenant whose limits.retention_period is above
// 0 (Loki also wants compactor.retention_enabled; one switch is one fewer
// way to believe data expires while it does not).
type CompactorConfig struct {
	Enabled  bool          `yaml:"enabled"`
	Interval time.Duration `yaml:"interval"`
	// RetentionDeleteDelay is how long an expired chunk outlives its
	// index references, so a query that read the index just before can
	// still read the chunk (Loki: retention_delete_delay, 2h).
	RetentionDeleteDelay time.Duration `yaml:"retention_delete_delay"`
}

func defaultCompactorConfig() CompactorConfig {
	return CompactorConfig{Enabled: true, Interval: 10 * time.Minute, RetentionDeleteDelay: 2 * time.Hour}
}

// compactOnce merges each tenant's segments of the index period holding now
// and of the one before it (which may still receive late flushes).
func compactOnce(ctx context.Context, st *store.Store, period time.Duration, now time.Time, logger *slog.Logger) {
	tenants, err := st.Tenants(ctx)
	if err != nil {
		logger.Warn("compactor: listing tenants failed", "err", err)
		return
	}
	for _, t := range tenants {
		for _, at := range []time.Time{now.Add(-period), now} {
			n, err := st.CompactIndex(ctx, t, at.UnixNano())
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				logger.Warn("compactor: merging index segments failed; will retry", "tenant", t, "err", err)
				continue
			}
			if n > 0 {
				logger.Debug("compactor: merged index segments", "tenant", t, "segments", n)
			}
		}
	}
}

// retentionMetrics count what retention deleted.
type retentionMetrics struct {
	chunks, chunkBytes, segments prometheus.Counter
	failures                     prometheus.Counter
	lastSuccess                  prometheus.Gauge
}

func newRetentionMetrics(reg prometheus.Registerer) *retentionMetrics {
	f := promauto.With(reg)
	return &retentionMetrics{
		chunks: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_compactor_deleted_chunks_total",
			Help: "Chunk objects deleted by retention.",
		}),
		chunkBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_compactor_deleted_chunk_bytes_total",
			Help: "Bytes of the chunk objects deleted by retention.",
		}),
		segments: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_compactor_deleted_index_segments_total",
			Help: "Index segments deleted by retention: every segment of an expired period, and those rewritten without expired references.",
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_compactor_retention_failures_total",
			Help: "Tenant retention passes that failed (retried on the next run).",
		}),
		lastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "plg_compactor_retention_last_success_timestamp_seconds",
			Help: "Unix time at which a retention run last completed for every tenant with a retention period.",
		}),
	}
}

// retentionOnce applies each tenant's retention period: data ending before
// now minus the period leaves the index at once, and its chunks are deleted
// delay later. A failed tenant is retried on the next run; everything it
// did is kept (see store.ApplyRetention).
func retentionOnce(ctx context.Context, st *store.Store, delay time.Duration, m *retentionMetrics, logger *slog.Logger) {
	tenants, err := st.Tenants(ctx)
	if err != nil {
		m.failures.Inc()
		logger.Warn("compactor: listing tenants for retention failed", "err", err)
		return
	}
	ran, failed := false, false
	for _, t := range tenants {
		if !st.RetentionEnabled(t) {
			continue
		}
		ran = true
		cutoff := st.RetentionCutoff(t)
		res, err := st.ApplyRetention(ctx, t, cutoff, cutoff-int64(delay))
		m.chunks.Add(float64(res.Chunks))
		m.chunkBytes.Add(float64(res.ChunkBytes))
		m.segments.Add(float64(res.Segments))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failed = true
			m.failures.Inc()
			logger.Warn("compactor: retention failed; will retry", "tenant", t, "err", err)
			continue
		}
		if res != (store.RetentionStats{}) {
			logger.Info("compactor: applied retention", "tenant", t, "cutoff", time.Unix(0, cutoff).UTC(),
				"segments_deleted", res.Segments, "segments_written", res.Rewritten, "chunks_deleted", res.Chunks, "chunk_bytes_deleted", res.ChunkBytes)
		}
	}
	if ran && !failed {
		m.lastSuccess.SetToCurrentTime()
	}
}

func runCompactor(ctx context.Context, cfg CompactorConfig, st *store.Store, period time.Duration, reg prometheus.Registerer, logger *slog.Logger) {
	m := newRetentionMetrics(reg)
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			compactOnce(ctx, st, period, now, logger)
			retentionOnce(ctx, st, cfg.RetentionDeleteDelay, m, logger)
		}
	}
}
