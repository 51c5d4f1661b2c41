package stages

import (
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// MultilineConfig is the multiline stage: a block starts at a line
// matching FirstLine and takes the following lines until the next first
// line, MaxLines, or MaxWaitTime without a new line.
type MultilineConfig struct {
	FirstLine   string         `yaml:"firstline"`
	MaxWaitTime *time.Duration `yaml:"max_wait_time"`
	MaxLines    *int           `yaml:"max_lines"`
}

func buildMultiline(n *yaml.Node, o *Options) (factory, error) {
	var cfg MultilineConfig
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	if cfg.FirstLine == "" {
		return nil, fieldErr("firstline", "required")
	}
	re, err := regexp.Compile(cfg.FirstLine)
	if err != nil {
		return nil, fieldErr("firstline", "%v", err)
	}
	wait, maxLines := 3*time.Second, 128
	if cfg.MaxWaitTime != nil {
		if *cfg.MaxWaitTime <= 0 {
			return nil, fieldErr("max_wait_time", "must be positive")
		}
		wait = *cfg.MaxWaitTime
	}
	if cfg.MaxLines != nil {
		if *cfg.MaxLines <= 0 {
			return nil, fieldErr("max_lines", "must be positive")
		}
		maxLines = *cfg.MaxLines
	}
	return func() Stage { return &multilineStage{re: re, wait: wait, maxLines: maxLines, opts: o} }, nil
}

type multilineStage struct {
	re       *regexp.Regexp
	wait     time.Duration
	maxLines int
	opts     *Options

	held  entry.Entry
	buf   strings.Builder
	lines int
	last  time.Time
}

func (s *multilineStage) Process(e *entry.Entry) bool {
	first := s.re.MatchString(e.Line)
	if s.lines > 0 && !first {
		// Continuation of the held block.
		s.buf.WriteByte('\n')
		s.buf.WriteString(e.Line)
		s.held.Ticket = s.held.Ticket.Merge(e.Ticket)
		e.Ticket = entry.Ticket{}
		s.lines++
		s.last = s.opts.Now()
		if s.lines >= s.maxLines {
			s.release(e)
			return true
		}
		return false
	}
	if s.lines == 0 && !first {
		// A continuation line with no block: pass it on alone.
		return true
	}
	// A first line: it starts a new block; the previous one (if any) goes on.
	var prev entry.Entry
	had := s.lines > 0
	if had {
		s.release(&prev)
	}
	s.hold(e)
	if !had {
		e.Ticket = entry.Ticket{}
		return false
	}
	ext := e.Extracted
	*e = prev
	e.Extracted = ext
	clear(ext)
	return true
}

func (s *multilineStage) hold(e *entry.Entry) {
	s.held = *e
	s.held.Extracted = nil
	s.buf.Reset()
	s.buf.WriteString(e.Line)
	s.lines = 1
	s.last = s.opts.Now()
}

// release moves the held block into e (keeping e's Extracted).
func (s *multilineStage) release(e *entry.Entry) {
	ext := e.Extracted
	*e = s.held
	e.Extracted = ext
	e.Line = s.buf.String()
	s.held = entry.Entry{}
	s.lines = 0
}

func (s *multilineStage) Flush(now time.Time, force bool, emit func(*entry.Entry)) {
	if s.lines > 0 && (force || now.Sub(s.last) >= s.wait) {
		var e entry.Entry
		s.release(&e)
		emit(&e)
	}
}
