package ingester

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Push back-pressure.
//
// The memory budget alone does not bound chunk memory: appends keep adding
// while a flush cycle seals, cuts and uploads, so at 500k lines/s the
// unflushed data overshot a 32 MiB budget to 50-90 MiB, and the live heap
// (and the soft memory limit, which follows it) with it. So a push that
// finds the unflushed data over pushWaitFactor of the budget waits, before
// it decodes its body or appends anything, until a flush cycle brings it
// back under (the flush loop is woken at once). Waiting only delays the
// acknowledgement: nothing is appended or logged to the WAL before the
// wait ends, so a client that gives up has lost nothing it was told was
// stored. The wait ends after pushMaxWait regardless (a failing store
// cannot be flushed to, and agents' timeouts are 10 s or more): the push
// then proceeds as it would have without back-pressure, and memory grows
// past the budget, as before, rather than data being refused.

// pushWaitNum/pushWaitDen is the fraction of the budget past which pushes
// wait: an eighth above it, so the flush loop, woken at the budget, usually
// frees memory before any push has to wait.
const (
	pushWaitNum = 9
	pushWaitDen = 8
)

// defaultPushMaxWait bounds one push's wait for memory.
const defaultPushMaxWait = 5 * time.Second

// memWaiter lets pushes wait for chunk memory to be freed.
type memWaiter struct {
	mu    sync.Mutex
	freed chan struct{} // closed and replaced whenever memory was freed
}

// channel returns the channel the next notify closes.
func (w *memWaiter) channel() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.freed == nil {
		w.freed = make(chan struct{})
	}
	return w.freed
}

// notify wakes every waiting push to look at the memory again.
func (w *memWaiter) notify() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.freed != nil {
		close(w.freed)
		w.freed = nil
	}
}

// pushWaitLimit returns the unflushed bytes past which pushes wait, 0 for
// never: without a budget, or while no flush loop runs to free memory.
func (i *Ingester) pushWaitLimit() int64 {
	if i.memBudget <= 0 || !i.flushing.Load() {
		return 0
	}
	return i.memBudget * pushWaitNum / pushWaitDen
}

// waitForMemory blocks while the unflushed chunk memory is over the push
// wait limit, for at most pushMaxWait. It fails only when ctx ends first
// (the client went away; nothing of its push was accepted) or the ingester
// stops.
func (i *Ingester) waitForMemory(ctx context.Context) error {
	limit := i.pushWaitLimit()
	if limit == 0 || i.mem.unflushed.Load() <= limit {
		return nil
	}
	begin := time.Now()
	timer := time.NewTimer(i.pushMaxWait)
	defer timer.Stop()
	defer func() { i.m.pushWaitSeconds.Observe(time.Since(begin).Seconds()) }()
	for {
		// Take the channel before looking, so a notify in between is not
		// missed.
		freed := i.memWait.channel()
		if i.mem.unflushed.Load() <= limit {
			return nil
		}
		i.checkMemory()
		select {
		case <-freed:
			if i.stopped.Load() {
				return ErrNotReady
			}
		case <-timer.C:
			i.m.pushWaitTimeouts.Inc()
			i.logger.Warn("chunk memory stayed over the budget while a push waited; accepting it anyway (is the object store failing?)",
				"unflushed_bytes", i.mem.unflushed.Load(), "budget_bytes", i.memBudget, "waited", i.pushMaxWait)
			return nil
		case <-ctx.Done():
			return &Error{Status: http.StatusServiceUnavailable, Msg: "push abandoned while waiting for chunk memory to be flushed: " + ctx.Err().Error()}
		}
	}
}
