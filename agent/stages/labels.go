package stages

import (
	"fmt"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

func validLabelName(n string) bool {
	return model.LegacyValidation.IsValidLabelName(n)
}

// nameSource is a label (or metadata) name and the extracted key it reads.
type nameSource struct{ name, source string }

func decodeNameSources(n *yaml.Node) ([]nameSource, error) {
	var m map[string]*string
	if err := decodeStrict(n, &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("at least one label is required")
	}
	out := make([]nameSource, 0, len(m))
	for name, src := range m {
		if !validLabelName(name) {
			return nil, fieldErr(name, "invalid label name")
		}
		s := name
		if src != nil && *src != "" {
			s = *src
		}
		out = append(out, nameSource{name: name, source: s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// labels: extracted values become stream labels.
func buildLabels(n *yaml.Node, o *Options) (factory, error) {
	ns, err := decodeNameSources(n)
	if err != nil {
		return nil, err
	}
	return func() Stage { return &labelsStage{ns: ns} }, nil
}

type labelsStage struct {
	ns    []nameSource
	cache labelCache
	vals  []string
	key   []byte
}

func (s *labelsStage) Process(e *entry.Entry) bool {
	s.vals = s.vals[:0]
	s.key = s.key[:0]
	any := false
	for _, x := range s.ns {
		v, ok := valueString(e.Extracted[x.source])
		if !ok || v == "" {
			v = ""
		} else {
			any = true
		}
		s.vals = append(s.vals, v)
		s.key = append(s.key, v...)
		s.key = append(s.key, 0xff)
	}
	if !any {
		return true
	}
	e.Labels = s.cache.getBytes(e.Labels, s.key, func(b *labels.Builder) {
		for i, x := range s.ns {
			if s.vals[i] != "" {
				b.Set(x.name, s.vals[i])
			}
		}
	})
	return true
}

// structured_metadata: extracted values become structured metadata.
func buildStructuredMetadata(n *yaml.Node, o *Options) (factory, error) {
	ns, err := decodeNameSources(n)
	if err != nil {
		return nil, err
	}
	return func() Stage { return &metadataStage{ns: ns, b: labels.NewBuilder(labels.EmptyLabels())} }, nil
}

type metadataStage struct {
	ns []nameSource
	b  *labels.Builder
}

func (s *metadataStage) Process(e *entry.Entry) bool {
	s.b.Reset(e.Metadata)
	changed := false
	for _, x := range s.ns {
		if v, ok := valueString(e.Extracted[x.source]); ok && v != "" {
			s.b.Set(x.name, v)
			changed = true
		}
	}
	if changed {
		e.Metadata = s.b.Labels()
	}
	return true
}

// static_labels: fixed labels.
func buildStaticLabels(n *yaml.Node, o *Options) (factory, error) {
	var m map[string]string
	if err := decodeStrict(n, &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("at least one label is required")
	}
	for k := range m {
		if !validLabelName(k) {
			return nil, fieldErr(k, "invalid label name")
		}
	}
	return func() Stage { return &staticLabelsStage{m: m} }, nil
}

type staticLabelsStage struct {
	m     map[string]string
	cache labelCache
}

func (s *staticLabelsStage) Process(e *entry.Entry) bool {
	e.Labels = s.cache.get(e.Labels, "", func(b *labels.Builder) {
		for k, v := range s.m {
			b.Set(k, v)
		}
	})
	return true
}

// labeldrop and labelallow take a list of label names.
func buildLabelDrop(n *yaml.Node, o *Options) (factory, error)  { return buildLabelFilter(n, false) }
func buildLabelAllow(n *yaml.Node, o *Options) (factory, error) { return buildLabelFilter(n, true) }

func buildLabelFilter(n *yaml.Node, allow bool) (factory, error) {
	var names []string
	if err := decodeStrict(n, &names); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("at least one label name is required")
	}
	set := map[string]struct{}{}
	for _, x := range names {
		set[x] = struct{}{}
	}
	return func() Stage { return &labelFilterStage{set: set, allow: allow} }, nil
}

type labelFilterStage struct {
	set   map[string]struct{}
	allow bool
	cache labelCache
}

func (s *labelFilterStage) Process(e *entry.Entry) bool {
	e.Labels = s.cache.get(e.Labels, "", func(b *labels.Builder) {
		b.Range(func(l labels.Label) {
			_, in := s.set[l.Name]
			if in != s.allow {
				b.Del(l.Name)
			}
		})
	})
	return true
}

// output: an extracted value becomes the line.
func buildOutput(n *yaml.Node, o *Options) (factory, error) {
	var cfg struct {
		Source string `yaml:"source"`
	}
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	if cfg.Source == "" {
		return nil, fieldErr("source", "required")
	}
	s := &outputStage{source: cfg.Source}
	return func() Stage { return s }, nil
}

type outputStage struct{ source string }

func (s *outputStage) Process(e *entry.Entry) bool {
	if v, ok := valueString(e.Extracted[s.source]); ok {
		e.Line = v
	}
	return true
}

// tenant: the entry's tenant from an extracted value or a constant.
func buildTenant(n *yaml.Node, o *Options) (factory, error) {
	var cfg struct {
		Source string `yaml:"source"`
		Label  string `yaml:"label"`
		Value  string `yaml:"value"`
	}
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	set := 0
	for _, x := range []string{cfg.Source, cfg.Label, cfg.Value} {
		if x != "" {
			set++
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("exactly one of source, label, value is required")
	}
	s := &tenantStage{source: cfg.Source, label: cfg.Label, value: cfg.Value}
	return func() Stage { return s }, nil
}

type tenantStage struct{ source, label, value string }

func (s *tenantStage) Process(e *entry.Entry) bool {
	switch {
	case s.value != "":
		e.Tenant = s.value
	case s.label != "":
		if v := e.Labels.Get(s.label); v != "" {
			e.Tenant = v
		}
	default:
		if v, ok := valueString(e.Extracted[s.source]); ok && v != "" {
			e.Tenant = v
		}
	}
	return true
}
