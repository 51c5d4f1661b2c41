package stages

import (
	"context"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// LimitConfig is the limit stage: at most Rate lines per second with bursts
// of Burst; over the limit lines are dropped (Drop) or wait.
type LimitConfig struct {
	Rate              float64 `yaml:"rate"`
	Burst             int     `yaml:"burst"`
	Drop              bool    `yaml:"drop"`
	ByLabelName       string  `yaml:"by_label_name"`
	MaxDistinctLabels int     `yaml:"max_distinct_labels"`
}

func buildLimit(n *yaml.Node, o *Options) (factory, error) {
	cfg := LimitConfig{MaxDistinctLabels: 10000}
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	if cfg.Rate <= 0 {
		return nil, fieldErr("rate", "must be positive")
	}
	if cfg.Burst <= 0 {
		return nil, fieldErr("burst", "must be positive")
	}
	if cfg.ByLabelName != "" && !validLabelName(cfg.ByLabelName) {
		return nil, fieldErr("by_label_name", "invalid label name %q", cfg.ByLabelName)
	}
	// Limits are shared by every file of the scrape config, as in Promtail;
	// each pipeline has its own context to stop waiting on.
	l := &limiter{cfg: cfg, buckets: map[string]*bucket{}}
	return func() Stage { return &limitStage{limiter: l, opts: o, sleep: sleepCtx} }, nil
}

type bucket struct {
	tokens float64
	last   time.Time
}

type limiter struct {
	cfg     LimitConfig
	mu      sync.Mutex
	buckets map[string]*bucket
}

type limitStage struct {
	*limiter
	opts  *Options
	ctx   context.Context
	sleep func(ctx context.Context, d time.Duration) bool
}

func (s *limitStage) setContext(ctx context.Context) { s.ctx = ctx }

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if ctx == nil {
		time.Sleep(d)
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// take returns how long to wait before the line may pass (0: now), or -1
// when it must be dropped.
func (s *limiter) take(key string, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[key]
	if b == nil {
		if len(s.buckets) >= s.cfg.MaxDistinctLabels {
			clear(s.buckets)
		}
		b = &bucket{tokens: float64(s.cfg.Burst), last: now}
		s.buckets[key] = b
	}
	b.tokens = min(float64(s.cfg.Burst), b.tokens+now.Sub(b.last).Seconds()*s.cfg.Rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	if s.cfg.Drop {
		return -1
	}
	wait := time.Duration((1 - b.tokens) / s.cfg.Rate * float64(time.Second))
	b.tokens-- // reserve: goes negative, repaid by the wait
	return wait
}

func (s *limitStage) Process(e *entry.Entry) bool {
	key := ""
	if s.cfg.ByLabelName != "" {
		v := e.Labels.Get(s.cfg.ByLabelName)
		if v == "" {
			return true // Promtail: entries without the label are not limited
		}
		key = v
	}
	switch d := s.take(key, s.opts.Now()); {
	case d < 0:
		s.opts.drop("limit_stage")
		return false
	case d > 0:
		if !s.sleep(s.ctx, d) {
			// Shutting down: neither sent nor acknowledged, so the line is
			// read again after a restart.
			e.Ticket = entry.Ticket{}
			return false
		}
	}
	return true
}
