package client

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/agent/entry"
	"github.com/plgstack/plg/push"
)

// BenchmarkBatchEncode measures filling a 1 MiB batch of 20 streams and
// encoding it to a push body, per batch.
func BenchmarkBatchEncode(b *testing.B) {
	var streams []labels.Labels
	for i := 0; i < 20; i++ {
		streams = append(streams, labels.FromStrings("app", fmt.Sprintf("app-%d", i), "namespace", "default", "pod", fmt.Sprintf("pod-%d", i)))
	}
	line := `level=info msg="request served" path=/api/v1/items/1 status=200 duration=1.2ms`
	n := (1 << 20) / len(line)
	var req push.Request
	var body, scratch []byte
	bt := newBatch("")
	now := time.Now()
	b.SetBytes(int64(n * len(line)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for j := 0; j < n; j++ {
			e := entry.Entry{Labels: streams[j%len(streams)], Timestamp: int64(j), Line: line}
			bt.add(&e, e.Labels, 0, now)
		}
		bt.request(&req)
		body, scratch = push.AppendBody(body[:0], scratch, &req)
		bt.reset()
	}
	_ = body
}
