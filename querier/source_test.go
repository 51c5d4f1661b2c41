package querier

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/chunks/index"
	"github.com/plgstack/plg/chunks/store"
	"github.com/plgstack/plg/ingester"
	"github.com/plgstack/plg/querier/logql"
)

const testTenant = "t"

// storeStream is one stream to write to a test store, as chunks of at
// most chunkEntries entries.
type storeStream struct {
	labels  labels.Labels
	entries []chunks.Entry
}

type storeOpts struct {
	bloomBits    int
	ngramBits    float64
	blockSize    int
	chunkEntries int
}

// newTestStore writes streams to an in-memory bucket as the ingester's
// flush would (chunks, then one index segment) and returns the store.
func newTestStore(tb testing.TB, o storeOpts, streams ...storeStream) *store.Store {
	tb.Helper()
	st := store.New(objstore.NewInMemBucket(), store.DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	writeStore(tb, st, "test", o, streams...)
	return st
}

// writeStore flushes streams to st as ingester writer would.
func writeStore(tb testing.TB, st *store.Store, writer string, o storeOpts, streams ...storeStream) {
	tb.Helper()
	ctx := context.Background()
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	var series []index.Series
	for _, s := range streams {
		sr := index.Series{Labels: s.labels, Fingerprint: s.labels.Hash()}
		for es := range slices.Chunk(s.entries, o.chunkEntries) {
			c := memChunk(tb, o, es)
			data, err := c.Encode()
			if err != nil {
				tb.Fatal(err)
			}
			minT, maxT := c.Bounds()
			ref := index.ChunkRef{
				Fingerprint: sr.Fingerprint, MinT: minT, MaxT: maxT,
				Checksum: crc32.Checksum(data, castagnoli), Size: uint32(len(data)),
				Entries: uint32(c.Entries()), UncompressedBytes: uint32(c.UncompressedSize()),
			}
			if err := st.PutChunk(ctx, testTenant, ref, data); err != nil {
				tb.Fatal(err)
			}
			sr.Chunks = append(sr.Chunks, ref)
		}
		series = append(series, sr)
	}
	if err := st.PutIndex(ctx, testTenant, writer, series); err != nil {
		tb.Fatal(err)
	}
}

func memChunk(tb testing.TB, o storeOpts, es []chunks.Entry) *chunks.MemChunk {
	c := chunks.NewMemChunkWithOptions(chunks.Options{Encoding: chunks.Zstd, BlockSize: o.blockSize, TargetSize: -1, BloomBitsPerToken: o.bloomBits, NgramBitsPerGram: o.ngramBits})
	for _, e := range es {
		if _, err := c.Append(e); err != nil {
			tb.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		tb.Fatal(err)
	}
	return c
}

// t0 is where test data starts (Unix ns).
var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixNano()

// genLines returns n logfmt lines of one stream, one per millisecond, each
// with its own random trace ID; lines at positions in plant carry
// trace_id=rare instead.
func genLines(seed uint64, n int, rare string, plant ...int) []chunks.Entry {
	r := rand.New(rand.NewPCG(seed, 1))
	levels := []string{"info", "info", "info", "debug", "warn", "error"}
	paths := []string{"/api/v1/orders", "/api/v1/users", "/healthz", "/api/v1/cart", "/metrics"}
	es := make([]chunks.Entry, n)
	for i := range es {
		trace := fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
		if slices.Contains(plant, i) {
			trace = rare
		}
		line := fmt.Sprintf("ts=2026-11-01T00:00:%02d.%03dZ level=%s caller=handler.go:%d trace_id=%s method=GET path=%s status=%d duration=%dms user=u%d msg=\"request served\"",
			i/1000%60, i%1000, levels[r.IntN(len(levels))], 40+r.IntN(200), trace, paths[r.IntN(len(paths))], []int{200, 200, 200, 404, 500}[r.IntN(5)], r.IntN(900), r.IntN(5000))
		es[i] = chunks.Entry{Timestamp: t0 + int64(i)*int64(time.Millisecond), Line: []byte(line)}
	}
	return es
}

// drainLines reads every stream to the end, returning its lines in order.
func drainLines(tb testing.TB, ss []logql.SourceStream) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	for _, s := range ss {
		var lines []string
		for s.Iter.Next() {
			lines = append(lines, string(s.Iter.At().Line))
		}
		if err := s.Iter.Err(); err != nil {
			tb.Fatal(err)
		}
		s.Iter.Close()
		out[s.Labels.String()] = lines
	}
	return out
}

func hasWholeToken(line, tok string) bool {
	return slices.ContainsFunc(chunks.AppendTokens(nil, []byte(line)), func(t []byte) bool { return string(t) == tok })
}

func TestSelectWithLineTokensSkipsBlocksAndChunksThatCannotMatch(t *testing.T) {
	const rare = "0123456789abcdef0123456789abcdef"
	a := storeStream{labels.FromStrings("app", "a"), genLines(1, 6000, rare, 4321)}
	b := storeStream{labels.FromStrings("app", "b"), genLines(2, 3000, rare)}
	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "app", ".+")}
	from, through := t0, t0+int64(time.Hour)
	tests := []struct {
		name        string
		bloomBits   int
		tokens      []string
		wantSkipped bool
		wantLines   int // of stream a, after keeping lines with every token
	}{
		{"blooms and a rare token skip blocks", 10, []string{rare}, true, 1},
		{"two tokens must both be admitted", 10, []string{rare, "request"}, true, 1},
		{"a token in every line skips nothing", 10, []string{"request"}, false, 6000},
		{"chunks without blooms are read whole", 0, []string{rare}, false, 1},
		{"no tokens read everything", 10, nil, false, 6000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newTestStore(t, storeOpts{bloomBits: tt.bloomBits, blockSize: 16 << 10, chunkEntries: 1500}, a, b)
			src := source{q: New(nil, st), tenants: []string{testTenant}}
			var all, hinted chunks.Stats
			ss, err := src.Select(context.Background(), ms, from, through, chunks.Forward, logql.SelectHints{}, &all)
			if err != nil {
				t.Fatal(err)
			}
			want := drainLines(t, ss)
			ss, err = src.Select(context.Background(), ms, from, through, chunks.Forward, logql.SelectHints{LineTokens: tt.tokens}, &hinted)
			if err != nil {
				t.Fatal(err)
			}
			got := drainLines(t, ss)
			// Whatever is skipped, every line holding every token is there,
			// in order, and nothing is invented.
			for stream, lines := range want {
				keep := func(ls []string) []string {
					return slices.DeleteFunc(slices.Clone(ls), func(l string) bool {
						return !all0(tt.tokens, func(tok string) bool { return hasWholeToken(l, tok) })
					})
				}
				if w, g := keep(lines), keep(got[stream]); !slices.Equal(w, g) {
					t.Errorf("stream %s: %d matching lines with hints, want %d", stream, len(g), len(w))
				}
				if !isSubsequence(got[stream], lines) {
					t.Errorf("stream %s: hinted select returned lines the plain one did not", stream)
				}
			}
			if n := len(want[`{app="a"}`]); n != 6000 {
				t.Fatalf("plain select read %d lines of a, want 6000", n)
			}
			matching := 0
			for _, l := range got[`{app="a"}`] {
				if all0(tt.tokens, func(tok string) bool { return hasWholeToken(l, tok) }) {
					matching++
				}
			}
			if matching != tt.wantLines {
				t.Errorf("%d lines of a hold the tokens, want %d", matching, tt.wantLines)
			}
			skipped := hinted.BlocksSkipped > all.BlocksSkipped
			if skipped != tt.wantSkipped {
				t.Errorf("blocks skipped %d with hints, %d without; want skipping %v", hinted.BlocksSkipped, all.BlocksSkipped, tt.wantSkipped)
			}
			if tt.wantSkipped && hinted.DecompressedBytes*4 > all.DecompressedBytes {
				t.Errorf("decompressed %d bytes with hints, %d without: expected most blocks skipped", hinted.DecompressedBytes, all.DecompressedBytes)
			}
			if !tt.wantSkipped && hinted.DecompressedBytes != all.DecompressedBytes {
				t.Errorf("decompressed %d bytes with hints, %d without: expected the same", hinted.DecompressedBytes, all.DecompressedBytes)
			}
		})
	}
}

func all0(toks []string, f func(string) bool) bool {
	for _, t := range toks {
		if !f(t) {
			return false
		}
	}
	return true
}

// isSubsequence reports whether sub appears in order within seq.
func isSubsequence(sub, seq []string) bool {
	i := 0
	for _, s := range seq {
		if i < len(sub) && sub[i] == s {
			i++
		}
	}
	return i == len(sub)
}

func TestQueryFindsDelimitedTokenThroughBlooms(t *testing.T) {
	const rare = "feedfacecafebeef0000111122223333"
	a := storeStream{labels.FromStrings("app", "a"), genLines(3, 5000, rare, 10, 2500, 4999)}
	b := storeStream{labels.FromStrings("app", "b"), genLines(4, 5000, rare, 7)}
	st := newTestStore(t, storeOpts{bloomBits: 10, blockSize: 16 << 10, chunkEntries: 2000}, a, b)
	eng := logql.NewEngine(logql.EngineOptions{}, nil)
	src := source{q: New(nil, st), tenants: []string{testTenant}}
	tests := []struct {
		query       string
		wantLines   int
		wantSkipped bool
	}{
		{`{app=~"a|b"} |= "trace_id=` + rare + ` "`, 4, true},
		{`{app=~"a|b"} |= "` + rare + `"`, 4, false}, // a bare needle cannot use whole-token filters
		{`{app="a"} |~ "=` + rare + ` "`, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res, err := eng.Query(context.Background(), src, logql.Params{
				Query: tt.query, Start: time.Unix(0, t0), End: time.Unix(0, t0+int64(time.Hour)), Limit: 100, Direction: chunks.Forward,
			})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, s := range res.Streams {
				for _, e := range s.Entries {
					if !strings.Contains(e.Line, rare) {
						t.Errorf("line without the token: %s", e.Line)
					}
					n++
				}
			}
			if n != tt.wantLines {
				t.Errorf("%d lines, want %d", n, tt.wantLines)
			}
			if (res.Stats.BlocksSkipped > 0) != tt.wantSkipped {
				t.Errorf("%d blocks skipped, want skipping %v", res.Stats.BlocksSkipped, tt.wantSkipped)
			}
		})
	}
}

// The benchmark corpus: ~101 MB of logfmt lines over 20 streams, chunks
// with 10-bit blooms, built once.
var (
	benchOnce  sync.Once
	benchStore *store.Store
	benchRaw   int64
)

const benchRare = "a11ce0ffee5eed5a11ce0ffee5eed5aa"

func benchmarkStore(b *testing.B) (*store.Store, int64) {
	benchOnce.Do(func() {
		var streams []storeStream
		for i := range 20 {
			es := genLines(uint64(100+i), 27_000, benchRare)
			if i == 7 {
				es = genLines(uint64(100+i), 27_000, benchRare, 12_345)
			}
			for _, e := range es {
				benchRaw += int64(len(e.Line))
			}
			streams = append(streams, storeStream{labels.FromStrings("app", fmt.Sprintf("svc-%02d", i)), es})
		}
		benchStore = newTestStore(b, storeOpts{bloomBits: 10, blockSize: 256 << 10, chunkEntries: 8_000}, streams...)
	})
	return benchStore, benchRaw
}

// BenchmarkRareTokenSearch compares a search for a delimited rare token
// with the store's bloom filters (hinted) and without (a bare needle, which
// must decode every block). MB/s are of raw log bytes searched.
func BenchmarkRareTokenSearch(b *testing.B) {
	st, raw := benchmarkStore(b)
	eng := logql.NewEngine(logql.EngineOptions{}, nil)
	src := source{q: New(nil, st), tenants: []string{testTenant}}
	for _, bc := range []struct{ name, query string }{
		{"bloom", `{app=~"svc-.*"} |= "trace_id=` + benchRare + ` "`},
		{"no-bloom", `{app=~"svc-.*"} |= "` + benchRare + `"`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(raw)
			b.ReportAllocs()
			var res logql.Result
			for b.Loop() {
				var err error
				res, err = eng.Query(context.Background(), src, logql.Params{
					Query: bc.query, Start: time.Unix(0, t0), End: time.Unix(0, t0+int64(time.Hour)), Limit: 100, Direction: chunks.Backward,
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if len(res.Streams) != 1 || len(res.Streams[0].Entries) != 1 {
				b.Fatalf("found %d streams, want the one line", len(res.Streams))
			}
			b.ReportMetric(float64(res.Stats.BlocksSkipped), "blocks-skipped")
			b.ReportMetric(float64(res.Stats.DecompressedBytes)/1e6, "MB-decompressed")
		})
	}
}

// memIngesters is an Ingesters over in-memory chunks, one per stream.
type memIngesters struct{ streams []storeStream }

func (m memIngesters) Select(ctx context.Context, _ string, from, through int64, dir chunks.Direction,
	ms []*labels.Matcher, _ [][]string, stats *chunks.Stats) ([]ingester.StreamIterator, error) {
	var out []ingester.StreamIterator
	for _, s := range m.streams {
		if !matchesAll(ms, s.labels) {
			continue
		}
		c := chunks.NewMemChunkWithOptions(chunks.Options{Encoding: chunks.Snappy, BlockSize: 4 << 10, TargetSize: -1})
		for _, e := range s.entries {
			if _, err := c.Append(e); err != nil {
				return nil, err
			}
		}
		out = append(out, ingester.StreamIterator{Labels: s.labels, Fingerprint: s.labels.Hash(), Iter: c.Iterator(ctx, from, through, dir, stats)})
	}
	return out, nil
}

func (memIngesters) Series(context.Context, string, int64, int64, []*labels.Matcher) ([]labels.Labels, error) {
	return nil, nil
}

func (memIngesters) Stats(context.Context, string, int64, int64, []*labels.Matcher) (ingester.IndexStats, error) {
	return ingester.IndexStats{}, nil
}

func (memIngesters) Volume(context.Context, string, int64, int64, []*labels.Matcher) ([]ingester.StreamVolume, error) {
	return nil, nil
}

func matchesAll(ms []*labels.Matcher, lbs labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(lbs.Get(m.Name)) {
			return false
		}
	}
	return true
}

// distinctCounts counts, for each window (t-rng, t] of t in ts, the
// distinct entries (timestamp and line) of every stream, and their line
// bytes: what count_over_time and bytes_over_time summed over streams
// must report.
func distinctCounts(ts []int64, rng int64, streams ...storeStream) (counts, bytes []float64) {
	type key struct {
		stream string
		ts     int64
		line   string
	}
	seen := map[key]bool{}
	counts, bytes = make([]float64, len(ts)), make([]float64, len(ts))
	for _, s := range streams {
		for _, e := range s.entries {
			k := key{s.labels.String(), e.Timestamp, string(e.Line)}
			if seen[k] {
				continue
			}
			seen[k] = true
			for i, t := range ts {
				if e.Timestamp > t-rng && e.Timestamp <= t {
					counts[i]++
					bytes[i] += float64(len(e.Line))
				}
			}
		}
	}
	return counts, bytes
}

func TestMetadataOnlyCountsMatchTheEntries(t *testing.T) {
	a := storeStream{labels.FromStrings("app", "a"), genLines(11, 9000, "")} // 9 s, one line per ms
	b := storeStream{labels.FromStrings("app", "b"), genLines(12, 6000, "")}
	// The ingester still holds the newest 3 s of a, 1 s of which is also
	// flushed (the retain period), plus 1 s not flushed yet.
	aMem := storeStream{a.labels, append(slices.Clone(a.entries[6000:]), genLines(13, 10000, "")[9000:]...)}
	// A client re-sent part of c: the chunk's last blocks overlap older
	// ones in time and repeat their entries.
	c := storeStream{labels.FromStrings("app", "c"), genLines(14, 3000, "")}
	c.entries = append(c.entries, c.entries[500:900]...)
	type segment struct {
		opts    storeOpts
		streams []storeStream
	}
	small := storeOpts{blockSize: 16 << 10, chunkEntries: 1500}
	tests := []struct {
		name       string
		segments   []segment
		mem        []storeStream
		all        []storeStream // everything stored, duplicates included
		summarised bool
	}{
		{"store only", []segment{{small, []storeStream{a, b}}}, nil, []storeStream{a, b}, true},
		{"store and ingester overlap", []segment{{small, []storeStream{a}}}, []storeStream{aMem}, []storeStream{a, aMem}, true},
		{"blocks overlapping in time are merged, not summarised", []segment{{storeOpts{blockSize: 16 << 10, chunkEntries: 4000}, []storeStream{c}}}, nil, []storeStream{c}, true},
		{"replicas flushed with other boundaries are merged, not summarised",
			[]segment{{small, []storeStream{b}}, {storeOpts{blockSize: 8 << 10, chunkEntries: 1000}, []storeStream{b}}}, nil, []storeStream{b}, false},
	}
	sec := int64(time.Second)
	queries := []struct {
		query       string
		start, end  int64 // offsets from t0
		step, rng   int64
		bytes, rate bool
	}{
		{`sum(count_over_time({app=~".+"}[1s]))`, sec, 11 * sec, sec, sec, false, false},
		{`sum(bytes_over_time({app=~".+"}[2s]))`, sec, 11 * sec, sec, 2 * sec, true, false},
		{`sum(rate({app=~".+"}[3s]))`, 2 * sec, 11 * sec, 3 * sec, 3 * sec, false, true},
		{`sum(count_over_time({app=~".+"}[1m]))`, 30 * sec, 30 * sec, 0, 60 * sec, false, false},
	}
	eng := logql.NewEngine(logql.EngineOptions{}, nil)
	for _, tt := range tests {
		st := store.New(objstore.NewInMemBucket(), store.DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		for i, seg := range tt.segments {
			writeStore(t, st, fmt.Sprintf("w%d", i), seg.opts, seg.streams...)
		}
		var ing Ingesters
		if tt.mem != nil {
			ing = memIngesters{tt.mem}
		}
		src := source{q: New(ing, st), tenants: []string{testTenant}}
		for _, q := range queries {
			t.Run(tt.name+" "+q.query, func(t *testing.T) {
				p := logql.Params{Query: q.query, Start: time.Unix(0, t0+q.start), End: time.Unix(0, t0+q.end), Step: time.Duration(q.step), Limit: 100, Direction: chunks.Forward}
				var ts []int64
				if q.step == 0 {
					p.Instant = true
					ts = []int64{t0 + q.start}
				} else {
					for x := t0 + q.start; x <= t0+q.end; x += q.step {
						ts = append(ts, x)
					}
				}
				res, err := eng.Query(context.Background(), src, p)
				if err != nil {
					t.Fatal(err)
				}
				got := map[int64]float64{}
				for _, s := range res.Matrix {
					for _, pt := range s.Points {
						got[pt.T] = pt.V
					}
				}
				for _, s := range res.Vector {
					got[s.Point.T] = s.Point.V
				}
				counts, bytes := distinctCounts(ts, q.rng, tt.all...)
				for i, x := range ts {
					want := counts[i]
					if q.bytes {
						want = bytes[i]
					}
					if q.rate {
						want /= float64(q.rng) / 1e9
					}
					if g := got[x/1e6]; g != want {
						t.Errorf("at %v: %v, want %v", time.Duration(x-t0), g, want)
					}
				}
				if n := res.Stats.BlocksSkipped + res.Stats.ColumnBlocks; (n > 0) != tt.summarised {
					t.Errorf("%d blocks answered from index entries, %d from columns, want some: %v", res.Stats.BlocksSkipped, res.Stats.ColumnBlocks, tt.summarised)
				}
			})
		}
	}
}

// BenchmarkMetadataOnlyCount compares sum(count_over_time) over the 101 MB
// corpus answered from block metadata (summaries) with the same query made
// to read every entry by a no-op line filter. MB/s are of raw log bytes.
func BenchmarkMetadataOnlyCount(b *testing.B) {
	st, raw := benchmarkStore(b)
	eng := logql.NewEngine(logql.EngineOptions{}, nil)
	src := source{q: New(nil, st), tenants: []string{testTenant}}
	p := logql.Params{Start: time.Unix(0, t0+5*int64(time.Second)), End: time.Unix(0, t0+30*int64(time.Second)), Step: 5 * time.Second, Limit: 100, Direction: chunks.Forward}
	results := map[string][]logql.Series{}
	for _, bc := range []struct{ name, query string }{
		{"summaries", `sum(count_over_time({app=~"svc-.*"}[5s]))`},
		{"entries", `sum(count_over_time({app=~"svc-.*"} |= "" [5s]))`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(raw)
			b.ReportAllocs()
			p.Query = bc.query
			var res logql.Result
			for b.Loop() {
				var err error
				if res, err = eng.Query(context.Background(), src, p); err != nil {
					b.Fatal(err)
				}
			}
			results[bc.name] = res.Matrix
			b.ReportMetric(float64(res.Stats.BlocksSkipped), "blocks-skipped")
			b.ReportMetric(float64(res.Stats.DecompressedBytes)/1e6, "MB-decompressed")
		})
	}
	if s, e := results["summaries"], results["entries"]; s != nil && e != nil && !reflect.DeepEqual(s, e) {
		b.Fatalf("summaries gave %v, entries %v", s, e)
	}
}

// FuzzMetadataOnlyCounts builds a store (out-of-order re-sends, replicas,
// random block and chunk sizes) and ingester memory overlapping it from
// the fuzz input, and checks that counts and byte sums answered with block
// summaries equal those read entry by entry (a no-op line filter turns
// summaries off).
func FuzzMetadataOnlyCounts(f *testing.F) {
	f.Add(uint64(1), uint16(2000), uint8(8), uint16(300), uint16(1500), uint16(200), uint16(500), false)
	f.Add(uint64(2), uint16(500), uint8(1), uint16(0), uint16(0), uint16(50), uint16(50), true)
	f.Add(uint64(3), uint16(3000), uint8(16), uint16(1000), uint16(2999), uint16(1000), uint16(3000), false)
	eng := logql.NewEngine(logql.EngineOptions{}, nil)
	f.Fuzz(func(t *testing.T, seed uint64, n uint16, blockKiB uint8, resend, memFrom, stepMs, rngMs uint16, replica bool) {
		r := rand.New(rand.NewPCG(seed, 2))
		count := int(n)%3000 + 1
		es := make([]chunks.Entry, count)
		ts := t0
		for i := range es {
			ts += int64(1+r.IntN(5)) * int64(time.Millisecond)
			es[i] = chunks.Entry{Timestamp: ts, Line: []byte(strings.Repeat("y", 1+r.IntN(300)))}
		}
		stored := slices.Clone(es)
		if k := int(resend) % count; k > 0 {
			at := r.IntN(count - k + 1)
			stored = append(stored, es[at:at+k]...)
		}
		lbs := labels.FromStrings("app", "f")
		o := storeOpts{blockSize: (int(blockKiB)%32 + 1) << 10, chunkEntries: 200 + r.IntN(2000)}
		st := store.New(objstore.NewInMemBucket(), store.DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		writeStore(t, st, "w0", o, storeStream{lbs, stored})
		if replica {
			o.chunkEntries = 200 + r.IntN(2000)
			writeStore(t, st, "w1", o, storeStream{lbs, stored})
		}
		var ing Ingesters
		if m := int(memFrom) % count; m > 0 {
			ing = memIngesters{[]storeStream{{lbs, es[m:]}}}
		}
		src := source{q: New(ing, st), tenants: []string{testTenant}}
		step := time.Duration(int(stepMs)%2000+1) * time.Millisecond
		rng := time.Duration(int(rngMs)%5000+1) * time.Millisecond
		rngStr := fmt.Sprintf("%dms", rng.Milliseconds())
		for _, q := range []string{`sum(count_over_time({app="f"}%s[%s]))`, `sum(bytes_rate({app="f"}%s[%s]))`} {
			p := logql.Params{Start: time.Unix(0, t0), End: time.Unix(0, ts+int64(rng)), Step: step, Limit: 100, Direction: chunks.Forward}
			p.Query = fmt.Sprintf(q, "", rngStr)
			fast, err := eng.Query(context.Background(), src, p)
			if err != nil {
				return // too many points for the step
			}
			p.Query = fmt.Sprintf(q, ` |= ""`, rngStr)
			slow, err := eng.Query(context.Background(), src, p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fast.Matrix, slow.Matrix) {
				t.Fatalf("%s step %v: summaries gave\n%v\nentries gave\n%v", p.Query, step, fast.Matrix, slow.Matrix)
			}
		}
	})
}
