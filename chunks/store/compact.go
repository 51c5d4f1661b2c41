package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/plgstack/plg/chunks/index"
)

// CompactorWriter is the writer name of segments produced by CompactIndex.
const CompactorWriter = "compactor"

// CompactIndex merges all index segments of the tenant's period containing
// t into one, uploads it, then deletes the merged inputs, and returns how
// many segments it merged (0 when there was nothing to do). Segments
// written meanwhile are left alone, and so are corrupt ones, which are
// skipped. Queriers that still list a deleted input re-list the period, so
// running this concurrently with queries is safe; two concurrent
// compactions of one period only leave duplicate references, which readers
// deduplicate.
func (s *Store) CompactIndex(ctx context.Context, tenant string, t int64) (int, error) {
	if err := ValidateTenant(tenant); err != nil {
		return 0, err
	}
	p := periodOf(t, s.cfg.IndexPeriod)
	dir := indexDir(tenant, p)
	names, err := s.segmentNames(ctx, dir, true)
	if err != nil {
		return 0, err
	}
	if len(names) < 2 {
		return 0, nil
	}
	var (
		segs   [][]byte
		merged []string
	)
	for _, name := range names {
		b, err := s.get(ctx, name, 0)
		if err != nil {
			return 0, fmt.Errorf("compact %s: get %s: %w", dir, name, err)
		}
		if _, err := index.Open(b); err != nil {
			s.corrupt.Inc()
			s.logger.Error("compaction skips unreadable index segment", "key", name, "err", err)
			continue
		}
		segs = append(segs, b)
		merged = append(merged, name)
	}
	if len(segs) < 2 {
		return 0, nil
	}
	out, err := index.Merge(segs...)
	if err != nil {
		return 0, fmt.Errorf("compact %s: %w", dir, err)
	}
	if _, err := index.Open(out); err != nil {
		return 0, fmt.Errorf("compact %s: verify merged segment: %w", dir, err)
	}
	key := indexKey(tenant, p, CompactorWriter, s.nextNano())
	if err := uploadBytes(ctx, s.bkt, key, out); err != nil {
		return 0, fmt.Errorf("compact %s: put %s: %w", dir, key, err)
	}
	s.addListed(dir, key)
	for _, name := range merged {
		if err := s.bkt.Delete(ctx, name); err != nil && !s.bkt.IsObjNotFoundErr(err) {
			return len(merged), fmt.Errorf("compact %s: delete merged input %s: %w", dir, name, err)
		}
	}
	s.forgetListed(dir, merged)
	s.logger.Info("compacted index segments", "dir", dir, "inputs", len(merged), "key", key, "bytes", len(out))
	return len(merged), nil
}

// forgetListed removes deleted segments from the cached listing of dir.
func (s *Store) forgetListed(dir string, deleted []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.listings[dir]; ok {
		l.names = slices.DeleteFunc(slices.Clone(l.names), func(n string) bool { return slices.Contains(deleted, n) })
	}
	for _, n := range deleted {
		delete(s.own, n)
	}
}
