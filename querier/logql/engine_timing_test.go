package logql

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
)

// benchSource is ~100 MB of JSON access-log lines in 8 streams of real
// (default-encoded) chunks, spread over one hour.
type benchSource struct {
	memSource
	rawBytes int64
	lines    int64
}

var (
	benchMu      sync.Mutex
	benchSources = map[chunks.Encoding]*benchSource{}
)

// benchTotalBytes is the log text of the benchmark data set; issue 3's
// scan target is over 1 GB: go test -bench LineFilter -args -bench-bytes=1073741824.
var benchTotalBytes = flag.Int64("bench-bytes", 100<<20, "bytes of log text in the querier/logql benchmarks' data set")

const (
	benchStreams    = 8
	benchSpan       = time.Hour
	benchNeedleEach = 10007 // one line in benchNeedleEach holds "needle"
)

// loadBenchSource builds (once per encoding) the benchmark data set.
func loadBenchSource(b *testing.B, enc chunks.Encoding) *benchSource {
	benchMu.Lock()
	defer benchMu.Unlock()
	if src, ok := benchSources[enc]; ok {
		return src
	}
	{
		rng := rand.New(rand.NewPCG(1, 2))
		levels := []string{"info", "info", "info", "info", "debug", "warn", "error"}
		methods := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
		paths := []string{"/api/v1/users", "/api/v1/orders", "/api/v1/cart", "/healthz", "/api/v2/search"}
		src := &benchSource{}
		perStream := *benchTotalBytes / benchStreams
		var line []byte
		for si := range benchStreams {
			c := chunks.NewMemChunk(enc, 0, -1)
			var written int64
			var n int64
			for written < perStream {
				n++
				lvl := levels[rng.IntN(len(levels))]
				msg := "request completed"
				if (src.lines+n)%benchNeedleEach == 0 {
					msg = "request completed needle"
				}
				line = fmt.Appendf(line[:0],
					`{"ts":"2026-11-22T05:%02d:%02d.%03dZ","level":"%s","caller":"http/server.go:%d","msg":"%s","method":"%s","path":"%s/%d","status":%d,"duration_ms":%.2f,"bytes":%d,"trace_id":"%016x%016x"}`,
					rng.IntN(60), rng.IntN(60), rng.IntN(1000), lvl, 100+rng.IntN(400), msg,
					methods[rng.IntN(len(methods))], paths[rng.IntN(len(paths))], rng.IntN(100000),
					[]int{200, 200, 200, 201, 204, 400, 404, 500}[rng.IntN(8)], rng.Float64()*250, rng.IntN(1<<16),
					rng.Uint64(), rng.Uint64())
				written += int64(len(line))
				src.rawBytes += int64(len(line))
				ts := t0.UnixNano() + int64(float64(benchSpan)*float64(written)/float64(perStream))
				if _, err := c.Append(chunks.Entry{Timestamp: ts, Line: line}); err != nil {
					panic(err)
				}
			}
			src.lines += n
			if err := c.Close(); err != nil {
				panic(err)
			}
			src.streams = append(src.streams, memStream{
				lbls:  labels.FromStrings("app", "x", "namespace", "prod", "pod", fmt.Sprintf("x-%d", si)),
				chunk: c,
			})
		}
		benchSources[enc] = src
	}
	return benchSources[enc]
}

// peakHeap samples the heap while f runs and returns the largest
// HeapInuse seen above the level before f, in MiB.
func peakHeap(f func()) float64 {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	p := peak.Load()
	if p < base.HeapInuse {
		return 0
	}
	return float64(p-base.HeapInuse) / (1 << 20)
}

func benchmarkQuery(b *testing.B, enc chunks.Encoding, p Params, check func(Result)) {
	benchmarkEngine(b, newTestEngine(), enc, p, check)
}

func benchmarkEngine(b *testing.B, eng *Engine, enc chunks.Encoding, p Params, check func(Result)) {
	measureQuery(b, eng, loadBenchSource(b, enc), p, check)
}

// measureQuery runs the query over src in b's loop and reports bytes of
// text per CPU-second and the peak heap of one more run.
func measureQuery(b *testing.B, eng *Engine, src *benchSource, p Params, check func(Result)) {
	run := func() {
		res, err := eng.Query(context.Background(), src, p)
		if err != nil {
			b.Fatal(err)
		}
		check(res)
	}
	b.SetBytes(src.rawBytes)
	b.ReportAllocs()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		run()
		n++
	}
	// The machine is shared: wall-clock MB/s understates what one core
	// does, so report bytes per CPU-second of this process as well.
	if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
		b.ReportMetric(float64(src.rawBytes)*float64(n)/cpu/1e6, "MB/cpu-s")
	}
	b.StopTimer()
	b.ReportMetric(peakHeap(run), "peak-heap-MiB")
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLineFilter scans every line for a rare substring: the needle
// appears fewer times than the limit, so the whole data set is read. The
// default codec (zstd) bounds it; S2 shows the engine's own speed.
func BenchmarkLineFilter(b *testing.B) {
	for _, enc := range []chunks.Encoding{chunks.DefaultEncoding, chunks.S2} {
		b.Run(enc.String(), func(b *testing.B) {
			p := Params{Query: `{app="x"} |= "needle"`, Start: t0, End: t0.Add(benchSpan + time.Second), Limit: 1000, Direction: chunks.Backward}
			benchmarkQuery(b, enc, p, func(res Result) {
				n := 0
				for _, s := range res.Streams {
					n += len(s.Entries)
				}
				if want := loadBenchSource(b, enc).lines / benchNeedleEach; int64(n) != want {
					b.Fatalf("found %d needles, want %d", n, want)
				}
			})
		})
	}
}

// BenchmarkVolumeJSON is Grafana's log-volume histogram over JSON lines:
// every line is parsed.
func BenchmarkVolumeJSON(b *testing.B) {
	for _, enc := range []chunks.Encoding{chunks.DefaultEncoding, chunks.S2} {
		b.Run(enc.String(), func(b *testing.B) {
			p := Params{Query: `sum by (level) (count_over_time({app="x"} | json [5m]))`, Start: t0.Add(5 * time.Minute), End: t0.Add(benchSpan), Step: 5 * time.Minute}
			benchmarkQuery(b, enc, p, func(res Result) {
				if len(res.Matrix) != 4 {
					b.Fatalf("got %d level series, want 4", len(res.Matrix))
				}
			})
		})
	}
}

// BenchmarkCountOverTime counts lines without parsing them.
func BenchmarkCountOverTime(b *testing.B) {
	p := Params{Query: `sum by (pod) (count_over_time({app="x"}[5m]))`, Start: t0.Add(5 * time.Minute), End: t0.Add(benchSpan), Step: 5 * time.Minute}
	benchmarkQuery(b, chunks.DefaultEncoding, p, func(res Result) {
		if len(res.Matrix) != benchStreams {
			b.Fatalf("got %d series, want %d", len(res.Matrix), benchStreams)
		}
	})
}

// BenchmarkCountFiltered is an error-rate panel: count lines holding a
// substring, per pod.
func BenchmarkCountFiltered(b *testing.B) {
	p := Params{Query: `sum by (pod) (count_over_time({app="x"} |= "error" [5m]))`, Start: t0.Add(5 * time.Minute), End: t0.Add(benchSpan), Step: 5 * time.Minute}
	benchmarkQuery(b, chunks.DefaultEncoding, p, func(res Result) {
		if len(res.Matrix) != benchStreams {
			b.Fatalf("got %d series, want %d", len(res.Matrix), benchStreams)
		}
	})
}

// BenchmarkFilterAfterParser writes the line filter after the parser, as
// users often do; the engine runs it first, so this costs about as much as
// BenchmarkLineFilter instead of a JSON parse per line.
func BenchmarkFilterAfterParser(b *testing.B) {
	p := Params{Query: `{app="x"} | json | status >= 200 |= "needle"`, Start: t0, End: t0.Add(benchSpan + time.Second), Limit: 1000, Direction: chunks.Backward}
	benchmarkQuery(b, chunks.DefaultEncoding, p, func(res Result) {
		n := 0
		for _, s := range res.Streams {
			n += len(s.Entries)
		}
		if want := loadBenchSource(b, chunks.DefaultEncoding).lines / benchNeedleEach; int64(n) != want {
			b.Fatalf("found %d needles, want %d", n, want)
		}
	})
}

// BenchmarkVolumeJSONParallel is BenchmarkVolumeJSON split in two parts
// evaluated concurrently: MB/s (wall clock) grows with free cores while
// MB/cpu-s stays.
func BenchmarkVolumeJSONParallel(b *testing.B) {
	p := Params{Query: `sum by (level) (count_over_time({app="x"} | json [5m]))`, Start: t0.Add(5 * time.Minute), End: t0.Add(benchSpan), Step: 5 * time.Minute}
	benchmarkEngine(b, NewEngine(EngineOptions{Parallelism: 2}, nil), chunks.DefaultEncoding, p, func(res Result) {
		if len(res.Matrix) != 4 {
			b.Fatalf("got %d level series, want 4", len(res.Matrix))
		}
	})
}

// BenchmarkCountRegex5xx counts 5xx lines with the usual regular
// expression, whose leading alternation has no literal prefix for Go's
// regexp to search for.
func BenchmarkCountRegex5xx(b *testing.B) {
	p := Params{Query: "sum(count_over_time({app=\"x\"} |~ `(status\"?[:=]|HTTP/1\\.1\" )5\\d\\d` [60m]))", Start: t0.Add(60 * time.Minute), End: t0.Add(benchSpan), Step: time.Minute}
	benchmarkQuery(b, chunks.DefaultEncoding, p, func(res Result) {
		if len(res.Matrix) != 1 {
			b.Fatalf("got %d series, want 1", len(res.Matrix))
		}
	})
}

// BenchmarkInstantTopkRateParallel is a dashboard's "top apps by error
// rate" over the whole data set as an instant query: the sum under topk
// is split by stream across two parts.
func BenchmarkInstantTopkRateParallel(b *testing.B) {
	p := Params{Query: `topk(3, sum by (pod) (rate({app="x"} |= "error" [60m])))`, Start: t0.Add(benchSpan), Instant: true}
	benchmarkEngine(b, NewEngine(EngineOptions{Parallelism: 2}, nil), chunks.DefaultEncoding, p, func(res Result) {
		if len(res.Vector) != 3 {
			b.Fatalf("got %d series, want 3", len(res.Vector))
		}
	})
}

// BenchmarkUnwrapByNamespace is a latency percentile and a maximum over
// every stream: their samples cannot be added up stream by stream, so the
// streams are merged in time order, all at once or spooled in batches
// (spool.go): the percentile's samples, the maximum's partials per cell.
func BenchmarkUnwrapByNamespace(b *testing.B) {
	for _, op := range []string{"quantile_over_time(0.99,", "max_over_time("} {
		p := Params{Query: op + ` {app="x"} | json | unwrap duration_ms [5m]) by (namespace)`, Start: t0.Add(5 * time.Minute), End: t0.Add(benchSpan), Step: time.Minute}
		for _, tc := range []struct {
			name  string
			batch int
		}{{"all-at-once", 1 << 30}, {"batches-of-2", 2}} {
			b.Run(strings.TrimSuffix(strings.TrimSuffix(op, "("), ",")+"/"+tc.name, func(b *testing.B) {
				eng := NewEngine(EngineOptions{SampleStreamBatch: tc.batch}, nil)
				benchmarkEngine(b, eng, chunks.DefaultEncoding, p, func(res Result) {
					if len(res.Matrix) != 1 || len(res.Matrix[0].Points) != 56 {
						b.Fatalf("got %d series, want 1 with 56 points", len(res.Matrix))
					}
				})
			})
		}
	}
}

// unwrapStreams is the data set of BenchmarkQuantileManyStreams: logfmt
// worker lines over unwrapStreamCount streams in 4 namespaces, spread over
// one hour, -bench-bytes of log text in all.
const unwrapStreamCount = 256

var unwrapSources = map[int64]*benchSource{}

func loadUnwrapSource(b *testing.B) *benchSource {
	benchMu.Lock()
	defer benchMu.Unlock()
	if src, ok := unwrapSources[*benchTotalBytes]; ok {
		return src
	}
	rng := rand.New(rand.NewPCG(3, 4))
	levels := []string{"info", "info", "info", "debug", "warn", "error"}
	src := &benchSource{}
	perStream := *benchTotalBytes / unwrapStreamCount
	var line []byte
	for si := range unwrapStreamCount {
		c := chunks.NewMemChunk(chunks.DefaultEncoding, 0, -1)
		var written int64
		for written < perStream {
			line = fmt.Appendf(line[:0], `level=%s msg="job done" job=j%d queue=q%d duration=%dus attempts=%d trace=%016x`,
				levels[rng.IntN(len(levels))], rng.IntN(100000), rng.IntN(8), 1+rng.IntN(900000), 1+rng.IntN(3), rng.Uint64())
			written += int64(len(line))
			src.rawBytes += int64(len(line))
			src.lines++
			ts := t0.UnixNano() + int64(float64(benchSpan)*float64(written)/float64(perStream))
			if _, err := c.Append(chunks.Entry{Timestamp: ts, Line: line}); err != nil {
				panic(err)
			}
		}
		if err := c.Close(); err != nil {
			panic(err)
		}
		src.streams = append(src.streams, memStream{
			lbls:  labels.FromStrings("container", "worker", "namespace", fmt.Sprintf("ns%d", si%4), "pod", fmt.Sprintf("w-%d", si)),
			chunk: c,
		})
	}
	unwrapSources[*benchTotalBytes] = src
	return src
}

// BenchmarkQuantileManyStreams is plgbench's p100 by namespace over many
// streams with many samples each: its peak heap shows whether the merge's
// memory grows with the data (go test -bench QuantileManyStreams
// -args -bench-bytes=N for a few N).
func BenchmarkQuantileManyStreams(b *testing.B) {
	src := loadUnwrapSource(b)
	for _, tc := range []struct {
		name string
		q    string
	}{
		{"p100", `quantile_over_time(1, {container="worker"} | logfmt | unwrap duration(duration) [5m]) by (namespace)`},
		{"avg", `avg_over_time({container="worker"} | logfmt | unwrap duration(duration) [5m]) by (namespace)`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p := Params{Query: tc.q, Start: t0.Add(5 * time.Minute), End: t0.Add(benchSpan), Step: 5 * time.Minute}
			measureQuery(b, newTestEngine(), src, p, func(res Result) {
				if len(res.Matrix) != 4 || len(res.Matrix[0].Points) != 12 {
					b.Fatalf("got %d series, want 4 with 12 points", len(res.Matrix))
				}
			})
		})
	}
}
