package stages

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// MatchConfig is the match stage.
type MatchConfig struct {
	Selector          string `yaml:"selector"`
	Stages            Config `yaml:"stages"`
	Action            string `yaml:"action"`
	PipelineName      string `yaml:"pipeline_name"`
	DropCounterReason string `yaml:"drop_counter_reason"`
}

func buildMatch(n *yaml.Node, o *Options) (factory, error) {
	cfg := MatchConfig{Action: "keep", DropCounterReason: "match_stage"}
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	if cfg.Selector == "" {
		return nil, fieldErr("selector", "required")
	}
	sel, err := ParseSelector(cfg.Selector)
	if err != nil {
		return nil, fieldErr("selector", "%v", err)
	}
	switch cfg.Action {
	case "keep":
		if len(cfg.Stages) == 0 {
			return nil, fieldErr("stages", "required with action keep")
		}
	case "drop":
		if len(cfg.Stages) != 0 {
			return nil, fieldErr("stages", "not allowed with action drop")
		}
	default:
		return nil, fieldErr("action", "%q: want keep or drop", cfg.Action)
	}
	var nested *Template
	if len(cfg.Stages) > 0 {
		if nested, err = Compile(cfg.Stages, *o); err != nil {
			return nil, fmt.Errorf("stages: %w", err)
		}
	}
	return func() Stage {
		s := &matchStage{sel: sel, drop: cfg.Action == "drop", reason: cfg.DropCounterReason, opts: o}
		if nested != nil {
			s.nested = nested.New()
		}
		return s
	}, nil
}

type matchStage struct {
	sel    *Selector
	drop   bool
	reason string
	nested *Pipeline
	opts   *Options
}

func (s *matchStage) Process(e *entry.Entry) bool {
	if !s.sel.Matches(e.Labels, e.Line) {
		return true
	}
	if s.drop {
		s.opts.drop(s.reason)
		return false
	}
	// Nested stages share the entry's extracted map.
	return runStages(s.nested.stages, e)
}

func (s *matchStage) Flush(now time.Time, force bool, emit func(*entry.Entry)) {
	if s.nested != nil {
		s.nested.Flush(now, force, emit)
	}
}
