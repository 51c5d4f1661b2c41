// Package kube is a minimal Kubernetes pod watcher for the agent's
// kubernetes_sd_configs (role pod), written against the plain HTTP API
// instead of client-go to keep the binary small.
//
// It lists and then watches /api/v1/pods restricted to this node
// (fieldSelector=spec.nodeName=<node>), keeps the pods in memory, and turns
// each container into the `__meta_kubernetes_*` label set Prometheus' pod
// role produces. It relists on 410 Gone and reconnects with backoff. It owns
// only the API conversation and the pod cache; it must not tail files or
// relabel.
package kube
