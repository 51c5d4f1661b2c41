package positions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Position is how far one file has been acknowledged.
type Position struct {
	Offset int64
	// Dev and Inode identify the file the offset belongs to; both zero when
	// unknown (positions written by Promtail).
	Dev, Inode uint64
}

// HasIdentity reports whether the position records which file it is for.
func (p Position) HasIdentity() bool { return p.Dev != 0 || p.Inode != 0 }

// Config is Promtail's `positions` block.
type Config struct {
	Filename          string        `yaml:"filename"`
	SyncPeriod        time.Duration `yaml:"sync_period"`
	IgnoreInvalidYAML bool          `yaml:"ignore_invalid_yaml"`
}

// Defaults as in Promtail.
const (
	DefaultFilename   = "/var/log/positions.yaml"
	DefaultSyncPeriod = 10 * time.Second
)

// Store is the in-memory positions map backed by a file. It is safe for
// concurrent use.
type Store struct {
	cfg    Config
	logger *slog.Logger

	mu    sync.Mutex
	m     map[string]Position
	dirty bool
	// saveMu serialises writers of the file.
	saveMu sync.Mutex
}

type fileFormat struct {
	Positions  map[string]string `yaml:"positions"`
	Identities map[string]string `yaml:"identities,omitempty"`
}

// Open loads cfg.Filename (a missing file is an empty store).
func Open(cfg Config, logger *slog.Logger) (*Store, error) {
	if cfg.Filename == "" {
		cfg.Filename = DefaultFilename
	}
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = DefaultSyncPeriod
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, logger: logger, m: map[string]Position{}}
	b, err := os.ReadFile(cfg.Filename)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("positions file %s: %w", cfg.Filename, err)
	}
	m, err := Decode(b)
	if err != nil {
		if cfg.IgnoreInvalidYAML {
			logger.Warn("ignoring invalid positions file", "file", cfg.Filename, "err", err)
			return s, nil
		}
		return nil, fmt.Errorf("positions file %s: %w", cfg.Filename, err)
	}
	s.m = m
	return s, nil
}

// Decode parses a positions file.
func Decode(b []byte) (map[string]Position, error) {
	var f fileFormat
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode: %w", err)
	}
	m := make(map[string]Position, len(f.Positions))
	for path, v := range f.Positions {
		off, err := strconv.ParseInt(v, 10, 64)
		if err != nil || off < 0 {
			return nil, fmt.Errorf("position of %q: invalid offset %q", path, v)
		}
		p := Position{Offset: off}
		if id, ok := f.Identities[path]; ok {
			dev, ino, ok := strings.Cut(id, ":")
			if !ok {
				return nil, fmt.Errorf("identity of %q: want dev:inode, got %q", path, id)
			}
			if p.Dev, err = strconv.ParseUint(dev, 10, 64); err != nil {
				return nil, fmt.Errorf("identity of %q: device: %w", path, err)
			}
			if p.Inode, err = strconv.ParseUint(ino, 10, 64); err != nil {
				return nil, fmt.Errorf("identity of %q: inode: %w", path, err)
			}
		}
		m[path] = p
	}
	return m, nil
}

// Encode renders positions in the file format.
func Encode(m map[string]Position) ([]byte, error) {
	f := fileFormat{Positions: make(map[string]string, len(m)), Identities: map[string]string{}}
	for path, p := range m {
		f.Positions[path] = strconv.FormatInt(p.Offset, 10)
		if p.HasIdentity() {
			f.Identities[path] = strconv.FormatUint(p.Dev, 10) + ":" + strconv.FormatUint(p.Inode, 10)
		}
	}
	return yaml.Marshal(&f)
}

// Get returns the stored position of path.
func (s *Store) Get(path string) (Position, bool) {
	s.mu.Lock()
	p, ok := s.m[path]
	s.mu.Unlock()
	return p, ok
}

// Set records that path is acknowledged up to p.
func (s *Store) Set(path string, p Position) {
	s.mu.Lock()
	if old, ok := s.m[path]; !ok || old != p {
		s.m[path] = p
		s.dirty = true
	}
	s.mu.Unlock()
}

// Remove forgets path.
func (s *Store) Remove(path string) {
	s.mu.Lock()
	if _, ok := s.m[path]; ok {
		delete(s.m, path)
		s.dirty = true
	}
	s.mu.Unlock()
}

// Snapshot returns a copy of all positions.
func (s *Store) Snapshot() map[string]Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]Position, len(s.m))
	for k, v := range s.m {
		m[k] = v
	}
	return m
}

// Save writes the file if anything changed since the last save.
func (s *Store) Save() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	m := make(map[string]Position, len(s.m))
	for k, v := range s.m {
		m[k] = v
	}
	s.dirty = false
	s.mu.Unlock()

	b, err := Encode(m)
	if err == nil {
		err = writeAtomic(s.cfg.Filename, b)
	}
	if err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return fmt.Errorf("save positions %s: %w", s.cfg.Filename, err)
	}
	return nil
}

// Run saves every SyncPeriod until ctx is done, then saves a last time.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SyncPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.Save()
		case <-t.C:
			if err := s.Save(); err != nil {
				s.logger.Error("writing positions file", "err", err)
			}
		}
	}
}

func writeAtomic(name string, b []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
