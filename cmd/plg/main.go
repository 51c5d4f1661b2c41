// Command plg is the whole log stack in one binary: -mode=agent tails logs
// and pushes them, -mode=ingester stores them, -mode=querier answers LogQL,
// and -mode=all (the default) runs everything in one process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/plgstack/plg/agent"
	"github.com/plgstack/plg/chunks/store"
	"github.com/plgstack/plg/ingester"
	"github.com/plgstack/plg/querier"
	"github.com/plgstack/plg/ui"
)

// Set by the linker (see Makefile).
var (
	version  = "dev"
	revision = "unknown"
	branch   = "main"
	buildAt  = ""
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "plg:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, opts, err := loadConfig(args)
	if err != nil {
		return err
	}
	if opts.version {
		fmt.Printf("plg %s (revision %s, %s)\n", version, revision, runtime.Version())
		return nil
	}
	if opts.printConfig {
		out, err := redactedYAML(cfg)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(out)
		return err
	}
	logger, err := newLogger(cfg.Server)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)
	stopMemoryLimit, memoryLimitDesc := applyMemoryLimit(cfg)
	defer stopMemoryLimit()
	logger.Info("Go memory limit", "limit", memoryLimitDesc)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, logger)
}

func newLogger(c ServerConfig) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("-log.level=%q: %w", c.LogLevel, err)
	}
	o := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "logfmt", "text", "":
		return slog.New(slog.NewTextHandler(os.Stderr, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, o)), nil
	}
	return nil, fmt.Errorf("-log.format=%q: must be logfmt or json", c.LogFormat)
}

// app is the set of roles running in this process.
type app struct {
	cfg      *Config
	logger   *slog.Logger
	reg      *prometheus.Registry
	ingester *ingester.Ingester
	agent    *agent.Agent
}

func (a *app) ready() (bool, string) {
	if a.ingester != nil && !a.ingester.Ready() {
		return false, "ingester not ready: WAL replay in progress"
	}
	if a.agent != nil && !a.agent.Ready() {
		return false, "agent not ready: discovering targets"
	}
	return true, ""
}

func serve(ctx context.Context, cfg *Config, logger *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "plg_build_info", Help: "Build information; the value is always 1.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version(), "mode": cfg.Mode},
	}, func() float64 { return 1 }))
	a := &app{cfg: cfg, logger: logger, reg: reg}

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("-data.dir: %w", err)
	}
	runsIngester := cfg.Mode == modeAll || cfg.Mode == modeIngester
	var st *store.Store
	if runsIngester || cfg.Mode == modeQuerier {
		scfg := cfg.Storage
		bkt, err := store.NewBucket(scfg, logger, reg)
		if err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		defer bkt.Close()
		st = store.New(bkt, scfg, logger, reg)
		// Queriers stop at the cutoff and the compactor deletes what is
		// past it, both from the same limits.
		limits := cfg.Limits
		st.SetRetention(func(tenant string) time.Duration { return time.Duration(limits.For(tenant).RetentionPeriod) })
	}

	gin.SetMode(gin.ReleaseMode)
	router := gin.New()
	router.Use(gin.Recovery())
	router.GET("/ready", func(c *gin.Context) {
		if ok, why := a.ready(); !ok {
			c.String(http.StatusServiceUnavailable, "%s\n", why)
			return
		}
		c.String(http.StatusOK, "ready\n")
	})
	router.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	if cfg.Server.PProf {
		router.Any("/debug/pprof/*profile", gin.WrapF(servePProf))
	}
	router.GET("/loki/api/v1/status/buildinfo", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{
			"version": version, "revision": revision, "branch": branch,
			"buildDate": buildAt, "buildUser": "", "goVersion": runtime.Version(),
		})
	})
	router.GET("/config", func(c *gin.Context) {
		out, err := redactedYAML(cfg)
		if err != nil {
			c.String(http.StatusInternalServerError, "%v\n", err)
			return
		}
		c.Data(http.StatusOK, "text/yaml; charset=utf-8", out)
	})

	if runsIngester {
		icfg := cfg.Ingester
		if cfg.Mode == modeAll && icfg.ChunkRetainPeriod == ingester.DefaultConfig().ChunkRetainPeriod {
			// The retain period covers queriers in other processes that list
			// the store only every few seconds. In one process the querier
			// sees the index segment the moment it is written, so flushed
			// chunks can leave memory at once.
			icfg.ChunkRetainPeriod = 0
		}
		ing, err := ingester.New(icfg, cfg.Limits, st, cfg.DataDir, logger.With("component", "ingester"), reg)
		if err != nil {
			return err
		}
		a.ingester = ing
		ing.RegisterRoutes(router, cfg.AuthEnabled)
		ing.RegisterInternalRoutes(router)
	}

	if cfg.Mode == modeAll || cfg.Mode == modeQuerier {
		var ings querier.Ingesters
		if a.ingester != nil {
			ings = querier.Local{Ingester: a.ingester}
		} else if len(cfg.Querier.Ingesters) > 0 {
			ings = querier.NewRemote(cfg.Querier.Ingesters, &http.Client{Timeout: cfg.Querier.QueryTimeout})
		} else {
			logger.Warn("no ingesters configured (querier.ingesters / -querier.ingesters): answering from the object store only; recent, unflushed data will be missing")
		}
		qcfg := cfg.Querier
		qcfg.Registerer = reg
		q := querier.New(ings, st)
		q.SetPrefixCache(cfg.Querier.ChunkPrefixCacheMB, reg)
		api := querier.NewAPI(qcfg, q, cfg.AuthEnabled, logger.With("component", "querier"))
		api.RegisterRoutes(router)
		ui.Register(router)
	}

	ln, err := net.Listen("tcp", cfg.Server.HTTPAddr)
	if err != nil {
		return fmt.Errorf("-http.addr: %w", err)
	}
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 30 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("plg started", "mode", cfg.Mode, "http", ln.Addr().String(), "data_dir", cfg.DataDir, "version", version)

	// The HTTP server is up before replay so /ready can answer 503 meanwhile.
	if a.ingester != nil {
		if err := a.ingester.Start(ctx); err != nil {
			_ = srv.Close()
			return err
		}
		logger.Info("ingester ready")
		if cfg.Compactor.Enabled {
			compactCtx, cancelCompact := context.WithCancel(context.Background())
			defer cancelCompact()
			cc := cfg.Compactor.chunkCompaction(cfg.Ingester.ChunkOptions())
			go runCompactor(compactCtx, cfg.Compactor, st, cfg.Storage.IndexPeriod, cc, reg, logger.With("component", "compactor"))
		}
	}

	agentDone := make(chan error, 1)
	stopAgent := func() {}
	if cfg.Mode == modeAgent || (cfg.Mode == modeAll && len(cfg.agentRaw) > 0) {
		selfURL := ""
		if cfg.Mode == modeAll {
			selfURL = "http://" + ln.Addr().String() + "/loki/api/v1/push"
		}
		acfg, err := agentConfig(cfg.agentRaw, cfg.DataDir, selfURL)
		if err != nil {
			_ = srv.Close()
			return err
		}
		ag, err := agent.New(acfg, logger.With("component", "agent"), reg)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("agent: %w", err)
		}
		a.agent = ag
		agentCtx, cancelAgent := context.WithCancel(context.Background())
		defer cancelAgent()
		go func() { agentDone <- ag.Run(agentCtx) }()
		stopAgent = func() {
			cancelAgent()
			if err := <-agentDone; err != nil && !errors.Is(err, context.Canceled) {
				logger.Error("agent stopped with an error", "err", err)
			}
		}
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("HTTP server: %w", err)
		}
	}
	logger.Info("shutting down")
	// The agent stops first, while the push API still answers, so its last
	// batches reach the ingester and its positions are saved; then the HTTP
	// server stops taking requests; then the ingester flushes.
	stopAgent()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	httpCtx, cancelHTTP := context.WithTimeout(shutdownCtx, 30*time.Second)
	_ = srv.Shutdown(httpCtx)
	cancelHTTP()
	var errs []error
	if a.ingester != nil {
		if err := a.ingester.Stop(shutdownCtx); err != nil {
			errs = append(errs, err)
		}
	}
	logger.Info("stopped", "errors", len(errs))
	return errors.Join(errs...)
}

// servePProf routes /debug/pprof/<name> to net/http/pprof, which serves the
// named profiles itself but not on a gin router.
func servePProf(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r)
	}
}
