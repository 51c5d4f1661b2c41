package main

import "testing"

func TestMemoryLimitIsDerivedFromTheChunkBudgetUnlessSet(t *testing.T) {
	cases := []struct {
		name    string
		mode    string
		limitMB int
		budget  int
		env     string
		agent   int64
		cache   int
		want    int64
	}{
		{name: "all-in-one derives it", mode: modeAll, budget: 32, want: (2*32 + 64) << 20},
		{name: "ingester derives it", mode: modeIngester, budget: 64, want: (2*64 + 64) << 20},
		{name: "querier derives it from the prefix cache", mode: modeQuerier, budget: 32, cache: 32, want: (32 + 64) << 20},
		{name: "querier without a prefix cache", mode: modeQuerier, cache: 0, want: 64 << 20},
		{name: "querier with a larger prefix cache", mode: modeQuerier, cache: 256, want: (256 + 64) << 20},
		{name: "explicit beats the querier's", mode: modeQuerier, limitMB: 200, cache: 32, want: 200 << 20},
		{name: "negative sets none in a querier", mode: modeQuerier, limitMB: -1, cache: 32, want: 0},
		{name: "GOMEMLIMIT beats the querier's", mode: modeQuerier, cache: 32, env: "1GiB", want: 0},
		{name: "budget disabled", mode: modeAll, budget: -1, want: 0},
		{name: "explicit", mode: modeAll, limitMB: 500, budget: 32, want: 500 << 20},
		{name: "negative sets none", mode: modeAll, limitMB: -1, budget: 32, want: 0},
		{name: "GOMEMLIMIT wins", mode: modeAll, limitMB: 500, budget: 32, env: "1GiB", want: 0},
		{name: "agent takes agent_memory_limit", mode: modeAgent, budget: 32, agent: 24 << 20, want: 24 << 20},
		{name: "agent limit 0 sets none", mode: modeAgent, budget: 32, want: 0},
		{name: "memory_limit_mb beats the agent's", mode: modeAgent, limitMB: 40, agent: 24 << 20, want: 40 << 20},
		{name: "GOMEMLIMIT beats the agent's", mode: modeAgent, agent: 24 << 20, env: "100MiB", want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Mode = tc.mode
			cfg.Server.MemoryLimitMB = tc.limitMB
			cfg.Ingester.MaxChunkMemoryMB = tc.budget
			cfg.agentMemLimit = tc.agent
			cfg.Querier.ChunkPrefixCacheMB = tc.cache
			if got, why := memoryLimit(cfg, tc.env); got != tc.want {
				t.Fatalf("memoryLimit = %d (%s), want %d", got, why, tc.want)
			}
		})
	}
}
