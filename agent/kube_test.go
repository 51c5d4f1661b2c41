package agent

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAgentUsesKubernetesAPILabels runs the Helm chart's kind of relabeling
// against a fake API server: the app label comes from the pod's labels,
// which only the API knows.
func TestAgentUsesKubernetesAPILabels(t *testing.T) {
	root := t.TempDir()
	dir := t.TempDir()
	rec := newRecorder(t)
	writeFile(t, filepath.Join(root, "shop_cart-7f9c_uid-42/cart/0.log"), "2026-11-22T05:00:00Z stdout F added item\n")
	writeFile(t, filepath.Join(root, "shop_other-1_uid-43/other/0.log"), "2026-11-22T05:00:00Z stdout F not on this node's API list\n")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") != "" {
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		fmt.Fprint(w, `{"metadata":{"resourceVersion":"5"},"items":[{"metadata":{"name":"cart-7f9c","namespace":"shop","uid":"uid-42",
"labels":{"app.kubernetes.io/name":"cart"}},"spec":{"nodeName":"node-1","containers":[{"name":"cart"}]},"status":{"phase":"Running"}}]}`)
	}))
	defer api.Close()
	scrape := fmt.Sprintf(`
- job_name: kubernetes-pods
  pipeline_stages: [{cri: {}}]
  kubernetes_sd_configs: [{role: pod, api_server: %q}]
  relabel_configs:
  - {source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name], target_label: app}
  - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
  - {source_labels: [__meta_kubernetes_pod_container_name], target_label: container}
  - {source_labels: [__meta_kubernetes_pod_uid, __meta_kubernetes_pod_container_name], separator: /, replacement: %s/*$1/*.log, target_label: __path__}
`, api.URL, root)
	_, stop := startAgent(t, fastConfig(dir, rec.srv.URL, scrape), nil)
	rec.waitLines(t, 1, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got := rec.snapshot()
	want := fmt.Sprintf(`{app="cart", container="cart", filename="%s/shop_cart-7f9c_uid-42/cart/0.log", namespace="shop", stream="stdout"}`, root)
	if len(got) != 1 || got[0].line != "added item" || got[0].labels != want {
		t.Fatalf("got %+v\nwant one entry with labels %s", got, want)
	}
}

// TestAgentRestartsTargetWhosePodLabelsChanged: a MODIFIED pod event
// changes the target's labels; the tailer restarts with them, resuming
// from its position, without losing or repeating lines.
func TestAgentRestartsTargetWhosePodLabelsChanged(t *testing.T) {
	root := t.TempDir()
	dir := t.TempDir()
	rec := newRecorder(t)
	logPath := filepath.Join(root, "shop_cart-1_uid-1/cart/0.log")
	writeFile(t, logPath, "before 1\nbefore 2\n")
	pod := func(version string) string {
		return fmt.Sprintf(`{"metadata":{"name":"cart-1","namespace":"shop","uid":"uid-1","resourceVersion":"%s","labels":{"version":%q}},
"spec":{"nodeName":"node-1","containers":[{"name":"cart"}]},"status":{"phase":"Running"}}`, version[1:], version)
	}
	modify := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") == "" {
			fmt.Fprintf(w, `{"metadata":{"resourceVersion":"1"},"items":[%s]}`, pod("v1"))
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-modify:
			fmt.Fprintf(w, `{"type":"MODIFIED","object":%s}`+"\n", pod("v2"))
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		}
		<-r.Context().Done()
	}))
	defer api.Close()
	scrape := fmt.Sprintf(`
- job_name: pods
  kubernetes_sd_configs: [{role: pod, api_server: %q}]
  relabel_configs:
  - {source_labels: [__meta_kubernetes_pod_label_version], target_label: version}
  - {source_labels: [__meta_kubernetes_pod_uid, __meta_kubernetes_pod_container_name], separator: /, replacement: %s/*$1/*.log, target_label: __path__}
`, api.URL, root)
	a, stop := startAgent(t, fastConfig(dir, rec.srv.URL, scrape), nil)
	rec.waitLines(t, 2, 10*time.Second)
	close(modify)
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.mu.Lock()
		v := ""
		for _, r := range a.running {
			v = r.labels.Get("version")
		}
		a.mu.Unlock()
		if v == "v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tailer not restarted with the new labels")
		}
		time.Sleep(10 * time.Millisecond)
	}
	writeFile(t, logPath, "after 1\n")
	rec.waitLines(t, 3, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rec.snapshot() {
		got = append(got, e.line+" "+e.labels[strings.Index(e.labels, "version="):])
	}
	want := []string{`before 1 version="v1"}`, `before 2 version="v1"}`, `after 1 version="v2"}`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}
