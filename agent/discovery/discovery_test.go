package discovery

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func touch(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"/var/log/*.log", "/var/log/syslog.log", true},
		{"/var/log/*.log", "/var/log/a/b.log", false},
		{"/var/log/**/*.log", "/var/log/b.log", true},
		{"/var/log/**/*.log", "/var/log/a/b/c.log", true},
		{"/var/log/**", "/var/log/a/b/c", true},
		{"/var/log/**/x/*.log", "/var/log/a/x/1.log", true},
		{"/var/log/**/x/*.log", "/var/log/a/y/1.log", false},
		{"/var/log/pods/*uid1/c/*.log", "/var/log/pods/ns_p_uid1/c/0.log", true},
		{"/var/log/[ab].log", "/var/log/c.log", false},
		{"/var/log/[.log", "/var/log/[.log", false}, // malformed pattern matches nothing
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.name, func(t *testing.T) {
			if got := Match(tc.pattern, tc.name); got != tc.want {
				t.Fatalf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGlobDoublestarFindsNestedFilesOnly(t *testing.T) {
	dir := t.TempDir()
	touch(t, filepath.Join(dir, "a.log"), filepath.Join(dir, "x/b.log"), filepath.Join(dir, "x/y/c.log"), filepath.Join(dir, "x/y/c.txt"))
	if err := os.MkdirAll(filepath.Join(dir, "d.log"), 0o755); err != nil { // a directory named like a log
		t.Fatal(err)
	}
	got, err := Glob(filepath.Join(dir, "**/*.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.log"), filepath.Join(dir, "x/b.log"), filepath.Join(dir, "x/y/c.log")}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := Glob(filepath.Join(dir, "[/**/*.log")); err == nil {
		t.Fatal("malformed pattern: want error")
	}
}

func TestParsePodDir(t *testing.T) {
	tests := []struct {
		in   string
		want PodDir
		ok   bool
	}{
		{"default_api-7d9f_0a1b-2c3d", PodDir{"default", "api-7d9f", "0a1b-2c3d"}, true},
		{"kube-system_etcd-node1_abc123", PodDir{"kube-system", "etcd-node1", "abc123"}, true},
		{"noseparators", PodDir{}, false},
		{"ns_pod", PodDir{}, false},
		{"_pod_uid", PodDir{}, false},
	}
	for _, tc := range tests {
		got, ok := ParsePodDir(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParsePodDir(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func parseConfig(t *testing.T, s string) *Config {
	t.Helper()
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(s))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestDiscoverStatic(t *testing.T) {
	dir := t.TempDir()
	touch(t, filepath.Join(dir, "app.log"), filepath.Join(dir, "debug.log"), filepath.Join(dir, "sub/x.log"))
	tests := []struct {
		name string
		cfg  string
		want []string // "path labels"
	}{
		{
			name: "labels, filename, and __ labels dropped",
			cfg: `
job_name: varlogs
static_configs:
- targets: [localhost]
  labels: {job: varlogs, __path__: "DIR/*.log", __secret__: x}`,
			want: []string{
				`DIR/app.log {filename="DIR/app.log", job="varlogs"}`,
				`DIR/debug.log {filename="DIR/debug.log", job="varlogs"}`,
			},
		},
		{
			name: "path exclude",
			cfg: `
job_name: j
static_configs:
- labels: {__path__: "DIR/**/*.log", __path_exclude__: "DIR/debug.log"}`,
			want: []string{`DIR/app.log {filename="DIR/app.log"}`, `DIR/sub/x.log {filename="DIR/sub/x.log"}`},
		},
		{
			name: "relabel drop, replace, labelmap, labeldrop, hashmod",
			cfg: `
job_name: j
static_configs:
- labels: {__path__: "DIR/*.log", env: prod, __meta_team: core}
- labels: {__path__: "DIR/sub/*.log", env: dev}
relabel_configs:
- {source_labels: [env], regex: dev, action: drop}
- {source_labels: [env], target_label: environment, replacement: "env-$1"}
- {regex: __meta_(.*), action: labelmap}
- {regex: env, action: labeldrop}
- {source_labels: [team], modulus: 4, target_label: shard, action: hashmod}`,
			want: []string{
				`DIR/app.log {environment="env-prod", filename="DIR/app.log", shard="SHARD", team="core"}`,
				`DIR/debug.log {environment="env-prod", filename="DIR/debug.log", shard="SHARD", team="core"}`,
			},
		},
		{
			name: "relabel keep",
			cfg: `
job_name: j
static_configs:
- labels: {__path__: "DIR/*.log", app: a}
- labels: {__path__: "DIR/sub/*.log", app: b}
relabel_configs:
- {source_labels: [app], regex: b, action: keep}`,
			want: []string{`DIR/sub/x.log {app="b", filename="DIR/sub/x.log"}`},
		},
		{
			name: "other host is skipped",
			cfg: `
job_name: j
static_configs:
- labels: {__path__: "DIR/*.log", __host__: other-node}`,
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := parseConfig(t, strings.ReplaceAll(tc.cfg, "DIR", dir))
			got, err := Discover(c, Env{NodeName: "this-node"})
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, tg := range got {
				s := tg.Path + " " + tg.Labels.String()
				if sh := tg.Labels.Get("shard"); sh != "" {
					s = strings.Replace(s, `shard="`+sh+`"`, `shard="SHARD"`, 1)
				}
				lines = append(lines, strings.ReplaceAll(s, dir, "DIR"))
			}
			if strings.Join(lines, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestDiscoverPodsWithoutAPIServer(t *testing.T) {
	root := t.TempDir()
	touch(t,
		filepath.Join(root, "default_api-5c7d_uid-1/api/0.log"),
		filepath.Join(root, "default_api-5c7d_uid-1/api/1.log"),
		filepath.Join(root, "default_api-5c7d_uid-1/istio-proxy/0.log"),
		filepath.Join(root, "kube-system_coredns-1_uid-2/coredns/0.log"),
		filepath.Join(root, "not-a-pod-dir/x/0.log"),
	)
	// The Promtail Helm chart's relabeling, with the pods directory moved.
	cfg := `
job_name: kubernetes-pods
kubernetes_sd_configs:
- role: pod
  pod_logs_dir: ROOT
  namespaces: {names: [default]}
relabel_configs:
- {source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name, __meta_kubernetes_pod_label_app, __meta_kubernetes_pod_name], regex: '^;*([^;]+)(;.*)?$', action: replace, target_label: app}
- {action: replace, source_labels: [__meta_kubernetes_pod_node_name], target_label: node_name}
- {action: replace, source_labels: [__meta_kubernetes_namespace], target_label: namespace}
- {action: replace, replacement: $1, separator: /, source_labels: [namespace, app], target_label: job}
- {action: replace, source_labels: [__meta_kubernetes_pod_name], target_label: pod}
- {action: replace, source_labels: [__meta_kubernetes_pod_container_name], target_label: container}
- {action: drop, source_labels: [container], regex: istio-proxy}
- {action: replace, replacement: ROOT/*$1/*.log, separator: /, source_labels: [__meta_kubernetes_pod_uid, __meta_kubernetes_pod_container_name], target_label: __path__}
`
	c := parseConfig(t, strings.ReplaceAll(cfg, "ROOT", root))
	got, err := Discover(c, Env{NodeName: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`ROOT/default_api-5c7d_uid-1/api/0.log {app="api-5c7d", container="api", filename="ROOT/default_api-5c7d_uid-1/api/0.log", job="default/api-5c7d", namespace="default", node_name="node-1", pod="api-5c7d"}`,
		`ROOT/default_api-5c7d_uid-1/api/1.log {app="api-5c7d", container="api", filename="ROOT/default_api-5c7d_uid-1/api/1.log", job="default/api-5c7d", namespace="default", node_name="node-1", pod="api-5c7d"}`,
	}
	var lines []string
	for _, tg := range got {
		lines = append(lines, strings.ReplaceAll(tg.Path+" "+tg.Labels.String(), root, "ROOT"))
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidateRejectsBadRules(t *testing.T) {
	tests := []struct{ name, cfg, want string }{
		{"hashmod without modulus", "relabel_configs: [{action: hashmod, source_labels: [a], target_label: b}]", "relabel_configs[0]"},
		{"unsupported role", "kubernetes_sd_configs: [{role: node}]", "role"},
		{"kubeconfig unsupported", "kubernetes_sd_configs: [{role: pod, kubeconfig_file: /k}]", "kubeconfig_file"},
		{"selectors unsupported", "kubernetes_sd_configs: [{role: pod, selectors: [{role: pod, label: a=b}]}]", "selectors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			if err := yaml.Unmarshal([]byte(tc.cfg), &c); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("/var/log/**/*.log", "/var/log/a/b.log")
	f.Add("**/**/x", "x")
	f.Add("[", "a")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 200 || strings.Count(pattern, "**") > 6 {
			return // keep the exponential worst case out of the fuzzer
		}
		Match(pattern, name)
		// A pattern without metacharacters matches exactly itself.
		if !hasMeta(pattern) && !strings.Contains(pattern, "**") && pattern != "" && !Match(pattern, pattern) {
			t.Fatalf("literal %q does not match itself", pattern)
		}
	})
}
