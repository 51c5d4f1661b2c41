package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plgstack/plg/ingester"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "plg.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsWithoutAnyConfig(t *testing.T) {
	cfg, _, err := loadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != modeAll || cfg.Server.HTTPAddr != "127.0.0.1:3100" || cfg.DataDir != "./data" {
		t.Fatalf("defaults: mode %q addr %q data %q", cfg.Mode, cfg.Server.HTTPAddr, cfg.DataDir)
	}
	if cfg.Storage.Filesystem.Dir != filepath.Join("data", "store") {
		t.Fatalf("filesystem store %q, want under the data dir", cfg.Storage.Filesystem.Dir)
	}
}

func TestFlagsOverrideTheFileAndEnvIsExpanded(t *testing.T) {
	t.Setenv("PLG_TEST_POD", "ingester-3")
	p := writeConfig(t, `
mode: ingester
data_dir: /var/plg
server:
  http_addr: 0.0.0.0:3100
ingester:
  name: ${PLG_TEST_POD}
  max_chunk_age: 1h
  wal:
    sync: ${PLG_TEST_SYNC:-interval}
limits:
  ingestion_rate_mb: 8
  ingestion_burst_size_mb: 16
querier:
  query_timeout: 30s
`)
	cfg, _, err := loadConfig([]string{"-config.file=" + p, "-http.addr=127.0.0.1:9999", "-querier.query-timeout=10m", "-querier.chunk-prefix-cache-mb=64"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != modeIngester || cfg.DataDir != "/var/plg" || cfg.Ingester.MaxChunkAge != time.Hour {
		t.Fatalf("file values lost: %+v", cfg)
	}
	if cfg.Server.HTTPAddr != "127.0.0.1:9999" || cfg.Querier.QueryTimeout != 10*time.Minute || cfg.Querier.ChunkPrefixCacheMB != 64 {
		t.Fatalf("flags did not override the file: %q, query timeout %s, prefix cache %d MiB", cfg.Server.HTTPAddr, cfg.Querier.QueryTimeout, cfg.Querier.ChunkPrefixCacheMB)
	}
	if cfg.Ingester.Name != "ingester-3" || cfg.Ingester.WAL.Sync != "interval" {
		t.Fatalf("env expansion: name %q sync %q", cfg.Ingester.Name, cfg.Ingester.WAL.Sync)
	}
	if cfg.Limits.Defaults.IngestionRateMB != 8 || cfg.Limits.Defaults.MaxLineSize != 256<<10 {
		t.Fatalf("limits: %+v", cfg.Limits.Defaults)
	}
	if cfg.Storage.Filesystem.Dir != "/var/plg/store" {
		t.Fatalf("store dir %q", cfg.Storage.Filesystem.Dir)
	}
}

func TestEnvExpansionFollowsPromtail(t *testing.T) {
	t.Setenv("PLG_TEST_EMPTY", "")
	p := writeConfig(t, `
data_dir: /srv/${PLG_TEST_UNSET}x
ingester:
  name: ${PLG_TEST_EMPTY:-fallback}
  chunk_encoding: $${NOT_EXPANDED}
`)
	_, _, err := loadConfig([]string{"-config.file=" + p})
	// $${...} stays literal, so the encoding is rejected by name: proof the
	// escape survived expansion.
	if err == nil || !strings.Contains(err.Error(), "${NOT_EXPANDED}") {
		t.Fatalf("escape: %v", err)
	}
	p = writeConfig(t, "data_dir: /srv/${PLG_TEST_UNSET}x\ningester:\n  name: ${PLG_TEST_EMPTY:-fallback}\n")
	cfg, _, err := loadConfig([]string{"-config.file=" + p})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/srv/x" || cfg.Ingester.Name != "fallback" {
		t.Fatalf("data_dir %q (unset expands to empty), name %q (empty takes the default)", cfg.DataDir, cfg.Ingester.Name)
	}
}

func TestConfigErrorsNameTheProblem(t *testing.T) {
	for _, tc := range []struct {
		body, want string
		args       []string
	}{
		{"ingester:\n  chunk_encodng: zstd\n", "chunk_encodng not found", nil},
		{"ingester:\n  chunk_encoding: lz77\n", "chunk_encoding", nil},
		{"limits:\n  ingestion_rate_mb: 10\n  ingestion_burst_size_mb: 1\n", "ingestion_burst_size_mb", nil},
		{"", "must be one of all, agent, ingester, querier", []string{"-mode=everything"}},
	} {
		p := writeConfig(t, tc.body)
		_, _, err := loadConfig(append([]string{"-config.file=" + p}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %q: error %v, want one mentioning %q", tc.body, err, tc.want)
		}
	}
}

func TestPromtailFileMeansAgentMode(t *testing.T) {
	p := writeConfig(t, `
server:
  http_listen_port: 9080
positions:
  filename: /tmp/positions.yaml
clients:
  - url: http://loki:3100/loki/api/v1/push
scrape_configs:
  - job_name: system
    static_configs:
      - targets: [localhost]
        labels:
          job: varlogs
          __path__: /var/log/*log
`)
	cfg, _, err := loadConfig([]string{"-config.file=" + p})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != modeAgent || len(cfg.agentRaw) == 0 {
		t.Fatalf("mode %q, agent config %d bytes", cfg.Mode, len(cfg.agentRaw))
	}
	acfg, err := agentConfig(cfg.agentRaw, cfg.DataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	if acfg.Positions.Filename != "/tmp/positions.yaml" || acfg.Clients[0].URL == "" {
		t.Fatalf("agent config: positions %q", acfg.Positions.Filename)
	}
	if cfg.Server.HTTPAddr != ":9080" {
		t.Fatalf("listen address %q, want the Promtail file's server.http_listen_port", cfg.Server.HTTPAddr)
	}
	if cfg, _, _ = loadConfig([]string{"-config.file=" + p, "-http.addr=127.0.0.1:3101"}); cfg.Server.HTTPAddr != "127.0.0.1:3101" {
		t.Fatalf("-http.addr did not win over the server block: %q", cfg.Server.HTTPAddr)
	}
	cfg, _, err = loadConfig([]string{"-config.file=" + p, "-mode=all"})
	if err != nil || cfg.Mode != modeAll {
		t.Fatalf("-mode=all with a Promtail file: %v %q", err, cfg.Mode)
	}
}

func TestAgentSectionDefaultsToPushingToItself(t *testing.T) {
	p := writeConfig(t, `
agent:
  scrape_configs:
    - job_name: files
      static_configs:
        - labels: {job: app, __path__: /tmp/*.log}
`)
	cfg, _, err := loadConfig([]string{"-config.file=" + p, "-data.dir=/srv/plg"})
	if err != nil {
		t.Fatal(err)
	}
	acfg, err := agentConfig(cfg.agentRaw, cfg.DataDir, "http://127.0.0.1:3100/loki/api/v1/push")
	if err != nil {
		t.Fatal(err)
	}
	if acfg.Positions.Filename != "/srv/plg/positions.yaml" {
		t.Fatalf("positions %q, want under the data dir", acfg.Positions.Filename)
	}
	if len(acfg.Clients) != 1 || !strings.Contains(acfg.Clients[0].URL, "127.0.0.1:3100") {
		t.Fatalf("clients %+v", acfg.Clients)
	}
	if _, err := agentConfig(cfg.agentRaw, cfg.DataDir, ""); err == nil {
		t.Fatal("an agent with no clients and nothing to push to was accepted")
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	p := writeConfig(t, `
storage:
  backend: s3
  s3:
    bucket: logs
    endpoint: s3.example.com
    access_key: AKIAEXAMPLE
    secret_key: very-secret-value
`)
	cfg, _, err := loadConfig([]string{"-config.file=" + p})
	if err != nil {
		t.Fatal(err)
	}
	out, err := redactedYAML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "very-secret-value") || !strings.Contains(string(out), "secret_key: <secret>") {
		t.Fatalf("secret leaked or not marked:\n%s", out)
	}
	if !strings.Contains(string(out), "bucket: logs") {
		t.Fatalf("non-secret values lost:\n%s", out)
	}
}

func TestAgentMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		file string
		want int64
		err  string
	}{
		{name: "default", want: 24 << 20},
		{name: "flag", args: []string{"-agent.memory-limit=40MiB"}, want: 40 << 20},
		{name: "flag turns it off", args: []string{"-agent.memory-limit=0"}, want: 0},
		{name: "plg.yaml", file: "mode: agent\nagent_memory_limit: 32MiB\n", want: 32 << 20},
		{name: "not a size", args: []string{"-agent.memory-limit=lots"}, err: "-agent.memory-limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append(args, "-config.file="+writeConfig(t, tc.file))
			}
			cfg, _, err := loadConfig(args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.agentMemLimit != tc.want {
				t.Errorf("limit = %d, want %d", cfg.agentMemLimit, tc.want)
			}
		})
	}
}

func TestPerTenantLimitsInheritTheDefaults(t *testing.T) {
	p := writeConfig(t, `
limits:
  max_line_size: 1000
  discover_service_name: []
  per_tenant:
    team-a:
      ingestion_rate_mb: 300
      ingestion_burst_size_mb: 600
    team-b:
      discover_service_name: [app]
`)
	cfg, _, err := loadConfig([]string{"-config.file=" + p, "-limits.max-streams-per-tenant=7"})
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Limits.Defaults
	if d.MaxLineSize != 1000 || len(d.DiscoverServiceName) != 0 || d.MaxStreamsPerTenant != 7 {
		t.Fatalf("defaults: %+v", d)
	}
	a := cfg.Limits.For("team-a")
	if a.IngestionRateMB != 300 || a.MaxLineSize != 1000 || a.MaxStreamsPerTenant != 7 ||
		a.MaxLabelNamesPerSeries != 15 || !a.RejectOldSamples || len(a.DiscoverServiceName) != 0 {
		t.Fatalf("team-a did not inherit what it left out: %+v", *a)
	}
	b := cfg.Limits.For("team-b")
	if b.IngestionRateMB != ingester.DefaultLimits().IngestionRateMB || !slices.Equal(b.DiscoverServiceName, []string{"app"}) {
		t.Fatalf("team-b: %+v", *b)
	}
	if _, _, err := loadConfig([]string{"-config.file=" + writeConfig(t, "limits:\n  per_tenant:\n    x:\n      ingestion_rate_mb: 900\n")}); err == nil ||
		!strings.Contains(err.Error(), "limits.per_tenant[x]") {
		t.Fatalf("a tenant rate above the inherited burst must fail naming the tenant, got %v", err)
	}
}

func TestRetentionConfig(t *testing.T) {
	p := writeConfig(t, `
limits:
  retention_period: 31d
  per_tenant:
    short: {retention_period: 1w}
    forever: {retention_period: 0s}
    other: {ingestion_rate_mb: 64}
compactor:
  retention_delete_delay: 30m
`)
	cfg, _, err := loadConfig([]string{"-config.file=" + p})
	if err != nil {
		t.Fatal(err)
	}
	for tenant, want := range map[string]time.Duration{"short": 7 * 24 * time.Hour, "forever": 0, "other": 744 * time.Hour, "unnamed": 744 * time.Hour} {
		if got := time.Duration(cfg.Limits.For(tenant).RetentionPeriod); got != want {
			t.Errorf("tenant %s: retention %s, want %s", tenant, got, want)
		}
	}
	if cfg.Compactor.RetentionDeleteDelay != 30*time.Minute {
		t.Errorf("delete delay %s, want 30m", cfg.Compactor.RetentionDeleteDelay)
	}
	// -print-config writes it back in the syntax it was read in.
	printed, err := redactedYAML(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(printed), "retention_period: 31d") || !strings.Contains(string(printed), "retention_period: 1w") {
		t.Errorf("-print-config lacks retention_period: 31d and 1w:\n%s", printed)
	}

	def, _, err := loadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if def.Limits.Defaults.RetentionPeriod != 0 {
		t.Errorf("default retention %s, want 0 (off, as in Loki)", def.Limits.Defaults.RetentionPeriod)
	}
	out, err := redactedYAML(def)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"retention_period: 0s", "retention_delete_delay: 2h0m0s"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("-print-config lacks %q:\n%s", want, out)
		}
	}
	flags, _, err := loadConfig([]string{"-limits.retention-period=2d", "-compactor.retention-delete-delay=5m"})
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(flags.Limits.For("x").RetentionPeriod) != 48*time.Hour || flags.Compactor.RetentionDeleteDelay != 5*time.Minute {
		t.Errorf("flags: retention %s, delay %s", flags.Limits.For("x").RetentionPeriod, flags.Compactor.RetentionDeleteDelay)
	}
	for _, args := range [][]string{{"-limits.retention-period=-1h"}, {"-compactor.retention-delete-delay=-1m"}} {
		if _, _, err := loadConfig(args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestChunkCompactionConfig(t *testing.T) {
	def, _, err := loadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := redactedYAML(def)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"chunk_compaction: true", "chunk_compaction_small_bytes: 0", "chunk_compaction_interval: 1h0m0s"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("-print-config lacks %q:\n%s", want, out)
		}
	}
	cc := def.Compactor.chunkCompaction(def.Ingester.ChunkOptions())
	if cc == nil || cc.TargetBytes != def.Ingester.ChunkTargetSize || cc.SmallBytes != def.Ingester.ChunkTargetSize/2 {
		t.Fatalf("default chunk compaction %+v, want on, with the ingester's target and half of it", cc)
	}
	p := writeConfig(t, `
compactor:
  chunk_compaction_small_bytes: 100000
`)
	cfg, _, err := loadConfig([]string{"-config.file=" + p})
	if err != nil {
		t.Fatal(err)
	}
	if cc := cfg.Compactor.chunkCompaction(cfg.Ingester.ChunkOptions()); cc == nil || cc.SmallBytes != 100000 {
		t.Errorf("configured small bytes: %+v", cc)
	}
	off, _, err := loadConfig([]string{"-compactor.chunk-compaction=false"})
	if err != nil {
		t.Fatal(err)
	}
	if cc := off.Compactor.chunkCompaction(off.Ingester.ChunkOptions()); cc != nil {
		t.Errorf("-compactor.chunk-compaction=false left it on: %+v", cc)
	}
	if _, _, err := loadConfig([]string{"-compactor.chunk-compaction-small-bytes=-1"}); err == nil {
		t.Error("negative small bytes accepted")
	}
	if _, _, err := loadConfig([]string{"-compactor.chunk-compaction-interval=-1s"}); err == nil {
		t.Error("negative chunk compaction interval accepted")
	}
	every, _, err := loadConfig([]string{"-compactor.chunk-compaction-interval=0"})
	if err != nil || every.Compactor.ChunkCompactionInterval != 0 {
		t.Errorf("-compactor.chunk-compaction-interval=0: %v, %v", every.Compactor.ChunkCompactionInterval, err)
	}
}
