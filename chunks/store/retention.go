package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks/index"
)

// deleteConcurrency bounds the chunk deletions one ApplyRetention call
// runs at once.
const deleteConcurrency = 8

// SetRetention sets how long each tenant's data is kept: f returns a
// tenant's retention period, 0 or less for forever. Queries through
// [Store.Index] never see data older than the cutoff, and
// [Store.ApplyRetention] deletes it. Call it before the Store is used.
func (s *Store) SetRetention(f func(tenant string) time.Duration) { s.retention = f }

// RetentionEnabled reports whether the tenant's data expires.
func (s *Store) RetentionEnabled(tenant string) bool {
	return s.retention != nil && s.retention(tenant) > 0
}

// RetentionCutoff returns the earliest time, in Unix nanoseconds, whose
// data the tenant keeps now: entries and chunks ending before it have
// expired. Without retention it is math.MinInt64.
func (s *Store) RetentionCutoff(tenant string) int64 {
	if s.retention == nil {
		return math.MinInt64
	}
	r := s.retention(tenant)
	if r <= 0 {
		return math.MinInt64
	}
	return s.now().Add(-r).UnixNano()
}

// SkipMissingChunk reports whether a query may go on without a chunk it
// failed to read with err: when the chunk is gone (err wraps
// [ErrNotFound]) and the tenant's data expires, retention may have deleted
// it under a reader whose view of the index or of the retention period is
// older than the compactor's, and the query answers without it rather
// than failing. Without retention only chunk compaction deletes chunks,
// and only packs no index segment has named for its grace period, so a
// missing one is damage, and stays an error. Skipped chunks are logged and counted.
func (s *Store) SkipMissingChunk(tenant string, ref index.ChunkRef, err error) bool {
	if !errors.Is(err, ErrNotFound) || !s.RetentionEnabled(tenant) {
		return false
	}
	s.missing.Inc()
	key, _, _ := s.objectOf(tenant, ref)
	s.logger.Warn("query skips a chunk deleted by retention", "tenant", tenant, "key", key,
		"chunk_end", time.Unix(0, ref.MaxT).UTC(), "cutoff", time.Unix(0, s.RetentionCutoff(tenant)).UTC())
	return true
}

// RetentionStats counts what one [Store.ApplyRetention] call removed.
type RetentionStats struct {
	// Segments is the number of index segments deleted: every segment of
	// a period wholly past the cutoff, and the inputs of the boundary
	// period's rewrite.
	Segments int
	// Rewritten is the number of index segments written without expired
	// references (0 or 1).
	Rewritten int
	// Chunks and ChunkBytes count the chunk objects deleted: standalone
	// chunks and packs.
	Chunks     int
	ChunkBytes int64
	// Packs counts the packs among Chunks.
	Packs int
}

// ApplyRetention removes a tenant's data that ended before cutoff (Unix
// nanoseconds), in two steps, each safe to repeat and to run in several
// processes at once:
//
//  1. The index: every segment of a period that ends at or before cutoff
//     is deleted (queries no longer read those periods), and the segments
//     of the period holding cutoff are merged into one without the
//     references to chunks whose MaxT is before it, uploaded before its
//     inputs are deleted (as [Store.CompactIndex] does).
//  2. The chunks: only when step 1 succeeded, chunk objects and packs
//     whose MaxT (read from the key; a pack's is the largest of its
//     chunks) is before deleteBefore are deleted. Callers pass cutoff
//     minus a grace period, so a query that read the index before step 1
//     can still read the chunks it found there. A chunk is stored under
//     the period of its MinT but may be referenced from later periods, so
//     chunks go by MaxT, never by their directory.
//
// A process that dies half-way leaves either the old segments, or the new
// one beside some of the old (readers deduplicate), or chunks that the next
// call deletes; nothing is ever referenced that is gone unless it expired.
func (s *Store) ApplyRetention(ctx context.Context, tenant string, cutoff, deleteBefore int64) (RetentionStats, error) {
	var st RetentionStats
	if err := ValidateTenant(tenant); err != nil {
		return st, err
	}
	deleteBefore = min(deleteBefore, cutoff)
	periods, err := s.tenantPeriods(ctx, tenant)
	if err != nil {
		return st, err
	}
	pc := periodOf(cutoff, s.cfg.IndexPeriod)
	for _, p := range periods {
		switch {
		case p < pc:
			n, err := s.deleteSegments(ctx, indexDir(tenant, p))
			st.Segments += n
			if err != nil {
				return st, err
			}
		case p == pc:
			n, w, err := s.rewriteExpired(ctx, tenant, p, cutoff)
			st.Segments += n
			st.Rewritten += w
			if err != nil {
				return st, err
			}
		}
	}
	pd := periodOf(deleteBefore, s.cfg.IndexPeriod)
	for _, p := range periods {
		if p > pd {
			break
		}
		n, b, err := s.deleteExpiredChunks(ctx, tenant, p, deleteBefore)
		st.Chunks += n
		st.ChunkBytes += b
		if err != nil {
			return st, err
		}
		n, b, err = s.deleteExpired(ctx, packDir(tenant, p), deleteBefore, packNameMaxT, false)
		st.Chunks += n
		st.Packs += n
		st.ChunkBytes += b
		if err != nil {
			return st, err
		}
		if _, err := s.deleteDoneMarkers(ctx, tenant, p); err != nil {
			return st, err
		}
	}
	return st, nil
}

// tenantPeriods lists the periods under which the tenant has objects,
// sorted.
func (s *Store) tenantPeriods(ctx context.Context, tenant string) ([]int64, error) {
	var out []int64
	err := s.bkt.Iter(ctx, tenant+"/", func(name string) error {
		p, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, tenant+"/"), "/"), 10, 64)
		if err == nil {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list periods of tenant %s: %w", tenant, err)
	}
	slices.Sort(out)
	return out, nil
}

// deleteSegments deletes every index segment in dir and returns how many.
func (s *Store) deleteSegments(ctx context.Context, dir string) (int, error) {
	names, err := s.segmentNames(ctx, dir, true)
	if err != nil {
		return 0, err
	}
	n, err := s.deleteObjects(ctx, names)
	s.forgetListed(dir, names[:n])
	if err != nil {
		return n, fmt.Errorf("retention %s: %w", dir, err)
	}
	return n, nil
}

// deleteObjects deletes names in order, counting one already gone as
// deleted (another compactor got there first), and returns how many it
// deleted before an error.
func (s *Store) deleteObjects(ctx context.Context, names []string) (int, error) {
	for i, name := range names {
		if err := s.bkt.Delete(ctx, name); err != nil && !s.bkt.IsObjNotFoundErr(err) {
			return i, fmt.Errorf("delete %s: %w", name, err)
		}
	}
	return len(names), nil
}

// rewriteExpired replaces the segments of period p by one holding only
// the references to chunks whose MaxT is at or after cutoff, when any
// segment holds an expired reference; with nothing left, the segments are
// just deleted. It returns the segments deleted and written.
func (s *Store) rewriteExpired(ctx context.Context, tenant string, p, cutoff int64) (deleted, written int, err error) {
	dir := indexDir(tenant, p)
	names, err := s.segmentNames(ctx, dir, true)
	if err != nil {
		return 0, 0, err
	}
	var (
		kept    []index.Series
		inputs  []string
		expired bool
	)
	for _, name := range names {
		r, err := s.fetchSegment(ctx, name)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // deleted since the listing, by another compactor
			}
			return 0, 0, fmt.Errorf("retention %s: %w", dir, err)
		}
		if r == nil {
			continue // corrupt: logged and counted, left alone
		}
		ss, err := r.Select(cutoff, math.MaxInt64)
		if err != nil {
			return 0, 0, fmt.Errorf("retention %s: read %s: %w", dir, name, err)
		}
		n := 0
		for _, sr := range ss {
			n += len(sr.Chunks)
		}
		if uint64(n) != r.NumChunks() {
			expired = true
		}
		kept = append(kept, ss...)
		inputs = append(inputs, name)
	}
	if !expired {
		return 0, 0, nil
	}
	if len(kept) > 0 {
		out, err := index.Write(kept)
		if err != nil {
			return 0, 0, fmt.Errorf("retention %s: %w", dir, err)
		}
		if _, err := index.Open(out); err != nil {
			return 0, 0, fmt.Errorf("retention %s: verify rewritten segment: %w", dir, err)
		}
		key := indexKey(tenant, p, CompactorWriter, s.nextNano())
		if err := uploadBytes(ctx, s.bkt, key, out); err != nil {
			return 0, 0, fmt.Errorf("retention %s: put %s: %w", dir, key, err)
		}
		s.addListed(dir, key)
		written = 1
		s.logger.Info("retention rewrote index segments", "dir", dir, "inputs", len(inputs), "key", key, "bytes", len(out))
	}
	deleted, err = s.deleteObjects(ctx, inputs)
	s.forgetListed(dir, inputs[:deleted])
	if err != nil {
		return deleted, written, fmt.Errorf("retention %s: %w", dir, err)
	}
	return deleted, written, nil
}

// deleteExpiredChunks deletes the standalone chunk objects of period p
// whose MaxT is before t, returning how many and their bytes.
func (s *Store) deleteExpiredChunks(ctx context.Context, tenant string, p, t int64) (int, int64, error) {
	return s.deleteExpired(ctx, tenant+"/"+strconv.FormatInt(p, 10)+"/chunks/", t, chunkKeyMaxT, true)
}

// deleteExpired deletes the objects under dir (and below it, if
// recursive) whose key parses with maxTOf to a MaxT before t, returning
// how many and their bytes.
func (s *Store) deleteExpired(ctx context.Context, dir string, t int64, maxTOf func(string) (int64, bool), recursive bool) (int, int64, error) {
	var expired []string
	var opts []objstore.IterOption
	if recursive {
		opts = append(opts, objstore.WithRecursiveIter())
	}
	err := s.bkt.Iter(ctx, dir, func(name string) error {
		if maxT, ok := maxTOf(name); ok && maxT < t {
			expired = append(expired, name)
		}
		return nil
	}, opts...)
	if err != nil {
		return 0, 0, fmt.Errorf("retention: list %s: %w", dir, err)
	}
	// Deletes are independent and each a round trip to an object store
	// (two with the size), so a few run at once: a first run over a long
	// history may delete tens of thousands of chunks.
	var (
		mu      sync.Mutex
		bytes   int64
		deleted int
		errs    []error
		wg      sync.WaitGroup
		sem     = make(chan struct{}, deleteConcurrency)
	)
	for _, name := range expired {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			var size int64
			// Sizes are for the metrics only; a listing does not carry them.
			if a, err := s.bkt.Attributes(ctx, name); err == nil {
				size = a.Size
			}
			err := s.bkt.Delete(ctx, name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !s.bkt.IsObjNotFoundErr(err) {
				errs = append(errs, fmt.Errorf("retention: delete %s: %w", name, err))
				return
			}
			deleted++
			bytes += size
		}()
	}
	wg.Wait()
	if deleted > 0 {
		s.logger.Info("retention deleted chunk objects", "dir", dir, "objects", deleted, "bytes", bytes)
	}
	return deleted, bytes, errors.Join(errs...)
}

// chunkKeyMaxT returns the MaxT encoded in a chunk key's last component,
// <minT>-<maxT>-<checksum> (FORMAT.md). Other objects (a filesystem
// bucket's stray .tmp- files among them) do not parse.
func chunkKeyMaxT(key string) (int64, bool) {
	base := key[strings.LastIndexByte(key, '/')+1:]
	parts := strings.Split(base, "-")
	if len(parts) != 3 || len(parts[2]) != 8 {
		return 0, false
	}
	if _, err := strconv.ParseUint(parts[0], 16, 64); err != nil {
		return 0, false
	}
	if _, err := strconv.ParseUint(parts[2], 16, 32); err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(parts[1], 16, 64)
	if err != nil {
		return 0, false
	}
	return int64(v), true
}
