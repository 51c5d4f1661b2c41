package wal

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SyncPolicy says when Log may return relative to the data reaching stable
// storage.
type SyncPolicy int

const (
	// SyncAlways returns from Log only after the records are written and
	// fsynced. Concurrent callers share one fsync (group commit). The default.
	SyncAlways SyncPolicy = iota
	// SyncInterval returns from Log after write(2); the file is fsynced every
	// Options.SyncInterval. Survives a process crash, not a power loss.
	SyncInterval
	// SyncNever returns from Log after write(2) and never fsyncs except when
	// a segment is closed. Survives a process crash, not a power loss.
	SyncNever
)

// String returns the name ParseSyncPolicy accepts.
func (p SyncPolicy) String() string {
	switch p {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNever:
		return "never"
	default:
		return fmt.Sprintf("SyncPolicy(%d)", int(p))
	}
}

// ParseSyncPolicy parses "always", "interval" or "never" (case-insensitive).
// The empty string means SyncAlways.
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "always":
		return SyncAlways, nil
	case "interval":
		return SyncInterval, nil
	case "never":
		return SyncNever, nil
	default:
		return 0, fmt.Errorf("wal: unknown sync policy %q (want always, interval or never)", s)
	}
}

// MarshalText implements encoding.TextMarshaler.
func (p SyncPolicy) MarshalText() ([]byte, error) {
	if p < SyncAlways || p > SyncNever {
		return nil, fmt.Errorf("wal: invalid sync policy %d", int(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler, so a policy can be read
// straight from YAML or a flag.
func (p *SyncPolicy) UnmarshalText(b []byte) error {
	v, err := ParseSyncPolicy(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

const (
	// DefaultSegmentSize is the size after which a segment is closed and the
	// next one started.
	DefaultSegmentSize = 128 << 20
	// DefaultSyncInterval is the fsync period under SyncInterval.
	DefaultSyncInterval = time.Second
	// minSegmentSize keeps tiny test settings from producing a segment per
	// record header.
	minSegmentSize = 4 << 10
)

// Options configures a WAL. The zero value of every field but Dir is usable.
type Options struct {
	// Dir holds the segments and checkpoints. Created if missing. One WAL
	// per directory: Open takes an exclusive lock on it.
	Dir string
	// SegmentSize is the size after which the current segment is closed.
	// A single record larger than this gets a segment of its own.
	// Default DefaultSegmentSize; values below 4 KiB are raised to 4 KiB.
	SegmentSize int64
	// Sync is the durability policy; default SyncAlways.
	Sync SyncPolicy
	// SyncInterval is the fsync period under SyncInterval; default 1s.
	SyncInterval time.Duration
	// NoCompression stores every record raw. By default each record of
	// 256 bytes or more is stored as an S2 block when that saves at least
	// 1/8, in segments and checkpoints: log lines typically shrink 3-6x,
	// so less disk, less write, fsync and replay I/O, for some CPU outside
	// the WAL's lock. Replay reads both forms whatever is set.
	NoCompression bool
	// Logger receives warnings (repaired torn tails, removed leftovers).
	// Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the plg_wal_* metrics. Nil means not registered.
	Registerer prometheus.Registerer
}

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, fmt.Errorf("wal: Options.Dir is empty")
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < minSegmentSize {
		o.SegmentSize = minSegmentSize
	}
	if o.Sync < SyncAlways || o.Sync > SyncNever {
		return o, fmt.Errorf("wal: invalid sync policy %d", int(o.Sync))
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
