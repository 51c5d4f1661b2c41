package wal

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	bytes         prometheus.Gauge
	records       prometheus.Counter
	fsyncs        prometheus.Counter
	fsyncDuration prometheus.Histogram
	corruptions   *prometheus.CounterVec
}

// Values of the "kind" label of plg_wal_corruptions_total.
const (
	corruptionTornTail = "torn_tail" // last segment cut short or garbled by a crash; repaired
	corruptionCorrupt  = "corrupt"   // invalid data that a crash cannot explain; data lost if skipped
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "plg_wal_bytes",
			Help: "Bytes the write-ahead log occupies on disk (segments and checkpoints).",
		}),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_wal_records_total",
			Help: "Records appended to the write-ahead log.",
		}),
		fsyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_wal_fsyncs_total",
			Help: "fsync calls on write-ahead log files; with group commit far fewer than appends.",
		}),
		fsyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "plg_wal_fsync_duration_seconds",
			Help:    "Duration of fsync calls on write-ahead log files.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16), // 100µs .. ~3.3s
		}),
		corruptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plg_wal_corruptions_total",
			Help: "Invalid write-ahead log data found: kind=torn_tail (crash mid-write, repaired) or kind=corrupt (data lost if skipped).",
		}, []string{"kind"}),
	}
	if reg == nil {
		return m
	}
	m.bytes = register(reg, m.bytes)
	m.records = register(reg, m.records)
	m.fsyncs = register(reg, m.fsyncs)
	m.fsyncDuration = register(reg, m.fsyncDuration)
	m.corruptions = register(reg, m.corruptions)
	return m
}

// register registers c, or returns the collector already registered under
// the same name, so that reopening a WAL (or replaying before Open) with the
// same Registerer keeps counting in the same series.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// A conflicting, differently shaped collector: count privately
		// rather than fail the WAL over a metric.
	}
	return c
}
