package push

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/promql/parser"
)

// A realistic Promtail batch: 100 streams x 100 entries of 200-byte lines
// (about 2 MiB of protobuf; Promtail's default batch is 1 MiB).
const (
	benchStreams = 100
	benchEntries = 100
	benchLineLen = 200
)

// cpuClock measures the process CPU time of a benchmark loop; start it
// right before the loop.
type cpuClock time.Duration

func startCPU() cpuClock { return cpuClock(processCPUTime()) }

// report adds, next to ns/op and MB/s (wall time), the CPU time per
// operation and lines per CPU-second. linesPerOp 0 omits the latter.
func (c cpuClock) report(b *testing.B, linesPerOp int) {
	cpu := processCPUTime() - time.Duration(c)
	if cpu <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if linesPerOp > 0 {
		b.ReportMetric(float64(linesPerOp)*float64(b.N)/cpu.Seconds(), "lines/cpu-s")
	}
}

func BenchmarkDecodeProto(b *testing.B) {
	for _, bc := range []struct {
		name     string
		metadata int
	}{{"no_metadata", 0}, {"metadata_every_entry", 1}} {
		src := benchRequest(benchStreams, benchEntries, benchLineLen, bc.metadata)
		raw := EncodeProto(nil, src)
		body := snappy.Encode(nil, raw)
		n := countEntries(src)

		b.Run(bc.name+"/protobuf", func(b *testing.B) {
			var d Decoder
			var req Request
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			clock := startCPU()
			for b.Loop() {
				if err := d.DecodeProto(raw, &req); err != nil {
					b.Fatal(err)
				}
			}
			clock.report(b, n)
		})
		// The snappy decoder is golang/snappy's, as in ReadHTTP.
		b.Run(bc.name+"/snappy+protobuf", func(b *testing.B) {
			var d Decoder
			var req Request
			var buf []byte
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			clock := startCPU()
			for b.Loop() {
				var err error
				if buf, err = snappy.Decode(buf[:cap(buf)], body); err != nil {
					b.Fatal(err)
				}
				if err := d.DecodeProto(buf, &req); err != nil {
					b.Fatal(err)
				}
			}
			clock.report(b, n)
		})
	}
}

// BenchmarkReadHTTP measures the ingester's whole body path: read, snappy,
// protobuf, with a reused Decoder (the package function would also allocate
// the decoded body each time).
func BenchmarkReadHTTP(b *testing.B) {
	src := benchRequest(benchStreams, benchEntries, benchLineLen, 0)
	body := EncodeBody(src)
	rawLen := len(EncodeProto(nil, src))
	r, _ := http.NewRequest(http.MethodPost, "/loki/api/v1/push", nil)
	r.Header.Set("Content-Type", "application/x-protobuf")
	rd := bytes.NewReader(body)
	for _, bc := range []struct {
		name string
		read func(*Decoder, *Request) error
	}{
		{"Decoder", func(d *Decoder, req *Request) error { return d.ReadHTTP(r, 10<<20, req) }},
		{"package_func", func(_ *Decoder, req *Request) error { return ReadHTTP(r, 10<<20, req) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var d Decoder
			var req Request
			b.SetBytes(int64(rawLen))
			b.ReportAllocs()
			clock := startCPU()
			for b.Loop() {
				rd.Reset(body)
				r.Body, r.ContentLength = http.NoBody, int64(len(body))
				r.Body = readCloser{rd}
				if err := bc.read(&d, &req); err != nil {
					b.Fatal(err)
				}
			}
			clock.report(b, countEntries(src))
		})
	}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func BenchmarkEncodeProto(b *testing.B) {
	src := benchRequest(benchStreams, benchEntries, benchLineLen, 0)
	var buf []byte
	b.SetBytes(int64(len(EncodeProto(nil, src))))
	b.ReportAllocs()
	clock := startCPU()
	for b.Loop() {
		buf = EncodeProto(buf[:0], src)
	}
	clock.report(b, countEntries(src))
}

func BenchmarkEncodeBody(b *testing.B) {
	src := benchRequest(benchStreams, benchEntries, benchLineLen, 0)
	b.Run("EncodeBody", func(b *testing.B) {
		b.SetBytes(int64(len(EncodeProto(nil, src))))
		b.ReportAllocs()
		clock := startCPU()
		for b.Loop() {
			_ = EncodeBody(src)
		}
		clock.report(b, countEntries(src))
	})
	b.Run("AppendBody", func(b *testing.B) {
		var body, scratch []byte
		b.SetBytes(int64(len(EncodeProto(nil, src))))
		b.ReportAllocs()
		clock := startCPU()
		for b.Loop() {
			body, scratch = AppendBody(body[:0], scratch, src)
		}
		clock.report(b, countEntries(src))
	})
}

func BenchmarkDecodeJSON(b *testing.B) {
	src := benchRequest(benchStreams, benchEntries, benchLineLen, 4)
	body := appendJSON(nil, src)
	var d Decoder
	var req Request
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	clock := startCPU()
	for b.Loop() {
		if err := d.DecodeJSON(body, &req); err != nil {
			b.Fatal(err)
		}
	}
	clock.report(b, countEntries(src))
}

func BenchmarkParseLabels(b *testing.B) {
	const in = `{app="api", container="main", namespace="prod", pod="api-7d9f8b6c5-x0001", stream="stdout"}`
	b.Run("push.ParseLabels", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		clock := startCPU()
		for b.Loop() {
			if _, err := ParseLabels(in); err != nil {
				b.Fatal(err)
			}
		}
		clock.report(b, 0)
	})
	b.Run("promql.ParseMetric", func(b *testing.B) {
		p := parser.NewParser(parser.Options{})
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		clock := startCPU()
		for b.Loop() {
			if _, err := p.ParseMetric(in); err != nil {
				b.Fatal(err)
			}
		}
		clock.report(b, 0)
	})
}
