package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/plgstack/plg/chunks/store"
)

// CompactorConfig schedules the merging of index segments. Every ingester
// flush cycle writes a small segment per tenant and period; merging them
// keeps the number a query must open small. Running it in several
// processes at once is safe: a merged segment is uploaded before its inputs
// are deleted, and readers deduplicate chunk references.
type CompactorConfig struct {
	Enabled  bool          `yaml:"enabled"`
	Interval time.Duration `yaml:"interval"`
}

func defaultCompactorConfig() CompactorConfig {
	return CompactorConfig{Enabled: true, Interval: 10 * time.Minute}
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

func runCompactor(ctx context.Context, cfg CompactorConfig, st *store.Store, period time.Duration, logger *slog.Logger) {
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			compactOnce(ctx, st, period, now, logger)
		}
	}
}
