package main

import (
	"io"
	"testing"
	"time"
)

// BenchmarkGenerate measures the corpus generator with its counting: the
// harness's own cost before the clock starts.
func BenchmarkGenerate(b *testing.B) {
	g, err := newGenerator(corpusConfig{Size: 1 << 62, Seed: 1, Streams: 200, End: testEnd, Span: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	b.ReportAllocs()
	for b.Loop() {
		_, _, line := g.next()
		n += int64(len(line))
	}
	b.SetBytes(n / int64(max(b.N, 1)))
}

// BenchmarkBatchEncode measures building and encoding 1 MiB push bodies.
func BenchmarkBatchEncode(b *testing.B) {
	g, err := newGenerator(corpusConfig{Size: 1 << 62, Seed: 1, Streams: 200, End: testEnd, Span: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	bb := newBatchBuilder()
	type line struct {
		s    int
		ts   int64
		text []byte
	}
	var lines []line
	var raw int
	for raw < 1<<20 {
		s, ts, l := g.next()
		lines = append(lines, line{s, ts, append([]byte(nil), l...)})
		raw += len(l)
	}
	b.SetBytes(int64(raw))
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			bb.add(l.s, g.streams[l.s].Labels, l.ts, l.text)
		}
		if err := bb.writeTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
