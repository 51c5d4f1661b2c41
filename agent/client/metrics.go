package client

import "github.com/prometheus/client_golang/prometheus"

// Metrics are shared by all clients of an agent.
type Metrics struct {
	SentEntries     prometheus.Counter
	SentBytes       prometheus.Counter
	DroppedEntries  *prometheus.CounterVec
	RequestDuration *prometheus.HistogramVec
	Retries         prometheus.Counter
	// BatchEntries and BatchBytes (compressed body) are observed once per
	// batch, at its first attempt.
	BatchEntries prometheus.Histogram
	BatchBytes   prometheus.Histogram
	// PendingBytes is the line and metadata bytes held unacknowledged by
	// the clients (bounded by max_pending_bytes per client).
	PendingBytes prometheus.Gauge
}

// Reasons for dropped entries.
const (
	ReasonRejected         = "rejected"          // a 4xx other than 429
	ReasonRateLimited      = "rate_limited"      // 429 with drop_rate_limited_batches
	ReasonRetriesExhausted = "retries_exhausted" // max_retries reached
	ReasonStreamLimited    = "stream_limited"    // limits_config.max_streams
)

// NewMetrics registers the client metrics with reg (may be nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		SentEntries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_agent_sent_entries_total", Help: "Entries accepted by an ingester.",
		}),
		SentBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_agent_sent_bytes_total", Help: "Compressed push body bytes accepted by an ingester.",
		}),
		DroppedEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plg_agent_dropped_entries_total", Help: "Entries given up on, by reason.",
		}, []string{"reason"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "plg_agent_request_duration_seconds",
			Help:    "Push request latency by ingester host and status code.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 8),
		}, []string{"host", "status_code"}),
		Retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_agent_batch_retries_total", Help: "Push attempts retried.",
		}),
		BatchEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "plg_agent_batch_entries", Help: "Entries per batch sent.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		BatchBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "plg_agent_batch_bytes", Help: "Compressed push body bytes per batch sent.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 9),
		}),
		PendingBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "plg_agent_pending_bytes", Help: "Line bytes handed to the clients and not yet acknowledged by an ingester.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.SentEntries, m.SentBytes, m.DroppedEntries, m.RequestDuration, m.Retries,
			m.BatchEntries, m.BatchBytes, m.PendingBytes)
	}
	return m
}
