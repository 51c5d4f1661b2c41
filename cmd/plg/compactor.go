package main

import (
	"context"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/plgstack/plg/chunks"
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
	// still read the chunk (Loki: retention_delete_delay, 2h). Packs that
	// chunk compaction stopped referencing are kept as long.
	RetentionDeleteDelay time.Duration `yaml:"retention_delete_delay"`
	// ChunkCompaction merges each stream's small chunks of the current
	// and previous index periods into chunks of the ingester's target
	// size, and deletes the packs nothing references any more
	// (store.CompactChunks, store.CollectPacks).
	ChunkCompaction bool `yaml:"chunk_compaction"`
	// ChunkCompactionSmallBytes is the stored size under which a chunk
	// is merged with its neighbours; 0 means half of
	// ingester.chunk_target_size.
	ChunkCompactionSmallBytes int `yaml:"chunk_compaction_small_bytes"`
	// ChunkCompactionInterval is the least time between two chunk
	// compactions (the runs in between merge index segments only). Each
	// run extends the current period's compacted chunks with the small
	// chunks flushed since, and the fewer the runs the fewer times an
	// entry is encoded again: in a store test, compacting six times less
	// often halved compaction's CPU (eighth session). 0: every interval.
	ChunkCompactionInterval time.Duration `yaml:"chunk_compaction_interval"`
}

func defaultCompactorConfig() CompactorConfig {
	return CompactorConfig{Enabled: true, Interval: 10 * time.Minute, RetentionDeleteDelay: 2 * time.Hour, ChunkCompaction: true,
		ChunkCompactionInterval: time.Hour}
}

// chunkCompaction returns the store's chunk compaction settings for
// chunks built with o (the ingester's options), or nil when it is off.
func (c CompactorConfig) chunkCompaction(o chunks.Options) *store.ChunkCompaction {
	if !c.ChunkCompaction {
		return nil
	}
	target := o.TargetSize
	if target <= 0 {
		target = chunks.DefaultTargetSize
	}
	small := c.ChunkCompactionSmallBytes
	if small <= 0 {
		small = target / 2
	}
	merge := limitMerges(chunkMerger(o), max(1, runtime.GOMAXPROCS(0)/2))
	return &store.ChunkCompaction{Merge: merge, TargetBytes: target, SmallBytes: small}
}

// limitMerges lets at most n calls of m run at once. The compactor shares
// the process with the ingester and the querier: it reads several groups
// at once (object-store round trips), but merging is CPU, and a run
// merging on every core would stall pushes and queries for its length.
func limitMerges(m store.ChunkMerger, n int) store.ChunkMerger {
	sem := make(chan struct{}, n)
	return func(ctx context.Context, in []store.ChunkBytes) ([]store.MergedChunk, error) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-sem }()
		return m(ctx, in)
	}
}

// chunkMerger adapts chunks.Compact to the store, which does not read
// chunks itself.
func chunkMerger(o chunks.Options) store.ChunkMerger {
	return func(ctx context.Context, in []store.ChunkBytes) ([]store.MergedChunk, error) {
		cin := make([]chunks.CompactInput, len(in))
		for i, c := range in {
			cin[i] = chunks.CompactInput{Name: c.Name, Data: c.Data}
		}
		outs, err := chunks.Compact(ctx, o, cin)
		if err != nil {
			return nil, err
		}
		res := make([]store.MergedChunk, len(outs))
		for i, c := range outs {
			res[i] = store.MergedChunk{Data: c.Data, MinT: c.MinT, MaxT: c.MaxT, Entries: c.Entries,
				UncompressedBytes: c.UncompressedBytes, Checksum: c.Checksum}
		}
		return res, nil
	}
}

// chunkCompactionMetrics count what chunk compaction did.
type chunkCompactionMetrics struct {
	chunksIn, chunksOut, bytesIn, bytesOut prometheus.Counter
	packsDeleted                           *prometheus.CounterVec
	packBytesDeleted                       prometheus.Counter
	failures                               prometheus.Counter
}

func newChunkCompactionMetrics(reg prometheus.Registerer) *chunkCompactionMetrics {
	f := promauto.With(reg)
	return &chunkCompactionMetrics{
		chunksIn: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_compactor_chunks_compacted_total",
			Help: "Chunks merged into larger ones by chunk compaction (its inputs).",
		}),
		chunksOut: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_compactor_compacted_chunks_written_total",
			Help: "Chunks chunk compaction built from its inputs.",
		}),
		bytesIn: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_compactor_compacted_input_bytes_total",
			Help: "Stored bytes of the chunks merged by chunk compaction.",
		}),
		bytesOut: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_compactor_compacted_output_bytes_total",
			Help: "Stored bytes of the chunks chunk compaction built.",
		}),
		packsDeleted: f.NewCounterVec(prometheus.CounterOpts{
			Name: "plg_compactor_packs_deleted_total",
			Help: "Packs nothing referenced that the compactor deleted, by reason: marked (a rewrite stopped referencing them) or orphan (never referenced).",
		}, []string{"reason"}),
		packBytesDeleted: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_compactor_pack_bytes_deleted_total",
			Help: "Bytes of the packs counted in plg_compactor_packs_deleted_total.",
		}),
		failures: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_compactor_chunk_compaction_failures_total",
			Help: "Chunk compactions or pack collections of a tenant's period that failed (retried on the next run).",
		}),
	}
}

// compactChunksOnce merges the small chunks of each tenant's current and
// previous index periods (which may still receive late flushes) and then
// deletes the packs nothing references in the periods a rewrite may have
// left some in: those grace (and an interval) before the previous one,
// where markers wait out their grace period. Each rewrite is given half
// of grace: a run that outlived it could name packs deleted meanwhile
// (chunks/store/FORMAT.md, "Deletion markers").
//
// Amplification: the current period is compacted every interval, but a
// compacted chunk joins a later merge only while it holds at most half of
// it (store.CompactChunks), so each entry is rewritten a few times at
// most; the previous period is compacted with Final, which merges what
// is left once more (and late flushes as they come).
func compactChunksOnce(ctx context.Context, st *store.Store, period time.Duration, now time.Time, cc *store.ChunkCompaction,
	grace time.Duration, m *chunkCompactionMetrics, logger *slog.Logger) {
	tenants, err := st.Tenants(ctx)
	if err != nil {
		logger.Warn("compactor: listing tenants failed", "err", err)
		return
	}
	for _, t := range tenants {
		for _, at := range []time.Time{now.Add(-period), now} {
			runCtx, cancel := context.WithTimeout(ctx, max(grace/2, time.Minute))
			start := time.Now()
			c := *cc
			c.Final = at.Before(now) // the previous period gets late flushes only
			res, err := st.CompactChunks(runCtx, t, at.UnixNano(), c)
			cancel()
			m.chunksIn.Add(float64(res.InputChunks))
			m.chunksOut.Add(float64(res.OutputChunks))
			m.bytesIn.Add(float64(res.InputBytes))
			m.bytesOut.Add(float64(res.OutputBytes))
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				m.failures.Inc()
				logger.Warn("compactor: chunk compaction failed; will retry", "tenant", t, "period", st.PeriodOf(at.UnixNano()), "err", err)
				continue
			}
			if res.Segments > 0 {
				logger.Info("compactor: compacted chunks", "tenant", t, "period", st.PeriodOf(at.UnixNano()),
					"segments", res.Segments, "chunks_in", res.InputChunks, "chunks_out", res.OutputChunks,
					"bytes_in", res.InputBytes, "bytes_out", res.OutputBytes, "raw_bytes", res.RawBytes,
					"packs_marked", res.MarkedPacks, "relocated", res.Relocated, "groups_skipped", res.Skipped, "groups_deferred", res.Deferred, "duration", time.Since(start))
			}
		}
		first, last := st.PeriodOf(now.Add(-period-2*grace).UnixNano()), st.PeriodOf(now.UnixNano())
		for p := first; p <= last; p++ {
			res, err := st.CollectPacks(ctx, t, p*int64(period), grace)
			m.packsDeleted.WithLabelValues("marked").Add(float64(res.Marked))
			m.packsDeleted.WithLabelValues("orphan").Add(float64(res.Orphans))
			m.packBytesDeleted.Add(float64(res.Bytes))
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				m.failures.Inc()
				logger.Warn("compactor: deleting unreferenced packs failed; will retry", "tenant", t, "period", p, "err", err)
				continue
			}
			if res != (store.PackCollection{}) {
				logger.Info("compactor: deleted unreferenced packs", "tenant", t, "period", p,
					"marked", res.Marked, "orphans", res.Orphans, "bytes", res.Bytes, "markers", res.Markers)
			}
		}
	}
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

// runCompactor compacts every interval: chunk compaction (which merges
// the index segments too) when cc is not nil, else index segments only;
// then retention.
func runCompactor(ctx context.Context, cfg CompactorConfig, st *store.Store, period time.Duration, cc *store.ChunkCompaction, reg prometheus.Registerer, logger *slog.Logger) {
	m := newRetentionMetrics(reg)
	cm := newChunkCompactionMetrics(reg)
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	var lastChunks time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if cc != nil && dueChunkCompaction(lastChunks, now, cfg.ChunkCompactionInterval) {
				lastChunks = now
				compactChunksOnce(ctx, st, period, now, cc, cfg.RetentionDeleteDelay, cm, logger)
			} else {
				compactOnce(ctx, st, period, now, logger)
			}
			retentionOnce(ctx, st, cfg.RetentionDeleteDelay, m, logger)
		}
	}
}

// dueChunkCompaction reports whether a tick at now runs chunk compaction,
// the last having run at last (zero: never).
func dueChunkCompaction(last, now time.Time, every time.Duration) bool {
	return last.IsZero() || now.Sub(last) >= every
}
