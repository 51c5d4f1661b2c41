package chunks

import "unsafe"

// MemoryBytes returns the heap bytes the chunk's data holds: the sealed
// blocks and their filters, the head block's buffers (by capacity, as that
// is what stays allocated) and the encoded form once Encode cached it. It
// ignores fixed per-chunk overhead. The ingester sums it to enforce its
// memory budget; it is O(blocks).
func (c *MemChunk) MemoryBytes() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := cap(c.head.arena) + cap(c.head.entries)*int(unsafe.Sizeof(headEntry{})) + cap(c.encoded) + cap(c.metaBuf)
	for i := range c.blocks {
		n += cap(c.blocks[i].data) + cap(c.blocks[i].filter)
	}
	return n
}
