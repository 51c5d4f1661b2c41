package store

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/chunks/index"
)

// TestS3Backend runs the store over real S3 HTTP against an in-process
// S3 server on loopback, configured the way a user would in YAML.
func TestS3Backend(t *testing.T) {
	mem := s3mem.New()
	if err := mem.CreateBucket("logs"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(mem).Server())
	t.Cleanup(srv.Close)

	var cfg Config
	doc := `
backend: s3
index_period: 1h
s3:
  bucket: logs
  endpoint: ` + strings.TrimPrefix(srv.URL, "http://") + `
  region: us-east-1
  access_key: test
  secret_key: test
  insecure: true
  bucket_lookup_type: path
`
	if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	bkt, err := NewBucket(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	s := New(bkt, cfg, nil, reg)
	ctx := context.Background()

	api := labels.FromStrings("app", "api", "namespace", "prod")
	c := ref(api, 10*hour, 10*hour+100)
	data := []byte("chunk bytes")
	c.Size = uint32(len(data))
	if err := s.PutChunk(ctx, "fake", c, data); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetChunk(ctx, "fake", c); err != nil || string(got) != string(data) {
		t.Fatalf("GetChunk = %q, %v", got, err)
	}
	if err := s.PutIndex(ctx, "fake", "ingester-0", []index.Series{seriesOf(api, c)}); err != nil {
		t.Fatal(err)
	}
	// A second store has nothing cached, so it lists and downloads over S3.
	other := New(bkt, cfg, nil, nil)
	if got := chunksOf(selectAll(t, other, "fake", 10*hour, 11*hour)); !slices.Equal(got, []index.ChunkRef{c}) {
		t.Errorf("Index over S3: got %+v, want %+v", got, c)
	}
	if ts, err := s.Tenants(ctx); err != nil || !slices.Equal(ts, []string{"fake"}) {
		t.Errorf("Tenants = %q, %v", ts, err)
	}
	if n, err := testutil.GatherAndCount(reg, "objstore_bucket_operations_total"); err != nil || n == 0 {
		t.Errorf("bucket metrics not registered: %d series, %v", n, err)
	}
}
