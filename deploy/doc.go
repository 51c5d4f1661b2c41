// Package deploy holds no code: deploy/ is plg's shipped deployment — the
// agent's default Promtail-format configuration (agent/plg-agent.yaml) and
// plain Kubernetes manifests (kubernetes/) — and this package's tests prove
// them: the configuration is loaded as the binary loads it and run through
// the agent's discovery (against a fake Kubernetes API and through the
// /var/log/pods fallback) and through the real agent, and every manifest is
// decoded and cross-checked.
//
// It must not hold code that other packages import, and its tests must not
// need a cluster, root, or the network beyond loopback.
package deploy
