package index

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// FuzzOpen feeds arbitrary bytes to Open and, when they open, to every
// query. Nothing may panic; errors must be typed; a segment that answers
// Select must survive a rewrite with its answers unchanged.
func FuzzOpen(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) { openAndQuery(t, b) })
}

// FuzzOpenChecksummed is FuzzOpen with the checksums repaired after
// mutation, so the fuzzer reaches the structural checks and lazy decoders
// behind them instead of stopping at a CRC mismatch.
func FuzzOpenChecksummed(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		recrc(b)
		openAndQuery(t, b)
	})
}

func addSeeds(f *testing.F) {
	f.Add(mustWrite(f))
	f.Add(mustWrite(f, fixture()...))
	f.Add(mustWrite(f, packed(fixture())...))
	v1, err := WriteVersion(fixture(), 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v1)
	f.Add(mustWrite(f, k8sSeries(rand.New(rand.NewPCG(5, 6)), 20, 2, 100)...))
	f.Add([]byte("PLGI\x01"))
	f.Add([]byte("PLGI\x02"))
}

var fuzzMatchers = []*labels.Matcher{
	labels.MustNewMatcher(labels.MatchEqual, "app", "api"),
	labels.MustNewMatcher(labels.MatchNotEqual, "env", "prod"),
	labels.MustNewMatcher(labels.MatchRegexp, "namespace", "prod-.*|staging"),
	labels.MustNewMatcher(labels.MatchRegexp, "namespace", "prod-.*"),
	labels.MustNewMatcher(labels.MatchNotRegexp, "env", ".*g"),
	labels.MustNewMatcher(labels.MatchEqual, "env", ""),
}

func openAndQuery(t *testing.T, b []byte) {
	r, err := Open(b)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedVersion) {
			t.Fatalf("Open returned an untyped error: %v", err)
		}
		return
	}
	for i, m := range fuzzMatchers {
		_, _ = r.Select(minTime, maxTime, m)
		_, _ = r.Select(150, 450, fuzzMatchers[i:]...)
		_, _ = r.LabelNames(minTime, maxTime, m)
		_, _ = r.LabelValues("app", 0, 500, m)
		_, _ = r.Stats(minTime, maxTime, m)
	}
	_, _ = r.LabelNames(minTime, maxTime)
	_, _ = r.LabelValues("app", minTime, maxTime)

	all, err := r.Select(minTime, maxTime)
	if err != nil {
		return
	}
	// The same segment twice must read as once.
	twice, err := NewMultiReader(r, r).Select(minTime, maxTime)
	if err != nil {
		t.Fatalf("MultiReader.Select failed where Reader.Select succeeded: %v", err)
	}
	if d := diffSeries(twice, all); d != "" {
		// A crafted segment may hold duplicate chunks, which the
		// MultiReader deduplicates; anything else is a bug.
		if deduped := dedupAll(all); diffSeries(twice, deduped) != "" {
			t.Fatalf("a segment read twice differs from once: %s", d)
		}
	}
	rewritten, err := Write(all)
	if err != nil {
		return // e.g. a crafted segment with an empty label value
	}
	again, err := mustOpen(t, rewritten).Select(minTime, maxTime)
	if err != nil {
		t.Fatalf("Select on a rewritten segment: %v", err)
	}
	if d := diffSeries(again, all); d != "" {
		t.Fatalf("rewrite changed the segment: %s", d)
	}
}

func dedupAll(ss []Series) []Series {
	out := make([]Series, len(ss))
	for i, s := range ss {
		out[i] = Series{Labels: s.Labels, Fingerprint: s.Fingerprint, Chunks: sortDedupChunks(append([]ChunkRef(nil), s.Chunks...))}
	}
	return out
}
