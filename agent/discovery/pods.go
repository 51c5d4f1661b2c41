package discovery

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// DefaultPodLogsDir is where the kubelet writes container logs.
const DefaultPodLogsDir = "/var/log/pods"

// Kubernetes meta labels derived from pod log paths, named as Prometheus'
// kubernetes_sd pod role names them.
const (
	MetaNamespace     = "__meta_kubernetes_namespace"
	MetaPodName       = "__meta_kubernetes_pod_name"
	MetaPodUID        = "__meta_kubernetes_pod_uid"
	MetaContainerName = "__meta_kubernetes_pod_container_name"
	MetaNodeName      = "__meta_kubernetes_pod_node_name"
)

// PodDir is a parsed /var/log/pods/<namespace>_<pod>_<uid> directory name.
type PodDir struct {
	Namespace, Pod, UID string
}

// ParsePodDir parses `<namespace>_<pod>_<uid>`. Namespaces and pod names
// cannot contain '_' (they are DNS labels/subdomains), so the split is
// unambiguous.
func ParsePodDir(name string) (PodDir, bool) {
	ns, rest, ok := strings.Cut(name, "_")
	if !ok || ns == "" {
		return PodDir{}, false
	}
	pod, uid, ok := strings.Cut(rest, "_")
	if !ok || pod == "" || uid == "" || strings.Contains(uid, "_") {
		return PodDir{}, false
	}
	return PodDir{Namespace: ns, Pod: pod, UID: uid}, true
}

// PodLogTargets lists the containers under root (one label set per
// <pod dir>/<container> directory) with the meta labels a kubernetes_sd pod
// target would have, so the same relabel_configs work. node fills
// __meta_kubernetes_pod_node_name: every pod on this disk runs here.
func PodLogTargets(root, node string) ([]labels.Labels, error) {
	pods, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pod logs dir %s: %w", root, err)
	}
	var out []labels.Labels
	for _, p := range pods {
		if !p.IsDir() {
			continue
		}
		pd, ok := ParsePodDir(p.Name())
		if !ok {
			continue
		}
		containers, err := os.ReadDir(filepath.Join(root, p.Name()))
		if err != nil {
			continue // pod removed meanwhile
		}
		for _, c := range containers {
			if !c.IsDir() {
				continue
			}
			b := labels.NewBuilder(labels.EmptyLabels())
			b.Set(MetaNamespace, pd.Namespace)
			b.Set(MetaPodName, pd.Pod)
			b.Set(MetaPodUID, pd.UID)
			b.Set(MetaContainerName, c.Name())
			if node != "" {
				b.Set(MetaNodeName, node)
			}
			// Without relabeling, tail every log of the container.
			b.Set(PathLabel, filepath.Join(root, p.Name(), c.Name(), "*.log"))
			out = append(out, b.Labels())
		}
	}
	return out, nil
}
