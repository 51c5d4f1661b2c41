// Package discovery turns scrape configs into the set of files to tail and
// their labels: static_configs target groups and, for kubernetes_sd_configs,
// the pod log directories found on this node under /var/log/pods, relabeled
// with Prometheus relabel_configs, with `__path__` doublestar globs expanded
// and `__path_exclude__` applied.
//
// It owns target labels (the `__meta_kubernetes_*` labels derived from pod
// log paths, relabeling, dropping `__`-prefixed labels, adding `filename`)
// and glob matching. It must not open or tail files, and keeps no state
// between syncs: the caller diffs successive results.
//
// Pods come from an API watch (package kube, through Env.Kube) when there
// is one. Without it, a pod's labels and annotations are not known; only
// namespace, pod name, uid, container and node are, and relabel rules that
// read `__meta_kubernetes_pod_label_*` see empty values.
package discovery
