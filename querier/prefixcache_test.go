package querier

import (
	"fmt"
	"testing"

	"github.com/plgstack/plg/chunks"
)

func TestPrefixCacheEvictsLeastRecentlyUsedPastItsBudget(t *testing.T) {
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
	prefix := make([]byte, 1000)
	entry := 1000 + len("k0") + 128 + 256*len(c.Blocks())
	p := newPrefixCache(3 * entry)
	for i := range 3 {
		p.put(fmt.Sprintf("k%d", i), c, prefix)
	}
	if got, _ := p.get("k0"); got != c { // k0 is now the most recent
		t.Fatal("k0 not cached")
	}
	p.put("k3", c, prefix) // evicts k1, the least recently used
	for key, want := range map[string]bool{"k0": true, "k1": false, "k2": true, "k3": true} {
		if got, b := p.get(key); (got != nil) != want || (want && len(b) != len(prefix)) {
			t.Errorf("%s cached: %v, want %v", key, got != nil, want)
		}
	}
	if p.used > p.budget {
		t.Errorf("%d bytes held, budget %d", p.used, p.budget)
	}
	p.put("huge", c, make([]byte, 4*entry))
	if got, _ := p.get("huge"); got != nil {
		t.Error("a prefix over the whole budget was kept")
	}
	var nilCache *prefixCache
	nilCache.put("k", c, prefix)
	if got, _ := nilCache.get("k"); got != nil {
		t.Error("a nil cache returned a chunk")
	}
}
