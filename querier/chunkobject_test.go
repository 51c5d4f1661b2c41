package querier

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/index"
	"github.com/plgstack/plg/chunks/store"
	"github.com/plgstack/plg/querier/logql"
)

// fsStore returns a store over a filesystem bucket as the server opens
// it, whose chunks the querier reads with positioned reads of the files.
func fsStore(tb testing.TB) (*store.Store, objstore.Bucket) {
	tb.Helper()
	cfg := store.DefaultConfig()
	cfg.Filesystem.Dir = tb.TempDir()
	bkt, err := store.NewBucket(cfg, nil, prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	return store.New(bkt, cfg, nil, nil), bkt
}

func storeRefs(t *testing.T, st *store.Store) []index.ChunkRef {
	t.Helper()
	mr, err := st.Index(context.Background(), testTenant, 0, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := mr.Select(0, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	var refs []index.ChunkRef
	for _, s := range ss {
		refs = append(refs, s.Chunks...)
	}
	return refs
}

func TestFilesystemAndObjectStoreReadsAnswerAlike(t *testing.T) {
	const rare = "2f1bd0b6b6a951ba3941fc7dd40642a3"
	ss := []storeStream{
		{labels.FromStrings("app", "a"), genLines(1, 3000, rare, 10, 2500)},
		{labels.FromStrings("app", "b"), genLines(2, 3000, rare)},
	}
	o := storeOpts{ngramBits: 0.8, blockSize: 16 << 10, chunkEntries: 1000}
	fs, _ := fsStore(t)
	writeStore(t, fs, "test", o, ss...)
	mem := newTestStore(t, o, ss...)
	start, end := time.Unix(0, t0), time.Unix(0, t0+int64(time.Hour))
	eng := logql.NewEngine(logql.EngineOptions{}, nil)
	for _, p := range []logql.Params{
		{Query: `{app=~".+"} |= "` + rare + `"`, Start: start, End: end, Limit: 100, Direction: chunks.Backward},
		{Query: `sum by (app) (count_over_time({app=~".+"}[1m]))`, Start: start, End: end, Step: time.Minute},
		{Query: `sum by (app) (count_over_time({app=~".+"}[7s]))`, Start: start.Add(3 * time.Second), End: end, Step: 7 * time.Second},
	} {
		var results []logql.Result
		for _, st := range []*store.Store{fs, mem} {
			for _, cacheMB := range []int{0, 32} { // every read, then every prefix cached
				q := New(nil, st)
				q.SetPrefixCache(cacheMB, nil)
				src := source{q: q, tenants: []string{testTenant}}
				for range 2 {
					res, err := eng.Query(context.Background(), src, p)
					if err != nil {
						t.Fatalf("%s: %v", p.Query, err)
					}
					res.Stats = logql.Stats{}
					results = append(results, res)
				}
			}
		}
		if len(results[0].Streams)+len(results[0].Matrix) == 0 {
			t.Fatalf("%s: empty result", p.Query)
		}
		for i, r := range results[1:] {
			if !reflect.DeepEqual(r, results[0]) {
				t.Errorf("%s: result %d differs from the filesystem bucket's first", p.Query, i+1)
			}
		}
	}
}

func TestFetchPrefixReadsTheRestWhenTheFirstReadIsShort(t *testing.T) {
	o := storeOpts{ngramBits: 1, blockSize: 16 << 10, chunkEntries: 3000}
	st := newTestStore(t, o, storeStream{labels.FromStrings("app", "a"), genLines(1, 3000, "")})
	ref := storeRefs(t, st)[0]
	q := New(nil, st)
	q.SetPrefixCache(0, nil)
	fetch := func(ref index.ChunkRef) (*chunks.Chunk, []byte) {
		obj := q.chunkObject(context.Background(), testTenant, ref)
		defer obj.close()
		c, prefix, err := q.fetchPrefix(obj)
		if err != nil {
			t.Fatal(err)
		}
		return c, prefix
	}
	want, prefix := fetch(ref)
	need, err := chunks.HeaderIndexFiltersSize(prefix)
	if err != nil {
		t.Fatal(err)
	}
	short := ref
	short.UncompressedBytes = 0 // the first read takes 4 KiB
	if n := firstChunkRead(short); n >= need {
		t.Fatalf("first read of %d bytes; the test needs a prefix longer than it, not %d", n, need)
	}
	if got, _ := fetch(short); !reflect.DeepEqual(got.Blocks(), want.Blocks()) {
		t.Errorf("blocks after a short first read differ")
	}
}

func TestCorruptChunkObjectsFailTheQuery(t *testing.T) {
	o := storeOpts{ngramBits: 1, blockSize: 16 << 10, chunkEntries: 3000}
	ss := storeStream{labels.FromStrings("app", "a"), genLines(1, 3000, "")}
	for _, tc := range []struct {
		name string
		cut  func(data []byte) []byte
	}{
		{"cut inside the header", func(d []byte) []byte { return d[:20] }},
		{"cut inside the filter section", func(d []byte) []byte { return d[:chunks.HeaderSize+200] }},
		{"a flipped filter byte", func(d []byte) []byte {
			d = append([]byte(nil), d...)
			blocks := int(binary.BigEndian.Uint32(d[28:]))
			d[chunks.HeaderSize+blocks*chunks.IndexEntrySize+4+10] ^= 1 // covered by the filter section's CRC only
			return d
		}},
		{"a header claiming more filters than the object holds", func(d []byte) []byte {
			d = append([]byte(nil), d...)
			d[32] = 0x7f // filters_len
			return d
		}},
	} {
		for _, b := range []struct {
			name string
			open func(t *testing.T) (*store.Store, objstore.Bucket)
		}{
			{"filesystem", func(t *testing.T) (*store.Store, objstore.Bucket) { return fsStore(t) }},
			{"inmem", func(t *testing.T) (*store.Store, objstore.Bucket) {
				bkt := objstore.NewInMemBucket()
				return store.New(bkt, store.DefaultConfig(), nil, nil), bkt
			}},
		} {
			t.Run(tc.name+"/"+b.name, func(t *testing.T) {
				st, bkt := b.open(t)
				writeStore(t, st, "test", o, ss)
				ref := storeRefs(t, st)[0]
				data, err := st.GetChunk(context.Background(), testTenant, ref)
				if err != nil {
					t.Fatal(err)
				}
				if err := bkt.Upload(context.Background(), st.ChunkKey(testTenant, ref), bytes.NewReader(tc.cut(data))); err != nil {
					t.Fatal(err)
				}
				q := New(nil, st)
				src := source{q: q, tenants: []string{testTenant}}
				p := logql.Params{Query: `{app="a"} |= "zzzzqqqq"`, Start: time.Unix(0, t0), End: time.Unix(0, t0+int64(time.Hour)), Limit: 10, Direction: chunks.Backward}
				_, err = logql.NewEngine(logql.EngineOptions{}, nil).Query(context.Background(), src, p)
				if !errors.Is(err, chunks.ErrCorrupt) {
					t.Errorf("query over a corrupt chunk = %v, want ErrCorrupt", err)
				}
			})
		}
	}
}
