package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plgstack/plg/agent/tail"
)

// lagCollector reports, at scrape time, how far the acknowledged positions
// trail the files being tailed. It has no per-file labels so its
// cardinality stays at two series however many files a node has.
type lagCollector struct {
	a          *Agent
	bytes, age *prometheus.Desc
	now        func() time.Time
}

func newLagCollector(a *Agent) *lagCollector {
	return &lagCollector{
		a: a,
		bytes: prometheus.NewDesc("plg_agent_positions_lag_bytes",
			"Bytes of the tailed files beyond their acknowledged positions, summed over files.", nil, nil),
		age: prometheus.NewDesc("plg_agent_positions_lag_seconds",
			"Age of the oldest line read but not yet acknowledged by an ingester, over all files.", nil, nil),
		now: time.Now,
	}
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytes
	ch <- c.age
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	// Copy the tailers under the lock, stat the files outside it.
	c.a.mu.Lock()
	ts := make([]*tail.Tailer, 0, len(c.a.running))
	for _, r := range c.a.running {
		if r.tailer != nil {
			ts = append(ts, r.tailer)
		}
	}
	c.a.mu.Unlock()
	now := c.now()
	var sum int64
	var oldest time.Duration
	for _, t := range ts {
		b, age := t.Lag(now)
		sum += b
		oldest = max(oldest, age)
	}
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(sum))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, oldest.Seconds())
}
