package ingester

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks/index"
	"github.com/plgstack/plg/ingester/wal"
	"github.com/plgstack/plg/internal/freelist"
	"github.com/plgstack/plg/push"
)

// ChunkStore is where flushed chunks and their index segments go. The
// object store (chunks/store) implements it; tests use fakes that fail on
// demand.
type ChunkStore interface {
	// PeriodOf returns the index period of t: the chunks of one pack
	// start in one period.
	PeriodOf(t int64) int64
	// PutPack writes chunks (data[k] holding refs[k]'s bytes) of one
	// tenant and period into one object and returns the references with
	// their location in it.
	PutPack(ctx context.Context, tenant, writer string, refs []index.ChunkRef, data [][]byte) ([]index.ChunkRef, error)
	PutIndex(ctx context.Context, tenant, writer string, series []index.Series) error
}

// Error is a push failure with the HTTP status it maps to and a message
// for the client.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// ErrNotReady is returned while the WAL is being replayed or after Stop.
var ErrNotReady = &Error{Status: http.StatusServiceUnavailable, Msg: "ingester is not ready: WAL replay in progress or shutting down"}

// Ingester holds every tenant's recent streams. Create it with New, replay
// the WAL with Start, and stop it with Stop.
type Ingester struct {
	cfg    Config
	limits *Overrides
	store  ChunkStore
	logger *slog.Logger
	m      *metrics

	wal     *wal.WAL // nil when the WAL is disabled
	walOpts wal.Options
	walDir  string
	ready   atomic.Bool
	stopped atomic.Bool

	mu      sync.RWMutex
	tenants map[string]*tenant

	flushMu sync.Mutex
	// flushNow wakes the flush loop when a chunk filled up, so full chunks
	// leave memory within about a second instead of a flush period.
	flushNow chan struct{}
	// memPressure wakes the flush loop when the unflushed chunk memory
	// passed the budget (memBudget bytes, 0: none).
	memPressure chan struct{}
	memBudget   int64
	mem         memAccount
	// encoders holds WAL record encoders; a push holds one only inside
	// its decode slot.
	encoders *freelist.List[*recordEncoder]
	// flushing is set while the flush loop runs; pushes wait for memory
	// (backpressure.go) only then, since nothing else frees it.
	flushing    atomic.Bool
	memWait     memWaiter
	pushMaxWait time.Duration
	// decodeSlots bounds the HTTP pushes being decoded and appended at
	// once to GOMAXPROCS: that work is CPU-bound, so more at once only
	// multiplies the decoded request and WAL record buffers held (about
	// 3 MB per 1 MB push). A push leaves its slot when its record is in the
	// WAL's batch, so group commit still gathers every push waiting for
	// the fsync.
	decodeSlots chan struct{}
	// encodeSlots bounds the chunks being encoded for upload at once to
	// GOMAXPROCS, while ConcurrentFlushes uploads wait on the store.
	// Encoding is CPU-bound, and merging a chunk's small blocks holds a
	// decompression buffer, a merged head, seal scratch and a second copy
	// of the chunk for each chunk in progress: with 8 at once on two
	// cores those were 10-20 MiB of live heap at the peak of an ingest.
	encodeSlots chan struct{}
	// maxPackBytes bounds a pack object (maxPackBytes; tests lower it).
	maxPackBytes int

	cancel context.CancelFunc
	loops  sync.WaitGroup
}

// New creates an ingester. dataDir holds the WAL (cfg.WAL.Dir, relative to
// dataDir unless absolute).
func New(cfg Config, limits *Overrides, store ChunkStore, dataDir string, logger *slog.Logger, reg prometheus.Registerer) (*Ingester, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if limits == nil {
		limits = &Overrides{Defaults: DefaultLimits()}
	}
	if logger == nil {
		logger = slog.Default()
	}
	i := &Ingester{
		cfg:      cfg,
		limits:   limits,
		store:    store,
		logger:   logger,
		tenants:  make(map[string]*tenant),
		flushNow: make(chan struct{}, 1),

		memPressure: make(chan struct{}, 1),
		memBudget:   cfg.ChunkMemoryBudget(),
		pushMaxWait: defaultPushMaxWait,
		decodeSlots: make(chan struct{}, runtime.GOMAXPROCS(0)),
		encodeSlots: make(chan struct{}, runtime.GOMAXPROCS(0)),

		maxPackBytes: maxPackBytes,
	}
	i.walDir = cfg.WAL.Dir
	if !filepath.IsAbs(i.walDir) {
		i.walDir = filepath.Join(dataDir, i.walDir)
	}
	i.m = newMetrics(reg, i)
	i.encoders = freelist.New(runtime.GOMAXPROCS(0), func() *recordEncoder { return new(recordEncoder) })
	if cfg.WAL.Enabled {
		sync, err := wal.ParseSyncPolicy(cfg.WAL.Sync)
		if err != nil {
			return nil, fmt.Errorf("ingester.wal.sync: %w", err)
		}
		// The WAL is opened by Start, after replay; keep the options here.
		i.walOpts = wal.Options{
			Dir: i.walDir, SegmentSize: cfg.WAL.SegmentSize, Sync: sync,
			SyncInterval: cfg.WAL.SyncInterval, Logger: logger, Registerer: reg,
		}
	}
	return i, nil
}

// Start replays the WAL, opens it for writing, marks the ingester ready and
// starts the flush and checkpoint loops. It returns once ready.
func (i *Ingester) Start(ctx context.Context) error {
	if i.cfg.WAL.Enabled {
		begin := time.Now()
		n := 0
		stats, err := wal.ReplayWithOptions(i.walDir, wal.ReplayOptions{
			Logger: i.logger, SkipCorrupt: i.cfg.WAL.ReplaySkipCorrupt,
		}, func(rec []byte) error {
			n++
			return i.replayRecord(rec)
		})
		if err != nil {
			return fmt.Errorf("WAL replay from %s: %w (if the WAL is damaged beyond its torn tail, -ingester.wal-replay-skip-corrupt starts anyway, dropping the rest of the damaged file)", i.walDir, err)
		}
		i.m.replayDuration.Set(time.Since(begin).Seconds())
		i.m.replayedRecords.Add(float64(n))
		i.logger.Info("WAL replayed", "dir", i.walDir, "records", n, "streams", i.numStreams(),
			"duration", time.Since(begin).Round(time.Millisecond), "stats", fmt.Sprintf("%+v", stats))
		w, err := wal.Open(i.walOpts)
		if err != nil {
			return fmt.Errorf("opening WAL in %s: %w", i.walDir, err)
		}
		i.wal = w
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	i.cancel = cancel
	i.loops.Add(1)
	i.flushing.Store(true)
	go i.flushLoop(loopCtx)
	if i.wal != nil {
		i.loops.Add(1)
		go i.checkpointLoop(loopCtx)
	}
	i.ready.Store(true)
	return nil
}

// Ready reports whether WAL replay finished and pushes are accepted.
func (i *Ingester) Ready() bool { return i.ready.Load() && !i.stopped.Load() }

// Stop refuses further pushes, flushes every in-memory chunk when
// FlushOnShutdown is set (leaving the WAL empty), and closes the WAL. Without
// the flush the WAL keeps everything for the next start.
func (i *Ingester) Stop(ctx context.Context) error {
	if i.stopped.Swap(true) {
		return nil
	}
	if i.cancel != nil {
		i.cancel()
	}
	i.loops.Wait()
	i.flushing.Store(false)
	i.memWait.notify() // pushes waiting for memory fail with ErrNotReady
	var errs []error
	if i.cfg.FlushOnShutdown && i.ready.Load() {
		if err := i.flush(ctx, true, true); err != nil {
			errs = append(errs, fmt.Errorf("flush on shutdown: %w", err))
		} else if i.wal != nil {
			// Everything is in the store: an empty checkpoint lets every
			// segment go, so the next start replays nothing.
			if err := i.checkpoint(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if i.wal != nil {
		if err := i.wal.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing WAL: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (i *Ingester) getTenant(id string) *tenant {
	i.mu.RLock()
	t := i.tenants[id]
	i.mu.RUnlock()
	if t != nil {
		return t
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if t = i.tenants[id]; t == nil {
		t = newTenant(id)
		i.tenants[id] = t
	}
	return t
}

func (i *Ingester) lookupTenant(id string) *tenant {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.tenants[id]
}

func (i *Ingester) allTenants() []*tenant {
	i.mu.RLock()
	defer i.mu.RUnlock()
	out := make([]*tenant, 0, len(i.tenants))
	for _, t := range i.tenants {
		out = append(out, t)
	}
	return out
}

// updateMergeAtEncode sets mem.mergeAtEncode and mem.provisionalSeals
// from the budget and the streams there are now (see minBudgetPerStream
// and minSealBudgetPerStream).
func (i *Ingester) updateMergeAtEncode() {
	n := int64(i.numStreams())
	i.mem.mergeAtEncode.Store(i.memBudget > 0 && i.memBudget < n*minBudgetPerStream)
	i.mem.provisionalSeals.Store(i.memBudget > 0 && i.memBudget < n*minSealBudgetPerStream)
}

func (i *Ingester) numStreams() int {
	n := 0
	for _, t := range i.allTenants() {
		n += t.numStreams()
	}
	return n
}

func (i *Ingester) numChunks() int {
	n := 0
	for _, t := range i.allTenants() {
		for _, s := range t.streams() {
			s.mu.Lock()
			n += len(s.closed)
			if s.head != nil {
				n++
			}
			s.mu.Unlock()
		}
	}
	return n
}

// Push validates req, appends what passes, and makes it durable. It returns
// nil when everything was accepted, an *Error with status 400 that lists what
// was refused when only some was (the rest is kept), 429 when the tenant's
// rate limit refused the whole request, and another error when the WAL
// failed (the client should retry).
func (i *Ingester) Push(ctx context.Context, tenantID string, req *push.Request) error {
	return i.push(ctx, tenantID, req, nil, true)
}

// push is Push; release, if not nil, is called once req is no longer
// needed (its lines are in chunks and in the WAL's pending batch), at the
// latest when push returns, so the caller can recycle req's buffers while
// the WAL fsync is awaited. waitMemory is false when the caller already
// waited for chunk memory (handlePush, before reading the body).
func (i *Ingester) push(ctx context.Context, tenantID string, req *push.Request, release func(), waitMemory bool) error {
	if release != nil {
		release = sync.OnceFunc(release)
		defer release()
	}
	if !i.Ready() {
		return ErrNotReady
	}
	if waitMemory {
		if err := i.waitForMemory(ctx); err != nil {
			return err
		}
	}
	now := time.Now()
	lim := i.limits.For(tenantID)
	var report pushReport
	var totalBytes int
	for si := range req.Streams {
		report.total += len(req.Streams[si].Entries)
		for ei := range req.Streams[si].Entries {
			totalBytes += len(req.Streams[si].Entries[ei].Line)
		}
	}
	if report.total == 0 {
		return nil
	}
	if !i.limits.allowBytes(tenantID, totalBytes, now) {
		i.m.rejected.WithLabelValues(tenantID, reasonRateLimited).Add(float64(report.total))
		return &Error{Status: http.StatusTooManyRequests, Msg: fmt.Sprintf(
			"ingestion rate limit exceeded for tenant %q (limit %g MB/s, burst %g MB): all %d entries (%d bytes) of this push were rejected; retry later, or raise limits.ingestion_rate_mb",
			tenantID, lim.IngestionRateMB, lim.IngestionBurstSizeMB, report.total, totalBytes)}
	}

	t := i.getTenant(tenantID)
	i.updateMergeAtEncode()
	enc := i.encoders.Get()
	encDone := false
	putEnc := func() {
		if !encDone {
			encDone = true
			if cap(enc.buf) > 8<<20 {
				enc.buf = nil // do not pin one huge request's buffer in the pool
			}
			i.encoders.Put(enc)
		}
	}
	defer putEnc()
	type appended struct {
		s       *stream
		entries []push.Entry
	}
	var done []appended
	acceptedLines, acceptedBytes, dupTotal := 0, 0, 0

	for si := range req.Streams {
		ps := &req.Streams[si]
		if len(ps.Entries) == 0 {
			continue
		}
		s := t.lookupRaw(ps.Labels)
		if s == nil {
			lbs, err := parseStreamLabels(ps.Labels)
			if err != nil {
				report.reject(truncateForReport(ps.Labels), reasonInvalidLabels, err.Error(), len(ps.Entries))
				i.m.rejected.WithLabelValues(tenantID, reasonInvalidLabels).Add(float64(len(ps.Entries)))
				continue
			}
			if reason, msg := validateLabels(lbs, lim); reason != "" {
				report.reject(truncateForReport(ps.Labels), reason, msg, len(ps.Entries))
				i.m.rejected.WithLabelValues(tenantID, reason).Add(float64(len(ps.Entries)))
				continue
			}
			lbs = withServiceName(lbs, lim.DiscoverServiceName)
			s, _ = t.getOrCreate(lbs, ps.Labels, lim.MaxStreamsPerTenant)
			if s == nil {
				msg := fmt.Sprintf("tenant %q already has the maximum of %d streams; new streams are refused until old ones are flushed (limits.max_streams_per_tenant)", tenantID, lim.MaxStreamsPerTenant)
				report.reject(lbs.String(), reasonStreamLimit, msg, len(ps.Entries))
				i.m.rejected.WithLabelValues(tenantID, reasonStreamLimit).Add(float64(len(ps.Entries)))
				continue
			}
			// When a burst of new streams thins the budget, their
			// chunks' first runs must see it.
			i.updateMergeAtEncode()
		}
		// Entry checks that need no stream state, filtering in place.
		kept := ps.Entries[:0]
		for ei := range ps.Entries {
			e := ps.Entries[ei]
			line, reason, msg := entryVerdict(e.Timestamp, e.Line, e.Metadata, lim, now)
			if reason != "" {
				report.reject(s.labelsString, reason, fmt.Sprintf("entry %d: %s", ei, msg), 1)
				i.m.rejected.WithLabelValues(tenantID, reason).Inc()
				continue
			}
			e.Line = line
			kept = append(kept, e)
		}
		if len(kept) == 0 {
			continue
		}
		accepted, dups, err := s.append(&i.cfg, kept, false, now, &i.mem, i.sealAt(), func(e *push.Entry, msg string) {
			report.reject(s.labelsString, reasonTooFarBehind, msg, 1)
			i.m.rejected.WithLabelValues(tenantID, reasonTooFarBehind).Inc()
		})
		for errors.Is(err, errStreamRemoved) {
			// The flush loop forgot the stream, flushed and idle, between
			// the lookup and the append: append to its successor instead,
			// or the entries would live only in a stream nothing reads.
			if s, _ = t.getOrCreate(s.labels, ps.Labels, lim.MaxStreamsPerTenant); s == nil {
				err = fmt.Errorf("tenant %q reached the maximum of %d streams while a stream was being recreated (limits.max_streams_per_tenant)", tenantID, lim.MaxStreamsPerTenant)
				break
			}
			accepted, dups, err = s.append(&i.cfg, kept, false, now, &i.mem, i.sealAt(), func(e *push.Entry, msg string) {
				report.reject(s.labelsString, reasonTooFarBehind, msg, 1)
				i.m.rejected.WithLabelValues(tenantID, reasonTooFarBehind).Inc()
			})
		}
		if err != nil {
			if s == nil {
				return &Error{Status: http.StatusTooManyRequests, Msg: err.Error()}
			}
			return fmt.Errorf("stream %s: %w", s.labelsString, err)
		}
		dupTotal += dups
		s.mu.Lock()
		full := len(s.closed) > 0 && !s.closed[len(s.closed)-1].uploaded
		s.mu.Unlock()
		if full {
			select {
			case i.flushNow <- struct{}{}:
			default:
			}
		}
		if len(accepted) > 0 {
			done = append(done, appended{s, accepted})
			acceptedLines += len(accepted)
			for _, e := range accepted {
				acceptedBytes += len(e.Line)
			}
		}
	}

	i.checkMemory()
	if i.wal != nil && len(done) > 0 {
		enc.begin(tenantID, len(done))
		for _, a := range done {
			enc.stream(a.s.labelsString, len(a.entries))
			for _, e := range a.entries {
				enc.entry(e.Timestamp, e.Line, e.Metadata)
			}
		}
		// Once the record is in the WAL's batch, the record buffer and the
		// request go back to their pools while the fsync is awaited.
		err := i.wal.LogRelease(func() {
			putEnc()
			// The report of refused entries may quote the request's labels.
			if release != nil && report.rejected == 0 {
				release()
			}
		}, enc.buf)
		if err != nil {
			return fmt.Errorf("writing the WAL: %w (the push was not acknowledged; retry it)", err)
		}
	}
	if acceptedLines > 0 {
		i.m.ingestedLines.WithLabelValues(tenantID).Add(float64(acceptedLines))
		i.m.ingestedBytes.WithLabelValues(tenantID).Add(float64(acceptedBytes))
	}
	if dupTotal > 0 {
		i.m.duplicates.WithLabelValues(tenantID).Add(float64(dupTotal))
	}
	if report.rejected > 0 {
		return &Error{Status: http.StatusBadRequest, Msg: report.String()}
	}
	return nil
}

func truncateForReport(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// replayRecord applies one WAL or checkpoint record. Replay bypasses limits
// and the out-of-order window: everything in the WAL was accepted once.
func (i *Ingester) replayRecord(rec []byte) error {
	now := time.Now()
	return decodeRecord(rec, func(tenantID string, rs *recordStream) error {
		t := i.getTenant(tenantID)
		s := t.lookupRaw(rs.labels)
		if s == nil {
			lbs, err := parseStreamLabels(rs.labels)
			if err != nil {
				return fmt.Errorf("tenant %s stream %s: %w", tenantID, rs.labels, err)
			}
			s, _ = t.getOrCreate(lbs, rs.labels, 0)
		}
		_, _, err := s.append(&i.cfg, rs.entries, true, now, &i.mem, i.sealAt(), func(*push.Entry, string) {})
		return err
	})
}

// Series returns the label sets of tenantID's streams matching ms that hold
// data in [from, through).
func (i *Ingester) Series(tenantID string, from, through int64, ms []*labels.Matcher) []labels.Labels {
	t := i.lookupTenant(tenantID)
	if t == nil {
		return nil
	}
	var out []labels.Labels
	for _, s := range t.matching(ms) {
		if s.overlaps(from, through) {
			out = append(out, s.labels)
		}
	}
	return out
}
