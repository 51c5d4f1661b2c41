package store

import (
	"container/list"
	"sync"

	"github.com/plgstack/plg/chunks/index"
)

// segmentCache is an LRU of opened index segments keyed by object name and
// bounded by their total size in bytes. Segments are immutable, so an entry
// never needs invalidation; it only ages out.
type segmentCache struct {
	mu    sync.Mutex
	max   int64
	size  int64
	lru   *list.List // of *cacheEntry, most recently used at the front
	items map[string]*list.Element

	onSize func(int64) // reports the new total size
}

type cacheEntry struct {
	name string
	r    *index.Reader
}

func newSegmentCache(maxBytes int64, onSize func(int64)) *segmentCache {
	return &segmentCache{max: maxBytes, lru: list.New(), items: make(map[string]*list.Element), onSize: onSize}
}

func (c *segmentCache) get(name string) (*index.Reader, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[name]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*cacheEntry).r, true
}

// add caches r under name, evicting least recently used segments to stay
// within the bound. A segment larger than the whole bound is not cached.
func (c *segmentCache) add(name string, r *index.Reader) {
	sz := int64(r.Size())
	if sz > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[name]; ok {
		c.lru.MoveToFront(e)
		return
	}
	c.items[name] = c.lru.PushFront(&cacheEntry{name: name, r: r})
	c.size += sz
	for c.size > c.max {
		old := c.lru.Back()
		ent := old.Value.(*cacheEntry)
		c.lru.Remove(old)
		delete(c.items, ent.name)
		c.size -= int64(ent.r.Size())
	}
	if c.onSize != nil {
		c.onSize(c.size)
	}
}

func (c *segmentCache) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
