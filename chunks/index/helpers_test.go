package index

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

const (
	minTime = math.MinInt64
	maxTime = math.MaxInt64
)

// series builds a Series from "name=value" pairs in ls and [minT, maxT]
// spans, deriving the fingerprint from the labels and the chunk checksum
// and sizes from the span so each chunk is distinct.
func series(ls labels.Labels, spans ...[2]int64) Series {
	s := Series{Labels: ls, Fingerprint: ls.Hash()}
	for _, sp := range spans {
		s.Chunks = append(s.Chunks, chunk(s.Fingerprint, sp[0], sp[1]))
	}
	return s
}

func chunk(fp uint64, minT, maxT int64) ChunkRef {
	return ChunkRef{
		Fingerprint:       fp,
		MinT:              minT,
		MaxT:              maxT,
		Checksum:          uint32(minT*31 + maxT),
		Size:              uint32(maxT-minT) + 100,
		Entries:           uint32(maxT-minT)/10 + 1,
		UncompressedBytes: uint32(maxT-minT)*3 + 1000,
	}
}

func mustWrite(t testing.TB, ss ...Series) []byte {
	t.Helper()
	b, err := Write(ss)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return b
}

func mustOpen(t testing.TB, b []byte) *Reader {
	t.Helper()
	r, err := Open(b)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

func mustMatcher(t testing.TB, typ labels.MatchType, name, value string) *labels.Matcher {
	t.Helper()
	m, err := labels.NewMatcher(typ, name, value)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// naiveSelect is the reference the postings-based query is checked
// against: a full scan applying each matcher to each series' label value.
func naiveSelect(ss []Series, mint, maxt int64, ms ...*labels.Matcher) []Series {
	norm, err := normalize(ss)
	if err != nil {
		panic(err)
	}
	var out []Series
	for _, s := range norm {
		ok := true
		for _, m := range ms {
			if !m.Matches(s.Labels.Get(m.Name)) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		var cs []ChunkRef
		for _, c := range s.Chunks {
			if c.Overlaps(mint, maxt) {
				cs = append(cs, c)
			}
		}
		if len(cs) > 0 {
			out = append(out, Series{Labels: s.Labels, Fingerprint: s.Fingerprint, Chunks: cs})
		}
	}
	return out
}

func labelStrings(ss []Series) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Labels.String()
	}
	return out
}

func diffSeries(got, want []Series) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d series %v, want %d %v", len(got), labelStrings(got), len(want), labelStrings(want))
	}
	for i := range got {
		if !labels.Equal(got[i].Labels, want[i].Labels) || got[i].Fingerprint != want[i].Fingerprint {
			return fmt.Sprintf("series %d: got %s/%x, want %s/%x", i, got[i].Labels, got[i].Fingerprint, want[i].Labels, want[i].Fingerprint)
		}
		if !slices.Equal(got[i].Chunks, want[i].Chunks) {
			return fmt.Sprintf("series %d %s: got chunks %+v, want %+v", i, got[i].Labels, got[i].Chunks, want[i].Chunks)
		}
	}
	return ""
}

// k8sSeries generates n series with typical Kubernetes labels, each with
// chunksPer chunks spread over [0, span).
func k8sSeries(rng *rand.Rand, n, chunksPer int, span int64) []Series {
	namespaces := []string{"prod-api", "prod-web", "prod-db", "staging-api", "staging-web", "dev", "monitoring", "kube-system"}
	apps := []string{"api", "web", "worker", "postgres", "redis", "nginx", "prometheus", "coredns", "loki", "grafana"}
	containers := []string{"main", "sidecar", "istio-proxy", "init"}
	out := make([]Series, 0, n)
	for i := range n {
		app := apps[i%len(apps)]
		ns := namespaces[(i/len(apps))%len(namespaces)]
		ls := labels.FromStrings(
			"app", app,
			"container", containers[i%len(containers)],
			"job", ns+"/"+app,
			"namespace", ns,
			"node", fmt.Sprintf("node-%03d", i%50),
			"pod", fmt.Sprintf("%s-%08x-%d", app, rng.Uint32(), i),
		)
		spans := make([][2]int64, chunksPer)
		for c := range spans {
			lo := rng.Int64N(span)
			spans[c] = [2]int64{lo, lo + rng.Int64N(span/10+1)}
		}
		out = append(out, series(ls, spans...))
	}
	return out
}

// packed returns a copy of ss with its chunks spread over three packs, back
// to back in each as a flush writes them, except every fourth chunk, left
// a standalone object as in a version 1 segment.
func packed(ss []Series) []Series {
	out := make([]Series, len(ss))
	offs := make(map[string]uint64)
	k := 0
	for i, s := range ss {
		out[i] = Series{Labels: s.Labels, Fingerprint: s.Fingerprint, Chunks: slices.Clone(s.Chunks)}
		for j := range out[i].Chunks {
			c := &out[i].Chunks[j]
			k++
			if k%4 == 0 {
				continue
			}
			c.Pack = fmt.Sprintf("ingester-%d-%d-%x.pack", k%3, 1763769600123456789+k%3, 1000+k%3)
			c.Offset = offs[c.Pack]
			offs[c.Pack] += uint64(c.Size)
		}
	}
	return out
}
