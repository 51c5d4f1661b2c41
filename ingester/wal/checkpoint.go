package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Checkpoint writes checkpoint.<upto> from the records write emits, then
// deletes segments <= upto and older checkpoints.
//
// The caller promises that the emitted records, replayed before the
// segments after upto, rebuild its state. For exactly-once replay, take the
// snapshot and upto at one instant: block your own appends, call
// NextSegment for upto, snapshot (cheaply: e.g. references to immutable
// chunks), unblock, then call Checkpoint and emit the snapshot while Log
// goes on. If instead you emit live state that may already contain records
// of segments after upto, replay delivers those twice and your replay must
// be idempotent.
//
// The file is written as checkpoint.<upto>.tmp, fsynced, renamed and the
// directory fsynced, so a checkpoint is either complete or absent (see
// FORMAT.md for every crash window). emit must not be called after write
// returns. Log may be called concurrently; Checkpoint and Truncate
// serialise with each other.
func (w *WAL) Checkpoint(upto int, write func(emit func(rec []byte) error) error) error {
	w.cpMu.Lock()
	defer w.cpMu.Unlock()
	if err := w.checkUpto(upto); err != nil {
		return err
	}
	dir := w.opts.Dir
	l, err := listDir(dir)
	if err != nil {
		return err
	}
	if n := len(l.checkpoints); n > 0 && l.checkpoints[n-1].index > upto {
		return fmt.Errorf("wal: checkpoint %d is older than existing %s", upto, l.checkpoints[n-1].name)
	}

	name := CheckpointName(upto)
	final := filepath.Join(dir, name)
	tmp := final + tmpSuffix
	size, err := w.writeCheckpoint(tmp, write)
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("wal: checkpoint %s: %w", name, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("wal: checkpoint %s: rename: %w", name, err)
	}
	w.addSize(size)
	for _, c := range l.checkpoints {
		if c.index == upto { // replaced by the rename
			w.addSize(-c.size)
		}
	}
	// Until this fsync the rename may be lost in a power failure; the old
	// segments are still there then, so nothing may be deleted before it.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("wal: checkpoint %s: %w", name, err)
	}

	var old []fileRef
	for _, s := range l.segments {
		if s.index <= upto {
			old = append(old, s)
		}
	}
	for _, c := range l.checkpoints {
		if c.index < upto {
			old = append(old, c)
		}
	}
	if err := w.remove(old); err != nil {
		return fmt.Errorf("wal: checkpoint %s written, cleanup: %w", name, err)
	}
	return nil
}

// writeCheckpoint writes and fsyncs the tmp file, returning its size.
func (w *WAL) writeCheckpoint(path string, write func(emit func(rec []byte) error) error) (int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	var h [recordHeaderSize]byte
	bw.Write(appendFileHeader(h[:0], kindCheckpoint)) //nolint:errcheck // surfaced by Flush
	size := int64(fileHeaderSize)
	done := false
	var scratch []byte
	emit := func(rec []byte) error {
		if done {
			return errors.New("emit called after the write callback returned")
		}
		if len(rec) > MaxRecordSize {
			return fmt.Errorf("record is %d bytes, maximum %d", len(rec), MaxRecordSize)
		}
		typ, stored := byte(recFull), rec
		if !w.opts.NoCompression {
			var ok bool
			if scratch, ok = compressInto(scratch[:0], rec); ok {
				typ, stored = recS2, scratch
			}
		}
		h[0] = typ
		binary.LittleEndian.PutUint32(h[1:5], uint32(len(stored)))
		binary.LittleEndian.PutUint32(h[5:9], frameCRC(typ, stored))
		bw.Write(h[:]) //nolint:errcheck // bufio keeps the first error; checked below and by Flush
		if _, err := bw.Write(stored); err != nil {
			return err
		}
		size += int64(recordHeaderSize + len(stored))
		return nil
	}
	err = write(emit)
	done = true
	if err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	if err := w.fsync(f); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return size, nil
}

// Truncate deletes segments <= upto, for when everything in them is safely
// elsewhere (flushed to object storage). Checkpoints are kept: they may hold
// state that is not. The current segment cannot be deleted; call NextSegment
// first.
func (w *WAL) Truncate(upto int) error {
	w.cpMu.Lock()
	defer w.cpMu.Unlock()
	if err := w.checkUpto(upto); err != nil {
		return err
	}
	l, err := listDir(w.opts.Dir)
	if err != nil {
		return err
	}
	var old []fileRef
	for _, s := range l.segments {
		if s.index <= upto {
			old = append(old, s)
		}
	}
	return w.remove(old)
}

func (w *WAL) checkUpto(upto int) error {
	w.mu.Lock()
	err := w.usable()
	w.mu.Unlock()
	if err != nil {
		return err
	}
	if upto < 0 {
		return fmt.Errorf("wal: negative segment index %d", upto)
	}
	if cur := int(w.curSeg.Load()); upto >= cur {
		return fmt.Errorf("wal: segment %s is at or after the current segment %s; call NextSegment first", SegmentName(upto), SegmentName(cur))
	}
	return nil
}

// remove deletes files in the given order (segments oldest first, so a
// crash part-way leaves a contiguous tail of the log) and fsyncs the
// directory.
func (w *WAL) remove(files []fileRef) error {
	if len(files) == 0 {
		return nil
	}
	for _, f := range files {
		if err := os.Remove(filepath.Join(w.opts.Dir, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", f.name, err)
		}
		w.addSize(-f.size)
	}
	return syncDir(w.opts.Dir)
}
