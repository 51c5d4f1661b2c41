package ingester

import (
	"sort"
	"sync"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/push"
)

// maxAliases bounds how many spellings of one label set are cached, so a
// client that varies spacing or order cannot grow the cache without bound.
const maxAliases = 4

// tenant holds one tenant's streams.
type tenant struct {
	id string

	mu sync.RWMutex
	// byFP maps a label-set fingerprint to its streams; more than one only
	// on a hash collision.
	byFP map[uint64][]*stream
	// byRaw caches the label string as clients send it, so a push of a known
	// stream skips parsing its labels.
	byRaw map[string]*stream
	count int
}

func newTenant(id string) *tenant {
	return &tenant{id: id, byFP: make(map[uint64][]*stream), byRaw: make(map[string]*stream)}
}

// lookupRaw finds a stream by the label string a client sent.
func (t *tenant) lookupRaw(raw string) *stream {
	t.mu.RLock()
	s := t.byRaw[raw]
	t.mu.RUnlock()
	return s
}

// getOrCreate returns the stream for lbs, creating it unless the tenant
// already has maxStreams streams (0: no limit), in which case it returns nil.
// raw, when not empty, is remembered as an alias of the stream.
func (t *tenant) getOrCreate(lbs labels.Labels, raw string, maxStreams int) (s *stream, created bool) {
	fp := lbs.Hash()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.byFP[fp] {
		if labels.Equal(c.labels, lbs) {
			if raw != "" && len(c.aliases) < maxAliases {
				t.byRaw[raw] = c
				c.aliases = append(c.aliases, raw)
			}
			return c, false
		}
	}
	if maxStreams > 0 && t.count >= maxStreams {
		return nil, false
	}
	s = &stream{labels: lbs, labelsString: lbs.String(), fp: fp}
	t.byFP[fp] = append(t.byFP[fp], s)
	t.count++
	if raw != "" {
		t.byRaw[raw] = s
		s.aliases = append(s.aliases, raw)
	}
	return s, true
}

// streams returns a snapshot of the tenant's streams.
func (t *tenant) streams() []*stream {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*stream, 0, t.count)
	for _, ss := range t.byFP {
		out = append(out, ss...)
	}
	return out
}

// matching returns the streams whose labels satisfy every matcher, sorted by
// labels so results are deterministic.
func (t *tenant) matching(ms []*labels.Matcher) []*stream {
	t.mu.RLock()
	var out []*stream
	for _, ss := range t.byFP {
		for _, s := range ss {
			if matches(s.labels, ms) {
				out = append(out, s)
			}
		}
	}
	t.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].labels, out[j].labels) < 0 })
	return out
}

func matches(lbs labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(lbs.Get(m.Name)) {
			return false
		}
	}
	return true
}

// remove forgets a stream that holds no data any more. It re-checks under the
// stream lock that nothing was appended meanwhile.
func (t *tenant) remove(s *stream) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.mu.Lock()
	empty := s.head == nil && len(s.closed) == 0
	s.removed = empty // under both locks: a pusher that found s retries
	s.mu.Unlock()
	if !empty {
		return false
	}
	ss := t.byFP[s.fp]
	for i, c := range ss {
		if c == s {
			ss = append(ss[:i], ss[i+1:]...)
			break
		}
	}
	if len(ss) == 0 {
		delete(t.byFP, s.fp)
	} else {
		t.byFP[s.fp] = ss
	}
	for _, raw := range s.aliases {
		delete(t.byRaw, raw)
	}
	t.count--
	return true
}

func (t *tenant) numStreams() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.count
}

// parseStreamLabels parses a client's label string.
func parseStreamLabels(raw string) (labels.Labels, error) {
	return push.ParseLabels(raw)
}
