package querier

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plgstack/plg/chunks"
)

// oneEntryChunk returns a decoded one-entry chunk and its bytes.
func oneEntryChunk(t *testing.T) (*chunks.Chunk, []byte) {
	t.Helper()
	mc := chunks.NewMemChunk(chunks.None, 0, 0)
	if _, err := mc.Append(chunks.Entry{Timestamp: 1, Line: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	data, err := mc.Encode()
	if err != nil {
		t.Fatal(err)
	}
	c, err := chunks.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return c, data
}

func TestPrefixCacheEvictsFromTheColdEndPastItsBudget(t *testing.T) {
	c, _ := oneEntryChunk(t)
	prefix := make([]byte, 1000)
	entry := 1000 + len("k0") + 128 + 256*len(c.Blocks())
	p := newPrefixCache(3 * entry)
	for i := range 3 {
		p.put(fmt.Sprintf("k%d", i), c, prefix)
	}
	if got, _ := p.get("k0"); got != c { // k0 is now at the hot end
		t.Fatal("k0 not cached")
	}
	p.put("k3", c, prefix) // evicts k2, the newest entry not asked for since
	for key, want := range map[string]bool{"k0": true, "k1": true, "k2": false, "k3": true} {
		if got, b := p.get(key); (got != nil) != want || (want && len(b) != len(prefix)) {
			t.Errorf("%s cached: %v, want %v", key, got != nil, want)
		}
	}
	if p.used > p.budget {
		t.Errorf("%d bytes held, budget %d", p.used, p.budget)
	}
	p.put("huge", c, make([]byte, 3*entry))
	if got, _ := p.get("huge"); got != nil {
		t.Error("a prefix over the whole budget was kept")
	}
	if got, _ := p.get("k0"); got == nil {
		t.Error("a prefix over the whole budget evicted the others")
	}
	var nilCache *prefixCache
	nilCache.put("k", c, prefix)
	if got, _ := nilCache.get("k"); got != nil {
		t.Error("a nil cache returned a chunk")
	}
}

// scan asks for keys prefix0..prefix(n-1) in order, putting the misses,
// and returns the hits.
func scan(p *prefixCache, c *chunks.Chunk, name string, n int) int {
	hits := 0
	for i := range n {
		key := fmt.Sprintf("%s%d", name, i)
		if got, _ := p.get(key); got != nil {
			hits++
			continue
		}
		p.put(key, c, make([]byte, 1000))
	}
	return hits
}

func TestPrefixCacheResistsScansLargerThanItself(t *testing.T) {
	c, _ := oneEntryChunk(t)
	entry := 1000 + len("a000") + 128 + 256*len(c.Blocks())
	p := newPrefixCache(100 * entry)
	scan(p, c, "a", 200)
	// Plain LRU evicts every entry before the scan comes back to it and
	// never hits.
	if hits := scan(p, c, "a", 200); hits < 80 {
		t.Errorf("%d of 200 lookups hit on the second scan of twice the cache, want at least 80", hits)
	}
	// A new working set replaces the old one over a few queries.
	for range 60 {
		scan(p, c, "b", 50)
	}
	if hits := scan(p, c, "b", 50); hits < 45 {
		t.Errorf("%d of 50 lookups of the new working set hit, want at least 45", hits)
	}
	if p.used > p.budget {
		t.Errorf("%d bytes held, budget %d", p.used, p.budget)
	}
}

func TestPrefixCacheSizeAndMetrics(t *testing.T) {
	c, data := oneEntryChunk(t)

	q := New(nil, nil)
	q.SetPrefixCache(0, nil)
	if q.prefixes != nil {
		t.Fatal("a 0 MiB prefix cache still caches")
	}
	q.prefixes.put("k", c, data) // a Querier without a cache still reads
	if got, _ := q.prefixes.get("k"); got != nil {
		t.Fatal("no cache, yet a hit")
	}

	reg := prometheus.NewRegistry()
	q.SetPrefixCache(2, reg)
	if q.prefixes == nil || q.prefixes.budget != 2<<20 {
		t.Fatalf("cache %+v, want a 2 MiB budget", q.prefixes)
	}
	q.prefixes.get("k")
	q.prefixes.put("k", c, data)
	q.prefixes.get("k")
	q.prefixes.get("k")
	want := map[string]float64{"hit": 2, "miss": 1}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sawBytes bool
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "plg_querier_chunk_prefix_cache_requests_total":
				result := m.GetLabel()[0].GetValue()
				if got := m.GetCounter().GetValue(); got != want[result] {
					t.Errorf("%s lookups: %v, want %v", result, got, want[result])
				}
				delete(want, result)
			case "plg_querier_chunk_prefix_cache_bytes":
				sawBytes = true
				if got := m.GetGauge().GetValue(); got != float64(q.prefixes.bytes()) || got < float64(len(data)) {
					t.Errorf("cache bytes %v, want %d (at least the %d byte prefix)", got, q.prefixes.bytes(), len(data))
				}
			}
		}
	}
	if len(want) > 0 || !sawBytes {
		t.Errorf("metrics missing: %v, bytes gauge %v", want, sawBytes)
	}
}
