package ingester

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/plgstack/plg/push"
)

// benchLine returns a realistic ~200-byte JSON application log line.
func benchLine(r *rand.Rand) []byte {
	levels := []string{"info", "info", "info", "info", "warn", "error", "debug"}
	return fmt.Appendf(nil, `{"ts":"2026-11-22T10:00:00.%06dZ","level":%q,"msg":"handled request","method":"GET","path":"/api/v1/orders/%d","status":%d,"duration_ms":%d,"trace_id":"%016x%016x"}`,
		r.IntN(1e6), levels[r.IntN(len(levels))], r.IntN(100000), []int{200, 200, 200, 404, 500}[r.IntN(5)], r.IntN(900), r.Uint64(), r.Uint64())
}

// BenchmarkPushHTTP measures the whole push path of one request: HTTP
// handler, snappy + protobuf decoding, validation, appending to chunks and
// the WAL record, with 100 streams of 100 entries of ~200 bytes each.
func BenchmarkPushHTTP(b *testing.B) {
	for _, sync := range []string{"never", "always"} {
		b.Run("wal-sync="+sync, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.WAL.Sync = sync
			cfg.FlushCheckPeriod = time.Hour
			cfg.FlushOnShutdown = false
			lim := DefaultLimits()
			lim.IngestionRateMB = 0
			ing, err := New(cfg, &Overrides{Defaults: lim}, newFakeStore(), b.TempDir(), slog.New(slog.DiscardHandler), nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := ing.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer ing.Stop(context.Background())
			gin.SetMode(gin.ReleaseMode)
			router := gin.New()
			ing.RegisterRoutes(router, false)

			r := rand.New(rand.NewPCG(1, 2))
			const streams, perStream = 100, 100
			// Pre-encode bodies with advancing timestamps so no entry is a
			// duplicate and every stream stays in order.
			const nbodies = 64
			bodies := make([][]byte, nbodies)
			base := time.Now().Add(-time.Minute).UnixNano()
			var lineBytes int64
			for k := range bodies {
				req := &push.Request{}
				for s := 0; s < streams; s++ {
					st := push.Stream{Labels: fmt.Sprintf(`{namespace="ns-%d", app="app-%d", pod="pod-%d"}`, s%10, s, s)}
					for e := 0; e < perStream; e++ {
						line := benchLine(r)
						if k == 0 {
							lineBytes += int64(len(line))
						}
						st.Entries = append(st.Entries, push.Entry{Timestamp: base + int64(k*perStream+e)*1000, Line: line})
					}
					req.Streams = append(req.Streams, st)
				}
				bodies[k] = push.EncodeBody(req)
			}
			b.SetBytes(lineBytes)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Past nbodies iterations, bodies repeat: their entries are then
				// exact duplicates, which still cost decoding, validation and
				// the head-block lookup, but skip the WAL.
				body := bodies[i%nbodies]
				req := httptest.NewRequest(http.MethodPost, "/loki/api/v1/push", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-protobuf")
				rec := httptest.NewRecorder()
				router.ServeHTTP(rec, req)
				if rec.Code != http.StatusNoContent {
					b.Fatalf("push: %d %s", rec.Code, rec.Body)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*streams*perStream)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
