//go:build nogcs

package store

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestNoGCSBuildRefusesTheGCSBackend(t *testing.T) {
	var cfg Config
	src := "backend: gcs\ngcs:\n  bucket: logs\n  use_grpc: true\n  http_config:\n    idle_conn_timeout: 90s\n"
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatalf("a full build's gcs section must still parse: %v", err)
	}
	if cfg.GCS.Bucket != "logs" || cfg.GCS.Other["use_grpc"] != true {
		t.Fatalf("gcs section decoded as %+v", cfg.GCS)
	}
	err := cfg.Validate()
	if !errors.Is(err, errNoGCS) || !strings.Contains(err.Error(), "-tags nogcs") {
		t.Fatalf("Validate() = %v, want the nogcs error", err)
	}
	if _, err := NewBucket(cfg, nil, nil); !errors.Is(err, errNoGCS) {
		t.Fatalf("NewBucket() = %v, want the nogcs error", err)
	}
}

func TestNoGCSBuildKeepsOtherBackends(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Filesystem.Dir = t.TempDir()
	b, err := NewBucket(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}
