package agent

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/plgstack/plg/agent/client"
)

func TestLoadConfigHelmChartDefault(t *testing.T) {
	b, err := os.ReadFile("testdata/promtail-helm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Clients[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen addr", cfg.ListenAddr(), ":3101"},
		{"client url", c.URL, "http://loki-gateway/loki/api/v1/push"},
		{"tenant", c.TenantID, "fake"},
		{"batchwait", c.BatchWait, time.Second},
		{"batchsize", c.BatchSize, 1 << 20},
		{"backoff", c.BackoffConfig, client.BackoffConfig{MinPeriod: 500 * time.Millisecond, MaxPeriod: 5 * time.Minute, MaxRetries: 10, MaxElapsed: 5 * time.Minute}},
		{"external labels", c.ExternalLabels["cluster"], "prod-eu-1"},
		{"positions file", cfg.Positions.Filename, "/run/promtail/positions.yaml"},
		{"positions sync default", cfg.Positions.SyncPeriod, 10 * time.Second},
		{"max line size", int(cfg.LimitsConfig.MaxLineSize), 256 << 10},
		{"jobs", len(cfg.ScrapeConfigs), 2},
		{"first job", cfg.ScrapeConfigs[0].JobName, "kubernetes-pods"},
		{"relabel rules", len(cfg.ScrapeConfigs[0].Relabel), 11},
		{"k8s role", cfg.ScrapeConfigs[0].KubernetesSD[0].Role, "pod"},
		{"stages", cfg.ScrapeConfigs[1].PipelineStages[4].Name, "multiline"},
		{"static path", cfg.ScrapeConfigs[1].StaticConfigs[0].Labels["__path__"], "/var/log/**/*.log"},
		{"poll min default", cfg.Global.FileWatchConfig.MinPollFrequency, 250 * time.Millisecond},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig([]byte("clients: [{url: 'http://l:3100/loki/api/v1/push'}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Clients[0]
	if c.BatchWait != time.Second || c.BatchSize != 1<<20 || c.Timeout != 10*time.Second ||
		c.BackoffConfig.MinPeriod != 500*time.Millisecond || c.BackoffConfig.MaxPeriod != 5*time.Minute || c.BackoffConfig.MaxRetries != 10 ||
		c.BackoffConfig.MaxElapsed != 5*time.Minute || c.MaxPendingBytes != 64<<20 {
		t.Fatalf("client defaults %+v", c)
	}
	if cfg.Positions.Filename != "/var/log/positions.yaml" || cfg.TargetConfig.SyncPeriod != 10*time.Second {
		t.Fatalf("defaults: %+v %+v", cfg.Positions, cfg.TargetConfig)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	const cl = "clients: [{url: 'http://l:3100/loki/api/v1/push'}]\n"
	tests := []struct {
		name string
		cfg  string
		want []string
	}{
		{name: "unknown top-level field", cfg: cl + "scrape_config: []\n", want: []string{"scrape_config"}},
		{name: "unknown client field", cfg: "clients: [{url: 'http://x/', batch_wait: 1s}]\n", want: []string{"batch_wait"}},
		{name: "unknown positions field", cfg: cl + "positions: {file: x}\n", want: []string{"file"}},
		{name: "no clients", cfg: "scrape_configs: []\n", want: []string{"clients"}},
		{name: "bad client url", cfg: "clients: [{url: 'loki:3100'}]\n", want: []string{"clients[0]", "url"}},
		{name: "missing job name", cfg: cl + "scrape_configs: [{static_configs: []}]\n", want: []string{"job_name"}},
		{name: "duplicate job", cfg: cl + "scrape_configs: [{job_name: a}, {job_name: a}]\n", want: []string{"duplicate"}},
		{name: "stage error names stage and field", cfg: cl + "scrape_configs: [{job_name: a, pipeline_stages: [{cri: {}}, {json: {expresions: {x: }}}]}]\n", want: []string{"job a", "stage 1 (json)", "expresions"}},
		{name: "journal target unsupported", cfg: cl + "scrape_configs: [{job_name: j, journal: {max_age: 12h}}]\n", want: []string{"journal", "not supported"}},
		{name: "bad relabel action", cfg: cl + "scrape_configs: [{job_name: a, relabel_configs: [{action: explode}]}]\n", want: []string{"explode"}},
		{name: "bad max_line_size", cfg: cl + "limits_config: {max_line_size: huge}\n", want: []string{"huge"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig([]byte(tc.cfg))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadConfigRetryBoundsCanBeRemoved(t *testing.T) {
	cfg, err := LoadConfig([]byte("clients:\n- url: http://l:3100/loki/api/v1/push\n  backoff_config: {max_retries: 0, max_elapsed: 0s}\n  max_pending_bytes: 1048576\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Clients[0]
	if c.BackoffConfig.MaxRetries != 0 || c.BackoffConfig.MaxElapsed != 0 || c.MaxPendingBytes != 1<<20 {
		t.Fatalf("explicit zeros or values not kept: %+v", c)
	}
}
