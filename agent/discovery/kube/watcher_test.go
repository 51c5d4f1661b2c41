package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func podJSON(name, uid, rv string, lbls string) string {
	return fmt.Sprintf(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":%q,"namespace":"default","uid":%q,"resourceVersion":%q,
"labels":{%s},"annotations":{"kubernetes.io/config.seen":"2026-11-22T05:00:00Z"},
"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"api-5c7d","uid":"x","controller":true}]},
"spec":{"nodeName":"node-1","initContainers":[{"name":"init","image":"busybox"}],"containers":[{"name":"app","image":"api:1"}]},
"status":{"phase":"Running","podIP":"10.0.0.7","hostIP":"192.168.1.2","conditions":[{"type":"Ready","status":"True"}]}}`, name, uid, rv, lbls)
}

// fakeAPI serves a pod list, a watch stream with every event type, a 410,
// a relist and a watch that stays open: the real wire format.
type fakeAPI struct {
	mu       sync.Mutex
	requests []string
	auth     []string
	release  chan struct{} // closes the first watch stream
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	n := len(f.requests)
	f.requests = append(f.requests, r.URL.Query().Get("watch")+"@"+r.URL.Query().Get("resourceVersion")+" "+r.URL.Query().Get("fieldSelector"))
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	if r.URL.Path != "/api/v1/pods" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	flush := func() { w.(http.Flusher).Flush() }
	switch n {
	case 0: // list
		fmt.Fprintf(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"10"},"items":[%s]}`,
			podJSON("api-5c7d-abcde", "uid-a", "9", `"app":"api","app.kubernetes.io/name":"api"`))
	case 1: // watch from 10
		for _, ev := range []string{
			`{"type":"ADDED","object":` + podJSON("web-1", "uid-b", "11", `"app":"web"`) + `}`,
			`{"type":"MODIFIED","object":` + podJSON("api-5c7d-abcde", "uid-a", "12", `"app":"api","version":"v2"`) + `}`,
			`{"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"13"}}}`,
			`{"type":"DELETED","object":` + podJSON("web-1", "uid-b", "14", `"app":"web"`) + `}`,
		} {
			fmt.Fprintln(w, ev)
			flush()
		}
		<-f.release
	case 2: // watch from 14: too old
		fmt.Fprintln(w, `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 14 (30)","reason":"Expired","code":410}}`)
	case 3: // relist
		fmt.Fprintf(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"30"},"items":[%s]}`,
			podJSON("db-0", "uid-c", "29", `"app":"db"`))
	default: // watch from 30: stay open
		flush()
		<-r.Context().Done()
	}
}

func (f *fakeAPI) snapshot() ([]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...), append([]string(nil), f.auth...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func names(w *Watcher) string {
	var out []string
	for _, l := range w.Targets() {
		out = append(out, l.Get("__meta_kubernetes_pod_name")+"/"+l.Get("__meta_kubernetes_pod_container_name"))
	}
	return strings.Join(out, ",")
}

func TestWatcherListsWatchesAndRelistsOnGone(t *testing.T) {
	api := &fakeAPI{release: make(chan struct{})}
	srv := httptest.NewServer(api)
	defer srv.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := New(Config{APIServer: srv.URL, TokenFile: tokenFile, NodeName: "node-1", MinBackoff: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// After the first watch's events: web-1 came and went, api was modified.
	waitFor(t, "the first watch's events", func() bool {
		w.mu.RLock()
		defer w.mu.RUnlock()
		return w.rv == "14"
	})
	if got := names(w); got != "api-5c7d-abcde/init,api-5c7d-abcde/app" {
		t.Fatalf("targets %s", got)
	}
	app := w.Targets()[1]
	for k, want := range map[string]string{
		"__meta_kubernetes_namespace":                                       "default",
		"__meta_kubernetes_pod_uid":                                         "uid-a",
		"__meta_kubernetes_pod_node_name":                                   "node-1",
		"__meta_kubernetes_pod_label_version":                               "v2",
		"__meta_kubernetes_pod_label_app_kubernetes_io_name":                "", // MODIFIED replaced the labels
		"__meta_kubernetes_pod_labelpresent_app":                            "true",
		"__meta_kubernetes_pod_annotation_kubernetes_io_config_seen":        "2026-11-22T05:00:00Z",
		"__meta_kubernetes_pod_controller_kind":                             "ReplicaSet",
		"__meta_kubernetes_pod_controller_name":                             "api-5c7d",
		"__meta_kubernetes_pod_container_init":                              "false",
		"__meta_kubernetes_pod_container_image":                             "api:1",
		"__meta_kubernetes_pod_ready":                                       "true",
		"__meta_kubernetes_pod_phase":                                       "Running",
		"__meta_kubernetes_pod_ip":                                          "10.0.0.7",
		"__address__":                                                       "10.0.0.7",
		"__meta_kubernetes_pod_annotationpresent_kubernetes_io_config_seen": "true",
	} {
		if got := app.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}

	close(api.release)
	waitFor(t, "the relist after 410", func() bool { return names(w) == "db-0/init,db-0/app" })
	waitFor(t, "the watch after the relist", func() bool { r, _ := api.snapshot(); return len(r) >= 5 })
	reqs, auth := api.snapshot()
	want := []string{"@ spec.nodeName=node-1", "1@10 spec.nodeName=node-1", "1@14 spec.nodeName=node-1", "@ spec.nodeName=node-1", "1@30 spec.nodeName=node-1"}
	if strings.Join(reqs[:5], "|") != strings.Join(want, "|") {
		t.Fatalf("requests %q, want %q", reqs, want)
	}
	for _, a := range auth {
		if a != "Bearer secret-token" {
			t.Fatalf("authorization %q", a)
		}
	}
}

func TestWatcherRetriesFailedList(t *testing.T) {
	var calls int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		c := calls
		mu.Unlock()
		if c == 1 {
			http.Error(w, `{"kind":"Status","code":403,"message":"forbidden"}`, http.StatusForbidden)
			return
		}
		if r.URL.Query().Get("watch") == "" {
			fmt.Fprintf(w, `{"metadata":{"resourceVersion":"1"},"items":[]}`)
			return
		}
		<-r.Context().Done()
	}))
	defer srv.Close()
	w, err := New(Config{APIServer: srv.URL, MinBackoff: time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if w.Synced() {
		t.Fatal("synced before any list")
	}
	waitFor(t, "a successful list after a 403", w.Synced)
}

func FuzzApplyEvent(f *testing.F) {
	f.Add(`{"type":"ADDED","object":` + podJSON("a", "u", "1", `"x":"y"`) + `}`)
	f.Add(`{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"5"}}}`)
	f.Add(`{"type":"ERROR","object":{"code":410}}`)
	f.Fuzz(func(t *testing.T, s string) {
		w := &Watcher{pods: map[string]*Pod{}}
		var ev event
		if err := json.Unmarshal([]byte(s), &ev); err != nil {
			return
		}
		_ = w.apply(&ev)
		for _, p := range w.pods {
			for _, l := range p.Targets() {
				if l.Get("__meta_kubernetes_pod_container_init") == "" {
					t.Fatal("target without container_init")
				}
			}
		}
	})
}
