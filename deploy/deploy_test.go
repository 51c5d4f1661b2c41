package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/agent"
	"github.com/plgstack/plg/agent/discovery"
	"github.com/plgstack/plg/agent/discovery/kube"
	"github.com/plgstack/plg/push"
)

// agentConfigPath is the shipped agent configuration under test.
const agentConfigPath = "agent/plg-agent.yaml"

// node is the node the agent under test runs on.
const node = "node-1"

// pod is a pod of the test node as the API server describes it, with the
// directory the kubelet writes its logs to.
type pod struct {
	namespace, name, uid string
	labels, annotations  map[string]string
	containers, inits    []string
	nodeName             string
	// dirUID is the uid in /var/log/pods/<ns>_<pod>_<uid>: the pod's uid,
	// except for static pods (the config hash).
	dirUID string
}

func (p pod) dir() string { return p.namespace + "_" + p.name + "_" + p.dirUID }

// json renders p as the API server does (only the fields that matter here
// and a few that do not, as a real object has them).
func (p pod) json(rv string) string {
	containers := func(names []string) []map[string]string {
		out := []map[string]string{}
		for _, n := range names {
			out = append(out, map[string]string{"name": n, "image": "registry.example/" + n + ":1"})
		}
		return out
	}
	obj := map[string]any{
		"kind": "Pod", "apiVersion": "v1",
		"metadata": map[string]any{
			"name": p.name, "namespace": p.namespace, "uid": p.uid, "resourceVersion": rv,
			"labels": p.labels, "annotations": p.annotations,
			"creationTimestamp": "2026-11-22T05:00:00Z",
		},
		"spec": map[string]any{
			"nodeName": p.nodeName, "containers": containers(p.containers),
			"initContainers": containers(p.inits), "restartPolicy": "Always",
		},
		"status": map[string]any{
			"phase": "Running", "podIP": "10.1.0.7", "hostIP": "192.168.1.10",
			"conditions": []map[string]string{{"type": "Ready", "status": "True"}},
		},
	}
	b, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	return string(b)
}

var (
	// cart: a Deployment pod with the recommended label, a sidecar and an
	// init container.
	cartPod = pod{
		namespace: "shop", name: "cart-7f9c8d6b5-x2x4z", uid: "6e3f1a52-8d4c-4f1e-9b7a-0c2d5e8f1a01",
		labels:     map[string]string{"app.kubernetes.io/name": "cart", "app": "shop-cart", "pod-template-hash": "7f9c8d6b5"},
		containers: []string{"cart", "istio-proxy"}, inits: []string{"istio-init"},
		nodeName: node,
	}
	// legacy: only the older `app` label; its container is named otherwise.
	legacyPod = pod{
		namespace: "shop", name: "legacy-0", uid: "0b7d4c21-3a9e-4d5f-8c1b-2e6f7a8b9c02",
		labels:     map[string]string{"app": "legacy"},
		containers: []string{"web"}, nodeName: node,
	}
	// apiserver: a static pod; the API shows its mirror pod, whose uid is
	// not the log directory's.
	apiserverPod = pod{
		namespace: "kube-system", name: "kube-apiserver-" + node, uid: "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e003",
		labels: map[string]string{"component": "kube-apiserver", "tier": "control-plane"},
		annotations: map[string]string{
			"kubernetes.io/config.hash": "9a1b2c3d4e5f60718293a4b5c6d7e8f9", "kubernetes.io/config.mirror": "9a1b2c3d4e5f60718293a4b5c6d7e8f9",
			"kubernetes.io/config.source": "file",
		},
		containers: []string{"kube-apiserver"}, nodeName: node,
		dirUID: "9a1b2c3d4e5f60718293a4b5c6d7e8f9",
	}
	// debug: no labels at all.
	debugPod = pod{
		namespace: "default", name: "debug", uid: "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e04",
		containers: []string{"main"}, nodeName: node,
	}
	// elsewhere runs on another node: the API must not be asked for it.
	elsewherePod = pod{
		namespace: "shop", name: "cart-7f9c8d6b5-zzzzz", uid: "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b05",
		labels:     map[string]string{"app.kubernetes.io/name": "cart"},
		containers: []string{"cart"}, nodeName: "node-2",
	}
	// finished was deleted from the API; the kubelet has not yet removed
	// its logs.
	finishedPod = pod{
		namespace: "batch", name: "report-28861440-q7x2p", uid: "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c06",
		labels:     map[string]string{"app.kubernetes.io/name": "report"},
		containers: []string{"report"}, nodeName: node,
	}
	// late is created while the agent runs.
	latePod = pod{
		namespace: "shop", name: "checkout-5d6e7f8a9-b1c2d", uid: "7b8c9d0e-1f2a-4b3c-9d4e-5f6a7b8c9d07",
		labels:     map[string]string{"app.kubernetes.io/name": "checkout"},
		containers: []string{"checkout"}, nodeName: node,
	}
)

func init() {
	for _, p := range []*pod{&cartPod, &legacyPod, &apiserverPod, &debugPod, &elsewherePod, &finishedPod, &latePod} {
		if p.dirUID == "" {
			p.dirUID = p.uid
		}
	}
}

// writeLogs lays p's containers out under root as the kubelet does
// (<root>/pods/<ns>_<pod>_<uid>/<container>/0.log), one CRI line each
// naming its file, and returns the log paths.
func writeLogs(t testing.TB, root string, p pod) []string {
	t.Helper()
	var paths []string
	for _, c := range append(slices.Clone(p.inits), p.containers...) {
		path := filepath.Join(root, "pods", p.dir(), c, "0.log")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf("2026-11-22T06:00:00.000000001Z stdout F hello from %s/%s/%s\n", p.namespace, p.name, c)
		if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths
}

// fakeAPI answers the agent's pod list and watch as the API server does:
// only pods matching the field selector spec.nodeName=<node>, then a watch
// stream of the events sent on events.
type fakeAPI struct {
	mu       sync.Mutex
	pods     []pod
	selector []string // field selectors asked for
	events   chan string
	// forbid answers 403, as the API server does without RBAC.
	forbid atomic.Bool
}

func newFakeAPI(t *testing.T, pods ...pod) *httptest.Server {
	t.Helper()
	f := &fakeAPI{pods: pods, events: make(chan string, 16)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv
}

func apiOf(srv *httptest.Server) *fakeAPI { return srv.Config.Handler.(*fakeAPI) }

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/pods" {
		http.NotFound(w, r)
		return
	}
	sel := r.URL.Query().Get("fieldSelector")
	f.mu.Lock()
	f.selector = append(f.selector, sel)
	f.mu.Unlock()
	nodeName, ok := strings.CutPrefix(sel, "spec.nodeName=")
	if !ok {
		nodeName = "" // every node
	}
	w.Header().Set("Content-Type", "application/json")
	if f.forbid.Load() {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden: User \"system:serviceaccount:plg:plg-agent\" cannot list resource \"pods\" in API group \"\" at the cluster scope","reason":"Forbidden","details":{"kind":"pods"},"code":403}`)
		return
	}
	if r.URL.Query().Get("watch") == "" {
		var items []string
		f.mu.Lock()
		for _, p := range f.pods {
			if nodeName == "" || p.nodeName == nodeName {
				items = append(items, p.json("100"))
			}
		}
		f.mu.Unlock()
		fmt.Fprintf(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"100"},"items":[%s]}`, strings.Join(items, ","))
		return
	}
	w.(http.Flusher).Flush()
	for {
		select {
		case ev := <-f.events:
			fmt.Fprintln(w, ev)
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		}
	}
}

func (f *fakeAPI) send(typ string, p pod, rv string) {
	f.events <- fmt.Sprintf(`{"type":%q,"object":%s}`, typ, p.json(rv))
}

// env sets what the DaemonSet's environment would, pointing the log root,
// the positions file and the push URL at the test's.
func env(t *testing.T, root, pushURL string) {
	t.Setenv("PLG_LOG_ROOT", root)
	t.Setenv("PLG_POSITIONS_FILE", filepath.Join(t.TempDir(), "positions.yaml"))
	t.Setenv("PLG_PUSH_URL", pushURL)
	t.Setenv("NODE_NAME", node)
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a cluster: no in-cluster watch
}

// loadShipped loads deploy/agent/plg-agent.yaml as the binary does.
func loadShipped(t testing.TB) *agent.Config {
	t.Helper()
	raw, err := os.ReadFile(agentConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := agent.LoadConfig(agent.ExpandEnv(raw))
	if err != nil {
		t.Fatalf("%s: %v", agentConfigPath, err)
	}
	if len(cfg.ScrapeConfigs) != 1 || len(cfg.ScrapeConfigs[0].KubernetesSD) != 1 {
		t.Fatalf("%s: want one scrape config with one kubernetes_sd_config, got %+v", agentConfigPath, cfg.ScrapeConfigs)
	}
	return cfg
}

// want is a target's expected public labels.
func want(root string, p pod, container, app string) labels.Labels {
	path := filepath.Join(root, "pods", p.dir(), container, "0.log")
	return labels.FromStrings(
		"namespace", p.namespace, "pod", p.name, "container", container, "app", app,
		"node", node, "job", p.namespace+"/"+app, "filename", path,
	)
}

func strs(ls []labels.Labels) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.String())
	}
	slices.Sort(out)
	return out
}

func targetLabels(ts []discovery.Target) []string {
	var out []string
	for _, t := range ts {
		if got := t.Labels.Get("filename"); got != t.Path {
			out = append(out, fmt.Sprintf("filename %q != path %q", got, t.Path))
		}
		out = append(out, t.Labels.String())
	}
	slices.Sort(out)
	return out
}

func diff(got, want []string) string {
	var b strings.Builder
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "\n  unexpected %s", g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "\n  missing    %s", w)
		}
	}
	return b.String()
}

// withAPI is what the shipped config yields with API access: the app label
// from the pod's labels, static pods found by their config hash, deleted
// pods no longer tailed.
func withAPI(root string) []labels.Labels {
	return []labels.Labels{
		want(root, cartPod, "cart", "cart"),
		want(root, cartPod, "istio-proxy", "cart"),
		want(root, cartPod, "istio-init", "cart"),
		want(root, legacyPod, "web", "legacy"),
		want(root, apiserverPod, "kube-apiserver", "kube-apiserver"),
		want(root, debugPod, "main", "main"),
	}
}

// fromDisk is what it yields without API access: pod labels are unknown,
// so app is the container name; every pod directory on disk is tailed.
func fromDisk(root string) []labels.Labels {
	return []labels.Labels{
		want(root, cartPod, "cart", "cart"),
		want(root, cartPod, "istio-proxy", "istio-proxy"),
		want(root, cartPod, "istio-init", "istio-init"),
		want(root, legacyPod, "web", "web"),
		want(root, apiserverPod, "kube-apiserver", "kube-apiserver"),
		want(root, debugPod, "main", "main"),
		want(root, finishedPod, "report", "report"),
	}
}

func layout(t *testing.T) string {
	root := t.TempDir()
	for _, p := range []pod{cartPod, legacyPod, apiserverPod, debugPod, finishedPod} {
		writeLogs(t, root, p)
	}
	return root
}

func watch(t *testing.T, api *httptest.Server) *kube.Watcher {
	t.Helper()
	w, err := kube.New(kube.Config{APIServer: api.URL, NodeName: node, MinBackoff: 10 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(5 * time.Second)
	for !w.Synced() {
		if time.Now().After(deadline) {
			t.Fatal("pod list not synced")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return w
}

func TestShippedConfigLabelsPodsFromKubernetesAPI(t *testing.T) {
	root := layout(t)
	env(t, root, "http://127.0.0.1:1/loki/api/v1/push")
	cfg := loadShipped(t)
	api := newFakeAPI(t, cartPod, legacyPod, apiserverPod, debugPod, elsewherePod)
	w := watch(t, api)
	denv := discovery.Env{NodeName: node, Kube: func(*discovery.KubernetesSDConfig) ([]labels.Labels, bool) {
		return w.Targets(), w.Synced()
	}}
	sc := &cfg.ScrapeConfigs[0].Config

	targets, err := discovery.Discover(sc, denv)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(targetLabels(targets), strs(withAPI(root))); d != "" {
		t.Fatalf("targets from the API:%s", d)
	}
	apiOf(api).mu.Lock()
	sel := apiOf(api).selector[0]
	apiOf(api).mu.Unlock()
	if sel != "spec.nodeName="+node {
		t.Fatalf("pods listed with field selector %q, want spec.nodeName=%s", sel, node)
	}

	t.Run("pods appearing and disappearing are followed", func(t *testing.T) {
		writeLogs(t, root, latePod)
		apiOf(api).send("ADDED", latePod, "101")
		apiOf(api).send("DELETED", legacyPod, "102")
		wantNow := strs(append(slices.DeleteFunc(withAPI(root), func(l labels.Labels) bool {
			return l.Get("pod") == legacyPod.name
		}), want(root, latePod, "checkout", "checkout")))
		var d string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			targets, err := discovery.Discover(sc, denv)
			if err != nil {
				t.Fatal(err)
			}
			if d = diff(targetLabels(targets), wantNow); d == "" {
				return
			}
		}
		t.Fatalf("targets after ADDED and DELETED:%s", d)
	})
}

func TestShippedConfigLabelsPodsFromDiskWithoutAPI(t *testing.T) {
	root := layout(t)
	env(t, root, "http://127.0.0.1:1/loki/api/v1/push")
	cfg := loadShipped(t)
	targets, err := discovery.Discover(&cfg.ScrapeConfigs[0].Config, discovery.Env{NodeName: node})
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(targetLabels(targets), strs(fromDisk(root))); d != "" {
		t.Fatalf("targets from /var/log/pods:%s", d)
	}
}

// TestShippedConfigAgreesWithAndWithoutAPI: for a pod whose app label is
// its container's name, or that has none, the fallback yields exactly the
// labels the API does, so logs keep one stream when the API comes and goes.
func TestShippedConfigAgreesWithAndWithoutAPI(t *testing.T) {
	root := t.TempDir()
	same := pod{
		namespace: "web", name: "nginx-6d4cf56db6-ab12c", uid: "2f3e4d5c-6b7a-4898-a7b6-c5d4e3f2a108",
		labels:     map[string]string{"app": "nginx"},
		containers: []string{"nginx"}, nodeName: node,
	}
	same.dirUID = same.uid
	for _, p := range []pod{same, debugPod, apiserverPod} {
		writeLogs(t, root, p)
	}
	env(t, root, "http://127.0.0.1:1/loki/api/v1/push")
	cfg := loadShipped(t)
	w := watch(t, newFakeAPI(t, same, debugPod, apiserverPod))
	sc := &cfg.ScrapeConfigs[0].Config
	fromAPI, err := discovery.Discover(sc, discovery.Env{NodeName: node, Kube: func(*discovery.KubernetesSDConfig) ([]labels.Labels, bool) {
		return w.Targets(), true
	}})
	if err != nil {
		t.Fatal(err)
	}
	fromDisk, err := discovery.Discover(sc, discovery.Env{NodeName: node})
	if err != nil {
		t.Fatal(err)
	}
	if len(fromAPI) != 3 {
		t.Fatalf("want 3 targets from the API, got %v", targetLabels(fromAPI))
	}
	if d := diff(targetLabels(fromDisk), targetLabels(fromAPI)); d != "" {
		t.Fatalf("disk fallback differs from the API:%s", d)
	}
}

// recorder is an httptest ingester that records pushed entries in order.
type recorder struct {
	mu      sync.Mutex
	entries []pushedEntry
	srv     *httptest.Server
}

type pushedEntry struct{ line, labels string }

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/loki/api/v1/push" {
			http.NotFound(w, req)
			return
		}
		var pr push.Request
		if err := push.ReadHTTP(req, 0, &pr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, s := range pr.Streams {
			for _, e := range s.Entries {
				r.entries = append(r.entries, pushedEntry{line: string(e.Line), labels: s.Labels})
			}
		}
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) snapshot() []pushedEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.entries)
}

// wait waits for n entries (and a little longer, so that extra ones would
// show) and returns them by line; a line pushed twice is an error.
func (r *recorder) wait(t *testing.T, n int) map[string]string {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); len(r.snapshot()) < n && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	byLine := map[string]string{}
	for _, e := range r.snapshot() {
		if prev, dup := byLine[e.line]; dup {
			t.Errorf("line %q pushed twice, with %s and %s", e.line, prev, e.labels)
		}
		byLine[e.line] = e.labels
	}
	return byLine
}

// pushed is what the ingester receives for a target: the line its file
// holds and the target's labels plus the cri stage's stream.
func pushed(target labels.Labels) (line, lbls string) {
	dir, container := filepath.Split(filepath.Dir(target.Get("filename")))
	pd, _ := discovery.ParsePodDir(filepath.Base(dir))
	b := labels.NewBuilder(target)
	b.Set("stream", "stdout")
	return fmt.Sprintf("hello from %s/%s/%s", pd.Namespace, pd.Pod, container), b.Labels().String()
}

// startAgent runs the real agent with cfg; stop ends it and fails the
// test if Run failed.
func startAgent(t *testing.T, cfg *agent.Config) (a *agent.Agent, stop func()) {
	t.Helper()
	a, err := agent.New(cfg, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}

// runAgent runs the real agent with cfg until every expected line arrived
// and returns what the ingester received, line -> labels.
func runAgent(t *testing.T, cfg *agent.Config, rec *recorder, n int) map[string]string {
	t.Helper()
	a, stop := startAgent(t, cfg)
	got := rec.wait(t, n)
	if !a.Ready() {
		t.Error("agent not ready after shipping its targets' lines")
	}
	stop()
	return got
}

func checkPushed(t *testing.T, got map[string]string, targets []labels.Labels) {
	t.Helper()
	wantPushed := map[string]string{}
	for _, tg := range targets {
		line, l := pushed(tg)
		wantPushed[line] = l
	}
	for line, l := range wantPushed {
		if got[line] != l {
			t.Errorf("line %q: pushed with %s, want %s", line, got[line], l)
		}
	}
	for line, l := range got {
		if _, ok := wantPushed[line]; !ok {
			t.Errorf("unexpected line %q pushed with %s", line, l)
		}
	}
}

func TestShippedConfigEndToEndWithKubernetesAPI(t *testing.T) {
	root := layout(t)
	rec := newRecorder(t)
	env(t, root, rec.srv.URL+"/loki/api/v1/push")
	cfg := loadShipped(t)
	// In a cluster the agent finds the API itself (KUBERNETES_SERVICE_HOST,
	// the service account's token and CA); here it is told where it is.
	cfg.ScrapeConfigs[0].KubernetesSD[0].APIServer = newFakeAPI(t, cartPod, legacyPod, apiserverPod, debugPod, elsewherePod).URL
	targets := withAPI(root)
	checkPushed(t, runAgent(t, cfg, rec, len(targets)), targets)
}

func TestShippedConfigEndToEndWithoutAPI(t *testing.T) {
	root := layout(t)
	rec := newRecorder(t)
	env(t, root, rec.srv.URL+"/loki/api/v1/push")
	cfg := loadShipped(t)
	targets := fromDisk(root)
	checkPushed(t, runAgent(t, cfg, rec, len(targets)), targets)
}

func TestShippedConfigDefaults(t *testing.T) {
	for _, v := range []string{"PLG_LOG_ROOT", "PLG_POSITIONS_FILE", "PLG_PUSH_URL"} {
		t.Setenv(v, "")
	}
	cfg := loadShipped(t)
	tests := []struct{ what, got, want string }{
		{"push URL", cfg.Clients[0].URL, "http://plg-ingester:3100/loki/api/v1/push"},
		{"positions file", cfg.Positions.Filename, "/var/lib/plg/positions.yaml"},
		{"pod logs dir", cfg.ScrapeConfigs[0].KubernetesSD[0].PodLogsDir, "/var/log/pods"},
		{"role", cfg.ScrapeConfigs[0].KubernetesSD[0].Role, "pod"},
		{"api server", cfg.ScrapeConfigs[0].KubernetesSD[0].APIServer, ""}, // in-cluster
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.what, tc.got, tc.want)
		}
	}
	var paths []string
	for _, r := range cfg.ScrapeConfigs[0].Relabel {
		if r.TargetLabel == "__path__" {
			paths = append(paths, r.Replacement)
		}
	}
	if !slices.Equal(paths, []string{"/var/log/pods/$1/*.log"}) {
		t.Errorf("__path__ replacements %q, want the kubelet's /var/log/pods/<pod dir>/<container>/*.log", paths)
	}
}

// TestShippedConfigEndToEndMovesToAPILabelsWhenRBACArrives: while the API
// refuses the watch (no RBAC yet), the agent ships from disk with the
// fallback's labels; once it may list pods, a target whose app label
// differs restarts with the API's labels, and its lines continue in the new
// stream with none lost or repeated.
func TestShippedConfigEndToEndMovesToAPILabelsWhenRBACArrives(t *testing.T) {
	root := layout(t)
	rec := newRecorder(t)
	env(t, root, rec.srv.URL+"/loki/api/v1/push")
	cfg := loadShipped(t)
	cfg.TargetConfig.SyncPeriod = 100 * time.Millisecond
	api := newFakeAPI(t, cartPod, legacyPod, apiserverPod, debugPod)
	apiOf(api).forbid.Store(true)
	cfg.ScrapeConfigs[0].KubernetesSD[0].APIServer = api.URL
	defer func(d time.Duration) { agent.KubeSyncWait = d }(agent.KubeSyncWait)
	agent.KubeSyncWait = 100 * time.Millisecond

	_, stop := startAgent(t, cfg)
	targets := fromDisk(root)
	checkPushed(t, rec.wait(t, len(targets)), targets)

	apiOf(api).forbid.Store(false)
	sidecar := want(root, cartPod, "istio-proxy", "cart").Get("filename")
	stream := func(app string) string {
		b := labels.NewBuilder(want(root, cartPod, "istio-proxy", app))
		b.Set("stream", "stdout")
		return b.Labels().String()
	}
	before, after := stream("istio-proxy"), stream("cart")
	f, err := os.OpenFile(sidecar, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	probes := 0
	probe := func() {
		probes++
		if _, err := fmt.Fprintf(f, "2026-11-22T06:00:01Z stdout F probe %d\n", probes); err != nil {
			t.Fatal(err)
		}
	}
	switched := func() bool {
		for _, e := range rec.snapshot() {
			if strings.HasPrefix(e.line, "probe ") && e.labels == after {
				return true
			}
		}
		return false
	}
	// The watcher retries a forbidden list with backoff doubling up to 30 s
	// (kube.Config.MaxBackoff's default), and on a loaded machine the phase
	// above can last long enough to reach it: allow that, plus slack.
	for deadline := time.Now().Add(45 * time.Second); !switched(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no probe line arrived with the API's labels %s after %d probes", after, probes)
		}
		probe()
	}
	for range 3 {
		probe()
	}
	got := rec.wait(t, len(targets)+probes)
	stop()

	var seq []string
	for _, e := range rec.snapshot() {
		if strings.HasPrefix(e.line, "probe ") {
			seq = append(seq, e.labels)
		}
	}
	for i := 1; i <= probes; i++ {
		if l, ok := got[fmt.Sprintf("probe %d", i)]; !ok || (l != before && l != after) {
			t.Errorf("probe %d: pushed %v with %s, want once with %s or %s", i, ok, l, before, after)
		}
	}
	if first := slices.Index(seq, after); first < 0 || slices.Contains(seq[first:], before) {
		t.Errorf("labels did not switch once from the fallback's to the API's: %q", seq)
	}
}
