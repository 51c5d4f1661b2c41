package querier

import (
	"container/list"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plgstack/plg/chunks"
)

// DefaultPrefixCacheMB bounds the chunk prefixes a Querier keeps, in MiB.
// A prefix (header, block index, filter section) is about 2% of a chunk's
// raw text with the default n-gram filters, so 32 MiB covers about 1.5 GB
// of logs: dashboards' counts, answered from the prefixes' histograms,
// then read no object at all. Past that, every query over the whole range
// reads and decodes the prefixes again (at 3 GB: a rare-token search 228
// ms with 32 MiB, 101 ms with all prefixes cached).
const DefaultPrefixCacheMB = 32

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

	hits, misses atomic.Int64
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
		p.misses.Add(1)
		return nil, nil
	}
	p.hits.Add(1)
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

func (p *prefixCache) bytes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used
}

// register exports the cache's size and hit rate to reg.
func (p *prefixCache) register(reg prometheus.Registerer) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "plg_querier_chunk_prefix_cache_bytes",
			Help: "Bytes of store chunk prefixes (header, block index, filters) the querier keeps; bounded by querier.chunk_prefix_cache_mb.",
		}, func() float64 { return float64(p.bytes()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "plg_querier_chunk_prefix_cache_requests_total",
			Help:        "Lookups of store chunk prefixes in the querier's cache, by result.",
			ConstLabels: prometheus.Labels{"result": "hit"},
		}, func() float64 { return float64(p.hits.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "plg_querier_chunk_prefix_cache_requests_total",
			Help:        "Lookups of store chunk prefixes in the querier's cache, by result.",
			ConstLabels: prometheus.Labels{"result": "miss"},
		}, func() float64 { return float64(p.misses.Load()) }),
	)
}
