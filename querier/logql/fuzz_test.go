package logql

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/plgstack/plg/chunks"
)

// FuzzQuery evaluates arbitrary query text, as a log range query and as an
// instant and a range metric query, over a small data set: no input may
// panic or hang, and every error must be a client error or a timeout.
func FuzzQuery(f *testing.F) {
	for _, q := range []string{
		`{app="api"} |= "error"`,
		`{app="api"} | logfmt | status >= 400 | line_format "{{.level}}"`,
		`{app="web"} | json | keep level`,
		`{app="proxy"} | decolorize | pattern "client <ip> <_>" | ip = ip("10.0.0.0/8")`,
		`sum by (level) (count_over_time({app="web"} | json [5s]))`,
		`quantile_over_time(0.9, {app="m"} | logfmt v | unwrap v [30s]) by (pod)`,
		`rate_counter({app="m"} | logfmt v | unwrap v [30s] offset 5s)`,
		`topk(1, count_over_time({app=~"m|k"}[30s])) / ignoring(app) group_left sum by (pod) (count_over_time({app=~"m|k"}[30s]))`,
		`label_replace(vector(1), "a", "$1", "b", "(.*)") + vector(1) > bool 1`,
		`absent_over_time({app="zz"}[1m]) or vector(0)`,
		`1 + 2 * 3 ^ 2 % 5`,
	} {
		f.Add(q)
	}
	src := mergedFuzzSource(f)
	eng := NewEngine(EngineOptions{QueryTimeout: 2 * time.Second, MaxSeries: 50}, nil)
	f.Fuzz(func(t *testing.T, q string) {
		for _, p := range []Params{
			{Query: q, Start: at(0), End: at(60 * s), Step: 5 * s, Limit: 20, Direction: chunks.Forward},
			{Query: q, Start: at(45 * s), End: at(45 * s), Instant: true, Limit: 20, Direction: chunks.Backward},
		} {
			_, err := eng.Query(context.Background(), src, p)
			if err != nil && !errors.Is(err, ErrBadRequest) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("query %q: error %v is neither a bad request nor a timeout", q, err)
			}
		}
	})
}

// mergedFuzzSource holds the log and metric test data sets in one source.
func mergedFuzzSource(tb testing.TB) *memSource {
	src := logData(tb)
	src.streams = append(src.streams, metricData(tb).streams...)
	return src
}
