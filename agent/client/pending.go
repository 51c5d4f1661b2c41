package client

import (
	"context"
	"sync"
)

// pending counts the bytes a client holds that are not yet acknowledged
// and makes producers wait while the count is at its limit. One entry is
// always admitted when nothing is held, so an entry larger than the limit
// cannot block forever.
type pending struct {
	mu    sync.Mutex
	used  int
	limit int
	// freed is closed (and replaced) whenever bytes are released.
	freed chan struct{}
}

func newPending(limit int) *pending {
	return &pending{limit: limit, freed: make(chan struct{})}
}

// acquire takes n bytes, waiting for room. It returns false if ctx ends
// first.
func (p *pending) acquire(ctx context.Context, n int) bool {
	for {
		p.mu.Lock()
		if p.used == 0 || p.used+n <= p.limit {
			p.used += n
			p.mu.Unlock()
			return true
		}
		ch := p.freed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// release gives back n bytes and wakes the waiters.
func (p *pending) release(n int) {
	if n == 0 {
		return
	}
	p.mu.Lock()
	p.used -= n
	close(p.freed)
	p.freed = make(chan struct{})
	p.mu.Unlock()
}

// held returns the bytes held.
func (p *pending) held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used
}
