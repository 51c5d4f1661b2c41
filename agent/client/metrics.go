package client

import "github.com/prometheus/client_golang/prometheus"

// Metrics are shared by all clients of an agent.
type Metrics struct {
	SentEntries     prometheus.Counter
	SentBytes       prometheus.Counter
	DroppedEntries  *prometheus.CounterVec
	RequestDuration *prometheus.HistogramVec
	Retries         prometheus.Counter
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
	}
	if reg != nil {
		reg.MustRegister(m.SentEntries, m.SentBytes, m.DroppedEntries, m.RequestDuration, m.Retries)
	}
	return m
}
