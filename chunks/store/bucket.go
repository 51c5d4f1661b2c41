package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/azure"
	"github.com/thanos-io/objstore/providers/filesystem"
	"github.com/thanos-io/objstore/providers/s3"
)

const component = "plg"

// NewBucket opens the bucket cfg.Backend selects, instrumented with
// objstore's bucket metrics registered on reg (nil registers nothing). Only
// the filesystem, S3, GCS and Azure providers are linked in (GCS not in
// builds with -tags nogcs).
func NewBucket(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (objstore.Bucket, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	kl := kitLogger{logger.With("component", "objstore", "backend", cfg.backend())}
	var (
		bkt  objstore.Bucket
		root string // the filesystem bucket's directory
		err  error
	)
	switch cfg.backend() {
	case BackendFilesystem:
		var fs *filesystem.Bucket
		if fs, err = filesystem.NewBucket(cfg.Filesystem.Dir); err == nil {
			if root, err = filepath.Abs(cfg.Filesystem.Dir); err == nil {
				bkt = &atomicFSBucket{Bucket: fs, root: root}
			}
		}
	case BackendS3:
		bkt, err = s3.NewBucketWithConfig(kl, cfg.S3, component, nil)
	case BackendGCS:
		bkt, err = newGCSBucket(kl, cfg.GCS)
	case BackendAzure:
		bkt, err = azure.NewBucketWithConfig(kl, cfg.Azure, component, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s bucket: %w", cfg.backend(), err)
	}
	ib := objstore.WrapWithMetrics(bkt, reg, bkt.Name())
	if root != "" {
		return &localFSBucket{InstrumentedBucket: ib, root: root}, nil
	}
	return ib, nil
}

// kitLogger adapts slog to the go-kit log.Logger interface the objstore
// providers take.
type kitLogger struct{ l *slog.Logger }

func (k kitLogger) Log(keyvals ...any) error {
	level, msg := slog.LevelInfo, ""
	attrs := make([]any, 0, len(keyvals))
	for i := 0; i+1 < len(keyvals); i += 2 {
		key := fmt.Sprint(keyvals[i])
		switch key {
		case "level":
			switch fmt.Sprint(keyvals[i+1]) {
			case "debug":
				level = slog.LevelDebug
			case "warn":
				level = slog.LevelWarn
			case "error":
				level = slog.LevelError
			}
		case "msg":
			msg = fmt.Sprint(keyvals[i+1])
		default:
			attrs = append(attrs, key, keyvals[i+1])
		}
	}
	k.l.Log(context.Background(), level, msg, attrs...)
	return nil
}

// atomicFSBucket makes filesystem uploads atomic: the object is written to
// a temporary file beside its final path and renamed into place, so readers
// in other processes and restarts after a crash never see a partial object.
type atomicFSBucket struct {
	*filesystem.Bucket
	root string
}

func (b *atomicFSBucket) Upload(ctx context.Context, name string, r io.Reader, _ ...objstore.ObjectUploadOption) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	dst := filepath.Join(b.root, filepath.FromSlash(name))
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	tmp := dst + ".tmp-" + hex.EncodeToString(suffix[:])
	var f *os.File
	// A Delete in another process removes directories it leaves empty,
	// possibly the one just made: make it again.
	for attempt := 0; ; attempt++ {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == fsRetries {
			return err
		}
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// fsRetries bounds the retries of a filesystem operation that raced with
// a Delete removing a directory it used.
const fsRetries = 5

// Iter lists like the filesystem provider, but tolerates directories
// deleted while it lists them (a Delete removes the directories it
// leaves empty, so concurrent compactors and retention passes make them
// vanish): the provider then fails with "no such file or directory", and
// the listing is taken again, without repeating names already passed
// to f.
func (b *atomicFSBucket) Iter(ctx context.Context, dir string, f func(string) error, opts ...objstore.IterOption) error {
	seen := map[string]struct{}{}
	var cbErr error
	for attempt := 0; ; attempt++ {
		err := b.Bucket.Iter(ctx, dir, func(name string) error {
			if _, ok := seen[name]; ok {
				return nil
			}
			seen[name] = struct{}{}
			if cbErr = f(name); cbErr != nil {
				return cbErr
			}
			return nil
		}, opts...)
		if err == nil || cbErr != nil || !errors.Is(err, fs.ErrNotExist) || attempt == fsRetries {
			return err
		}
	}
}

// uploadBytes uploads b under name.
func uploadBytes(ctx context.Context, bkt objstore.Bucket, name string, b []byte) error {
	return bkt.Upload(ctx, name, bytes.NewReader(b))
}
