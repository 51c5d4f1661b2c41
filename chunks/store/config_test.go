package store

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/thanos-io/objstore/providers/s3"
	"gopkg.in/yaml.v3"
)

func TestConfigYAMLKeepsDefaults(t *testing.T) {
	var cfg Config
	if err := yaml.Unmarshal([]byte("backend: s3\ns3:\n  bucket: b\n  endpoint: e:9000\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.S3.Bucket != "b" || cfg.S3.Endpoint != "e:9000" {
		t.Errorf("set fields lost: %+v", cfg.S3)
	}
	if cfg.S3.PartSize != s3.DefaultConfig.PartSize || cfg.S3.HTTPConfig != s3.DefaultConfig.HTTPConfig {
		t.Errorf("omitted S3 fields lost their provider defaults: part size %d", cfg.S3.PartSize)
	}
	if cfg.IndexPeriod != DefaultIndexPeriod || cfg.ListInterval != DefaultListInterval || cfg.IndexCacheBytes != DefaultIndexCacheBytes {
		t.Errorf("store defaults lost: %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
}

func TestConfigFlags(t *testing.T) {
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-store.backend=gcs", "-store.gcs.bucket=logs", "-store.index-period=12h"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Backend != BackendGCS || cfg.GCS.Bucket != "logs" || cfg.IndexPeriod != 12*time.Hour || cfg.Filesystem.Dir != DefaultFilesystemDir {
		t.Errorf("flags not applied over defaults: %+v", cfg)
	}
}

func TestConfigFlagsKeepValuesAlreadySet(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Backend = BackendS3
	cfg.S3.Bucket = "from-file"
	cfg.S3.SecretKey = "kept"
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-store.s3.region=eu-west-1"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Backend != BackendS3 || cfg.S3.Bucket != "from-file" || cfg.S3.SecretKey != "kept" || cfg.S3.Region != "eu-west-1" {
		t.Errorf("registering flags lost configured values: %+v", cfg.S3)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"default is valid", func(*Config) {}, ""},
		{"empty backend means filesystem", func(c *Config) { c.Backend = "" }, ""},
		{"unknown backend", func(c *Config) { c.Backend = "ftp" }, `unknown backend "ftp"`},
		{"filesystem without dir", func(c *Config) { c.Filesystem.Dir = "" }, "filesystem.dir is required"},
		{"s3 without bucket", func(c *Config) { c.Backend = BackendS3 }, "s3.bucket is required"},
		{"gcs without bucket", func(c *Config) { c.Backend = BackendGCS }, "gcs.bucket is required"},
		{"azure without container", func(c *Config) { c.Backend = BackendAzure }, "azure.container is required"},
		{"zero index period", func(c *Config) { c.IndexPeriod = 0 }, "index_period must be positive"},
		{"negative cache", func(c *Config) { c.IndexCacheBytes = -1 }, "index_cache_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
