package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks/index"
)

// packChunks returns n chunk references of stream ls in [minT, minT+n)
// with distinct contents of different lengths.
func packChunks(ls labels.Labels, minT int64, n int) ([]index.ChunkRef, [][]byte) {
	var (
		refs []index.ChunkRef
		data [][]byte
	)
	for i := range n {
		d := bytes.Repeat([]byte{byte('a' + i)}, 10+7*i)
		r := ref(ls, minT+int64(i), minT+int64(i)+1)
		r.Size = uint32(len(d))
		refs = append(refs, r)
		data = append(data, d)
	}
	return refs, data
}

func TestPutPackReadsEveryChunkBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		s, _ := newTestStore(t, bkt)
		ctx := context.Background()
		refs, data := packChunks(labels.FromStrings("app", "api"), 10*hour, 4)
		refs[2].MaxT = 10*hour + 40*minute // the pack's latest chunk is not its last
		located, err := s.PutPack(ctx, "t", "ingester-0", refs, data)
		if err != nil {
			t.Fatal(err)
		}
		objs := objectsUnder(t, bkt, "t/")
		if len(objs) != 1 || !strings.HasPrefix(objs[0], "t/10/packs/ingester-0-") {
			t.Fatalf("objects %q, want one pack under t/10/packs/", objs)
		}
		if got, ok := packNameMaxT(objs[0]); !ok || got != refs[2].MaxT {
			t.Errorf("pack key %s carries maxT %d, %v; want %d", objs[0], got, ok, refs[2].MaxT)
		}
		if got := mustGet(t, bkt, objs[0]); !bytes.Equal(got, bytes.Join(data, nil)) {
			t.Errorf("pack holds %q, want the chunks back to back", got)
		}
		for i, r := range located {
			want := refs[i]
			want.Pack, want.Offset = r.Pack, r.Offset
			if r != want || !strings.HasSuffix(objs[0], "/"+r.Pack) {
				t.Errorf("located ref %d = %+v, want %+v in %s", i, r, want, objs[0])
			}
			got, err := s.GetChunk(ctx, "t", r)
			if err != nil || !bytes.Equal(got, data[i]) {
				t.Errorf("GetChunk(%d) = %q, %v; want %q", i, got, err, data[i])
			}
			// Ranges stop at the chunk's end, not the pack's.
			got, err = s.GetChunkRange(ctx, "t", r, 3, 1000)
			if err != nil || !bytes.Equal(got, data[i][3:]) {
				t.Errorf("GetChunkRange(%d, 3, 1000) = %q, %v; want %q", i, got, err, data[i][3:])
			}
			cr, err := s.OpenChunk(ctx, "t", r)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1000)
			n, err := cr.ReadAt(buf, 2)
			if err != io.EOF || !bytes.Equal(buf[:n], data[i][2:]) {
				t.Errorf("ReadAt(%d, 2) = %q, %v; want %q, EOF", i, buf[:n], err, data[i][2:])
			}
			n, err = cr.ReadAt(buf[:5], 1)
			if err != nil || !bytes.Equal(buf[:n], data[i][1:6]) {
				t.Errorf("ReadAt(%d, 1) of 5 = %q, %v; want %q", i, buf[:n], err, data[i][1:6])
			}
			if n, err := cr.ReadAt(buf, int64(r.Size)); n != 0 || err != io.EOF {
				t.Errorf("ReadAt at the chunk's end = %d, %v; want 0, EOF", n, err)
			}
			cr.Close()
		}
	})
}

func TestPutPackRejectsBadInput(t *testing.T) {
	s, _ := newTestStore(t, objstore.NewInMemBucket())
	ctx := context.Background()
	refs, data := packChunks(labels.FromStrings("app", "api"), 10*hour, 2)
	twoPeriods := slices.Clone(refs)
	twoPeriods[1].MinT, twoPeriods[1].MaxT = 11*hour, 11*hour+1
	wrongSize := slices.Clone(refs)
	wrongSize[0].Size++
	for name, tc := range map[string]struct {
		tenant, writer string
		refs           []index.ChunkRef
		data           [][]byte
	}{
		"two periods": {"t", "w", twoPeriods, data},
		"wrong size":  {"t", "w", wrongSize, data},
		"no chunks":   {"t", "w", nil, nil},
		"fewer data":  {"t", "w", refs, data[:1]},
		"bad tenant":  {"a/b", "w", refs, data},
		"bad writer":  {"t", "..", refs, data},
	} {
		if _, err := s.PutPack(ctx, tc.tenant, tc.writer, tc.refs, tc.data); err == nil {
			t.Errorf("%s: PutPack accepted it", name)
		}
	}
}

func TestPackedChunkDamage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		s, _ := newTestStore(t, bkt)
		ctx := context.Background()
		refs, data := packChunks(labels.FromStrings("app", "api"), 10*hour, 3)
		located, err := s.PutPack(ctx, "t", "w", refs, data)
		if err != nil {
			t.Fatal(err)
		}
		last := located[2]
		key := PackKey("t", last, time.Hour)
		// A pack cut short: the last chunk's read fails, and is not mistaken for its end.
		full := mustGet(t, bkt, key)
		if err := bkt.Upload(ctx, key, bytes.NewReader(full[:len(full)-3])); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetChunk(ctx, "t", last); err == nil {
			t.Error("GetChunk of a chunk past a truncated pack's end succeeded")
		}
		if got, err := s.GetChunk(ctx, "t", located[0]); err != nil || !bytes.Equal(got, data[0]) {
			t.Errorf("GetChunk of a chunk before the damage = %q, %v", got, err)
		}
		if err := bkt.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetChunk(ctx, "t", last); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), key) {
			t.Errorf("GetChunk of a deleted pack = %v, want ErrNotFound naming %s", err, key)
		}
		for _, bad := range []string{"../../u/10/packs/x-1-2.pack", "x-1-2", ".pack", `a\b.pack`} {
			r := last
			r.Pack = bad
			if _, err := s.OpenChunk(ctx, "t", r); err == nil || errors.Is(err, ErrNotFound) {
				t.Errorf("OpenChunk with pack %q = %v, want an invalid name error", bad, err)
			}
		}
	})
}

func TestPackNameMaxT(t *testing.T) {
	for _, tc := range []struct {
		writer string
		maxT   int64
	}{{"ingester-0", 1 << 62}, {"a-b-c", 5}, {"w", -5}} {
		key := packDir("t", 3) + packName(tc.writer, 1763769600123456789, tc.maxT)
		if got, ok := packNameMaxT(key); !ok || got != tc.maxT {
			t.Errorf("packNameMaxT(%q) = %d, %v; want %d", key, got, ok, tc.maxT)
		}
		if !validPackName(key[strings.LastIndexByte(key, '/')+1:]) {
			t.Errorf("%q is not a valid pack name", key)
		}
	}
	good := packName("w", 1, 2)
	for _, bad := range []string{
		"t/1/packs/" + good + ".tmp-0123456789abcdef",
		"t/1/packs/1-2.pack",
		"t/1/packs/-1-2.pack",
		"t/1/packs/w-x-2.pack",
		"t/1/packs/w-1-y.pack",
		"t/1/packs/w-1-2",
		"t/1/index/ing-123.idx",
	} {
		if _, ok := packNameMaxT(bad); ok {
			t.Errorf("packNameMaxT(%q) parsed", bad)
		}
	}
}

// TestVersion1StoreStaysReadable: a bucket written before packs (version 1
// segments naming standalone chunk objects) and after (version 2 segments
// naming packs) answers one query with every chunk readable.
func TestVersion1StoreStaysReadable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		s, _ := newTestStore(t, bkt)
		ctx := context.Background()
		api := labels.FromStrings("app", "api")
		oldRefs, oldData := packChunks(api, 10*hour, 3)
		for i, r := range oldRefs {
			if err := s.PutChunk(ctx, "t", r, oldData[i]); err != nil {
				t.Fatal(err)
			}
		}
		seg, err := index.WriteVersion([]index.Series{seriesOf(api, oldRefs...)}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := bkt.Upload(ctx, indexKey("t", 10, "old", 1), bytes.NewReader(seg)); err != nil {
			t.Fatal(err)
		}
		newRefs, newData := packChunks(api, 10*hour+10, 3)
		located, err := s.PutPack(ctx, "t", "new", newRefs, newData)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutIndex(ctx, "t", "new", []index.Series{seriesOf(api, located...)}); err != nil {
			t.Fatal(err)
		}
		want := map[string][]byte{}
		for i, r := range oldRefs {
			want[fmt.Sprint(r.MinT)] = oldData[i]
		}
		for i, r := range newRefs {
			want[fmt.Sprint(r.MinT)] = newData[i]
		}
		fresh, _ := newTestStore(t, bkt)
		got := chunksOf(selectAll(t, fresh, "t", 10*hour, 11*hour-1))
		if len(got) != len(want) {
			t.Fatalf("%d chunks indexed, want %d", len(got), len(want))
		}
		for _, r := range got {
			b, err := fresh.GetChunk(ctx, "t", r)
			if err != nil || !bytes.Equal(b, want[fmt.Sprint(r.MinT)]) {
				t.Errorf("chunk at %d (pack %q): %q, %v; want %q", r.MinT, r.Pack, b, err, want[fmt.Sprint(r.MinT)])
			}
		}
		// Compaction merges both versions into one version 2 segment.
		if n, err := fresh.CompactIndex(ctx, "t", 10*hour); err != nil || n != 2 {
			t.Fatalf("CompactIndex = %d, %v; want 2 merged", n, err)
		}
		if again := chunksOf(selectAll(t, fresh, "t", 10*hour, 11*hour-1)); !slices.Equal(again, got) {
			t.Errorf("after compaction: %+v\nwant %+v", again, got)
		}
	})
}

// TestApplyRetentionExpiresPacksByTheirLatestChunk: a pack goes when its
// latest chunk has expired, never while one chunk in it is still wanted.
func TestApplyRetentionExpiresPacksByTheirLatestChunk(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bkt objstore.Bucket) {
		ctx := context.Background()
		s, _ := newTestStore(t, bkt)
		api := labels.FromStrings("app", "api")
		put := func(refs ...index.ChunkRef) []index.ChunkRef {
			t.Helper()
			data := make([][]byte, len(refs))
			for i := range refs {
				data[i] = []byte("data")
			}
			located, err := s.PutPack(ctx, "t", "ing", refs, data)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutIndex(ctx, "t", "ing", []index.Series{seriesOf(api, located...)}); err != nil {
				t.Fatal(err)
			}
			return located
		}
		// Pack 1 (period 10): a and b, ending 11:20, both expired.
		// Pack 2 (period 11): c expired, d not.
		// A standalone chunk of version 1 days, expired.
		p1 := put(ref(api, 10*hour, 10*hour+10*minute), ref(api, 10*hour+30*minute, 11*hour+20*minute))
		p2 := put(ref(api, 11*hour+5*minute, 11*hour+10*minute), ref(api, 11*hour+40*minute, 12*hour+5*minute))
		old := ref(api, 10*hour+45*minute, 10*hour+50*minute)
		if err := s.PutChunk(ctx, "t", old, []byte("data")); err != nil {
			t.Fatal(err)
		}
		cutoff := 11*hour + 30*minute
		st, err := s.ApplyRetention(ctx, "t", cutoff, cutoff)
		if err != nil {
			t.Fatal(err)
		}
		if st.Packs != 1 || st.Chunks != 2 || st.ChunkBytes != 8+4 {
			t.Errorf("stats = %+v, want 1 pack and 1 standalone chunk deleted (12 bytes)", st)
		}
		if objs := objectsUnder(t, bkt, "t/10/"); len(objs) != 0 {
			t.Errorf("period 10 still holds %q", objs)
		}
		if objs := objectsUnder(t, bkt, packDir("t", 11)); len(objs) != 1 || !strings.HasSuffix(objs[0], p2[0].Pack) {
			t.Errorf("period 11 packs %q, want the one with an unexpired chunk", objs)
		}
		if got := indexedChunks(t, bkt, "t"); !slices.Equal(got, p2[1:]) {
			t.Errorf("indexed after retention: %+v\nwant %+v", got, p2[1:])
		}
		if b, err := s.GetChunk(ctx, "t", p2[1]); err != nil || string(b) != "data" {
			t.Errorf("unexpired chunk in a kept pack: %q, %v", b, err)
		}
		_ = p1
		// The next cutoff expires the last chunk of pack 2.
		cutoff = 12*hour + 10*minute
		if st, err = s.ApplyRetention(ctx, "t", cutoff, cutoff); err != nil || st.Packs != 1 {
			t.Errorf("second run = %+v, %v; want pack 2 deleted", st, err)
		}
		if objs := objectsUnder(t, bkt, "t/"); len(objs) != 0 {
			t.Errorf("left %q", objs)
		}
	})
}
