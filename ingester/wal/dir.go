package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

const (
	checkpointPrefix = "checkpoint."
	tmpSuffix        = ".tmp"
	lockName         = "LOCK"
	indexDigits      = 8
)

// SegmentName returns the file name of segment i: i zero-padded to 8 digits.
func SegmentName(i int) string { return fmt.Sprintf("%0*d", indexDigits, i) }

// CheckpointName returns the file name of the checkpoint covering segments
// up to and including upto.
func CheckpointName(upto int) string { return checkpointPrefix + SegmentName(upto) }

type fileRef struct {
	index int
	name  string
	size  int64
}

// dirListing is what a WAL directory holds, each list sorted by index.
type dirListing struct {
	segments    []fileRef
	checkpoints []fileRef
	tmp         []string // leftovers of interrupted checkpoints
}

// parseIndex accepts exactly indexDigits or more decimal digits (indexes
// beyond 99999999 widen the name, which still sorts by parsed value).
func parseIndex(s string) (int, bool) {
	if len(s) < indexDigits {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return n, true
}

// listDir reads dir. A missing directory is an empty listing.
func listDir(dir string) (dirListing, error) {
	var l dirListing
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("wal: list %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			l.tmp = append(l.tmp, name)
			continue
		case strings.HasPrefix(name, checkpointPrefix):
			i, ok := parseIndex(name[len(checkpointPrefix):])
			if !ok {
				continue
			}
			ref, err := statRef(dir, name, i)
			if err != nil {
				return l, err
			}
			l.checkpoints = append(l.checkpoints, ref)
		default:
			i, ok := parseIndex(name)
			if !ok {
				continue
			}
			ref, err := statRef(dir, name, i)
			if err != nil {
				return l, err
			}
			l.segments = append(l.segments, ref)
		}
	}
	byIndex := func(s []fileRef) {
		sort.Slice(s, func(a, b int) bool { return s[a].index < s[b].index })
	}
	byIndex(l.segments)
	byIndex(l.checkpoints)
	return l, nil
}

func statRef(dir, name string, i int) (fileRef, error) {
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		return fileRef{}, fmt.Errorf("wal: stat %s: %w", name, err)
	}
	return fileRef{index: i, name: name, size: fi.Size()}, nil
}

// total returns the bytes held by every listed file.
func (l dirListing) total(dir string) int64 {
	var n int64
	for _, s := range l.segments {
		n += s.size
	}
	for _, c := range l.checkpoints {
		n += c.size
	}
	for _, t := range l.tmp {
		if fi, err := os.Stat(filepath.Join(dir, t)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// syncDir makes creations, renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: open dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: fsync dir %s: %w", dir, err)
	}
	return nil
}

// ErrLocked is returned by Open when another WAL (in this or another
// process) has the directory open.
var ErrLocked = errors.New("wal: directory is locked by another WAL")

// lockDir takes an exclusive, non-blocking flock on dir/LOCK. The kernel
// drops it when the process dies, so a crash never leaves a stale lock.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wal: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("wal: lock %s: %w", dir, err)
	}
	return f, nil
}
