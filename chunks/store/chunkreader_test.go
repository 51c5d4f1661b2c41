package store

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"
)

func TestChunkReaderReadsRangesOfEveryBackend(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		s, _ := newTestStore(t, bkt)
		ctx := context.Background()
		r := ref(labels.FromStrings("app", "api"), 10*hour, 10*hour+5)
		data := []byte("0123456789abcdef")
		r.Size = uint32(len(data))
		if err := s.PutChunk(ctx, "t", r, data); err != nil {
			t.Fatal(err)
		}
		cr, err := s.OpenChunk(ctx, "t", r)
		if err != nil {
			t.Fatal(err)
		}
		defer cr.Close()
		if _, want := bkt.(localBucket); cr.Local() != want {
			t.Errorf("Local() = %v, want %v", cr.Local(), want)
		}
		for _, tc := range []struct {
			off, n int
			want   string
			eof    bool
		}{
			{0, 4, "0123", false},
			{10, 6, "abcdef", false},
			{12, 8, "cdef", true}, // past the end: what there is, and io.EOF
			{3, 0, "", false},
		} {
			p := make([]byte, tc.n)
			n, err := cr.ReadAt(p, int64(tc.off))
			if string(p[:n]) != tc.want || (err == io.EOF) != tc.eof || (err != nil && err != io.EOF) {
				t.Errorf("ReadAt(%d bytes at %d) = %q, %v; want %q, EOF %v", tc.n, tc.off, p[:n], err, tc.want, tc.eof)
			}
		}
		got, err := s.GetChunkRange(ctx, "t", r, 12, 8)
		if err != nil || string(got) != "cdef" {
			t.Errorf("GetChunkRange past the end = %q, %v; want %q", got, err, "cdef")
		}
		long := r
		long.Size = 8
		if _, err := s.GetChunk(ctx, "t", long); err == nil || !strings.Contains(err.Error(), "reference says 8") {
			t.Errorf("GetChunk of an object longer than its reference = %v, want a size mismatch", err)
		}
	})
}

func TestChunkReaderOfAMissingObject(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		s, _ := newTestStore(t, bkt)
		ctx := context.Background()
		r := ref(labels.FromStrings("app", "api"), 10*hour, 10*hour+5)
		key := s.ChunkKey("t", r)
		// A filesystem bucket fails on opening, others on reading.
		cr, err := s.OpenChunk(ctx, "t", r)
		if err == nil {
			defer cr.Close()
			_, err = cr.ReadAt(make([]byte, 4), 0)
		}
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), key) {
			t.Errorf("reading a missing chunk = %v, want ErrNotFound naming %s", err, key)
		}
		if _, err := s.GetChunkRange(ctx, "t", r, 0, 4); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetChunkRange of a missing chunk = %v, want ErrNotFound", err)
		}
		if _, err := s.OpenChunk(ctx, "../x", r); !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("OpenChunk with an invalid tenant = %v, want ErrInvalidTenant", err)
		}
	})
}

func TestChunkReaderHonoursCancellation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		s, _ := newTestStore(t, bkt)
		r := ref(labels.FromStrings("app", "api"), 10*hour, 10*hour+5)
		if err := s.PutChunk(context.Background(), "t", r, []byte("data")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cr, err := s.OpenChunk(ctx, "t", r)
		if err != nil {
			t.Fatal(err)
		}
		defer cr.Close()
		cancel()
		if _, err := cr.ReadAt(make([]byte, 4), 0); !errors.Is(err, context.Canceled) {
			t.Errorf("ReadAt after cancellation = %v, want context.Canceled", err)
		}
	})
}
