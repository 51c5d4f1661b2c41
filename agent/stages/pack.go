package stages

import (
	"encoding/json"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// PackConfig is the pack stage: the line becomes a JSON object holding the
// named labels (or extracted values) and the original line under "_entry";
// those labels leave the stream. LogQL's `| unpack` reverses it.
type PackConfig struct {
	Labels          []string `yaml:"labels"`
	IngestTimestamp *bool    `yaml:"ingest_timestamp"`
}

func buildPack(n *yaml.Node, o *Options) (factory, error) {
	var cfg PackConfig
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	if len(cfg.Labels) == 0 {
		return nil, fieldErr("labels", "at least one is required")
	}
	names := append([]string(nil), cfg.Labels...)
	sort.Strings(names)
	ingest := cfg.IngestTimestamp == nil || *cfg.IngestTimestamp
	return func() Stage { return &packStage{names: names, ingest: ingest, opts: o} }, nil
}

type packStage struct {
	names  []string
	ingest bool
	opts   *Options
	cache  labelCache
	buf    []byte
}

func (s *packStage) Process(e *entry.Entry) bool {
	b := append(s.buf[:0], '{')
	for _, name := range s.names {
		v := e.Labels.Get(name)
		if v == "" {
			var ok bool
			if v, ok = valueString(e.Extracted[name]); !ok {
				continue
			}
		}
		b = appendJSONString(b, name)
		b = append(b, ':')
		b = appendJSONString(b, v)
		b = append(b, ',')
	}
	b = appendJSONString(b, "_entry")
	b = append(b, ':')
	b = appendJSONString(b, e.Line)
	b = append(b, '}')
	s.buf = b
	e.Line = string(b)
	e.Labels = s.cache.get(e.Labels, "", func(lb *labels.Builder) {
		for _, n := range s.names {
			lb.Del(n)
		}
	})
	if s.ingest {
		e.Timestamp = s.opts.Now().UnixNano()
	}
	return true
}

func appendJSONString(b []byte, s string) []byte {
	if !needsEscape(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s)
	return append(b, q...)
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			return true
		}
	}
	return false
}
