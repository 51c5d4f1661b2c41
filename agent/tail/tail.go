package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plgstack/plg/agent/entry"
	"github.com/plgstack/plg/agent/positions"
)

// Handler receives the lines of a file, in order, from the tailer's
// goroutine. It may block (backpressure). line is valid only during the call
// and excludes the newline (and a trailing '\r').
type Handler interface {
	Line(line []byte, t entry.Ticket)
	// Idle is called when the tailer found no new data, so time-based work
	// (multiline flushes) can happen.
	Idle(now time.Time)
}

// Config configures a Tailer.
type Config struct {
	Path string
	// MaxLineSize bounds a line; longer lines are truncated to it and the
	// rest up to the newline is skipped. Default 1 MiB.
	MaxLineSize int
	// MinPoll and MaxPoll bound the idle polling interval. Defaults 250ms, 1s.
	MinPoll, MaxPoll time.Duration
	// Positions to resume from and to commit acknowledged offsets to. May be
	// nil (start at 0, remember nothing).
	Positions *positions.Store
	Metrics   *Metrics
	Logger    *slog.Logger
}

// Defaults.
const (
	DefaultMaxLineSize = 1 << 20
	DefaultMinPoll     = 250 * time.Millisecond
	DefaultMaxPoll     = time.Second
	// readChunk is a read buffer's size. While a backlog is read every
	// tailed file holds one (100 files: 1.6 MiB, half of what 32 KiB
	// buffers held); a read syscall per 16 KiB is still a small part of the
	// CPU spent on the lines it returns.
	readChunk = 16 << 10
	// settlePolls is how many idle polls a rotated-away or deleted file is
	// given for a writer that has not reopened yet.
	settlePolls = 2
)

// Metrics are the tailers' shared counters.
type Metrics struct {
	ReadBytes      prometheus.Counter
	ReadLines      prometheus.Counter
	TruncatedLines prometheus.Counter
	Rotations      *prometheus.CounterVec
}

// NewMetrics registers the tail metrics with reg (may be nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ReadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_agent_read_bytes_total", Help: "Bytes read from tailed files.",
		}),
		ReadLines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_agent_read_lines_total", Help: "Lines read from tailed files.",
		}),
		TruncatedLines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "plg_agent_truncated_lines_total", Help: "Lines longer than the maximum line size, truncated.",
		}),
		Rotations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "plg_agent_file_rotations_total", Help: "Rotations seen, by kind (rename, truncate, delete).",
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.ReadBytes, m.ReadLines, m.TruncatedLines, m.Rotations)
	}
	return m
}

// Tailer follows one path.
type Tailer struct {
	cfg Config
	tr  *tracker
	log *slog.Logger

	f   *os.File
	id  fileID
	off int64 // file offset of buf[r]
	// readNano is when the data in buf was read (Unix nanoseconds), taken
	// once per read rather than per line.
	readNano int64

	buf  []byte
	r, w int
	// long holds the kept prefix of a line being truncated; discarding is
	// set while the rest of that line is skipped.
	long       []byte
	discarding bool
	// finishing: the current file was replaced or deleted; drain it and
	// emit a final unterminated line.
	h Handler
}

type fileID struct{ dev, ino uint64 }

// New returns a Tailer for cfg.Path.
func New(cfg Config) *Tailer {
	if cfg.MaxLineSize <= 0 {
		cfg.MaxLineSize = DefaultMaxLineSize
	}
	if cfg.MinPoll <= 0 {
		cfg.MinPoll = DefaultMinPoll
	}
	if cfg.MaxPoll < cfg.MinPoll {
		cfg.MaxPoll = max(DefaultMaxPoll, cfg.MinPoll)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Tailer{
		cfg: cfg,
		tr:  newTracker(cfg.Path, cfg.Positions),
		log: cfg.Logger.With("path", cfg.Path),
	}
}

// InFlight returns how many lines were handed out and not yet acknowledged.
func (t *Tailer) InFlight() int { return t.tr.inFlight() }

// Lag returns how far the acknowledged position trails the file: the bytes
// of the file now at Path beyond the acknowledged offset (all of it when the
// acknowledged position is in an older, rotated file), and how long ago the
// oldest line not yet acknowledged was read (0 when none is pending). It
// stats the file and may be called from any goroutine.
func (t *Tailer) Lag(now time.Time) (bytes int64, age time.Duration) {
	if r := t.tr.oldestUnacked(); r > 0 {
		age = max(now.Sub(time.Unix(0, r)), 0)
	}
	fi, err := os.Stat(t.cfg.Path)
	if err != nil {
		return 0, age
	}
	size := fi.Size()
	pos, ok := t.tr.acked()
	if !ok || (pos.HasIdentity() && (fileID{pos.Dev, pos.Inode}) != identity(fi)) || pos.Offset > size {
		return size, age
	}
	return size - pos.Offset, age
}

// ErrNotFound is returned by Run when the path does not exist at start.
var ErrNotFound = errors.New("file not found")

// Run tails until ctx is done (returns nil) or the file is deleted and fully
// read (returns nil; the position is forgotten once every line is
// acknowledged). Other errors are returned with the path.
func (t *Tailer) Run(ctx context.Context, h Handler) (err error) {
	t.h = h
	defer func() {
		if t.f != nil {
			t.f.Close()
			t.f = nil
		}
	}()
	if err := t.openStart(); err != nil {
		t.tr.close(false)
		return fmt.Errorf("tail %s: %w", t.cfg.Path, err)
	}

	poll := t.cfg.MinPoll
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	settle := 0 // idle polls since the file was seen replaced or deleted
	for {
		n, rerr := t.readOnce()
		if rerr != nil {
			t.tr.close(false)
			return fmt.Errorf("tail %s: read at %d: %w", t.cfg.Path, t.off+int64(t.w-t.r), rerr)
		}
		if n > 0 {
			poll = t.cfg.MinPoll
			settle = 0
			if ctx.Err() != nil {
				t.tr.close(false)
				return nil
			}
			continue
		}
		// At EOF: has the path changed under us?
		st, serr := t.checkPath()
		switch st {
		case pathSame:
			settle = 0
		case pathTruncated:
			t.cfg.Metrics.Rotations.WithLabelValues("truncate").Inc()
			t.log.Info("file truncated, reading from start", "offset", t.off)
			if _, err := t.f.Seek(0, io.SeekStart); err != nil {
				t.tr.close(false)
				return fmt.Errorf("tail %s: seek after truncation: %w", t.cfg.Path, err)
			}
			t.resetBuffer(0)
			t.tr.mark(positions.Position{Dev: t.id.dev, Inode: t.id.ino})
			continue
		case pathReplaced, pathGone:
			settle++
			if settle <= settlePolls {
				break
			}
			t.finishFile()
			if st == pathGone {
				t.cfg.Metrics.Rotations.WithLabelValues("delete").Inc()
				t.log.Info("file deleted, finished reading it")
				t.tr.close(true)
				return nil
			}
			t.cfg.Metrics.Rotations.WithLabelValues("rename").Inc()
			t.log.Info("file rotated, following the new file")
			if err := t.open(t.cfg.Path, 0); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					t.tr.close(true)
					return nil
				}
				t.tr.close(false)
				return fmt.Errorf("tail %s: open after rotation: %w", t.cfg.Path, err)
			}
			t.tr.mark(positions.Position{Dev: t.id.dev, Inode: t.id.ino})
			settle = 0
			continue
		case pathError:
			t.log.Warn("stat failed", "err", serr)
		}
		t.releaseBuffer()
		h.Idle(time.Now())
		timer.Reset(poll)
		select {
		case <-ctx.Done():
			t.tr.close(false)
			return nil
		case <-timer.C:
		}
		poll = min(poll*2, t.cfg.MaxPoll)
	}
}

// openStart opens the file, resuming from the stored position. If the
// stored identity names another file (rotated while we were down) that file
// is looked for in the same directory and finished first.
func (t *Tailer) openStart() error {
	var pos positions.Position
	var have bool
	if t.cfg.Positions != nil {
		pos, have = t.cfg.Positions.Get(t.cfg.Path)
	}
	fi, err := os.Stat(t.cfg.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNotFound
		}
		return err
	}
	cur := identity(fi)
	if have && pos.HasIdentity() && (fileID{pos.Dev, pos.Inode}) != cur {
		if old := findByID(filepath.Dir(t.cfg.Path), fileID{pos.Dev, pos.Inode}); old != "" {
			t.log.Info("file was rotated while stopped; finishing the old file first", "old", old, "offset", pos.Offset)
			if err := t.open(old, pos.Offset); err == nil {
				t.drainOld()
			}
		}
		if err := t.open(t.cfg.Path, 0); err != nil {
			return err
		}
		t.tr.mark(positions.Position{Dev: t.id.dev, Inode: t.id.ino})
		return nil
	}
	off := int64(0)
	if have && pos.Offset <= fi.Size() {
		off = pos.Offset
	}
	return t.open(t.cfg.Path, off)
}

// drainOld reads the currently open (old) file to EOF and emits a final
// unterminated line.
func (t *Tailer) drainOld() {
	for {
		n, err := t.readOnce()
		if err != nil || n == 0 {
			break
		}
	}
	t.finishFile()
}

func (t *Tailer) open(path string, off int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if off > fi.Size() {
		off = 0
	}
	if off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return err
		}
	}
	if t.f != nil {
		t.f.Close()
	}
	t.f, t.id = f, identity(fi)
	t.resetBuffer(off)
	return nil
}

// bufPool holds read buffers: an idle file (no partial line pending) gives
// its buffer back, so a node with hundreds of quiet files does not keep a
// buffer for each.
var bufPool = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// releaseBuffer returns the buffer to the pool when it holds nothing.
func (t *Tailer) releaseBuffer() {
	if t.buf != nil && t.r == t.w && !t.discarding {
		if len(t.buf) == readChunk {
			b := t.buf
			bufPool.Put(&b)
		}
		t.buf, t.r, t.w = nil, 0, 0
	}
}

func (t *Tailer) resetBuffer(off int64) {
	t.r, t.w, t.off = 0, 0, off
	t.long, t.discarding = t.long[:0], false
}

// readOnce reads what is available (up to one buffer) and emits complete
// lines. It returns the number of bytes read.
func (t *Tailer) readOnce() (int, error) {
	if t.buf == nil {
		bp := bufPool.Get().(*[]byte)
		t.buf = *bp
	}
	if t.r > 0 {
		n := copy(t.buf, t.buf[t.r:t.w])
		t.r, t.w = 0, n
	}
	if t.w == len(t.buf) {
		// A line fills the buffer: grow up to the limit, then truncate.
		if len(t.buf) < t.cfg.MaxLineSize {
			nb := make([]byte, min(2*len(t.buf), t.cfg.MaxLineSize+1))
			copy(nb, t.buf[:t.w])
			t.buf = nb
		} else {
			t.startDiscard()
		}
	}
	n, err := t.f.Read(t.buf[t.w:])
	if n > 0 {
		t.readNano = time.Now().UnixNano()
		t.w += n
		t.cfg.Metrics.ReadBytes.Add(float64(n))
		t.scan()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, err
	}
	return n, nil
}

func (t *Tailer) startDiscard() {
	keep := min(t.w-t.r, t.cfg.MaxLineSize)
	t.long = append(t.long[:0], t.buf[t.r:t.r+keep]...)
	t.discarding = true
	t.off += int64(t.w - t.r)
	t.r, t.w = 0, 0
}

// scan emits every complete line in buf[r:w].
func (t *Tailer) scan() {
	for t.r < t.w {
		i := bytes.IndexByte(t.buf[t.r:t.w], '\n')
		if i < 0 {
			if t.discarding {
				t.off += int64(t.w - t.r)
				t.r, t.w = 0, 0
			}
			return
		}
		end := t.r + i
		t.off += int64(i + 1)
		if t.discarding {
			t.discarding = false
			t.cfg.Metrics.TruncatedLines.Inc()
			t.emit(t.long)
			t.r = end + 1
			continue
		}
		line := t.buf[t.r:end]
		t.r = end + 1
		if len(line) > t.cfg.MaxLineSize {
			t.cfg.Metrics.TruncatedLines.Inc()
			line = line[:t.cfg.MaxLineSize]
		}
		t.emit(line)
	}
}

func (t *Tailer) emit(line []byte) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	t.cfg.Metrics.ReadLines.Inc()
	seq := t.tr.add(positions.Position{Offset: t.off, Dev: t.id.dev, Inode: t.id.ino}, t.readNano)
	t.h.Line(line, entry.NewTicket(t.tr, seq))
}

// finishFile emits what is left of a file that will not grow any more as a
// last line.
func (t *Tailer) finishFile() {
	if t.discarding {
		t.off += int64(t.w - t.r)
		t.discarding = false
		t.r = t.w
		t.cfg.Metrics.TruncatedLines.Inc()
		t.emit(t.long)
		return
	}
	if t.r < t.w {
		line := t.buf[t.r:t.w]
		if len(line) > t.cfg.MaxLineSize {
			line = line[:t.cfg.MaxLineSize]
		}
		t.off += int64(t.w - t.r)
		t.r = t.w
		t.emit(line)
	}
}

type pathState int

const (
	pathSame pathState = iota
	pathTruncated
	pathReplaced
	pathGone
	pathError
)

func (t *Tailer) checkPath() (pathState, error) {
	fi, err := os.Stat(t.cfg.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return pathGone, nil
		}
		return pathError, err
	}
	if identity(fi) != t.id {
		return pathReplaced, nil
	}
	if fi.Size() < t.off+int64(t.w-t.r) {
		return pathTruncated, nil
	}
	return pathSame, nil
}

func identity(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)} //nolint:unconvert // types differ across platforms
	}
	return fileID{}
}

// findByID returns the path in dir of the file with identity id, or "".
func findByID(dir string, id fileID) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err == nil && identity(fi) == id {
			return p
		}
	}
	return ""
}
