package tail

import (
	"sync"

	"github.com/plgstack/plg/agent/positions"
)

// tracker records, per line handed out, the position just after it, and
// commits to the positions store the position of the longest prefix of lines
// that are all acknowledged. Lines are acknowledged in any order.
type tracker struct {
	mu    sync.Mutex
	path  string
	store *positions.Store

	head  uint64 // sequence number of items[start]
	start int
	items []trackItem
	// closed: the tailer is done; when every item is acknowledged and
	// removeOnDrain is set, the path's position is forgotten.
	closed, removeOnDrain bool
	// committed is the last position this tracker wrote.
	committed positions.Position
	wrote     bool
}

type trackItem struct {
	pos  positions.Position
	read int64 // Unix nanoseconds when the line was read; 0 for marks
	done bool
}

func newTracker(path string, store *positions.Store) *tracker {
	return &tracker{path: path, store: store}
}

// add registers a line ending at pos, read at readNano, and returns its
// sequence number.
func (t *tracker) add(pos positions.Position, readNano int64) uint64 {
	t.mu.Lock()
	seq := t.head + uint64(len(t.items)-t.start)
	t.items = append(t.items, trackItem{pos: pos, read: readNano})
	t.mu.Unlock()
	return seq
}

// mark records a position change that carries no line (a reset after
// truncation, a switch to a new file). It commits as soon as every line
// before it is acknowledged.
func (t *tracker) mark(pos positions.Position) {
	t.mu.Lock()
	t.items = append(t.items, trackItem{pos: pos, done: true})
	t.advanceLocked()
	t.mu.Unlock()
}

// Ack implements entry.Acker.
func (t *tracker) Ack(first, last uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last < t.head {
		return
	}
	if first < t.head {
		first = t.head
	}
	for s := first; s <= last; s++ {
		i := t.start + int(s-t.head)
		if i >= len(t.items) {
			break
		}
		t.items[i].done = true
	}
	t.advanceLocked()
}

func (t *tracker) advanceLocked() {
	i := t.start
	for i < len(t.items) && t.items[i].done {
		i++
	}
	if i == t.start {
		return
	}
	last := t.items[i-1].pos
	t.head += uint64(i - t.start)
	t.start = i
	if t.start == len(t.items) {
		// Drained: keep a small slice, not the peak of a burst, for every
		// one of possibly hundreds of files.
		if cap(t.items) > 256 {
			t.items = nil
		} else {
			t.items = t.items[:0]
		}
		t.start = 0
	} else if t.start > 64 && t.start > len(t.items)/2 {
		// Slide the pending items down once more than half the slice is
		// acknowledged (amortised O(1) per line), so a file's slice stays
		// about twice its lines in flight: with hundreds of files, letting
		// each grow by a thousand acknowledged items first added up to
		// megabytes. A slice far larger than what is pending (a burst's) is
		// reallocated; the wide margin keeps a busy file from reallocating on
		// every batch.
		pending := t.items[t.start:]
		if n := len(pending); cap(t.items) > 2048 && cap(t.items) > 16*n {
			t.items = append(make([]trackItem, 0, 4*n+64), pending...)
		} else {
			t.items = t.items[:copy(t.items, pending)]
		}
		t.start = 0
	}
	if t.store != nil {
		t.store.Set(t.path, last)
		t.committed, t.wrote = last, true
	}
	t.maybeRemoveLocked()
}

// inFlight returns how many lines are handed out but not acknowledged.
func (t *tracker) inFlight() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.items) - t.start
}

// oldestUnacked returns when the oldest line not yet acknowledged was read,
// in Unix nanoseconds, or 0 if every line is acknowledged.
func (t *tracker) oldestUnacked() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, it := range t.items[t.start:] {
		if !it.done {
			return it.read
		}
	}
	return 0
}

// acked returns the last position this tracker committed, or, before its
// first commit, the stored one it started from.
func (t *tracker) acked() (positions.Position, bool) {
	t.mu.Lock()
	pos, ok := t.committed, t.wrote
	t.mu.Unlock()
	if !ok && t.store != nil {
		pos, ok = t.store.Get(t.path)
	}
	return pos, ok
}

// close marks the tracker finished; if remove, the position is deleted once
// all lines are acknowledged.
func (t *tracker) close(remove bool) {
	t.mu.Lock()
	t.closed, t.removeOnDrain = true, remove
	t.maybeRemoveLocked()
	t.mu.Unlock()
}

func (t *tracker) maybeRemoveLocked() {
	if !t.closed || !t.removeOnDrain || t.start != len(t.items) || t.store == nil {
		return
	}
	// A new tailer may already follow a new file at the same path: forget
	// the position only if it is still the one this tracker wrote.
	if cur, ok := t.store.Get(t.path); ok && (!t.wrote || cur == t.committed) {
		t.store.Remove(t.path)
	}
}
