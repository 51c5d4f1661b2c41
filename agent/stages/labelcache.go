package stages

import (
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// labelCache memoises "input labels plus these values" so stages that set
// labels per line do not build a new label set for every line of a file
// whose labels rarely change.
type labelCache struct {
	in   labels.Labels
	have bool
	out  map[string]labels.Labels
	key  strings.Builder
	b    *labels.Builder
}

const labelCacheMax = 256

// get returns in with set applied; set sets (name, value) pairs on the
// builder and writes the same values to key.
func (c *labelCache) get(in labels.Labels, key string, set func(b *labels.Builder)) labels.Labels {
	if !c.have || !labels.Equal(c.in, in) {
		c.in, c.have = in, true
		clear(c.out)
	}
	if c.out == nil {
		c.out = map[string]labels.Labels{}
	}
	if l, ok := c.out[key]; ok {
		return l
	}
	if c.b == nil {
		c.b = labels.NewBuilder(in)
	} else {
		c.b.Reset(in)
	}
	set(c.b)
	l := c.b.Labels()
	if len(c.out) >= labelCacheMax {
		clear(c.out)
	}
	c.out[key] = l
	return l
}
