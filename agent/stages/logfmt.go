package stages

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// LogfmtConfig is the logfmt stage.
type LogfmtConfig struct {
	// Mapping maps extracted names to logfmt keys; empty means the name.
	Mapping map[string]string `yaml:"mapping"`
	Source  *string           `yaml:"source"`
}

func buildLogfmt(n *yaml.Node, o *Options) (factory, error) {
	var cfg LogfmtConfig
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Mapping) == 0 {
		return nil, fieldErr("mapping", "at least one is required")
	}
	s := &logfmtStage{byKey: map[string][]string{}}
	if cfg.Source != nil {
		s.source = *cfg.Source
	}
	for name, key := range cfg.Mapping {
		if key == "" {
			key = name
		}
		s.byKey[key] = append(s.byKey[key], name)
	}
	return func() Stage { return s }, nil
}

type logfmtStage struct {
	source string
	byKey  map[string][]string
}

func (s *logfmtStage) Process(e *entry.Entry) bool {
	in, ok := source(e, s.source)
	if !ok {
		return true
	}
	scanLogfmt(in, func(k, v string) {
		for _, name := range s.byKey[k] {
			e.Extracted[name] = v
		}
	})
	return true
}

// scanLogfmt calls fn for each key=value pair of a logfmt line. Values may
// be double-quoted with Go escapes; a bare key has an empty value. Garbage
// is skipped rather than failing the whole line.
func scanLogfmt(s string, fn func(k, v string)) {
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' && s[i] != '"' {
			i++
		}
		key := s[start:i]
		if i < len(s) && s[i] == '"' { // stray quote: skip to next space
			for i < len(s) && s[i] != ' ' {
				i++
			}
			continue
		}
		if i >= len(s) || s[i] != '=' {
			if key != "" {
				fn(key, "")
			}
			continue
		}
		i++ // '='
		if i < len(s) && s[i] == '"' {
			j := i + 1
			esc := false
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					esc = true
					j++
				}
				j++
			}
			raw := s[i+1 : min(j, len(s))]
			if esc {
				raw = unescapeLogfmt(raw)
			}
			if key != "" {
				fn(key, raw)
			}
			i = j + 1
			continue
		}
		start = i
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		if key != "" {
			fn(key, s[start:i])
		}
	}
}

func unescapeLogfmt(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			sb.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			sb.WriteByte('\n')
		case 't':
			sb.WriteByte('\t')
		case 'r':
			sb.WriteByte('\r')
		default:
			sb.WriteByte(s[i])
		}
	}
	return sb.String()
}
