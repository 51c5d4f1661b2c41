package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/client"
	"github.com/plgstack/plg/agent/discovery"
	"github.com/plgstack/plg/agent/positions"
	"github.com/plgstack/plg/agent/stages"
	"github.com/plgstack/plg/agent/tail"
)

// Config is a Promtail configuration file. Field names are Promtail's.
type Config struct {
	Server        ServerConfig     `yaml:"server"`
	Positions     positions.Config `yaml:"positions"`
	Clients       []client.Config  `yaml:"clients"`
	ScrapeConfigs []ScrapeConfig   `yaml:"scrape_configs"`
	LimitsConfig  LimitsConfig     `yaml:"limits_config"`
	TargetConfig  TargetConfig     `yaml:"target_config"`
	Global        GlobalConfig     `yaml:"global"`
	Options       OptionsConfig    `yaml:"options"`
	Tracing       TracingConfig    `yaml:"tracing"`
}

// ServerConfig is Promtail's server block. plg serves /ready and /metrics
// from the binary's own HTTP server; these fields are accepted so existing
// files load, and HTTPListenPort / HTTPListenAddress tell the binary where
// to listen.
type ServerConfig struct {
	HTTPListenAddress        string        `yaml:"http_listen_address"`
	HTTPListenPort           int           `yaml:"http_listen_port"`
	GRPCListenAddress        string        `yaml:"grpc_listen_address"`
	GRPCListenPort           int           `yaml:"grpc_listen_port"`
	LogLevel                 string        `yaml:"log_level"`
	LogFormat                string        `yaml:"log_format"`
	Disable                  bool          `yaml:"disable"`
	RegisterInstrumentation  *bool         `yaml:"register_instrumentation"`
	HealthCheckTarget        *bool         `yaml:"health_check_target"`
	ProfilingEnabled         bool          `yaml:"profiling_enabled"`
	HTTPPathPrefix           string        `yaml:"http_path_prefix"`
	HTTPServerReadTimeout    time.Duration `yaml:"http_server_read_timeout"`
	HTTPServerWriteTimeout   time.Duration `yaml:"http_server_write_timeout"`
	HTTPServerIdleTimeout    time.Duration `yaml:"http_server_idle_timeout"`
	GracefulShutdownTimeout  time.Duration `yaml:"graceful_shutdown_timeout"`
	EnableRuntimeReload      bool          `yaml:"enable_runtime_reload"`
	ExternalURL              string        `yaml:"external_url"`
	GRPCServerMaxRecvMsgSize int           `yaml:"grpc_server_max_recv_msg_size"`
	GRPCServerMaxSendMsgSize int           `yaml:"grpc_server_max_send_msg_size"`
}

// ScrapeConfig is one scrape_configs entry. Only file targets are
// supported; journal, syslog and the other Promtail targets are rejected
// with an error saying so.
type ScrapeConfig struct {
	discovery.Config `yaml:",inline"`
	PipelineStages   stages.Config `yaml:"pipeline_stages"`
	Encoding         string        `yaml:"encoding"`

	Journal         *Unsupported `yaml:"journal"`
	Syslog          *Unsupported `yaml:"syslog"`
	GELF            *Unsupported `yaml:"gelf"`
	LokiPushAPI     *Unsupported `yaml:"loki_push_api"`
	Kafka           *Unsupported `yaml:"kafka"`
	WindowsEvents   *Unsupported `yaml:"windows_events"`
	GCPLog          *Unsupported `yaml:"gcplog"`
	Cloudflare      *Unsupported `yaml:"cloudflare"`
	HerokuDrain     *Unsupported `yaml:"heroku_drain"`
	AzureEventHubs  *Unsupported `yaml:"azure_event_hubs"`
	DockerSDConfigs *Unsupported `yaml:"docker_sd_configs"`
	ConsulSDConfigs *Unsupported `yaml:"consul_sd_configs"`
	ConsulAgentSD   *Unsupported `yaml:"consulagent_sd_configs"`
	FileSDConfigs   *Unsupported `yaml:"file_sd_configs"`
	Decompression   *Unsupported `yaml:"decompression"`
}

// LimitsConfig is Promtail's limits_config.
type LimitsConfig struct {
	ReadlineRate        float64  `yaml:"readline_rate"`
	ReadlineBurst       int      `yaml:"readline_burst"`
	ReadlineRateEnabled bool     `yaml:"readline_rate_enabled"`
	ReadlineRateDrop    *bool    `yaml:"readline_rate_drop"`
	MaxStreams          int      `yaml:"max_streams"`
	MaxLineSize         ByteSize `yaml:"max_line_size"`
	MaxLineSizeTruncate bool     `yaml:"max_line_size_truncate"`
}

// TargetConfig is Promtail's target_config.
type TargetConfig struct {
	SyncPeriod time.Duration `yaml:"sync_period"`
	Stdin      bool          `yaml:"stdin"`
}

// GlobalConfig is Promtail's global block.
type GlobalConfig struct {
	FileWatchConfig struct {
		MinPollFrequency time.Duration `yaml:"min_poll_frequency"`
		MaxPollFrequency time.Duration `yaml:"max_poll_frequency"`
	} `yaml:"file_watch_config"`
}

// OptionsConfig is Promtail's options block (accepted, unused).
type OptionsConfig struct {
	StreamLagLabels []string `yaml:"stream_lag_labels"`
}

// TracingConfig is Promtail's tracing block (accepted, unused).
type TracingConfig struct {
	Enabled bool `yaml:"enabled"`
}

// Unsupported marks a Promtail option plg's agent does not implement; its
// content is not decoded.
type Unsupported struct{}

// UnmarshalYAML accepts any content.
func (*Unsupported) UnmarshalYAML(*yaml.Node) error { return nil }

// ByteSize is a size like 256KB or 1048576.
type ByteSize int

// UnmarshalYAML accepts an integer or a size string.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := stages.ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = ByteSize(v)
	return nil
}

// Defaults.
const (
	DefaultSyncPeriod = 10 * time.Second
)

// LoadConfig parses a Promtail configuration file strictly: unknown fields
// are errors naming the field, and stage errors name the stage and field.
func LoadConfig(b []byte) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &cfg, nil
}

func (c *Config) validate() error {
	if c.Positions.Filename == "" {
		c.Positions.Filename = positions.DefaultFilename
	}
	if c.Positions.SyncPeriod <= 0 {
		c.Positions.SyncPeriod = positions.DefaultSyncPeriod
	}
	if c.TargetConfig.SyncPeriod <= 0 {
		c.TargetConfig.SyncPeriod = DefaultSyncPeriod
	}
	fw := &c.Global.FileWatchConfig
	if fw.MinPollFrequency <= 0 {
		fw.MinPollFrequency = tail.DefaultMinPoll
	}
	if fw.MaxPollFrequency <= 0 {
		fw.MaxPollFrequency = tail.DefaultMaxPoll
	}
	if fw.MaxPollFrequency < fw.MinPollFrequency {
		return fmt.Errorf("global.file_watch_config: max_poll_frequency %s is below min_poll_frequency %s", fw.MaxPollFrequency, fw.MinPollFrequency)
	}
	if len(c.Clients) == 0 {
		return errors.New("clients: at least one client is required")
	}
	for i := range c.Clients {
		if err := c.Clients[i].Validate(); err != nil {
			return fmt.Errorf("clients[%d]: %w", i, err)
		}
	}
	if c.LimitsConfig.ReadlineRateEnabled && (c.LimitsConfig.ReadlineRate <= 0 || c.LimitsConfig.ReadlineBurst <= 0) {
		return errors.New("limits_config: readline_rate and readline_burst must be positive when readline_rate_enabled")
	}
	if c.LimitsConfig.MaxLineSize < 0 {
		return errors.New("limits_config.max_line_size: must not be negative")
	}
	jobs := map[string]bool{}
	for i := range c.ScrapeConfigs {
		sc := &c.ScrapeConfigs[i]
		where := fmt.Sprintf("scrape_configs[%d]", i)
		if sc.JobName == "" {
			return fmt.Errorf("%s.job_name: required", where)
		}
		where = fmt.Sprintf("scrape_configs[%d] (job %s)", i, sc.JobName)
		if jobs[sc.JobName] {
			return fmt.Errorf("%s: duplicate job_name", where)
		}
		jobs[sc.JobName] = true
		if name := sc.unsupported(); name != "" {
			return fmt.Errorf("%s.%s: not supported by plg's agent (only file targets: static_configs and kubernetes_sd_configs)", where, name)
		}
		if sc.Encoding != "" && !strings.EqualFold(sc.Encoding, "utf-8") && !strings.EqualFold(sc.Encoding, "utf8") {
			return fmt.Errorf("%s.encoding: %q not supported (only UTF-8)", where, sc.Encoding)
		}
		if err := sc.Config.Validate(); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if _, err := stages.Compile(sc.PipelineStages, stages.Options{}); err != nil {
			return fmt.Errorf("%s.pipeline_stages: %w", where, err)
		}
	}
	return nil
}

func (sc *ScrapeConfig) unsupported() string {
	for _, f := range []struct {
		name string
		n    *Unsupported
	}{
		{"journal", sc.Journal}, {"syslog", sc.Syslog}, {"gelf", sc.GELF}, {"loki_push_api", sc.LokiPushAPI},
		{"kafka", sc.Kafka}, {"windows_events", sc.WindowsEvents}, {"gcplog", sc.GCPLog},
		{"cloudflare", sc.Cloudflare}, {"heroku_drain", sc.HerokuDrain}, {"azure_event_hubs", sc.AzureEventHubs},
		{"docker_sd_configs", sc.DockerSDConfigs}, {"consul_sd_configs", sc.ConsulSDConfigs},
		{"consulagent_sd_configs", sc.ConsulAgentSD}, {"file_sd_configs", sc.FileSDConfigs},
		{"decompression", sc.Decompression},
	} {
		if f.n != nil {
			return f.name
		}
	}
	return ""
}

// ListenAddr is the address the server block asks for ("" if none).
func (c *Config) ListenAddr() string {
	if c.Server.HTTPListenPort == 0 {
		return ""
	}
	return c.Server.HTTPListenAddress + ":" + strconv.Itoa(c.Server.HTTPListenPort)
}
