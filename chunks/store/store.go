package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks/index"
)

// ErrNotFound is wrapped by errors for objects that do not exist.
var ErrNotFound = errors.New("object not found")

const (
	// maxListedPeriods is the widest query range, in periods, resolved by
	// probing each period's index directory; wider ranges list the
	// tenant's periods instead.
	maxListedPeriods = 32
	// maxChunkPeriods rejects chunk references spanning absurdly many
	// periods, which would otherwise be copied into each of them.
	maxChunkPeriods = 1024
	// downloadConcurrency bounds parallel segment downloads per Index call.
	downloadConcurrency = 8
	// maxBadSegments bounds the memory spent remembering corrupt segments.
	maxBadSegments = 10000
)

// Store reads and writes one bucket's chunks and index segments, for all
// tenants. It is safe for concurrent use.
type Store struct {
	bkt    objstore.Bucket
	cfg    Config
	logger *slog.Logger
	now    func() time.Time

	cache *segmentCache

	mu       sync.Mutex
	listings map[string]*listing // by index directory
	inflight map[string]*download
	own      map[string]time.Time // segment keys this process put recently, and when
	bad      map[string]struct{}  // segments that failed to open; immutable, so never retried
	lastNano int64                // last timestamp used in a segment name, kept monotonic

	// retention returns a tenant's retention period (0: keep forever);
	// nil keeps every tenant's data forever. See SetRetention.
	retention func(tenant string) time.Duration

	// compactHook, set by tests, runs after each step of CompactChunks;
	// an error stops it there, as a crash would.
	compactHook func(step int) error

	// localRoot is the directory of a filesystem bucket's files, read
	// directly (chunkreader.go); empty for other buckets.
	localRoot string

	cacheRequests  *prometheus.CounterVec
	lists          prometheus.Counter
	corrupt        prometheus.Counter
	localReads     prometheus.Counter
	localReadBytes prometheus.Counter
	missing        prometheus.Counter
}

// listing is a cached list of a period's segment names.
type listing struct {
	names []string // sorted
	at    time.Time
}

// download is an in-progress segment fetch that concurrent callers share.
type download struct {
	done chan struct{}
	r    *index.Reader
	err  error
}

// New returns a Store over bkt. Zero values in cfg's IndexPeriod,
// ListInterval and IndexCacheBytes take their defaults. Metrics are
// registered on reg (nil registers nothing).
func New(bkt objstore.Bucket, cfg Config, logger *slog.Logger, reg prometheus.Registerer) *Store {
	if cfg.IndexPeriod <= 0 {
		cfg.IndexPeriod = DefaultIndexPeriod
	}
	if cfg.ListInterval <= 0 {
		cfg.ListInterval = DefaultListInterval
	}
	if cfg.IndexCacheBytes <= 0 {
		cfg.IndexCacheBytes = DefaultIndexCacheBytes
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := promauto.With(reg)
	cacheBytes := f.NewGauge(prometheus.GaugeOpts{
		Name: "plg_store_index_cache_bytes",
		Help: "Bytes of index segments held in the segment cache.",
	})
	s := &Store{
		bkt:      bkt,
		cfg:      cfg,
		logger:   logger,
		now:      time.Now,
		cache:    newSegmentCache(cfg.IndexCacheBytes, func(n int64) { cacheBytes.Set(float64(n)) }),
		listings: make(map[string]*listing),
		inflight: make(map[string]*download),
		own:      make(map[string]time.Time),
		bad:      make(map[string]struct{}),
		cacheRequests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "plg_store_index_cache_requests_total",
			Help: "Index segment lookups by result (hit: served from the cache, miss: downloaded).",
		}, []string{"result"}),
		lists: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_store_index_lists_total",
			Help: "Listings of a period's index segments sent to the bucket.",
		}),
		corrupt: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_store_index_segments_corrupt_total",
			Help: "Downloaded index segments that failed validation and were skipped.",
		}),
		// objstore's bucket metrics do not see these reads.
		localReads: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_store_chunk_file_reads_total",
			Help: "Positioned reads of chunk files of a filesystem bucket, made directly rather than through the bucket.",
		}),
		localReadBytes: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_store_chunk_file_read_bytes_total",
			Help: "Bytes read by plg_store_chunk_file_reads_total.",
		}),
		missing: f.NewCounter(prometheus.CounterOpts{
			Name: "plg_store_chunks_missing_skipped_total",
			Help: "Chunks a query found missing and skipped because retention may have deleted them (see SkipMissingChunk).",
		}),
	}
	if lb, ok := bkt.(localBucket); ok {
		s.localRoot = lb.localRoot()
	}
	return s
}

// ChunkKey returns the object key of a tenant's chunk under this store's
// index period.
func (s *Store) ChunkKey(tenant string, ref index.ChunkRef) string {
	return ChunkKey(tenant, ref, s.cfg.IndexPeriod)
}

// PutChunk uploads a chunk's bytes under its deterministic key. If
// ref.Size is set it must equal len(data).
func (s *Store) PutChunk(ctx context.Context, tenant string, ref index.ChunkRef, data []byte) error {
	if err := ValidateTenant(tenant); err != nil {
		return err
	}
	key := s.ChunkKey(tenant, ref)
	if ref.Size != 0 && int(ref.Size) != len(data) {
		return fmt.Errorf("put chunk %s: %d bytes, but the reference says %d", key, len(data), ref.Size)
	}
	if err := uploadBytes(ctx, s.bkt, key, data); err != nil {
		return fmt.Errorf("put chunk %s: %w", key, err)
	}
	return nil
}

// PeriodOf returns the number of the index period holding t. The chunks
// of one pack share the period of their MinT ([Store.PutPack]).
func (s *Store) PeriodOf(t int64) int64 { return periodOf(t, s.cfg.IndexPeriod) }

// MaxPackBytes is the size writers keep packs under: with more chunks a
// flush writes several packs, so one failed upload retries a bounded
// amount and uploads run in parallel.
const MaxPackBytes = 64 << 20

// PutPack writes chunks back to back, each unchanged (data[i] holding
// refs[i]'s Size bytes), into one new pack object named after writer,
// the current time and the largest MaxT of the chunks, under the index
// period of their MinT, which must be the same for all (FORMAT.md). It
// returns the references with their location, Pack and Offset, set, to
// be written into the index. The data is not copied.
func (s *Store) PutPack(ctx context.Context, tenant, writer string, refs []index.ChunkRef, data [][]byte) ([]index.ChunkRef, error) {
	if err := ValidateTenant(tenant); err != nil {
		return nil, err
	}
	if err := validateName(writer); err != nil {
		return nil, fmt.Errorf("put pack: writer %q: %s", writer, err)
	}
	if len(refs) == 0 || len(refs) != len(data) {
		return nil, fmt.Errorf("put pack: %d references for %d chunks", len(refs), len(data))
	}
	period := s.PeriodOf(refs[0].MinT)
	maxT := refs[0].MaxT
	for i, r := range refs {
		switch {
		case int(r.Size) != len(data[i]):
			return nil, fmt.Errorf("put pack: chunk %d has %d bytes, but the reference says %d", i, len(data[i]), r.Size)
		case s.PeriodOf(r.MinT) != period:
			return nil, fmt.Errorf("put pack: chunk %d starts in index period %d, the pack's is %d", i, s.PeriodOf(r.MinT), period)
		case r.MaxT < r.MinT:
			return nil, fmt.Errorf("put pack: chunk %d: MaxT %d before MinT %d", i, r.MaxT, r.MinT)
		}
		maxT = max(maxT, r.MaxT)
	}
	name := packName(writer, s.nextNano(), maxT)
	key := packDir(tenant, period) + name
	out := make([]index.ChunkRef, len(refs))
	var off uint64
	for i, r := range refs {
		r.Pack, r.Offset = name, off
		out[i] = r
		off += uint64(r.Size)
	}
	pr := &packReader{chunks: slices.Clone(data), size: int64(off)} // Read consumes its slices
	if err := s.bkt.Upload(ctx, key, pr); err != nil {
		return nil, fmt.Errorf("put pack %s: %w", key, err)
	}
	return out, nil
}

// packReader reads chunks back to back without copying them into one
// buffer. ObjectSize lets buckets that want the length up front (S3's
// single PUT) have it.
type packReader struct {
	chunks [][]byte
	size   int64
}

func (r *packReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(r.chunks) > 0 {
		c := copy(p[n:], r.chunks[0])
		n += c
		if r.chunks[0] = r.chunks[0][c:]; len(r.chunks[0]) == 0 {
			r.chunks = r.chunks[1:]
		}
	}
	if n == 0 && len(r.chunks) == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (r *packReader) ObjectSize() (int64, error) { return r.size, nil }

// objectOf returns the key of the object holding a chunk and the offset
// of the chunk in it: its pack's when it has a location, else its own.
func (s *Store) objectOf(tenant string, ref index.ChunkRef) (string, int64, error) {
	if ref.Pack == "" {
		return s.ChunkKey(tenant, ref), 0, nil
	}
	if !validPackName(ref.Pack) {
		return "", 0, fmt.Errorf("chunk %016x/%x-%x: invalid pack name %q in the index", ref.Fingerprint, ref.MinT, ref.MaxT, ref.Pack)
	}
	return PackKey(tenant, ref, s.cfg.IndexPeriod), int64(ref.Offset), nil
}

// GetChunk downloads a chunk's bytes. Errors name the key and wrap
// [ErrNotFound] when the object does not exist.
func (s *Store) GetChunk(ctx context.Context, tenant string, ref index.ChunkRef) ([]byte, error) {
	if err := ValidateTenant(tenant); err != nil {
		return nil, err
	}
	if ref.Pack != "" {
		// A packed chunk is its reference's Size bytes of the pack.
		b, err := s.GetChunkRange(ctx, tenant, ref, 0, int(ref.Size))
		if err != nil {
			return nil, err
		}
		if len(b) != int(ref.Size) {
			key, _, _ := s.objectOf(tenant, ref)
			return nil, fmt.Errorf("get chunk %s bytes %d+%d: the pack ends after %d", key, ref.Offset, ref.Size, len(b))
		}
		return b, nil
	}
	if s.localRoot != "" && ref.Size > 0 {
		// One byte more than the reference says tells a longer object
		// from one of the right size.
		b, err := s.readChunk(ctx, tenant, ref, 0, int(ref.Size)+1)
		if err != nil {
			return nil, err
		}
		switch {
		case len(b) < int(ref.Size):
			return nil, fmt.Errorf("get chunk %s: %d bytes, but the reference says %d", s.ChunkKey(tenant, ref), len(b), ref.Size)
		case len(b) > int(ref.Size):
			return nil, fmt.Errorf("get chunk %s: more bytes than the reference says %d", s.ChunkKey(tenant, ref), ref.Size)
		}
		return b, nil
	}
	key := s.ChunkKey(tenant, ref)
	b, err := s.get(ctx, key, int(ref.Size))
	if err != nil {
		return nil, fmt.Errorf("get chunk %s: %w", key, err)
	}
	if ref.Size != 0 && int(ref.Size) != len(b) {
		return nil, fmt.Errorf("get chunk %s: %d bytes, but the reference says %d", key, len(b), ref.Size)
	}
	return b, nil
}

// GetChunkRange downloads length bytes of a chunk from byte off (fewer
// if the chunk ends first), so a reader can fetch the header, index and
// filters first and then only the blocks it needs. Errors name the key
// and wrap [ErrNotFound] when the object does not exist.
func (s *Store) GetChunkRange(ctx context.Context, tenant string, ref index.ChunkRef, off, length int) ([]byte, error) {
	if err := ValidateTenant(tenant); err != nil {
		return nil, err
	}
	if s.localRoot != "" {
		return s.readChunk(ctx, tenant, ref, off, length)
	}
	key, base, err := s.objectOf(tenant, ref)
	if err != nil {
		return nil, err
	}
	if ref.Pack != "" {
		// Within the chunk: the pack goes on with other chunks.
		length = max(0, min(length, int(ref.Size)-off))
		if length == 0 {
			return nil, nil
		}
	}
	rc, err := s.bkt.GetRange(ctx, key, base+int64(off), int64(length))
	if err != nil {
		if s.bkt.IsObjNotFoundErr(err) {
			err = fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, fmt.Errorf("get chunk %s bytes %d+%d: %w", key, off, length, err)
	}
	defer rc.Close()
	buf := bytes.NewBuffer(make([]byte, 0, length+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(rc, int64(length))); err != nil {
		return nil, fmt.Errorf("get chunk %s bytes %d+%d: %w", key, off, length, err)
	}
	return buf.Bytes(), nil
}

// get reads a whole object, wrapping ErrNotFound when it is missing.
func (s *Store) get(ctx context.Context, key string, sizeHint int) ([]byte, error) {
	rc, err := s.bkt.Get(ctx, key)
	if err != nil {
		if s.bkt.IsObjNotFoundErr(err) {
			return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return nil, err
	}
	defer rc.Close()
	buf := bytes.NewBuffer(make([]byte, 0, sizeHint+bytes.MinRead))
	if _, err := buf.ReadFrom(rc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// PutIndex writes the index entries of one flush: each chunk reference is
// assigned to every index period it overlaps, and one segment object is
// written per period, named after writer (e.g. the ingester's name) and the
// current time. A segment written here is visible to this Store's Index at
// once (it is listed, not cached: writers do not pay for a cache). On error, segments of other periods may already be written;
// rewriting the same series is harmless because readers deduplicate chunk
// references.
func (s *Store) PutIndex(ctx context.Context, tenant, writer string, series []index.Series) error {
	if err := ValidateTenant(tenant); err != nil {
		return err
	}
	if err := validateName(writer); err != nil {
		return fmt.Errorf("put index: writer %q: %s", writer, err)
	}
	byPeriod, err := s.splitByPeriod(series)
	if err != nil {
		return fmt.Errorf("put index for tenant %s: %w", tenant, err)
	}
	periods := make([]int64, 0, len(byPeriod))
	for p := range byPeriod {
		periods = append(periods, p)
	}
	slices.Sort(periods)
	nano := s.nextNano()
	for _, p := range periods {
		key := indexKey(tenant, p, writer, nano)
		seg, err := index.Write(byPeriod[p])
		if err != nil {
			return fmt.Errorf("put index %s: %w", key, err)
		}
		if _, err := index.Open(seg); err != nil {
			return fmt.Errorf("put index %s: verify: %w", key, err)
		}
		if err := uploadBytes(ctx, s.bkt, key, seg); err != nil {
			return fmt.Errorf("put index %s: %w", key, err)
		}
		// Not cached: an ingester never reads its segments back, and a
		// querier in the same process downloads it once on first use.
		s.addListed(indexDir(tenant, p), key)
	}
	return nil
}

// splitByPeriod distributes series' chunk refs over the periods each chunk
// overlaps.
func (s *Store) splitByPeriod(series []index.Series) (map[int64][]index.Series, error) {
	out := make(map[int64][]index.Series)
	// pos[p] is the index in out[p] of the series being split.
	pos := make(map[int64]int)
	for _, sr := range series {
		clear(pos)
		for _, c := range sr.Chunks {
			if c.MaxT < c.MinT {
				return nil, fmt.Errorf("series %s: chunk MaxT %d before MinT %d", sr.Labels, c.MaxT, c.MinT)
			}
			first, last := periodOf(c.MinT, s.cfg.IndexPeriod), periodOf(c.MaxT, s.cfg.IndexPeriod)
			if last-first >= maxChunkPeriods {
				return nil, fmt.Errorf("series %s: chunk [%d, %d] spans %d index periods", sr.Labels, c.MinT, c.MaxT, last-first+1)
			}
			for p := first; p <= last; p++ {
				i, ok := pos[p]
				if !ok {
					i = len(out[p])
					pos[p] = i
					out[p] = append(out[p], index.Series{Labels: sr.Labels, Fingerprint: sr.Fingerprint})
				}
				out[p][i].Chunks = append(out[p][i].Chunks, c)
			}
		}
	}
	return out, nil
}

// nextNano returns the current time in Unix nanoseconds, strictly greater
// than any value it returned before, so one writer never reuses a name.
func (s *Store) nextNano() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := max(s.now().UnixNano(), s.lastNano+1)
	s.lastNano = n
	return n
}

// addListed records a segment this process wrote in the cached listing of
// its directory, so it is visible before the next re-list, and remembers it
// for listings already in flight that may have missed it.
func (s *Store) addListed(dir, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.own[key] = now
	s.prune(now)
	l, ok := s.listings[dir]
	if !ok {
		return // the next Index lists the directory, which includes key
	}
	if i, found := slices.BinarySearch(l.names, key); !found {
		l.names = slices.Insert(slices.Clip(l.names), i, key)
	}
}

// Index returns a reader over every index segment of the tenant's periods
// that overlap [mint, maxt] (inclusive, Unix nanoseconds). With a
// retention period set for the tenant, mint is raised to its cutoff and the
// reader leaves out chunks ending before it, so queries never see data
// past retention, whether or not the compactor has removed it yet. Segment lists are
// re-read from the bucket at most every ListInterval; segments are served
// from a byte-bounded LRU cache. A segment that fails validation is logged,
// counted and skipped rather than failing every query of its period, and
// remembered so it is not downloaded again (segments are immutable).
func (s *Store) Index(ctx context.Context, tenant string, mint, maxt int64) (*index.MultiReader, error) {
	if err := ValidateTenant(tenant); err != nil {
		return nil, err
	}
	from := s.RetentionCutoff(tenant)
	if mint = max(mint, from); maxt < mint {
		return index.NewMultiReader(), nil
	}
	dirs, err := s.indexDirs(ctx, tenant, mint, maxt)
	if err != nil {
		return nil, err
	}
	readers, err := s.openDirs(ctx, dirs, false)
	if errors.Is(err, ErrNotFound) {
		// A listed segment vanished (e.g. compacted away): list afresh.
		readers, err = s.openDirs(ctx, dirs, true)
	}
	if err != nil {
		return nil, err
	}
	return index.NewMultiReaderFrom(from, readers...), nil
}

// indexDirs returns the index directories of the tenant's periods that
// overlap [mint, maxt]. Narrow ranges are enumerated; wide ones (e.g. an
// unbounded series query) are resolved by listing the tenant's periods.
func (s *Store) indexDirs(ctx context.Context, tenant string, mint, maxt int64) ([]string, error) {
	first, last := periodOf(mint, s.cfg.IndexPeriod), periodOf(maxt, s.cfg.IndexPeriod)
	var dirs []string
	if uint64(last-first) < maxListedPeriods {
		for p := first; p <= last; p++ {
			dirs = append(dirs, indexDir(tenant, p))
		}
		return dirs, nil
	}
	err := s.bkt.Iter(ctx, tenant+"/", func(name string) error {
		p, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, tenant+"/"), "/"), 10, 64)
		if err == nil && p >= first && p <= last {
			dirs = append(dirs, indexDir(tenant, p))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list periods of tenant %s: %w", tenant, err)
	}
	return dirs, nil
}

// openDirs opens every segment in dirs, listing each directory if its
// cached listing is stale or refresh is set.
func (s *Store) openDirs(ctx context.Context, dirs []string, refresh bool) ([]*index.Reader, error) {
	var names []string
	for _, d := range dirs {
		ns, err := s.segmentNames(ctx, d, refresh)
		if err != nil {
			return nil, err
		}
		names = append(names, ns...)
	}
	// names is a copy, so skipping known-corrupt segments leaves the
	// cached listings intact.
	s.mu.Lock()
	names = slices.DeleteFunc(names, func(n string) bool { _, bad := s.bad[n]; return bad })
	s.mu.Unlock()
	readers := make([]*index.Reader, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, downloadConcurrency)
	var wg sync.WaitGroup
	for i, name := range names {
		if r, ok := s.cache.get(name); ok {
			s.cacheRequests.WithLabelValues("hit").Inc()
			readers[i] = r
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			readers[i], errs[i] = s.fetchSegment(ctx, name)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(readers, func(r *index.Reader) bool { return r == nil }), nil
}

// segmentNames returns the sorted segment keys in dir, from the listing
// cache unless it is older than ListInterval or refresh is set.
func (s *Store) segmentNames(ctx context.Context, dir string, refresh bool) ([]string, error) {
	now := s.now()
	s.mu.Lock()
	if l, ok := s.listings[dir]; ok && !refresh && now.Sub(l.at) < s.cfg.ListInterval {
		names := l.names
		s.mu.Unlock()
		return names, nil
	}
	s.mu.Unlock()

	s.lists.Inc()
	listStart := now
	var names []string
	err := s.bkt.Iter(ctx, dir, func(name string) error {
		if isIndexKey(name) {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list index segments %s: %w", dir, err)
	}
	slices.Sort(names)

	s.mu.Lock()
	defer s.mu.Unlock()
	// A segment this process finished putting after the listing started
	// may be missing from it; add it back. Uploads that completed before
	// the listing started are in it (buckets list after write consistently).
	for key, at := range s.own {
		if strings.HasPrefix(key, dir) && !at.Before(listStart) {
			if i, found := slices.BinarySearch(names, key); !found {
				names = slices.Insert(names, i, key)
			}
		}
	}
	s.listings[dir] = &listing{names: names, at: now}
	s.prune(now)
	return names, nil
}

// prune drops listings unused for a long time and forgets own segments
// older than any listing in flight could be, bounding both maps for
// long-running processes. Must be called with s.mu held.
func (s *Store) prune(now time.Time) {
	const maxListings = 4096
	if len(s.listings) > maxListings {
		for dir, l := range s.listings {
			if now.Sub(l.at) > 10*s.cfg.ListInterval {
				delete(s.listings, dir)
			}
		}
	}
	for key, at := range s.own {
		if now.Sub(at) > s.cfg.ListInterval+time.Minute {
			delete(s.own, key)
		}
	}
}

// fetchSegment downloads and opens a segment, sharing one download among
// concurrent callers. A corrupt segment yields (nil, nil) after logging.
func (s *Store) fetchSegment(ctx context.Context, name string) (*index.Reader, error) {
	s.mu.Lock()
	if d, ok := s.inflight[name]; ok {
		s.mu.Unlock()
		select {
		case <-d.done:
			if d.err != nil && ctx.Err() == nil && (errors.Is(d.err, context.Canceled) || errors.Is(d.err, context.DeadlineExceeded)) {
				// The download we joined was abandoned by its caller; ours is
				// still wanted.
				return s.fetchSegment(ctx, name)
			}
			return d.r, d.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	d := &download{done: make(chan struct{})}
	s.inflight[name] = d
	s.mu.Unlock()

	s.cacheRequests.WithLabelValues("miss").Inc()
	d.r, d.err = s.downloadSegment(ctx, name)
	if d.r != nil {
		s.cache.add(name, d.r)
	}
	s.mu.Lock()
	delete(s.inflight, name)
	s.mu.Unlock()
	close(d.done)
	return d.r, d.err
}

func (s *Store) downloadSegment(ctx context.Context, name string) (*index.Reader, error) {
	b, err := s.get(ctx, name, 0)
	if err != nil {
		return nil, fmt.Errorf("get index %s: %w", name, err)
	}
	if cap(b)-len(b) > len(b)/8 {
		// The read buffer grew by doubling; the cache accounts len(b), so
		// do not let it pin up to twice that.
		b = slices.Clone(b)
	}
	r, err := index.Open(b)
	if err != nil {
		s.corrupt.Inc()
		s.logger.Error("skipping unreadable index segment", "key", name, "err", err)
		s.mu.Lock()
		if len(s.bad) < maxBadSegments {
			s.bad[name] = struct{}{}
		}
		s.mu.Unlock()
		return nil, nil
	}
	return r, nil
}

// Tenants returns the IDs of tenants with objects in the bucket, sorted.
func (s *Store) Tenants(ctx context.Context) ([]string, error) {
	var out []string
	err := s.bkt.Iter(ctx, "", func(name string) error {
		id, ok := strings.CutSuffix(name, "/")
		if ok && ValidateTenant(id) == nil {
			out = append(out, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	slices.Sort(out)
	return out, nil
}
