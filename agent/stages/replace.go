package stages

import (
	"regexp"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// ReplaceConfig is the replace stage: every match of Expression in the
// source has each capture group (or the whole match, without groups)
// replaced by the rendered Replace template, whose .Value is the captured
// text. Named groups are also extracted. With no source the line changes.
type ReplaceConfig struct {
	Expression string  `yaml:"expression"`
	Source     *string `yaml:"source"`
	Replace    string  `yaml:"replace"`
}

func buildReplace(n *yaml.Node, o *Options) (factory, error) {
	var cfg ReplaceConfig
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
	t, err := template.New("replace").Funcs(templateFuncs).Parse(cfg.Replace)
	if err != nil {
		return nil, fieldErr("replace", "%v", err)
	}
	src := ""
	if cfg.Source != nil {
		src = *cfg.Source
	}
	return func() Stage {
		return &replaceStage{re: re, t: t, source: src, opts: o, data: map[string]any{}}
	}, nil
}

type replaceStage struct {
	re     *regexp.Regexp
	t      *template.Template
	source string
	opts   *Options
	sb     strings.Builder
	out    strings.Builder
	data   map[string]any
}

func (s *replaceStage) Process(e *entry.Entry) bool {
	in, ok := source(e, s.source)
	if !ok {
		return true
	}
	all := s.re.FindAllStringSubmatchIndex(in, -1)
	if all == nil {
		return true
	}
	clear(s.data)
	for k, v := range e.Extracted {
		if str, ok := valueString(v); ok {
			s.data[k] = str
		}
	}
	names := s.re.SubexpNames()
	s.out.Reset()
	last := 0
	for _, m := range all {
		groups := len(m)/2 - 1
		spans := [][2]int{}
		if groups == 0 {
			spans = append(spans, [2]int{m[0], m[1]})
		}
		for g := 1; g <= groups; g++ {
			if m[2*g] < 0 {
				continue
			}
			if names[g] != "" {
				e.Extracted[names[g]] = in[m[2*g]:m[2*g+1]]
			}
			spans = append(spans, [2]int{m[2*g], m[2*g+1]})
		}
		for _, sp := range spans {
			if sp[0] < last {
				continue // nested group already replaced
			}
			s.data["Value"] = in[sp[0]:sp[1]]
			r, err := renderTemplate(s.t, &s.sb, s.data)
			if err != nil {
				s.opts.Logger.Debug("replace stage template failed", "err", err)
				return true
			}
			s.out.WriteString(in[last:sp[0]])
			s.out.WriteString(r)
			last = sp[1]
		}
	}
	s.out.WriteString(in[last:])
	if s.source == "" {
		e.Line = s.out.String()
	} else {
		e.Extracted[s.source] = s.out.String()
	}
	return true
}
