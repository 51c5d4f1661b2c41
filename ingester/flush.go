package ingester

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"sync"
	"time"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/index"
	"github.com/plgstack/plg/push"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (i *Ingester) flushLoop(ctx context.Context) {
	defer i.loops.Done()
	tick := time.NewTicker(i.cfg.FlushCheckPeriod)
	defer tick.Stop()
	var last time.Time
	i.checkMemory() // WAL replay may have filled memory past the budget
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-i.memPressure:
			// Over the memory budget: flush now. The short pause only
			// keeps pushes that arrive while the budget cannot be met
			// (uploads failing) from running empty cycles back to back.
			if wait := memFlushMinInterval - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		case <-i.flushNow:
			// Full chunks: flush soon, but at most once a second, so a
			// burst of pushes makes a few large index segments, not many.
			// Memory pressure cuts the wait short: pushes may be waiting
			// for this cycle (backpressure.go).
			if wait := time.Second - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-i.memPressure:
					if wait := memFlushMinInterval - time.Since(last); wait > 0 {
						time.Sleep(wait)
					}
				case <-time.After(wait):
				}
			}
		}
		last = time.Now()
		if err := i.flush(ctx, false, false); err != nil && ctx.Err() == nil {
			i.logger.Warn("flush cycle incomplete; will retry", "err", err)
		}
	}
}

// Flush cuts every open chunk and flushes all in-memory chunks to the store
// now (POST /flush). Flushed chunks stay queryable from memory for the retain
// period.
//
// Everything flushed is safe in the store, so a checkpoint follows and the
// WAL shrinks to what is still only in memory.
func (i *Ingester) Flush(ctx context.Context) error {
	if err := i.flush(ctx, true, false); err != nil {
		return err
	}
	if i.wal != nil {
		return i.checkpoint()
	}
	return nil
}

// memFlushMinInterval is the least time between two flush cycles started
// by memory pressure.
const memFlushMinInterval = 100 * time.Millisecond

// checkMemory wakes the flush loop if the unflushed chunk memory is over
// the budget. Cheap enough for every push.
func (i *Ingester) checkMemory() {
	if i.memBudget > 0 && i.mem.unflushed.Load() > i.memBudget {
		select {
		case i.memPressure <- struct{}{}:
		default:
		}
	}
}

// sealAt returns the head block size from which appends seal heads early:
// a quarter block while chunk memory is over its budget, else 0 (never).
func (i *Ingester) sealAt() int {
	if i.memBudget > 0 && i.mem.unflushed.Load() > i.memBudget {
		return i.cfg.ChunkBlockSize / 4
	}
	return 0
}

type flushJob struct {
	t  *tenant
	s  *stream
	cd *chunkDesc
}

// flush runs one flush cycle: cut chunks that are due (all of them when
// force), upload those not yet uploaded into pack objects, write one index
// segment per tenant and period for the uploaded ones, and forget chunks that have been visible in the
// store for the retain period (immediately when final).
func (i *Ingester) flush(ctx context.Context, force, final bool) error {
	if i.store == nil {
		return errors.New("no object store configured: nothing can be flushed")
	}
	i.flushMu.Lock()
	defer i.flushMu.Unlock()
	now := time.Now()

	overBudget := i.memBudget > 0 && i.mem.unflushed.Load() > i.memBudget
	var (
		jobs  []flushJob
		heads []memCandidate // open chunks not due, when over budget
		open  int64          // their memory
	)
	for _, t := range i.allTenants() {
		for _, s := range t.streams() {
			s.mu.Lock()
			if s.head != nil {
				reason := ""
				switch {
				case force:
					reason = flushReasonForced
				case now.Sub(s.lastAppend) >= i.cfg.ChunkIdlePeriod:
					reason = flushReasonIdle
				case now.Sub(s.headCreated) >= i.cfg.MaxChunkAge:
					reason = flushReasonAge
				}
				if reason != "" {
					s.cutLocked(reason)
					s.accountLocked(&i.mem)
				} else if overBudget {
					n := int64(s.head.MemoryBytes())
					heads = append(heads, memCandidate{t: t, s: s, c: s.head, bytes: n, head: s.head.HeadBytes()})
					open += n
				}
			}
			for _, cd := range s.closed {
				if cd.indexedAt.IsZero() {
					jobs = append(jobs, flushJob{t, s, cd})
				}
			}
			s.mu.Unlock()
		}
	}
	if overBudget {
		jobs = i.cutForMemory(heads, open, jobs)
	}

	var errs []error
	if len(jobs) > 0 {
		if err := i.upload(ctx, jobs); err != nil {
			errs = append(errs, err)
		}
		if err := i.writeIndexes(ctx, jobs); err != nil {
			errs = append(errs, err)
		}
	}
	i.forgetFlushed(time.Now(), final)
	i.memWait.notify()
	return errors.Join(errs...)
}

type memCandidate struct {
	t     *tenant
	s     *stream
	c     *chunks.MemChunk
	bytes int64 // the chunk's memory
	head  int   // uncompressed bytes in its head block
	cut   bool  // cut by cutForMemory
}

// cutForMemory brings the memory of the open chunks down to three quarters
// of the budget, in four steps that each stop once it is there: seal large
// head blocks (compressing them in place; the chunk stays open), cut the
// chunks large enough to make good store objects, seal small head blocks,
// and last cut the largest chunks left. It returns jobs with the cut
// chunks added. open is the memory of all heads.
//
// The policy, and why:
//   - Only unflushed memory counts: closed chunks already queued leave
//     memory when this cycle flushes them, and chunks retained after their
//     flush cannot be freed sooner by cutting more.
//   - A head block is uncompressed and, with many streams, most of the
//     memory (each open stream holds up to chunk_block_size, 256 KiB).
//     Sealing it early costs a little compression (a smaller block) but no
//     store object, so heads of at least a quarter block are sealed first,
//     largest first.
//   - Cutting the largest chunks frees the budget with the fewest cuts and
//     keeps store chunks as large as memory allows, as long as there are
//     chunks of goodCutBytes or more.
//   - With thousands of active streams there are none: the budget leaves
//     each stream a few KiB, and cutting then writes one store object per
//     few lines (5,000 streams over 300 MB: 149,000 chunks, 53% of the raw
//     size, most of the ingest CPU creating files; docs/BENCHMARKS.md,
//     "Many streams"). Sealing heads down to minSmallSeal first holds
//     three to four times the lines in the same memory, so the chunks cut
//     after that are as many times larger. Their small blocks compress
//     worse, which recompressing at flush recovers (chunks.MergeRecompress
//     for chunks of small blocks).
//   - Stopping at a low-water mark of 3/4 of the budget lets a quarter of it
//     refill before the next early flush, so each such cycle writes a batch
//     of chunks and one index segment per tenant, not one chunk per push.
//
// A cut stream restarts with an empty head; the cut chunk's entries stay
// queryable from memory until the store has them.
func (i *Ingester) cutForMemory(heads []memCandidate, open int64, jobs []flushJob) []flushJob {
	low := i.memBudget * 3 / 4
	open = i.sealHeads(heads, open, low, i.cfg.ChunkBlockSize/4) // as in sealAt
	open, jobs = i.cutChunks(heads, open, low, goodCutBytes, jobs)
	open = i.sealHeads(heads, open, low, minSmallSeal)
	_, jobs = i.cutChunks(heads, open, low, 0, jobs)
	return jobs
}

// goodCutBytes is the chunk memory (mostly compressed blocks) from which a
// chunk cut early still makes a reasonable store object: some 300 KB of
// log text.
const goodCutBytes = 64 << 10

// minSmallSeal is the smallest head block sealed under memory pressure:
// below it zstd has too little text to find matches in.
const minSmallSeal = 4 << 10

// sealHeads seals, largest first, the open chunks' head blocks of at least
// minHead bytes until open is down to low, and returns open.
func (i *Ingester) sealHeads(heads []memCandidate, open, low int64, minHead int) int64 {
	if open <= low {
		return open
	}
	sort.Slice(heads, func(a, b int) bool { return heads[a].head > heads[b].head })
	for k := range heads {
		h := &heads[k]
		if open <= low || h.head < minHead {
			break
		}
		h.s.mu.Lock()
		if h.s.head == h.c && !h.cut { // not cut meanwhile because it filled up
			before := int64(h.c.MemoryBytes())
			if err := h.c.SealHead(); err != nil {
				i.logger.Warn("sealing a head block under memory pressure", "stream", h.s.labelsString, "err", err)
			} else {
				h.bytes = int64(h.c.MemoryBytes())
				h.head = 0
				open -= before - h.bytes
				i.mem.sealed.Add(1)
				h.s.accountLocked(&i.mem)
			}
		}
		h.s.mu.Unlock()
	}
	i.memWait.notify() // sealing freed memory
	return open
}

// cutChunks cuts, largest first, the open chunks of at least minBytes of
// memory until open is down to low, and returns open and jobs with the cut
// chunks added.
func (i *Ingester) cutChunks(heads []memCandidate, open, low, minBytes int64, jobs []flushJob) (int64, []flushJob) {
	if open <= low {
		return open, jobs
	}
	sort.Slice(heads, func(a, b int) bool { return heads[a].bytes > heads[b].bytes })
	for k := range heads {
		h := &heads[k]
		if open <= low || h.bytes < minBytes {
			break
		}
		if h.cut {
			continue
		}
		h.cut = true
		open -= h.bytes
		h.s.mu.Lock()
		if h.s.head == h.c {
			h.s.cutLocked(flushReasonMemory)
			h.s.accountLocked(&i.mem)
			if n := len(h.s.closed); n > 0 && h.s.closed[n-1].chunk == h.c {
				jobs = append(jobs, flushJob{h.t, h.s, h.s.closed[n-1]})
			}
		}
		h.s.mu.Unlock()
	}
	return open, jobs
}

// maxPackBytes bounds one pack object (store.MaxPackBytes): a flush
// cycle with more chunks writes several packs, uploaded in parallel, and
// a failed upload retries that much at most.
const maxPackBytes = 64 << 20

// packReuploadAge is how long after its pack landed a chunk whose index
// segment could not be written yet is uploaded again, into a new pack.
// The compactor deletes a pack no segment references once the time in
// its name is store.MinOrphanPackAge (1h) old; uploading again at a
// third of that leaves the index write of the new pack's cycle (bounded
// by flush_max_retries backoffs) 40 minutes, so an index segment never
// names a pack already deleted as an orphan.
const packReuploadAge = 20 * time.Minute

// pack is the chunks of one tenant and index period that one pack
// object holds.
type pack struct {
	t     *tenant
	jobs  []flushJob
	bytes int
}

// upload encodes the jobs' chunks not encoded yet and writes those not yet
// in the store into pack objects, one per tenant and index period of the
// chunks' MinT (more past maxPackBytes), uploaded by ConcurrentFlushes
// workers with retries. A chunk counts as uploaded, with its location in
// its reference, once its pack landed; a later cycle that retries its
// index segment does not upload it again.
func (i *Ingester) upload(ctx context.Context, jobs []flushJob) error {
	var (
		mu     sync.Mutex
		failed int
		last   error
	)
	fail := func(err error) {
		i.m.flushFailures.Inc()
		mu.Lock()
		failed++
		last = err
		mu.Unlock()
	}
	i.parallel(len(jobs), func(k int) {
		if err := i.encode(ctx, jobs[k]); err != nil {
			fail(err)
		}
	})
	packs := i.packs(jobs)
	i.parallel(len(packs), func(k int) {
		if err := i.uploadPack(ctx, packs[k]); err != nil {
			fail(err)
		}
	})
	if failed > 0 {
		return fmt.Errorf("%d chunk encodings or pack uploads of %d chunks failed, last error: %w", failed, len(jobs), last)
	}
	return nil
}

// parallel calls f(0) … f(n-1) on ConcurrentFlushes workers.
func (i *Ingester) parallel(n int, f func(k int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(i.cfg.ConcurrentFlushes, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				f(k)
			}
		}()
	}
	for k := range n {
		work <- k
	}
	close(work)
	wg.Wait()
}

// encode encodes a job's chunk, unless it is encoded or uploaded already,
// and sets its reference (without a location yet).
func (i *Ingester) encode(ctx context.Context, j flushJob) error {
	cd := j.cd
	j.s.mu.Lock()
	done := cd.uploaded || cd.data != nil
	j.s.mu.Unlock()
	if done {
		return nil
	}
	select {
	case i.encodeSlots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("encoding chunk of %s: %w", j.s.labelsString, ctx.Err())
	}
	data, err := cd.chunk.Encode()
	<-i.encodeSlots
	if err != nil {
		return fmt.Errorf("encoding chunk of %s: %w", j.s.labelsString, err)
	}
	minT, maxT := cd.chunk.Bounds()
	ref := index.ChunkRef{
		Fingerprint:       j.s.fp,
		MinT:              minT,
		MaxT:              maxT,
		Checksum:          crc32.Checksum(data, castagnoli),
		Size:              uint32(len(data)),
		Entries:           uint32(cd.chunk.Entries()),
		UncompressedBytes: uint32(cd.chunk.UncompressedSize()),
	}
	j.s.mu.Lock()
	cd.data, cd.ref = data, ref
	j.s.accountLocked(&i.mem) // the encoded copy
	j.s.mu.Unlock()
	return nil
}

// packs groups the encoded, not yet uploaded chunks of jobs into packs:
// by tenant and index period of their MinT, in job order (a stream's
// chunks together), starting a new pack where one would pass
// maxPackBytes.
func (i *Ingester) packs(jobs []flushJob) []*pack {
	type key struct {
		t      *tenant
		period int64
	}
	open := make(map[key]*pack)
	var out []*pack
	for _, j := range jobs {
		j.s.mu.Lock()
		// A chunk uploaded long ago whose index segment still failed goes
		// into a new pack: the compactor deletes packs no segment
		// references once they are store.MinOrphanPackAge old.
		stale := j.cd.uploaded && j.cd.indexedAt.IsZero() && time.Since(j.cd.uploadedAt) >= packReuploadAge
		ok := (!j.cd.uploaded || stale) && j.cd.data != nil
		size, minT := len(j.cd.data), j.cd.ref.MinT
		j.s.mu.Unlock()
		if !ok {
			continue
		}
		k := key{j.t, i.store.PeriodOf(minT)}
		p := open[k]
		if p == nil || (p.bytes > 0 && p.bytes+size > i.maxPackBytes) {
			p = &pack{t: j.t}
			open[k] = p
			out = append(out, p)
		}
		p.jobs = append(p.jobs, j)
		p.bytes += size
	}
	return out
}

// uploadPack writes one pack, with retries, and marks its chunks
// uploaded at their location in it.
func (i *Ingester) uploadPack(ctx context.Context, p *pack) error {
	refs := make([]index.ChunkRef, len(p.jobs))
	data := make([][]byte, len(p.jobs))
	for k, j := range p.jobs {
		j.s.mu.Lock()
		refs[k], data[k] = j.cd.ref, j.cd.data
		j.s.mu.Unlock()
	}
	var located []index.ChunkRef
	err := i.retry(ctx, func() error {
		var err error
		located, err = i.store.PutPack(ctx, p.t.id, i.cfg.Name, refs, data)
		return err
	})
	if err != nil {
		return fmt.Errorf("tenant %s: pack of %d chunks: %w", p.t.id, len(p.jobs), err)
	}
	if len(located) != len(refs) {
		return fmt.Errorf("tenant %s: the store located %d of %d chunks of a pack", p.t.id, len(located), len(refs))
	}
	i.m.packsFlushed.Inc()
	i.m.packBytesFlushed.Add(float64(p.bytes))
	for k, j := range p.jobs {
		i.m.chunksFlushed.WithLabelValues(j.cd.reason).Inc()
		i.m.chunkBytesFlushed.Add(float64(len(data[k])))
		j.s.mu.Lock()
		j.cd.ref = located[k]
		j.cd.uploaded = true
		j.cd.uploadedAt = time.Now()
		j.s.mu.Unlock()
	}
	return nil
}

// writeIndexes writes one index segment per tenant naming every uploaded,
// not yet indexed chunk of jobs, then marks those chunks indexed.
func (i *Ingester) writeIndexes(ctx context.Context, jobs []flushJob) error {
	type pending struct {
		series map[*stream]*index.Series
		descs  []flushJob
	}
	byTenant := make(map[*tenant]*pending)
	for _, j := range jobs {
		j.s.mu.Lock()
		ok := j.cd.uploaded && j.cd.indexedAt.IsZero()
		ref := j.cd.ref
		j.s.mu.Unlock()
		if !ok {
			continue
		}
		p := byTenant[j.t]
		if p == nil {
			p = &pending{series: make(map[*stream]*index.Series)}
			byTenant[j.t] = p
		}
		sr := p.series[j.s]
		if sr == nil {
			sr = &index.Series{Labels: j.s.labels, Fingerprint: j.s.fp}
			p.series[j.s] = sr
		}
		sr.Chunks = append(sr.Chunks, ref)
		p.descs = append(p.descs, j)
	}
	var errs []error
	for t, p := range byTenant {
		series := make([]index.Series, 0, len(p.series))
		for _, sr := range p.series {
			series = append(series, *sr)
		}
		err := i.retry(ctx, func() error { return i.store.PutIndex(ctx, t.id, i.cfg.Name, series) })
		if err != nil {
			i.m.indexFailures.Inc()
			errs = append(errs, fmt.Errorf("tenant %s: writing index segment: %w", t.id, err))
			continue
		}
		i.m.indexSegments.Inc()
		now := time.Now()
		for _, j := range p.descs {
			j.s.mu.Lock()
			j.cd.indexedAt = now
			j.cd.data = nil
			j.s.accountLocked(&i.mem)
			j.s.mu.Unlock()
		}
		i.memWait.notify()
	}
	return errors.Join(errs...)
}

// forgetFlushed drops chunks whose index segment was written at least the
// retain period ago (all indexed chunks when final), and streams left empty
// and idle.
func (i *Ingester) forgetFlushed(now time.Time, final bool) {
	for _, t := range i.allTenants() {
		for _, s := range t.streams() {
			s.mu.Lock()
			kept := s.closed[:0]
			for _, cd := range s.closed {
				if !cd.indexedAt.IsZero() && (final || now.Sub(cd.indexedAt) >= i.cfg.ChunkRetainPeriod) {
					continue
				}
				kept = append(kept, cd)
			}
			for k := len(kept); k < len(s.closed); k++ {
				s.closed[k] = nil
			}
			s.closed = kept
			s.accountLocked(&i.mem)
			empty := s.head == nil && len(s.closed) == 0
			s.mu.Unlock()
			if empty {
				t.remove(s)
			}
		}
	}
}

// retry runs op until it succeeds, ctx ends, or FlushMaxRetries attempts
// failed, backing off exponentially between attempts.
func (i *Ingester) retry(ctx context.Context, op func() error) error {
	backoff := i.cfg.FlushMinBackoff
	var err error
	for attempt := 0; attempt <= i.cfg.FlushMaxRetries; attempt++ {
		if err = op(); err == nil {
			return nil
		}
		if attempt == i.cfg.FlushMaxRetries {
			break
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, i.cfg.FlushMaxBackoff)
	}
	return err
}

func (i *Ingester) checkpointLoop(ctx context.Context) {
	defer i.loops.Done()
	tick := time.NewTicker(i.cfg.WAL.CheckpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := i.checkpoint(); err != nil {
				i.logger.Warn("WAL checkpoint failed; old segments are kept", "err", err)
			}
		}
	}
}

// checkpointRecordSize bounds one checkpoint record, so replay never holds a
// whole stream's data in one buffer.
const checkpointRecordSize = 1 << 20

// checkpoint starts a new WAL segment, writes every entry not yet safe in the
// store into a checkpoint, and lets the WAL delete the segments before it.
// Entries appended while the checkpoint is written land in the new segment
// too; replay drops them as exact duplicates.
func (i *Ingester) checkpoint() error {
	seg, err := i.wal.NextSegment()
	if err != nil {
		i.m.checkpointFails.Inc()
		return fmt.Errorf("starting a new WAL segment: %w", err)
	}
	err = i.wal.Checkpoint(seg, func(emit func([]byte) error) error {
		var enc recordEncoder
		var batch []push.Entry
		for _, t := range i.allTenants() {
			for _, s := range t.streams() {
				for _, c := range s.unindexedChunks() {
					if err := i.checkpointChunk(&enc, &batch, t.id, s, c, emit); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		i.m.checkpointFails.Inc()
		return fmt.Errorf("writing WAL checkpoint: %w", err)
	}
	i.m.checkpoints.Inc()
	return nil
}

func (i *Ingester) checkpointChunk(enc *recordEncoder, batch *[]push.Entry, tenantID string, s *stream,
	c *chunks.MemChunk, emit func([]byte) error) error {
	size := 0
	flushBatch := func() error {
		if len(*batch) == 0 {
			return nil
		}
		enc.begin(tenantID, 1)
		enc.stream(s.labelsString, len(*batch))
		for _, e := range *batch {
			enc.entry(e.Timestamp, e.Line, e.Metadata)
		}
		*batch = (*batch)[:0]
		size = 0
		return emit(enc.buf)
	}
	// The iterator reads a consistent snapshot; appends may continue.
	it := c.Iterator(context.Background(), minInt64, maxInt64, chunks.Forward, nil)
	defer it.Close()
	for it.Next() {
		e := it.At()
		*batch = append(*batch, push.Entry{Timestamp: e.Timestamp, Line: append([]byte(nil), e.Line...), Metadata: e.Metadata})
		size += len(e.Line) + 16
		if size >= checkpointRecordSize {
			if err := flushBatch(); err != nil {
				return err
			}
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading chunk of %s: %w", s.labelsString, err)
	}
	return flushBatch()
}

const (
	minInt64 = -1 << 63
	maxInt64 = 1<<63 - 1
)
