// Package freelist keeps a bounded number of reusable objects for work
// whose concurrency is bounded (the push path's decode slots, the WAL's
// compressing callers, head buffers per size class), where sync.Pool
// keeps too many.
//
// sync.Pool keeps every object put back until the second collection
// after: at the peak of a busy ingest it held about twice the objects in
// use, and pooled objects are live to the collector, which the soft
// memory limit (cmd/plg) charges half again in RSS. A List keeps at most
// its bound. Like a sync.Pool it lets go of what is not used: an object
// not taken again by the end of the collection after the one following
// its Put is dropped, so an idle process does not keep a burst's buffers.
package freelist

import (
	"runtime"
	"sync"
	"weak"
)

// List is a bounded free list of T. It is safe for concurrent use.
type List[T any] struct {
	mu    sync.Mutex
	cur   []T // put since the last collection
	old   []T // put before it and not taken since; dropped at the next
	limit int
	alloc func() T
}

// New returns a list that keeps at most n free objects (at least 1) and
// makes new ones with alloc when it has none.
func New[T any](n int, alloc func() T) *List[T] {
	l := &List[T]{limit: max(n, 1), alloc: alloc}
	armAging(weak.Make(l))
	return l
}

// Get returns a free object, or a new one.
func (l *List[T]) Get() T {
	l.mu.Lock()
	for _, s := range []*[]T{&l.cur, &l.old} {
		if n := len(*s); n > 0 {
			x := (*s)[n-1]
			var zero T
			(*s)[n-1] = zero
			*s = (*s)[:n-1]
			l.mu.Unlock()
			return x
		}
	}
	l.mu.Unlock()
	return l.alloc()
}

// Put keeps x for a later Get, unless the list is full: x is then left
// to the collector.
func (l *List[T]) Put(x T) {
	l.mu.Lock()
	if len(l.cur)+len(l.old) < l.limit {
		l.cur = append(l.cur, x)
	}
	l.mu.Unlock()
}

// Len returns how many free objects the list holds.
func (l *List[T]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cur) + len(l.old)
}

// Each calls fn for every free object (for tests and accounting).
func (l *List[T]) Each(fn func(T)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.cur {
		fn(x)
	}
	for _, x := range l.old {
		fn(x)
	}
}

// age runs after a collection: what was put before the previous one and
// not taken since is dropped.
func (l *List[T]) age() {
	l.mu.Lock()
	clear(l.old)
	l.old, l.cur = l.cur, l.old[:0]
	l.mu.Unlock()
}

// sentinel is garbage as soon as it is allocated, so its cleanup runs
// after the next collection. It holds a pointer so the allocator does not
// combine it with other small objects, whose liveness would delay it.
type sentinel struct{ _ *byte }

// armAging ages the list after the next collection, and again after each
// one while the list is reachable; the weak pointer lets the list itself
// be collected.
func armAging[T any](w weak.Pointer[List[T]]) {
	runtime.AddCleanup(new(sentinel), func(w weak.Pointer[List[T]]) {
		if l := w.Value(); l != nil {
			l.age()
			armAging(w)
		}
	}, w)
}
