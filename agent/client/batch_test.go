package client

import (
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/agent/entry"
	"github.com/plgstack/plg/push"
)

func TestBatchReuseKeepsActiveStreamsAndForgetsIdleOnes(t *testing.T) {
	a, b := labels.FromStrings("s", "a"), labels.FromStrings("s", "b")
	bt := newBatch("")
	now := time.Now()
	add := func(l labels.Labels, line string) {
		e := entry.Entry{Labels: l, Line: line}
		bt.add(&e, l, 0, now)
	}
	streamsOf := func() []string {
		var req push.Request
		bt.request(&req)
		var out []string
		for _, s := range req.Streams {
			for _, e := range s.Entries {
				out = append(out, s.Labels+":"+string(e.Line))
			}
		}
		return out
	}
	add(a, "1")
	add(b, "2")
	bt.reset()
	add(a, "3")
	if got := streamsOf(); len(got) != 1 || got[0] != `{s="a"}:3` {
		t.Fatalf("second round sends %v, want only the new entry of a", got)
	}
	if bt.count != 1 || bt.active != 1 {
		t.Fatalf("count %d active %d, want 1 1", bt.count, bt.active)
	}
	bt.reset() // b was idle for a round: forgotten
	if len(bt.order) != 1 || len(bt.streams) != 1 || !labels.Equal(bt.order[0].labels, a) {
		t.Fatalf("after an idle round %d streams kept, want only a", len(bt.order))
	}
	if cap(bt.order[0].entries) == 0 {
		t.Fatal("the active stream's entry slice was not kept for reuse")
	}
	if e := bt.order[0].entries[:1][0]; e.Line != nil {
		t.Fatal("a sent line is still referenced after reset")
	}
}

func TestBatchResetGivesBackTheSliceOfABurst(t *testing.T) {
	l := labels.FromStrings("s", "a")
	bt := newBatch("")
	now := time.Now()
	add := func(n int) {
		for range n {
			e := entry.Entry{Labels: l, Line: "x"}
			bt.add(&e, l, 0, now)
		}
	}
	add(10000) // a burst
	bt.reset()
	add(10) // a quiet round after it
	bt.reset()
	if c := cap(bt.order[0].entries); c > 1024 {
		t.Fatalf("stream keeps a slice of %d entries after a round of 10", c)
	}
	for range 3 { // steady rounds reuse their slice
		add(100)
		before := cap(bt.order[0].entries)
		bt.reset()
		if c := cap(bt.order[0].entries); c != before {
			t.Fatalf("a steady round's slice of %d was not kept (now %d)", before, c)
		}
	}
}
