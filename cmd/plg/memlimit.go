package main

import (
	"fmt"
	"os"
	"runtime/debug"
)

// memoryLimit returns the soft memory limit to give the Go runtime, in
// bytes (0: leave the runtime's default, no limit), and why.
//
// Without a limit the heap grows to twice what was live after the last GC
// (GOGC=100), so an ingester whose live heap is its chunk budget plus the
// push path's buffers peaks near twice that. A soft limit makes the GC run
// earlier instead. The derived default, twice the chunk budget plus 48 MiB
// for the push, WAL and codec buffers of a few concurrent pushes, leaves
// the GC headroom above the live heap; a query that needs more than the
// limit still gets it, at the cost of more GC work while it runs.
// GOMEMLIMIT in the environment always wins: the runtime applied it.
func memoryLimit(cfg *Config, env string) (int64, string) {
	switch {
	case env != "":
		return 0, "GOMEMLIMIT=" + env + " from the environment"
	case cfg.Server.MemoryLimitMB < 0:
		return 0, "none (memory_limit_mb < 0)"
	case cfg.Server.MemoryLimitMB > 0:
		return int64(cfg.Server.MemoryLimitMB) << 20, "memory_limit_mb"
	}
	runsIngester := cfg.Mode == modeAll || cfg.Mode == modeIngester
	if budget := cfg.Ingester.ChunkMemoryBudget(); runsIngester && budget > 0 {
		return 2*budget + 48<<20, fmt.Sprintf("derived: 2 x ingester.max_chunk_memory_mb (%d MiB) + 48 MiB", budget>>20)
	}
	return 0, "none (no ingester chunk memory budget to derive it from)"
}

// applyMemoryLimit sets the runtime's soft memory limit from cfg and the
// environment, and describes what it did.
func applyMemoryLimit(cfg *Config) string {
	limit, why := memoryLimit(cfg, os.Getenv("GOMEMLIMIT"))
	if limit > 0 {
		debug.SetMemoryLimit(limit)
		return fmt.Sprintf("%d MiB (%s)", limit>>20, why)
	}
	return why
}
