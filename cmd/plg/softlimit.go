package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// softLimitHeadroom is the least room, as a fraction of the live heap, the
// limit leaves above the live heap: the collector then runs at most as often
// as with GOGC=50, never back to back.
const softLimitHeadroom = 0.5

// softMemoryLimit sets limit (bytes) as the runtime's soft memory limit
// (debug.SetMemoryLimit) and keeps it from turning into a hard one: after
// every garbage collection the limit is raised, when needed, to leave the
// heap half its live size to grow into, and lowered back towards limit when
// the live heap shrinks. So an agent holding a large backlog of unsent lines
// (up to max_pending_bytes per client), or a querier answering a query that
// needs more than the limit, uses more memory rather than collecting
// continuously, and returns to the limit afterwards. stop restores the
// limit in force before the call.
func softMemoryLimit(limit int64) (stop func()) {
	t := &memTuner{base: limit, prev: debug.SetMemoryLimit(-1)}
	t.samples = []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	debug.SetMemoryLimit(limit)
	t.arm()
	return t.stop
}

type memTuner struct {
	base    int64
	prev    int64
	mu      sync.Mutex
	stopped bool
	samples []metrics.Sample
}

// gcSentinel is garbage as soon as it is allocated; its finalizer runs
// after the next collection. It holds a pointer so the allocator does not
// combine it with other small objects (whose liveness would delay it).
type gcSentinel struct{ t *memTuner }

func (t *memTuner) arm() {
	runtime.SetFinalizer(&gcSentinel{t: t}, func(s *gcSentinel) {
		if s.t.adjust() {
			s.t.arm()
		}
	})
}

// adjust runs after a collection; it reports whether to keep adjusting.
func (t *memTuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.samples)
	v := func(i int) int64 {
		if t.samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(t.samples[i].Value.Uint64())
	}
	live, total, released, objects, free := v(0), v(1), v(2), v(3), v(4)
	// What the limit counts besides heap objects: stacks, GC metadata,
	// span fragmentation and other runtime memory.
	overhead := total - released - objects - free
	want := limitFor(t.base, live, overhead)
	// Small changes are skipped: the live heap moves a little every cycle.
	if cur := debug.SetMemoryLimit(-1); want != cur && (want == t.base || abs(want-cur) > cur/16) {
		debug.SetMemoryLimit(want)
	}
	return true
}

// limitFor returns the memory limit for a live heap of live bytes and
// overhead bytes of non-heap runtime memory: base, or enough to leave
// softLimitHeadroom of live above it.
func limitFor(base, live, overhead int64) int64 {
	return max(base, overhead+live+int64(float64(live)*softLimitHeadroom))
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func (t *memTuner) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		debug.SetMemoryLimit(t.prev)
	}
}
