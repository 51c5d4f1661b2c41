package stages

import (
	"math/rand/v2"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// SamplingConfig is the sampling stage: each entry is kept with
// probability Rate.
type SamplingConfig struct {
	Rate              float64 `yaml:"rate"`
	DropCounterReason string  `yaml:"drop_counter_reason"`
}

func buildSampling(n *yaml.Node, o *Options) (factory, error) {
	cfg := SamplingConfig{DropCounterReason: "sampling_stage"}
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	if cfg.Rate <= 0 || cfg.Rate > 1 {
		return nil, fieldErr("rate", "%g: want a value in (0, 1]", cfg.Rate)
	}
	s := &samplingStage{rate: cfg.Rate, reason: cfg.DropCounterReason, opts: o, random: rand.Float64}
	return func() Stage { return s }, nil
}

type samplingStage struct {
	rate   float64
	reason string
	opts   *Options
	random func() float64
}

func (s *samplingStage) Process(e *entry.Entry) bool {
	if s.rate >= 1 || s.random() < s.rate {
		return true
	}
	s.opts.drop(s.reason)
	return false
}
