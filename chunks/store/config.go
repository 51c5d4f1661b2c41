package store

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/thanos-io/objstore/providers/azure"
	"github.com/thanos-io/objstore/providers/s3"
	"gopkg.in/yaml.v3"
)

// Backend names accepted in [Config.Backend].
const (
	BackendFilesystem = "filesystem"
	BackendS3         = "s3"
	BackendGCS        = "gcs"
	BackendAzure      = "azure"
)

// Defaults applied by [DefaultConfig], [Config.RegisterFlags] and YAML
// decoding.
const (
	DefaultIndexPeriod     = 24 * time.Hour
	DefaultListInterval    = 5 * time.Second
	DefaultIndexCacheBytes = 128 << 20
	DefaultFilesystemDir   = "data/objects"
)

// errNoGCS is what a build without the GCS backend (-tags nogcs) says when
// a config asks for it.
var errNoGCS = errors.New("store: backend gcs is not in this build (built with -tags nogcs); use the full plg binary")

// FilesystemConfig configures the filesystem backend.
type FilesystemConfig struct {
	Dir string `yaml:"dir"`
}

// Config selects and configures the object store. The provider sections
// reuse the objstore providers' own config structs (GCS: a struct with the
// same keys, see [GCSConfig]), so their YAML keys match Thanos'
// documentation.
type Config struct {
	Backend    string           `yaml:"backend"` // filesystem (default) | s3 | gcs | azure
	Filesystem FilesystemConfig `yaml:"filesystem"`
	S3         s3.Config        `yaml:"s3"`
	GCS        GCSConfig        `yaml:"gcs"`
	Azure      azure.Config     `yaml:"azure"`

	// IndexPeriod is the time span covered by one set of index segments,
	// aligned to the Unix epoch. It is part of every object key: changing
	// it for existing data makes that data unreachable.
	IndexPeriod time.Duration `yaml:"index_period"`
	// ListInterval bounds how stale a querier's view of a period's segment
	// list may be; segments written by this process are visible at once.
	ListInterval time.Duration `yaml:"index_list_interval"`
	// IndexCacheBytes bounds the memory held by downloaded index segments.
	IndexCacheBytes int64 `yaml:"index_cache_bytes"`
}

// DefaultConfig returns the configuration used when nothing is set: the
// filesystem backend and each provider's own defaults.
func DefaultConfig() Config {
	return Config{
		Backend:         BackendFilesystem,
		Filesystem:      FilesystemConfig{Dir: DefaultFilesystemDir},
		S3:              s3.DefaultConfig,
		GCS:             defaultGCSConfig(),
		Azure:           azure.DefaultConfig,
		IndexPeriod:     DefaultIndexPeriod,
		ListInterval:    DefaultListInterval,
		IndexCacheBytes: DefaultIndexCacheBytes,
	}
}

// UnmarshalYAML decodes over [DefaultConfig], so omitted keys keep their
// defaults (including the providers' HTTP settings).
func (c *Config) UnmarshalYAML(value *yaml.Node) error {
	type plain Config
	p := plain(DefaultConfig())
	if err := value.Decode(&p); err != nil {
		return err
	}
	*c = Config(p)
	return nil
}

// RegisterFlags binds the common settings to flags prefixed "store.",
// using c's current values as flag defaults so flags override a config
// file decoded first; a zero Config is first set to [DefaultConfig].
// Provider settings without a flag are set in YAML.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	// A zero Config starts from the defaults; a configured one (decoded
	// from a file) keeps its values, which the flags then override.
	if c.Backend == "" {
		*c = DefaultConfig()
	}
	fs.StringVar(&c.Backend, "store.backend", c.Backend, "Object store backend: filesystem, s3, gcs or azure.")
	fs.StringVar(&c.Filesystem.Dir, "store.filesystem.dir", c.Filesystem.Dir, "Directory of the filesystem backend.")
	fs.DurationVar(&c.IndexPeriod, "store.index-period", c.IndexPeriod, "Time span of one index period, aligned to the Unix epoch. Part of every object key; do not change for existing data.")
	fs.DurationVar(&c.ListInterval, "store.index-list-interval", c.ListInterval, "How often a querier re-lists the index segments of a period.")
	fs.Int64Var(&c.IndexCacheBytes, "store.index-cache-bytes", c.IndexCacheBytes, "Memory bound of the downloaded index segment cache, in bytes.")

	fs.StringVar(&c.S3.Bucket, "store.s3.bucket", c.S3.Bucket, "S3 bucket name.")
	fs.StringVar(&c.S3.Endpoint, "store.s3.endpoint", c.S3.Endpoint, "S3 endpoint host[:port], e.g. s3.eu-west-1.amazonaws.com.")
	fs.StringVar(&c.S3.Region, "store.s3.region", c.S3.Region, "S3 region.")
	fs.StringVar(&c.S3.AccessKey, "store.s3.access-key", c.S3.AccessKey, "S3 access key; empty uses the AWS credential chain.")
	fs.StringVar(&c.S3.SecretKey, "store.s3.secret-key", c.S3.SecretKey, "S3 secret key.")
	fs.BoolVar(&c.S3.Insecure, "store.s3.insecure", c.S3.Insecure, "Use plain HTTP to reach the S3 endpoint.")

	fs.StringVar(&c.GCS.Bucket, "store.gcs.bucket", c.GCS.Bucket, "GCS bucket name.")
	fs.StringVar(&c.GCS.ServiceAccount, "store.gcs.service-account", c.GCS.ServiceAccount, "GCS service account JSON; empty uses application default credentials.")

	fs.StringVar(&c.Azure.StorageAccountName, "store.azure.account", c.Azure.StorageAccountName, "Azure storage account name.")
	fs.StringVar(&c.Azure.StorageAccountKey, "store.azure.account-key", c.Azure.StorageAccountKey, "Azure storage account key.")
	fs.StringVar(&c.Azure.ContainerName, "store.azure.container", c.Azure.ContainerName, "Azure blob container name.")
	fs.StringVar(&c.Azure.Endpoint, "store.azure.endpoint", c.Azure.Endpoint, "Azure storage endpoint suffix.")
}

func (c Config) backend() string {
	if c.Backend == "" {
		return BackendFilesystem
	}
	return c.Backend
}

// Validate reports configuration errors that can be detected without
// contacting the backend.
func (c Config) Validate() error {
	var errs []error
	switch c.backend() {
	case BackendFilesystem:
		if c.Filesystem.Dir == "" {
			errs = append(errs, errors.New("store: filesystem.dir is required"))
		}
	case BackendS3:
		if c.S3.Bucket == "" {
			errs = append(errs, errors.New("store: s3.bucket is required"))
		}
	case BackendGCS:
		if !gcsLinked {
			errs = append(errs, errNoGCS)
		} else if c.GCS.Bucket == "" {
			errs = append(errs, errors.New("store: gcs.bucket is required"))
		}
	case BackendAzure:
		if c.Azure.ContainerName == "" {
			errs = append(errs, errors.New("store: azure.container is required"))
		}
	default:
		errs = append(errs, fmt.Errorf("store: unknown backend %q (want filesystem, s3, gcs or azure)", c.Backend))
	}
	if c.IndexPeriod <= 0 {
		errs = append(errs, fmt.Errorf("store: index_period must be positive, got %s", c.IndexPeriod))
	}
	if c.ListInterval < 0 {
		errs = append(errs, fmt.Errorf("store: index_list_interval must not be negative, got %s", c.ListInterval))
	}
	if c.IndexCacheBytes < 0 {
		errs = append(errs, fmt.Errorf("store: index_cache_bytes must not be negative, got %d", c.IndexCacheBytes))
	}
	return errors.Join(errs...)
}
