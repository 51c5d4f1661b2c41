package store

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFilesystemUploadLeavesOnlyTheObject(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Filesystem.Dir = t.TempDir()
	bkt, err := NewBucket(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := bkt.Upload(ctx, "t/1/chunks/a/b", strings.NewReader("first")); err != nil {
		t.Fatal(err)
	}
	if err := bkt.Upload(ctx, "t/1/chunks/a/b", strings.NewReader("second")); err != nil {
		t.Fatal(err)
	}
	if got := string(mustGet(t, bkt, "t/1/chunks/a/b")); got != "second" {
		t.Errorf("object = %q, want the last upload", got)
	}
	var files []string
	err = filepath.WalkDir(cfg.Filesystem.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, filepath.ToSlash(strings.TrimPrefix(p, cfg.Filesystem.Dir+string(filepath.Separator))))
		}
		return err
	})
	if err != nil || len(files) != 1 || files[0] != "t/1/chunks/a/b" {
		t.Errorf("files = %q, %v; want only the object", files, err)
	}

	// A failed upload removes its temporary file and keeps the old object.
	failing := errReader{errors.New("disk on fire")}
	if err := bkt.Upload(ctx, "t/1/chunks/a/b", failing); err == nil {
		t.Fatal("upload of a failing reader succeeded")
	}
	entries, _ := os.ReadDir(filepath.Join(cfg.Filesystem.Dir, "t/1/chunks/a"))
	if len(entries) != 1 || string(mustGet(t, bkt, "t/1/chunks/a/b")) != "second" {
		t.Errorf("after a failed upload the directory holds %d entries", len(entries))
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestKitLoggerMapsLevelsAndMessage(t *testing.T) {
	var buf bytes.Buffer
	l := kitLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	_ = l.Log("level", levelValue("warn"), "msg", "retrying", "bucket", "logs")
	got := buf.String()
	for _, want := range []string{"level=WARN", "msg=retrying", "bucket=logs"} {
		if !strings.Contains(got, want) {
			t.Errorf("log line %q lacks %q", got, want)
		}
	}
}

// levelValue mimics go-kit's level values, which print as their name.
type levelValue string

func (v levelValue) String() string { return string(v) }
