package chunks

import "unsafe"

// MemoryBytes returns the heap bytes the chunk's data holds: the sealed
// blocks and their filters, the head block's buffers (by capacity, as that
// is what stays allocated), or the encoded form once Encode made it (the
// blocks then point into it). It
// ignores fixed per-chunk overhead. The ingester sums it to enforce its
// memory budget; it is O(blocks).
func (c *MemChunk) MemoryBytes() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := cap(c.head.arena) + cap(c.head.entries)*int(unsafe.Sizeof(headEntry{})) + cap(c.metaBuf)
	if c.encoded != nil {
		return n + cap(c.encoded) // the blocks alias it (Encode)
	}
	for i := range c.blocks {
		n += cap(c.blocks[i].data) + cap(c.blocks[i].filter)
	}
	if c.run.grams != nil {
		n += int(unsafe.Sizeof(*c.run.grams))
	}
	return n
}

// HeadBytes returns the uncompressed bytes (lines and metadata) in the head
// block, which SealHead would compress.
func (c *MemChunk) HeadBytes() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.head.size()
}

// SealHead compresses the head block into a sealed block now, before it
// reaches the block size, so the chunk holds its entries in about a quarter
// of the memory while staying open for appends. The ingester does this under
// memory pressure. A smaller block compresses somewhat worse, so it is
// meant for heads of a good fraction of the block size. Sealing a closed or
// empty head does nothing.
func (c *MemChunk) SealHead() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	return c.cut()
}
