//go:build !nogcs

package store

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/thanos-io/objstore"
	"google.golang.org/api/googleapi"
	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/chunks/index"
)

// fakeGCS serves fake-gcs-server's JSON API on loopback with a bucket
// "logs"; wrap, if not nil, sees every request first.
func fakeGCS(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		NoListener:  true,
		Scheme:      "http",
		ExternalURL: base, // resumable uploads continue at this address
		Writer:      io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "logs"})
	h := fake.HTTPHandler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(func() { srv.Close(); fake.Stop() })
	return base
}

// emulatedGCS points the client at a fake server the way Google's SDKs
// are pointed at an emulator, and opens the bucket.
func emulatedGCS(t *testing.T, wrap func(http.Handler) http.Handler, cfg GCSConfig) *gcsBucket {
	t.Helper()
	t.Setenv(gcsEmulatorEnv, strings.TrimPrefix(fakeGCS(t, wrap), "http://"))
	if cfg.Bucket == "" {
		cfg.Bucket = "logs"
	}
	b, err := newGCSBucketCtx(context.Background(), kitLogger{slog.New(slog.DiscardHandler)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.backoff = time.Millisecond
	t.Cleanup(func() { b.Close() })
	return b
}

// TestGCSBucketAcceptance runs objstore's own conformance test for bucket
// providers (including a 200 MiB resumable upload) against the fake server.
func TestGCSBucketAcceptance(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("uploads 200 MiB; make test runs it without -race and -short")
	}
	objstore.AcceptanceTest(t, emulatedGCS(t, nil, defaultGCSConfig()))
}

func TestGCSBucketReadsWritesAndLists(t *testing.T) {
	cfg := defaultGCSConfig()
	cfg.ChunkSizeBytes = 256 << 10 // the smallest a resumable upload allows
	b := emulatedGCS(t, nil, cfg)
	ctx := context.Background()

	big := make([]byte, 600<<10) // three chunks: a resumable upload
	for i := range big {
		big[i] = byte(i * 7)
	}
	objects := map[string][]byte{
		"fake/chunks/a":     []byte("0123456789"),
		"fake/index/1/seg1": []byte("seg"),
		"other/x":           big,
	}
	for name, data := range objects {
		if err := b.Upload(ctx, name, strings.NewReader(string(data))); err != nil {
			t.Fatalf("Upload(%s): %v", name, err)
		}
	}
	for name, data := range objects {
		rc, err := b.Get(ctx, name)
		if err != nil {
			t.Fatalf("Get(%s): %v", name, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != string(data) {
			t.Fatalf("Get(%s) = %d bytes, %v; want %d bytes", name, len(got), err, len(data))
		}
	}

	ranges := []struct {
		off, length int64
		want        string
	}{
		{0, 10, "0123456789"},
		{2, 3, "234"},
		{7, -1, "789"},
		{8, 100, "89"},
		{4, 0, ""},
	}
	for _, r := range ranges {
		rc, err := b.GetRange(ctx, "fake/chunks/a", r.off, r.length)
		if err != nil {
			t.Fatalf("GetRange(%d, %d): %v", r.off, r.length, err)
		}
		size, serr := objstore.TryToGetSize(rc)
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != r.want || serr != nil || size != int64(len(r.want)) {
			t.Errorf("GetRange(%d, %d) = %q (size %d, %v), %v; want %q", r.off, r.length, got, size, serr, err, r.want)
		}
	}

	attrs, err := b.Attributes(ctx, "other/x")
	if err != nil || attrs.Size != int64(len(big)) || time.Since(attrs.LastModified) > time.Hour {
		t.Errorf("Attributes = %+v, %v", attrs, err)
	}

	var top []string
	if err := b.Iter(ctx, "", func(n string) error { top = append(top, n); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(top)
	if want := []string{"fake/", "other/"}; !slices.Equal(top, want) {
		t.Errorf("Iter(\"\") = %q, want %q", top, want)
	}
	var all []objstore.IterObjectAttributes
	err = b.IterWithAttributes(ctx, "fake", func(a objstore.IterObjectAttributes) error { all = append(all, a); return nil },
		objstore.WithRecursiveIter(), objstore.WithUpdatedAt())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "fake/chunks/a" || all[1].Name != "fake/index/1/seg1" {
		t.Fatalf("recursive Iter(fake) = %+v", all)
	}
	if mod, ok := all[0].LastModified(); !ok || time.Since(mod) > time.Hour {
		t.Errorf("LastModified = %v, %v", mod, ok)
	}

	if err := b.Delete(ctx, "fake/chunks/a"); err != nil {
		t.Fatal(err)
	}
	_, err = b.Get(ctx, "fake/chunks/a")
	if !b.IsObjNotFoundErr(err) || b.IsAccessDeniedErr(err) || !strings.Contains(err.Error(), "fake/chunks/a") {
		t.Errorf("Get after Delete: %v, want a not-found error naming the object", err)
	}
	if _, err := b.GetRange(ctx, "fake/chunks/a", 0, 0); !b.IsObjNotFoundErr(err) {
		t.Errorf("empty GetRange of a missing object: %v, want not found", err)
	}
	if ok, err := b.Exists(ctx, "fake/chunks/a"); ok || err != nil {
		t.Errorf("Exists after Delete = %v, %v", ok, err)
	}
	if err := b.Delete(ctx, "fake/chunks/a"); !b.IsObjNotFoundErr(err) {
		t.Errorf("second Delete: %v, want not found", err)
	}
}

// TestGCSBackend runs the store through NewBucket over the fake server,
// configured as a user would in YAML (Thanos' keys included).
func TestGCSBackend(t *testing.T) {
	t.Setenv(gcsEmulatorEnv, fakeGCS(t, nil))
	var cfg Config
	doc := `
backend: gcs
index_period: 1h
gcs:
  bucket: logs
  use_grpc: true
  grpc_conn_pool_size: 4
  chunk_size_bytes: 1048576
  max_retries: 3
  http_config:
    idle_conn_timeout: 1m
`
	if err := yaml.Unmarshal([]byte(doc), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.GCS.ChunkSizeBytes != 1<<20 || cfg.GCS.MaxRetries != 3 || time.Duration(cfg.GCS.HTTPConfig.IdleConnTimeout) != time.Minute ||
		cfg.GCS.HTTPConfig.MaxIdleConns != 100 || !cfg.GCS.UseGRPC {
		t.Fatalf("gcs section decoded as %+v", cfg.GCS)
	}
	reg := prometheus.NewRegistry()
	bkt, err := NewBucket(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer bkt.Close()
	if bkt.Provider() != objstore.GCS || bkt.Name() != "logs" {
		t.Errorf("bucket %s %s", bkt.Provider(), bkt.Name())
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
	other := New(bkt, cfg, nil, nil)
	if got := chunksOf(selectAll(t, other, "fake", 10*hour, 11*hour)); !slices.Equal(got, []index.ChunkRef{c}) {
		t.Errorf("Index over GCS: got %+v, want %+v", got, c)
	}
	if ts, err := s.Tenants(ctx); err != nil || !slices.Equal(ts, []string{"fake"}) {
		t.Errorf("Tenants = %q, %v", ts, err)
	}
	if n, err := testutil.GatherAndCount(reg, "objstore_bucket_operations_total"); err != nil || n == 0 {
		t.Errorf("bucket metrics not registered: %d series, %v", n, err)
	}
}

// failing answers the first n requests whose method is method with status.
func failing(method string, n int32, status int, seen *atomic.Int32) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == method && seen.Add(1) <= n {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				io.WriteString(w, `{"error":{"code":`+strconv.Itoa(status)+`,"message":"injected"}}`)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestGCSRetriesTransientReadFailures(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		failures   int32
		maxRetries int
		wantErr    bool
		wantCalls  int32
	}{
		{"503 twice then success", http.StatusServiceUnavailable, 2, 0, false, 3},
		{"429 within the attempt bound", http.StatusTooManyRequests, 2, 3, false, 3},
		{"max_retries 1 disables retries", http.StatusServiceUnavailable, 1, 1, true, 1},
		{"attempts run out", http.StatusBadGateway, 5, 3, true, 3},
		{"403 is not retried", http.StatusForbidden, 5, 0, true, 1},
		{"404 is not retried", http.StatusNotFound, 5, 0, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gets atomic.Int32
			cfg := defaultGCSConfig()
			cfg.MaxRetries = tc.maxRetries
			b := emulatedGCS(t, failing(http.MethodGet, tc.failures, tc.status, &gets), cfg)
			ctx := context.Background()
			if err := b.Upload(ctx, "a", strings.NewReader("data")); err != nil {
				t.Fatal(err)
			}
			rc, err := b.Get(ctx, "a")
			if (err != nil) != tc.wantErr {
				t.Fatalf("Get: %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				got, _ := io.ReadAll(rc)
				rc.Close()
				if string(got) != "data" {
					t.Errorf("Get = %q", got)
				}
			} else if gcsStatus(err) != tc.status {
				t.Errorf("Get: %v, want status %d", err, tc.status)
			}
			if n := gets.Load(); n != tc.wantCalls {
				t.Errorf("%d GET requests, want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestGCSRetryStopsWithTheContext(t *testing.T) {
	b := &gcsBucket{backoff: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := b.retry(ctx, func() error {
		calls++
		cancel() // while the retry waits out its backoff
		return &googleapi.Error{Code: http.StatusServiceUnavailable}
	})
	if calls != 1 || !errors.Is(err, context.Canceled) || gcsStatus(err) != http.StatusServiceUnavailable {
		t.Fatalf("retry = %v after %d calls, want the cancellation and the last 503 after 1", err, calls)
	}
}

func TestGCSAccessDenied(t *testing.T) {
	var n atomic.Int32
	b := emulatedGCS(t, failing(http.MethodGet, 1<<30, http.StatusForbidden, &n), defaultGCSConfig())
	_, err := b.Get(context.Background(), "a")
	if !b.IsAccessDeniedErr(err) || b.IsObjNotFoundErr(err) {
		t.Fatalf("Get = %v, want access denied", err)
	}
}

// TestGCSDetectsCorruptDownloads flips a byte of every whole-object
// download; the CRC32C GCS sends must catch it.
func TestGCSDetectsCorruptDownloads(t *testing.T) {
	corrupt := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("alt") != "media" {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if rec.Code == http.StatusOK && len(body) > 0 {
				body[0] ^= 1
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}
	b := emulatedGCS(t, corrupt, defaultGCSConfig())
	ctx := context.Background()
	if err := b.Upload(ctx, "a", strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	rc, err := b.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "crc32c") {
		t.Fatalf("ReadAll = %q, %v; want a crc32c error", got, err)
	}
	// A range has no checksum of its own; its bytes pass as they come.
	rc2, err := b.GetRange(ctx, "a", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer rc2.Close()
	if got, err := io.ReadAll(rc2); err != nil || string(got) != "at" {
		t.Fatalf("GetRange = %q, %v", got, err)
	}
}

// TestGCSCredentials checks that each way of finding credentials ends in
// a bearer token on the requests: a service account key in the config, a
// key file named by GOOGLE_APPLICATION_CREDENTIALS, and the metadata
// server (GCE, and GKE workload identity).
func TestGCSCredentials(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})

	var mu sync.Mutex
	var tokenRequests []string
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokenRequests = append(tokenRequests, r.URL.Path)
		mu.Unlock()
		switch {
		case r.URL.Path == "/token" && r.Method == http.MethodPost:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"sa-token","token_type":"Bearer","expires_in":3600}`)
		case r.URL.Path == "/computeMetadata/v1/instance/service-accounts/default/token" && r.Header.Get("Metadata-Flavor") == "Google":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"access_token":"metadata-token","token_type":"Bearer","expires_in":3600}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer tokens.Close()
	saJSON, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "test",
		"private_key_id": "k1",
		"private_key":    string(keyPEM),
		"client_email":   "plg@test.iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      tokens.URL + "/token",
	})
	saFile := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(saFile, saJSON, 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name      string
		configKey string
		adcFile   string
		metadata  bool
		wantToken string
	}{
		{"service_account in the config", string(saJSON), "", false, "sa-token"},
		{"GOOGLE_APPLICATION_CREDENTIALS", "", saFile, false, "sa-token"},
		{"metadata server", "", "", true, "metadata-token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var auth atomic.Value
			auth.Store("")
			record := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					auth.Store(r.Header.Get("Authorization"))
					next.ServeHTTP(w, r)
				})
			}
			gcs, _ := url.Parse(fakeGCS(t, record))
			t.Setenv(gcsEmulatorEnv, "")
			t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", tc.adcFile)
			t.Setenv("HOME", t.TempDir()) // no gcloud user credentials
			t.Setenv("CLOUDSDK_CONFIG", t.TempDir())
			t.Setenv("GCE_METADATA_HOST", "")
			if tc.metadata {
				t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(tokens.URL, "http://"))
			}
			cfg := defaultGCSConfig()
			cfg.Bucket = "logs"
			cfg.ServiceAccount = tc.configKey
			// Requests meant for storage.googleapis.com go to the fake.
			cfg.HTTPConfig.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if r.URL.Host != "storage.googleapis.com" {
					return nil, errors.New("unexpected host " + r.URL.Host)
				}
				r = r.Clone(r.Context())
				r.URL.Scheme, r.URL.Host = gcs.Scheme, gcs.Host
				return http.DefaultTransport.RoundTrip(r)
			})
			b, err := newGCSBucketCtx(context.Background(), kitLogger{slog.New(slog.DiscardHandler)}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if err := b.Upload(context.Background(), "a", strings.NewReader("x")); err != nil {
				t.Fatal(err)
			}
			if got := auth.Load(); got != "Bearer "+tc.wantToken {
				t.Errorf("Authorization = %q, want Bearer %s", got, tc.wantToken)
			}
		})
	}
}

func TestGCSRejectsOtherCredentialTypesInTheConfig(t *testing.T) {
	cfg := defaultGCSConfig()
	cfg.Bucket = "logs"
	cfg.ServiceAccount = `{"type":"authorized_user","client_id":"a","client_secret":"b","refresh_token":"c"}`
	t.Setenv(gcsEmulatorEnv, "")
	if _, err := newGCSBucketCtx(context.Background(), kitLogger{slog.New(slog.DiscardHandler)}, cfg); err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("newGCSBucket = %v, want a credentials error", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzCRC32COf feeds arbitrary x-goog-hash values to the parser: it must
// not panic, and a well-formed crc32c entry must come back as sent,
// wherever it sits among other hashes.
func FuzzCRC32COf(f *testing.F) {
	f.Add("crc32c=n03x6A==,md5=XrY7u+Ae7tCTyyK7j1rNww==", uint32(0))
	f.Add("md5=abc", uint32(1))
	f.Add("crc32c=", uint32(2))
	f.Add("crc32c=AAAAAAAA", uint32(3))
	f.Fuzz(func(t *testing.T, v string, sum uint32) {
		h := http.Header{}
		h.Add("X-Goog-Hash", v)
		crc32cOf(h)
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], sum)
		h.Add("X-Goog-Hash", "md5=x, crc32c="+base64.StdEncoding.EncodeToString(b[:]))
		if got, ok := crc32cOf(h); ok && !strings.Contains(v, "crc32c=") && got != sum {
			t.Fatalf("crc32cOf(%q + crc32c of %08x) = %08x", v, sum, got)
		} else if !ok && !strings.Contains(v, "crc32c=") {
			t.Fatalf("crc32cOf missed the crc32c entry after %q", v)
		}
	})
}
