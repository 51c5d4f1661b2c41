package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// In-cluster defaults.
const (
	ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"
	watchTimeout      = 5 * time.Minute
)

// Config says how to reach the API server.
type Config struct {
	// APIServer is the base URL; empty means in-cluster
	// (https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT).
	APIServer string
	// TokenFile and CAFile default to the service account's.
	TokenFile, CAFile  string
	InsecureSkipVerify bool
	// NodeName restricts the watch to pods scheduled on this node.
	NodeName string
	// MinBackoff and MaxBackoff bound reconnect delays (defaults 1s, 30s).
	MinBackoff, MaxBackoff time.Duration
}

// InCluster reports whether the process runs in a pod with API access.
func InCluster() bool {
	return os.Getenv("KUBERNETES_SERVICE_HOST") != "" && os.Getenv("KUBERNETES_SERVICE_PORT") != ""
}

// Watcher keeps the pods of one node.
type Watcher struct {
	cfg  Config
	base *url.URL
	http *http.Client
	log  *slog.Logger

	mu     sync.RWMutex
	pods   map[string]*Pod // by uid
	synced bool
	rv     string
}

// New returns a watcher; Run starts it.
func New(cfg Config, logger *slog.Logger) (*Watcher, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.APIServer == "" {
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return nil, errors.New("kubernetes: no api_server and not running in a cluster")
		}
		cfg.APIServer = "https://" + net.JoinHostPort(host, port)
		if cfg.TokenFile == "" {
			cfg.TokenFile = ServiceAccountDir + "/token"
		}
		if cfg.CAFile == "" {
			cfg.CAFile = ServiceAccountDir + "/ca.crt"
		}
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	base, err := url.Parse(cfg.APIServer)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("kubernetes api_server %q: not a URL", cfg.APIServer)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tc := &tls.Config{InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // user's choice
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kubernetes ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kubernetes ca file %s: no certificates", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	tr.TLSClientConfig = tc
	return &Watcher{
		cfg: cfg, base: base, log: logger.With("component", "kubernetes"),
		http: &http.Client{Transport: tr}, pods: map[string]*Pod{},
	}, nil
}

// Synced reports whether a list has succeeded, so Targets is meaningful.
func (w *Watcher) Synced() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.synced
}

// Targets returns the label sets of every container of every known pod,
// ordered by pod namespace/name.
func (w *Watcher) Targets() []labels.Labels {
	w.mu.RLock()
	pods := make([]*Pod, 0, len(w.pods))
	for _, p := range w.pods {
		pods = append(pods, p)
	}
	w.mu.RUnlock()
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Metadata.Namespace != pods[j].Metadata.Namespace {
			return pods[i].Metadata.Namespace < pods[j].Metadata.Namespace
		}
		return pods[i].Metadata.Name < pods[j].Metadata.Name
	})
	var out []labels.Labels
	for _, p := range pods {
		out = append(out, p.Targets()...)
	}
	return out
}

// errGone means the resource version is too old: relist.
var errGone = errors.New("resource version gone")

// Run lists and watches until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	backoff := w.cfg.MinBackoff
	for ctx.Err() == nil {
		if err := w.list(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("listing pods failed", "err", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, w.cfg.MaxBackoff)
			continue
		}
		backoff = w.cfg.MinBackoff
		for ctx.Err() == nil {
			err := w.watch(ctx)
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, errGone) {
				w.log.Info("watch expired, relisting")
				break
			}
			if err != nil {
				w.log.Warn("watching pods failed", "err", err, "retry_in", backoff)
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, w.cfg.MaxBackoff)
				continue
			}
			backoff = w.cfg.MinBackoff // a watch ended normally (server timeout)
		}
	}
}

func (w *Watcher) podsURL(watch bool, rv string) string {
	u := *w.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/pods"
	q := url.Values{}
	if w.cfg.NodeName != "" {
		q.Set("fieldSelector", "spec.nodeName="+w.cfg.NodeName)
	}
	if watch {
		q.Set("watch", "1")
		q.Set("resourceVersion", rv)
		q.Set("allowWatchBookmarks", "true")
		q.Set("timeoutSeconds", fmt.Sprint(int(watchTimeout.Seconds())))
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func (w *Watcher) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if w.cfg.TokenFile != "" {
		tok, err := os.ReadFile(w.cfg.TokenFile) // re-read: tokens are rotated
		if err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusGone {
		resp.Body.Close()
		return nil, errGone
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", u, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

func (w *Watcher) list(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := w.get(lctx, w.podsURL(false, ""))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var l struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Items []*Pod `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return fmt.Errorf("decode pod list: %w", err)
	}
	pods := make(map[string]*Pod, len(l.Items))
	for _, p := range l.Items {
		pods[p.Metadata.UID] = p
	}
	w.mu.Lock()
	w.pods, w.rv, w.synced = pods, l.Metadata.ResourceVersion, true
	w.mu.Unlock()
	w.log.Debug("listed pods", "count", len(pods), "resource_version", l.Metadata.ResourceVersion)
	return nil
}

type event struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// watch follows one watch stream from the last resource version.
func (w *Watcher) watch(ctx context.Context) error {
	w.mu.RLock()
	rv := w.rv
	w.mu.RUnlock()
	resp, err := w.get(ctx, w.podsURL(true, rv))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var ev event
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("decode watch event: %w", err)
		}
		if err := w.apply(&ev); err != nil {
			return err
		}
	}
}

func (w *Watcher) apply(ev *event) error {
	switch ev.Type {
	case "ADDED", "MODIFIED", "DELETED":
		var p Pod
		if err := json.Unmarshal(ev.Object, &p); err != nil {
			return fmt.Errorf("decode %s pod: %w", ev.Type, err)
		}
		w.mu.Lock()
		if ev.Type == "DELETED" {
			delete(w.pods, p.Metadata.UID)
		} else {
			w.pods[p.Metadata.UID] = &p
		}
		if p.Metadata.ResourceVersion != "" {
			w.rv = p.Metadata.ResourceVersion
		}
		w.mu.Unlock()
	case "BOOKMARK":
		var b struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(ev.Object, &b); err != nil {
			return fmt.Errorf("decode bookmark: %w", err)
		}
		w.mu.Lock()
		w.rv = b.Metadata.ResourceVersion
		w.mu.Unlock()
	case "ERROR":
		var st struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(ev.Object, &st)
		if st.Code == http.StatusGone {
			return errGone
		}
		return fmt.Errorf("watch error %d: %s", st.Code, st.Message)
	default:
		return fmt.Errorf("unknown watch event type %q", ev.Type)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
