//go:build !nogcs

package store

import (
	"context"

	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/gcs"
)

// GCSConfig is objstore's own GCS config, so its YAML keys match Thanos'
// documentation.
type GCSConfig = gcs.Config

// gcsLinked reports whether this build can open GCS buckets.
const gcsLinked = true

func defaultGCSConfig() GCSConfig { return gcs.DefaultConfig }

func newGCSBucket(kl kitLogger, cfg GCSConfig) (objstore.Bucket, error) {
	return gcs.NewBucketWithConfig(context.Background(), kl, cfg, component, nil)
}
