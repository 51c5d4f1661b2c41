package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricValue returns the value of an unlabelled metric from /metrics, or
// -1 when it is absent.
func metricValue(t *testing.T, s *server, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return -1
}

// queryLinesSince is queryLines over [start, now+1m).
func queryLinesSince(t *testing.T, s *server, query string, start time.Time) []string {
	t.Helper()
	var out struct {
		Data struct {
			Result []struct {
				Stream map[string]string
				Values [][]string
			}
		}
	}
	getJSON(t, s, "/loki/api/v1/query_range?direction=forward&limit=5000&start="+fmt.Sprint(start.UnixNano())+
		"&end="+fmt.Sprint(time.Now().Add(time.Minute).UnixNano())+"&query="+url.QueryEscape(query), &out)
	var lines []string
	for _, r := range out.Data.Result {
		for _, v := range r.Values {
			lines = append(lines, r.Stream["job"]+" "+v[1])
		}
	}
	slices.Sort(lines)
	return lines
}

// chunkFiles lists the files holding chunks (packs, and standalone chunk
// objects) under a tenant's period directory of the filesystem store.
func chunkFiles(t *testing.T, dataDir, tenant string, period int64) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{"packs", "chunks"} {
		out = append(out, filesUnder(t, filepath.Join(dataDir, "store", tenant, strconv.FormatInt(period, 10), dir))...)
	}
	return out
}

func filesUnder(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRetentionDeletesExpiredDataFromDiskAndQueries(t *testing.T) {
	dataDir := t.TempDir()
	const periodFlag = "-store.index-period=1h"
	now := time.Now()
	old := now.Add(-3 * time.Hour)
	oldPeriod, newPeriod := old.UnixNano()/int64(time.Hour), now.UnixNano()/int64(time.Hour)

	// Without retention both are stored and answered.
	srv := startServer(t, dataDir, periodFlag)
	for _, body := range [][]byte{protoBody("old", old, "o1", "o2"), protoBody("new", now, "n1", "n2")} {
		if code, resp := srv.post("/loki/api/v1/push", "application/x-protobuf", "", body); code != http.StatusNoContent {
			t.Fatalf("push: %d %s", code, resp)
		}
	}
	if code, body := srv.post("/flush", "", "", nil); code != http.StatusNoContent {
		t.Fatalf("/flush: %d %s", code, body)
	}
	all := []string{"new n1", "new n2", "old o1", "old o2"}
	if got := queryLinesSince(t, srv, `{env="e2e"}`, now.Add(-4*time.Hour)); !slices.Equal(got, all) {
		t.Fatalf("without retention: %q, want %q", got, all)
	}
	if len(chunkFiles(t, dataDir, "fake", oldPeriod)) == 0 || len(chunkFiles(t, dataDir, "fake", newPeriod)) == 0 {
		t.Fatal("the flush stored no chunk for the old or the new stream")
	}
	srv.stop()

	// A restart with 1h retention: queries stop at the cutoff at once, and
	// the compactor deletes the old period's chunks and index.
	srv = startServer(t, dataDir, periodFlag, "-limits.retention-period=1h",
		"-compactor.interval=200ms", "-compactor.retention-delete-delay=1m")
	newOnly := []string{"new n1", "new n2"}
	if got := queryLinesSince(t, srv, `{env="e2e"}`, now.Add(-4*time.Hour)); !slices.Equal(got, newOnly) {
		t.Errorf("with retention: %q, want %q", got, newOnly)
	}
	oldDir := filepath.Join(dataDir, "store", "fake", strconv.FormatInt(oldPeriod, 10))
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := os.Stat(oldDir)
		if os.IsNotExist(err) && metricValue(t, srv, "plg_compactor_retention_last_success_timestamp_seconds") > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the expired period %s is still on disk (%q) after 60s; logs:\n%s", oldDir, chunkFiles(t, dataDir, "fake", oldPeriod), srv.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := metricValue(t, srv, "plg_compactor_deleted_chunks_total"); n < 1 {
		t.Errorf("plg_compactor_deleted_chunks_total = %v, want at least 1", n)
	}
	if n := metricValue(t, srv, "plg_compactor_deleted_chunk_bytes_total"); n <= 0 {
		t.Errorf("plg_compactor_deleted_chunk_bytes_total = %v", n)
	}
	if n := metricValue(t, srv, "plg_compactor_deleted_index_segments_total"); n < 1 {
		t.Errorf("plg_compactor_deleted_index_segments_total = %v, want at least 1", n)
	}
	if len(chunkFiles(t, dataDir, "fake", newPeriod)) == 0 {
		t.Error("retention deleted the new period's chunks")
	}
	if got := queryLinesSince(t, srv, `{env="e2e"}`, now.Add(-4*time.Hour)); !slices.Equal(got, newOnly) {
		t.Errorf("after the compactor: %q, want %q", got, newOnly)
	}
	if got := queryLinesSince(t, srv, `{job="old"}`, now.Add(-4*time.Hour)); len(got) != 0 {
		t.Errorf("expired stream still answered: %q", got)
	}
	srv.stop()

	// Without retention again, nothing of the old data comes back: it is
	// gone, not just hidden.
	srv = startServer(t, dataDir, periodFlag)
	if got := queryLinesSince(t, srv, `{env="e2e"}`, now.Add(-4*time.Hour)); !slices.Equal(got, newOnly) {
		t.Errorf("after retention, without it: %q, want %q", got, newOnly)
	}
	srv.stop()
}
