package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks/index"
)

// localBucket is implemented by the filesystem bucket NewBucket returns:
// its objects are files under root, named by their keys. The Store reads
// chunks from such a bucket with positioned reads on the file instead of
// objstore's GetRange, which stats, opens and seeks the file, wraps it
// in two readers and records metrics on every call: a query over the
// whole range reads a prefix of every chunk, so that per-read overhead
// was a third of a rare-token search at 3 GB.
type localBucket interface {
	objstore.Bucket
	localRoot() string
}

// localFSBucket is the instrumented filesystem bucket, saying where its
// files are.
type localFSBucket struct {
	objstore.InstrumentedBucket
	root string
}

func (b *localFSBucket) localRoot() string { return b.root }

// ChunkReader reads byte ranges of one chunk object: with positioned
// reads on an open file for a filesystem bucket, with one ranged GET per
// read otherwise. It is not safe for concurrent use; Close it.
type ChunkReader struct {
	s   *Store
	ctx context.Context
	key string
	f   localFile // open file, for a filesystem bucket
	// base is the chunk's offset in its object and size its length, for
	// a chunk in a pack; size is -1 for a chunk that is its own object,
	// which ends where the object does.
	base, size int64
}

// OpenChunk returns a reader of a chunk: of its own object, or of its
// bytes in its pack, read as if they were an object of their own. For a
// filesystem bucket it opens the file, so a missing object fails here,
// wrapping [ErrNotFound]; otherwise nothing is read until ReadAt.
func (s *Store) OpenChunk(ctx context.Context, tenant string, ref index.ChunkRef) (*ChunkReader, error) {
	if err := ValidateTenant(tenant); err != nil {
		return nil, err
	}
	key, base, err := s.objectOf(tenant, ref)
	if err != nil {
		return nil, err
	}
	r := &ChunkReader{s: s, ctx: ctx, key: key, base: base, size: -1}
	if ref.Pack != "" {
		r.size = int64(ref.Size)
	}
	if s.localRoot != "" {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("get chunk %s: %w", r.key, err)
		}
		f, err := openLocal(s.localRoot, r.key)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("%w: %w", ErrNotFound, err)
			}
			return nil, fmt.Errorf("get chunk %s: %w", r.key, err)
		}
		r.f = f
	}
	return r, nil
}

// Local reports whether reads are positioned reads of a local file, where
// a read costs a system call rather than a round trip: a reader then does
// better with two exact reads than with one generous guess.
func (r *ChunkReader) Local() bool { return r.f.valid() }

// ReadAt reads len(p) bytes of the chunk from byte off, as io.ReaderAt:
// fewer only at the chunk's end, with io.EOF. Other errors name the key
// and wrap [ErrNotFound] when the object does not exist.
func (r *ChunkReader) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.size >= 0 {
		n, err := r.readPacked(p, off)
		if err == nil && n < len(p) {
			err = io.EOF
		}
		return n, err
	}
	return r.readObject(p, off)
}

// readPacked reads from a chunk in a pack: the pack goes on with other
// chunks, so reads stop at the chunk's end, and a pack ending before the
// chunk does is damage, not the chunk's end.
func (r *ChunkReader) readPacked(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("get chunk %s: negative offset %d", r.key, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := int(min(int64(len(p)), r.size-off))
	n, err := r.readObject(p[:want], r.base+off)
	if err == io.EOF {
		err = fmt.Errorf("get chunk %s bytes %d+%d: the pack ends after %d", r.key, r.base, r.size, r.base+off+int64(n))
	}
	return n, err
}

// readObject reads len(p) bytes of the object from off, as io.ReaderAt.
func (r *ChunkReader) readObject(p []byte, off int64) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, fmt.Errorf("get chunk %s bytes %d+%d: %w", r.key, off, len(p), err)
	}
	if r.f.valid() {
		n, err := r.f.readAt(p, off)
		r.s.localReads.Inc()
		r.s.localReadBytes.Add(float64(n))
		if err != nil && err != io.EOF {
			err = fmt.Errorf("get chunk %s bytes %d+%d: %w", r.key, off, len(p), err)
		}
		return n, err
	}
	rc, err := r.s.bkt.GetRange(r.ctx, r.key, off, int64(len(p)))
	if err != nil {
		if r.s.bkt.IsObjNotFoundErr(err) {
			err = fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return 0, fmt.Errorf("get chunk %s bytes %d+%d: %w", r.key, off, len(p), err)
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	switch err {
	case nil:
	case io.ErrUnexpectedEOF, io.EOF:
		err = io.EOF
	default:
		err = fmt.Errorf("get chunk %s bytes %d+%d: %w", r.key, off, len(p), err)
	}
	return n, err
}

// Close releases the file of a filesystem bucket's object.
func (r *ChunkReader) Close() error {
	if !r.f.valid() {
		return nil
	}
	err := r.f.close()
	r.f = localFile{}
	return err
}

// readChunk reads length bytes of a chunk from off (fewer if the chunk
// ends first) into a buffer of exactly that size.
func (s *Store) readChunk(ctx context.Context, tenant string, ref index.ChunkRef, off, length int) ([]byte, error) {
	r, err := s.OpenChunk(ctx, tenant, ref)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := make([]byte, length)
	n, err := r.ReadAt(buf, int64(off))
	if err != nil && err != io.EOF {
		return nil, err
	}
	return buf[:n], nil
}
