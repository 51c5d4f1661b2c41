package ingester

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	ingestedLines     *prometheus.CounterVec
	ingestedBytes     *prometheus.CounterVec
	rejected          *prometheus.CounterVec
	duplicates        *prometheus.CounterVec
	chunksFlushed     *prometheus.CounterVec
	chunkBytesFlushed prometheus.Counter
	packsFlushed      prometheus.Counter
	packBytesFlushed  prometheus.Counter
	flushFailures     prometheus.Counter
	indexSegments     prometheus.Counter
	indexFailures     prometheus.Counter
	checkpoints       prometheus.Counter
	checkpointFails   prometheus.Counter
	replayDuration    prometheus.Gauge
	replayedRecords   prometheus.Counter
	pushWaitSeconds   prometheus.Histogram
	pushWaitTimeouts  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, i *Ingester) *metrics {
	m := &metrics{
		ingestedLines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plg_ingester_ingested_lines_total", Help: "Log lines accepted, by tenant.",
		}, []string{"tenant"}),
		ingestedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plg_ingester_ingested_bytes_total", Help: "Bytes of log lines accepted, by tenant.",
		}, []string{"tenant"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plg_ingester_rejected_entries_total", Help: "Entries refused, by tenant and reason.",
		}, []string{"tenant", "reason"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plg_ingester_duplicate_entries_total", Help: "Entries dropped as exact duplicates (same timestamp and line) of one already held.",
		}, []string{"tenant"}),
		chunksFlushed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plg_ingester_chunks_flushed_total", Help: "Chunks uploaded to object storage, by why they were cut: full, idle, age, memory (early, for max_chunk_memory_mb) or forced (POST /flush, shutdown).",
		}, []string{"reason"}),
		chunkBytesFlushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_ingester_chunk_bytes_flushed_total", Help: "Compressed bytes of chunks uploaded to object storage.",
		}),
		packsFlushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_ingester_packs_flushed_total", Help: "Pack objects uploaded to object storage: the chunks of one tenant and index period of a flush cycle, back to back.",
		}),
		packBytesFlushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_ingester_pack_bytes_flushed_total", Help: "Bytes of the pack objects uploaded to object storage.",
		}),
		flushFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_ingester_chunk_flush_failures_total", Help: "Chunk encodings and pack uploads that failed after all retries; their chunks are retried next cycle.",
		}),
		indexSegments: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_ingester_index_segments_written_total", Help: "Index segments written to object storage.",
		}),
		indexFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_ingester_index_write_failures_total", Help: "Index segment writes that failed after all retries.",
		}),
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_ingester_checkpoints_total", Help: "WAL checkpoints written.",
		}),
		checkpointFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_ingester_checkpoint_failures_total", Help: "WAL checkpoints that failed.",
		}),
		replayDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "plg_ingester_wal_replay_duration_seconds", Help: "How long the last WAL replay took.",
		}),
		replayedRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_ingester_wal_replayed_records_total", Help: "WAL and checkpoint records replayed at start.",
		}),
		pushWaitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "plg_ingester_push_memory_wait_seconds", Help: "How long pushes that found the unflushed chunk memory over 9/8 of max_chunk_memory_mb waited for a flush to free it (back-pressure).",
			Buckets: []float64{0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
		pushWaitTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_ingester_push_memory_wait_timeouts_total", Help: "Pushes accepted over the chunk memory budget because no flush freed memory within the wait limit (5 s).",
		}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.ingestedLines, m.ingestedBytes, m.rejected, m.duplicates, m.chunksFlushed,
		m.chunkBytesFlushed, m.packsFlushed, m.packBytesFlushed, m.flushFailures, m.indexSegments, m.indexFailures, m.checkpoints,
		m.checkpointFails, m.replayDuration, m.replayedRecords, m.pushWaitSeconds, m.pushWaitTimeouts)
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "plg_ingester_memory_streams", Help: "Streams held in memory.",
	}, func() float64 { return float64(i.numStreams()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "plg_ingester_memory_chunks", Help: "Chunks held in memory, open and closed.",
	}, func() float64 { return float64(i.numChunks()) }))
	for state, v := range map[string]*atomic.Int64{"unflushed": &i.mem.unflushed, "retained": &i.mem.retained} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "plg_ingester_memory_chunk_bytes",
			Help:        "Bytes of chunk data in memory (compressed blocks, head blocks, encoded copies), by state: unflushed (open or awaiting upload; max_chunk_memory_mb applies to it) or retained (flushed, kept for chunk_retain_period).",
			ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 { return float64(v.Load()) }))
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "plg_ingester_head_blocks_sealed_early_total", Help: "Head blocks compressed before reaching chunk_block_size to bring chunk memory under max_chunk_memory_mb.",
	}, func() float64 { return float64(i.mem.sealed.Load()) }))
	budget := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "plg_ingester_memory_chunk_budget_bytes", Help: "The max_chunk_memory_mb budget in bytes; 0 when disabled.",
	})
	budget.Set(float64(i.memBudget))
	reg.MustRegister(budget)
	return m
}
