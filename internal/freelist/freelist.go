// Package freelist keeps a bounded number of reusable objects for work
// whose concurrency is bounded (the push path's decode slots, the WAL's
// compressing callers), where sync.Pool keeps too many.
//
// sync.Pool keeps every object put back until the second collection
// after: at the peak of a busy ingest it held about twice the objects in
// use, and pooled objects are live to the collector, which the soft
// memory limit (cmd/plg) charges half again in RSS. A List keeps at most
// its bound, across collections: after a burst, idle memory is that many
// objects, forever, instead of nothing once two collections have run.
package freelist

// List is a bounded free list of *T. It is safe for concurrent use.
type List[T any] struct {
	free  chan *T
	alloc func() *T
}

// New returns a list that keeps at most n free objects (at least 1) and
// makes new ones with alloc when it has none.
func New[T any](n int, alloc func() *T) *List[T] {
	return &List[T]{free: make(chan *T, max(n, 1)), alloc: alloc}
}

// Get returns a free object, or a new one.
func (l *List[T]) Get() *T {
	select {
	case x := <-l.free:
		return x
	default:
		return l.alloc()
	}
}

// Put keeps x for a later Get, unless the list is full: x is then left
// to the collector.
func (l *List[T]) Put(x *T) {
	select {
	case l.free <- x:
	default:
	}
}

// Len returns how many free objects the list holds.
func (l *List[T]) Len() int { return len(l.free) }
