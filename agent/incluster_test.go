package agent

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// A pod that runs the agent without a mounted service-account token (no
// RBAC wanted) still sees KUBERNETES_SERVICE_HOST; the agent must start and
// discover pods from their log directories instead of failing.
func TestAgentStartsWithoutServiceAccountTokenInCluster(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	t.Setenv("NODE_NAME", "")
	cfg, err := LoadConfig([]byte(`
positions: {filename: ` + t.TempDir() + `/positions.yaml}
clients: [{url: http://127.0.0.1:1/loki/api/v1/push}]
scrape_configs:
  - job_name: pods
    kubernetes_sd_configs: [{role: pod}]
`))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if _, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil); err != nil {
		t.Fatalf("agent refused to start without API access: %v", err)
	}
	for _, want := range []string{"no Kubernetes API access", "NODE_NAME is not set"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
