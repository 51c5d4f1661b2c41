package stages

import (
	"encoding/json"
	"unsafe"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// JSONConfig is the json stage.
type JSONConfig struct {
	// Expressions maps extracted names to expressions; an empty expression
	// means the name itself.
	Expressions   map[string]string `yaml:"expressions"`
	Source        *string           `yaml:"source"`
	DropMalformed bool              `yaml:"drop_malformed"`
}

type jsonExpr struct {
	name string
	path jpath
}

func buildJSON(n *yaml.Node, o *Options) (factory, error) {
	var cfg JSONConfig
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Expressions) == 0 {
		return nil, fieldErr("expressions", "at least one is required")
	}
	s := &jsonStage{opts: o, drop: cfg.DropMalformed}
	if cfg.Source != nil {
		s.source = *cfg.Source
	}
	for name, ex := range cfg.Expressions {
		if ex == "" {
			ex = name
		}
		p, err := parseJPath(ex)
		if err != nil {
			return nil, fieldErr("expressions."+name, "%v", err)
		}
		s.exprs = append(s.exprs, jsonExpr{name: name, path: p})
	}
	return func() Stage { return s }, nil
}

type jsonStage struct {
	opts   *Options
	source string
	drop   bool
	exprs  []jsonExpr
}

func (s *jsonStage) Process(e *entry.Entry) bool {
	in, ok := source(e, s.source)
	if !ok {
		return true
	}
	// Validate, then pick out only the expressions' values: no map of the
	// whole document is built.
	start := skipWS(in, 0)
	if !json.Valid(unsafeBytes(in)) || start >= len(in) || in[start] != '{' {
		if s.drop {
			s.opts.drop("malformed_json")
			return false
		}
		return true
	}
	for _, x := range s.exprs {
		if r, ok := x.path.lookup(in); ok {
			e.Extracted[x.name] = r
		}
	}
	return true
}

// unsafeBytes views s as bytes for read-only use.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
