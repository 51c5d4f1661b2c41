package client

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
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
	if cap(bt.ents) == 0 || cap(bt.grouped) == 0 {
		t.Fatal("the entry slices were not kept for reuse")
	}
	if se, g := bt.ents[:1][0], bt.grouped[:1][0]; se.e.Line != nil || se.s != nil || g.Line != nil {
		t.Fatal("a sent line is still referenced after reset")
	}
}

func TestBatchRequestGroupsEachStreamsEntriesInOrder(t *testing.T) {
	a, b, c := labels.FromStrings("s", "a"), labels.FromStrings("s", "b"), labels.FromStrings("s", "c")
	bt := newBatch("")
	now := time.Now()
	for round := range 2 { // the second round reuses the slices of the first
		for i, l := range []labels.Labels{a, b, a, c, b, a, c} {
			e := entry.Entry{Labels: l, Line: fmt.Sprintf("%d%d", round, i), Timestamp: int64(i)}
			bt.add(&e, l, 0, now)
		}
		var req push.Request
		bt.request(&req)
		var got []string
		for _, s := range req.Streams {
			lines := []string{}
			for _, e := range s.Entries {
				lines = append(lines, string(e.Line))
			}
			got = append(got, s.Labels+"="+strings.Join(lines, ","))
		}
		want := []string{
			fmt.Sprintf(`{s="a"}=%[1]d0,%[1]d2,%[1]d5`, round),
			fmt.Sprintf(`{s="b"}=%[1]d1,%[1]d4`, round),
			fmt.Sprintf(`{s="c"}=%[1]d3,%[1]d6`, round),
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: request %q, want %q", round, got, want)
		}
		bt.request(&req) // asking twice gives the same request
		if len(req.Streams) != 3 || string(req.Streams[0].Entries[2].Line) != fmt.Sprintf("%d5", round) {
			t.Fatalf("round %d: a second request differs: %+v", round, req.Streams)
		}
		bt.reset()
	}
}

func TestBatchSteadyRoundsDoNotAllocate(t *testing.T) {
	streams := make([]labels.Labels, 100)
	for i := range streams {
		streams[i] = labels.FromStrings("filename", fmt.Sprintf("/var/log/pods/%03d.log", i))
	}
	bt := newBatch("")
	now := time.Now()
	var req push.Request
	// Each round a different third of the streams, with uneven counts: a
	// backlog read over 100 files. Stream structs come and go (a stream idle
	// for a round is forgotten); entry slices must not.
	round := 0
	run := func() {
		for i := range 3000 {
			l := streams[(round*33+i%33+(i%7)*(i%3))%100]
			e := entry.Entry{Labels: l, Line: "line"}
			bt.add(&e, l, 0, now)
		}
		bt.request(&req)
		bt.reset()
		round++
	}
	run()
	const rounds = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range rounds {
		run()
	}
	runtime.ReadMemStats(&after)
	// Forgetting and re-creating streams costs a struct, a label string and
	// a map slot each; entries must cost nothing (with a slice per stream
	// they cost over 100 bytes each).
	if perEntry := float64(after.TotalAlloc-before.TotalAlloc) / (rounds * 3000); perEntry > 16 {
		t.Errorf("%.0f bytes allocated per entry in steady rounds, want at most 16", perEntry)
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
	if c := cap(bt.ents); c > 1024 {
		t.Fatalf("the batch keeps a slice of %d entries after a round of 10", c)
	}
	for range 3 { // steady rounds reuse their slice
		add(100)
		before := cap(bt.ents)
		bt.reset()
		if c := cap(bt.ents); c != before {
			t.Fatalf("a steady round's slice of %d was not kept (now %d)", before, c)
		}
	}
}
