package chunks

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/prometheus/model/labels"
)

// logGen produces realistic, deterministic log lines: JSON application
// logs, nginx access logs and logfmt, as a Kubernetes service emits them.
type logGen struct {
	r  *rand.Rand
	ts int64
}

func newLogGen(seed uint64) *logGen {
	return &logGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), ts: 1_763_700_000_000_000_000}
}

var (
	genLevels  = []string{"info", "info", "info", "info", "debug", "debug", "warn", "error"}
	genMsgs    = []string{"request completed", "cache miss", "user authenticated", "order created", "payment authorised", "retrying upstream call", "connection pool exhausted", "slow query"}
	genPaths   = []string{"/api/v1/orders", "/api/v1/users/me", "/healthz", "/api/v1/cart/items", "/static/app.js", "/api/v1/search", "/metrics", "/api/v1/payments"}
	genMethods = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	genStatus  = []int{200, 200, 200, 200, 201, 204, 304, 400, 404, 500}
	genAgents  = []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
		"kube-probe/1.29", "Go-http-client/1.1", "curl/8.4.0",
	}
	genServices = []string{"checkout", "cart", "catalog", "auth", "payments"}
)

func (g *logGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *logGen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(16)]
	}
	return string(b)
}

func (g *logGen) ip() string {
	// A service sees a limited set of clients (other pods, a few ingresses).
	n := g.r.IntN(60)
	return fmt.Sprintf("10.%d.%d.%d", 2+n%3, 40+n%7, 10+n)
}

// latency draws a request duration in ms: mostly fast, with a long tail.
func (g *logGen) latency() float64 {
	return math.Round(g.r.ExpFloat64()*12*100) / 100
}

// next returns the next entry of a stream of the given kind (0 JSON,
// 1 nginx, 2 logfmt).
func (g *logGen) next(kind int) Entry {
	g.ts += 200_000 + g.r.Int64N(2_000_000)
	ms := g.ts / 1e6
	when := time.Unix(0, g.ts).UTC()
	var line string
	switch kind {
	case 0:
		lvl := g.pick(genLevels)
		line = fmt.Sprintf(`{"time":"%s","level":"%s","service":"%s","msg":"%s","trace_id":"%s","span_id":"%s","user_id":%d,"duration_ms":%g,"status":%d}`,
			when.Format("2006-01-02T15:04:05.000Z07:00"), lvl, genServices[0], g.pick(genMsgs), g.hex(32), g.hex(16),
			1000+g.r.IntN(500), g.latency(), genStatus[g.r.IntN(len(genStatus))])
	case 1:
		path := g.r.IntN(len(genPaths))
		line = fmt.Sprintf(`%s - - [%s] "%s %s HTTP/1.1" %d %d "-" "%s" %.3f`,
			g.ip(), when.Format("02/Jan/2006:15:04:05 -0700"), genMethods[path%len(genMethods)], genPaths[path],
			genStatus[g.r.IntN(len(genStatus))], 512+path*1300+g.r.IntN(64), genAgents[g.r.IntN(len(genAgents))], g.latency()/1000)
	default:
		line = fmt.Sprintf(`ts=%s level=%s caller=handler.go:%d component=%s msg=%q trace_id=%s duration=%gms`,
			strconv.FormatInt(ms, 10), g.pick(genLevels), 40+10*g.r.IntN(12), genServices[2], g.pick(genMsgs), g.hex(32), g.latency())
	}
	return Entry{Timestamp: g.ts, Line: []byte(line), Metadata: labels.EmptyLabels()}
}

// benchEntries returns about rawBytes of log lines of the three kinds, in
// long runs (a stream is one container's output, so one format), and
// their total size.
func benchEntries(rawBytes int) ([]Entry, int64) {
	g := newLogGen(42)
	var es []Entry
	var n int64
	for i := 0; n < int64(rawBytes); i++ {
		e := g.next(i / 8000 % 3)
		es = append(es, e)
		n += int64(len(e.Line))
	}
	return es, n
}

const benchChunkRaw = 8 << 20

// cpuTime returns the CPU time the process has used. On a shared machine
// wall-clock MB/s mostly measures the neighbours; bytes per CPU-second
// (reported as "cpu-MB/s") measures the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPUThroughput reports bytes per op over the CPU time since start.
func reportCPUThroughput(b *testing.B, start time.Duration, bytesPerOp int64) {
	if d := cpuTime() - start; d > 0 {
		b.ReportMetric(float64(bytesPerOp)*float64(b.N)/d.Seconds()/1e6, "cpu-MB/s")
	}
}

func buildChunk(b *testing.B, enc Encoding, es []Entry) *MemChunk {
	c := NewMemChunk(enc, DefaultBlockSize, math.MaxInt)
	for _, e := range es {
		if _, err := c.Append(e); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

func BenchmarkAppend(b *testing.B) {
	es, raw := benchEntries(benchChunkRaw)
	for _, enc := range Encodings() {
		b.Run(enc.String(), func(b *testing.B) {
			b.SetBytes(raw)
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				buildChunk(b, enc, es)
			}
			reportCPUThroughput(b, start, raw)
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	es, raw := benchEntries(benchChunkRaw)
	for _, enc := range Encodings() {
		b.Run(enc.String(), func(b *testing.B) {
			b.SetBytes(raw)
			b.ReportAllocs()
			var size int
			start := cpuTime()
			for b.Loop() {
				out, err := buildChunk(b, enc, es).Encode()
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			reportCPUThroughput(b, start, raw)
			b.ReportMetric(float64(raw)/float64(size), "ratio")
		})
	}
}

func BenchmarkDecodeScan(b *testing.B) {
	es, raw := benchEntries(benchChunkRaw)
	for _, enc := range Encodings() {
		for _, dir := range []Direction{Forward, Backward} {
			name := enc.String()
			if dir == Backward {
				name += "/backward"
			}
			b.Run(name, func(b *testing.B) {
				buf, err := buildChunk(b, enc, es).Encode()
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(raw)
				b.ReportAllocs()
				b.ReportMetric(float64(raw)/float64(len(buf)), "ratio")
				start := cpuTime()
				for b.Loop() {
					c, err := Decode(buf)
					if err != nil {
						b.Fatal(err)
					}
					it := c.Iterator(bg, math.MinInt64, math.MaxInt64, dir, nil)
					var n int
					for it.Next() {
						n += len(it.At().Line)
					}
					if err := it.Err(); err != nil {
						b.Fatal(err)
					}
					_ = it.Close()
					if int64(n) != raw {
						b.Fatalf("scanned %d bytes, want %d", n, raw)
					}
				}
				reportCPUThroughput(b, start, raw)
			})
		}
	}
}

// BenchmarkMergeScan measures merging three overlapping replicas of a
// stream, the querier's worst common case.
func BenchmarkMergeScan(b *testing.B) {
	es, raw := benchEntries(2 << 20)
	bufs := make([][]byte, 3)
	for i := range bufs {
		var err error
		if bufs[i], err = buildChunk(b, S2, es).Encode(); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(raw)
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		its := make([]Iterator, len(bufs))
		for i, buf := range bufs {
			c, err := Decode(buf)
			if err != nil {
				b.Fatal(err)
			}
			its[i] = c.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)
		}
		it := NewMergeIterator(Forward, its...)
		var n int64
		for it.Next() {
			n += int64(len(it.At().Line))
		}
		if n != raw {
			b.Fatalf("merged %d bytes, want %d", n, raw)
		}
		_ = it.Close()
	}
	reportCPUThroughput(b, start, raw)
}

// BenchmarkEncodeFormat reports the compression ratio and encode speed
// per log format and codec (zstd at three of its levels), since a stream
// holds one format and ratios differ widely: lines with random trace IDs
// compress far less than access logs.
func BenchmarkEncodeFormat(b *testing.B) {
	for kind, name := range []string{"json", "nginx", "logfmt"} {
		g := newLogGen(uint64(kind) + 7)
		var es []Entry
		var raw int64
		for raw < 4<<20 {
			e := g.next(kind)
			es = append(es, e)
			raw += int64(len(e.Line))
		}
		for _, codec := range []struct {
			name  string
			enc   Encoding
			level zstd.EncoderLevel
		}{{"snappy", Snappy, 0}, {"s2", S2, 0}, {"zstd-fastest", Zstd, zstd.SpeedFastest}, {"zstd-default", Zstd, zstd.SpeedDefault}, {"zstd-better", Zstd, zstd.SpeedBetterCompression}, {"gzip", Gzip, 0}} {
			b.Run(name+"/"+codec.name, func(b *testing.B) {
				b.SetBytes(raw)
				var size int
				start := cpuTime()
				for b.Loop() {
					c := NewMemChunkWithOptions(Options{Encoding: codec.enc, TargetSize: math.MaxInt, ZstdLevel: codec.level})
					for _, e := range es {
						if _, err := c.Append(e); err != nil {
							b.Fatal(err)
						}
					}
					out, err := c.Encode()
					if err != nil {
						b.Fatal(err)
					}
					size = len(out)
				}
				reportCPUThroughput(b, start, raw)
				b.ReportMetric(float64(raw)/float64(size), "ratio")
			})
		}
	}
}

// BenchmarkDecodeScanVersions compares a forward scan of every line of a
// version 1 chunk (row-wise blocks) with one of version 2 (columns frame
// plus lines frame); MB/s are of raw log bytes.
func BenchmarkDecodeScanVersions(b *testing.B) {
	es, raw := benchEntries(benchChunkRaw)
	for _, enc := range []Encoding{Zstd, S2} {
		for _, v := range []byte{FormatV1, FormatV2, FormatV3} {
			b.Run(fmt.Sprintf("%s/v%d", enc, v), func(b *testing.B) {
				c := NewMemChunkWithOptions(Options{Encoding: enc, BlockSize: DefaultBlockSize, TargetSize: math.MaxInt, version: v})
				for _, e := range es {
					if _, err := c.Append(e); err != nil {
						b.Fatal(err)
					}
				}
				buf, err := c.Encode()
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(raw)
				start := cpuTime()
				for b.Loop() {
					d, err := Decode(buf)
					if err != nil {
						b.Fatal(err)
					}
					it := d.Iterator(bg, math.MinInt64, math.MaxInt64, Forward, nil)
					var n int
					for it.Next() {
						n += len(it.At().Line)
					}
					_ = it.Close()
					if int64(n) != raw {
						b.Fatalf("scanned %d bytes, want %d", n, raw)
					}
				}
				reportCPUThroughput(b, start, raw)
				b.ReportMetric(float64(raw)/float64(len(buf)), "ratio")
			})
		}
	}
}

// BenchmarkSummaryScan measures per-second counts and line bytes of a
// chunk (blocks of ~1,200 entries over ~1.4 s) folded from the entry
// columns (SummaryIterator, cells [s, s+1s) that the blocks' 1 s
// histogram buckets straddle), from the time histograms (cells
// (s-1s, s], as LogQL's windows), and the same totals from a full scan;
// MB/s are of raw log bytes.
func BenchmarkSummaryScan(b *testing.B) {
	es, raw := benchEntries(benchChunkRaw)
	buf, err := buildChunk(b, Zstd, es).Encode()
	if err != nil {
		b.Fatal(err)
	}
	d, err := Decode(buf)
	if err != nil {
		b.Fatal(err)
	}
	lo, hi := d.Bounds()
	const sec = int64(time.Second)
	cell := func(ts int64) int64 { return (ts/sec+1)*sec - 1 }
	window := func(ts int64) int64 { return (ts + sec - 1) / sec * sec }
	for _, name := range []string{"columns", "histogram", "entries"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(raw)
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				var n, bytes int64
				if name != "entries" {
					c := cell
					if name == "histogram" {
						c = window
					}
					it := d.SummaryIterator(bg, lo, hi+1, SummaryOptions{Cell: c, NoMetadata: true}, nil)
					for it.Next() {
						k, l, _ := it.Summary()
						n, bytes = n+k, bytes+l
					}
					_ = it.Close()
				} else {
					it := d.Iterator(bg, lo, hi+1, Forward, nil)
					for it.Next() {
						n, bytes = n+1, bytes+int64(len(it.At().Line))
					}
					_ = it.Close()
				}
				if n != int64(len(es)) || bytes != raw {
					b.Fatalf("%d entries, %d bytes; want %d, %d", n, bytes, len(es), raw)
				}
			}
			reportCPUThroughput(b, start, raw)
		})
	}
}

// BenchmarkDecompressSlack decodes one 256 KiB zstd block of log lines
// into a buffer of exactly its size and into one with decodeSlack spare:
// the zstd decoder takes its fast copy loops only in the second.
func BenchmarkDecompressSlack(b *testing.B) {
	es, _ := benchEntries(DefaultBlockSize)
	var raw []byte
	for _, e := range es {
		raw = append(raw, e.Line...)
	}
	raw = raw[:DefaultBlockSize]
	comp, err := Zstd.compress(nil, raw)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		slack int
	}{{"exact", 0}, {"slack", decodeSlack}} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, len(raw)+tc.slack)
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				out, err := zstdDecoder().DecodeAll(comp, buf[:0])
				if err != nil || len(out) != len(raw) {
					b.Fatal(err, len(out))
				}
			}
		})
	}
}

// BenchmarkEncodeSmallBlocks measures a chunk whose heads were sealed at a
// quarter of the block size, as under the ingester's memory budget, from
// the first append to the encoded bytes, under each BlockMerge mode.
func BenchmarkEncodeSmallBlocks(b *testing.B) {
	es, raw := benchEntries(benchChunkRaw)
	for _, merge := range []BlockMerge{MergeRecompress, MergeConcat, MergeOff} {
		b.Run(merge.String(), func(b *testing.B) {
			b.SetBytes(raw)
			b.ReportAllocs()
			var size int
			start := cpuTime()
			for b.Loop() {
				c := NewMemChunkWithOptions(Options{Encoding: Zstd, TargetSize: math.MaxInt, NgramBitsPerGram: 1, BlockMerge: merge})
				for _, e := range es {
					if _, err := c.Append(e); err != nil {
						b.Fatal(err)
					}
					if c.HeadBytes() >= DefaultBlockSize/4 {
						if err := c.SealHead(); err != nil {
							b.Fatal(err)
						}
					}
				}
				out, err := c.Encode()
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			reportCPUThroughput(b, start, raw)
			b.ReportMetric(float64(raw)/float64(size), "ratio")
		})
	}
}

// BenchmarkScanMatching is the chunk-level half of a `|= "needle"`
// query: every block of a chunk without n-gram filters is decompressed
// and its lines frame searched for a needle that one line in 10,007
// holds (IteratorMatching). With encoding none the figure is the cost of
// everything but decompression. MB/s are of raw log bytes.
func BenchmarkScanMatching(b *testing.B) {
	es, raw := benchEntries(benchChunkRaw)
	var want int
	for i := range es {
		if i%10007 == 10006 {
			es[i].Line = append(append([]byte(nil), es[i].Line...), " needle"...)
			raw += int64(len(" needle"))
			want++
		}
	}
	needles := NewNeedles([][]string{{"needle"}})
	for _, enc := range []Encoding{None, S2, Zstd} {
		buf, err := buildChunk(b, enc, es).Encode()
		if err != nil {
			b.Fatal(err)
		}
		c, err := Decode(buf)
		if err != nil {
			b.Fatal(err)
		}
		for _, dir := range []Direction{Forward, Backward} {
			b.Run(enc.String()+"/"+dir.String(), func(b *testing.B) {
				b.SetBytes(raw)
				b.ReportAllocs()
				start := cpuTime()
				for b.Loop() {
					it := c.IteratorMatching(bg, math.MinInt64, math.MaxInt64, dir, nil, needles, nil)
					n := 0
					for it.Next() {
						if bytes.Contains(it.At().Line, []byte("needle")) {
							n++
						}
					}
					if err := it.Err(); err != nil {
						b.Fatal(err)
					}
					_ = it.Close()
					if n != want {
						b.Fatalf("found %d needles, want %d", n, want)
					}
				}
				reportCPUThroughput(b, start, raw)
			})
		}
	}
}

// BenchmarkEncodeThinBudget measures a chunk as the ingester builds it
// when its memory budget leaves each stream little room (1,000 streams at
// the default budget: RunGramsOff and ProvisionalSeals set, heads sealed
// at 4-32 KiB), from
// the first append to the encoded bytes. "mem" is the chunk's memory
// before Encode, in percent of the raw text: what the budget sees.
func BenchmarkEncodeThinBudget(b *testing.B) {
	es, raw := benchEntries(benchChunkRaw)
	thin := new(atomic.Bool)
	thin.Store(true)
	sealAt := []int{4 << 10, 8 << 10, 12 << 10, 16 << 10, 24 << 10, 32 << 10, 6 << 10, 10 << 10}
	b.SetBytes(raw)
	b.ReportAllocs()
	var size, mem int
	start := cpuTime()
	for b.Loop() {
		c := NewMemChunkWithOptions(Options{Encoding: Zstd, TargetSize: math.MaxInt, NgramBitsPerGram: 0.8, RunGramsOff: thin, ProvisionalSeals: thin})
		seals := 0
		for _, e := range es {
			if _, err := c.Append(e); err != nil {
				b.Fatal(err)
			}
			if c.HeadBytes() >= sealAt[seals%len(sealAt)] {
				if err := c.SealHead(); err != nil {
					b.Fatal(err)
				}
				seals++
			}
		}
		mem = c.MemoryBytes()
		out, err := c.Encode()
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	reportCPUThroughput(b, start, raw)
	b.ReportMetric(float64(raw)/float64(size), "ratio")
	b.ReportMetric(float64(mem)/float64(raw)*100, "mem%")
}
