package querier

import (
	"container/list"
	"sync"

	"github.com/plgstack/plg/chunks"
)

// defaultPrefixCacheBytes bounds the chunk prefixes a Querier keeps. A
// prefix (header, block index, filter section) is about 2% of a chunk's
// raw text with the default n-gram filters, so 32 MiB covers about 1.5 GB
// of logs: dashboards' counts, answered from the prefixes' histograms,
// then read no object at all.
const defaultPrefixCacheBytes = 32 << 20

// prefixCache keeps the decoded prefixes of store chunks (DecodePartial
// of the header, index and filter section, no block readable), least
// recently used out first. A chunk's key names its content (checksum and
// bounds), so an entry never goes stale. Safe for concurrent use; the
// chunks it hands out are immutable and shared.
type prefixCache struct {
	mu     sync.Mutex
	budget int
	used   int
	items  map[string]*list.Element
	lru    list.List // of *prefixEntry, most recent first
}

type prefixEntry struct {
	key    string
	c      *chunks.Chunk
	prefix []byte // what c was decoded from
	size   int
}

func newPrefixCache(budget int) *prefixCache {
	return &prefixCache{budget: budget, items: map[string]*list.Element{}}
}

// get returns the cached prefix of the chunk stored under key, decoded
// and as bytes, or a nil chunk.
func (p *prefixCache) get(key string) (*chunks.Chunk, []byte) {
	if p == nil {
		return nil, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	el, ok := p.items[key]
	if !ok {
		return nil, nil
	}
	p.lru.MoveToFront(el)
	e := el.Value.(*prefixEntry)
	return e.c, e.prefix
}

// put caches c, decoded from prefix, under key, evicting the least
// recently used entries past the budget; a prefix larger than the whole
// budget is not kept.
func (p *prefixCache) put(key string, c *chunks.Chunk, prefix []byte) {
	size := len(prefix)
	if p == nil || size > p.budget {
		return
	}
	// The map entry and list element, and the decoded index (two copies
	// of each block's metadata and its slices), roughly.
	size += len(key) + 128 + 256*len(c.Blocks())
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.items[key]; ok {
		return
	}
	p.items[key] = p.lru.PushFront(&prefixEntry{key: key, c: c, prefix: prefix, size: size})
	p.used += size
	for p.used > p.budget {
		el := p.lru.Back()
		e := el.Value.(*prefixEntry)
		p.lru.Remove(el)
		delete(p.items, e.key)
		p.used -= e.size
	}
}
