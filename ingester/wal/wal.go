package wal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plgstack/plg/internal/freelist"
)

// ErrClosed is returned by calls on a closed WAL.
var ErrClosed = errors.New("wal: closed")

// maxSpareBuffer caps the batch buffer kept for reuse; a burst that grew it
// beyond this gives the memory back.
const maxSpareBuffer = 16 << 20

// WAL appends opaque records to numbered segment files in one directory.
//
// Log may be called from many goroutines. A single flusher goroutine writes
// whatever callers appended since its last write with one write(2) and,
// under SyncAlways, one fsync shared by all of them (group commit).
type WAL struct {
	opts Options
	log  *slog.Logger
	m    *metrics
	lock *os.File

	// syncFile and writeFile are the fsync and write(2) used on WAL
	// files; tests replace them to model a slow or failing disk.
	syncFile  func(*os.File) error
	writeFile func(*os.File, []byte) (int, error)

	mu       sync.Mutex
	progress *sync.Cond // on mu; broadcast when a batch is done or the WAL fails
	buf      []byte     // frames appended since the flusher last took the batch
	cuts     []int      // offsets in buf at which the flusher starts a new segment
	spare    []byte
	spareCut []int
	batch    *batch // result of the batch being filled; its callers wait on it
	segLog   int    // segment that records appended now will land in
	segFill  int64  // bytes assigned to segLog so far
	err      error  // sticky: once an fsync (or an undo) failed, every call fails
	closed   bool

	kick        chan struct{} // wakes the flusher; capacity 1
	flusherDone chan struct{}

	// Owned by the flusher goroutine (by Close once the flusher stopped).
	seg      *os.File
	segOff   int64     // bytes in seg
	dirty    bool      // written since the last fsync
	lastSync time.Time // of seg, for SyncInterval

	curSeg atomic.Int64 // segment the flusher writes into
	size   atomic.Int64 // bytes on disk, maintained incrementally for the gauge

	cpMu sync.Mutex // serialises Checkpoint and Truncate
}

// Open opens or creates the WAL in opts.Dir. It removes leftovers of
// interrupted checkpoints, repairs a torn tail of the newest segment (so it
// can never end up in the middle of the log), and starts a new segment after
// every existing segment and checkpoint. Existing records are not read back:
// call Replay for that, normally before Open. (Replay after Open also works;
// it then only reads, since Open already repaired the old newest segment.)
func Open(opts Options) (*WAL, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: create dir: %w", err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	w := &WAL{
		opts:        opts,
		log:         opts.Logger.With("component", "wal", "dir", opts.Dir),
		m:           newMetrics(opts.Registerer),
		lock:        lock,
		syncFile:    (*os.File).Sync,
		writeFile:   (*os.File).Write,
		kick:        make(chan struct{}, 1),
		flusherDone: make(chan struct{}),
		batch:       new(batch),
	}
	w.progress = sync.NewCond(&w.mu)
	if err := w.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	go w.run()
	return w, nil
}

// recover prepares the directory and opens the first new segment.
func (w *WAL) recover() error {
	dir := w.opts.Dir
	l, err := listDir(dir)
	if err != nil {
		return err
	}
	for _, t := range l.tmp {
		if err := os.Remove(filepath.Join(dir, t)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("wal: remove leftover %s: %w", t, err)
		}
		w.log.Warn("removed leftover of an interrupted checkpoint", "file", t)
	}
	next := 0
	if n := len(l.segments); n > 0 {
		last := l.segments[n-1]
		if err := w.repairTail(last); err != nil {
			return err
		}
		next = last.index + 1
	}
	if n := len(l.checkpoints); n > 0 && l.checkpoints[n-1].index >= next {
		next = l.checkpoints[n-1].index + 1
	}
	if l, err = listDir(dir); err != nil {
		return err
	}
	w.size.Store(l.total(dir))
	if err := w.openSegment(next); err != nil {
		return err
	}
	w.segLog = next
	w.segFill = fileHeaderSize
	return nil
}

// repairTail truncates an invalid tail of the newest segment, which a crash
// mid-write leaves behind. Nothing after a valid prefix of the newest
// segment was ever acknowledged under SyncAlways.
func (w *WAL) repairTail(s fileRef) error {
	path := filepath.Join(w.opts.Dir, s.name)
	br := bufio.NewReaderSize(nil, readBufferSize)
	_, err := scanFile(path, kindSegment, br, nil)
	var fe *frameError
	if err == nil || !errors.As(err, &fe) {
		if err != nil {
			return fmt.Errorf("wal: check newest segment %s: %w", s.name, err)
		}
		return nil
	}
	if err := truncateFile(path, fe.Offset); err != nil {
		return err
	}
	w.m.corruptions.WithLabelValues(corruptionTornTail).Inc()
	w.log.Warn("truncated torn tail of newest segment (crash mid-write; the lost bytes were never acknowledged under sync=always)",
		"segment", s.name, "offset", fe.Offset, "bytes_removed", s.size-fe.Offset, "reason", fe.Reason, "cut_short", fe.Torn)
	return nil
}

func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("wal: open %s for truncation: %w", path, err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: truncate %s to %d bytes: %w", path, size, err)
	}
	return nil
}

// openSegment creates segment i, writes its header and makes its directory
// entry durable. Called by Open and by the flusher.
func (w *WAL) openSegment(i int) error {
	name := SegmentName(i)
	f, err := os.OpenFile(filepath.Join(w.opts.Dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("wal: create segment %s: %w", name, err)
	}
	var h [fileHeaderSize]byte
	if _, err := f.Write(appendFileHeader(h[:0], kindSegment)); err != nil {
		f.Close()
		return fmt.Errorf("wal: write header of segment %s: %w", name, err)
	}
	// The header itself needs no fsync now: the first fsync of records in
	// this segment covers it, and an empty or zero-filled newest segment is
	// repaired like any torn tail.
	if err := syncDir(w.opts.Dir); err != nil {
		f.Close()
		return err
	}
	w.seg = f
	w.segOff = fileHeaderSize
	w.dirty = true
	w.lastSync = time.Now()
	w.curSeg.Store(int64(i))
	w.addSize(fileHeaderSize)
	return nil
}

func (w *WAL) addSize(n int64) {
	w.m.bytes.Set(float64(w.size.Add(n)))
}

// Log appends recs and returns once they are durable per the sync policy:
// written and fsynced (SyncAlways) or written to the kernel (SyncInterval,
// SyncNever). Records of one call are appended contiguously and in order;
// records of concurrent calls are ordered by the moment each call took the
// internal lock. Log does not retain recs.
//
// If write(2) fails (a full disk), the partial data is cut off again and
// only the calls of that batch fail; later calls succeed once space is
// free. If an fsync fails, that call and every later one returns the
// error: after a failed fsync the page cache can no longer be trusted, so
// the WAL refuses to acknowledge anything more. Close it and Open again.
func (w *WAL) Log(recs ...[]byte) error {
	return w.LogRelease(nil, recs...)
}

// LogRelease is Log, except that it calls release (if not nil) as soon as
// recs have been copied into the pending batch, before waiting for them to
// be durable; it is called exactly once, also when LogRelease fails. The
// caller can recycle the buffers behind recs, and whatever they were made
// from, while the fsync runs: under group commit most of a call's time is
// that wait, so buffers held through it multiply with the concurrent
// callers. release runs with the WAL's lock held: it must be quick and must
// not call the WAL.
func (w *WAL) LogRelease(release func(), recs ...[]byte) error {
	if release != nil {
		release = sync.OnceFunc(release)
		defer release()
	}
	if len(recs) == 0 {
		return nil
	}
	// Compression and checksums outside the lock, so concurrent callers
	// compute in parallel; under the lock only the copy into the batch.
	var frameArr [8]pendingFrame
	frames := frameArr[:0]
	var scratch *[]byte
	putScratch := func() {
		if scratch != nil && cap(*scratch) <= maxSpareBuffer {
			*scratch = (*scratch)[:0]
			scratches.Put(scratch)
		}
		scratch = nil
	}
	if !w.opts.NoCompression {
		scratch = scratches.Get()
		defer putScratch()
	}
	for i, r := range recs {
		if len(r) > MaxRecordSize {
			return fmt.Errorf("wal: record %d is %d bytes, maximum %d", i, len(r), MaxRecordSize)
		}
		f := pendingFrame{typ: recFull, stored: r}
		if scratch != nil {
			start := len(*scratch)
			var ok bool
			if *scratch, ok = compressInto(*scratch, r); ok {
				f = pendingFrame{typ: recS2, start: start, end: len(*scratch)}
			}
		}
		frames = append(frames, f)
	}
	for i := range frames {
		f := &frames[i]
		if f.typ == recS2 { // scratch may have moved while growing: slice it now
			f.stored = (*scratch)[f.start:f.end]
		}
		f.crc = frameCRC(f.typ, f.stored)
	}

	w.mu.Lock()
	if err := w.usable(); err != nil {
		w.mu.Unlock()
		return err
	}
	for _, f := range frames {
		size := int64(recordHeaderSize + len(f.stored))
		if w.segFill > fileHeaderSize && w.segFill+size > w.opts.SegmentSize {
			w.cutLocked()
		}
		w.buf = appendFrame(w.buf, f.typ, f.stored, f.crc)
		w.segFill += size
	}
	// The frames are in the batch: nothing of recs or scratch is needed
	// while waiting. Released under mu only because unlocking and
	// relocking around it would let the batch go without this call.
	putScratch()
	if release != nil {
		release()
	}
	err := w.waitLocked()
	w.mu.Unlock()
	if err != nil {
		return err
	}
	w.m.records.Add(float64(len(recs)))
	return nil
}

// pendingFrame is one record of a Log call, prepared outside the lock.
type pendingFrame struct {
	typ        byte
	stored     []byte // the record, or its S2 block in scratch[start:end]
	start, end int
	crc        uint32
}

// scratches holds the compression buffers of Log calls. The ingester
// calls Log from at most GOMAXPROCS pushes at once (its decode slots), so
// that many are kept (internal/freelist says why not a sync.Pool).
var scratches = freelist.New(runtime.GOMAXPROCS(0), func() *[]byte { return new([]byte) })

// NextSegment closes the current segment (after fsyncing it) and starts a
// new one. It returns the index of the segment it closed: every record whose
// Log returned before NextSegment was called is in a segment <= that index,
// so it is the upto to pass to Checkpoint.
func (w *WAL) NextSegment() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return 0, err
	}
	closed := w.segLog
	w.cutLocked()
	if err := w.waitLocked(); err != nil {
		return 0, err
	}
	return closed, nil
}

func (w *WAL) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return ErrClosed
	}
	return nil
}

// cutLocked asks the flusher to start a new segment at the current end of
// the batch.
func (w *WAL) cutLocked() {
	w.cuts = append(w.cuts, len(w.buf))
	w.segLog++
	w.segFill = fileHeaderSize
}

// batch is the outcome the callers of one flusher batch wait for.
type batch struct {
	done bool  // the flusher finished it
	err  error // a write error that was undone: this batch failed, the WAL goes on
}

// waitLocked wakes the flusher and waits until the batch being filled is
// done. Called with mu held; returns with mu held.
func (w *WAL) waitLocked() error {
	b := w.batch
	select {
	case w.kick <- struct{}{}:
	default: // a wake-up is already pending
	}
	for !b.done && w.err == nil {
		w.progress.Wait()
	}
	if b.done {
		return b.err
	}
	return w.err
}

// run is the flusher: it takes the whole pending batch, writes it with one
// write(2) per segment it touches, fsyncs per policy, and wakes the callers.
func (w *WAL) run() {
	defer close(w.flusherDone)
	var tick <-chan time.Time
	if w.opts.Sync == SyncInterval {
		t := time.NewTicker(w.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		w.mu.Lock()
		for len(w.buf) == 0 && len(w.cuts) == 0 && !w.closed {
			w.mu.Unlock()
			select {
			case <-w.kick:
			case <-tick:
				if w.dirty && w.failed() == nil {
					if err := w.syncSeg(); err != nil {
						w.fail(err)
					}
				}
			}
			w.mu.Lock()
		}
		if len(w.buf) == 0 && len(w.cuts) == 0 { // closed and drained
			w.mu.Unlock()
			return
		}
		// Callers woken by the previous batch are runnable now; let them
		// append before taking the batch. Without this the first caller
		// to come back gets a batch (and an fsync) of its own, and batches
		// alternate between one caller and all the others.
		w.mu.Unlock()
		runtime.Gosched()
		w.mu.Lock()
		buf, cuts, b := w.buf, w.cuts, w.batch
		w.buf, w.cuts = w.spare[:0], w.spareCut[:0]
		w.spare, w.spareCut = nil, nil
		w.batch = new(batch)
		failed := w.err
		w.mu.Unlock()

		var batchErr, fatal error
		if failed == nil {
			batchErr, fatal = w.writeBatch(buf, cuts)
		}

		w.mu.Lock()
		if fatal != nil {
			w.failLocked(fatal)
		}
		if w.err == nil {
			b.done, b.err = true, batchErr
		}
		if cap(buf) <= maxSpareBuffer {
			w.spare = buf[:0]
		}
		w.spareCut = cuts[:0]
		w.progress.Broadcast()
		w.mu.Unlock()
	}
}

func (w *WAL) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *WAL) fail(err error) {
	w.mu.Lock()
	w.failLocked(err)
	w.progress.Broadcast()
	w.mu.Unlock()
}

func (w *WAL) failLocked(err error) {
	if w.err == nil {
		w.err = err
		w.log.Error("write-ahead log failed; refusing further appends until reopened", "err", err)
	}
}

// writeBatch writes buf, starting a new segment at each cut. A failed
// write(2) (ENOSPC, EDQUOT, EIO) that could be undone is returned as
// batchErr: this batch's callers get it and the WAL goes on, so a full disk
// fails pushes until space is freed instead of forever. Any error after
// which the files cannot be trusted (a failed fsync, rotation or undo) is
// returned as fatal. The segment cuts are performed even after a batchErr so
// that segment numbering stays what NextSegment promised.
func (w *WAL) writeBatch(buf []byte, cuts []int) (batchErr, fatal error) {
	prev := 0
	for _, c := range cuts {
		if batchErr == nil {
			if batchErr, fatal = w.write(buf[prev:c]); fatal != nil {
				return nil, fatal
			}
		}
		if fatal = w.rotate(); fatal != nil {
			return nil, fatal
		}
		prev = c
	}
	if batchErr == nil {
		if batchErr, fatal = w.write(buf[prev:]); fatal != nil {
			return nil, fatal
		}
	}
	// SyncInterval: the ticker covers idle periods; under sustained load
	// the flusher never idles, so check the clock here too.
	if w.dirty && (w.opts.Sync == SyncAlways ||
		w.opts.Sync == SyncInterval && time.Since(w.lastSync) >= w.opts.SyncInterval) {
		if fatal = w.syncSeg(); fatal != nil {
			return nil, fatal
		}
	}
	return batchErr, nil
}

// write appends p to the current segment. If write(2) fails, it cuts the
// segment back to where p started, so no partial frame stays behind.
func (w *WAL) write(p []byte) (writeErr, fatal error) {
	if len(p) == 0 {
		return nil, nil
	}
	start := w.segOff
	n, err := w.writeFile(w.seg, p)
	w.segOff += int64(n)
	w.addSize(int64(n))
	w.dirty = true
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err == nil {
		return nil, nil
	}
	name := SegmentName(int(w.curSeg.Load()))
	writeErr = fmt.Errorf("wal: write segment %s: %w", name, err)
	if terr := w.seg.Truncate(start); terr != nil {
		return nil, fmt.Errorf("%w; undoing it failed: %w", writeErr, terr)
	}
	if _, serr := w.seg.Seek(start, io.SeekStart); serr != nil {
		return nil, fmt.Errorf("%w; undoing it failed: %w", writeErr, serr)
	}
	w.addSize(start - w.segOff)
	w.segOff = start
	w.log.Warn("append failed and was undone; the WAL continues", "segment", name, "err", err)
	return writeErr, nil
}

// rotate fsyncs and closes the current segment, whatever the policy, so
// that only the newest segment can ever have a torn tail.
func (w *WAL) rotate() error {
	if err := w.syncSeg(); err != nil {
		return err
	}
	name := w.seg.Name()
	if err := w.seg.Close(); err != nil {
		return fmt.Errorf("wal: close segment %s: %w", name, err)
	}
	w.seg = nil
	return w.openSegment(int(w.curSeg.Load()) + 1)
}

func (w *WAL) fsync(f *os.File) error {
	start := time.Now()
	err := w.syncFile(f)
	w.m.fsyncDuration.Observe(time.Since(start).Seconds())
	w.m.fsyncs.Inc()
	if err != nil {
		return fmt.Errorf("wal: fsync %s: %w", filepath.Base(f.Name()), err)
	}
	return nil
}

// syncSeg fsyncs the current segment. Flusher (or closed WAL) only.
func (w *WAL) syncSeg() error {
	if err := w.fsync(w.seg); err != nil {
		return err
	}
	w.dirty = false
	w.lastSync = time.Now()
	return nil
}

// Size returns the bytes the WAL's files occupy on disk, read from the
// directory (plg_wal_bytes tracks the same figure incrementally).
func (w *WAL) Size() (int64, error) {
	l, err := listDir(w.opts.Dir)
	if err != nil {
		return 0, err
	}
	return l.total(w.opts.Dir), nil
}

// Dir returns the directory the WAL lives in.
func (w *WAL) Dir() string { return w.opts.Dir }

// Close writes and fsyncs everything appended so far, closes the current
// segment and releases the directory lock. Calls after Close return
// ErrClosed. Close is idempotent.
func (w *WAL) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	select {
	case w.kick <- struct{}{}:
	default:
	}
	w.mu.Unlock()
	<-w.flusherDone

	var err error
	if w.seg != nil {
		if w.dirty && w.failed() == nil {
			err = w.syncSeg()
		}
		if cerr := w.seg.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("wal: close segment: %w", cerr)
		}
		w.seg = nil
	}
	w.cpMu.Lock() // let a running Checkpoint finish before dropping the lock
	defer w.cpMu.Unlock()
	if cerr := w.lock.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wal: release lock: %w", cerr)
	}
	return err
}
