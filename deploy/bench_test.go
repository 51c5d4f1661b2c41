package deploy

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/plgstack/plg/agent/discovery"
	"github.com/plgstack/plg/agent/discovery/kube"
)

// benchPods lays out n pods of two containers each under root and returns
// their API label sets, as the kube watcher gives them.
func benchPods(b *testing.B, root string, n int) []labels.Labels {
	b.Helper()
	var out []labels.Labels
	for i := range n {
		p := pod{
			namespace: fmt.Sprintf("team-%d", i%10), name: fmt.Sprintf("svc-%d-7f9c8d6b5-x2x4z", i),
			uid:        fmt.Sprintf("6e3f1a52-8d4c-4f1e-9b7a-%012d", i),
			labels:     map[string]string{"app.kubernetes.io/name": fmt.Sprintf("svc-%d", i), "pod-template-hash": "7f9c8d6b5"},
			containers: []string{"app", "istio-proxy"}, nodeName: node,
		}
		p.dirUID = p.uid
		writeLogs(b, root, p)
		var kp kube.Pod
		if err := json.Unmarshal([]byte(p.json("1")), &kp); err != nil {
			b.Fatal(err)
		}
		out = append(out, kp.Targets()...)
	}
	return out
}

func labelBytes(ls []labels.Labels) int64 {
	var n int64
	for _, l := range ls {
		l.Range(func(l labels.Label) { n += int64(len(l.Name) + len(l.Value)) })
	}
	return n
}

// BenchmarkShippedConfigSync is one target sync of the shipped config on a
// node with 100 pods (200 containers): relabeling and globbing, with the
// pods from the API and from disk. The bytes are the candidate label sets'.
func BenchmarkShippedConfigSync(b *testing.B) {
	root := b.TempDir()
	b.Setenv("PLG_LOG_ROOT", root)
	b.Setenv("PLG_POSITIONS_FILE", root+"/positions.yaml")
	b.Setenv("PLG_PUSH_URL", "http://127.0.0.1:1/loki/api/v1/push")
	cfg := loadShipped(b)
	pods := benchPods(b, root, 100)
	sc := &cfg.ScrapeConfigs[0].Config
	disk, err := discovery.PodLogTargets(root+"/pods", node)
	if err != nil {
		b.Fatal(err)
	}
	// chart is the shipped config with the Helm chart's path rule instead:
	// /var/log/pods/*<uid>/<container>/*.log, for comparison.
	chart := *sc
	chart.Relabel = nil
	for _, r := range sc.Relabel {
		if r.TargetLabel != "__tmp_pod_dir" && r.TargetLabel != "__path__" {
			chart.Relabel = append(chart.Relabel, r)
		}
	}
	chart.Relabel = append(chart.Relabel, &relabel.Config{
		SourceLabels: model.LabelNames{discovery.MetaPodUID, discovery.MetaContainerName}, Separator: "/",
		Regex: relabel.MustNewRegexp("(.*)"), Replacement: root + "/pods/*$1/*.log",
		TargetLabel: "__path__", Action: relabel.Replace, NameValidationScheme: model.UTF8Validation,
	})
	apiEnv := discovery.Env{NodeName: node, Kube: func(*discovery.KubernetesSDConfig) ([]labels.Labels, bool) { return pods, true }}
	for _, bc := range []struct {
		name  string
		cfg   *discovery.Config
		env   discovery.Env
		bytes int64
	}{
		{"api", sc, apiEnv, labelBytes(pods)},
		{"disk", sc, discovery.Env{NodeName: node}, labelBytes(disk)},
		{"api-chart-glob", &chart, apiEnv, labelBytes(pods)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(bc.bytes)
			b.ReportAllocs()
			for b.Loop() {
				ts, err := discovery.Discover(bc.cfg, bc.env)
				if err != nil || len(ts) != 200 {
					b.Fatalf("%d targets, err %v", len(ts), err)
				}
			}
		})
	}
}
