package wal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CorruptionError reports invalid data that a crash cannot explain: an
// invalid frame in a checkpoint or in a segment other than the newest, or a
// missing segment in the middle of the log. Replay stops at it unless
// ReplayOptions.SkipCorrupt is set.
type CorruptionError struct {
	Path   string // file holding the invalid data (for a gap: the missing segment)
	Offset int64  // byte offset of the first invalid frame in Path
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corrupt %s at offset %d: %s (replay with skip-corrupt to drop the rest of this file and continue; that loses its data)",
		e.Path, e.Offset, e.Reason)
}

// ReplayOptions configures ReplayWithOptions.
type ReplayOptions struct {
	// Logger receives warnings about repaired or skipped data.
	// Default slog.Default().
	Logger *slog.Logger
	// SkipCorrupt makes Replay log corruption in a checkpoint or a
	// non-newest segment, drop the rest of that file and continue, instead
	// of failing. THIS LOSES DATA: every record after the corrupt frame in
	// that file. Meant for an operator flag, after the error has been seen.
	SkipCorrupt bool
	// Registerer receives plg_wal_corruptions_total. Nil means not
	// registered. Safe to share with the WAL's Options.Registerer.
	Registerer prometheus.Registerer
}

// ReplayStats describes what Replay read.
type ReplayStats struct {
	Checkpoint        int   // index of the checkpoint read, -1 if none
	CheckpointRecords int   // records read from the checkpoint
	FirstSegment      int   // first segment read, -1 if none
	LastSegment       int   // last segment read, -1 if none
	Segments          int   // segments read
	Records           int   // records delivered to fn, checkpoint included
	Bytes             int64 // payload bytes delivered to fn
	TruncatedBytes    int64 // torn tail removed from the newest segment
	SkippedBytes      int64 // corrupt data dropped because of SkipCorrupt
	Corruptions       int   // corrupt files or gaps skipped because of SkipCorrupt
	Duration          time.Duration
}

// Replay calls fn for every record in dir: first those of the newest
// checkpoint, then those of each segment after it, in order. The slice
// passed to fn is only valid during the call; copy what you keep. An error
// from fn stops the replay and is returned wrapped.
//
// A torn or invalid tail of the newest segment, left by a crash mid-write,
// is truncated on disk with a warning and replay succeeds: under
// SyncAlways none of it was acknowledged. Invalid data anywhere else is a
// *CorruptionError naming the file and offset. A missing directory replays
// nothing. If a WAL has dir open (Open before Replay), Replay reads but
// never modifies the newest segment, whose tail may be a write in flight.
func Replay(dir string, fn func(rec []byte) error, logger *slog.Logger) (ReplayStats, error) {
	return ReplayWithOptions(dir, ReplayOptions{Logger: logger}, fn)
}

// ReplayWithOptions is Replay with the option to skip corruption.
func ReplayWithOptions(dir string, opts ReplayOptions, fn func(rec []byte) error) (ReplayStats, error) {
	start := time.Now()
	st, err := replayDir(dir, opts, fn)
	st.Duration = time.Since(start)
	return st, err
}

func replayDir(dir string, opts ReplayOptions, fn func(rec []byte) error) (ReplayStats, error) {
	st := ReplayStats{Checkpoint: -1, FirstSegment: -1, LastSegment: -1}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "wal", "dir", dir)
	m := newMetrics(opts.Registerer)

	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	// Repairing the newest segment is only safe when no WAL is writing it.
	// If one holds the directory (Open ran first, in this process or
	// another), Open already repaired the old tail and an invalid frame at
	// the end is a write in flight: stop there and modify nothing.
	readOnly := false
	lock, err := lockDir(dir)
	switch {
	case errors.Is(err, ErrLocked):
		readOnly = true
	case err != nil:
		return st, err
	default:
		defer lock.Close()
	}
	l, err := listDir(dir)
	if err != nil {
		return st, err
	}
	br := bufio.NewReaderSize(nil, readBufferSize)
	after := -1
	if n := len(l.checkpoints); n > 0 {
		cp := l.checkpoints[n-1]
		after = cp.index
		st.Checkpoint = cp.index
		path := filepath.Join(dir, cp.name)
		fs, err := scanFile(path, kindCheckpoint, br, fn)
		st.CheckpointRecords = fs.records
		st.Records += fs.records
		st.Bytes += fs.bytes
		if err != nil {
			if err = skipOrFail(err, path, cp.size, opts.SkipCorrupt, &st, m, log); err != nil {
				return st, err
			}
		}
	}
	var segs []fileRef
	for _, s := range l.segments {
		if s.index > after {
			segs = append(segs, s)
		}
	}
	for i, s := range segs {
		path := filepath.Join(dir, s.name)
		if i > 0 && s.index != segs[i-1].index+1 {
			err := &CorruptionError{
				Path:   filepath.Join(dir, SegmentName(segs[i-1].index+1)),
				Reason: fmt.Sprintf("segments %s to %s are missing", SegmentName(segs[i-1].index+1), SegmentName(s.index-1)),
			}
			if !opts.SkipCorrupt {
				return st, err
			}
			st.Corruptions++
			m.corruptions.WithLabelValues(corruptionCorrupt).Inc()
			log.Error("skipping missing segments; their records are lost", "err", err)
		}
		if st.FirstSegment < 0 {
			st.FirstSegment = s.index
		}
		st.LastSegment = s.index
		st.Segments++
		fs, err := scanFile(path, kindSegment, br, fn)
		st.Records += fs.records
		st.Bytes += fs.bytes
		if err == nil {
			continue
		}
		var fe *frameError
		if i == len(segs)-1 && errors.As(err, &fe) {
			if readOnly {
				log.Info("newest segment ends in an incomplete frame while a WAL has the directory open; not modifying it",
					"segment", s.name, "offset", fe.Offset, "reason", fe.Reason)
				continue
			}
			if terr := truncateFile(path, fe.Offset); terr != nil {
				return st, terr
			}
			st.TruncatedBytes = s.size - fe.Offset
			m.corruptions.WithLabelValues(corruptionTornTail).Inc()
			log.Warn("truncated torn tail of newest segment (crash mid-write; the lost bytes were never acknowledged under sync=always)",
				"segment", s.name, "offset", fe.Offset, "bytes_removed", st.TruncatedBytes, "reason", fe.Reason, "cut_short", fe.Torn)
			continue
		}
		if err = skipOrFail(err, path, s.size, opts.SkipCorrupt, &st, m, log); err != nil {
			return st, err
		}
	}
	return st, nil
}

// skipOrFail turns a scanFile error on a file where no torn tail is
// expected into a *CorruptionError, or logs and swallows it under
// SkipCorrupt. Errors other than invalid frames are returned as they are.
func skipOrFail(err error, path string, size int64, skip bool, st *ReplayStats, m *metrics, log *slog.Logger) error {
	var fe *frameError
	if !errors.As(err, &fe) {
		return err
	}
	cerr := &CorruptionError{Path: path, Offset: fe.Offset, Reason: fe.Reason}
	m.corruptions.WithLabelValues(corruptionCorrupt).Inc()
	if !skip {
		return cerr
	}
	st.Corruptions++
	st.SkippedBytes += size - fe.Offset
	log.Error("skipping the corrupt rest of a WAL file; its records are lost", "err", cerr, "bytes_skipped", size-fe.Offset)
	return nil
}

type fileStats struct {
	records int
	bytes   int64
}

// callbackError marks an error returned by the caller's fn, so it is never
// mistaken for corruption.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }
func (e callbackError) Unwrap() error { return e.err }

// scanFile decodes path, calling fn (if not nil) for each record. It returns
// a *frameError for invalid data, an error wrapping ErrUnknownFormat for a file
// it must not touch, or an I/O or callback error, each naming the file.
func scanFile(path string, kind byte, br *bufio.Reader, fn func([]byte) error) (fileStats, error) {
	var st fileStats
	f, err := os.Open(path)
	if err != nil {
		return st, fmt.Errorf("wal: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return st, fmt.Errorf("wal: stat %s: %w", path, err)
	}
	br.Reset(f)
	st, err = decode(br, fi.Size(), kind, fn)
	if err == nil {
		return st, nil
	}
	var fe *frameError
	if errors.As(err, &fe) {
		return st, err
	}
	var ce callbackError
	if errors.As(err, &ce) {
		return st, fmt.Errorf("wal: replay %s: %w", path, ce.err)
	}
	return st, fmt.Errorf("wal: read %s: %w", path, err)
}

// decode reads the header and every frame from br (size bytes long).
func decode(br *bufio.Reader, size int64, kind byte, fn func([]byte) error) (fileStats, error) {
	var st fileStats
	r := newRecordReader(br, size, kind)
	if err := r.readHeader(); err != nil {
		if err == io.EOF {
			return st, nil
		}
		return st, err
	}
	for {
		rec, err := r.next()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, err
		}
		if fn != nil {
			if err := fn(rec); err != nil {
				return st, callbackError{err}
			}
		}
		st.records++
		st.bytes += int64(len(rec))
	}
}
