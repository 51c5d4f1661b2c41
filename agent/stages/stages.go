package stages

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// Stage processes an entry in place. Process returns false when the entry
// must not continue: dropped (the stage completed its ticket or left that
// to the pipeline) or held for merging (the stage took its ticket).
type Stage interface {
	Process(e *entry.Entry) bool
}

// Flusher is a Stage that holds entries. Flush hands held entries that are
// due (older than the stage's wait, or all when force) to emit, which runs
// them through the stages after this one.
type Flusher interface {
	Stage
	Flush(now time.Time, force bool, emit func(*entry.Entry))
}

// Options are shared by every stage of a pipeline.
type Options struct {
	// Dropped counts entries dropped by stages, by reason. May be nil.
	Dropped *prometheus.CounterVec
	Logger  *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *Options) drop(reason string) {
	if o.Dropped != nil {
		o.Dropped.WithLabelValues(reason).Inc()
	}
}

// Config is a pipeline_stages list: each item a map with one key, the
// stage name, whose value is that stage's configuration.
type Config []StageConfig

// StageConfig is one pipeline_stages item, decoded lazily by Compile.
type StageConfig struct {
	Name string
	Node *yaml.Node
}

// UnmarshalYAML keeps the stage's node for strict decoding in Compile.
func (s *StageConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return fmt.Errorf("line %d: a pipeline stage must be a map with exactly one key, the stage name", n.Line)
	}
	s.Name = n.Content[0].Value
	s.Node = n.Content[1]
	return nil
}

// MarshalYAML writes the stage back as {name: config}.
func (s StageConfig) MarshalYAML() (any, error) {
	return map[string]*yaml.Node{s.Name: s.Node}, nil
}

// decodeStrict decodes n into v rejecting unknown fields (yaml.Node.Decode
// alone does not).
func decodeStrict(n *yaml.Node, v any) error {
	if n == nil || n.Tag == "!!null" {
		return nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// factory builds a stage; stateful stages are built once per Pipeline.
type factory func() Stage

// builder compiles one stage's config into a factory.
type builder func(n *yaml.Node, o *Options) (factory, error)

var builders map[string]builder

// unsupportedStages are Promtail stages plg does not implement.
var unsupportedStages = map[string]bool{
	"metrics": true, "geoip": true, "luhn": true, "eventlogmessage": true,
}

func init() {
	builders = map[string]builder{
		"cri":                 buildCRI,
		"docker":              buildDocker,
		"json":                buildJSON,
		"logfmt":              buildLogfmt,
		"regex":               buildRegex,
		"replace":             buildReplace,
		"template":            buildTemplate,
		"labels":              buildLabels,
		"static_labels":       buildStaticLabels,
		"labeldrop":           buildLabelDrop,
		"labelallow":          buildLabelAllow,
		"structured_metadata": buildStructuredMetadata,
		"tenant":              buildTenant,
		"timestamp":           buildTimestamp,
		"output":              buildOutput,
		"match":               buildMatch,
		"drop":                buildDrop,
		"multiline":           buildMultiline,
		"limit":               buildLimit,
		"pack":                buildPack,
		"decolorize":          buildDecolorize,
		"sampling":            buildSampling,
	}
}

// ConfigError is a stage configuration error.
type ConfigError struct {
	Index int    // position in pipeline_stages, from 0
	Stage string // stage name
	Err   error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("pipeline stage %d (%s): %v", e.Index, e.Stage, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Template is a compiled pipeline; New makes per-file instances.
type Template struct {
	factories []factory
	names     []string
	opts      Options
}

// Compile checks and compiles cfg.
func Compile(cfg Config, opts Options) (*Template, error) {
	opts.defaults()
	t := &Template{opts: opts}
	for i, sc := range cfg {
		b, ok := builders[sc.Name]
		if !ok {
			err := fmt.Errorf("unknown stage %q", sc.Name)
			if unsupportedStages[sc.Name] {
				err = fmt.Errorf("stage %q is not supported by plg's agent", sc.Name)
			}
			return nil, &ConfigError{Index: i, Stage: sc.Name, Err: err}
		}
		f, err := b(sc.Node, &t.opts)
		if err != nil {
			return nil, &ConfigError{Index: i, Stage: sc.Name, Err: err}
		}
		t.factories = append(t.factories, f)
		t.names = append(t.names, sc.Name)
	}
	return t, nil
}

// Has reports whether the pipeline has a stage with the given name at top
// level.
func (t *Template) Has(name string) bool {
	for _, n := range t.names {
		if n == name {
			return true
		}
	}
	return false
}

// Len is the number of top-level stages.
func (t *Template) Len() int { return len(t.factories) }

// New returns a Pipeline with its own state.
func (t *Template) New() *Pipeline {
	p := &Pipeline{extracted: map[string]any{}}
	for _, f := range t.factories {
		p.stages = append(p.stages, f())
	}
	p.markLast()
	return p
}

// lastStage is implemented by stages that can skip work (filling the
// extracted map) when no stage follows them.
type lastStage interface{ setLast(bool) }

func (p *Pipeline) markLast() {
	for i, s := range p.stages {
		if l, ok := s.(lastStage); ok {
			l.setLast(i == len(p.stages)-1)
		}
	}
}

// Pipeline runs entries through stages. It is not safe for concurrent use.
type Pipeline struct {
	stages    []Stage
	extracted map[string]any
}

// contextual is implemented by stages that may block (limit in wait
// mode) and must stop when the pipeline's context ends.
type contextual interface{ setContext(ctx context.Context) }

// SetContext gives blocking stages the context that ends their waits; an
// entry abandoned that way is neither emitted nor acknowledged.
func (p *Pipeline) SetContext(ctx context.Context) {
	for _, s := range p.stages {
		switch x := s.(type) {
		case contextual:
			x.setContext(ctx)
		case *matchStage:
			if x.nested != nil {
				x.nested.SetContext(ctx)
			}
		}
	}
}

// Prepend returns a pipeline that runs s before p's stages.
func (p *Pipeline) Prepend(s Stage) *Pipeline {
	p.stages = append([]Stage{s}, p.stages...)
	p.markLast()
	return p
}

// Process runs e through the stages and calls emit with the result unless
// it was dropped or held. A dropped entry's ticket is completed here. The
// Extracted map is the pipeline's and is cleared from the emitted entry.
func (p *Pipeline) Process(e *entry.Entry, emit func(*entry.Entry)) {
	clear(p.extracted)
	e.Extracted = p.extracted
	p.run(0, e, emit)
}

func (p *Pipeline) run(from int, e *entry.Entry, emit func(*entry.Entry)) {
	if !runStages(p.stages[from:], e) {
		return
	}
	e.Extracted = nil
	emit(e)
}

// runStages runs stages in order; false means dropped or held. A dropped
// entry whose ticket is still set is acknowledged.
func runStages(stages []Stage, e *entry.Entry) bool {
	for _, s := range stages {
		if !s.Process(e) {
			e.Ticket.Done()
			e.Ticket = entry.Ticket{}
			return false
		}
	}
	return true
}

// Flush releases held entries that are due (all when force) through the
// rest of the pipeline.
func (p *Pipeline) Flush(now time.Time, force bool, emit func(*entry.Entry)) {
	for i, s := range p.stages {
		f, ok := s.(Flusher)
		if !ok {
			continue
		}
		f.Flush(now, force, func(e *entry.Entry) {
			clear(p.extracted)
			e.Extracted = p.extracted
			p.run(i+1, e, emit)
		})
	}
}

// ---- helpers shared by stages ----

// valueString converts an extracted value to the string labels, output and
// templates see.
func valueString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case []byte:
		return string(x), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	case float64:
		return formatFloat(x), true
	case int64:
		return fmt.Sprint(x), true
	case int:
		return fmt.Sprint(x), true
	default:
		b, err := jsonMarshal(x)
		if err != nil {
			return "", false
		}
		return string(b), true
	}
}

// source returns the value a stage reads: the extracted value named src,
// or the line when src is empty.
func source(e *entry.Entry, src string) (string, bool) {
	if src == "" {
		return e.Line, true
	}
	return valueString(e.Extracted[src])
}

func oneOf(s string, allowed ...string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	return false
}

func fieldErr(field string, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}
