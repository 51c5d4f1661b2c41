package stages

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

func buildDecolorize(n *yaml.Node, o *Options) (factory, error) {
	var cfg struct{}
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	return func() Stage { return &decolorizeStage{} }, nil
}

type decolorizeStage struct{ sb strings.Builder }

func (s *decolorizeStage) Process(e *entry.Entry) bool {
	if strings.IndexByte(e.Line, 0x1b) < 0 {
		return true
	}
	e.Line = Decolorize(e.Line, &s.sb)
	return true
}

// Decolorize removes ANSI escape sequences (CSI `ESC [ ... final`, and
// two-byte `ESC x`) from s.
func Decolorize(s string, sb *strings.Builder) string {
	sb.Reset()
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != 0x1b {
			sb.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			break
		}
		if s[i+1] != '[' {
			i++ // two-byte escape
			continue
		}
		j := i + 2
		for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
			j++
		}
		i = j // skip the final byte too
	}
	return sb.String()
}
