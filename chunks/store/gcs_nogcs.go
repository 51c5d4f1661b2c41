//go:build nogcs

package store

import "github.com/thanos-io/objstore"

// GCSConfig keeps the gcs section of a config file readable in a build
// without the GCS backend (-tags nogcs, about 4.7 MiB smaller, for nodes
// that run only the agent), so one config file serves both builds: the bucket
// and service account are kept for the flags and -print-config, every other
// key is carried as it is.
type GCSConfig struct {
	Bucket         string         `yaml:"bucket"`
	ServiceAccount string         `yaml:"service_account"`
	Other          map[string]any `yaml:",inline"`
}

const gcsLinked = false

func defaultGCSConfig() GCSConfig { return GCSConfig{} }

func newGCSBucket(kitLogger, GCSConfig) (objstore.Bucket, error) { return nil, errNoGCS }
