package ingester

import (
	"flag"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"golang.org/x/time/rate"
)

// Limits are the per-tenant ingestion limits. The defaults are generous on
// purpose: a single-team install should never meet a limit it did not set,
// while a shared install can tighten them per tenant.
type Limits struct {
	IngestionRateMB      float64 `yaml:"ingestion_rate_mb"`
	IngestionBurstSizeMB float64 `yaml:"ingestion_burst_size_mb"`

	MaxLineSize         int  `yaml:"max_line_size"`
	MaxLineSizeTruncate bool `yaml:"max_line_size_truncate"`

	MaxLabelNamesPerSeries int `yaml:"max_label_names_per_series"`
	MaxLabelNameLength     int `yaml:"max_label_name_length"`
	MaxLabelValueLength    int `yaml:"max_label_value_length"`

	RejectOldSamples       bool          `yaml:"reject_old_samples"`
	RejectOldSamplesMaxAge time.Duration `yaml:"reject_old_samples_max_age"`
	CreationGracePeriod    time.Duration `yaml:"creation_grace_period"`

	MaxStreamsPerTenant int `yaml:"max_streams_per_tenant"`

	MaxStructuredMetadataSize    int `yaml:"max_structured_metadata_size"`
	MaxStructuredMetadataEntries int `yaml:"max_structured_metadata_entries"`

	// DiscoverServiceName lists the labels whose value becomes a new
	// stream's service_name when it has none, first present wins, as in
	// Loki: Grafana's Logs Drilldown lists services by that label. Empty
	// turns discovery off.
	DiscoverServiceName []string `yaml:"discover_service_name"`

	// RetentionPeriod is how long the tenant's data is kept in the store;
	// 0 keeps it forever, as in Loki. The ingester does not use it: the
	// compactor deletes expired data and queriers stop reading it at the
	// cutoff (chunks/store/retention.go). Prometheus' duration syntax, as
	// in Loki's files: 744h, 31d, 4w.
	RetentionPeriod model.Duration `yaml:"retention_period"`
}

// DefaultServiceNameLabels is Loki's default discover_service_name list.
var DefaultServiceNameLabels = []string{
	"service", "app", "application", "name", "app_kubernetes_io_name",
	"container", "container_name", "k8s_container_name", "component",
	"workload", "job", "k8s_job_name",
}

// DefaultLimits returns the limits applied to every tenant without overrides.
func DefaultLimits() Limits {
	return Limits{
		IngestionRateMB:              128,
		IngestionBurstSizeMB:         256,
		MaxLineSize:                  256 << 10,
		MaxLabelNamesPerSeries:       15,
		MaxLabelNameLength:           1024,
		MaxLabelValueLength:          2048,
		RejectOldSamples:             true,
		RejectOldSamplesMaxAge:       7 * 24 * time.Hour,
		CreationGracePeriod:          10 * time.Minute,
		MaxStreamsPerTenant:          10000,
		MaxStructuredMetadataSize:    64 << 10,
		MaxStructuredMetadataEntries: 128,
		DiscoverServiceName:          slices.Clone(DefaultServiceNameLabels),
	}
}

// RegisterFlags adds the commonly changed limits to fs.
func (l *Limits) RegisterFlags(fs *flag.FlagSet) {
	fs.Float64Var(&l.IngestionRateMB, "limits.ingestion-rate-mb", l.IngestionRateMB, "Per-tenant ingestion rate in MB/s (0: unlimited).")
	fs.Float64Var(&l.IngestionBurstSizeMB, "limits.ingestion-burst-size-mb", l.IngestionBurstSizeMB, "Per-tenant ingestion burst in MB.")
	fs.IntVar(&l.MaxLineSize, "limits.max-line-size", l.MaxLineSize, "Longest accepted log line in bytes (0: unlimited).")
	fs.BoolVar(&l.MaxLineSizeTruncate, "limits.max-line-size-truncate", l.MaxLineSizeTruncate, "Truncate lines over the maximum size instead of rejecting them.")
	fs.IntVar(&l.MaxStreamsPerTenant, "limits.max-streams-per-tenant", l.MaxStreamsPerTenant, "Most streams a tenant may have in memory (0: unlimited).")
	fs.Var(&l.RetentionPeriod, "limits.retention-period", "How long each tenant's logs are kept in the store, e.g. 31d or 744h (0: forever). The compactor deletes older data; queries stop at the cutoff.")
}

// Validate rejects limits that cannot work.
func (l *Limits) Validate() error {
	if l.IngestionRateMB < 0 || l.IngestionBurstSizeMB < 0 {
		return fmt.Errorf("limits: ingestion rate and burst must not be negative")
	}
	if l.IngestionRateMB > 0 && l.IngestionBurstSizeMB < l.IngestionRateMB {
		return fmt.Errorf("limits: ingestion_burst_size_mb (%g) must be at least ingestion_rate_mb (%g)", l.IngestionBurstSizeMB, l.IngestionRateMB)
	}
	if l.RetentionPeriod < 0 {
		return fmt.Errorf("limits: retention_period must not be negative, got %s", l.RetentionPeriod)
	}
	return nil
}

// Overrides resolves the limits of each tenant: a tenant's own entry when it
// has one, else the defaults. The config loader fills the fields an entry
// leaves out from the defaults, so an entry is complete.
type Overrides struct {
	Defaults  Limits            `yaml:",inline"`
	PerTenant map[string]Limits `yaml:"per_tenant"`

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// For returns the limits of tenant.
func (o *Overrides) For(tenant string) *Limits {
	if l, ok := o.PerTenant[tenant]; ok {
		return &l
	}
	return &o.Defaults
}

// allowBytes takes n bytes from tenant's rate limiter and reports whether
// they fit. A request either fits whole or is refused whole, as in Loki, so a
// client retrying a refused batch never duplicates half of it.
func (o *Overrides) allowBytes(tenant string, n int, now time.Time) bool {
	l := o.For(tenant)
	if l.IngestionRateMB <= 0 {
		return true
	}
	o.mu.Lock()
	lim, ok := o.limiters[tenant]
	if !ok {
		if o.limiters == nil {
			o.limiters = make(map[string]*rate.Limiter)
		}
		lim = rate.NewLimiter(rate.Limit(l.IngestionRateMB*(1<<20)), int(l.IngestionBurstSizeMB*(1<<20)))
		o.limiters[tenant] = lim
	}
	o.mu.Unlock()
	return lim.AllowN(now, n)
}
