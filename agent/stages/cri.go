package stages

import (
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// CRIConfig is the cri stage. Defaults as in Promtail.
type CRIConfig struct {
	MaxPartialLines            int  `yaml:"max_partial_lines"`
	MaxPartialLineSize         int  `yaml:"max_partial_line_size"`
	MaxPartialLineSizeTruncate bool `yaml:"max_partial_line_size_truncate"`
}

// partialWait bounds how long a partial (P) line waits for its end.
const partialWait = 5 * time.Second

// CRILine is a parsed CRI log line. Content aliases the input.
type CRILine struct {
	Time    int64
	Stream  string
	Partial bool
	Flags   string
	Content string
}

// ParseCRI parses `<RFC3339Nano> <stdout|stderr> <flags> <content>`.
func ParseCRI(s string) (CRILine, bool) {
	var l CRILine
	ts, rest, ok := strings.Cut(s, " ")
	if !ok {
		return l, false
	}
	stream, rest, ok := strings.Cut(rest, " ")
	if !ok || (stream != "stdout" && stream != "stderr") {
		return l, false
	}
	flags, content, _ := strings.Cut(rest, " ")
	if flags == "" {
		return l, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return l, false
	}
	tag, _, _ := strings.Cut(flags, ":")
	return CRILine{Time: t.UnixNano(), Stream: stream, Partial: tag == "P", Flags: flags, Content: content}, true
}

func buildCRI(n *yaml.Node, o *Options) (factory, error) {
	cfg := CRIConfig{MaxPartialLines: 100}
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	if cfg.MaxPartialLines <= 0 {
		return nil, fieldErr("max_partial_lines", "must be positive, got %d", cfg.MaxPartialLines)
	}
	if cfg.MaxPartialLineSize < 0 {
		return nil, fieldErr("max_partial_line_size", "must not be negative")
	}
	return func() Stage { return &criStage{cfg: cfg, opts: o} }, nil
}

type partial struct {
	e     entry.Entry
	buf   []byte
	lines int
	since time.Time
}

type criStage struct {
	cfg      CRIConfig
	opts     *Options
	partials map[string]*partial // by stream
	labels   labelCache
	last     bool // no stage follows: skip the extracted map
}

func (s *criStage) setLast(v bool) { s.last = v }

func (s *criStage) Process(e *entry.Entry) bool {
	l, ok := ParseCRI(e.Line)
	if !ok {
		return true // not CRI: left as is, as Promtail's regex does
	}
	if e.Extracted != nil && !s.last {
		e.Extracted["time"] = e.Line[:strings.IndexByte(e.Line, ' ')]
		e.Extracted["stream"] = l.Stream
		e.Extracted["flags"] = l.Flags
		e.Extracted["content"] = l.Content
	}
	e.Timestamp = l.Time
	e.Labels = s.labels.get(e.Labels, l.Stream, func(b *labels.Builder) { b.Set("stream", l.Stream) })

	p := s.partials[l.Stream]
	if l.Partial {
		if p == nil {
			if s.partials == nil {
				s.partials = map[string]*partial{}
			}
			p = &partial{}
			s.partials[l.Stream] = p
		}
		if p.lines == 0 {
			p.e = *e
			p.e.Extracted = nil
			p.since = s.opts.Now()
			p.buf = p.buf[:0]
		} else {
			p.e.Ticket = p.e.Ticket.Merge(e.Ticket)
		}
		p.buf = s.appendContent(p.buf, l.Content)
		p.lines++
		e.Ticket = entry.Ticket{}
		if p.lines < s.cfg.MaxPartialLines {
			return false
		}
		// Too many partials: send what we have.
		s.release(p, e)
		return true
	}
	if p != nil && p.lines > 0 {
		p.buf = s.appendContent(p.buf, l.Content)
		p.e.Ticket = p.e.Ticket.Merge(e.Ticket)
		s.release(p, e)
		return true
	}
	e.Line = s.limit(l.Content)
	return true
}

func (s *criStage) appendContent(buf []byte, c string) []byte {
	if lim := s.cfg.MaxPartialLineSize; lim > 0 && s.cfg.MaxPartialLineSizeTruncate && len(buf)+len(c) > lim {
		c = c[:max(0, lim-len(buf))]
	}
	return append(buf, c...)
}

func (s *criStage) limit(c string) string {
	if lim := s.cfg.MaxPartialLineSize; lim > 0 && s.cfg.MaxPartialLineSizeTruncate && len(c) > lim {
		return c[:lim]
	}
	return c
}

// release writes the joined partial entry into e and resets p.
func (s *criStage) release(p *partial, e *entry.Entry) {
	ext := e.Extracted
	*e = p.e
	e.Extracted = ext
	e.Line = string(p.buf)
	if ext != nil && !s.last {
		ext["content"] = e.Line
	}
	p.lines = 0
	p.e = entry.Entry{}
}

func (s *criStage) Flush(now time.Time, force bool, emit func(*entry.Entry)) {
	for _, p := range s.partials {
		if p.lines > 0 && (force || now.Sub(p.since) >= partialWait) {
			var e entry.Entry
			s.release(p, &e)
			emit(&e)
		}
	}
}

// AutoDetect returns a fresh cri or docker stage when line is in that
// format, or nil. The agent uses it for files whose pipeline has neither.
func AutoDetect(line string, o *Options) Stage {
	if o == nil {
		o = &Options{}
	}
	o.defaults()
	if _, ok := ParseCRI(line); ok {
		return &criStage{cfg: CRIConfig{MaxPartialLines: 100}, opts: o}
	}
	if strings.HasPrefix(line, "{") {
		if _, ok := ParseDocker(line); ok {
			return &dockerStage{opts: o}
		}
	}
	return nil
}

// Format names the format a stage from AutoDetect parses.
func Format(s Stage) string {
	switch s.(type) {
	case *criStage:
		return "cri"
	case *dockerStage:
		return "docker"
	}
	return ""
}
