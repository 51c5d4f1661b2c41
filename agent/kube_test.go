package agent

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
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
	got := rec.waitLines(t, 1, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	got = rec.snapshot()
	want := fmt.Sprintf(`{app="cart", container="cart", filename="%s/shop_cart-7f9c_uid-42/cart/0.log", namespace="shop", stream="stdout"}`, root)
	if len(got) != 1 || got[0].line != "added item" || got[0].labels != want {
		t.Fatalf("got %+v\nwant one entry with labels %s", got, want)
	}
}
