package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestLimitForKeepsHeadroomAboveTheLiveHeap(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name                 string
		base, live, overhead int64
		want                 int64
	}{
		{"small live heap: the base limit", 24 * mib, 8 * mib, 4 * mib, 24 * mib},
		{"just under: still the base", 24 * mib, 12 * mib, 6 * mib, 24 * mib},
		{"backlog: live plus half of it plus overhead", 24 * mib, 64 * mib, 6 * mib, 102 * mib},
		{"no base: always the headroom", 0, 10 * mib, 2 * mib, 17 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := limitFor(tc.base, tc.live, tc.overhead); got != tc.want {
				t.Errorf("limitFor(%d, %d, %d) = %d MiB, want %d MiB", tc.base/mib, tc.live/mib, tc.overhead/mib, got/mib, tc.want/mib)
			}
		})
	}
}

var memLimitSink []byte

// waitLimit collects garbage until the limit satisfies ok (the tuner runs
// from a finalizer, after a collection) or a deadline passes.
func waitLimit(t *testing.T, ok func(int64) bool) int64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
		cur := debug.SetMemoryLimit(-1)
		if ok(cur) || time.Now().After(deadline) {
			return cur
		}
	}
}

func TestSoftMemoryLimitRisesWithTheLiveHeapAndComesBack(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	const base = 4 << 20
	stop := softMemoryLimit(base)
	defer func() {
		stop()
		if got := debug.SetMemoryLimit(-1); got != before {
			t.Errorf("after stop the limit is %d, want the previous %d", got, before)
		}
	}()

	// A live heap far above the base limit: the limit must leave room
	// above it, or the collector would run back to back.
	const live = 64 << 20
	memLimitSink = make([]byte, live)
	for i := range memLimitSink {
		memLimitSink[i] = byte(i)
	}
	got := waitLimit(t, func(l int64) bool { return l >= live*3/2 })
	if got < live*3/2 {
		t.Fatalf("with %d MiB live the limit is %d MiB, want at least %d MiB", live>>20, got>>20, live*3/2>>20)
	}

	// The backlog is gone: the limit comes back down, to the base or to
	// what the test binary's own small heap needs above it.
	memLimitSink = nil
	got = waitLimit(t, func(l int64) bool { return l < live/4 })
	if got >= live/4 || got < base {
		t.Fatalf("after the live heap shrank the limit is %d MiB, want between the base %d MiB and %d MiB", got>>20, base>>20, live/4>>20)
	}
}

func TestSoftMemoryLimitStopsAdjustingAfterStop(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	stop := softMemoryLimit(4 << 20)
	stop()
	stop() // idempotent
	const mine = 1 << 40
	debug.SetMemoryLimit(mine)
	memLimitSink = make([]byte, 32<<20)
	defer func() { memLimitSink = nil }()
	for range 3 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	if got := debug.SetMemoryLimit(-1); got != mine {
		t.Errorf("a stopped tuner changed the limit to %d", got)
	}
}
