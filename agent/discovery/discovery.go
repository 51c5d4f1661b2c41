package discovery

import (
	"fmt"
	"os"

	"sort"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"gopkg.in/yaml.v3"
)

// Label names with special meaning.
const (
	PathLabel        = "__path__"
	PathExcludeLabel = "__path_exclude__"
	HostLabel        = "__host__"
	AddressLabel     = "__address__"
	FilenameLabel    = "filename"
)

// StaticConfig is one static_configs entry.
type StaticConfig struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels"`
}

// KubernetesSDConfig is one kubernetes_sd_configs entry. Only role pod is
// supported, served from the node's /var/log/pods tree (see package doc).
type KubernetesSDConfig struct {
	Role       string `yaml:"role"`
	APIServer  string `yaml:"api_server"`
	Namespaces *struct {
		Names          []string `yaml:"names"`
		OwnNamespace   bool     `yaml:"own_namespace"`
		IncludeOwnName bool     `yaml:"include_own_namespace"`
	} `yaml:"namespaces"`
	Selectors       []yaml.Node `yaml:"selectors"`
	KubeconfigFile  string      `yaml:"kubeconfig_file"`
	FollowRedirects *bool       `yaml:"follow_redirects"`
	EnableHTTP2     *bool       `yaml:"enable_http2"`
	BearerTokenFile string      `yaml:"bearer_token_file"`
	TLSConfig       struct {
		CAFile             string `yaml:"ca_file"`
		InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	} `yaml:"tls_config"`
	// PodLogsDir is plg's: where pod logs are (default /var/log/pods).
	PodLogsDir string `yaml:"pod_logs_dir"`
}

// Config is the discovery part of one scrape config.
type Config struct {
	JobName       string               `yaml:"job_name"`
	StaticConfigs []StaticConfig       `yaml:"static_configs"`
	KubernetesSD  []KubernetesSDConfig `yaml:"kubernetes_sd_configs"`
	Relabel       []*relabel.Config    `yaml:"relabel_configs"`
}

// Validate checks relabel rules and SD roles.
func (c *Config) Validate() error {
	for i, r := range c.Relabel {
		if err := r.Validate(model.UTF8Validation); err != nil {
			return fmt.Errorf("relabel_configs[%d]: %w", i, err)
		}
	}
	for i, k := range c.KubernetesSD {
		if k.Role != "pod" {
			return fmt.Errorf("kubernetes_sd_configs[%d].role: %q is not supported (only pod)", i, k.Role)
		}
		if k.KubeconfigFile != "" {
			return fmt.Errorf("kubernetes_sd_configs[%d].kubeconfig_file: not supported (use api_server, bearer_token_file, tls_config)", i)
		}
		if len(k.Selectors) > 0 {
			return fmt.Errorf("kubernetes_sd_configs[%d].selectors: not supported (use relabel_configs keep/drop)", i)
		}
	}
	for i, s := range c.StaticConfigs {
		for name := range s.Labels {
			if !model.UTF8Validation.IsValidLabelName(name) {
				return fmt.Errorf("static_configs[%d].labels: invalid label name %q", i, name)
			}
		}
	}
	return nil
}

// Target is one file to tail with its final labels.
type Target struct {
	Job    string
	Path   string
	Labels labels.Labels // public labels only, with filename
}

// Env is what discovery needs from the host.
type Env struct {
	// NodeName is this node (the DaemonSet's spec.nodeName via NODE_NAME,
	// else the hostname). Pods of other nodes are not tailed.
	NodeName string
	// Kube, when set, returns the pod targets an API watch knows for sd;
	// ok false (no API, or not synced yet) falls back to the pod log
	// directories on disk.
	Kube func(sd *KubernetesSDConfig) (targets []labels.Labels, ok bool)
}

// DefaultEnv reads NODE_NAME / HOSTNAME.
func DefaultEnv() Env {
	n := os.Getenv("NODE_NAME")
	if n == "" {
		n = os.Getenv("HOSTNAME")
	}
	if n == "" {
		n, _ = os.Hostname()
	}
	return Env{NodeName: n}
}

// Discover runs one sync of c: candidate label sets, relabeling, glob
// expansion. Targets are sorted by path; a path found twice in one job is
// kept once.
func Discover(c *Config, env Env) ([]Target, error) {
	var cands []labels.Labels
	for _, sc := range c.StaticConfigs {
		targets := sc.Targets
		if len(targets) == 0 {
			targets = []string{""}
		}
		for _, t := range targets {
			b := labels.NewBuilder(labels.FromMap(sc.Labels))
			if t != "" {
				b.Set(AddressLabel, t)
			}
			cands = append(cands, b.Labels())
		}
	}
	for i := range c.KubernetesSD {
		k := &c.KubernetesSD[i]
		var pods []labels.Labels
		fromAPI := false
		if env.Kube != nil {
			pods, fromAPI = env.Kube(k)
		}
		if !fromAPI {
			dir := k.PodLogsDir
			if dir == "" {
				dir = DefaultPodLogsDir
			}
			var err error
			if pods, err = PodLogTargets(dir, env.NodeName); err != nil {
				return nil, err
			}
		}
		for _, p := range pods {
			if k.Namespaces != nil && len(k.Namespaces.Names) > 0 && !contains(k.Namespaces.Names, p.Get(MetaNamespace)) {
				continue
			}
			cands = append(cands, p)
		}
	}

	seen := map[string]bool{}
	var out []Target
	b := labels.NewBuilder(labels.EmptyLabels())
	for _, l := range cands {
		b.Reset(l)
		if !relabel.ProcessBuilder(b, c.Relabel...) {
			continue
		}
		if h := b.Get(HostLabel); h != "" && env.NodeName != "" && h != env.NodeName {
			continue
		}
		pattern := b.Get(PathLabel)
		if pattern == "" {
			continue
		}
		exclude := b.Get(PathExcludeLabel)
		files, err := Glob(pattern)
		if err != nil {
			return nil, fmt.Errorf("job %s: %s %q: %w", c.JobName, PathLabel, pattern, err)
		}
		public := publicLabels(b)
		for _, f := range files {
			if exclude != "" && Match(exclude, f) {
				continue
			}
			if seen[f] {
				continue
			}
			seen[f] = true
			fb := labels.NewBuilder(public)
			fb.Set(FilenameLabel, f)
			out = append(out, Target{Job: c.JobName, Path: f, Labels: fb.Labels()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// publicLabels returns b's labels without `__`-prefixed ones and without
// empty "job" placeholders.
func publicLabels(b *labels.Builder) labels.Labels {
	var keep []labels.Label
	b.Range(func(l labels.Label) {
		if strings.HasPrefix(l.Name, "__") || l.Value == "" {
			return
		}
		keep = append(keep, l)
	})
	return labels.New(keep...)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
