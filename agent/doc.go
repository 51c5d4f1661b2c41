// Package agent is plg's Promtail-compatible log collector: `plg
// -mode=agent` on every Kubernetes node (a DaemonSet), and the local file
// tailer of `-mode=all`. It loads a Promtail configuration file (server,
// positions, clients, scrape_configs with relabel_configs and
// pipeline_stages, limits_config, target_config) and ships every line of the
// files it finds to the ingesters exactly once through crashes, restarts,
// log rotation and ingester outages — duplicates are possible only for lines
// that were in flight when the agent died.
//
// It owns the wiring: configuration, the target sync loop, one tailer and
// pipeline per file, and the shutdown order (stop reading, drain the
// clients, save positions). The work lives in subpackages, imported one way:
//
//	entry      the entry and its acknowledgement ticket
//	positions  the positions file (FORMAT.md)
//	tail       following one file through rotation; per-file ack tracking
//	stages     pipeline stages and their configuration
//	discovery  targets: static_configs, pod log directories, relabeling, globs
//	client     batching, retries, spreading streams over ingesters
//
// It must not serve HTTP (the binary serves /ready from Ready and /metrics
// from the registry it passes to New) or decode push requests.
//
// # Delivery guarantee
//
// A tailer hands each line out with a ticket; the client completes tickets
// only after an ingester answered 2xx for the batch holding the line, or
// the batch was given up (a 4xx other than 429, or the retry bound reached:
// backoff_config.max_retries retries or max_elapsed, default 5 minutes,
// whichever comes first; both 0 retry forever). Each client holds at most
// max_pending_bytes (default 64 MiB) of unacknowledged lines; at the bound
// its Handle blocks and the tailers stop reading (back-pressure), so an
// ingester outage delays lines but neither drops them nor grows memory. A
// file's position advances
// over the longest prefix of completed lines and is written atomically every
// positions.sync_period and at shutdown. After SIGKILL the agent resumes
// from the last written position, so lines sent after it are sent again.
//
// # Memory
//
// What the agent holds is bounded by its files and clients, not by how far
// behind it is: a read buffer per file with unread data, per client and
// tenant one batch (filled, then sent), and a 1024-entry queue whose
// filling stops the tailers. The soft memory limit `plg -mode=agent`
// sets (agent_memory_limit, 24 MiB by default; cmd/plg) makes the
// collector keep the heap near that rather than at twice the live heap,
// without ever collecting back to back. deploy/README.md ("Memory") has the measured figures.
//
// # Kubernetes discovery without client-go
//
// kubernetes_sd_configs role pod is served two ways. Without an API server
// (no api_server and not in a cluster) pods are found on the node's disk:
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/ gives namespace, pod,
// uid and container, and NODE_NAME the node; pod labels and annotations are
// unknown. With an API server, agent/discovery/kube watches pods instead of
// client-go, which would add tens of MB to a binary that must stay under
// 50 MB:
//
//   - Credentials: the service-account token at
//     /var/run/secrets/kubernetes.io/serviceaccount/token (re-read on every
//     request, it is rotated), the CA bundle beside it, and
//     KUBERNETES_SERVICE_HOST/PORT; or api_server, bearer_token_file and
//     tls_config from the SD config.
//   - List then watch, restricted to this node so memory is O(pods on the
//     node): GET /api/v1/pods?fieldSelector=spec.nodeName=$NODE_NAME gives
//     the items and metadata.resourceVersion; then the same URL with
//     watch=1&resourceVersion=<rv>&allowWatchBookmarks=true streams
//     newline-delimited JSON events {"type": ADDED|MODIFIED|DELETED|
//     BOOKMARK|ERROR, "object": {...}}. Only the fields used are decoded.
//   - A map uid -> pod; each container becomes a label set with Prometheus'
//     pod-role names (__meta_kubernetes_pod_label_<sanitized>,
//     _labelpresent_, _annotation_, _annotationpresent_, _controller_kind,
//     _controller_name, _container_name, _container_image, _container_init,
//     _node_name, _ip, _phase, _ready, _uid, __meta_kubernetes_namespace).
//   - 410 Gone (status or ERROR event) relists; other failures reconnect
//     with backoff from the last resourceVersion; bookmarks advance it.
//     Until the first list succeeds (Run waits up to KubeSyncWait) targets
//     come from the disk, so logs keep flowing when the API is down at start.
//   - Pod changes are picked up at the next target sync
//     (target_config.sync_period); a target whose labels changed is
//     restarted after its in-flight lines are acknowledged.
package agent
