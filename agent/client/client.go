package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/agent/entry"
	"github.com/plgstack/plg/push"
)

// Client sends entries to one ingester. Entries go in through Handle; Run
// batches and sends them.
type Client struct {
	cfg     Config
	host    string
	http    *http.Client
	metrics *Metrics
	log     *slog.Logger
	in      chan entry.Entry
	ext     labels.Labels

	// pending bounds the unacknowledged bytes (max_pending_bytes).
	pending *pending

	// sleep waits between retries and now reads the clock; replaceable in
	// tests.
	sleep func(ctx context.Context, d time.Duration) bool
	now   func() time.Time

	extCache map[uint64][]extPair // owned by Run's goroutine

	req     push.Request
	body    []byte
	scratch []byte
}

// UserAgent is sent with every push.
var UserAgent = "plg-agent"

// New validates cfg and returns a client. metrics may be shared between
// clients; nil creates unregistered ones.
func New(cfg Config, metrics *Metrics, logger *slog.Logger) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("client %s: %w", cfg.URL, err)
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	u, _ := url.Parse(cfg.URL)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if u.Scheme == "https" {
		tc, err := tlsConfig(cfg.TLSConfig)
		if err != nil {
			return nil, fmt.Errorf("client %s: tls_config: %w", cfg.URL, err)
		}
		tr.TLSClientConfig = tc
	}
	c := &Client{
		cfg:     cfg,
		host:    u.Host,
		http:    &http.Client{Transport: tr, Timeout: cfg.Timeout},
		metrics: metrics,
		log:     logger.With("client", u.Host),
		in:      make(chan entry.Entry, 1024),
		ext:     labels.FromMap(cfg.ExternalLabels),
		pending: newPending(cfg.MaxPendingBytes),
		sleep:   sleepCtx,
		now:     time.Now,
	}
	return c, nil
}

func tlsConfig(c TLSConfig) (*tls.Config, error) {
	tc := &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // user's choice
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no certificates", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Handle queues e, blocking while the client holds max_pending_bytes of
// unacknowledged entries or is busy (back-pressure). It returns false,
// without taking e, if ctx is done first.
func (c *Client) Handle(ctx context.Context, e entry.Entry) bool {
	n := entrySize(&e)
	if !c.pending.acquire(ctx, n) {
		return false
	}
	c.metrics.PendingBytes.Add(float64(n))
	select {
	case c.in <- e:
		return true
	case <-ctx.Done():
		c.release(n)
		return false
	}
}

// release returns n bytes of the pending budget.
func (c *Client) release(n int) {
	c.pending.release(n)
	c.metrics.PendingBytes.Sub(float64(n))
}

// Close ends input; Run sends what is left and returns.
func (c *Client) Close() { close(c.in) }

// Run batches and sends until Close was called and everything queued was
// sent or given up. ctx cancels sends in progress: their entries are left
// unacknowledged, so they are read again after a restart.
func (c *Client) Run(ctx context.Context) {
	batches := map[string]*batch{}
	tick := time.NewTicker(max(c.cfg.BatchWait/10, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case e, ok := <-c.in:
			if !ok {
				for _, b := range batches {
					if b.count > 0 {
						c.send(ctx, b)
					}
				}
				return
			}
			tenant := c.cfg.TenantID
			if e.Tenant != "" {
				tenant = e.Tenant
			}
			b := batches[tenant]
			if b == nil {
				b = newBatch(tenant)
				batches[tenant] = b
			}
			if b.count > 0 && b.bytes+entrySize(&e) > c.cfg.BatchSize {
				c.send(ctx, b)
			}
			if !b.add(&e, c.streamLabels(e.Labels), c.cfg.MaxStreams, time.Now()) {
				c.metrics.DroppedEntries.WithLabelValues(ReasonStreamLimited).Inc()
				c.release(entrySize(&e))
				e.Ticket.Done()
			}
		case now := <-tick.C:
			for tenant, b := range batches {
				switch {
				case b.count > 0 && now.Sub(b.created) >= c.cfg.BatchWait:
					c.send(ctx, b)
				case b.count == 0 && len(b.order) == 0:
					delete(batches, tenant)
				case b.count == 0:
					b.reset() // forget streams idle for a whole round
				}
			}
		}
	}
}

// streamLabels adds the external labels the entry does not set itself.
// Results are cached: a file's entries mostly share one label set.
func (c *Client) streamLabels(l labels.Labels) labels.Labels {
	if c.ext.IsEmpty() {
		return l
	}
	h := l.Hash()
	for _, p := range c.extCache[h] {
		if labels.Equal(p.in, l) {
			return p.out
		}
	}
	b := labels.NewBuilder(c.ext)
	l.Range(func(x labels.Label) { b.Set(x.Name, x.Value) })
	out := b.Labels()
	if c.extCache == nil || len(c.extCache) >= 4096 {
		c.extCache = map[uint64][]extPair{}
	}
	c.extCache[h] = append(c.extCache[h], extPair{in: l, out: out})
	return out
}

type extPair struct{ in, out labels.Labels }

// send pushes b, retrying as configured, and acknowledges its entries
// unless ctx ends first. Either way the batch leaves the client, so its
// bytes leave the pending budget: unacknowledged entries are read again
// after a restart.
func (c *Client) send(ctx context.Context, b *batch) {
	defer func() {
		c.release(b.bytes)
		b.reset()
	}()
	b.request(&c.req)
	c.body, c.scratch = push.AppendBody(c.body[:0], c.scratch, &c.req)
	c.metrics.BatchEntries.Observe(float64(b.count))
	c.metrics.BatchBytes.Observe(float64(len(c.body)))
	bo := c.cfg.BackoffConfig
	backoff := bo.MinPeriod
	var deadline time.Time
	if bo.MaxElapsed > 0 {
		deadline = c.now().Add(bo.MaxElapsed)
	}
	for attempt := 1; ; attempt++ {
		status, err := c.post(ctx, b.tenant, c.body)
		switch {
		case err == nil:
			c.metrics.SentEntries.Add(float64(b.count))
			c.metrics.SentBytes.Add(float64(len(c.body)))
			b.done()
			return
		case status == http.StatusTooManyRequests && c.cfg.DropRateLimitedBatches:
			c.drop(b, ReasonRateLimited, status, err)
			return
		case status/100 == 4 && status != http.StatusTooManyRequests:
			c.drop(b, ReasonRejected, status, err)
			return
		}
		if ctx.Err() != nil {
			c.log.Warn("shutting down with a batch not sent; it will be read again after restart",
				"tenant", b.tenant, "entries", b.count)
			return
		}
		wait := jitter(backoff)
		if !deadline.IsZero() {
			left := deadline.Sub(c.now())
			if left <= 0 {
				c.drop(b, ReasonRetriesExhausted, status, err)
				return
			}
			wait = min(wait, left)
		}
		if bo.MaxRetries > 0 && attempt > bo.MaxRetries {
			c.drop(b, ReasonRetriesExhausted, status, err)
			return
		}
		c.metrics.Retries.Inc()
		c.log.Warn("push failed, will retry", "status", status, "err", err, "attempt", attempt, "backoff", wait)
		if !c.sleep(ctx, wait) {
			return
		}
		backoff = min(2*backoff, bo.MaxPeriod)
	}
}

func (c *Client) drop(b *batch, reason string, status int, err error) {
	c.metrics.DroppedEntries.WithLabelValues(reason).Add(float64(b.count))
	c.log.Error("final error sending batch, dropping it", "reason", reason, "status", status,
		"err", err, "tenant", b.tenant, "entries", b.count, "bytes", b.bytes)
	b.done()
}

// post makes one attempt. A non-nil error means no HTTP status was received.
func (c *Client) post(ctx context.Context, tenant string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", UserAgent)
	if tenant != "" {
		req.Header.Set("X-Scope-OrgID", tenant)
	}
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v)
	}
	if err := c.auth(req); err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.metrics.RequestDuration.WithLabelValues(c.host, "error").Observe(time.Since(start).Seconds())
		return 0, fmt.Errorf("push to %s: %w", c.host, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_ = resp.Body.Close()
	c.metrics.RequestDuration.WithLabelValues(c.host, strconv.Itoa(resp.StatusCode)).Observe(time.Since(start).Seconds())
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, &StatusError{Code: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
	}
	return resp.StatusCode, nil
}

func (c *Client) auth(req *http.Request) error {
	switch {
	case c.cfg.BasicAuth != nil:
		pw := c.cfg.BasicAuth.Password
		if f := c.cfg.BasicAuth.PasswordFile; f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("basic_auth.password_file: %w", err)
			}
			pw = strings.TrimSpace(string(b))
		}
		req.SetBasicAuth(c.cfg.BasicAuth.Username, pw)
	case c.cfg.BearerTokenFile != "":
		b, err := os.ReadFile(c.cfg.BearerTokenFile)
		if err != nil {
			return fmt.Errorf("bearer_token_file: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(b)))
	case c.cfg.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+c.cfg.BearerToken)
	}
	return nil
}

// StatusError is a non-2xx response.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("server returned HTTP %d: %s", e.Code, e.Message)
}

// jitter draws a wait uniformly from [d/2, d], so agents that lost the
// same ingester do not retry in lockstep.
func jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
