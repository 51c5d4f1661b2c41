package stages

import (
	"github.com/prometheus/prometheus/model/labels"
)

// labelCache memoises "input labels plus these values" so stages that set
// labels per line do not build a new label set for every line of a file
// whose labels rarely change.
type labelCache struct {
	in   labels.Labels
	have bool
	out  map[string]labels.Labels
	b    *labels.Builder
}

const labelCacheMax = 256

// get returns in with set applied; set sets (name, value) pairs on the
// builder and writes the same values to key.
func (c *labelCache) get(in labels.Labels, key string, set func(b *labels.Builder)) labels.Labels {
	c.check(in)
	if l, ok := c.out[key]; ok {
		return l
	}
	return c.build(in, key, set)
}

// getBytes is get with a byte key: a hit does not allocate.
func (c *labelCache) getBytes(in labels.Labels, key []byte, set func(b *labels.Builder)) labels.Labels {
	c.check(in)
	if l, ok := c.out[string(key)]; ok {
		return l
	}
	return c.build(in, string(key), set)
}

func (c *labelCache) check(in labels.Labels) {
	if !c.have || !labels.Equal(c.in, in) {
		c.in, c.have = in, true
		clear(c.out)
	}
	if c.out == nil {
		c.out = map[string]labels.Labels{}
	}
}

func (c *labelCache) build(in labels.Labels, key string, set func(b *labels.Builder)) labels.Labels {
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
