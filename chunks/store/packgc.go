package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Deleting packs nothing references.
//
// A pack stops being referenced when CompactChunks rewrites its chunks
// (or keeps another copy of them), and is never referenced when the
// index write of the flush that wrote it failed for good, or it holds
// duplicates another pack also holds. Queriers may have listed the old
// index a moment ago and still read such a pack, so it is deleted only a
// grace period after the last reference to it went away. The compactor
// keeps no state: a rewrite that stops referencing packs first writes a
// deletion marker naming them (FORMAT.md, "Deletion markers"), and its
// time is the marker's name. CollectPacks then deletes a pack when
//
//   - no current segment of its period (or of the later periods its
//     chunks reach, up to the MaxT in its name) references it, and
//   - the newest marker naming it is older than the grace period, or no
//     marker names it and the time in its own name is older than
//     max(grace, MinOrphanPackAge).
//
// Any rewrite that drops a reference writes its marker before deleting
// the segments that held it, so "the newest marker" is never older than
// the disappearance of the last reference. Ingesters keep a pack's
// chunks in memory until their index segment is written, and upload
// them again in a new pack when that segment is still failing
// 20 minutes after the pack landed (ingester/flush.go), so an
// acknowledged entry is always in a pack younger than MinOrphanPackAge
// or referenced by an index segment.

// MinOrphanPackAge is the least age, from the time in its name, at which
// a pack no index segment references and no marker names is deleted.
const MinOrphanPackAge = time.Hour

const (
	deletionsDir    = "deletions/"
	deletionsSuffix = ".json"
)

// deletionMarker is the JSON body of a deletion marker.
type deletionMarker struct {
	// Packs are the last key components of packs of the marker's period.
	Packs []string `json:"packs"`
}

func deletionKey(tenant string, p, unixNano int64) string {
	return packDir(tenant, p) + deletionsDir + CompactorWriter + "-" + strconv.FormatInt(unixNano, 10) + deletionsSuffix
}

// deletionKeyNano returns the time in a deletion marker's key.
func deletionKeyNano(key string) (int64, bool) {
	base, ok := strings.CutSuffix(key[strings.LastIndexByte(key, '/')+1:], deletionsSuffix)
	if !ok {
		return 0, false
	}
	i := strings.LastIndexByte(base, '-')
	if i <= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(base[i+1:], 10, 64)
	return n, err == nil
}

// packNameNano returns the time in a pack key's name,
// <writer>-<unixnano>-<maxT>.pack.
func packNameNano(key string) (int64, bool) {
	if _, ok := packNameMaxT(key); !ok {
		return 0, false
	}
	base := strings.TrimSuffix(key[strings.LastIndexByte(key, '/')+1:], packSuffix)
	base = base[:strings.LastIndexByte(base, '-')]
	n, err := strconv.ParseInt(base[strings.LastIndexByte(base, '-')+1:], 10, 64)
	return n, err == nil
}

func (s *Store) putDeletionMarker(ctx context.Context, tenant string, p int64, packs []string) error {
	b, err := json.Marshal(deletionMarker{Packs: packs})
	if err != nil {
		return err
	}
	key := deletionKey(tenant, p, s.nextNano())
	if err := uploadBytes(ctx, s.bkt, key, b); err != nil {
		return fmt.Errorf("put deletion marker %s: %w", key, err)
	}
	return nil
}

// PackCollection counts what one CollectPacks call deleted.
type PackCollection struct {
	// Marked and Orphans are the packs deleted after a marker named them
	// and without one; Bytes their size.
	Marked, Orphans int
	Bytes           int64
	// Markers is the number of deletion markers deleted.
	Markers int
}

// CollectPacks deletes the tenant's packs of the index period containing
// t that nothing references any more, grace after the last reference
// went away, and the deletion markers all of whose packs are gone (see
// the comment above). It reads every segment of the period and of the
// later periods its packs' chunks reach; if one cannot be read, it
// deletes nothing.
func (s *Store) CollectPacks(ctx context.Context, tenant string, t int64, grace time.Duration) (PackCollection, error) {
	var st PackCollection
	if err := ValidateTenant(tenant); err != nil {
		return st, err
	}
	p := periodOf(t, s.cfg.IndexPeriod)
	dir := packDir(tenant, p)
	// Packs and markers are listed before segments: a segment written
	// after the listing can only reference a pack written after it too
	// (or one the ingester re-uploads into a new pack; see MinOrphanPackAge).
	packs := map[string]int64{} // name -> time in its name
	lastP := p
	err := s.bkt.Iter(ctx, dir, func(name string) error {
		if nano, ok := packNameNano(name); ok {
			packs[name[len(dir):]] = nano
			maxT, _ := packNameMaxT(name)
			lastP = max(lastP, min(periodOf(maxT, s.cfg.IndexPeriod), p+maxChunkPeriods))
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("collect packs: list %s: %w", dir, err)
	}
	var markerKeys []string
	err = s.bkt.Iter(ctx, dir+deletionsDir, func(name string) error {
		if _, ok := deletionKeyNano(name); ok {
			markerKeys = append(markerKeys, name)
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("collect packs: list %s: %w", dir+deletionsDir, err)
	}
	if len(packs) == 0 && len(markerKeys) == 0 {
		return st, nil
	}
	markers := make(map[string][]string, len(markerKeys))
	newest := map[string]int64{} // pack name -> time of the newest marker naming it
	for _, key := range markerKeys {
		b, err := s.get(ctx, key, 0)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // another compactor deleted it
			}
			return st, fmt.Errorf("collect packs: get %s: %w", key, err)
		}
		var m deletionMarker
		if err := json.Unmarshal(b, &m); err != nil {
			// Not deleted: whatever it names stays until someone looks.
			return st, fmt.Errorf("collect packs: marker %s: %w", key, err)
		}
		nano, _ := deletionKeyNano(key)
		markers[key] = m.Packs
		for _, name := range m.Packs {
			newest[name] = max(newest[name], nano)
		}
	}
	referenced, err := s.referencedPacks(ctx, tenant, p, lastP)
	if err != nil {
		return st, err
	}
	now := s.now().UnixNano()
	orphanAge := max(grace, MinOrphanPackAge)
	var names []string
	for name := range packs {
		names = append(names, name)
	}
	slices.Sort(names)
	gone := map[string]bool{}
	for _, name := range names {
		if _, ok := referenced[name]; ok {
			continue
		}
		marked, isMarked := newest[name]
		switch {
		case isMarked && now-marked < int64(grace):
			continue
		case !isMarked && now-packs[name] < int64(orphanAge):
			continue
		}
		key := dir + name
		var size int64
		if a, err := s.bkt.Attributes(ctx, key); err == nil {
			size = a.Size
		}
		if err := s.bkt.Delete(ctx, key); err != nil && !s.bkt.IsObjNotFoundErr(err) {
			return st, fmt.Errorf("collect packs: delete %s: %w", key, err)
		}
		gone[name] = true
		st.Bytes += size
		if isMarked {
			st.Marked++
		} else {
			st.Orphans++
		}
		s.logger.Info("deleted unreferenced pack", "key", key, "bytes", size, "marked", isMarked)
	}
	for _, key := range markerKeys {
		names, ok := markers[key]
		if !ok {
			continue
		}
		done := true
		for _, name := range names {
			if _, listed := packs[name]; listed && !gone[name] {
				done = false
				break
			}
		}
		if !done {
			continue
		}
		if err := s.bkt.Delete(ctx, key); err != nil && !s.bkt.IsObjNotFoundErr(err) {
			return st, fmt.Errorf("collect packs: delete %s: %w", key, err)
		}
		st.Markers++
	}
	return st, nil
}

// referencedPacks returns the names of the packs of period p referenced
// by any segment of periods p to last. It fails if a segment cannot be
// read, since a reference it holds would then go unseen.
func (s *Store) referencedPacks(ctx context.Context, tenant string, p, last int64) (map[string]struct{}, error) {
	out := map[string]struct{}{}
	for q := p; q <= last; q++ {
		dir := indexDir(tenant, q)
		names, err := s.segmentNames(ctx, dir, true)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			r, err := s.fetchSegment(ctx, name)
			if err != nil {
				// Even a segment compacted away since the listing: its
				// replacement may be missing from the listing.
				return nil, fmt.Errorf("collect packs: %w", err)
			}
			if r == nil {
				return nil, fmt.Errorf("collect packs: segment %s is unreadable; its references are unknown", name)
			}
			ss, err := r.Select(math.MinInt64, math.MaxInt64)
			if err != nil {
				return nil, fmt.Errorf("collect packs: read %s: %w", name, err)
			}
			for _, sr := range ss {
				for _, c := range sr.Chunks {
					if c.Pack != "" && periodOf(c.MinT, s.cfg.IndexPeriod) == p {
						out[c.Pack] = struct{}{}
					}
				}
			}
		}
	}
	return out, nil
}

// deleteDoneMarkers deletes the deletion markers of period p none of
// whose packs exists any more (retention deleted them), returning how
// many.
func (s *Store) deleteDoneMarkers(ctx context.Context, tenant string, p int64) (int, error) {
	dir := packDir(tenant, p)
	packs := map[string]bool{}
	var keys []string
	err := s.bkt.Iter(ctx, dir, func(name string) error {
		if _, ok := packNameMaxT(name); ok {
			packs[name[len(dir):]] = true
		}
		return nil
	})
	if err == nil {
		err = s.bkt.Iter(ctx, dir+deletionsDir, func(name string) error {
			if _, ok := deletionKeyNano(name); ok {
				keys = append(keys, name)
			}
			return nil
		})
	}
	if err != nil {
		return 0, fmt.Errorf("retention: list %s: %w", dir, err)
	}
	n := 0
	for _, key := range keys {
		b, err := s.get(ctx, key, 0)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue
			}
			return n, fmt.Errorf("retention: get %s: %w", key, err)
		}
		var m deletionMarker
		if err := json.Unmarshal(b, &m); err != nil {
			return n, fmt.Errorf("retention: marker %s: %w", key, err)
		}
		if slices.ContainsFunc(m.Packs, func(name string) bool { return packs[name] }) {
			continue
		}
		if err := s.bkt.Delete(ctx, key); err != nil && !s.bkt.IsObjNotFoundErr(err) {
			return n, fmt.Errorf("retention: delete %s: %w", key, err)
		}
		n++
	}
	return n, nil
}
