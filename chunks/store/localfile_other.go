//go:build !unix

package store

import (
	"os"
	"path/filepath"
)

// localFile is an open file of a filesystem bucket's object.
type localFile struct{ f *os.File }

func openLocal(root, key string) (localFile, error) {
	f, err := os.Open(filepath.Join(root, filepath.FromSlash(key)))
	if err != nil {
		return localFile{}, err
	}
	return localFile{f: f}, nil
}

func (f localFile) valid() bool { return f.f != nil }

func (f localFile) readAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }

func (f localFile) close() error { return f.f.Close() }
