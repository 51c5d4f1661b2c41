package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRateLimiter(t *testing.T) {
	tests := []struct {
		name     string
		drop     bool
		takes    int
		wantOK   int
		wantDrop int
	}{
		{name: "drop over burst", drop: true, takes: 10, wantOK: 3, wantDrop: 7},
		{name: "wait over burst lets every line pass", drop: false, takes: 5, wantOK: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRateLimiter(1000, 3, tc.drop)
			ok, dropped := 0, 0
			for i := 0; i < tc.takes; i++ {
				switch r.take(context.Background()) {
				case rateOK:
					ok++
				case rateDrop:
					dropped++
				}
			}
			if ok != tc.wantOK || dropped != tc.wantDrop {
				t.Fatalf("ok %d dropped %d, want %d %d", ok, dropped, tc.wantOK, tc.wantDrop)
			}
		})
	}
	t.Run("waiting stops when the context ends", func(t *testing.T) {
		r := newRateLimiter(0.001, 1, false)
		r.take(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if got := r.take(ctx); got != rateStopped {
			t.Fatalf("got %v, want rateStopped", got)
		}
	})
}

func TestAgentMaxLineSize(t *testing.T) {
	tests := []struct {
		name     string
		truncate bool
		want     []string
		dropped  float64
	}{
		{name: "longer lines are dropped", truncate: false, want: []string{"short", "exactly10!"}, dropped: 1},
		{name: "longer lines are truncated", truncate: true, want: []string{"short", "exactly10!", "0123456789"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rec := newRecorder(t)
			path := filepath.Join(dir, "a.log")
			writeFile(t, path, "short\nexactly10!\n0123456789abcdef\n")
			scrape := fmt.Sprintf("- job_name: a\n  static_configs: [{labels: {__path__: %q}}]\n", path)
			cfg := strings.Replace(fastConfig(dir, rec.srv.URL, scrape), "target_config:",
				fmt.Sprintf("limits_config: {max_line_size: 10, max_line_size_truncate: %v}\ntarget_config:", tc.truncate), 1)
			a, stop := startAgent(t, cfg, prometheus.NewRegistry())
			rec.waitLines(t, len(tc.want), 10*time.Second)
			time.Sleep(100 * time.Millisecond)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range rec.snapshot() {
				got = append(got, e.line)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if v := testutil.ToFloat64(a.drops.WithLabelValues("line_too_long")); v != tc.dropped {
				t.Fatalf("dropped %v, want %v", v, tc.dropped)
			}
		})
	}
}
