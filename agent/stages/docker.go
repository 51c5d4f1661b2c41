package stages

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// DockerLine is a parsed Docker json-file line.
type DockerLine struct {
	Log    string
	Stream string
	Time   int64
}

// ParseDocker parses `{"log":"...","stream":"stdout","time":"<RFC3339Nano>"}`.
func ParseDocker(s string) (DockerLine, bool) {
	var l DockerLine
	var ts string
	var seen int
	err := scanFlatObject(s, func(k, v string) {
		switch k {
		case "log":
			l.Log, seen = v, seen|1
		case "stream":
			l.Stream, seen = v, seen|2
		case "time":
			ts, seen = v, seen|4
		}
	})
	if err != nil {
		var slow struct {
			Log    *string `json:"log"`
			Stream string  `json:"stream"`
			Time   string  `json:"time"`
		}
		if json.Unmarshal([]byte(s), &slow) != nil || slow.Log == nil {
			return l, false
		}
		l.Log, l.Stream, ts, seen = *slow.Log, slow.Stream, slow.Time, 7
	}
	if seen&1 == 0 || seen&4 == 0 {
		return l, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return l, false
	}
	l.Time = t.UnixNano()
	return l, true
}

func buildDocker(n *yaml.Node, o *Options) (factory, error) {
	var cfg struct{}
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	return func() Stage { return &dockerStage{opts: o} }, nil
}

// dockerStage parses json-file lines. Docker splits lines over 16 KiB into
// pieces whose log does not end in "\n"; they are joined (up to
// maxDockerJoin) before the entry continues.
type dockerStage struct {
	opts    *Options
	labels  labelCache
	held    entry.Entry
	buf     []byte
	holding bool
	since   time.Time
	last    bool
}

func (s *dockerStage) setLast(v bool) { s.last = v }

const maxDockerJoin = 1 << 20

func (s *dockerStage) Process(e *entry.Entry) bool {
	l, ok := ParseDocker(e.Line)
	if !ok {
		return true
	}
	if e.Extracted != nil && !s.last {
		e.Extracted["stream"] = l.Stream
		e.Extracted["output"] = l.Log
	}
	e.Timestamp = l.Time
	if l.Stream != "" {
		e.Labels = s.labels.get(e.Labels, l.Stream, func(b *labels.Builder) { b.Set("stream", l.Stream) })
	}
	complete := strings.HasSuffix(l.Log, "\n")
	content := strings.TrimSuffix(l.Log, "\n")
	if !complete && len(s.buf)+len(content) < maxDockerJoin {
		if !s.holding {
			s.held = *e
			s.held.Extracted = nil
			s.buf = s.buf[:0]
			s.holding = true
			s.since = s.opts.Now()
		} else {
			s.held.Ticket = s.held.Ticket.Merge(e.Ticket)
		}
		s.buf = append(s.buf, content...)
		e.Ticket = entry.Ticket{}
		return false
	}
	if s.holding {
		s.buf = append(s.buf, content...)
		t := s.held.Ticket.Merge(e.Ticket)
		ext := e.Extracted
		*e = s.held
		e.Extracted, e.Ticket = ext, t
		e.Line = string(s.buf)
		s.holding, s.held = false, entry.Entry{}
		return true
	}
	e.Line = content
	return true
}

func (s *dockerStage) Flush(now time.Time, force bool, emit func(*entry.Entry)) {
	if s.holding && (force || now.Sub(s.since) >= partialWait) {
		e := s.held
		e.Line = string(s.buf)
		s.holding, s.held = false, entry.Entry{}
		emit(&e)
	}
}
