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
// reads and decodes the prefixes the cache does not hold (at 3 GB: a
// rare-token search 228 ms with 32 MiB, 101 ms with all prefixes cached,
// before the cache resisted scans).
const DefaultPrefixCacheMB = 32

// prefixCache keeps the decoded prefixes of store chunks (DecodePartial
// of the header, index and filter section, no block readable). A chunk's
// key names its content (checksum and bounds), so an entry never goes
// stale. Safe for concurrent use; the chunks it hands out are immutable
// and shared.
//
// Eviction is from the cold end of a list. A hit moves an entry to the
// hot end; a new entry goes to the cold end, but one in hotInsertEvery
// to the hot end (bimodal insertion; Qureshi et al., "Adaptive insertion
// policies for high performance caching", ISCA 2007). A query over more
// chunks than the cache holds asks for them in the same order every
// time: inserted at the hot end (plain LRU), each entry is evicted before
// it is asked for again and such a query never hits, while inserted at
// the cold end a new entry displaces only the previous new one, so most
// of what is cached stays and hits. The hot insertions let a changed
// working set in over a few queries.
type prefixCache struct {
	mu      sync.Mutex
	budget  int
	used    int
	items   map[string]*list.Element
	lru     list.List // of *prefixEntry, hot end first
	inserts int

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

// put caches c, decoded from prefix, under key, evicting entries from
// the cold end past the budget; a prefix larger than the whole budget is
// not kept.
func (p *prefixCache) put(key string, c *chunks.Chunk, prefix []byte) {
	if p == nil {
		return
	}
	// The map entry and list element, and the decoded index (two copies
	// of each block's metadata and its slices), roughly.
	size := len(prefix) + len(key) + 128 + 256*len(c.Blocks())
	if size > p.budget {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.items[key]; ok {
		return
	}
	// Evict before inserting, so a cold insertion does not evict itself.
	for p.used+size > p.budget && p.lru.Len() > 0 {
		el := p.lru.Back()
		e := el.Value.(*prefixEntry)
		p.lru.Remove(el)
		delete(p.items, e.key)
		p.used -= e.size
	}
	e := &prefixEntry{key: key, c: c, prefix: prefix, size: size}
	p.inserts++
	if p.inserts%hotInsertEvery == 0 {
		p.items[key] = p.lru.PushFront(e)
	} else {
		p.items[key] = p.lru.PushBack(e)
	}
	p.used += size
}

// hotInsertEvery is how often a new entry goes to the hot end of the
// list. Simulated with equal entries (cache of 100, TestPrefixCache*):
// 1 in 8, 16, 32 gives 42%, 47%, 48% hits to scans over twice the cache
// (5%, 11%, 14% over six times), while a cache full of entries no longer
// asked for takes 18, 35, 71 scans of a new working set of half its size
// to hold 90% of it.
const hotInsertEvery = 16

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
