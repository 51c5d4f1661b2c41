package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

// IngestResult is the push phase, measured from the client side and from
// the server's /proc entries.
type IngestResult struct {
	Lines          int64   `json:"lines"`
	Bytes          int64   `json:"bytes"`
	BodyBytes      int64   `json:"body_bytes"`
	Batches        int     `json:"batches"`
	Clients        int     `json:"clients"`
	Seconds        float64 `json:"seconds"` // first push to last acknowledgement
	LinesPerSec    float64 `json:"lines_per_sec"`
	MBPerSec       float64 `json:"mb_per_sec"`
	QueryableAfter float64 `json:"queryable_after_seconds"` // from the first push until asking the first count of everything that is complete
	// QueryablePolls are the counts asked before the first complete one:
	// how long each took and what was wrong.
	QueryablePolls []string `json:"queryable_polls,omitempty"`
	CPUSeconds     float64  `json:"cpu_seconds"`
	CPUSecPerGB    float64  `json:"cpu_seconds_per_gb"`
	CPUSecPer1M    float64  `json:"cpu_seconds_per_1m_lines"`
	PeakRSS        int64    `json:"peak_rss_bytes"`
	Retries        int      `json:"retries"`
	PushP50Ms      float64  `json:"push_p50_ms"`
	PushP99Ms      float64  `json:"push_p99_ms"`
	WALBytes       int64    `json:"wal_bytes"`
}

// pushAll POSTs every batch file concurrently, one client per file, and
// returns when all are acknowledged.
func pushAll(ctx context.Context, url string, files []string) (lines, raw, bodies int64, batches, retries int, latencies []time.Duration, err error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(files), DisableCompression: true}, Timeout: 5 * time.Minute}
	defer hc.CloseIdleConnections()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(files))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, name := range files {
		wg.Go(func() {
			st, err := pushFile(ctx, hc, url, name)
			if err != nil {
				errs[i] = fmt.Errorf("client %d (%s): %w", i, name, err)
				cancel()
			}
			mu.Lock()
			lines += st.lines
			raw += st.raw
			bodies += st.bodies
			batches += st.batches
			retries += st.retries
			latencies = append(latencies, st.latencies...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return lines, raw, bodies, batches, retries, latencies, errors.Join(errs...)
}

type pushStats struct {
	lines, raw, bodies int64
	batches, retries   int
	latencies          []time.Duration
}

// maxPushRetries bounds retries of one batch (429 and 5xx, as Promtail).
const maxPushRetries = 10

func pushFile(ctx context.Context, hc *http.Client, url, name string) (pushStats, error) {
	var st pushStats
	f, err := os.Open(name)
	if err != nil {
		return st, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var rec batchRecord
	for {
		if err := readRecord(r, &rec); err != nil {
			if errors.Is(err, io.EOF) {
				return st, nil
			}
			return st, err
		}
		for attempt := 0; ; attempt++ {
			t0 := time.Now()
			code, msg, err := postBody(ctx, hc, url, rec.Body)
			if err == nil && code/100 == 2 {
				st.latencies = append(st.latencies, time.Since(t0))
				break
			}
			if err == nil && code != http.StatusTooManyRequests && code/100 != 5 {
				return st, fmt.Errorf("batch %d: HTTP %d: %s", st.batches, code, msg)
			}
			if attempt >= maxPushRetries {
				return st, fmt.Errorf("batch %d: gave up after %d attempts: HTTP %d %s %v", st.batches, attempt+1, code, msg, err)
			}
			st.retries++
			select {
			case <-ctx.Done():
				return st, ctx.Err()
			case <-time.After(time.Duration(50<<min(attempt, 5)) * time.Millisecond):
			}
		}
		st.batches++
		st.lines += int64(rec.Lines)
		st.raw += int64(rec.Raw)
		st.bodies += int64(len(rec.Body))
	}
}

func postBody(ctx context.Context, hc *http.Client, url string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, string(bytes.TrimSpace(msg)), nil
}

// percentile of sorted-in-place durations, in milliseconds.
func percentileMs(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(p * float64(len(d)-1))
	return float64(d[i]) / float64(time.Millisecond)
}
