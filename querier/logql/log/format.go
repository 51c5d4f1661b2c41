package log

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/prometheus/common/model"
)

// formatTemplate is a compiled line_format / label_format template with the
// per-line state its functions read and the label names it references.
type formatTemplate struct {
	tmpl   *template.Template
	simple []templateSegment // set when the template is only text and {{.label}}
	fields []string          // labels the template reads, when all is false
	all    bool              // the template reads the whole label map
	line   []byte            // current line, for __line__
	ts     int64             // current timestamp, for __timestamp__
	rc     regexCache
}

func newFormatTemplate(name, text string) (*formatTemplate, error) {
	ft := &formatTemplate{}
	funcs := templateFuncs(&ft.rc)
	funcs["__line__"] = func() string { return string(ft.line) }
	funcs["__timestamp__"] = func() time.Time { return time.Unix(0, ft.ts) }
	t, err := template.New(name).Option("missingkey=zero").Funcs(funcs).Parse(text)
	if err != nil {
		return nil, err
	}
	ft.tmpl = t
	ft.simple = simpleSegments(t)
	seen := map[string]bool{}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			ft.walk(tt.Tree.Root, seen)
		}
	}
	return ft, nil
}

// walk collects the fields the template reads; anything that may read the
// whole map (., $, range, with, template calls) sets all.
func (ft *formatTemplate) walk(n parse.Node, seen map[string]bool) {
	if n == nil || ft.all {
		return
	}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			ft.fields = append(ft.fields, name)
		}
	}
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return
		}
		for _, c := range x.Nodes {
			ft.walk(c, seen)
		}
	case *parse.ActionNode:
		ft.walk(x.Pipe, seen)
	case *parse.PipeNode:
		if x == nil {
			return
		}
		for _, c := range x.Cmds {
			ft.walk(c, seen)
		}
	case *parse.CommandNode:
		for _, a := range x.Args {
			ft.walk(a, seen)
		}
	case *parse.FieldNode:
		add(x.Ident[0])
	case *parse.ChainNode:
		ft.walk(x.Node, seen)
	case *parse.VariableNode:
		if x.Ident[0] == "$" && len(x.Ident) > 1 {
			add(x.Ident[1])
		} else {
			ft.all = true
		}
	case *parse.DotNode:
		ft.all = true
	case *parse.IfNode:
		ft.walk(x.Pipe, seen)
		ft.walk(x.List, seen)
		ft.walk(x.ElseList, seen)
	case *parse.RangeNode, *parse.WithNode, *parse.TemplateNode:
		ft.all = true
	}
}

// templateSegment is literal text or, when label is set, a label's value.
type templateSegment struct {
	text  string
	label string
}

// simpleSegments returns the template as segments when it consists only of
// text and {{.label}} actions, which then render without text/template (a
// missing label renders empty, as with missingkey=zero).
func simpleSegments(t *template.Template) []templateSegment {
	if len(t.Templates()) != 1 || t.Tree == nil || t.Tree.Root == nil {
		return nil
	}
	var segs []templateSegment
	for _, n := range t.Tree.Root.Nodes {
		switch x := n.(type) {
		case *parse.TextNode:
			segs = append(segs, templateSegment{text: string(x.Text)})
		case *parse.ActionNode:
			p := x.Pipe
			if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
				return nil
			}
			f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok || len(f.Ident) != 1 {
				return nil
			}
			segs = append(segs, templateSegment{label: f.Ident[0]})
		default:
			return nil
		}
	}
	if segs == nil {
		segs = []templateSegment{}
	}
	return segs
}

// render writes the template for the current line into buf.
func (ft *formatTemplate) render(buf *bytes.Buffer, data map[string]string, lbs *LabelsBuilder) error {
	if ft.simple != nil {
		for _, s := range ft.simple {
			if s.label == "" {
				buf.WriteString(s.text)
			} else if v, ok := lbs.Get(s.label); ok {
				buf.WriteString(v)
			}
		}
		return nil
	}
	ft.fill(data, lbs)
	return ft.tmpl.Execute(buf, data)
}

// fill loads the labels the template reads into data.
func (ft *formatTemplate) fill(data map[string]string, lbs *LabelsBuilder) {
	clear(data)
	if ft.all {
		for _, l := range lbs.current() {
			data[l.Name] = l.Value
		}
		return
	}
	for _, f := range ft.fields {
		if v, ok := lbs.Get(f); ok {
			data[f] = v
		}
	}
}

// LineFormatter is `| line_format "{{.a}} {{__line__}}"`.
type LineFormatter struct {
	ft   *formatTemplate
	data map[string]string
	buf  bytes.Buffer
}

// NewLineFormatter compiles a line_format template: Go text/template over
// the line's labels, with Loki's functions plus __line__ and __timestamp__.
// An execution error keeps the line unchanged and sets
// __error__=TemplateFormatErr.
func NewLineFormatter(tmpl string) (*LineFormatter, error) {
	ft, err := newFormatTemplate("line", tmpl)
	if err != nil {
		return nil, fmt.Errorf("line_format %q: %w", tmpl, err)
	}
	return &LineFormatter{ft: ft, data: make(map[string]string)}, nil
}

// Process implements Stage.
func (f *LineFormatter) Process(ts int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	f.ft.line, f.ft.ts = line, ts
	f.buf.Reset()
	err := f.ft.render(&f.buf, f.data, lbs)
	f.ft.line = nil
	if err != nil {
		lbs.setError(ErrTemplateFormat, err.Error())
		return line, true
	}
	return f.buf.Bytes(), true
}

// LabelFmt is one `dst=src` (Rename) or `dst="{{template}}"` of
// label_format.
type LabelFmt struct {
	Name   string
	Value  string
	Rename bool
}

type labelFmt struct {
	LabelFmt
	ft *formatTemplate // nil for renames and constant values
}

// LabelFormatter is `| label_format a=b, c="{{.d}}"`.
type LabelFormatter struct {
	fmts []labelFmt
	data map[string]string
	buf  bytes.Buffer
}

// NewLabelFormatter returns the label_format stage. Each name may appear
// once. Templates see the labels as they were before this stage's
// templates ran; a rename moves the value of src to dst and removes src.
func NewLabelFormatter(fmts []LabelFmt) (*LabelFormatter, error) {
	seen := map[string]bool{}
	lf := &LabelFormatter{data: make(map[string]string)}
	for _, f := range fmts {
		if !model.LegacyValidation.IsValidLabelName(f.Name) || f.Name == ErrorLabel {
			return nil, fmt.Errorf("label_format: label %q cannot be formatted", f.Name)
		}
		if seen[f.Name] {
			return nil, fmt.Errorf("label_format: multiple label name %q not allowed in a single format operation", f.Name)
		}
		seen[f.Name] = true
		lf1 := labelFmt{LabelFmt: f}
		if !f.Rename && strings.Contains(f.Value, "{{") {
			ft, err := newFormatTemplate(f.Name, f.Value)
			if err != nil {
				return nil, fmt.Errorf("label_format %s=%q: %w", f.Name, f.Value, err)
			}
			lf1.ft = ft
		}
		lf.fmts = append(lf.fmts, lf1)
	}
	return lf, nil
}

// Process implements Stage.
func (f *LabelFormatter) Process(ts int64, line []byte, lbs *LabelsBuilder) ([]byte, bool) {
	filled := false
	for i := range f.fmts {
		lf := &f.fmts[i]
		switch {
		case lf.Rename:
			if lf.Value == lf.Name {
				continue
			}
			if v, ok := lbs.Get(lf.Value); ok {
				lbs.Set(lf.Name, v)
				lbs.del1(lf.Value)
			}
		case lf.ft == nil:
			lbs.Set(lf.Name, lf.Value)
		default:
			if !filled {
				f.fillAll(lbs)
				filled = true
			}
			lf.ft.line, lf.ft.ts = line, ts
			f.buf.Reset()
			err := lf.ft.tmpl.Execute(&f.buf, f.data)
			lf.ft.line = nil
			if err != nil {
				lbs.setError(ErrTemplateFormat, err.Error())
				continue
			}
			lbs.SetBytes(lf.Name, f.buf.Bytes())
		}
	}
	return line, true
}

// fillAll snapshots the labels every template of the stage reads.
func (f *LabelFormatter) fillAll(lbs *LabelsBuilder) {
	clear(f.data)
	for i := range f.fmts {
		ft := f.fmts[i].ft
		if ft == nil {
			continue
		}
		if ft.all {
			for _, l := range lbs.current() {
				f.data[l.Name] = l.Value
			}
			return
		}
		for _, name := range ft.fields {
			if v, ok := lbs.Get(name); ok {
				f.data[name] = v
			}
		}
	}
}
