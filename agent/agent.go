package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/agent/client"
	"github.com/plgstack/plg/agent/discovery"
	"github.com/plgstack/plg/agent/discovery/kube"
	"github.com/plgstack/plg/agent/entry"
	"github.com/plgstack/plg/agent/positions"
	"github.com/plgstack/plg/agent/stages"
	"github.com/plgstack/plg/agent/tail"
)

// DrainTimeout bounds how long Run spends, after its context is cancelled,
// sending what is already read. What is not sent by then is read again
// after a restart.
var DrainTimeout = 5 * time.Second

// Agent tails files and ships their lines to ingesters.
type Agent struct {
	cfg    *Config
	log    *slog.Logger
	env    discovery.Env
	store  *positions.Store
	multi  *client.Multi
	jobs   []*job
	tailM  *tail.Metrics
	active prometheus.Gauge
	drops  *prometheus.CounterVec
	rl     *rateLimiter
	ready  atomic.Bool
	// watchers by api_server ("" = in-cluster) for kubernetes_sd_configs.
	watchers map[string]*kube.Watcher

	mu      sync.Mutex
	running map[string]*running // by job + "\x00" + path
	wg      sync.WaitGroup
}

type job struct {
	cfg      *ScrapeConfig
	template *stages.Template
	detect   bool // no stages at all: detect cri/docker per file
}

type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	labels labels.Labels
	tailer *tail.Tailer
}

// New builds an agent from cfg. Metrics are registered with reg (may be
// nil).
func New(cfg *Config, logger *slog.Logger, reg prometheus.Registerer) (*Agent, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	cm := client.NewMetrics(reg)
	a := &Agent{
		cfg:   cfg,
		log:   logger,
		env:   discovery.DefaultEnv(),
		tailM: tail.NewMetrics(reg),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "plg_agent_files_active", Help: "Files being tailed.",
		}),
		drops:   cm.DroppedEntries,
		running: map[string]*running{},
	}
	if reg != nil {
		reg.MustRegister(a.active, newLagCollector(a))
	}
	var clients []*client.Client
	for i, cc := range cfg.Clients {
		cc.MaxStreams = cfg.LimitsConfig.MaxStreams
		c, err := client.New(cc, cm, logger)
		if err != nil {
			return nil, fmt.Errorf("clients[%d]: %w", i, err)
		}
		clients = append(clients, c)
	}
	a.multi = client.NewMulti(clients...)
	for i := range cfg.ScrapeConfigs {
		sc := &cfg.ScrapeConfigs[i]
		t, err := stages.Compile(sc.PipelineStages, stages.Options{Dropped: cm.DroppedEntries, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("job %s: pipeline_stages: %w", sc.JobName, err)
		}
		// Only an empty pipeline gets format detection: a Promtail config that
		// parses raw CRI or Docker lines with its own stages must see them as
		// Promtail would.
		a.jobs = append(a.jobs, &job{cfg: sc, template: t, detect: t.Len() == 0})
	}
	if err := a.setupKube(); err != nil {
		return nil, err
	}
	if l := cfg.LimitsConfig; l.ReadlineRateEnabled {
		drop := l.ReadlineRateDrop == nil || *l.ReadlineRateDrop
		a.rl = newRateLimiter(l.ReadlineRate, l.ReadlineBurst, drop)
	}
	return a, nil
}

// Ready reports whether the agent has loaded its positions and has its
// targets: a target sync in which every job's discovery succeeded has run
// (with Kubernetes discovery, after the API's first list or KubeSyncWait).
func (a *Agent) Ready() bool { return a.ready.Load() }

// Run tails and ships until ctx is cancelled, then stops reading, sends
// what was read (for at most DrainTimeout), writes the positions file and
// returns.
func (a *Agent) Run(ctx context.Context) error {
	store, err := positions.Open(a.cfg.Positions, a.log)
	if err != nil {
		return err
	}
	a.store = store
	posCtx, stopPos := context.WithCancel(context.Background())
	posDone := make(chan error, 1)
	go func() { posDone <- store.Run(posCtx) }()

	clientCtx, stopClients := context.WithCancel(context.Background())
	defer stopClients()
	var cwg sync.WaitGroup
	for _, c := range a.multi.Clients() {
		cwg.Add(1)
		go func() { defer cwg.Done(); c.Run(clientCtx) }()
	}

	for _, w := range a.watchers {
		go w.Run(ctx)
	}
	a.waitKube(ctx)
	if a.sync(ctx) {
		a.ready.Store(true)
	}
	t := time.NewTicker(a.cfg.TargetConfig.SyncPeriod)
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-t.C:
			if a.sync(ctx) {
				a.ready.Store(true)
			}
		}
	}
	t.Stop()
	a.ready.Store(false)

	// Stop reading, then let the clients send what they hold.
	a.mu.Lock()
	for _, r := range a.running {
		r.cancel()
	}
	a.mu.Unlock()
	a.wg.Wait()
	for _, c := range a.multi.Clients() {
		c.Close()
	}
	drained := make(chan struct{})
	go func() { cwg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(DrainTimeout):
		a.log.Warn("drain timeout: unsent lines will be read again after restart")
		stopClients()
		<-drained
	}
	stopPos()
	if err := <-posDone; err != nil {
		return fmt.Errorf("final positions save: %w", err)
	}
	return nil
}

// sync discovers targets and starts and stops tailers to match. It reports
// whether every job's discovery succeeded.
func (a *Agent) sync(ctx context.Context) bool {
	type wanted struct {
		labels labels.Labels
		start  func()
	}
	want := map[string]wanted{}
	failed := map[string]bool{}
	for _, j := range a.jobs {
		targets, err := discovery.Discover(&j.cfg.Config, a.env)
		if err != nil {
			// Keep what the job tails rather than stop it on a failed scan.
			a.log.Error("target discovery failed; keeping current targets", "job", j.cfg.JobName, "err", err)
			failed[j.cfg.JobName] = true
			continue
		}
		for _, t := range targets {
			key := j.cfg.JobName + "\x00" + t.Path
			want[key] = wanted{labels: t.Labels, start: func() { a.startTailer(ctx, key, j, t) }}
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for key, r := range a.running {
		if job, _, _ := strings.Cut(key, "\x00"); failed[job] {
			continue
		}
		// Gone, or its labels changed: stop it; a changed target restarts
		// on a later sync once the old tailer's lines are acknowledged.
		if w, ok := want[key]; !ok || !labels.Equal(w.labels, r.labels) {
			r.cancel()
		}
	}
	for key, w := range want {
		if _, ok := a.running[key]; !ok {
			w.start()
		}
	}
	a.cleanupPositions()
	return len(failed) == 0
}

// cleanupPositions forgets files that are gone and not being tailed.
func (a *Agent) cleanupPositions() {
	active := map[string]bool{}
	for key := range a.running {
		_, path, _ := strings.Cut(key, "\x00")
		active[path] = true
	}
	for path := range a.store.Snapshot() {
		if active[path] {
			continue
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			a.store.Remove(path)
		}
	}
}

// startTailer must be called with a.mu held.
func (a *Agent) startTailer(parent context.Context, key string, j *job, t discovery.Target) {
	ctx, cancel := context.WithCancel(parent)
	r := &running{cancel: cancel, done: make(chan struct{}), labels: t.Labels}
	a.running[key] = r
	maxLine := tail.DefaultMaxLineSize
	lim := a.cfg.LimitsConfig
	if lim.MaxLineSize > 0 {
		maxLine = int(lim.MaxLineSize)
		if !lim.MaxLineSizeTruncate {
			maxLine++ // so an over-long line is recognisable and dropped
		}
	}
	tl := tail.New(tail.Config{
		Path:        t.Path,
		MaxLineSize: maxLine,
		MinPoll:     a.cfg.Global.FileWatchConfig.MinPollFrequency,
		MaxPoll:     a.cfg.Global.FileWatchConfig.MaxPollFrequency,
		Positions:   a.store,
		Metrics:     a.tailM,
		Logger:      a.log.With("job", j.cfg.JobName),
	})
	r.tailer = tl
	h := &fileHandler{
		a: a, ctx: ctx, job: j, labels: t,
		pipeline: j.template.New(), detect: j.detect,
	}
	h.pipeline.SetContext(ctx)
	h.emitFn = h.emit
	a.wg.Add(1)
	a.active.Inc()
	go func() {
		defer func() {
			a.active.Dec()
			a.mu.Lock()
			if a.running[key] == r {
				delete(a.running, key)
			}
			a.mu.Unlock()
			close(r.done)
			a.wg.Done()
		}()
		if err := tl.Run(ctx, h); err != nil && !errors.Is(err, tail.ErrNotFound) {
			a.log.Error("tailing failed", "job", j.cfg.JobName, "path", t.Path, "err", err)
		}
		// Stopped while the agent runs (target gone or relabeled): keep the
		// slot until its lines are acknowledged, so a successor starting from
		// the positions does not send them again.
		for deadline := time.Now().Add(time.Minute); parent.Err() == nil && tl.InFlight() > 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}()
}

// fileHandler turns one file's lines into entries and hands them on.
type fileHandler struct {
	a        *Agent
	ctx      context.Context
	job      *job
	labels   discovery.Target
	pipeline *stages.Pipeline
	detect   bool
	emitFn   func(*entry.Entry)
	e        entry.Entry
}

func (h *fileHandler) Line(line []byte, t entry.Ticket) {
	lim := h.a.cfg.LimitsConfig
	if lim.MaxLineSize > 0 && !lim.MaxLineSizeTruncate && len(line) > int(lim.MaxLineSize) {
		h.a.drops.WithLabelValues("line_too_long").Inc()
		t.Done()
		return
	}
	if h.a.rl != nil {
		switch h.a.rl.take(h.ctx) {
		case rateDrop:
			h.a.drops.WithLabelValues("readline_rate_limited").Inc()
			t.Done()
			return
		case rateStopped:
			return // shutting down: not acknowledged, read again after restart
		}
	}
	// The entry lives in the handler: the pipeline runs synchronously and
	// the client receives a copy, so no per-line heap allocation for it.
	h.e = entry.Entry{
		Labels:    h.labels.Labels,
		Timestamp: time.Now().UnixNano(),
		Line:      string(line),
		Ticket:    t,
	}
	if h.detect {
		h.detect = false
		if s := stages.AutoDetect(h.e.Line, nil); s != nil {
			h.pipeline.Prepend(s)
			h.a.log.Debug("detected log format", "path", h.labels.Path, "format", stages.Format(s))
		}
	}
	h.pipeline.Process(&h.e, h.emitFn)
}

func (h *fileHandler) Idle(now time.Time) {
	h.pipeline.Flush(now, false, h.emitFn)
}

func (h *fileHandler) emit(e *entry.Entry) {
	// If ctx is done the entry is neither sent nor acknowledged: it will be
	// read again after a restart.
	h.a.multi.Handle(h.ctx, *e)
}

// setupKube creates an API watcher per distinct api_server of the
// kubernetes_sd_configs, when there is an API to talk to (api_server set, or
// running in a cluster). Without one, pods are found on disk.
func (a *Agent) setupKube() error {
	a.watchers = map[string]*kube.Watcher{}
	if os.Getenv("NODE_NAME") == "" && kube.InCluster() && a.hasKubeSD() {
		a.log.Warn("NODE_NAME is not set: pods are matched to this node by the host name instead, which inside a pod is the pod's own name, so no pod will match; set NODE_NAME from the downward API (fieldRef spec.nodeName)",
			"node_name_used", a.env.NodeName)
	}
	for _, sc := range a.cfg.ScrapeConfigs {
		for _, sd := range sc.KubernetesSD {
			if _, ok := a.watchers[sd.APIServer]; ok || (sd.APIServer == "" && !kube.InCluster()) {
				continue
			}
			w, err := kube.New(kube.Config{
				APIServer:          sd.APIServer,
				TokenFile:          sd.BearerTokenFile,
				CAFile:             sd.TLSConfig.CAFile,
				InsecureSkipVerify: sd.TLSConfig.InsecureSkipVerify,
				NodeName:           a.env.NodeName,
			}, a.log)
			if err != nil {
				if sd.APIServer != "" {
					return fmt.Errorf("job %s: kubernetes_sd_configs: %w", sc.JobName, err)
				}
				// In a pod without a mounted service-account token (no
				// RBAC wanted), the pod log directories still tell
				// namespace, pod, uid and container: run without the API.
				a.log.Warn("no Kubernetes API access; discovering pods from their log directories on disk",
					"job", sc.JobName, "err", err)
				continue
			}
			a.watchers[sd.APIServer] = w
		}
	}
	if len(a.watchers) > 0 {
		a.env.Kube = func(sd *discovery.KubernetesSDConfig) ([]labels.Labels, bool) {
			w := a.watchers[sd.APIServer]
			if w == nil || !w.Synced() {
				return nil, false
			}
			return w.Targets(), true
		}
	}
	return nil
}

func (a *Agent) hasKubeSD() bool {
	for _, sc := range a.cfg.ScrapeConfigs {
		if len(sc.KubernetesSD) > 0 {
			return true
		}
	}
	return false
}

// KubeSyncWait bounds how long Run waits for the Kubernetes API before its
// first sync falls back to pod directories on disk.
var KubeSyncWait = 10 * time.Second

func (a *Agent) waitKube(ctx context.Context) {
	deadline := time.Now().Add(KubeSyncWait)
	for _, w := range a.watchers {
		for !w.Synced() && ctx.Err() == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// rateLimiter is the readline rate limit shared by all files.
type rateLimiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	drop   bool
}

func newRateLimiter(rate float64, burst int, drop bool) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now(), drop: drop}
}

type rateResult int

const (
	rateOK rateResult = iota
	rateDrop
	rateStopped
)

// take takes a token; without drop it waits for one.
func (r *rateLimiter) take(ctx context.Context) rateResult {
	r.mu.Lock()
	now := time.Now()
	r.tokens = min(r.burst, r.tokens+now.Sub(r.last).Seconds()*r.rate)
	r.last = now
	if r.tokens >= 1 {
		r.tokens--
		r.mu.Unlock()
		return rateOK
	}
	if r.drop {
		r.mu.Unlock()
		return rateDrop
	}
	wait := time.Duration((1 - r.tokens) / r.rate * float64(time.Second))
	r.tokens--
	r.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return rateOK
	case <-ctx.Done():
		return rateStopped
	}
}
