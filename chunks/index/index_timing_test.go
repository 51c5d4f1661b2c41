package index

import (
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

func BenchmarkSelect(b *testing.B) {
	const span = 24 * 3600 * int64(1e9)
	seg := mustWrite(b, k8sSeries(rand.New(rand.NewPCG(7, 8)), 10_000, 4, span)...)
	r := mustOpen(b, seg)
	m := func(typ labels.MatchType, n, v string) *labels.Matcher { return mustMatcher(b, typ, n, v) }
	queries := []struct {
		name       string
		mint, maxt int64
		ms         []*labels.Matcher
	}{
		{"namespace=", 0, span, []*labels.Matcher{m(labels.MatchEqual, "namespace", "prod-api")}},
		{"app=,namespace=~prefix", 0, span, []*labels.Matcher{m(labels.MatchEqual, "app", "api"), m(labels.MatchRegexp, "namespace", "prod-.*")}},
		{"app=~alternation", 0, span, []*labels.Matcher{m(labels.MatchRegexp, "app", "api|web|worker")}},
		{"namespace=~prefix,container!=", 0, span, []*labels.Matcher{m(labels.MatchRegexp, "namespace", "prod-.*"), m(labels.MatchNotEqual, "container", "istio-proxy")}},
		{"pod=~scan", 0, span, []*labels.Matcher{m(labels.MatchRegexp, "pod", ".*-1.*")}},
		{"namespace=,1h", span / 2, span/2 + 3600e9, []*labels.Matcher{m(labels.MatchEqual, "namespace", "prod-api")}},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			b.SetBytes(int64(len(seg)))
			b.ReportAllocs()
			var n int
			for b.Loop() {
				ss, err := r.Select(q.mint, q.maxt, q.ms...)
				if err != nil {
					b.Fatal(err)
				}
				n = len(ss)
			}
			b.ReportMetric(float64(n), "series/op")
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	seg := mustWrite(b, k8sSeries(rand.New(rand.NewPCG(9, 10)), 100_000, 4, 24*3600e9)...)
	b.SetBytes(int64(len(seg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(seg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	ss := k8sSeries(rand.New(rand.NewPCG(11, 12)), 10_000, 4, 24*3600e9)
	seg := mustWrite(b, ss...)
	b.SetBytes(int64(len(seg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Write(ss); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMultiReaderSelect(b *testing.B) {
	// A day of flushes: 24 segments, each with every series and one chunk.
	const span = 24 * 3600 * int64(1e9)
	base := k8sSeries(rand.New(rand.NewPCG(13, 14)), 2_000, 1, span)
	var readers []*Reader
	var size int
	for h := range int64(24) {
		ss := make([]Series, len(base))
		for i, s := range base {
			ss[i] = series(s.Labels, [2]int64{h * 3600e9, (h+1)*3600e9 - 1})
		}
		seg := mustWrite(b, ss...)
		size += len(seg)
		readers = append(readers, mustOpen(b, seg))
	}
	mr := NewMultiReader(readers...)
	ms := []*labels.Matcher{mustMatcher(b, labels.MatchEqual, "namespace", "prod-api")}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mr.Select(0, span, ms...); err != nil {
			b.Fatal(err)
		}
	}
}
