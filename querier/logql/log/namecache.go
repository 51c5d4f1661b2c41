package log

import "bytes"

// nameCache remembers, by position in the line, the raw key a parser saw
// and the label name it resolved to. Lines of one stream usually repeat
// their keys in the same order, so a byte comparison replaces sanitizing
// and a map lookup. Names depend on the stream (the _extracted suffix), so
// the cache is dropped when the labels builder changes.
type nameCache struct {
	owner   *LabelsBuilder
	entries []nameCacheEntry
}

type nameCacheEntry struct {
	prefix, raw []byte
	name        string
}

const maxNameCacheEntries = 256

func (c *nameCache) reset(lbs *LabelsBuilder) {
	if c.owner != lbs {
		c.owner = lbs
		c.entries = c.entries[:0]
	}
}

// get returns the cached name of field k if its prefix and raw key match.
func (c *nameCache) get(k int, prefix, raw []byte) (string, bool) {
	if k < len(c.entries) {
		e := &c.entries[k]
		if bytes.Equal(e.raw, raw) && bytes.Equal(e.prefix, prefix) {
			return e.name, true
		}
	}
	return "", false
}

// put records the name of field k.
func (c *nameCache) put(k int, prefix, raw []byte, name string) {
	if k >= maxNameCacheEntries {
		return
	}
	for len(c.entries) <= k {
		c.entries = append(c.entries, nameCacheEntry{})
	}
	e := &c.entries[k]
	e.prefix = append(e.prefix[:0], prefix...)
	e.raw = append(e.raw[:0], raw...)
	e.name = name
}
