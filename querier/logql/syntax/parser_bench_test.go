package syntax

import "testing"

var benchQueries = []struct{ name, q string }{
	{"selector", `{cpu="10",endpoint="https",instance="10.253.57.87:9100",job="node-exporter",mode="idle",namespace="observability",pod="node-exporter-l454v",service="node-exporter"}`},
	{"log_pipeline", `{app="api", namespace=~"prod-.*"} |= "error" != "timeout" | json | status >= 500 and latency > 250ms | line_format "{{.method}} {{.path}}"`},
	{"metric", `sum by (status) (rate({app="api", namespace="prod"} |= "GET" | logfmt | duration > 1s [5m])) / ignoring (status) group_left sum(rate({app="api", namespace="prod"}[5m]))`},
}

func BenchmarkParseExpr(b *testing.B) {
	for _, bq := range benchQueries {
		b.Run(bq.name, func(b *testing.B) {
			b.SetBytes(int64(len(bq.q)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseExpr(bq.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkString(b *testing.B) {
	e, err := ParseExpr(benchQueries[2].q)
	if err != nil {
		b.Fatal(err)
	}
	s := e.String()
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		_ = e.String()
	}
}

func BenchmarkLex(b *testing.B) {
	q := benchQueries[1].q
	toks := lex(q, nil)
	b.SetBytes(int64(len(q)))
	b.ReportAllocs()
	for b.Loop() {
		toks = lex(q, toks)
	}
}
