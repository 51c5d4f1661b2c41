package ingester

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/push"
)

// A pusher that found a stream just before the flush loop forgot it must
// not append into the forgotten stream, where nothing would read or flush
// its entries.
func TestAppendToAForgottenStreamIsRefusedAndPushRecreatesIt(t *testing.T) {
	ing := startIngester(t, testConfig(), nil, newFakeStore(), t.TempDir())
	defer ing.Stop(context.Background())
	ctx := context.Background()
	now := time.Now()
	const lbs = `{app="cart"}`
	if err := ing.Push(ctx, "fake", req(pstream(lbs, entry(now, "1")))); err != nil {
		t.Fatal(err)
	}
	tn := ing.lookupTenant("fake")
	old := tn.lookupRaw(lbs)
	if err := ing.flush(ctx, true, false); err != nil {
		t.Fatal(err)
	}
	ing.forgetFlushed(time.Now(), true)
	if tn.lookupRaw(lbs) != nil || tn.numStreams() != 0 {
		t.Fatalf("the flushed, empty stream was not forgotten")
	}
	// What a pusher holding the old pointer would do.
	_, _, err := old.append(&ing.cfg, []push.Entry{entry(now.Add(time.Second), "lost?")}, false, now, &ing.mem, 0, func(*push.Entry, string) {})
	if !errors.Is(err, errStreamRemoved) {
		t.Fatalf("append to a forgotten stream: err = %v, want errStreamRemoved", err)
	}
	if err := ing.Push(ctx, "fake", req(pstream(lbs, entry(now.Add(2*time.Second), "2")))); err != nil {
		t.Fatal(err)
	}
	all := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "app", "cart")}
	its := ing.Select(ctx, "fake", minInt64, maxInt64, 0, all, nil)
	if len(its) != 1 {
		t.Fatalf("%d streams, want 1", len(its))
	}
	var lines []string
	for its[0].Iter.Next() {
		lines = append(lines, string(its[0].Iter.At().Line))
	}
	if len(lines) != 1 || lines[0] != "2" {
		t.Fatalf("in memory after the recreate: %q, want the new entry only (the first is in the store)", lines)
	}
}
