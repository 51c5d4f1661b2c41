package log

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
)

// TestGroupedLabels_ByLookupAgreesWithTheMerge compares the by-grouping
// fast path (sorted groups: each label looked up) with the full merge
// (the same groups unsorted) over random streams, metadata, parsed labels
// colliding with both, dropped labels and empty values.
func TestGroupedLabels_ByLookupAgreesWithTheMerge(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	names := []string{"a", "b", "level", "pod", "x", "a_extracted", "level_extracted", "trace"}
	for round := range 3000 {
		var stream, meta []string
		for _, n := range names[:5] {
			if r.Intn(2) == 0 {
				stream = append(stream, n, fmt.Sprint("s", r.Intn(3)))
			}
			if r.Intn(4) == 0 {
				meta = append(meta, n, fmt.Sprint("m", r.Intn(3)))
			}
		}
		var line strings.Builder
		for range r.Intn(6) {
			fmt.Fprintf(&line, "%s=%s ", names[r.Intn(len(names))], []string{"", "v1", "v2"}[r.Intn(3)])
		}
		stages := []Stage{NewLogfmtParser(false, r.Intn(2) == 0)}
		if r.Intn(3) == 0 {
			stages = append(stages, NewDropLabels(NamedLabelMatcher{Name: names[r.Intn(len(names))]}))
		}
		sp := NewPipeline(stages).ForStream(labels.FromStrings(stream...))
		if _, ok := sp.run(0, []byte(line.String()), labels.FromStrings(meta...)); !ok {
			continue
		}
		var groups []string
		for _, n := range names {
			if r.Intn(3) == 0 {
				groups = append(groups, n)
			}
		}
		if len(groups) < 2 {
			continue
		}
		sorted := slices.Clone(groups)
		unsorted := slices.Clone(groups)
		slices.Reverse(unsorted)
		got, gh := sp.builder.GroupedLabels(sorted, false)
		want, wh := sp.builder.GroupedLabels(unsorted, false)
		if !labels.Equal(got, want) || gh != wh {
			t.Fatalf("round %d: stream %v meta %v line %q groups %v: lookup %s, merge %s", round, stream, meta, line.String(), groups, got, want)
		}
	}
}
