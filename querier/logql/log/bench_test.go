package log

import (
	"bytes"
	"fmt"
	"math/rand"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

var benchStream = labels.FromStrings("app", "checkout", "namespace", "prod", "pod", "checkout-7d9f8-x2x1", "container", "app")

// benchLines returns n deterministic lines built by gen.
func benchLines(n int, gen func(r *rand.Rand, i int) string) ([][]byte, int) {
	r := rand.New(rand.NewSource(1))
	lines := make([][]byte, n)
	total := 0
	for i := range lines {
		lines[i] = []byte(gen(r, i))
		total += len(lines[i])
	}
	return lines, total
}

var (
	methods  = []string{"GET", "POST", "PUT", "DELETE"}
	levels   = []string{"info", "info", "info", "debug", "warn", "error"}
	statuses = []int{200, 200, 200, 200, 201, 204, 301, 400, 404, 500, 503}
)

func plainLine(r *rand.Rand, i int) string {
	// ~200 bytes of text without the needle.
	return fmt.Sprintf("%s %s request handled method=%s path=/api/v1/orders/%d status=%d duration=%dms user_agent=Mozilla/5.0 (X11; Linux x86_64) trace=%016x retries=%d",
		time.Unix(1700000000+int64(i), 0).UTC().Format(time.RFC3339), levels[r.Intn(len(levels))], methods[r.Intn(4)], r.Intn(100000),
		statuses[r.Intn(len(statuses))], r.Intn(900), r.Uint64(), r.Intn(3))
}

func jsonLine(r *rand.Rand, i int) string {
	return fmt.Sprintf(`{"ts":"%s","level":"%s","msg":"request completed","method":"%s","path":"/api/v1/orders/%d","status":%d,"duration_ms":%.1f,"trace_id":"%016x%016x","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","bytes":%d,"user":{"id":%d,"tier":"gold"}}`,
		time.Unix(1700000000+int64(i), 0).UTC().Format(time.RFC3339Nano), levels[r.Intn(len(levels))], methods[r.Intn(4)], r.Intn(100000),
		statuses[r.Intn(len(statuses))], r.Float64()*900, r.Uint64(), r.Uint64(), r.Intn(50000), r.Intn(1000))
}

func logfmtLine(r *rand.Rand, i int) string {
	return fmt.Sprintf(`ts=%s level=%s caller=handler.go:142 msg="request completed" method=%s path=/api/v1/orders/%d status=%d duration=%dms trace_id=%016x bytes=%d`,
		time.Unix(1700000000+int64(i), 0).UTC().Format(time.RFC3339Nano), levels[r.Intn(len(levels))], methods[r.Intn(4)], r.Intn(100000),
		statuses[r.Intn(len(statuses))], r.Intn(400), r.Uint64(), r.Intn(50000))
}

func benchPipeline(b *testing.B, stages []Stage, lines [][]byte, total int) {
	sp := NewPipeline(stages).ForStream(benchStream)
	kept := 0
	measure(b, total/len(lines), func(i int) {
		if _, _, _, ok := sp.Process(int64(i), lines[i%len(lines)], labels.EmptyLabels()); ok {
			kept++
		}
	})
	b.ReportMetric(float64(kept)/float64(b.N), "kept/line")
}

// measure runs f b.N times and reports, besides the usual figures, the CPU
// time of the benchmark's thread per op and the throughput per CPU-second.
func measure(b *testing.B, lineBytes int, f func(i int)) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.SetBytes(int64(lineBytes))
	b.ReportAllocs()
	b.ResetTimer()
	start := threadCPU()
	for i := 0; i < b.N; i++ {
		f(i)
	}
	cpu := threadCPU() - start
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(lineBytes)*float64(b.N)/cpu.Seconds()/1e6, "cpu-MB/s")
	}
}

func BenchmarkLineFilter(b *testing.B) {
	lines, total := benchLines(1024, plainLine)
	for _, tc := range []struct {
		name   string
		op     LineFilterOp
		values []string
	}{
		{"contains", LineContains, []string{"needle"}},
		{"contains_or3", LineContains, []string{"needle", "haystack", "panic"}},
		{"not_contains", LineNotContains, []string{"needle"}},
		{"regex_fold_literal", LineRegex, []string{"(?i)NEEDLE"}},
		{"regex_prefiltered", LineRegex, []string{`needle=\d+`}},
		{"regex", LineRegex, []string{`status=5\d\d`}},
		{"pattern", LinePattern, []string{`<_> method=POST <_> status=500 <_>`}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			benchPipeline(b, []Stage{must(NewLineFilter(tc.op, tc.values...))}, lines, total)
		})
	}
	b.Run("ip", func(b *testing.B) {
		benchPipeline(b, []Stage{must(NewIPLineFilter(LineContains, "10.0.0.0/8"))}, lines, total)
	})
}

func BenchmarkJSON(b *testing.B) {
	lines, total := benchLines(1024, jsonLine)
	b.Run("parse", func(b *testing.B) {
		benchPipeline(b, []Stage{NewJSONParser()}, lines, total)
	})
	b.Run("parse_status_ge_500", func(b *testing.B) {
		benchPipeline(b, []Stage{NewJSONParser(), NewNumericLabelFilter(OpGreaterEqual, "status", 500)}, lines, total)
	})
	b.Run("parse_unique_labels", func(b *testing.B) {
		benchUnique(b, []Stage{NewJSONParser()}, lines, total, `"trace_id":"`)
	})
	b.Run("expr_status_ge_500", func(b *testing.B) {
		p := must(NewJSONExpressionParser([]JSONExpr{{"status", "status"}, {"tier", "user.tier"}}))
		benchPipeline(b, []Stage{p, NewNumericLabelFilter(OpGreaterEqual, "status", 500)}, lines, total)
	})
}

// benchUnique runs stages over lines whose trace id is rewritten for every
// op, so every kept line has a new label set: the cost a log query pays
// for lines with unique values (one labels.Labels per line).
func benchUnique(b *testing.B, stages []Stage, lines [][]byte, total int, marker string) {
	sp := NewPipeline(stages).ForStream(benchStream)
	bufs := make([][]byte, len(lines))
	offs := make([]int, len(lines))
	for i, l := range lines {
		bufs[i] = bytes.Clone(l)
		offs[i] = bytes.Index(l, []byte(marker)) + len(marker)
	}
	const hexdigits = "0123456789abcdef"
	measure(b, total/len(lines), func(i int) {
		k := i % len(bufs)
		buf := bufs[k]
		for j, v := 0, uint64(i); j < 16; j, v = j+1, v>>4 {
			buf[offs[k]+15-j] = hexdigits[v&15]
		}
		sp.Process(int64(i), buf, labels.EmptyLabels())
	})
}

func BenchmarkLogfmt(b *testing.B) {
	lines, total := benchLines(1024, logfmtLine)
	b.Run("parse", func(b *testing.B) {
		benchPipeline(b, []Stage{NewLogfmtParser(false, false)}, lines, total)
	})
	b.Run("parse_duration_gt_250ms", func(b *testing.B) {
		benchPipeline(b, []Stage{NewLogfmtParser(false, false), NewDurationLabelFilter(OpGreater, "duration", 250*time.Millisecond)}, lines, total)
	})
	b.Run("parse_unique_labels", func(b *testing.B) {
		benchUnique(b, []Stage{NewLogfmtParser(false, false)}, lines, total, "trace_id=")
	})
}

func BenchmarkOtherStages(b *testing.B) {
	plain, ptotal := benchLines(1024, plainLine)
	lf, ltotal := benchLines(1024, logfmtLine)
	b.Run("pattern", func(b *testing.B) {
		benchPipeline(b, []Stage{must(NewPatternParser(`<ts> <level> request handled method=<method> path=<path> status=<status> <_>`))}, plain, ptotal)
	})
	b.Run("regexp", func(b *testing.B) {
		benchPipeline(b, []Stage{must(NewRegexpParser(`method=(?P<method>\w+) path=(?P<path>\S+) status=(?P<status>\d+)`))}, plain, ptotal)
	})
	b.Run("logfmt_line_format", func(b *testing.B) {
		benchPipeline(b, []Stage{NewLogfmtParser(false, false), must(NewLineFormatter(`{{.level}} {{.method}} {{.path}} {{.status}}`))}, lf, ltotal)
	})
}

// BenchmarkSampleExtraction measures metric-query extraction with a `by`
// grouping, where parser hints skip the labels nobody reads.
func BenchmarkSampleExtraction(b *testing.B) {
	lf, lfTotal := benchLines(1024, logfmtLine)
	js, jsTotal := benchLines(1024, jsonLine)
	run := func(b *testing.B, e *SampleExtractor, lines [][]byte, total int) {
		s := e.ForStream(benchStream)
		measure(b, total/len(lines), func(i int) {
			s.Process(int64(i), lines[i%len(lines)], labels.EmptyLabels())
		})
	}
	b.Run("logfmt_unwrap_duration_by_method_status", func(b *testing.B) {
		p := NewPipeline([]Stage{NewLogfmtParser(false, false)})
		run(b, must(NewLabelSampleExtractor("duration", ConvertDuration, nil, p, []string{"method", "status"}, false)), lf, lfTotal)
	})
	b.Run("logfmt_count_duration_gt_250ms", func(b *testing.B) {
		// sum(count_over_time(... | logfmt | duration > 250ms [...])): the
		// engine groups by the one label name "", which keeps none.
		p := NewPipeline([]Stage{NewLogfmtParser(false, false), NewDurationLabelFilter(OpGreater, "duration", 250*time.Millisecond)})
		run(b, NewLineSampleExtractor(CountSample, p, []string{""}, false), lf, lfTotal)
	})
	b.Run("json_count_by_level", func(b *testing.B) {
		p := NewPipeline([]Stage{NewJSONParser()})
		run(b, NewLineSampleExtractor(CountSample, p, []string{"level"}, false), js, jsTotal)
	})
	b.Run("json_count_without_trace_id", func(b *testing.B) {
		p := NewPipeline([]Stage{NewJSONParser()})
		run(b, NewLineSampleExtractor(CountSample, p, []string{"trace_id", "ts", "path", "bytes", "duration_ms"}, true), js, jsTotal)
	})
}

// BenchmarkBaseline_BytesContains is bytes.Contains over the same lines
// without the pipeline: on a shared machine it calibrates the other
// figures.
func BenchmarkBaseline_BytesContains(b *testing.B) {
	lines, total := benchLines(1024, plainLine)
	needle := []byte("needle")
	n := 0
	measure(b, total/len(lines), func(i int) {
		if bytes.Contains(lines[i%len(lines)], needle) {
			n++
		}
	})
	if n != 0 {
		b.Fatal("needle found")
	}
}

func BenchmarkRegex5xx(b *testing.B) {
	for _, tc := range []struct {
		name string
		gen  func(r *rand.Rand, i int) string
	}{{"json", jsonLine}, {"logfmt", logfmtLine}, {"plain", plainLine}} {
		lines, total := benchLines(1024, tc.gen)
		b.Run(tc.name, func(b *testing.B) {
			benchPipeline(b, []Stage{must(NewLineFilter(LineRegex, `(status"?[:=]|HTTP/1\.1" )5\d\d`))}, lines, total)
		})
	}
}
