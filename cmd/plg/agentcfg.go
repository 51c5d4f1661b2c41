package main

import (
	"fmt"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent"
)

// isPromtailFile reports whether a config file is a Promtail configuration
// (top-level clients or scrape_configs) rather than plg's own, so that
// `plg -mode=agent -config.file=promtail.yaml` works unchanged.
func isPromtailFile(b []byte) bool {
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(b, &top); err != nil {
		return false
	}
	_, clients := top["clients"]
	_, scrape := top["scrape_configs"]
	_, mode := top["mode"]
	return (clients || scrape) && !mode
}

// agentConfig builds the agent's configuration from its Promtail-format
// YAML, filling what plg knows better than a generic default: the positions
// file lives under -data.dir, and in -mode=all with no clients the agent
// pushes to this very process.
func agentConfig(raw []byte, dataDir, selfPushURL string) (*agent.Config, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	pos, _ := doc["positions"].(map[string]any)
	if pos == nil {
		pos = map[string]any{}
	}
	if _, ok := pos["filename"]; !ok {
		pos["filename"] = filepath.Join(dataDir, "positions.yaml")
	}
	doc["positions"] = pos
	if cl, _ := doc["clients"].([]any); len(cl) == 0 {
		if selfPushURL == "" {
			return nil, fmt.Errorf("agent config: clients: at least one client (the ingesters' push URL) is required")
		}
		doc["clients"] = []any{map[string]any{"url": selfPushURL}}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return agent.LoadConfig(out)
}
