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

	"github.com/plgstack/plg/chunks/index"
)

// Chunk compaction.
//
// With thousands of active streams an ingester cuts chunks of a few KiB
// (its memory budget is shared by every open stream), and each costs
// ratio and a read per query. CompactChunks rewrites a period: per
// stream, runs of small chunks adjacent in time are rebuilt into chunks
// of the target size by a ChunkMerger (package chunks' Compact: the store
// does not look inside chunks), written into new packs, and one new index
// segment replaces the period's segments. The packs nothing references
// any more are deleted later, after a grace period, by CollectPacks.
//
// Crash safety comes from the order of the writes: new packs, then the
// new segment, then a deletion marker naming the packs the rewrite stopped
// referencing, then the deletion of the input segments. A crash before
// the segment leaves packs that no segment references (orphans,
// CollectPacks deletes them after the grace period). A crash after it
// leaves the new segment beside the old ones: a stream then has its
// merged chunk and the small ones overlapping it, and the querier's merge
// of overlapping chunks drops the duplicate entries
// (chunks.NewMergeIterator), so every entry is still read once. The next
// run sees those overlapping chunks as one cluster, rebuilds it into the
// same bytes (Compact's output depends only on the entries), keeps the
// existing reference instead of writing it again, and finishes the job.
// Compact extends a chunk the compactor wrote by keeping its full blocks
// (when the chunks after it start after it); that output equals the
// rebuild, and a cluster of overlapping chunks is always rebuilt. Should
// a kept chunk have been written with other filter densities or zstd
// level (a changed configuration), the rebuild differs in bytes only: the
// run then writes it as a new chunk, entries still read once.

// ChunkBytes is one chunk handed to a ChunkMerger: its bytes and a name
// for errors (the object key and offset).
type ChunkBytes struct {
	Name string
	Data []byte
}

// MergedChunk is one chunk a ChunkMerger built.
type MergedChunk struct {
	Data              []byte
	MinT, MaxT        int64
	Entries           int
	UncompressedBytes int
	Checksum          uint32 // CRC32C of Data, as an ingester computes it
}

// ChunkMerger rebuilds chunks of one stream into chunks of the target
// size, their entries in time order without duplicates. Its output should
// depend only on the entries (not on the inputs' order), so that a rerun
// after a crash rebuilds the same chunks, and must be the same for the
// same inputs, so that concurrent runs agree; consecutive outputs must
// not overlap in time. chunks.Compact is one (it may keep an input's
// blocks, which only a changed configuration makes differ from a
// rebuild's).
type ChunkMerger func(ctx context.Context, inputs []ChunkBytes) ([]MergedChunk, error)

// ChunkCompaction configures CompactChunks.
type ChunkCompaction struct {
	Merge ChunkMerger
	// TargetBytes bounds the stored bytes of the chunks merged into one
	// run (the ingester's target chunk size: the inputs compress worse
	// than their merge, so the output stays under it).
	TargetBytes int
	// SmallBytes is the stored size below which a chunk is merged with
	// its neighbours; larger ones are left as they are.
	SmallBytes int
	// Concurrency is how many groups of chunks are read and merged at
	// once (0: 4).
	Concurrency int
	// Final merges small chunks whatever wrote them, for a period that
	// no longer gets regular flushes (the previous one): a rewrite more
	// per entry at most, so that a period ends as few chunks as it can.
	// Without it a chunk the compactor wrote joins a merge only while it
	// holds at most half of it (see CompactChunks).
	Final bool
	// MaxInputBytes bounds the stored bytes of the chunks one call merges
	// (0: DefaultMaxCompactionInputBytes); the groups past it are left
	// for the next call. A period with more small chunks than that (a
	// store that ran without chunk compaction, a large backlog) is then
	// compacted over several runs, each short enough to finish within
	// its deadline, instead of a run that never ends in time.
	MaxInputBytes int64
}

// DefaultMaxCompactionInputBytes is ChunkCompaction.MaxInputBytes when it
// is 0: at about 19 CPU-seconds per GB of log text merged (four to five
// GB per GB stored) a call takes a minute or two of a core.
const DefaultMaxCompactionInputBytes = 1 << 30

// ChunkCompactionStats counts what one CompactChunks call did.
type ChunkCompactionStats struct {
	// Segments is the number of input segments replaced (0: nothing done).
	Segments int
	// InputChunks and InputBytes count the chunks merged; OutputChunks
	// and OutputBytes the chunks that replaced them (outputs equal to an
	// input, after a crash, included).
	InputChunks, OutputChunks int
	InputBytes, OutputBytes   int64
	// RawBytes is the uncompressed size of the inputs' entries.
	RawBytes int64
	// Packs is the number of packs written; MarkedPacks the number of
	// packs the rewrite stopped referencing, named in a deletion marker.
	Packs, MarkedPacks int
	// Relocated and RelocatedBytes count the chunks copied unchanged out
	// of packs the merges left mostly unreferenced.
	Relocated      int
	RelocatedBytes int64
	// Deferred is the number of groups left for a later call because
	// MaxInputBytes was reached.
	Deferred int
	// Skipped is the number of groups left as they were because a chunk
	// could not be read or merged (logged; retried on the next run).
	Skipped int
}

// compactorPackPrefix starts the names of packs the compactor wrote.
const compactorPackPrefix = CompactorWriter + "-"

// CompactChunks merges, per stream, the small chunks of the tenant's
// index period containing t and replaces the period's index segments by
// one (see the comment above; FORMAT.md, "Chunk compaction"). A period
// whose segments need nothing merged is left alone if it has one segment
// and merged like CompactIndex if it has several. Corrupt segments are
// skipped and left in place; standalone (version 1) chunks and chunks
// that extend into another period are carried over unchanged.
//
// Which chunks merge, per stream, in time order: chunks that overlap in
// time form a cluster, merged whatever their size (overlaps come from
// out-of-order flushes, replicas and reruns after a crash, and merging
// removes the duplicates); consecutive small clusters are gathered up to
// TargetBytes. To bound how often the same data is rewritten, a chunk the
// compactor wrote joins a merge only if it holds at most half of the
// merge's bytes: each rewrite of an entry at least doubles the chunk
// holding it, so no entry is rewritten more than log2(SmallBytes / the
// smallest chunk) times, however often the period is compacted.
//
// That leaves a stream of the current period with a few chunks (sizes
// like the digits of a binary counter); cfg.Final merges them once the
// period is over.
//
// Running it concurrently with itself is safe: outputs are deterministic,
// so two runs write the same chunks into different packs, and the next
// run keeps one reference of each (the other pack becomes garbage).
func (s *Store) CompactChunks(ctx context.Context, tenant string, t int64, cfg ChunkCompaction) (ChunkCompactionStats, error) {
	var st ChunkCompactionStats
	if err := ValidateTenant(tenant); err != nil {
		return st, err
	}
	if cfg.Merge == nil || cfg.TargetBytes <= 0 {
		return st, errors.New("compact chunks: no merger or target size configured")
	}
	p := periodOf(t, s.cfg.IndexPeriod)
	dir := indexDir(tenant, p)
	names, err := s.segmentNames(ctx, dir, true)
	if err != nil {
		return st, err
	}
	var (
		inputs  []string
		readers []*index.Reader
		inPacks = map[string]struct{}{}
	)
	for _, name := range names {
		r, err := s.fetchSegment(ctx, name)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // deleted since the listing, by another compactor
			}
			return st, fmt.Errorf("compact chunks %s: %w", dir, err)
		}
		if r == nil {
			continue // corrupt: logged and counted, left alone
		}
		// Every location, before deduplication: a pack holding only a
		// duplicate of a chunk kept elsewhere is garbage after the rewrite.
		ss, err := r.Select(math.MinInt64, math.MaxInt64)
		if err != nil {
			return st, fmt.Errorf("compact chunks %s: read %s: %w", dir, name, err)
		}
		for _, sr := range ss {
			for _, c := range sr.Chunks {
				if c.Pack != "" && periodOf(c.MinT, s.cfg.IndexPeriod) == p {
					inPacks[c.Pack] = struct{}{}
				}
			}
		}
		inputs = append(inputs, name)
		readers = append(readers, r)
	}
	if len(inputs) == 0 {
		return st, nil
	}
	series, err := index.NewMultiReader(readers...).Select(math.MinInt64, math.MaxInt64)
	if err != nil {
		return st, fmt.Errorf("compact chunks %s: %w", dir, err)
	}

	w := packWriter{s: s, ctx: ctx, tenant: tenant, st: &st}
	out := make([]index.Series, len(series))
	var jobs []*mergeJob
	budget := cfg.MaxInputBytes
	if budget <= 0 {
		budget = DefaultMaxCompactionInputBytes
	}
	for i, sr := range series {
		out[i] = index.Series{Labels: sr.Labels, Fingerprint: sr.Fingerprint}
		groups := s.planChunkMerges(p, sr.Chunks, cfg)
		inGroup := map[index.ChunkRef]bool{}
		for _, g := range groups {
			var size int64
			for _, c := range g {
				size += int64(c.Size)
			}
			// The first group always goes, so a group larger than the
			// budget cannot stall the period.
			if len(jobs) > 0 && size > budget {
				st.Deferred++
				continue
			}
			budget -= size
			for _, c := range g {
				inGroup[c] = true
			}
			jobs = append(jobs, &mergeJob{series: i, refs: g, done: make(chan struct{})})
		}
		for _, c := range sr.Chunks {
			if !inGroup[c] {
				out[i].Chunks = append(out[i].Chunks, c)
			}
		}
	}
	merged := len(jobs)
	if merged == 0 && len(inputs) < 2 {
		return st, nil
	}
	jobs = s.planRelocations(p, series, out, jobs)
	if err := s.runMergeJobs(ctx, tenant, cfg, jobs, func(j *mergeJob) error {
		if j.err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("compact chunks %s: %w", dir, j.err)
			}
			// A chunk that cannot be read (damaged, or a failed read)
			// must not stop the period's compaction for good: its group
			// stays as it is, and the next run tries it again.
			s.logger.Warn("chunk compaction leaves a group of chunks as it is", "dir", dir,
				"series", series[j.series].Labels.String(), "chunks", len(j.refs), "err", j.err)
			st.Skipped++
			out[j.series].Chunks = append(out[j.series].Chunks, j.refs...)
			return nil
		}
		return s.addMerged(&w, &out[j.series], j)
	}); err != nil {
		return st, err
	}
	if err := w.flush(out); err != nil {
		return st, fmt.Errorf("compact chunks %s: %w", dir, err)
	}
	if err := s.compactionStep(stepPacks); err != nil {
		return st, err
	}

	seg, err := index.Write(out)
	if err != nil {
		return st, fmt.Errorf("compact chunks %s: %w", dir, err)
	}
	if _, err := index.Open(seg); err != nil {
		return st, fmt.Errorf("compact chunks %s: verify rewritten segment: %w", dir, err)
	}
	key := indexKey(tenant, p, CompactorWriter, s.nextNano())
	if err := uploadBytes(ctx, s.bkt, key, seg); err != nil {
		return st, fmt.Errorf("compact chunks %s: put %s: %w", dir, key, err)
	}
	s.addListed(dir, key)
	if err := s.compactionStep(stepSegment); err != nil {
		return st, err
	}

	for _, sr := range out {
		for _, c := range sr.Chunks {
			delete(inPacks, c.Pack)
		}
	}
	if len(inPacks) > 0 {
		marked := make([]string, 0, len(inPacks))
		for name := range inPacks {
			marked = append(marked, name)
		}
		slices.Sort(marked)
		if err := s.putDeletionMarker(ctx, tenant, p, marked); err != nil {
			return st, fmt.Errorf("compact chunks %s: %w", dir, err)
		}
		st.MarkedPacks = len(marked)
	}
	if err := s.compactionStep(stepMarker); err != nil {
		return st, err
	}

	n, err := s.deleteObjects(ctx, inputs)
	s.forgetListed(dir, inputs[:n])
	st.Segments = n
	if err != nil {
		return st, fmt.Errorf("compact chunks %s: delete merged input: %w", dir, err)
	}
	s.logger.Info("compacted chunks", "dir", dir, "segments", len(inputs), "key", key,
		"chunks_in", st.InputChunks, "chunks_out", st.OutputChunks, "bytes_in", st.InputBytes, "bytes_out", st.OutputBytes,
		"packs_written", st.Packs, "packs_marked", st.MarkedPacks, "relocated", st.Relocated, "relocated_bytes", st.RelocatedBytes, "skipped", st.Skipped, "deferred", st.Deferred)
	return st, nil
}

// Steps of CompactChunks after which a test may inject a crash.
const (
	stepPacks = iota
	stepSegment
	stepMarker
)

// compactionStep runs the test hook for step, if set: an error stops
// CompactChunks there, as a crash would.
func (s *Store) compactionStep(step int) error {
	if s.compactHook == nil {
		return nil
	}
	return s.compactHook(step)
}

// planChunkMerges returns the groups of refs (a stream's chunks in period
// p, sorted by MinT as Select returns them) to merge, each of two chunks
// or more, as CompactChunks describes.
func (s *Store) planChunkMerges(p int64, refs []index.ChunkRef, cfg ChunkCompaction) [][]index.ChunkRef {
	type cluster struct {
		refs     []index.ChunkRef
		bytes    int64
		eligible bool
	}
	var clusters []cluster
	var end int64
	for _, r := range refs {
		ok := r.Pack != "" && periodOf(r.MinT, s.cfg.IndexPeriod) == p && periodOf(r.MaxT, s.cfg.IndexPeriod) == p
		if n := len(clusters); n > 0 && r.MinT <= end {
			c := &clusters[n-1]
			c.refs = append(c.refs, r)
			c.bytes += int64(r.Size)
			c.eligible = c.eligible && ok
			end = max(end, r.MaxT)
			continue
		}
		clusters = append(clusters, cluster{refs: []index.ChunkRef{r}, bytes: int64(r.Size), eligible: ok})
		end = r.MaxT
	}
	var (
		groups [][]index.ChunkRef
		run    []index.ChunkRef // small clusters gathered
		forced bool             // run holds an overlapping cluster
		bytes  int64
	)
	closeRun := func() {
		switch {
		case forced || cfg.Final && len(run) > 1:
			groups = append(groups, run)
		case cfg.Final:
		default:
			groups = appendRatioGroups(groups, run)
		}
		run, forced, bytes = nil, false, 0
	}
	for _, c := range clusters {
		switch {
		case !c.eligible:
			closeRun()
		case c.bytes >= int64(cfg.SmallBytes):
			closeRun()
			if len(c.refs) > 1 {
				groups = append(groups, c.refs)
			}
		default:
			if bytes+c.bytes > int64(cfg.TargetBytes) {
				closeRun()
			}
			run = append(run, c.refs...)
			bytes += c.bytes
			forced = forced || len(c.refs) > 1
		}
	}
	closeRun()
	return groups
}

// appendRatioGroups appends run to groups if it has two chunks or more
// and no chunk the compactor wrote holds more than half of its bytes;
// such a chunk is left out and the chunks before and after it are
// considered on their own.
func appendRatioGroups(groups [][]index.ChunkRef, run []index.ChunkRef) [][]index.ChunkRef {
	if len(run) < 2 {
		return groups
	}
	var total int64
	for _, c := range run {
		total += int64(c.Size)
	}
	for i, c := range run {
		if strings.HasPrefix(c.Pack, compactorPackPrefix) && 2*int64(c.Size) > total {
			groups = appendRatioGroups(groups, run[:i])
			return appendRatioGroups(groups, run[i+1:])
		}
	}
	return append(groups, run)
}

// mergeJob is the merge of one group of a stream's chunks.
type mergeJob struct {
	series int
	refs   []index.ChunkRef
	// relocate: refs is one chunk, to be copied unchanged into a new pack.
	relocate bool
	done     chan struct{}
	// Set by the job, read once done is closed.
	outs           []MergedChunk
	inBytes, inRaw int64
	err            error
}

// defaultMergeConcurrency is how many groups are read and merged at once
// when ChunkCompaction.Concurrency is 0: reads from an object store are
// round trips, and merging uses a core each.
const defaultMergeConcurrency = 4

// runMergeJobs reads and merges the jobs' chunks, several at once, and
// calls use with each finished job in order; merged chunks wait for use
// in at most a few jobs, so memory stays bounded. It stops at the first
// error use returns.
func (s *Store) runMergeJobs(ctx context.Context, tenant string, cfg ChunkCompaction, jobs []*mergeJob, use func(*mergeJob) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := cfg.Concurrency
	if n <= 0 {
		n = defaultMergeConcurrency
	}
	sem := make(chan struct{}, n)
	launched := make(chan struct{})
	var running sync.WaitGroup
	go func() {
		defer close(launched)
		for _, j := range jobs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			running.Add(1)
			go func() {
				defer running.Done()
				defer close(j.done)
				if j.relocate {
					j.outs, j.err = s.readForRelocation(ctx, tenant, j.refs[0])
					return
				}
				j.outs, j.inBytes, j.inRaw, j.err = s.mergeGroup(ctx, tenant, cfg, j.refs)
			}()
		}
	}()
	var err error
	for _, j := range jobs {
		select {
		case <-j.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err == nil {
			err = use(j)
		}
		if err != nil {
			break
		}
		j.outs = nil
		<-sem
	}
	// Jobs still running see the cancelled context and end soon; none
	// outlives the call.
	cancel()
	<-launched
	running.Wait()
	return err
}

// Relocating chunks.
//
// A flush's pack holds chunks of every stream; compaction merges the
// small ones and leaves the others, so without more the pack would stay
// referenced, whole, by its few surviving chunks (at 1,000 streams every
// pack holds some stream's only chunk: compacting 300 MB grew the store
// from 22.8% to 26.4% of the raw size). So when a rewrite leaves at least
// a quarter of a pack's referenced bytes unreferenced, the chunks it still
// references are copied unchanged (same identity, no decoding) into the
// compactor's pack, and the old pack becomes garbage as a whole. Copies
// cost at most three times the garbage they free. Chunks that reach into
// another period are not moved (that period's segments name the old
// location), and keep their pack.

// planRelocations returns jobs with a relocation added for every chunk
// left in out (removed from it) whose pack the merges of jobs leave at
// least a quarter unreferenced.
func (s *Store) planRelocations(p int64, series, out []index.Series, jobs []*mergeJob) []*mergeJob {
	inPeriod := func(c index.ChunkRef) bool {
		return c.Pack != "" && periodOf(c.MinT, s.cfg.IndexPeriod) == p && periodOf(c.MaxT, s.cfg.IndexPeriod) == p
	}
	live, dead := map[string]int64{}, map[string]int64{}
	for _, sr := range series {
		for _, c := range sr.Chunks {
			if c.Pack != "" && periodOf(c.MinT, s.cfg.IndexPeriod) == p {
				live[c.Pack] += int64(c.Size)
			}
		}
	}
	for _, j := range jobs {
		for _, c := range j.refs {
			dead[c.Pack] += int64(c.Size)
		}
	}
	for i := range out {
		var kept []index.ChunkRef
		for _, c := range out[i].Chunks {
			if d := dead[c.Pack]; d > 0 && 4*d >= live[c.Pack] && inPeriod(c) {
				jobs = append(jobs, &mergeJob{series: i, refs: []index.ChunkRef{c}, relocate: true, done: make(chan struct{})})
				continue
			}
			kept = append(kept, c)
		}
		out[i].Chunks = kept
	}
	return jobs
}

// readForRelocation reads a chunk to be copied as it is.
func (s *Store) readForRelocation(ctx context.Context, tenant string, r index.ChunkRef) ([]MergedChunk, error) {
	b, err := s.GetChunk(ctx, tenant, r)
	if err != nil {
		return nil, err
	}
	return []MergedChunk{{Data: b, MinT: r.MinT, MaxT: r.MaxT, Entries: int(r.Entries), UncompressedBytes: int(r.UncompressedBytes), Checksum: r.Checksum}}, nil
}

// mergeGroup reads the chunks of g and merges them.
func (s *Store) mergeGroup(ctx context.Context, tenant string, cfg ChunkCompaction, g []index.ChunkRef) (outs []MergedChunk, inBytes, inRaw int64, err error) {
	ins := make([]ChunkBytes, len(g))
	for k, r := range g {
		b, err := s.GetChunk(ctx, tenant, r)
		if err != nil {
			return nil, 0, 0, err
		}
		key, off, _ := s.objectOf(tenant, r)
		ins[k] = ChunkBytes{Name: key + "@" + strconv.FormatInt(off, 10), Data: b}
		inBytes += int64(r.Size)
		inRaw += int64(r.UncompressedBytes)
	}
	outs, err = cfg.Merge(ctx, ins)
	return outs, inBytes, inRaw, err
}

// addMerged adds the chunks job j built to sr: an output equal to one of
// the job's inputs keeps that input's reference; the others go to w.
func (s *Store) addMerged(w *packWriter, sr *index.Series, j *mergeJob) error {
	g := j.refs
	if j.relocate {
		ref := g[0]
		ref.Pack, ref.Offset = "", 0
		w.st.Relocated++
		w.st.RelocatedBytes += int64(ref.Size)
		sr.Chunks = append(sr.Chunks, ref)
		return w.add(j.series, len(sr.Chunks)-1, ref, j.outs[0].Data)
	}
	w.st.InputChunks += len(g)
	w.st.InputBytes += j.inBytes
	w.st.RawBytes += j.inRaw
	for _, o := range j.outs {
		ref := index.ChunkRef{Fingerprint: sr.Fingerprint, MinT: o.MinT, MaxT: o.MaxT, Checksum: o.Checksum,
			Size: uint32(len(o.Data)), Entries: uint32(o.Entries), UncompressedBytes: uint32(o.UncompressedBytes)}
		w.st.OutputChunks++
		w.st.OutputBytes += int64(len(o.Data))
		if k := slices.IndexFunc(g, func(r index.ChunkRef) bool {
			return r.MinT == ref.MinT && r.MaxT == ref.MaxT && r.Checksum == ref.Checksum && r.Size == ref.Size
		}); k >= 0 {
			sr.Chunks = append(sr.Chunks, g[k])
			continue
		}
		if s.PeriodOf(ref.MinT) != s.PeriodOf(g[0].MinT) {
			return fmt.Errorf("merged chunk [%d, %d] left the inputs' period", ref.MinT, ref.MaxT)
		}
		sr.Chunks = append(sr.Chunks, ref)
		if err := w.add(j.series, len(sr.Chunks)-1, ref, o.Data); err != nil {
			return err
		}
	}
	return nil
}

// packWriter gathers merged chunks into packs of up to MaxPackBytes and
// writes each as it fills, recording where each chunk went.
type packWriter struct {
	s      *Store
	ctx    context.Context
	tenant string
	st     *ChunkCompactionStats

	refs  []index.ChunkRef
	data  [][]byte
	where [][2]int // series and chunk index in the output of each
	bytes int
	// located holds the final references of packs already written, by
	// output position, applied to the output in flush.
	located map[[2]int]index.ChunkRef
}

func (w *packWriter) add(series, chunk int, ref index.ChunkRef, data []byte) error {
	if w.bytes > 0 && w.bytes+len(data) > MaxPackBytes {
		if err := w.put(); err != nil {
			return err
		}
	}
	w.refs = append(w.refs, ref)
	w.data = append(w.data, data)
	w.where = append(w.where, [2]int{series, chunk})
	w.bytes += len(data)
	return nil
}

func (w *packWriter) put() error {
	if len(w.refs) == 0 {
		return nil
	}
	located, err := w.s.PutPack(w.ctx, w.tenant, CompactorWriter, w.refs, w.data)
	if err != nil {
		return err
	}
	if w.located == nil {
		w.located = make(map[[2]int]index.ChunkRef)
	}
	for k, r := range located {
		w.located[w.where[k]] = r
	}
	w.st.Packs++
	w.refs, w.data, w.where, w.bytes = nil, nil, nil, 0
	return nil
}

// flush writes the last pack and sets every written chunk's location in
// out.
func (w *packWriter) flush(out []index.Series) error {
	if err := w.put(); err != nil {
		return err
	}
	for at, r := range w.located {
		out[at[0]].Chunks[at[1]] = r
	}
	return nil
}
