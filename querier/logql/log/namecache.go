package log

import "bytes"

// nameCaches keeps one nameCache per stream (labels builder), so that
// interleaving the lines of several streams does not thrash it.
type nameCaches struct {
	owner *LabelsBuilder
	cur   *nameCache
	all   map[*LabelsBuilder]*nameCache
}

const maxNameCacheStreams = 1024

// forBuilder returns the cache for lbs.
func (c *nameCaches) forBuilder(lbs *LabelsBuilder) *nameCache {
	if c.owner == lbs && c.cur != nil {
		return c.cur
	}
	nc, ok := c.all[lbs]
	if !ok {
		if c.all == nil || len(c.all) >= maxNameCacheStreams {
			c.all = make(map[*LabelsBuilder]*nameCache)
		}
		nc = &nameCache{}
		c.all[lbs] = nc
	}
	c.owner, c.cur = lbs, nc
	return nc
}

// nameCache remembers, by position in the line, the raw key a parser saw
// and the label name it resolved to. Lines of one stream usually repeat
// their keys in the same order, so a byte comparison replaces sanitizing
// and a map lookup. Names depend on the stream (the _extracted suffix), so
// there is one cache per stream.
type nameCache struct {
	entries []nameCacheEntry
}

type nameCacheEntry struct {
	prefix, raw []byte
	name        string
}

const maxNameCacheEntries = 256

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
