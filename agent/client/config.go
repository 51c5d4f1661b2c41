package client

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Config is one entry of Promtail's `clients` list.
type Config struct {
	URL            string            `yaml:"url"`
	TenantID       string            `yaml:"tenant_id"`
	BatchWait      time.Duration     `yaml:"batchwait"`
	BatchSize      int               `yaml:"batchsize"`
	Timeout        time.Duration     `yaml:"timeout"`
	BackoffConfig  BackoffConfig     `yaml:"backoff_config"`
	ExternalLabels map[string]string `yaml:"external_labels"`
	Headers        map[string]string `yaml:"headers"`
	BasicAuth      *BasicAuth        `yaml:"basic_auth"`
	BearerToken    string            `yaml:"bearer_token"`
	// BearerTokenFile is read on every request, so rotated tokens work.
	BearerTokenFile        string    `yaml:"bearer_token_file"`
	TLSConfig              TLSConfig `yaml:"tls_config"`
	DropRateLimitedBatches bool      `yaml:"drop_rate_limited_batches"`
	// MaxPendingBytes (plg) bounds the line and metadata bytes this client
	// holds that no ingester has acknowledged yet: queued, batched and being
	// retried. When it is reached, Handle blocks, so tailing pauses
	// (back-pressure) instead of dropping lines or growing without bound.
	MaxPendingBytes int `yaml:"max_pending_bytes"`
	// MaxStreams is limits_config.max_streams: at most this many streams
	// per batch; entries of further streams are dropped. 0 is no limit.
	MaxStreams int `yaml:"-"`
}

// BackoffConfig is Promtail's backoff_config plus plg's max_elapsed. A
// batch is given up after MaxRetries retries or once MaxElapsed has passed
// since its first attempt, whichever comes first; 0 removes that bound (both
// 0: retry forever). Each wait is drawn uniformly from [d/2, d], where d
// doubles from MinPeriod up to MaxPeriod; the last wait is shortened so a
// final attempt happens at MaxElapsed.
type BackoffConfig struct {
	MinPeriod  time.Duration `yaml:"min_period"`
	MaxPeriod  time.Duration `yaml:"max_period"`
	MaxRetries int           `yaml:"max_retries"`
	MaxElapsed time.Duration `yaml:"max_elapsed"`
}

// BasicAuth credentials.
type BasicAuth struct {
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// TLSConfig for HTTPS ingesters.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Promtail's defaults, and plg's for the fields Promtail does not have.
const (
	DefaultBatchWait  = time.Second
	DefaultBatchSize  = 1 << 20
	DefaultTimeout    = 10 * time.Second
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Minute
	DefaultMaxRetries = 10
	// DefaultMaxElapsed: retry a batch for 5 minutes. Promtail's other
	// defaults alone would retry for about 8.5 minutes (500ms doubling, 10
	// retries).
	DefaultMaxElapsed      = 5 * time.Minute
	DefaultMaxPendingBytes = 64 << 20
)

// UnmarshalYAML applies Promtail's defaults before decoding.
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	*c = Config{
		BatchWait: DefaultBatchWait,
		BatchSize: DefaultBatchSize,
		Timeout:   DefaultTimeout,
		BackoffConfig: BackoffConfig{
			MinPeriod: DefaultMinBackoff, MaxPeriod: DefaultMaxBackoff, MaxRetries: DefaultMaxRetries,
			MaxElapsed: DefaultMaxElapsed,
		},
		MaxPendingBytes: DefaultMaxPendingBytes,
	}
	type plain Config
	return unmarshal((*plain)(c))
}

// Validate checks the config and fills zero values with defaults.
func (c *Config) Validate() error {
	if c.URL == "" {
		return errors.New("url: required")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url: %q is not an http(s) URL", c.URL)
	}
	if c.BatchWait <= 0 {
		c.BatchWait = DefaultBatchWait
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	b := &c.BackoffConfig
	if b.MinPeriod <= 0 {
		b.MinPeriod = DefaultMinBackoff
	}
	if b.MaxPeriod <= 0 {
		b.MaxPeriod = DefaultMaxBackoff
	}
	if b.MaxPeriod < b.MinPeriod {
		return fmt.Errorf("backoff_config: max_period %s is below min_period %s", b.MaxPeriod, b.MinPeriod)
	}
	if b.MaxRetries < 0 {
		return fmt.Errorf("backoff_config.max_retries: %d is negative", b.MaxRetries)
	}
	if b.MaxElapsed < 0 {
		return fmt.Errorf("backoff_config.max_elapsed: %s is negative", b.MaxElapsed)
	}
	if c.MaxPendingBytes < 0 {
		return fmt.Errorf("max_pending_bytes: %d is negative", c.MaxPendingBytes)
	}
	if c.MaxPendingBytes == 0 {
		c.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if c.BearerToken != "" && c.BearerTokenFile != "" {
		return errors.New("bearer_token and bearer_token_file are mutually exclusive")
	}
	if c.BasicAuth != nil && (c.BearerToken != "" || c.BearerTokenFile != "") {
		return errors.New("basic_auth and bearer_token are mutually exclusive")
	}
	return nil
}
