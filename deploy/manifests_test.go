package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The subset of Kubernetes objects the manifests are checked on.
type (
	object struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   metadata          `yaml:"metadata"`
		Spec       spec              `yaml:"spec"`
		Data       map[string]string `yaml:"data"`
		Rules      []struct {
			APIGroups []string `yaml:"apiGroups"`
			Resources []string `yaml:"resources"`
			Verbs     []string `yaml:"verbs"`
		} `yaml:"rules"`
		RoleRef struct {
			Kind, Name string
		} `yaml:"roleRef"`
		Subjects []struct {
			Kind, Name, Namespace string
		} `yaml:"subjects"`
		file string
	}
	metadata struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	}
	spec struct {
		// Service
		Type      string        `yaml:"type"`
		ClusterIP string        `yaml:"clusterIP"`
		Selector  yaml.Node     `yaml:"selector"` // Service: a map; workloads: matchLabels
		Ports     []servicePort `yaml:"ports"`
		Template  podTemplate   `yaml:"template"`
		Service   string        `yaml:"serviceName"`
		Replicas  *int          `yaml:"replicas"`
		Claims    []pvcTemplate `yaml:"volumeClaimTemplates"`
	}
	servicePort struct {
		Name       string `yaml:"name"`
		Port       int    `yaml:"port"`
		TargetPort string `yaml:"targetPort"`
		NodePort   int    `yaml:"nodePort"`
	}
	pvcTemplate struct {
		Metadata metadata `yaml:"metadata"`
	}
	podTemplate struct {
		Metadata metadata `yaml:"metadata"`
		Spec     struct {
			ServiceAccountName string      `yaml:"serviceAccountName"`
			Containers         []container `yaml:"containers"`
			Volumes            []struct {
				Name      string `yaml:"name"`
				ConfigMap *struct {
					Name string `yaml:"name"`
				} `yaml:"configMap"`
				HostPath *struct {
					Path string `yaml:"path"`
				} `yaml:"hostPath"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	}
	container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Args  []string `yaml:"args"`
		Env   []struct {
			Name      string `yaml:"name"`
			ValueFrom *struct {
				FieldRef struct {
					FieldPath string `yaml:"fieldPath"`
				} `yaml:"fieldRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe *struct {
			HTTPGet struct {
				Path string `yaml:"path"`
				Port string `yaml:"port"`
			} `yaml:"httpGet"`
		} `yaml:"readinessProbe"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
)

// loadManifests decodes every YAML document under kubernetes/.
func loadManifests(t *testing.T) map[string]*object {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in kubernetes/: %v", err)
	}
	objs := map[string]*object{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var o object
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if o.Kind == "" || o.APIVersion == "" || o.Metadata.Name == "" {
				t.Fatalf("%s document %d: kind, apiVersion and metadata.name are required", f, i)
			}
			o.file = f
			key := o.Kind + "/" + o.Metadata.Name
			if _, dup := objs[key]; dup {
				t.Fatalf("%s: %s defined twice", f, key)
			}
			objs[key] = &o
		}
	}
	return objs
}

func get(t *testing.T, objs map[string]*object, key string) *object {
	t.Helper()
	o, ok := objs[key]
	if !ok {
		t.Fatalf("no %s in kubernetes/", key)
	}
	return o
}

func selectorOf(t *testing.T, o *object) map[string]string {
	t.Helper()
	var sel map[string]string
	if o.Kind == "Service" {
		if err := o.Spec.Selector.Decode(&sel); err != nil {
			t.Fatalf("%s: selector: %v", o.Metadata.Name, err)
		}
		return sel
	}
	var ls struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	if err := o.Spec.Selector.Decode(&ls); err != nil {
		t.Fatalf("%s %s: selector: %v", o.Kind, o.Metadata.Name, err)
	}
	return ls.MatchLabels
}

// selects reports whether every selector label is on the pod.
func selects(sel, podLabels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if podLabels[k] != v {
			return false
		}
	}
	return true
}

func TestManifestsDecodeWithKnownKindsInOneNamespace(t *testing.T) {
	objs := loadManifests(t)
	want := []string{
		"Namespace/plg", "ServiceAccount/plg-agent", "ClusterRole/plg-agent", "ClusterRoleBinding/plg-agent",
		"ConfigMap/plg-agent", "DaemonSet/plg-agent", "StatefulSet/plg", "Service/plg-ingester", "Service/plg",
	}
	var got []string
	for k, o := range objs {
		got = append(got, k)
		clusterScoped := o.Kind == "Namespace" || o.Kind == "ClusterRole" || o.Kind == "ClusterRoleBinding"
		if !clusterScoped && o.Metadata.Namespace != "plg" {
			t.Errorf("%s (%s): namespace %q, want plg", k, o.file, o.Metadata.Namespace)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("objects %q, want %q", got, want)
	}
	// kubectl apply -f kubernetes/ reads files in name order: the namespace
	// must come first.
	if f := objs["Namespace/plg"].file; filepath.Base(f) != "00-namespace.yaml" {
		t.Errorf("namespace in %s, want the first file", f)
	}
}

func TestManifestConfigMapHoldsTheShippedAgentConfig(t *testing.T) {
	objs := loadManifests(t)
	want, err := os.ReadFile(agentConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	got := get(t, objs, "ConfigMap/plg-agent").Data["plg-agent.yaml"]
	if got != string(want) {
		t.Fatalf("ConfigMap plg-agent's plg-agent.yaml differs from %s; regenerate it:\n"+
			"  sed 's/^\\(.\\)/    \\1/' deploy/agent/plg-agent.yaml  (under data: plg-agent.yaml: |)", agentConfigPath)
	}
}

func TestManifestAgentDaemonSetRunsTheConfigWithItsMountsAndRBAC(t *testing.T) {
	objs := loadManifests(t)
	ds := get(t, objs, "DaemonSet/plg-agent")
	pod := ds.Spec.Template
	if !selects(selectorOf(t, ds), pod.Metadata.Labels) {
		t.Errorf("DaemonSet selector %v does not select its pods %v", selectorOf(t, ds), pod.Metadata.Labels)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("want one agent container, got %d", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]

	// Flags: agent mode, the ConfigMap's file, positions on the hostPath,
	// HTTP reachable by the kubelet's probe.
	mounts := map[string]string{}
	readOnly := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
		readOnly[m.Name] = m.ReadOnly
	}
	volumes := map[string]string{} // name -> configmap name or host path
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			volumes[v.Name] = "configmap:" + v.ConfigMap.Name
		case v.HostPath != nil:
			volumes[v.Name] = "host:" + v.HostPath.Path
		}
	}
	flag := func(name string) string {
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
				return v
			}
		}
		return ""
	}
	if flag("mode") != "agent" {
		t.Errorf("args %q: want -mode=agent", c.Args)
	}
	cfgFile := flag("config.file")
	mountFor := func(path string) (string, bool) {
		for name, dir := range mounts {
			if strings.HasPrefix(path, dir+"/") || path == dir {
				return name, true
			}
		}
		return "", false
	}
	if name, ok := mountFor(cfgFile); !ok || volumes[name] != "configmap:plg-agent" || filepath.Base(cfgFile) != "plg-agent.yaml" {
		t.Errorf("-config.file=%s is not plg-agent.yaml of the plg-agent ConfigMap (mounts %v, volumes %v)", cfgFile, mounts, volumes)
	}
	tests := []struct {
		volume, hostPath, mountPath string
		readOnly                    bool
	}{
		{"pods", "/var/log/pods", "/var/log/pods", true},
		{"docker", "/var/lib/docker/containers", "/var/lib/docker/containers", true},
		{"positions", "/var/lib/plg", "/var/lib/plg", false},
	}
	for _, tc := range tests {
		if volumes[tc.volume] != "host:"+tc.hostPath || mounts[tc.volume] != tc.mountPath || readOnly[tc.volume] != tc.readOnly {
			t.Errorf("volume %s: hostPath %q mounted at %q read-only %v, want %s at %s read-only %v",
				tc.volume, volumes[tc.volume], mounts[tc.volume], readOnly[tc.volume], tc.hostPath, tc.mountPath, tc.readOnly)
		}
	}
	// The shipped config's defaults point into these mounts.
	if flag("data.dir") != "/var/lib/plg" {
		t.Errorf("-data.dir=%q, want the positions hostPath /var/lib/plg", flag("data.dir"))
	}

	nodeName := false
	for _, e := range c.Env {
		if e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName" {
			nodeName = true
		}
	}
	if !nodeName {
		t.Error("NODE_NAME is not set from the downward API (spec.nodeName)")
	}

	probe := c.ReadinessProbe
	if probe == nil || probe.HTTPGet.Path != "/ready" {
		t.Fatalf("readiness probe %+v, want GET /ready", probe)
	}
	port := 0
	for _, p := range c.Ports {
		if p.Name == probe.HTTPGet.Port {
			port = p.ContainerPort
		}
	}
	if port == 0 || !strings.HasPrefix(flag("http.addr"), "0.0.0.0:") || !strings.HasSuffix(flag("http.addr"), ":"+strconv.Itoa(port)) {
		t.Errorf("readiness probe port %q (%d) is not where -http.addr=%s listens on all interfaces", probe.HTTPGet.Port, port, flag("http.addr"))
	}

	// RBAC: the pod's service account may get, list and watch pods.
	sa := pod.Spec.ServiceAccountName
	get(t, objs, "ServiceAccount/"+sa)
	crb := get(t, objs, "ClusterRoleBinding/plg-agent")
	if crb.RoleRef.Kind != "ClusterRole" || len(crb.Subjects) != 1 ||
		crb.Subjects[0].Kind != "ServiceAccount" || crb.Subjects[0].Name != sa || crb.Subjects[0].Namespace != ds.Metadata.Namespace {
		t.Fatalf("ClusterRoleBinding %+v does not bind %s/%s", crb, ds.Metadata.Namespace, sa)
	}
	role := get(t, objs, "ClusterRole/"+crb.RoleRef.Name)
	var verbs []string
	for _, r := range role.Rules {
		if slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, "pods") {
			verbs = append(verbs, r.Verbs...)
		}
	}
	for _, v := range []string{"get", "list", "watch"} {
		if !slices.Contains(verbs, v) {
			t.Errorf("ClusterRole %s lacks %s on pods (has %q)", role.Metadata.Name, v, verbs)
		}
	}
}

func TestManifestServicesReachThePlgStatefulSet(t *testing.T) {
	objs := loadManifests(t)
	sts := get(t, objs, "StatefulSet/plg")
	pod := sts.Spec.Template
	if !selects(selectorOf(t, sts), pod.Metadata.Labels) {
		t.Errorf("StatefulSet selector %v does not select its pods %v", selectorOf(t, sts), pod.Metadata.Labels)
	}
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 1 {
		t.Errorf("StatefulSet replicas %v, want 1 (all-in-one)", sts.Spec.Replicas)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("want one plg container, got %d", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if !slices.Contains(c.Args, "-mode=all") {
		t.Errorf("args %q: want -mode=all", c.Args)
	}
	// A bounded volume needs bounded data: retention is set.
	if i := slices.IndexFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "-limits.retention-period=") }); i < 0 {
		t.Errorf("args %q: want -limits.retention-period, or the volume fills up", c.Args)
	} else if d, err := time.ParseDuration(strings.TrimPrefix(c.Args[i], "-limits.retention-period=")); err != nil || d <= 0 {
		t.Errorf("%s: want a positive duration (%v)", c.Args[i], err)
	}
	// The data dir is on the claim.
	if len(sts.Spec.Claims) != 1 {
		t.Fatalf("want one volumeClaimTemplate, got %d", len(sts.Spec.Claims))
	}
	dataMount := ""
	for _, m := range c.VolumeMounts {
		if m.Name == sts.Spec.Claims[0].Metadata.Name {
			dataMount = m.MountPath
		}
	}
	if dataMount == "" || !slices.Contains(c.Args, "-data.dir="+dataMount) {
		t.Errorf("-data.dir is not the claim's mount %q (args %q)", dataMount, c.Args)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if !slices.Contains(c.Args, "-http.addr=0.0.0.0:"+strconv.Itoa(ports["http"])) {
		t.Errorf("container port http %d is not -http.addr (args %q)", ports["http"], c.Args)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/ready" || ports[c.ReadinessProbe.HTTPGet.Port] == 0 {
		t.Errorf("readiness probe %+v, want GET /ready on a container port", c.ReadinessProbe)
	}

	tests := []struct {
		service  string
		typ      string
		headless bool
		port     int
		nodePort int
	}{
		// The agents' default push URL, http://plg-ingester:3100/...; also
		// the StatefulSet's governing Service.
		{"plg-ingester", "", true, 3100, 0},
		// UI and API from outside the cluster.
		{"plg", "NodePort", false, 3100, 30000},
	}
	for _, tc := range tests {
		svc := get(t, objs, "Service/"+tc.service)
		if !selects(selectorOf(t, svc), pod.Metadata.Labels) {
			t.Errorf("Service %s selector %v does not select the plg pods %v", tc.service, selectorOf(t, svc), pod.Metadata.Labels)
		}
		if svc.Spec.Type != tc.typ || (svc.Spec.ClusterIP == "None") != tc.headless {
			t.Errorf("Service %s: type %q clusterIP %q, want type %q headless %v", tc.service, svc.Spec.Type, svc.Spec.ClusterIP, tc.typ, tc.headless)
		}
		if len(svc.Spec.Ports) != 1 {
			t.Fatalf("Service %s: want one port, got %d", tc.service, len(svc.Spec.Ports))
		}
		p := svc.Spec.Ports[0]
		if p.Port != tc.port || p.NodePort != tc.nodePort || ports[p.TargetPort] != ports["http"] || ports["http"] == 0 {
			t.Errorf("Service %s port %+v, want port %d nodePort %d to the container's http port", tc.service, p, tc.port, tc.nodePort)
		}
	}
	if sts.Spec.Service != "plg-ingester" {
		t.Errorf("StatefulSet serviceName %q, want the headless plg-ingester", sts.Spec.Service)
	}
	if u := "http://plg-ingester:3100/loki/api/v1/push"; !strings.Contains(get(t, objs, "ConfigMap/plg-agent").Data["plg-agent.yaml"], u) {
		t.Errorf("agent config's default push URL is not %s", u)
	}
}
