package stages

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// DropConfig is the drop stage. Every condition configured must hold for
// the entry to be dropped.
type DropConfig struct {
	// Source is one extracted name or a list; several are joined with
	// Separator before comparing.
	Source            any            `yaml:"source"`
	Separator         *string        `yaml:"separator"`
	Value             *string        `yaml:"value"`
	Expression        string         `yaml:"expression"`
	OlderThan         *time.Duration `yaml:"older_than"`
	LongerThan        *string        `yaml:"longer_than"`
	DropCounterReason string         `yaml:"drop_counter_reason"`
}

func buildDrop(n *yaml.Node, o *Options) (factory, error) {
	cfg := DropConfig{DropCounterReason: "drop_stage"}
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	s := &dropStage{opts: o, reason: cfg.DropCounterReason, sep: ";"}
	switch src := cfg.Source.(type) {
	case nil:
	case string:
		s.sources = []string{src}
	case []any:
		for _, x := range src {
			str, ok := x.(string)
			if !ok {
				return nil, fieldErr("source", "want a string or a list of strings")
			}
			s.sources = append(s.sources, str)
		}
	default:
		return nil, fieldErr("source", "want a string or a list of strings")
	}
	if cfg.Separator != nil {
		s.sep = *cfg.Separator
	}
	if cfg.Value != nil && cfg.Expression != "" {
		return nil, fmt.Errorf("value and expression are mutually exclusive")
	}
	if cfg.Value != nil {
		if len(s.sources) == 0 {
			return nil, fieldErr("value", "needs source")
		}
		s.value, s.hasValue = *cfg.Value, true
	}
	if cfg.Expression != "" {
		re, err := regexp.Compile(cfg.Expression)
		if err != nil {
			return nil, fieldErr("expression", "%v", err)
		}
		s.re = re
	}
	if cfg.OlderThan != nil {
		if *cfg.OlderThan <= 0 {
			return nil, fieldErr("older_than", "must be positive")
		}
		s.olderThan = *cfg.OlderThan
	}
	if cfg.LongerThan != nil {
		n, err := ParseByteSize(*cfg.LongerThan)
		if err != nil {
			return nil, fieldErr("longer_than", "%v", err)
		}
		s.longerThan = n
	}
	if len(s.sources) == 0 && s.re == nil && s.olderThan == 0 && s.longerThan == 0 {
		return nil, fmt.Errorf("at least one of source, expression, older_than, longer_than is required")
	}
	return func() Stage { return s }, nil
}

// ParseByteSize parses sizes like 1024, 8KB, 8KiB, 1.5MB (KB = 1024, as
// Promtail's flagext.ByteSize).
func ParseByteSize(s string) (int, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	mult := 1.0
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int(f * mult), nil
}

type dropStage struct {
	opts       *Options
	reason     string
	sources    []string
	sep        string
	value      string
	hasValue   bool
	re         *regexp.Regexp
	olderThan  time.Duration
	longerThan int
}

func (s *dropStage) Process(e *entry.Entry) bool {
	if s.shouldDrop(e) {
		s.opts.drop(s.reason)
		return false
	}
	return true
}

func (s *dropStage) shouldDrop(e *entry.Entry) bool {
	if s.olderThan > 0 && e.Timestamp >= s.opts.Now().Add(-s.olderThan).UnixNano() {
		return false
	}
	if s.longerThan > 0 && len(e.Line) <= s.longerThan {
		return false
	}
	if len(s.sources) > 0 {
		var v string
		for i, src := range s.sources {
			x, ok := valueString(e.Extracted[src])
			if !ok {
				return false // a source that is not there never matches
			}
			if i > 0 {
				v += s.sep
			}
			v += x
		}
		if s.hasValue && v != s.value {
			return false
		}
		if s.re != nil && !s.re.MatchString(v) {
			return false
		}
	} else if s.re != nil && !s.re.MatchString(e.Line) {
		return false
	}
	return true
}
