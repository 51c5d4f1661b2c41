package stages

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"regexp"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// TemplateConfig is the template stage: the result is stored in the
// extracted map under Source.
type TemplateConfig struct {
	Source   string `yaml:"source"`
	Template string `yaml:"template"`
}

// templateFuncs are Promtail's template functions (the commonly used ones).
var templateFuncs = template.FuncMap{
	"ToLower":    strings.ToLower,
	"ToUpper":    strings.ToUpper,
	"Replace":    strings.Replace,
	"ReplaceAll": strings.ReplaceAll,
	"Trim":       strings.Trim,
	"TrimLeft":   strings.TrimLeft,
	"TrimRight":  strings.TrimRight,
	"TrimPrefix": strings.TrimPrefix,
	"TrimSuffix": strings.TrimSuffix,
	"TrimSpace":  strings.TrimSpace,
	"Contains":   strings.Contains,
	"HasPrefix":  strings.HasPrefix,
	"HasSuffix":  strings.HasSuffix,
	"Hash": func(salt, s string) string {
		h := fnv.New64a()
		h.Write([]byte(salt))
		h.Write([]byte(s))
		return hex.EncodeToString(h.Sum(nil))
	},
	"Sha2Hash": func(salt, s string) string {
		h := sha256.Sum256([]byte(salt + s))
		return hex.EncodeToString(h[:])
	},
	"regexReplaceAll": func(re, s, repl string) (string, error) {
		r, err := regexp.Compile(re)
		if err != nil {
			return "", err
		}
		return r.ReplaceAllString(s, repl), nil
	},
	"regexReplaceAllLiteral": func(re, s, repl string) (string, error) {
		r, err := regexp.Compile(re)
		if err != nil {
			return "", err
		}
		return r.ReplaceAllLiteralString(s, repl), nil
	},
}

func buildTemplate(n *yaml.Node, o *Options) (factory, error) {
	var cfg TemplateConfig
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	if cfg.Source == "" {
		return nil, fieldErr("source", "required")
	}
	t, err := template.New("template").Funcs(templateFuncs).Parse(cfg.Template)
	if err != nil {
		return nil, fieldErr("template", "%v", err)
	}
	s := &templateStage{source: cfg.Source, t: t, opts: o}
	return func() Stage { return &templateStage{source: s.source, t: s.t, opts: o} }, nil
}

type templateStage struct {
	source string
	t      *template.Template
	opts   *Options
	sb     strings.Builder
	data   map[string]any
}

func (s *templateStage) Process(e *entry.Entry) bool {
	if s.data == nil {
		s.data = map[string]any{}
	}
	clear(s.data)
	for k, v := range e.Extracted {
		if str, ok := valueString(v); ok {
			s.data[k] = str
		}
	}
	if v, ok := valueString(e.Extracted[s.source]); ok {
		s.data["Value"] = v
	}
	s.data["Entry"] = e.Line
	s.sb.Reset()
	if err := s.t.Execute(&s.sb, s.data); err != nil {
		s.opts.Logger.Debug("template stage failed", "err", err)
		return true
	}
	e.Extracted[s.source] = s.sb.String()
	return true
}

// renderTemplate executes t into sb and returns the text.
func renderTemplate(t *template.Template, sb *strings.Builder, data map[string]any) (string, error) {
	sb.Reset()
	if err := t.Execute(sb, data); err != nil {
		return "", err
	}
	return sb.String(), nil
}
