//go:build unix

package store

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// localFile is a file descriptor opened with plain system calls: os.Open
// would also try to register it with the network poller and toggle its
// blocking mode (three more system calls per chunk) and allocate an
// os.File with a finalizer, for a file read once or twice and closed.
type localFile struct{ fd int } // fd+1, so the zero value is no file

func openLocal(root, key string) (localFile, error) {
	path := filepath.Join(root, filepath.FromSlash(key))
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return localFile{}, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return localFile{fd: fd + 1}, nil
	}
}

func (f localFile) valid() bool { return f.fd > 0 }

func (f localFile) readAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := syscall.Pread(f.fd-1, p[n:], off+int64(n))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
	}
	return n, nil
}

func (f localFile) close() error { return syscall.Close(f.fd - 1) }
