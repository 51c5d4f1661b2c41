package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent"
	"github.com/plgstack/plg/agent/stages"
	"github.com/plgstack/plg/chunks/store"
	"github.com/plgstack/plg/ingester"
	"github.com/plgstack/plg/querier"
)

// Config is the whole of plg.yaml. Every section has working defaults, so an
// empty file (or none) runs the all-in-one stack.
type Config struct {
	Mode        string `yaml:"mode"`
	AuthEnabled bool   `yaml:"auth_enabled"`
	DataDir     string `yaml:"data_dir"`

	Server   ServerConfig        `yaml:"server"`
	Ingester ingester.Config     `yaml:"ingester"`
	Limits   *ingester.Overrides `yaml:"limits"`
	Storage  store.Config        `yaml:"storage"`
	Querier  querier.Config      `yaml:"querier"`
	// Compactor merges index segments and applies limits.retention_period;
	// it runs where an ingester runs.
	Compactor CompactorConfig `yaml:"compactor"`
	// AgentMemoryLimit is the Go runtime's soft memory limit in -mode=agent
	// (see memoryLimit), a size such as 24MiB; 0 leaves the runtime's
	// default. server.memory_limit_mb and GOMEMLIMIT, when set, win.
	AgentMemoryLimit string `yaml:"agent_memory_limit"`
	// Agent is a Promtail-format configuration (server, positions,
	// clients, scrape_configs) for the agent role.
	Agent yaml.Node `yaml:"agent,omitempty"`

	// agentRaw is the agent's YAML: the agent section, or the whole file
	// when it is a Promtail configuration.
	agentRaw []byte
	// agentMemLimit is AgentMemoryLimit in bytes.
	agentMemLimit int64
}

// ServerConfig configures the HTTP server and logging.
type ServerConfig struct {
	HTTPAddr  string `yaml:"http_addr"`
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`
	// PProf serves Go's runtime profiles under /debug/pprof/. Off by
	// default: profiles expose internals and cost CPU while taken.
	PProf bool `yaml:"pprof"`
	// MemoryLimitMB is the Go runtime's soft memory limit in MiB: the GC
	// works harder near it instead of letting the heap double, and it is
	// raised while the live heap needs more. 0 derives it from the
	// ingester's chunk memory budget, in -mode=querier from the chunk
	// prefix cache, and in -mode=agent takes agent_memory_limit (see
	// memoryLimit); a negative value sets none.
	// GOMEMLIMIT in the environment wins.
	MemoryLimitMB int `yaml:"memory_limit_mb"`
}

const (
	modeAll      = "all"
	modeAgent    = "agent"
	modeIngester = "ingester"
	modeQuerier  = "querier"
)

func defaultConfig() *Config {
	return &Config{
		Mode:    modeAll,
		DataDir: "./data",
		Server: ServerConfig{
			HTTPAddr:  "127.0.0.1:3100",
			LogLevel:  "info",
			LogFormat: "logfmt",
		},
		Ingester:  ingester.DefaultConfig(),
		Limits:    &ingester.Overrides{Defaults: ingester.DefaultLimits()},
		Storage:   store.DefaultConfig(),
		Querier:   querier.DefaultConfig(),
		Compactor: defaultCompactorConfig(),

		AgentMemoryLimit: "24MiB",
	}
}

// options are the command-line switches that are not config settings.
type options struct {
	configFile  string
	printConfig bool
	version     bool
}

// registerFlags binds the common settings to fs, defaulting to cfg's values.
func registerFlags(fs *flag.FlagSet, cfg *Config, o *options) {
	fs.StringVar(&o.configFile, "config.file", "", "YAML configuration file; ${VAR} and ${VAR:-default} are expanded from the environment.")
	fs.BoolVar(&o.printConfig, "print-config", false, "Print the effective configuration, defaults included, and exit.")
	fs.BoolVar(&o.version, "version", false, "Print the version and exit.")
	fs.StringVar(&cfg.Mode, "mode", cfg.Mode, "Which roles to run: all, agent, ingester or querier.")
	fs.StringVar(&cfg.Server.HTTPAddr, "http.addr", cfg.Server.HTTPAddr, "Address of the HTTP API, /metrics and the UI.")
	fs.StringVar(&cfg.DataDir, "data.dir", cfg.DataDir, "Directory for the WAL (wal/), the agent's positions and the filesystem store (store/).")
	fs.BoolVar(&cfg.AuthEnabled, "auth.enabled", cfg.AuthEnabled, "Require X-Scope-OrgID on every request (multi-tenant); when off every request is tenant \"fake\".")
	fs.StringVar(&cfg.Server.LogLevel, "log.level", cfg.Server.LogLevel, "Log level: debug, info, warn or error.")
	fs.StringVar(&cfg.Server.LogFormat, "log.format", cfg.Server.LogFormat, "Log format: logfmt or json.")
	fs.IntVar(&cfg.Server.MemoryLimitMB, "memory-limit-mb", cfg.Server.MemoryLimitMB, "Soft memory limit of the Go runtime in MiB; 0 derives it where an ingester runs (2 x -ingester.max-chunk-memory-mb + 64) and in -mode=querier (-querier.chunk-prefix-cache-mb + 64), negative sets none. The GOMEMLIMIT environment variable wins.")
	fs.BoolVar(&cfg.Server.PProf, "http.pprof", cfg.Server.PProf, "Serve Go runtime profiles (heap, CPU, goroutines) under /debug/pprof/ on the HTTP address.")
	fs.Func("querier.ingesters", "Comma-separated addresses (host:port) of the ingesters a -mode=querier process reads recent data from.", func(v string) error {
		cfg.Querier.Ingesters = nil
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				cfg.Querier.Ingesters = append(cfg.Querier.Ingesters, a)
			}
		}
		return nil
	})
	fs.IntVar(&cfg.Querier.ChunkPrefixCacheMB, "querier.chunk-prefix-cache-mb", cfg.Querier.ChunkPrefixCacheMB, "MiB of store chunks' headers, block indexes and filters the querier caches (0: none); about 2% of the log text queries cover.")
	fs.DurationVar(&cfg.Querier.QueryTimeout, "querier.query-timeout", cfg.Querier.QueryTimeout, "How long a query may run before it is cancelled with a 504.")
	fs.StringVar(&cfg.AgentMemoryLimit, "agent.memory-limit", cfg.AgentMemoryLimit, "Soft memory limit of the Go runtime in -mode=agent (e.g. 24MiB; 0: none). It is raised while a backlog needs more, so it never makes the agent collect garbage back to back. GOMEMLIMIT, when set, wins.")
	fs.BoolVar(&cfg.Compactor.Enabled, "compactor.enabled", cfg.Compactor.Enabled, "Merge index segments periodically (where an ingester runs).")
	fs.DurationVar(&cfg.Compactor.Interval, "compactor.interval", cfg.Compactor.Interval, "How often to merge index segments and apply retention.")
	fs.DurationVar(&cfg.Compactor.RetentionDeleteDelay, "compactor.retention-delete-delay", cfg.Compactor.RetentionDeleteDelay, "How long expired chunks, and packs chunk compaction stopped referencing, outlive their index references, so queries in flight can still read them.")
	fs.BoolVar(&cfg.Compactor.ChunkCompaction, "compactor.chunk-compaction", cfg.Compactor.ChunkCompaction, "Merge each stream's small chunks of the current and previous index periods into chunks of the target size, and delete the packs nothing references any more.")
	fs.DurationVar(&cfg.Compactor.ChunkCompactionInterval, "compactor.chunk-compaction-interval", cfg.Compactor.ChunkCompactionInterval, "Least time between two chunk compactions; the compactor runs in between merge index segments only (0: every compactor.interval). Fewer runs encode each entry again fewer times.")
	fs.IntVar(&cfg.Compactor.ChunkCompactionSmallBytes, "compactor.chunk-compaction-small-bytes", cfg.Compactor.ChunkCompactionSmallBytes, "Stored size under which chunk compaction merges a chunk with its neighbours (0: half of ingester.chunk_target_size).")
	cfg.Ingester.RegisterFlags(fs)
	cfg.Limits.Defaults.RegisterFlags(fs)
	cfg.Storage.RegisterFlags(fs)
}

// loadConfig builds the effective configuration: defaults, then the file,
// then the flags given on the command line (flags win).
func loadConfig(args []string) (*Config, *options, error) {
	cfg := defaultConfig()
	var o options
	fs := flag.NewFlagSet("plg", flag.ContinueOnError)
	registerFlags(fs, cfg, &o)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if o.configFile == "" {
		return cfg, &o, cfg.validate()
	}
	raw, err := os.ReadFile(o.configFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %w", err)
	}
	// One expansion for plg's files and Promtail's, with Promtail's rules:
	// ${VAR}, ${VAR:-default} (default when unset or empty), $${VAR} for a
	// literal; $1 and ${1} are left to relabel rules.
	expanded := agent.ExpandEnv(raw)
	// Decode the file over fresh defaults, then re-apply the flags.
	cfg = defaultConfig()
	promtail := isPromtailFile(expanded)
	if promtail {
		cfg.agentRaw = expanded
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(expanded))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("%s: %w", o.configFile, err)
		}
		if !cfg.Agent.IsZero() {
			if cfg.agentRaw, err = yaml.Marshal(&cfg.Agent); err != nil {
				return nil, nil, fmt.Errorf("%s: agent: %w", o.configFile, err)
			}
		}
	}
	fs = flag.NewFlagSet("plg", flag.ContinueOnError)
	registerFlags(fs, cfg, &o)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if !promtail && cfg.Limits != nil && len(cfg.Limits.PerTenant) > 0 {
		if err := inheritTenantLimits(expanded, cfg.Limits); err != nil {
			return nil, nil, fmt.Errorf("%s: limits.per_tenant: %w", o.configFile, err)
		}
	}
	if promtail {
		// A Promtail file means the agent role unless -mode says otherwise,
		// and its server block says where to listen unless -http.addr does.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["mode"] {
			cfg.Mode = modeAgent
		}
		if !set["http.addr"] && cfg.Mode == modeAgent {
			var pt struct {
				Server struct {
					Address string `yaml:"http_listen_address"`
					Port    int    `yaml:"http_listen_port"`
				} `yaml:"server"`
			}
			if err := yaml.Unmarshal(expanded, &pt); err == nil && pt.Server.Port > 0 {
				cfg.Server.HTTPAddr = net.JoinHostPort(pt.Server.Address, strconv.Itoa(pt.Server.Port))
			}
		}
	}
	return cfg, &o, cfg.validate()
}

// inheritTenantLimits decodes each per_tenant entry again, over the final
// defaults (file and flags), so an entry overrides only the fields it sets:
// a tenant given just a higher ingestion rate keeps the default line size
// and stream limits instead of zero, which would mean unlimited. The strict
// pass in loadConfig has already checked the field names.
func inheritTenantLimits(file []byte, o *ingester.Overrides) error {
	var doc struct {
		Limits struct {
			PerTenant map[string]yaml.Node `yaml:"per_tenant"`
		} `yaml:"limits"`
	}
	if err := yaml.Unmarshal(file, &doc); err != nil {
		return err
	}
	for tenant, n := range doc.Limits.PerTenant {
		l := o.Defaults
		l.DiscoverServiceName = slices.Clone(l.DiscoverServiceName)
		if err := n.Decode(&l); err != nil {
			return fmt.Errorf("%s: %w", tenant, err)
		}
		o.PerTenant[tenant] = l
	}
	return nil
}

func (c *Config) validate() error {
	// The filesystem store lives under -data.dir unless set explicitly.
	if c.Storage.Backend == "" || c.Storage.Backend == store.BackendFilesystem {
		if c.Storage.Filesystem.Dir == "" || c.Storage.Filesystem.Dir == store.DefaultFilesystemDir {
			c.Storage.Filesystem.Dir = filepath.Join(c.DataDir, "store")
		}
	}
	if c.Compactor.Interval <= 0 {
		c.Compactor.Interval = defaultCompactorConfig().Interval
	}
	if c.Compactor.ChunkCompactionInterval < 0 {
		return fmt.Errorf("compactor.chunk_compaction_interval must not be negative, got %s", c.Compactor.ChunkCompactionInterval)
	}
	if c.Compactor.ChunkCompactionSmallBytes < 0 {
		return fmt.Errorf("compactor.chunk_compaction_small_bytes must not be negative, got %d", c.Compactor.ChunkCompactionSmallBytes)
	}
	if c.Compactor.RetentionDeleteDelay < 0 {
		return fmt.Errorf("compactor.retention_delete_delay must not be negative, got %s", c.Compactor.RetentionDeleteDelay)
	}
	switch c.Mode {
	case modeAll, modeAgent, modeIngester, modeQuerier:
	default:
		return fmt.Errorf("-mode=%q: must be one of all, agent, ingester, querier", c.Mode)
	}
	n, err := stages.ParseByteSize(c.AgentMemoryLimit)
	if err != nil {
		return fmt.Errorf("-agent.memory-limit: %w", err)
	}
	c.agentMemLimit = int64(n)
	if c.Limits == nil {
		c.Limits = &ingester.Overrides{Defaults: ingester.DefaultLimits()}
	}
	if err := c.Limits.Defaults.Validate(); err != nil {
		return err
	}
	for t, l := range c.Limits.PerTenant {
		if err := l.Validate(); err != nil {
			return fmt.Errorf("limits.per_tenant[%s]: %w", t, err)
		}
	}
	return c.Ingester.Validate()
}

// secretKeys are config keys whose values never leave the process: not in
// -print-config, not at /config.
var secretKeys = map[string]bool{
	"secret_key": true, "session_token": true, "storage_account_key": true,
	"service_account": true, "password": true, "bearer_token": true, "client_secret": true,
}

// redactedYAML renders cfg as YAML with every set secret replaced.
func redactedYAML(cfg *Config) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(cfg); err != nil {
		return nil, err
	}
	redact(&n)
	return yaml.Marshal(&n)
}

func redact(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if secretKeys[k.Value] && v.Kind == yaml.ScalarNode && v.Value != "" {
				v.Value = "<secret>"
				v.Tag = "!!str"
				continue
			}
			redact(v)
		}
		return
	}
	for _, c := range n.Content {
		redact(c)
	}
}
