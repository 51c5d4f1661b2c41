//go:build !nogcs

package store

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/googleapis/gax-go/v2"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/exthttp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	gcsapi "google.golang.org/api/storage/v1"
)

// GCSConfig configures the gcs backend. Its YAML keys are those of
// objstore's GCS provider (Thanos' documentation), so existing config
// files keep working: the bucket is reached over Google's JSON API client
// (google.golang.org/api/storage/v1) instead of the Cloud Storage SDK,
// whose gRPC, xDS and OpenTelemetry dependencies were 21 MiB of the binary.
type GCSConfig struct {
	Bucket string `yaml:"bucket"`
	// ServiceAccount is a service account key in JSON (other credential
	// types go in a file named by GOOGLE_APPLICATION_CREDENTIALS); empty uses
	// Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
	// gcloud's user credentials, or the metadata server, which is how GKE
	// workload identity reaches a pod).
	ServiceAccount string `yaml:"service_account"`
	// UseGRPC and GRPCConnPoolSize are accepted so Thanos-style configs
	// parse; this build speaks only the JSON API and logs a warning.
	UseGRPC          bool               `yaml:"use_grpc"`
	GRPCConnPoolSize int                `yaml:"grpc_conn_pool_size"`
	HTTPConfig       exthttp.HTTPConfig `yaml:"http_config"`
	// ChunkSizeBytes is the size of the pieces a resumable upload sends;
	// objects smaller than it go up in one request. 0 means the client's
	// default (16 MiB).
	ChunkSizeBytes int `yaml:"chunk_size_bytes"`
	// MaxRetries bounds the attempts of an idempotent operation (reads,
	// listings, attributes); 1 disables retries, 0 retries until the
	// context ends, as Google's SDK does.
	MaxRetries int `yaml:"max_retries"`
}

// gcsLinked reports whether this build can open GCS buckets.
const gcsLinked = true

func defaultGCSConfig() GCSConfig {
	return GCSConfig{HTTPConfig: exthttp.DefaultHTTPConfig}
}

// gcsEmulatorEnv names the variable Google's SDKs read to talk to a local
// emulator over plain HTTP without credentials; honoured here too so the
// same test setups work.
const gcsEmulatorEnv = "STORAGE_EMULATOR_HOST"

func newGCSBucket(kl kitLogger, cfg GCSConfig) (objstore.Bucket, error) {
	return newGCSBucketCtx(context.Background(), kl, cfg)
}

func newGCSBucketCtx(ctx context.Context, kl kitLogger, cfg GCSConfig) (*gcsBucket, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("gcs: bucket is required")
	}
	if cfg.UseGRPC {
		kl.l.Warn("gcs: use_grpc is not supported by this build; using the JSON API over HTTP")
	}
	rt, err := exthttp.DefaultTransport(cfg.HTTPConfig)
	if err != nil {
		return nil, fmt.Errorf("gcs: http_config: %w", err)
	}
	base := http.RoundTripper(rt)
	if cfg.HTTPConfig.Transport != nil {
		base = cfg.HTTPConfig.Transport
	}
	opts := []option.ClientOption{option.WithUserAgent("plg/" + component)}
	if host := os.Getenv(gcsEmulatorEnv); host != "" {
		if !strings.Contains(host, "://") {
			host = "http://" + host
		}
		u, err := url.Parse(host)
		if err != nil {
			return nil, fmt.Errorf("gcs: %s: %w", gcsEmulatorEnv, err)
		}
		opts = append(opts, option.WithEndpoint(u.Scheme+"://"+u.Host+"/storage/v1/"))
	} else {
		var creds *google.Credentials
		if cfg.ServiceAccount != "" {
			creds, err = google.CredentialsFromJSONWithType(ctx, []byte(cfg.ServiceAccount), google.ServiceAccount, gcsapi.DevstorageFullControlScope)
		} else {
			creds, err = google.FindDefaultCredentials(ctx, gcsapi.DevstorageFullControlScope)
		}
		if err != nil {
			return nil, fmt.Errorf("gcs: credentials: %w", err)
		}
		base = &oauth2.Transport{Source: creds.TokenSource, Base: base}
	}
	// objstore's provider bounds whole requests by idle_conn_timeout; kept
	// so a config behaves as it did.
	client := &http.Client{Transport: base, Timeout: time.Duration(cfg.HTTPConfig.IdleConnTimeout)}
	svc, err := gcsapi.NewService(ctx, append(opts, option.WithHTTPClient(client))...)
	if err != nil {
		return nil, fmt.Errorf("gcs: %w", err)
	}
	return &gcsBucket{svc: svc, client: client, name: cfg.Bucket, chunkSize: cfg.ChunkSizeBytes, maxAttempts: cfg.MaxRetries, backoff: time.Second}, nil
}

// gcsBucket is an objstore.Bucket over the Cloud Storage JSON API.
type gcsBucket struct {
	svc         *gcsapi.Service
	client      *http.Client
	name        string
	chunkSize   int
	maxAttempts int // 0: until the context ends
	backoff     time.Duration
}

func (b *gcsBucket) Provider() objstore.ObjProvider { return objstore.GCS }

func (b *gcsBucket) Name() string { return b.name }

func (b *gcsBucket) Close() error {
	b.client.CloseIdleConnections()
	return nil
}

func (b *gcsBucket) SupportedIterOptions() []objstore.IterOptionType {
	return []objstore.IterOptionType{objstore.Recursive, objstore.UpdatedAt}
}

// IterWithAttributes lists dir (made to end in "/" unless empty): objects
// of each page first, then its common prefixes, as Google's SDK returns
// them.
func (b *gcsBucket) IterWithAttributes(ctx context.Context, dir string, f func(objstore.IterObjectAttributes) error, options ...objstore.IterOption) error {
	if err := objstore.ValidateIterOptions(b.SupportedIterOptions(), options...); err != nil {
		return err
	}
	if dir != "" {
		dir = strings.TrimSuffix(dir, "/") + "/"
	}
	opts := objstore.ApplyIterOptions(options...)
	fields := googleapi.Field("nextPageToken,prefixes,items(name)")
	if opts.LastModified {
		fields = "nextPageToken,prefixes,items(name,updated)"
	}
	call := b.svc.Objects.List(b.name).Prefix(dir).Fields(fields)
	if !opts.Recursive {
		call.Delimiter("/")
	}
	for token := ""; ; {
		call.PageToken(token)
		var page *gcsapi.Objects
		err := b.retry(ctx, func() (err error) {
			page, err = call.Context(ctx).Do()
			return err
		})
		if err != nil {
			return fmt.Errorf("gcs list %q: %w", dir, err)
		}
		for _, o := range page.Items {
			attrs := objstore.IterObjectAttributes{Name: o.Name}
			if opts.LastModified {
				t, err := time.Parse(time.RFC3339Nano, o.Updated)
				if err != nil {
					return fmt.Errorf("gcs list %q: object %s: updated: %w", dir, o.Name, err)
				}
				attrs.SetLastModified(t)
			}
			if err := f(attrs); err != nil {
				return err
			}
		}
		for _, p := range page.Prefixes {
			if err := f(objstore.IterObjectAttributes{Name: p}); err != nil {
				return err
			}
		}
		if token = page.NextPageToken; token == "" {
			return nil
		}
	}
}

func (b *gcsBucket) Iter(ctx context.Context, dir string, f func(string) error, options ...objstore.IterOption) error {
	var recursive []objstore.IterOption
	for _, o := range options {
		if o.Type == objstore.Recursive {
			recursive = append(recursive, o)
		}
	}
	return b.IterWithAttributes(ctx, dir, func(a objstore.IterObjectAttributes) error { return f(a.Name) }, recursive...)
}

func (b *gcsBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	return b.open(ctx, name, 0, -1)
}

// GetRange reads length bytes from off, or to the end when length is -1;
// a range past the end is cut short, as objstore's contract says.
func (b *gcsBucket) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if off < 0 || length < -1 {
		return nil, fmt.Errorf("gcs get %s: invalid range offset %d length %d", name, off, length)
	}
	if length == 0 {
		// An empty range cannot be expressed as an HTTP Range; the object
		// must still exist.
		if _, err := b.Attributes(ctx, name); err != nil {
			return nil, err
		}
		return objstore.ObjectSizerReadCloser{ReadCloser: io.NopCloser(strings.NewReader("")), Size: func() (int64, error) { return 0, nil }}, nil
	}
	return b.open(ctx, name, off, length)
}

func (b *gcsBucket) open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if name == "" {
		return nil, errors.New("gcs get: object name is empty")
	}
	call := b.svc.Objects.Get(b.name, name)
	switch {
	case length > 0:
		call.Header().Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case off > 0:
		call.Header().Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	var resp *http.Response
	err := b.retry(ctx, func() (err error) {
		resp, err = call.Context(ctx).Download()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gcs get %s: %w", name, err)
	}
	size := resp.ContentLength
	var body io.ReadCloser = resp.Body
	if resp.StatusCode == http.StatusOK && size >= 0 {
		if want, ok := crc32cOf(resp.Header); ok {
			body = &crc32cReader{ReadCloser: body, name: name, want: want, h: crc32.New(castagnoli)}
		}
	}
	return objstore.ObjectSizerReadCloser{
		ReadCloser: body,
		Size: func() (int64, error) {
			if size < 0 {
				return 0, errors.New("gcs: response has no Content-Length")
			}
			return size, nil
		},
	}, nil
}

func (b *gcsBucket) Attributes(ctx context.Context, name string) (objstore.ObjectAttributes, error) {
	if name == "" {
		return objstore.ObjectAttributes{}, errors.New("gcs attributes: object name is empty")
	}
	call := b.svc.Objects.Get(b.name, name).Fields("size,updated")
	var o *gcsapi.Object
	err := b.retry(ctx, func() (err error) {
		o, err = call.Context(ctx).Do()
		return err
	})
	if err != nil {
		return objstore.ObjectAttributes{}, fmt.Errorf("gcs attributes %s: %w", name, err)
	}
	updated, err := time.Parse(time.RFC3339Nano, o.Updated)
	if err != nil {
		return objstore.ObjectAttributes{}, fmt.Errorf("gcs attributes %s: updated: %w", name, err)
	}
	return objstore.ObjectAttributes{Size: int64(o.Size), LastModified: updated}, nil
}

func (b *gcsBucket) Exists(ctx context.Context, name string) (bool, error) {
	_, err := b.Attributes(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case b.IsObjNotFoundErr(err):
		return false, nil
	}
	return false, err
}

// Upload sends r in one request when it fits in a chunk, else as a
// resumable upload whose chunks the client retries. The first request is
// not retried: without a generation precondition an upload is not
// idempotent, which is also the SDK's rule.
func (b *gcsBucket) Upload(ctx context.Context, name string, r io.Reader, opts ...objstore.ObjectUploadOption) error {
	uo := objstore.ApplyObjectUploadOptions(opts...)
	media := []googleapi.MediaOption{}
	if b.chunkSize > 0 {
		media = append(media, googleapi.ChunkSize(b.chunkSize))
	}
	if uo.ContentType != "" {
		media = append(media, googleapi.ContentType(uo.ContentType))
	}
	_, err := b.svc.Objects.Insert(b.name, &gcsapi.Object{Name: name}).Media(r, media...).Fields("name").Context(ctx).Do()
	if err != nil {
		return fmt.Errorf("gcs upload %s: %w", name, err)
	}
	return nil
}

// Delete is not retried, for the same reason as Upload.
func (b *gcsBucket) Delete(ctx context.Context, name string) error {
	if err := b.svc.Objects.Delete(b.name, name).Context(ctx).Do(); err != nil {
		return fmt.Errorf("gcs delete %s: %w", name, err)
	}
	return nil
}

func (b *gcsBucket) IsObjNotFoundErr(err error) bool { return gcsStatus(err) == http.StatusNotFound }

func (b *gcsBucket) IsAccessDeniedErr(err error) bool { return gcsStatus(err) == http.StatusForbidden }

func gcsStatus(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

// retry runs op until it succeeds, fails with an error not worth
// retrying, runs out of attempts or ctx ends, pausing with the SDK's
// backoff (1s doubling to 30s, jittered).
func (b *gcsBucket) retry(ctx context.Context, op func() error) error {
	bo := gax.Backoff{Initial: b.backoff, Max: 30 * b.backoff, Multiplier: 2}
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || !gcsRetryable(err) || (b.maxAttempts > 0 && attempt >= b.maxAttempts) {
			return err
		}
		t := time.NewTimer(bo.Pause())
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
}

// gcsRetryable follows the SDK's idea of a transient failure: rate
// limiting, server errors and broken or refused connections.
func gcsRetryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	switch gcsStatus(err) {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case 0:
	default:
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "use of closed network connection")
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32cOf returns the CRC32C GCS reports for a whole object
// ("x-goog-hash: crc32c=<base64 big-endian>").
func crc32cOf(h http.Header) (uint32, bool) {
	for _, v := range h.Values("X-Goog-Hash") {
		for _, part := range strings.Split(v, ",") {
			enc, ok := strings.CutPrefix(strings.TrimSpace(part), "crc32c=")
			if !ok {
				continue
			}
			// Decode panics when dst is shorter than the input could decode
			// to, and the header is the server's to write.
			if base64.StdEncoding.DecodedLen(len(enc)) > 6 {
				return 0, false
			}
			var sum [6]byte
			if n, err := base64.StdEncoding.Decode(sum[:], []byte(enc)); err != nil || n != 4 {
				return 0, false
			}
			return binary.BigEndian.Uint32(sum[:4]), true
		}
	}
	return 0, false
}

// crc32cReader checks a whole-object download against the checksum GCS
// sent, as the SDK does, so a corrupted transfer is an error rather than a
// bad chunk.
type crc32cReader struct {
	io.ReadCloser
	name string
	want uint32
	h    hash.Hash32
}

func (r *crc32cReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.h.Write(p[:n])
	if err == io.EOF {
		if got := r.h.Sum32(); got != r.want {
			return n, fmt.Errorf("gcs get %s: crc32c %08x, object has %08x", r.name, got, r.want)
		}
	}
	return n, err
}
