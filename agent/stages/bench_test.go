package stages

import (
	"testing"

	"github.com/plgstack/plg/agent/entry"
)

func benchStage(b *testing.B, cfg, line string) {
	tpl, _ := compile(b, cfg)
	p := tpl.New()
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	emitted := 0
	emit := func(*entry.Entry) { emitted++ }
	for i := 0; i < b.N; i++ {
		e := entry.Entry{Line: line}
		p.Process(&e, emit)
	}
	if emitted != b.N {
		b.Fatalf("emitted %d of %d", emitted, b.N)
	}
}

func BenchmarkCRIStage(b *testing.B) {
	benchStage(b, "- cri: {}", `2026-11-22T05:00:00.123456789Z stdout F level=info msg="request served" path=/api/v1/items/1 status=200`)
}

func BenchmarkDockerStage(b *testing.B) {
	benchStage(b, "- docker: {}", `{"log":"level=info msg=\"request served\" path=/api/v1/items/1 status=200\n","stream":"stdout","time":"2026-11-22T05:00:00.123456789Z"}`)
}

func BenchmarkJSONLabelsStage(b *testing.B) {
	benchStage(b, "- json: {expressions: {level: , msg: , code: status}}\n- labels: {level: }",
		`{"level":"info","msg":"request served","path":"/api/v1/items/1","status":200}`)
}

func BenchmarkLogfmtStage(b *testing.B) {
	benchStage(b, "- logfmt: {mapping: {level: , msg: }}\n- labels: {level: }", `level=info msg="request served" path=/api/v1/items/1 status=200`)
}

func BenchmarkRegexStage(b *testing.B) {
	benchStage(b, `- regex: {expression: '^level=(?P<level>\w+) msg="(?P<msg>[^"]*)"'}`, `level=info msg="request served" path=/api/v1/items/1 status=200`)
}

func BenchmarkMatchLineFilter(b *testing.B) {
	benchStage(b, "- match: {selector: '{app=\"x\"} |= \"error\"', action: drop}", `level=info msg="request served" path=/api/v1/items/1 status=200`)
}
