package stages

import (
	"regexp"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// RegexConfig is the regex stage.
type RegexConfig struct {
	Expression string  `yaml:"expression"`
	Source     *string `yaml:"source"`
}

func buildRegex(n *yaml.Node, o *Options) (factory, error) {
	var cfg RegexConfig
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	if cfg.Expression == "" {
		return nil, fieldErr("expression", "required")
	}
	re, err := regexp.Compile(cfg.Expression)
	if err != nil {
		return nil, fieldErr("expression", "%v", err)
	}
	named := false
	for _, n := range re.SubexpNames() {
		named = named || n != ""
	}
	if !named {
		return nil, fieldErr("expression", "needs at least one named capture group (?P<name>...)")
	}
	s := &regexStage{re: re, names: re.SubexpNames()}
	if cfg.Source != nil {
		s.source = *cfg.Source
	}
	return func() Stage { return s }, nil
}

type regexStage struct {
	re     *regexp.Regexp
	names  []string
	source string
}

func (s *regexStage) Process(e *entry.Entry) bool {
	in, ok := source(e, s.source)
	if !ok {
		return true
	}
	m := s.re.FindStringSubmatchIndex(in)
	if m == nil {
		return true
	}
	for i, name := range s.names {
		if name == "" || m[2*i] < 0 {
			continue
		}
		e.Extracted[name] = in[m[2*i]:m[2*i+1]]
	}
	return true
}
