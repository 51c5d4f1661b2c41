package store

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks/index"
)

func sortChunks(cs []index.ChunkRef) {
	slices.SortFunc(cs, func(a, b index.ChunkRef) int {
		if a.Fingerprint != b.Fingerprint {
			if a.Fingerprint < b.Fingerprint {
				return -1
			}
			return 1
		}
		return int(a.MinT - b.MinT)
	})
}

func TestCompactIndexMergesAPeriod(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		ctx := context.Background()
		ing, _ := newTestStore(t, bkt)
		api, web := labels.FromStrings("app", "api"), labels.FromStrings("app", "web")
		var want []index.ChunkRef
		for i := range int64(4) {
			a, w := ref(api, 10*hour+i*10, 10*hour+i*10+5), ref(web, 10*hour+i*10, 10*hour+i*10+5)
			want = append(want, a, w)
			if err := ing.PutIndex(ctx, "t", "ing", []index.Series{seriesOf(api, a), seriesOf(web, w)}); err != nil {
				t.Fatal(err)
			}
		}
		// A chunk in the next period must not be touched.
		next := ref(api, 11*hour, 11*hour+1)
		if err := ing.PutIndex(ctx, "t", "ing", []index.Series{seriesOf(api, next)}); err != nil {
			t.Fatal(err)
		}
		// One querier has the segments downloaded, another only a cached
		// listing naming them: both must see the same data afterwards.
		warm, _ := newTestStore(t, bkt)
		selectAll(t, warm, "t", 10*hour, 11*hour-1)
		listedOnly, _ := newTestStore(t, bkt)
		if _, err := listedOnly.segmentNames(ctx, indexDir("t", 10), false); err != nil {
			t.Fatal(err)
		}

		compactor, _ := newTestStore(t, bkt)
		n, err := compactor.CompactIndex(ctx, "t", 10*hour+123)
		if err != nil || n != 4 {
			t.Fatalf("CompactIndex = %d, %v; want 4 merged", n, err)
		}
		var keys []string
		if err := bkt.Iter(ctx, indexDir("t", 10), func(k string) error { keys = append(keys, k); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || !strings.Contains(keys[0], "/"+CompactorWriter+"-") {
			t.Errorf("period 10 holds %q, want one compactor segment", keys)
		}
		sortChunks(want)
		for name, q := range map[string]*Store{"compactor": compactor, "warm querier": warm, "querier with stale listing": listedOnly} {
			got := chunksOf(selectAll(t, q, "t", 10*hour, 11*hour-1))
			sortChunks(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s after compaction: got %+v\nwant %+v", name, got, want)
			}
		}
		if got := chunksOf(selectAll(t, compactor, "t", 11*hour, 12*hour-1)); !slices.Equal(got, []index.ChunkRef{next}) {
			t.Errorf("next period changed: %+v", got)
		}
		if n, err := compactor.CompactIndex(ctx, "t", 10*hour); err != nil || n != 0 {
			t.Errorf("compacting a compacted period = %d, %v; want 0, nil", n, err)
		}
	})
}
