package main

import (
	"fmt"
	"os"
)

// querierQueryMemoryMB is what -mode=querier's derived memory limit
// allows for queries beyond the chunk prefix cache.
const querierQueryMemoryMB = 64

// ingesterHeadroomMB is what the derived limit adds to twice the chunk
// budget where an ingester runs. Since the sixth session's buffer work the
// live heap of a 1 GB plgbench ingest stays near 60 MiB, so the limit, not
// the live heap, sets how often the collector runs: at 48 (a 96 MiB limit)
// it ran often enough to cost about 0.5 CPU-s per 1M lines ingested and
// 15-25% on the in-memory count queries, for 124 MiB peak RSS; at 64 (112
// MiB) ingest CPU and the queries were back to the fifth session's, for
// 132 MiB (docs/BENCHMARKS.md, "Sixth session").
const ingesterHeadroomMB = 64

// memoryLimit returns the soft memory limit to give the Go runtime, in
// bytes (0: leave the runtime's default, no limit), and why.
//
// Without a limit the heap grows to twice what was live after the last GC
// (GOGC=100). A soft limit makes the GC run earlier instead, and
// softMemoryLimit raises it while the live heap needs more, so it never
// makes the process collect back to back. Where an ingester runs, the
// derived default is twice the chunk budget plus ingesterHeadroomMB for the
// push, WAL and codec buffers of a few concurrent pushes; in -mode=querier it is the
// chunk prefix cache plus 64 MiB for the queries themselves (a log query
// holds 32 decoded blocks, 10 to 25 MiB, and its results); in -mode=agent
// it is agent_memory_limit (24 MiB: the agent's live heap is 8-12 MiB
// tailing 100 files). server.memory_limit_mb overrides them;
// GOMEMLIMIT in the environment always wins: the runtime applied it.
func memoryLimit(cfg *Config, env string) (int64, string) {
	switch {
	case env != "":
		return 0, "GOMEMLIMIT=" + env + " from the environment"
	case cfg.Server.MemoryLimitMB < 0:
		return 0, "none (memory_limit_mb < 0)"
	case cfg.Server.MemoryLimitMB > 0:
		return int64(cfg.Server.MemoryLimitMB) << 20, "memory_limit_mb"
	case cfg.Mode == modeAgent:
		if cfg.agentMemLimit > 0 {
			return cfg.agentMemLimit, "agent_memory_limit"
		}
		return 0, "none (agent_memory_limit 0)"
	}
	runsIngester := cfg.Mode == modeAll || cfg.Mode == modeIngester
	if budget := cfg.Ingester.ChunkMemoryBudget(); runsIngester && budget > 0 {
		return 2*budget + ingesterHeadroomMB<<20, fmt.Sprintf("derived: 2 x ingester.max_chunk_memory_mb (%d MiB) + %d MiB", budget>>20, ingesterHeadroomMB)
	}
	if cfg.Mode == modeQuerier {
		cache := max(cfg.Querier.ChunkPrefixCacheMB, 0)
		return int64(cache+querierQueryMemoryMB) << 20, fmt.Sprintf("derived: querier.chunk_prefix_cache_mb (%d MiB) + %d MiB", cache, querierQueryMemoryMB)
	}
	return 0, "none (no ingester chunk memory budget to derive it from)"
}

// applyMemoryLimit sets the runtime's soft memory limit from cfg and the
// environment, describes what it did, and returns the function that
// stops adjusting it.
func applyMemoryLimit(cfg *Config) (stop func(), desc string) {
	limit, why := memoryLimit(cfg, os.Getenv("GOMEMLIMIT"))
	if limit > 0 {
		return softMemoryLimit(limit), fmt.Sprintf("%d MiB, raised while the live heap needs more (%s)", limit>>20, why)
	}
	return func() {}, why
}
